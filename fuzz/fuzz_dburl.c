// SPDX-License-Identifier: MIT
/*
 * db_url_parse over arbitrary bytes: it must return a URL or an error, never crash, leak
 * or read past the string. A URL it returns must survive db_url_format and a second parse
 * unchanged, and its redacted form must hide the password.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into the harness (as wireguard-tools' fuzzers do) for coverage instrumentation;
 * the controller's parser needs nothing but libc. */
#include "../controller/dburl.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int equal(const struct db_url *a, const struct db_url *b)
{
	return same(a->user, b->user) && same(a->password, b->password) && same(a->host, b->host) &&
	       a->port == b->port && same(a->database, b->database) && same(a->socket, b->socket) &&
	       a->ssl == b->ssl && a->ssl_verify == b->ssl_verify && same(a->ssl_ca, b->ssl_ca) &&
	       same(a->ssl_capath, b->ssl_capath) && same(a->ssl_cert, b->ssl_cert) &&
	       same(a->ssl_key, b->ssl_key) && a->connect_timeout_s == b->connect_timeout_s &&
	       a->read_timeout_s == b->read_timeout_s && a->write_timeout_s == b->write_timeout_s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct db_url *url = NULL, *again = NULL, *red = NULL;
	struct db_url_error err;
	char *text, *formatted = NULL, *redacted = NULL;
	int r;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&err, 0xa5, sizeof(err));

	r = db_url_parse(text, &url, &err);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			abort();
		if (url || !memchr(err.message, '\0', sizeof(err.message)) || !err.message[0])
			abort();
		goto out;
	}
	if (!url || (!url->host && !url->socket) || (url->socket && url->ssl))
		abort();
	if (url->ssl_verify && !url->ssl)
		abort();
	if (db_url_format(url, false, &formatted) < 0)
		goto out;
	if (db_url_parse(formatted, &again, NULL) < 0 || !equal(url, again))
		abort();
	if (db_url_format(url, true, &redacted) < 0)
		goto out;
	if (db_url_parse(redacted, &red, NULL) < 0)
		abort();
	if (url->password && strcmp(red->password, "***"))
		abort();
out:
	db_url_free(url);
	db_url_free(again);
	db_url_free(red);
	free(formatted);
	free(redacted);
	free(text);
	return 0;
}
