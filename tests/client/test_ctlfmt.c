// SPDX-License-Identifier: MIT
/*
 * wgfleetctl's formatter (controller/ctl/ctlfmt.c): exact output for tables, listings and
 * the status page, alignment with numbers and UTF-8, sanitizing of terminal control
 * characters, truncation, and refusal of answers of the wrong shape.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctlfmt.h"
#include "wgfleet/macro.h"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("test JSON: %s", e.text);
	return j;
}

/* Run fn into a memory stream; the caller frees the text. */
#define CAPTURE(text, expr)                                                                        \
	do {                                                                                       \
		size_t len_;                                                                       \
		FILE *f_ = open_memstream(&(text), &len_);                                         \
		assert_non_null(f_);                                                               \
		int r_ = (expr);                                                                   \
		fclose(f_);                                                                        \
		assert_int_equal(r_, 0);                                                           \
	} while (0)
#define OUT f_

static const struct ctlfmt_column node_cols[] = {
    {"ID", "id", 0},
    {"NAME", "name", 0},
    {"STATE", "state", 0},
    {"PEERS", "peers", 0},
    {"LAST ERROR", "last_error", 12},
};

static void test_table(void **state)
{
	json_t *j = parse("[{\"id\":1,\"name\":\"fra1\",\"state\":\"active\",\"peers\":1200,"
	                  "\"last_error\":null},"
	                  "{\"id\":12,\"name\":\"ams-backup\",\"state\":\"draining\",\"peers\":7,"
	                  "\"last_error\":\"connect: connection refused\"}]");
	char *text = NULL;

	CAPTURE(text, ctlfmt_table(OUT, j, node_cols, ARRAY_SIZE(node_cols), 0));
	/* Numbers right-aligned (header too), text left-aligned, last column unpadded. */
	assert_string_equal(text, "ID  NAME        STATE     PEERS  LAST ERROR\n"
	                          " 1  fra1        active     1200  -\n"
	                          "12  ams-backup  draining      7  connect: ...\n");
	free(text);
	json_decref(j);
}

static void test_table_empty_and_indent(void **state)
{
	json_t *j = json_array();
	char *text = NULL;

	CAPTURE(text, ctlfmt_table(OUT, j, node_cols, 2, 2));
	assert_string_equal(text, "  ID  NAME\n  (none)\n");
	free(text);
	json_decref(j);
}

static void test_values(void **state)
{
	static const struct ctlfmt_column cols[] = {
	    {"A", "addresses", 0}, {"T", "trial", 0},        {"J", "job.state", 0}, {"O", "job", 0},
	    {"R", "ratio", 0},     {"X", "missing.deep", 0}, {"E", "empty", 0},
	};
	json_t *j = parse("[{\"addresses\":[\"10.8.0.10/32\",\"fd42::2/128\"],\"trial\":true,"
	                  "\"job\":{\"id\":5,\"state\":\"done\"},\"ratio\":0.5,\"empty\":[]},"
	                  "{\"addresses\":[],\"trial\":false,\"job\":null,\"ratio\":2}]");
	char *text = NULL;

	CAPTURE(text, ctlfmt_table(OUT, j, cols, ARRAY_SIZE(cols), 0));
	assert_string_equal(
	    text, "A                         T    J     O                        R    X  E\n"
	          "10.8.0.10/32,fd42::2/128  yes  done  {\"id\":5,\"state\":\"done\"}  0.5  -  -\n"
	          "-                         no   -     -                        2    -  -\n");
	free(text);
	json_decref(j);
}

static void test_sanitize(void **state)
{
	static const struct ctlfmt_column cols[] = {{"NAME", "name", 0}, {"N", "n", 0}};
	/* ESC [ 2 J clears a terminal; U+009B is the one-byte CSI; newline and tab too. */
	json_t *j = parse("[{\"name\":\"a\\u001b[2Jb\\u009bc\\nd\\te\",\"n\":1}]");
	json_t *del = json_string("x\x7fy");
	char *text = NULL, *v = NULL;

	CAPTURE(text, ctlfmt_table(OUT, j, cols, ARRAY_SIZE(cols), 0));
	assert_string_equal(text, "NAME          N\n"
	                          "a?[2Jb?c?d?e  1\n");
	free(text);
	assert_int_equal(ctlfmt_value(del, &v), 0);
	assert_string_equal(v, "x?y");
	free(v);
	json_decref(del);
	json_decref(j);
}

static void test_utf8(void **state)
{
	static const struct ctlfmt_column cols[] = {
	    {"USER", "u", 0}, {"STATUS", "s", 0}, {"NOTE", "note", 6}};
	json_t *j = parse("[{\"u\":\"Jos\\u00e9\",\"s\":\"active\",\"note\":"
	                  "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"},"
	                  "{\"u\":\"bob\",\"s\":\"banned\",\"note\":\"short\"}]");
	char *text = NULL;

	CAPTURE(text, ctlfmt_table(OUT, j, cols, ARRAY_SIZE(cols), 0));
	/* "José" is 4 wide, not 5 bytes; the 7-character note is cut to 3 + "...". */
	assert_string_equal(text, "USER  STATUS  NOTE\n"
	                          "Jos\xc3\xa9  active  \xc3\xa9\xc3\xa9\xc3\xa9...\n"
	                          "bob   banned  short\n");
	free(text);
	json_decref(j);
}

static void test_object(void **state)
{
	static const struct ctlfmt_column cols[] = {{"ID", "id", 0},
	                                            {"TELEGRAM ID", "telegram_id", 0},
	                                            {"ROLES", "roles", 0},
	                                            {"JOB STATE", "job.state", 0}};
	json_t *j = parse("{\"id\":7,\"telegram_id\":123456789,\"roles\":[\"admin\",\"support\"],"
	                  "\"job\":{\"id\":3,\"state\":\"pending\"}}");
	char *text = NULL;

	CAPTURE(text, ctlfmt_object(OUT, j, cols, ARRAY_SIZE(cols)));
	assert_string_equal(text, "ID           7\n"
	                          "TELEGRAM ID  123456789\n"
	                          "ROLES        admin,support\n"
	                          "JOB STATE    pending\n");
	free(text);
	json_decref(j);
}

static void test_status(void **state)
{
	json_t *j = parse("{\"users\":{\"active\":12,\"banned\":1},\"vpns\":{\"active\":30,"
	                  "\"pending\":2,\"revoked\":105},\"payments\":{},\"jobs\":{\"done\":400,"
	                  "\"failed\":3},\"nodes\":[{\"name\":\"fra1\",\"state\":\"active\","
	                  "\"health\":\"healthy\",\"peers\":30,\"free_addresses\":991}]}");
	char *text = NULL;

	CAPTURE(text, ctlfmt_status(OUT, j));
	assert_string_equal(text, "users\n"
	                          "  active  12\n"
	                          "  banned   1\n"
	                          "\n"
	                          "vpns\n"
	                          "  active    30\n"
	                          "  pending    2\n"
	                          "  revoked  105\n"
	                          "\n"
	                          "payments\n"
	                          "  (none)\n"
	                          "\n"
	                          "jobs\n"
	                          "  done    400\n"
	                          "  failed    3\n"
	                          "\n"
	                          "nodes\n"
	                          "  NAME  STATE   HEALTH   PEERS  FREE\n"
	                          "  fra1  active  healthy     30   991\n");
	free(text);
	json_decref(j);
}

static void test_wrong_shape(void **state)
{
	json_t *obj = parse("{\"nodes\":3}"), *arr = parse("[1, 2]");
	FILE *f = fopen("/dev/null", "w");

	assert_non_null(f);
	/* Not an array; an array of non-objects; not an object. */
	assert_int_equal(ctlfmt_table(f, obj, node_cols, 2, 0), -EINVAL);
	assert_int_equal(ctlfmt_table(f, json_object_get(obj, "nodes"), node_cols, 2, 0), -EINVAL);
	assert_int_equal(ctlfmt_table(f, arr, node_cols, 2, 0), -EINVAL);
	assert_int_equal(ctlfmt_object(f, arr, node_cols, 2), -EINVAL);
	assert_int_equal(ctlfmt_status(f, arr), -EINVAL);
	fclose(f);
	json_decref(obj);
	json_decref(arr);
}

static void test_get(void **state)
{
	json_t *j = parse("{\"a\":{\"b\":{\"c\":1}},\"x\":2}");

	assert_int_equal(json_integer_value(ctlfmt_get(j, "a.b.c")), 1);
	assert_int_equal(json_integer_value(ctlfmt_get(j, "x")), 2);
	assert_null(ctlfmt_get(j, "a.b.d"));
	assert_null(ctlfmt_get(j, "x.y")); /* through a non-object */
	assert_null(ctlfmt_get(NULL, "x"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),  cmocka_unit_test(test_table_empty_and_indent),
	    cmocka_unit_test(test_values), cmocka_unit_test(test_sanitize),
	    cmocka_unit_test(test_utf8),   cmocka_unit_test(test_object),
	    cmocka_unit_test(test_status), cmocka_unit_test(test_wrong_shape),
	    cmocka_unit_test(test_get),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
