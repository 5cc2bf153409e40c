// SPDX-License-Identifier: MIT
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sodium.h>

#include "wgkey.h"

int wg_key_init(void)
{
	/* sodium_init is idempotent and thread-safe after the first call returns. */
	return sodium_init() < 0 ? -EIO : 0;
}

/*
 * Branchless character classes: each range test builds a mask from the sign bit of
 * (lo - 1 - c) & (c - (hi + 1)), which is negative exactly when lo <= c <= hi. The
 * arithmetic right shift of a negative int is what gcc and clang do on every target we
 * build for.
 */
static char encode_b64_sextet(unsigned x)
{
	int v = (int)x;

	return (char)(v + 'A' + (((25 - v) >> 8) & 6) - (((51 - v) >> 8) & 75) -
		      (((61 - v) >> 8) & 15) + (((62 - v) >> 8) & 3));
}

void wg_key_to_base64(char out[static WG_KEY_B64_LEN], const uint8_t key[static WG_KEY_LEN])
{
	unsigned i, o = 0;

	for (i = 0; i + 3 <= WG_KEY_LEN; i += 3) {
		unsigned v = (unsigned)key[i] << 16 | (unsigned)key[i + 1] << 8 | key[i + 2];

		out[o++] = encode_b64_sextet((v >> 18) & 63);
		out[o++] = encode_b64_sextet((v >> 12) & 63);
		out[o++] = encode_b64_sextet((v >> 6) & 63);
		out[o++] = encode_b64_sextet(v & 63);
	}
	/* 32 = 3 * 10 + 2: two bytes remain, which encode to three characters and '='. */
	unsigned v = (unsigned)key[30] << 16 | (unsigned)key[31] << 8;
	out[o++] = encode_b64_sextet((v >> 18) & 63);
	out[o++] = encode_b64_sextet((v >> 12) & 63);
	out[o++] = encode_b64_sextet((v >> 6) & 63);
	out[o++] = '=';
	out[o] = '\0';
}

/*
 * Eight base64 characters at once, in constant time (no branch or table lookup on the
 * data): each byte of the result is the character's sextet, and *bad gets a high bit set
 * for any character outside the alphabet. Byte arithmetic is done on 7-bit lanes so that
 * no carry crosses into the next character. A 1,000-peer config decodes its keys in a
 * fifth of the instructions of one character at a time, which shows under emulation
 * (docs/benchmarks.md).
 */
#define LANES(b) (0x0101010101010101u * (uint64_t)(b))
#define HIGH LANES(0x80)

/* 0xff in each lane whose 7-bit value is in [lo, hi], 0 elsewhere. */
static inline uint64_t lanes_in(uint64_t x7, unsigned lo, unsigned hi)
{
	uint64_t ge_lo = x7 + LANES(0x80 - lo), gt_hi = x7 + LANES(0x7f - hi);

	return (((ge_lo & ~gt_hi) & HIGH) >> 7) * 0xff;
}

/* Each 7-bit lane plus k (mod 256; k any byte). */
static inline uint64_t lanes_add(uint64_t x7, unsigned k)
{
	return (x7 + LANES(k & 0x7f)) ^ LANES(k & 0x80);
}

static uint64_t decode_b64_lanes(const char *s, uint64_t *bad)
{
	uint64_t x, x7, upper, lower, digit, plus, slash;

	memcpy(&x, s, sizeof(x));
	x = le64toh(x);
	x7 = x & ~HIGH;
	upper = lanes_in(x7, 'A', 'Z');
	lower = lanes_in(x7, 'a', 'z');
	digit = lanes_in(x7, '0', '9');
	plus = lanes_in(x7, '+', '+');
	slash = lanes_in(x7, '/', '/');
	*bad |= (x & HIGH) | ~(upper | lower | digit | plus | slash);
	return (upper & lanes_add(x7, 256 - 'A')) | (lower & lanes_add(x7, 26 + 256 - 'a')) |
	       (digit & lanes_add(x7, 52 + 256 - '0')) | (plus & LANES(62)) |
	       (slash & LANES(63));
}

/* Four sextets (lanes 4q..4q+3 of v) into three bytes. */
static void put_quad(uint8_t *out, uint64_t v, unsigned q)
{
	uint32_t quad = (uint32_t)(v >> (32 * q));
	uint32_t bits = (quad & 63) << 18 | ((quad >> 8) & 63) << 12 | ((quad >> 16) & 63) << 6 |
			((quad >> 24) & 63);

	out[0] = (uint8_t)(bits >> 16);
	out[1] = (uint8_t)(bits >> 8);
	out[2] = (uint8_t)bits;
}

int wg_key_from_base64(const char *b64, uint8_t ret_key[static WG_KEY_LEN])
{
	uint8_t key[WG_KEY_LEN + 1];
	char tail[8];
	uint64_t bad = 0, v;
	unsigned o = 0;

	if (!b64 || strlen(b64) != WG_KEY_B64_LEN - 1 || b64[WG_KEY_B64_LEN - 2] != '=')
		return -EINVAL;

	for (unsigned i = 0; i < 40; i += 8) {
		v = decode_b64_lanes(b64 + i, &bad);
		put_quad(key + o, v, 0);
		put_quad(key + o + 3, v, 1);
		o += 6;
	}
	/* 32 = 3 * 10 + 2: characters 40..42 carry the last two bytes; the lanes after them
	 * are filled with 'A' (sextet 0). */
	memcpy(tail, b64 + 40, 3);
	memset(tail + 3, 'A', sizeof(tail) - 3);
	v = decode_b64_lanes(tail, &bad);
	put_quad(key + o, v, 0); /* writes key[30..32]: the array has one spare byte */
	/* The last sextet carries two padding bits that must be zero (canonical form). */
	bad |= key[32];

	if (bad) {
		wg_key_wipe(key, sizeof(key));
		return -EINVAL;
	}
	memcpy(ret_key, key, WG_KEY_LEN);
	wg_key_wipe(key, sizeof(key));
	return 0;
}

void wg_key_to_hex(char out[static WG_KEY_HEX_LEN], const uint8_t key[static WG_KEY_LEN])
{
	for (unsigned i = 0; i < WG_KEY_LEN; i++) {
		int hi = key[i] >> 4, lo = key[i] & 15;

		out[2 * i] = (char)(hi + '0' + (((9 - hi) >> 8) & ('a' - '0' - 10)));
		out[2 * i + 1] = (char)(lo + '0' + (((9 - lo) >> 8) & ('a' - '0' - 10)));
	}
	out[2 * WG_KEY_LEN] = '\0';
}

static int decode_hex_char(unsigned char ch)
{
	int c = ch, r = -1;

	r += ((('0' - 1 - c) & (c - ('9' + 1))) >> 8) & (c - '0' + 1);
	r += ((('a' - 1 - c) & (c - ('f' + 1))) >> 8) & (c - 'a' + 11);
	r += ((('A' - 1 - c) & (c - ('F' + 1))) >> 8) & (c - 'A' + 11);
	return r;
}

int wg_key_from_hex(const char *hex, uint8_t ret_key[static WG_KEY_LEN])
{
	uint8_t key[WG_KEY_LEN];
	int bad = 0;

	if (!hex || strlen(hex) != WG_KEY_HEX_LEN - 1)
		return -EINVAL;
	for (unsigned i = 0; i < WG_KEY_LEN; i++) {
		int hi = decode_hex_char(hex[2 * i]), lo = decode_hex_char(hex[2 * i + 1]);

		bad |= (hi | lo) >> 31;
		key[i] = (uint8_t)((hi & 15) << 4 | (lo & 15));
	}
	if (bad) {
		wg_key_wipe(key, sizeof(key));
		return -EINVAL;
	}
	memcpy(ret_key, key, WG_KEY_LEN);
	wg_key_wipe(key, sizeof(key));
	return 0;
}

bool wg_key_is_zero(const uint8_t key[static WG_KEY_LEN])
{
	return sodium_is_zero(key, WG_KEY_LEN) == 1;
}

bool wg_key_equal(const uint8_t a[static WG_KEY_LEN], const uint8_t b[static WG_KEY_LEN])
{
	return sodium_memcmp(a, b, WG_KEY_LEN) == 0;
}

int wg_key_generate_preshared(uint8_t ret_key[static WG_KEY_LEN])
{
	int r = wg_key_init();

	if (r < 0)
		return r;
	randombytes_buf(ret_key, WG_KEY_LEN);
	return 0;
}

int wg_key_generate_private(uint8_t ret_key[static WG_KEY_LEN])
{
	uint8_t key[WG_KEY_LEN];
	int r = wg_key_generate_preshared(key);

	if (r < 0)
		return r;
	key[0] &= 248;
	key[31] = (key[31] & 127) | 64;
	memcpy(ret_key, key, WG_KEY_LEN);
	wg_key_wipe(key, sizeof(key));
	return 0;
}

int wg_key_public_from_private(const uint8_t private_key[static WG_KEY_LEN],
			       uint8_t ret_public[static WG_KEY_LEN])
{
	uint8_t pub[WG_KEY_LEN];
	int r = wg_key_init();

	if (r < 0)
		return r;
	/* libsodium clamps the scalar itself and refuses an all-zero result. */
	if (crypto_scalarmult_base(pub, private_key) != 0)
		return -EINVAL;
	memcpy(ret_public, pub, WG_KEY_LEN);
	return 0;
}

void wg_key_wipe(void *p, size_t len)
{
	if (p)
		sodium_memzero(p, len);
}
