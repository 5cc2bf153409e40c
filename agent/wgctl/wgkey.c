// SPDX-License-Identifier: MIT
#include <errno.h>
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

static int decode_b64_char(unsigned char ch)
{
	int c = ch, r = -1;

	r += ((('A' - 1 - c) & (c - ('Z' + 1))) >> 8) & (c - 64);
	r += ((('a' - 1 - c) & (c - ('z' + 1))) >> 8) & (c - 70);
	r += ((('0' - 1 - c) & (c - ('9' + 1))) >> 8) & (c + 5);
	r += ((('+' - 1 - c) & (c - ('+' + 1))) >> 8) & 63;
	r += ((('/' - 1 - c) & (c - ('/' + 1))) >> 8) & 64;
	return r; /* -1 for a character outside the alphabet */
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

int wg_key_from_base64(const char *b64, uint8_t ret_key[static WG_KEY_LEN])
{
	uint8_t key[WG_KEY_LEN];
	int bad = 0;
	unsigned i, o = 0;

	if (!b64 || strlen(b64) != WG_KEY_B64_LEN - 1 || b64[WG_KEY_B64_LEN - 2] != '=')
		return -EINVAL;

	for (i = 0; i < 40; i += 4) {
		int a = decode_b64_char(b64[i]), b = decode_b64_char(b64[i + 1]);
		int c = decode_b64_char(b64[i + 2]), d = decode_b64_char(b64[i + 3]);

		bad |= (a | b | c | d) >> 31;
		unsigned v = (unsigned)(a & 63) << 18 | (unsigned)(b & 63) << 12 |
			     (unsigned)(c & 63) << 6 | (unsigned)(d & 63);
		key[o++] = (uint8_t)(v >> 16);
		key[o++] = (uint8_t)(v >> 8);
		key[o++] = (uint8_t)v;
	}
	int a = decode_b64_char(b64[40]), b = decode_b64_char(b64[41]);
	int c = decode_b64_char(b64[42]);
	bad |= (a | b | c) >> 31;
	/* The last sextet carries two padding bits that must be zero (canonical form). */
	bad |= -(c & 3);
	unsigned v = (unsigned)(a & 63) << 18 | (unsigned)(b & 63) << 12 | (unsigned)(c & 63) << 6;
	key[o++] = (uint8_t)(v >> 16);
	key[o] = (uint8_t)(v >> 8);

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
