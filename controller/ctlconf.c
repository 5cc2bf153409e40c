// SPDX-License-Identifier: MIT
/*
 * The controller's configuration file, driven by the key table below: adding a key is
 * one entry and one field. Values are checked where they are parsed, so a file is
 * accepted whole or not at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "ctlconf.h"
#include "dburl.h"

#define CTLCONF_MAX_BYTES (1024 * 1024)

struct parser {
	struct controller_config *cfg;
	struct ctlconf_error *err;
	unsigned line;
	unsigned key_line[1]; /* per key of the table: where it was set, 0 if not yet */
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->err)
		return -EINVAL;
	p->err->line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int set_database_url(struct parser *p, const char *value)
{
	struct db_url_error uerr = {0};
	struct db_url *url = NULL;

	/* Checked now, so that a typo is reported with its line, not at connect time. */
	if (db_url_parse(value, &url, &uerr) < 0)
		return fail(p, "database_url: %s", uerr.message);
	if (!url->database) {
		db_url_free(url);
		return fail(p, "database_url: names no database");
	}
	db_url_free(url);
	p->cfg->database_url = strdup(value);
	return p->cfg->database_url ? 0 : -ENOMEM;
}

static const struct key {
	const char *name;
	int (*set)(struct parser *p, const char *value);
} keys[] = {
    {"database_url", set_database_url},
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* One line, NUL-terminated, without its '\n'. */
static int parse_line(struct parser *p, char *line)
{
	size_t len = strlen(line);
	char *s, *eq, *key, *value;

	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, "control character in line (only tabs are allowed)");
	}
	s = trim(line);
	if (*s == '\0' || *s == '#')
		return 0;
	/* A comment starts at a '#' after whitespace; one inside a value stays. */
	for (char *c = s + 1; *c; c++)
		if (*c == '#' && is_blank(c[-1])) {
			*c = '\0';
			break;
		}
	eq = strchr(s, '=');
	if (!eq)
		return fail(p, "expected 'key = value'");
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(key, keys[i].name))
			continue;
		if (!*value)
			return fail(p, "%s: empty value", key);
		if (p->key_line[i])
			return fail(p, "%s: set twice (first on line %u)", key, p->key_line[i]);
		p->key_line[i] = p->line;
		return keys[i].set(p, value);
	}
	/* Only a plain key name is echoed: a secret pasted on a line of its own is not. */
	if (*key && strlen(key) <= 32 && strspn(key, "abcdefghijklmnopqrstuvwxyz_") == strlen(key))
		return fail(p, "unknown key '%s'", key);
	return fail(p, *key ? "unknown key" : "expected 'key = value'");
}

int ctlconf_parse(const char *text, size_t len, struct controller_config **ret,
                  struct ctlconf_error *err)
{
	struct parser p = {.err = err};
	char *copy = NULL;
	int r;

	_Static_assert(ARRAY_SIZE(keys) == ARRAY_SIZE(p.key_line), "one line slot per key");
	if (memchr(text, '\0', len)) {
		p.line = 1;
		for (const char *c = text; *c; c++)
			p.line += *c == '\n';
		return fail(&p, "NUL byte in line");
	}
	p.cfg = calloc(1, sizeof(*p.cfg));
	copy = strndup(text, len);
	if (!p.cfg || !copy) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
	for (char *line = copy, *next; line && r == 0; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		p.line++;
		r = parse_line(&p, line);
	}
out:
	if (copy)
		explicit_bzero(copy, len);
	free(copy);
	if (r < 0) {
		ctlconf_free(p.cfg);
		return r;
	}
	*ret = p.cfg;
	return 0;
}

int ctlconf_load(const char *path, struct controller_config **ret, struct ctlconf_error *err)
{
	struct controller_config *cfg = NULL;
	struct db_url *url = NULL;
	char *text = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0) {
		r = negative_errno();
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		if (err) {
			err->line = 0;
			snprintf(err->message, sizeof(err->message), "not a regular file");
		}
		goto out;
	}
	if (st.st_size > CTLCONF_MAX_BYTES) {
		r = -EFBIG;
		goto out;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	/* The size can change under us: read until EOF, within the limit. */
	while ((n = read(fd, text + len, (size_t)st.st_size + 1 - len)) > 0) {
		len += (size_t)n;
		if (len > (size_t)st.st_size) {
			r = -EFBIG;
			goto out;
		}
	}
	if (n < 0) {
		r = negative_errno();
		goto out;
	}
	r = ctlconf_parse(text, len, &cfg, err);
	if (r < 0)
		goto out;
	if (cfg->database_url && (st.st_mode & S_IROTH) &&
	    db_url_parse(cfg->database_url, &url, NULL) == 0 && url->password) {
		r = -EACCES;
		if (err) {
			err->line = 0;
			snprintf(
			    err->message, sizeof(err->message),
			    "holds a database password but is readable by everyone (mode %04o): "
			    "chmod o-r it",
			    (unsigned)(st.st_mode & 07777));
		}
		goto out;
	}
	*ret = cfg;
	cfg = NULL;
out:
	if (text)
		explicit_bzero(text, len);
	free(text);
	db_url_free(url);
	ctlconf_free(cfg);
	close(fd);
	return r;
}

struct controller_config *ctlconf_free(struct controller_config *cfg)
{
	if (!cfg)
		return NULL;
	if (cfg->database_url)
		explicit_bzero(cfg->database_url, strlen(cfg->database_url));
	free(cfg->database_url);
	free(cfg);
	return NULL;
}

const char *ctlconf_database_url(const char *option, const struct controller_config *cfg,
                                 const char *env, const char **ret_source)
{
	const char *url = NULL, *source = NULL;

	if (option && *option) {
		url = option;
		source = "--database-url";
	} else if (cfg && cfg->database_url) {
		url = cfg->database_url;
		source = "config file";
	} else if (env && *env) {
		url = env;
		source = "DATABASE_URL";
	}
	if (ret_source)
		*ret_source = source;
	return url;
}
