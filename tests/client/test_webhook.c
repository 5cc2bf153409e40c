// SPDX-License-Identifier: MIT
/*
 * The pure half of webhook delivery (controller/webhook.c): the X-Wgfleet-Signature value
 * on the HMAC-SHA256 test vectors of RFC 4231, and the body a notify job's payload
 * becomes, exactly, with every payload that is not {"event", "data": {...}} refused and
 * the outputs left alone.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wgfleet/macro.h"
#include "worker.h"

/* 2026-12-07T02:41:29Z, the example time of docs/api.md, in microseconds. */
#define T_EXAMPLE_US (INT64_C(1796611289) * 1000000)

static void test_signature_rfc4231(void **state)
{
	uint8_t k1[20], k3[20], k4[25], k6[131], d3[50], d4[50];
	static const char d6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char d7[] = "This is a test using a larger than block-size key and a larger "
	                         "than block-size data. The key needs to be hashed before being "
	                         "used by the HMAC algorithm.";
	const struct {
		const uint8_t *key;
		size_t key_len;
		const void *data;
		size_t len;
		const char *want;
	} cases[] = {
	    /* Test case 1 */
	    {k1, sizeof(k1), "Hi There", 8,
	     "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	    /* Test case 2 */
	    {(const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28,
	     "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	    /* Test case 3 */
	    {k3, sizeof(k3), d3, sizeof(d3),
	     "sha256=773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
	    /* Test case 4 */
	    {k4, sizeof(k4), d4, sizeof(d4),
	     "sha256=82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
	    /* Test case 6: a key longer than the block is hashed first */
	    {k6, sizeof(k6), d6, sizeof(d6) - 1,
	     "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	    /* Test case 7 */
	    {k6, sizeof(k6), d7, sizeof(d7) - 1,
	     "sha256=9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
	};
	char out[WEBHOOK_SIGNATURE_LEN + 8];

	memset(k1, 0x0b, sizeof(k1));
	memset(k3, 0xaa, sizeof(k3));
	memset(d3, 0xdd, sizeof(d3));
	for (size_t i = 0; i < sizeof(k4); i++)
		k4[i] = (uint8_t)(i + 1);
	memset(d4, 0xcd, sizeof(d4));
	memset(k6, 0xaa, sizeof(k6));

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		/* The canary after the terminator shows nothing is written past it. */
		memset(out, 'X', sizeof(out));
		webhook_signature(cases[i].key, cases[i].key_len, cases[i].data, cases[i].len, out);
		if (strcmp(out, cases[i].want))
			fail_msg("case %zu: %s, want %s", i, out, cases[i].want);
		assert_int_equal(strlen(out), WEBHOOK_SIGNATURE_LEN - 1);
		for (size_t k = WEBHOOK_SIGNATURE_LEN; k < sizeof(out); k++)
			assert_int_equal(out[k], 'X');
	}
}

/* The format on inputs of every length around the block size: "sha256=" + 64 of [0-9a-f]. */
static void test_signature_format(void **state)
{
	uint8_t key[200], data[200];
	char out[WEBHOOK_SIGNATURE_LEN], prev[WEBHOOK_SIGNATURE_LEN] = "";

	for (size_t i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)(0xff - i);
		data[i] = (uint8_t)(i * 7);
	}
	for (size_t n = 0; n <= sizeof(key); n += 13) {
		webhook_signature(key, n, data, n, out);
		assert_int_equal(strlen(out), 7 + 64);
		assert_memory_equal(out, "sha256=", 7);
		for (size_t k = 7; k < 7 + 64; k++)
			if (!((out[k] >= '0' && out[k] <= '9') || (out[k] >= 'a' && out[k] <= 'f')))
				fail_msg("n %zu: '%c' at %zu in %s", n, out[k], k, out);
		assert_string_not_equal(out, prev);
		memcpy(prev, out, sizeof(prev));
	}
	/* The key matters, and so does every byte of the body. */
	webhook_signature((const uint8_t *)"k1", 2, "{}", 2, out);
	webhook_signature((const uint8_t *)"k2", 2, "{}", 2, prev);
	assert_string_not_equal(out, prev);
	webhook_signature((const uint8_t *)"k1", 2, "{ }", 3, prev);
	assert_string_not_equal(out, prev);
	/* The same inputs, the same signature (no state carried between calls). */
	webhook_signature((const uint8_t *)"k1", 2, "{}", 2, prev);
	assert_string_equal(out, prev);
}

static void test_body(void **state)
{
	const char *payload = "{\"event\":\"vpn.expiring\",\"data\":{\"vpn_id\":7,"
	                      "\"telegram_id\":123456789,\"expires_at\":\"2026-12-08T00:00:00Z\"}}";
	char *event = NULL, *body = NULL;
	size_t len = 0;

	assert_int_equal(
	    webhook_body("expiring:7:1796688000", payload, T_EXAMPLE_US, &event, &body, &len), 0);
	assert_string_equal(event, "vpn.expiring");
	assert_string_equal(body, "{\"id\":\"expiring:7:1796688000\",\"event\":\"vpn.expiring\","
	                          "\"data\":{\"vpn_id\":7,\"telegram_id\":123456789,"
	                          "\"expires_at\":\"2026-12-08T00:00:00Z\"},"
	                          "\"sent_at\":\"2026-12-07T02:41:29Z\"}");
	assert_int_equal(len, strlen(body));
	free(event);
	free(body);

	/* Sub-second parts are cut; other keys of the payload stay out of the body; an empty
	 * data object and an id that needs escaping. */
	payload = "{\"data\":{},\"event\":\"payment.completed\",\"extra\":[1]}";
	assert_int_equal(
	    webhook_body("a\"b\\", payload, T_EXAMPLE_US + 999999, &event, &body, &len), 0);
	assert_string_equal(event, "payment.completed");
	assert_string_equal(body, "{\"id\":\"a\\\"b\\\\\",\"event\":\"payment.completed\","
	                          "\"data\":{},\"sent_at\":\"2026-12-07T02:41:29Z\"}");
	assert_int_equal(len, strlen(body));
	free(event);
	free(body);

	/* The longest event name allowed, and the epoch. */
	char name[64 + 1], json[160];

	memset(name, 'e', 64);
	name[64] = '\0';
	snprintf(json, sizeof(json), "{\"event\":\"%s\",\"data\":{\"x\":null}}", name);
	assert_int_equal(webhook_body("k", json, 0, &event, &body, &len), 0);
	assert_string_equal(event, name);
	assert_non_null(strstr(body, "\"sent_at\":\"1970-01-01T00:00:00Z\"}"));
	free(event);
	free(body);
}

static void test_body_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "{",
	    "null",
	    "[]",
	    "[{\"event\":\"a\",\"data\":{}}]",
	    "\"{\\\"event\\\":\\\"a\\\",\\\"data\\\":{}}\"",
	    "{}",
	    "{\"event\":\"a\"}",
	    "{\"data\":{}}",
	    "{\"event\":\"a\",\"data\":null}",
	    "{\"event\":\"a\",\"data\":[]}",
	    "{\"event\":\"a\",\"data\":\"{}\"}",
	    "{\"event\":\"a\",\"data\":7}",
	    "{\"event\":7,\"data\":{}}",
	    "{\"event\":null,\"data\":{}}",
	    "{\"event\":\"\",\"data\":{}}",
	    "{\"event\":\"Vpn.expired\",\"data\":{}}",
	    "{\"event\":\"a b\",\"data\":{}}",
	    "{\"event\":\"a\\r\\nX-Injected: 1\",\"data\":{}}",
	    "{\"event\":\"a:b\",\"data\":{}}",
	    "{\"event\":\"caf\\u00e9\",\"data\":{}}",
	    "{\"event\":\"a\",\"data\":{},\"event\":\"b\"}", /* duplicate key */
	    "{\"event\":\"a\",\"data\":{}} trailing",
	    ("{\"event\":\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\","
	     "\"data\":{}}"), /* 65 characters */
	};
	char *event = (char *)"untouched", *body = (char *)"untouched";
	size_t len = 42;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (webhook_body("k", bad[i], T_EXAMPLE_US, &event, &body, &len) != -EINVAL)
			fail_msg("case %zu accepted: %s", i, bad[i]);
		assert_string_equal(event, "untouched");
		assert_string_equal(body, "untouched");
		assert_int_equal(len, 42);
	}
	/* No payload at all, or no key. */
	assert_int_equal(webhook_body("k", NULL, T_EXAMPLE_US, &event, &body, &len), -EINVAL);
	assert_int_equal(
	    webhook_body(NULL, "{\"event\":\"a\",\"data\":{}}", T_EXAMPLE_US, &event, &body, &len),
	    -EINVAL);
	assert_string_equal(event, "untouched");
	assert_string_equal(body, "untouched");
	assert_int_equal(len, 42);
}

/* What a receiver does: verify the signature of the bytes it got, then read them. */
static void test_body_signed(void **state)
{
	const char *payload = "{\"event\":\"vpn.expired\",\"data\":{\"vpn_id\":9}}";
	char *event = NULL, *body = NULL, sig[WEBHOOK_SIGNATURE_LEN];
	size_t len = 0;
	json_t *j;

	assert_int_equal(webhook_body("expired:9", payload, T_EXAMPLE_US, &event, &body, &len), 0);
	webhook_signature((const uint8_t *)"Jefe", 4, body, len, sig);
	/* The body is fixed above, so its signature is too (checked with Python's hmac). */
	assert_string_equal(body, "{\"id\":\"expired:9\",\"event\":\"vpn.expired\",\"data\":"
	                          "{\"vpn_id\":9},\"sent_at\":\"2026-12-07T02:41:29Z\"}");
	assert_string_equal(
	    sig, "sha256=4c27c73becfdd22ea859b5fa2de9e2774ac91faba7c63f38eae39203d6038f29");
	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 4);
	assert_string_equal(json_string_value(json_object_get(j, "id")), "expired:9");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"), "vpn_id")),
	                 9);
	json_decref(j);
	free(event);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_signature_rfc4231),
	    cmocka_unit_test(test_signature_format),
	    cmocka_unit_test(test_body),
	    cmocka_unit_test(test_body_bad),
	    cmocka_unit_test(test_body_signed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
