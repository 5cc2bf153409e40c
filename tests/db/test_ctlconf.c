// SPDX-License-Identifier: MIT
/* The controller's config file (controller/ctlconf.c): grammar, errors, the file's
 * permissions, and which database URL wins. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "wgfleet/macro.h"
#include "ctlconf.h"

static struct controller_config *parse_ok(const char *text)
{
	struct controller_config *cfg = NULL;
	struct ctlconf_error err = {0};
	int r = ctlconf_parse(text, strlen(text), &cfg, &err);

	if (r < 0)
		print_error("[%s]: line %u: %s\n", text, err.line, err.message);
	assert_int_equal(r, 0);
	return cfg;
}

static void parse_bad(const char *text, size_t len, unsigned line, const char *reason)
{
	struct controller_config *cfg = NULL;
	struct ctlconf_error err = {0};

	assert_int_equal(ctlconf_parse(text, len, &cfg, &err), -EINVAL);
	assert_null(cfg);
	assert_int_equal(err.line, line);
	if (!strstr(err.message, reason))
		print_error("[%s]: '%s' does not say '%s'\n", text, err.message, reason);
	assert_non_null(strstr(err.message, reason));
	/* never the password */
	assert_null(strstr(err.message, "hunter2"));
}

static void test_parse(void **state)
{
	struct controller_config *cfg;

	cfg = parse_ok("");
	assert_null(cfg->database_url);
	cfg = ctlconf_free(cfg);
	cfg = parse_ok("# the controller\r\n\n  database_url =  mysql://w:p%23x@db:3306/wgfleet  "
	               "# a comment\r\n");
	assert_string_equal(cfg->database_url, "mysql://w:p%23x@db:3306/wgfleet");
	cfg = ctlconf_free(cfg);
	cfg = parse_ok("\tdatabase_url=mysql://w@/wgfleet?socket=/run/mysqld.sock");
	assert_string_equal(cfg->database_url, "mysql://w@/wgfleet?socket=/run/mysqld.sock");
	ctlconf_free(cfg);
	/* a '#' inside the value is not a comment: here it reaches the URL parser */
	parse_bad("database_url = mysql://u@h/d#x", 30, 1, "fragment");
	assert_null(ctlconf_free(NULL));

	parse_bad("database_url = mysql://u:hunter2@h/d?sslverify=1", 48, 1, "database_url:");
	parse_bad("\ndatabase_url = mysql://u:hunter2@h/", 36, 2, "names no database");
	parse_bad("database_url = mysql://u@h/a\ndatabase_url = mysql://u@h/b\n", 58, 2,
	          "set twice (first on line 1)");
	parse_bad("database_url =\n", 15, 1, "empty value");
	parse_bad("databaseurl = x\n", 16, 1, "unknown key 'databaseurl'");
	parse_bad("mysql://u:hunter2@h/d\n", 22, 1, "expected 'key = value'");
	parse_bad("Pass:hunter2 = 1\n", 16, 1, "unknown key");
	parse_bad("= x\n", 4, 1, "expected 'key = value'");
	parse_bad("\n\ndatabase_url = a\x01", 19, 3, "control character");
	parse_bad("# x\ndatabase_url = a\0b\n", 22, 2, "NUL byte");
}

static void test_precedence(void **state)
{
	struct controller_config cfg = {.database_url = "mysql://u@file/d"};
	const char *source = NULL;

	assert_string_equal(
	    ctlconf_database_url("mysql://u@opt/d", &cfg, "mysql://u@env/d", &source),
	    "mysql://u@opt/d");
	assert_string_equal(source, "--database-url");
	assert_string_equal(ctlconf_database_url(NULL, &cfg, "mysql://u@env/d", &source),
	                    "mysql://u@file/d");
	assert_string_equal(source, "config file");
	assert_string_equal(ctlconf_database_url("", NULL, "mysql://u@env/d", &source),
	                    "mysql://u@env/d");
	assert_string_equal(source, "DATABASE_URL");
	cfg.database_url = NULL;
	assert_null(ctlconf_database_url(NULL, &cfg, "", &source));
	assert_null(source);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_load(void **state)
{
	char dir[] = "/tmp/wgfleet-ctlconf-XXXXXX", path[64];
	struct controller_config *cfg = NULL;
	struct ctlconf_error err = {0};

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/controller.conf", dir);
	write_file(path, "database_url = mysql://w:hunter2@db/wgfleet\n", 0640);
	assert_int_equal(ctlconf_load(path, &cfg, &err), 0);
	assert_string_equal(cfg->database_url, "mysql://w:hunter2@db/wgfleet");
	cfg = ctlconf_free(cfg);
	/* a password readable by everyone is refused; without a password it is fine */
	write_file(path, "database_url = mysql://w:hunter2@db/wgfleet\n", 0644);
	assert_int_equal(ctlconf_load(path, &cfg, &err), -EACCES);
	assert_non_null(strstr(err.message, "readable by everyone"));
	assert_null(strstr(err.message, "hunter2"));
	write_file(path, "database_url = mysql://w@/wgfleet?socket=/run/mysqld/mysqld.sock\n",
	           0644);
	assert_int_equal(ctlconf_load(path, &cfg, &err), 0);
	cfg = ctlconf_free(cfg);
	write_file(path, "\nnope = 1\n", 0600);
	assert_int_equal(ctlconf_load(path, &cfg, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_int_equal(ctlconf_load(dir, &cfg, &err), -EINVAL); /* a directory */
	unlink(path);
	assert_int_equal(ctlconf_load(path, &cfg, &err), -ENOENT);
	assert_null(cfg);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
