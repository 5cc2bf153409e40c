// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "wgkey.h"

static void hex_to_bytes(const char *hex, uint8_t out[static WG_KEY_LEN])
{
	assert_int_equal(wg_key_from_hex(hex, out), 0);
}

/* RFC 7748 section 6.1: Alice's and Bob's key pairs. */
static const char *const rfc7748[][2] = {
	{"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	 "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"},
	{"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	 "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"},
};

static void test_rfc7748_public_keys(void **state)
{
	for (size_t i = 0; i < 2; i++) {
		uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN], want[WG_KEY_LEN];
		char hex[WG_KEY_HEX_LEN];

		hex_to_bytes(rfc7748[i][0], priv);
		hex_to_bytes(rfc7748[i][1], want);
		assert_int_equal(wg_key_public_from_private(priv, pub), 0);
		assert_memory_equal(pub, want, WG_KEY_LEN);
		wg_key_to_hex(hex, pub);
		assert_string_equal(hex, rfc7748[i][1]);
	}
}

/* Known pair: `echo ... | wg pubkey` output, checked with wireguard-tools 1.0.20210914. */
static void test_base64_known(void **state)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN];

	hex_to_bytes(rfc7748[0][0], priv);
	wg_key_to_base64(b64, priv);
	assert_string_equal(b64, "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=");
	assert_int_equal(wg_key_public_from_private(priv, pub), 0);
	wg_key_to_base64(b64, pub);
	assert_string_equal(b64, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
}

static void test_base64_roundtrip_all_byte_values(void **state)
{
	uint8_t key[WG_KEY_LEN], back[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN];

	for (unsigned start = 0; start < 256; start++) {
		for (unsigned i = 0; i < WG_KEY_LEN; i++)
			key[i] = (uint8_t)(start + i * 37);
		wg_key_to_base64(b64, key);
		assert_int_equal(strlen(b64), 44);
		assert_int_equal(wg_key_from_base64(b64, back), 0);
		assert_memory_equal(key, back, WG_KEY_LEN);
	}
}

static void test_base64_rejects(void **state)
{
	uint8_t key[WG_KEY_LEN], sentinel[WG_KEY_LEN];
	const char *bad[] = {
		"",
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo",    /* 43 chars: no padding */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo==",  /* 45 chars */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC==",   /* 31 bytes worth */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=",   /* non-zero padding bits */
		"dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L-o=",   /* '-' is not base64 */
		"dwdtCnMY X08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=",   /* space */
		"\xffwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=",
	};

	memset(key, 0xAA, sizeof(key));
	memcpy(sentinel, key, sizeof(key));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wg_key_from_base64(bad[i], key), -EINVAL);
		assert_memory_equal(key, sentinel, WG_KEY_LEN); /* untouched on failure */
	}
	assert_int_equal(wg_key_from_base64(NULL, key), -EINVAL);
}

/* The alphabet the obvious way (RFC 4648), for checking the constant-time decoder. */
static int ref_sextet(unsigned char c)
{
	const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *at = c ? strchr(alpha, c) : NULL;

	return at ? (int)(at - alpha) : -1;
}

/*
 * Every byte value at every one of the 43 character positions of a valid key: the decoder
 * accepts exactly the alphabet (and, at the last position, only sextets with the two
 * padding bits clear), and what it accepts decodes to the bits the reference gives.
 */
static void test_base64_every_byte_everywhere(void **state)
{
	const char *good = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
	uint8_t base[WG_KEY_LEN], key[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN];

	assert_int_equal(wg_key_from_base64(good, base), 0);
	for (unsigned pos = 0; pos < 43; pos++)
		for (unsigned c = 1; c < 256; c++) {
			int sextet = ref_sextet((unsigned char)c), want_ok;
			unsigned bit = pos * 6; /* the sextet's first bit in the key */

			memcpy(b64, good, sizeof(b64));
			b64[pos] = (char)c;
			want_ok = sextet >= 0 && (pos < 42 || (sextet & 3) == 0);
			memset(key, 0xAA, sizeof(key));
			assert_int_equal(wg_key_from_base64(b64, key), want_ok ? 0 : -EINVAL);
			if (!want_ok)
				continue;
			/* Only the six bits of this position differ from the base key. */
			for (unsigned b = 0; b < 8 * WG_KEY_LEN; b++) {
				unsigned got = key[b / 8] >> (7 - b % 8) & 1;
				unsigned want = base[b / 8] >> (7 - b % 8) & 1;

				if (b >= bit && b < bit + 6)
					want = (unsigned)sextet >> (5 - (b - bit)) & 1;
				assert_int_equal(got, want);
			}
		}
}

static void test_hex(void **state)
{
	uint8_t key[WG_KEY_LEN], back[WG_KEY_LEN];
	char hex[WG_KEY_HEX_LEN];

	for (unsigned i = 0; i < WG_KEY_LEN; i++)
		key[i] = (uint8_t)(i * 8 + 7);
	wg_key_to_hex(hex, key);
	assert_int_equal(wg_key_from_hex(hex, back), 0);
	assert_memory_equal(key, back, WG_KEY_LEN);
	/* upper case accepted */
	for (char *p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(wg_key_from_hex(hex, back), 0);
	assert_memory_equal(key, back, WG_KEY_LEN);
	hex[5] = 'g';
	assert_int_equal(wg_key_from_hex(hex, back), -EINVAL);
	assert_int_equal(wg_key_from_hex("00", back), -EINVAL);
}

static void test_generate_and_zero(void **state)
{
	uint8_t a[WG_KEY_LEN], b[WG_KEY_LEN], pub[WG_KEY_LEN], zero[WG_KEY_LEN] = {0};

	assert_int_equal(wg_key_generate_private(a), 0);
	assert_int_equal(wg_key_generate_private(b), 0);
	assert_false(wg_key_equal(a, b));
	/* clamped as RFC 7748 requires */
	assert_int_equal(a[0] & 7, 0);
	assert_int_equal(a[31] & 128, 0);
	assert_int_equal(a[31] & 64, 64);
	assert_int_equal(wg_key_public_from_private(a, pub), 0);
	assert_false(wg_key_is_zero(pub));
	assert_true(wg_key_is_zero(zero));
	assert_int_equal(wg_key_generate_preshared(b), 0);
	assert_false(wg_key_is_zero(b));
	wg_key_wipe(b, sizeof(b));
	assert_true(wg_key_is_zero(b));
	/* Clamping turns the all-zero scalar into 2^254: a valid key, as `wg pubkey` agrees. */
	assert_int_equal(wg_key_public_from_private(zero, pub), 0);
	char b64[WG_KEY_B64_LEN];
	wg_key_to_base64(b64, pub);
	assert_string_equal(b64, "L+V9o0fNYkMVKNqsX7spBzD/9oSvxM/C7ZCZX1jLO3Q=");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7748_public_keys),
		cmocka_unit_test(test_base64_known),
		cmocka_unit_test(test_base64_roundtrip_all_byte_values),
		cmocka_unit_test(test_base64_rejects),
		cmocka_unit_test(test_base64_every_byte_everywhere),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_generate_and_zero),
	};

	if (wg_key_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
