// SPDX-License-Identifier: MIT
/*
 * DATABASE_URL parser and formatter. Kept free of <mysql.h> and of any I/O so that it is
 * unit-tested and fuzzed on its own (fuzz/fuzz_dburl.c compiles this file in).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dburl.h"

#define DB_URL_TIMEOUT_MAX 3600

static int fail(struct db_url_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct db_url_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes [s, s+len) into a new string. A decoded NUL is refused: every consumer
 * of these strings (Connector/C included) takes C strings, so a NUL would silently cut a
 * password or a path short.
 */
static int decode(const char *s, size_t len, const char *what, char **ret, struct db_url_error *err)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
		int lo = hi >= 0 ? hexval(s[i + 2]) : -1;

		if (hi < 0 || lo < 0) {
			free(out);
			return fail(err, "bad percent-encoding in the %s", what);
		}
		if (hi == 0 && lo == 0) {
			free(out);
			return fail(err, "the %s contains an encoded NUL (%%00)", what);
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	*ret = out;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

static int parse_bool(const char *s, bool *ret)
{
	if (!strcmp(s, "1") || !strcmp(s, "true")) {
		*ret = true;
		return 0;
	}
	if (!strcmp(s, "0") || !strcmp(s, "false")) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '_';
}

static bool hex_or_colon(char c)
{
	return hexval(c) >= 0 || c == ':' || c == '.';
}

/* Parses "host", "host:port", "[v6]" or "[v6]:port" in [s, s+len). */
static int parse_hostport(const char *s, size_t len, struct db_url *url, struct db_url_error *err)
{
	size_t hlen, i;
	const char *h = s, *port = NULL;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close || close == s + 1)
			return fail(err, "bad IPv6 address in the host");
		h = s + 1;
		hlen = (size_t)(close - h);
		for (i = 0; i < hlen; i++)
			if (!hex_or_colon(h[i]))
				return fail(err, "bad character in the IPv6 host");
		if (close + 1 < s + len) {
			if (close[1] != ':')
				return fail(err, "junk after the IPv6 host");
			port = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', len);

		hlen = colon ? (size_t)(colon - s) : len;
		if (colon)
			port = colon + 1;
		for (i = 0; i < hlen; i++)
			if (!host_char(h[i]))
				return fail(err, "bad character in the host");
	}
	if (hlen > 255)
		return fail(err, "host name too long");
	if (port) {
		size_t plen = (size_t)(s + len - port);
		char buf[8];
		unsigned p;

		if (plen == 0 || plen >= sizeof(buf))
			return fail(err, "bad port");
		memcpy(buf, port, plen);
		buf[plen] = '\0';
		if (parse_uint(buf, 1, 65535, &p) < 0)
			return fail(err, "bad port (1-65535)");
		url->port = (uint16_t)p;
	}
	if (hlen) {
		url->host = strndup(h, hlen);
		if (!url->host)
			return -ENOMEM;
	}
	return 0;
}

/* The string options, by name; each may appear once. */
static char **string_option(struct db_url *url, const char *name)
{
	if (!strcmp(name, "socket"))
		return &url->socket;
	if (!strcmp(name, "ssl-ca"))
		return &url->ssl_ca;
	if (!strcmp(name, "ssl-capath"))
		return &url->ssl_capath;
	if (!strcmp(name, "ssl-cert"))
		return &url->ssl_cert;
	if (!strcmp(name, "ssl-key"))
		return &url->ssl_key;
	return NULL;
}

static unsigned *timeout_option(struct db_url *url, const char *name)
{
	if (!strcmp(name, "connect-timeout"))
		return &url->connect_timeout_s;
	if (!strcmp(name, "read-timeout"))
		return &url->read_timeout_s;
	if (!strcmp(name, "write-timeout"))
		return &url->write_timeout_s;
	return NULL;
}

/* Bits of the options already seen, so that a repeated one is refused. */
enum {
	SEEN_SSL = 1U << 0,
	SEEN_SSL_VERIFY = 1U << 1,
	SEEN_TIMEOUT_SHIFT = 2, /* three bits, one per timeout */
};

static int parse_option(struct db_url *url, const char *s, size_t len, unsigned *seen,
                        bool *ssl_off, struct db_url_error *err)
{
	const char *eq = memchr(s, '=', len);
	char name[24], *value = NULL, **str;
	unsigned *t;
	size_t nlen;
	int r;

	if (!eq)
		return fail(err, "option without '=' in the query");
	nlen = (size_t)(eq - s);
	if (nlen == 0 || nlen >= sizeof(name))
		return fail(err, "unknown option in the query");
	memcpy(name, s, nlen);
	name[nlen] = '\0';
	if (memchr(name, '%', nlen))
		return fail(err, "unknown option in the query");

	r = decode(eq + 1, len - nlen - 1, "option value", &value, err);
	if (r < 0)
		return r;

	if ((str = string_option(url, name))) {
		if (*str) {
			r = fail(err, "option %s given twice", name);
			goto out;
		}
		if (!*value) {
			r = fail(err, "option %s is empty", name);
			goto out;
		}
		*str = value;
		value = NULL;
		if (strncmp(name, "ssl-", 4) == 0)
			url->ssl = true;
	} else if (!strcmp(name, "ssl") || !strcmp(name, "ssl-verify")) {
		unsigned bit = name[3] ? SEEN_SSL_VERIFY : SEEN_SSL;
		bool b;

		if (*seen & bit) {
			r = fail(err, "option %s given twice", name);
			goto out;
		}
		*seen |= bit;
		if (parse_bool(value, &b) < 0) {
			r = fail(err, "option %s must be 0 or 1", name);
			goto out;
		}
		if (bit == SEEN_SSL) {
			if (b)
				url->ssl = true;
			else
				*ssl_off = true;
		} else {
			url->ssl_verify = b;
			if (b)
				url->ssl = true;
		}
	} else if ((t = timeout_option(url, name))) {
		unsigned bit = 1U << (SEEN_TIMEOUT_SHIFT + (unsigned)(t - &url->connect_timeout_s));

		if (*seen & bit) {
			r = fail(err, "option %s given twice", name);
			goto out;
		}
		*seen |= bit;
		if (parse_uint(value, 1, DB_URL_TIMEOUT_MAX, t) < 0) {
			r = fail(err, "option %s must be 1-%u seconds", name, DB_URL_TIMEOUT_MAX);
			goto out;
		}
	} else {
		r = fail(err, "unknown option '%s' in the query", name);
		goto out;
	}
	r = 0;
out:
	free(value);
	return r;
}

int db_url_parse(const char *text, struct db_url **ret, struct db_url_error *err)
{
	struct db_url *url = NULL;
	const char *p, *auth, *auth_end, *at, *path_end;
	unsigned seen = 0;
	bool ssl_off = false;
	int r;

	if (!text)
		return fail(err, "no database URL");
	for (p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ' ')
			return fail(err, "control character or space in the database URL");
	if (strchr(text, '#'))
		return fail(err, "fragment ('#') in the database URL; encode it as %%23");

	if (!strncasecmp(text, "mysql://", 8))
		auth = text + 8;
	else if (!strncasecmp(text, "mariadb://", 10))
		auth = text + 10;
	else
		return fail(err, "database URL must start with mysql:// or mariadb://");

	url = calloc(1, sizeof(*url));
	if (!url)
		return -ENOMEM;

	auth_end = auth + strcspn(auth, "/?");
	/* The last '@' ends the user info, so an unencoded '@' in a password still works. */
	at = NULL;
	for (p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		size_t ulen = colon ? (size_t)(colon - auth) : (size_t)(at - auth);

		if (ulen == 0) {
			r = fail(err, "empty user name in the database URL");
			goto out;
		}
		r = decode(auth, ulen, "user name", &url->user, err);
		if (r < 0)
			goto out;
		if (colon) {
			r = decode(colon + 1, (size_t)(at - colon - 1), "password", &url->password,
			           err);
			if (r < 0)
				goto out;
		}
		auth = at + 1;
	}
	r = parse_hostport(auth, (size_t)(auth_end - auth), url, err);
	if (r < 0)
		goto out;

	p = auth_end;
	if (*p == '/') {
		p++;
		path_end = p + strcspn(p, "?");
		if (memchr(p, '/', (size_t)(path_end - p))) {
			r = fail(err, "database name contains '/'");
			goto out;
		}
		if (path_end > p) {
			r = decode(p, (size_t)(path_end - p), "database name", &url->database, err);
			if (r < 0)
				goto out;
			/* What MariaDB cannot use as a database name (it maps names to files). */
			if (strlen(url->database) > 64 || strpbrk(url->database, "/\\.") ||
			    url->database[strlen(url->database) - 1] == ' ') {
				r = fail(err,
				         "bad database name (at most 64 bytes, no '/', '\\', '.' "
				         "or trailing space)");
				goto out;
			}
			for (const char *c = url->database; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f) {
					r = fail(err, "control character in the database name");
					goto out;
				}
		}
		p = path_end;
	}
	if (*p == '?') {
		p++;
		if (!*p) {
			r = fail(err, "empty query after '?'");
			goto out;
		}
		while (*p) {
			size_t olen = strcspn(p, "&");

			if (olen == 0) {
				r = fail(err, "empty option in the query");
				goto out;
			}
			r = parse_option(url, p, olen, &seen, &ssl_off, err);
			if (r < 0)
				goto out;
			p += olen;
			if (*p == '&') {
				p++;
				if (!*p) {
					r = fail(err, "empty option in the query");
					goto out;
				}
			}
		}
	}
	if (ssl_off && url->ssl) {
		r = fail(err, "ssl=0 contradicts the other ssl options");
		goto out;
	}
	if (!url->host && !url->socket) {
		r = fail(err, "database URL has neither a host nor ?socket=");
		goto out;
	}
	if (url->socket && url->ssl) {
		/* Connector/C speaks plain text on a unix socket: refuse rather than pretend. */
		r = fail(err, "TLS options do not apply to a unix socket");
		goto out;
	}
	if (url->socket && url->socket[0] != '/') {
		r = fail(err, "socket path must be absolute");
		goto out;
	}
	*ret = url;
	url = NULL;
	r = 0;
out:
	db_url_free(url);
	return r;
}

/* A growing string; every append is checked once at the end through the error flag. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

/* Percent-encodes everything but RFC 3986 unreserved characters (and '/' in paths). */
static void sb_encode(struct sbuf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[3];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			sb_putn(b, (const char *)&c, 1);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		sb_putn(b, e, 3);
	}
}

static void sb_option(struct sbuf *b, bool *first, const char *name, const char *value)
{
	sb_puts(b, *first ? "?" : "&");
	*first = false;
	sb_puts(b, name);
	sb_puts(b, "=");
	sb_encode(b, value, true);
}

int db_url_format(const struct db_url *url, bool redact, char **ret)
{
	struct sbuf b = {0};
	bool first = true;
	char num[16];

	sb_puts(&b, "mysql://");
	if (url->user) {
		sb_encode(&b, url->user, false);
		if (url->password) {
			sb_puts(&b, ":");
			if (redact)
				sb_puts(&b, "***");
			else
				sb_encode(&b, url->password, false);
		}
		sb_puts(&b, "@");
	}
	if (url->host) {
		bool v6 = strchr(url->host, ':') != NULL;

		sb_puts(&b, v6 ? "[" : "");
		sb_puts(&b, url->host);
		sb_puts(&b, v6 ? "]" : "");
	}
	if (url->port) {
		snprintf(num, sizeof(num), ":%u", url->port);
		sb_puts(&b, num);
	}
	sb_puts(&b, "/");
	if (url->database)
		sb_encode(&b, url->database, false);
	if (url->socket)
		sb_option(&b, &first, "socket", url->socket);
	if (url->ssl)
		sb_option(&b, &first, "ssl", "1");
	if (url->ssl_verify)
		sb_option(&b, &first, "ssl-verify", "1");
	if (url->ssl_ca)
		sb_option(&b, &first, "ssl-ca", url->ssl_ca);
	if (url->ssl_capath)
		sb_option(&b, &first, "ssl-capath", url->ssl_capath);
	if (url->ssl_cert)
		sb_option(&b, &first, "ssl-cert", url->ssl_cert);
	if (url->ssl_key)
		sb_option(&b, &first, "ssl-key", url->ssl_key);
	const struct {
		const char *name;
		unsigned v;
	} timeouts[] = {
	    {"connect-timeout", url->connect_timeout_s},
	    {"read-timeout", url->read_timeout_s},
	    {"write-timeout", url->write_timeout_s},
	};
	for (size_t i = 0; i < sizeof(timeouts) / sizeof(timeouts[0]); i++) {
		if (!timeouts[i].v)
			continue;
		snprintf(num, sizeof(num), "%u", timeouts[i].v);
		sb_option(&b, &first, timeouts[i].name, num);
	}
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*ret = b.p;
	return 0;
}

static int dup_str(const char *s, char **ret)
{
	*ret = NULL;
	if (s && !(*ret = strdup(s)))
		return -ENOMEM;
	return 0;
}

int db_url_dup(const struct db_url *url, struct db_url **ret)
{
	struct db_url *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	*c = *url;
	if (dup_str(url->user, &c->user) < 0 || dup_str(url->password, &c->password) < 0 ||
	    dup_str(url->host, &c->host) < 0 || dup_str(url->database, &c->database) < 0 ||
	    dup_str(url->socket, &c->socket) < 0 || dup_str(url->ssl_ca, &c->ssl_ca) < 0 ||
	    dup_str(url->ssl_capath, &c->ssl_capath) < 0 ||
	    dup_str(url->ssl_cert, &c->ssl_cert) < 0 || dup_str(url->ssl_key, &c->ssl_key) < 0) {
		db_url_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

struct db_url *db_url_free(struct db_url *url)
{
	if (!url)
		return NULL;
	if (url->password)
		explicit_bzero(url->password, strlen(url->password));
	free(url->user);
	free(url->password);
	free(url->host);
	free(url->database);
	free(url->socket);
	free(url->ssl_ca);
	free(url->ssl_capath);
	free(url->ssl_cert);
	free(url->ssl_key);
	free(url);
	return NULL;
}
