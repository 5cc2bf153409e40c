// SPDX-License-Identifier: MIT
/*
 * Pure parts of the migrations: the statement splitter, the embedded files (bytes and
 * SHA-256 equal to the sources), and the statement table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "wgfleet/macro.h"
#include "db_stmt.h"
#include "migrate.h"

/* Splits sql and joins the statements with '|'. */
static int split(const char *sql, char *out, size_t len)
{
	size_t pos = 0, n;
	const char *s;
	int r;

	out[0] = '\0';
	while ((r = migration_split_next(sql, strlen(sql), &pos, &s, &n)) > 0) {
		if (out[0])
			strncat(out, "|", len - strlen(out) - 1);
		strncat(out, s, n < len - strlen(out) - 1 ? n : len - strlen(out) - 1);
	}
	return r;
}

static void test_split(void **state)
{
	static const struct {
		const char *sql, *want;
	} cases[] = {
	    {"", ""},
	    {"  \n ;; ; ", ""},
	    {"SELECT 1", "SELECT 1"},
	    {"SELECT 1;SELECT 2;", "SELECT 1|SELECT 2"},
	    {"  SELECT 1 ;\n\n  SELECT 2  \n", "SELECT 1|SELECT 2"},
	    {"SELECT ';' ; SELECT \"a;\"", "SELECT ';'|SELECT \"a;\""},
	    {"SELECT 'it''s;' ; X", "SELECT 'it''s;'|X"},
	    {"SELECT 'a\\';b' ; X", "SELECT 'a\\';b'|X"},
	    {"SELECT `a;b` ; X", "SELECT `a;b`|X"},
	    {"SELECT `a\\` ; X", "SELECT `a\\`|X"}, /* no escapes in `names` */
	    {"-- comment; here\nSELECT 1; -- tail;\n", "SELECT 1"},
	    {"# comment;\nSELECT 1", "SELECT 1"},
	    {"SELECT 1--1;X", "SELECT 1--1|X"}, /* "--" without a space is minus minus */
	    {"/* a; b */ SELECT /* ; */ 1; /* only a comment; */", "SELECT /* ; */ 1"},
	    {"/*!40101 SET x=1 */; Y", "/*!40101 SET x=1 */|Y"},
	    {"CHECK (a REGEXP '^[a-z]\\\\.x$');", "CHECK (a REGEXP '^[a-z]\\\\.x$')"},
	};
	char out[256];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(split(cases[i].sql, out, sizeof(out)), 0);
		if (strcmp(out, cases[i].want))
			print_error("case %zu: [%s] -> [%s], want [%s]\n", i, cases[i].sql, out,
			            cases[i].want);
		assert_string_equal(out, cases[i].want);
	}
	static const char *const bad[] = {"SELECT 'x", "SELECT \"x;",    "SELECT `x",
	                                  "/* x",      "SELECT 1; /* x", "SELECT 'a\\'"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(split(bad[i], out, sizeof(out)), -EINVAL);
}

static void test_embedded(void **state)
{
	assert_true(migrations_builtin_count >= 1);
	assert_int_equal(sodium_init() >= 0, 1);
	for (size_t i = 0; i < migrations_builtin_count; i++) {
		const struct migration *m = &migrations_builtin[i];
		unsigned char sum[crypto_hash_sha256_BYTES];
		char hex[2 * sizeof(sum) + 1], path[512];
		size_t pos = 0, n, statements = 0;
		const char *s;
		FILE *f;

		assert_int_equal(m->version, i + 1);
		crypto_hash_sha256(sum, (const unsigned char *)m->sql, m->sql_len);
		sodium_bin2hex(hex, sizeof(hex), sum, sizeof(sum));
		assert_string_equal(hex, m->checksum);
		assert_int_equal(m->sql[m->sql_len], '\0');

		/* the bytes are the source file's */
		snprintf(path, sizeof(path), "%s/%s", MIGRATIONS_DIR, m->name);
		f = fopen(path, "rb");
		assert_non_null(f);
		char *buf = malloc(m->sql_len + 2);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, m->sql_len + 1, f), m->sql_len);
		assert_memory_equal(buf, m->sql, m->sql_len);
		free(buf);
		fclose(f);

		/* and they split cleanly */
		int r;
		while ((r = migration_split_next(m->sql, m->sql_len, &pos, &s, &n)) > 0)
			statements++;
		assert_int_equal(r, 0);
		assert_true(statements > 0);
	}
}

static void test_statement_table(void **state)
{
	for (size_t i = 0; i < DB_STMT__COUNT; i++) {
		assert_non_null(db_stmts[i].name);
		assert_non_null(db_stmts[i].sql);
		assert_int_equal(db_stmts[i].flags & ~DB_STMT_FLAGS_ALL, 0);
		assert_null(strchr(db_stmts[i].sql, ';'));
		for (size_t j = 0; j < i; j++) {
			assert_string_not_equal(db_stmts[i].name, db_stmts[j].name);
			assert_string_not_equal(db_stmts[i].sql, db_stmts[j].sql);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_embedded),
	    cmocka_unit_test(test_statement_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
