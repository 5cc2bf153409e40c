// SPDX-License-Identifier: MIT
/* DATABASE_URL parsing and formatting (controller/dburl.c): pure, no database. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "wgfleet/macro.h"
#include "dburl.h"

static struct db_url *parse_ok(const char *text)
{
	struct db_url_error err = {0};
	struct db_url *url = NULL;
	int r = db_url_parse(text, &url, &err);

	if (r < 0)
		print_error("%s: %s\n", text, err.message);
	assert_int_equal(r, 0);
	assert_non_null(url);
	return url;
}

#define assert_str_or_null(a, b)                                                                   \
	do {                                                                                       \
		if ((b) == NULL)                                                                   \
			assert_null(a);                                                            \
		else                                                                               \
			assert_string_equal((a), (b));                                             \
	} while (0)

static void test_full(void **state)
{
	struct db_url *u = parse_ok("mysql://wg:s3cr%40t%3A%2F@db.example.net:3307/wgfleet?"
	                            "ssl=1&ssl-ca=/etc/ssl/ca.pem&ssl-verify=1&connect-timeout=5");

	assert_string_equal(u->user, "wg");
	assert_string_equal(u->password, "s3cr@t:/");
	assert_string_equal(u->host, "db.example.net");
	assert_int_equal(u->port, 3307);
	assert_string_equal(u->database, "wgfleet");
	assert_null(u->socket);
	assert_true(u->ssl);
	assert_true(u->ssl_verify);
	assert_string_equal(u->ssl_ca, "/etc/ssl/ca.pem");
	assert_int_equal(u->connect_timeout_s, 5);
	assert_int_equal(u->read_timeout_s, 0);
	db_url_free(u);
}

static void test_forms(void **state)
{
	struct db_url *u;

	u = parse_ok("mysql://root@/wgfleet?socket=/run/mysqld/mysqld.sock");
	assert_string_equal(u->user, "root");
	assert_null(u->password);
	assert_null(u->host);
	assert_int_equal(u->port, 0);
	assert_string_equal(u->socket, "/run/mysqld/mysqld.sock");
	assert_false(u->ssl);
	db_url_free(u);

	u = parse_ok("MariaDB://[::1]:3306/db");
	assert_null(u->user);
	assert_string_equal(u->host, "::1");
	assert_int_equal(u->port, 3306);
	db_url_free(u);

	u = parse_ok("mysql://h");
	assert_string_equal(u->host, "h");
	assert_null(u->database);
	db_url_free(u);

	u = parse_ok("mysql://u:@h/");
	assert_string_equal(u->password, "");
	assert_null(u->database);
	db_url_free(u);

	/* an unencoded '@' in the password: the last '@' ends the user info */
	u = parse_ok("mysql://u:p@ss@h/d");
	assert_string_equal(u->password, "p@ss");
	assert_string_equal(u->host, "h");
	db_url_free(u);

	/* any ssl-* option turns TLS on */
	u = parse_ok("mysql://h/d?ssl-cert=/c.pem&ssl-key=/k.pem");
	assert_true(u->ssl);
	assert_false(u->ssl_verify);
	db_url_free(u);

	u = parse_ok("mysql://h/d%20x?ssl=0&read-timeout=3600&write-timeout=1");
	assert_string_equal(u->database, "d x");
	assert_false(u->ssl);
	assert_int_equal(u->read_timeout_s, 3600);
	assert_int_equal(u->write_timeout_s, 1);
	db_url_free(u);
}

static void test_errors(void **state)
{
	static const char *const bad[] = {
	    NULL,
	    "",
	    "postgres://h/d",
	    "mysql:/h/d",
	    "mysql://",
	    "mysql:///d",    /* neither host nor socket */
	    "mysql://h:0/d", /* port range */
	    "mysql://h:65536/d",
	    "mysql://h:12a/d",
	    "mysql://h:/d",
	    "mysql://h:99999999999/d",
	    "mysql://[::1/d",
	    "mysql://[]/d",
	    "mysql://[::1]x/d",
	    "mysql://[::g]/d",
	    "mysql://h o/d", /* space */
	    "mysql://h/d\n", /* control character */
	    "mysql://h/d#frag",
	    "mysql://h/a/b", /* database with '/' */
	    "mysql://h/a%2Fb",
	    "mysql://h/a.b",
	    "mysql://h/a%20", /* trailing space */
	    "mysql://h/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
	    "mysql://u:p%00w@h/d", /* decoded NUL */
	    "mysql://u:p%4@h/d",   /* bad escape */
	    "mysql://u:p%zz@h/d",
	    "mysql://:p@h/d", /* empty user */
	    "mysql://h/d?",
	    "mysql://h/d?&",
	    "mysql://h/d?ssl=1&",
	    "mysql://h/d?ssl",
	    "mysql://h/d?ssl=yes",
	    "mysql://h/d?sslverify=1", /* a typo must not silently weaken TLS */
	    "mysql://h/d?ssl_ca=/x",
	    "mysql://h/d?ssl=1&ssl=1",
	    "mysql://h/d?ssl-ca=/a&ssl-ca=/b",
	    "mysql://h/d?ssl=0&ssl-verify=1", /* contradiction */
	    "mysql://h/d?ssl=0&ssl-ca=/a",
	    "mysql://h/d?socket=relative.sock",
	    "mysql://h/d?socket=/s&ssl=1", /* TLS does not apply to a socket */
	    "mysql://h/d?socket=",
	    "mysql://h/d?connect-timeout=0",
	    "mysql://h/d?connect-timeout=3601",
	    "mysql://h/d?connect-timeout=-1",
	    "mysql://h/d?read-timeout=1&read-timeout=2",
	    "mysql://h/d?s%73l=1",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct db_url_error err = {0};
		struct db_url *u = NULL;
		int r = db_url_parse(bad[i], &u, &err);

		if (r != -EINVAL)
			print_error("accepted: %s\n", bad[i] ? bad[i] : "(null)");
		assert_int_equal(r, -EINVAL);
		assert_null(u);
		assert_true(err.message[0] != '\0');
	}
}

static void test_password_never_in_messages(void **state)
{
	static const char *const bad[] = {
	    "mysql://u:hunter2@h:0/d",
	    "mysql://u:hunter2@h/d?nope=1",
	    "mysql://u:hunter2%zz@h/d",
	    "mysql://u:hunter2@h/d?ssl-ca=hunter2&ssl-ca=hunter2",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct db_url_error err = {0};
		struct db_url *u = NULL;

		assert_int_equal(db_url_parse(bad[i], &u, &err), -EINVAL);
		assert_null(strstr(err.message, "hunter2"));
	}
}

static void test_format_roundtrip(void **state)
{
	static const char *const urls[] = {
	    ("mysql://wg:p%40ss%3Aw%2Frd%25@db.example.net:3307/wgfleet?ssl=1&ssl-verify=1&"
	     "ssl-ca=/a%26b.pem&connect-timeout=9"),
	    "mysql://root@/t_x?socket=/tmp/my%20dir/mysqld.sock",
	    "mysql://[fd00::1]:1/d%C3%A9j%C3%A0",
	    "mysql://u:@h/",
	    "mysql://h",
	};

	for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
		struct db_url *a = parse_ok(urls[i]), *b;
		char *text = NULL, *again = NULL;

		assert_int_equal(db_url_format(a, false, &text), 0);
		b = parse_ok(text);
		assert_int_equal(db_url_format(b, false, &again), 0);
		assert_string_equal(text, again);
		assert_str_or_null(b->user, a->user);
		assert_str_or_null(b->password, a->password);
		assert_str_or_null(b->host, a->host);
		assert_str_or_null(b->database, a->database);
		assert_str_or_null(b->socket, a->socket);
		assert_str_or_null(b->ssl_ca, a->ssl_ca);
		assert_int_equal(b->port, a->port);
		assert_int_equal(b->ssl, a->ssl);
		assert_int_equal(b->ssl_verify, a->ssl_verify);
		assert_int_equal(b->connect_timeout_s, a->connect_timeout_s);
		free(text);
		free(again);
		db_url_free(a);
		db_url_free(b);
	}
}

static void test_redacted_and_dup(void **state)
{
	struct db_url *u = parse_ok("mysql://wg:hunter2@h:3306/d"), *d = NULL;
	char *text = NULL;

	assert_int_equal(db_url_format(u, true, &text), 0);
	assert_string_equal(text, "mysql://wg:***@h:3306/d");
	free(text);
	assert_int_equal(db_url_dup(u, &d), 0);
	db_url_free(u);
	assert_string_equal(d->password, "hunter2");
	assert_string_equal(d->host, "h");
	db_url_free(d);
	assert_null(db_url_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_forms),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_password_never_in_messages),
	    cmocka_unit_test(test_format_roundtrip),
	    cmocka_unit_test(test_redacted_and_dup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
