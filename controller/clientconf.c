// SPDX-License-Identifier: MIT
/*
 * Validate everything first, then write the text in two passes over the same code: one
 * that only counts, one into a buffer of exactly that size. A growing buffer would leave
 * copies of the private key behind in memory realloc() gave back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#include "wgdev.h"
#include "wgkey.h"
#include "clientconf.h"

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

static bool is_ldh(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-';
}

/*
 * A host name of len bytes: dot-separated labels of letters, digits and inner hyphens.
 * Digits and dots alone must form an IPv4 address: "1.2.3" is not a name but a typo.
 */
static bool valid_host(const char *s, size_t len)
{
	char v4[INET_ADDRSTRLEN];
	struct in_addr a;
	bool numeric = true;
	size_t label = 0;

	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_ldh(ch) || (label == 0 && ch == '-') || ++label > DNS_LABEL_MAX)
			return false;
		if (ch < '0' || ch > '9')
			numeric = false;
	}
	if (label == 0 || s[len - 1] == '-')
		return false;
	if (!numeric)
		return true;
	if (len >= sizeof(v4))
		return false;
	memcpy(v4, s, len);
	v4[len] = '\0';
	return inet_pton(AF_INET, v4, &a) == 1;
}

/* "1..65535", decimal, no sign, no leading zero. */
static bool valid_port(const char *s)
{
	unsigned long p = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		p = p * 10 + (unsigned long)(s[i] - '0');
	}
	return p >= 1 && p <= 65535;
}

static bool valid_endpoint(const char *s)
{
	const char *colon;

	if (!s)
		return false;
	if (s[0] == '[') {
		char v6[INET6_ADDRSTRLEN];
		const char *close = strchr(s, ']');
		struct in6_addr a;
		size_t hlen;

		if (!close || close[1] != ':')
			return false;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(v6))
			return false;
		memcpy(v6, s + 1, hlen);
		v6[hlen] = '\0';
		/* inet_pton takes no zone ("%eth0"): a link-local endpoint means nothing to a
		 * client on another machine. */
		return inet_pton(AF_INET6, v6, &a) == 1 && valid_port(close + 2);
	}
	/* An unbracketed IPv6 address fails here: "2001" is no IPv4 address, "db8::1:51820"
	 * no port. */
	colon = strchr(s, ':');
	return colon && valid_host(s, (size_t)(colon - s)) && valid_port(colon + 1);
}

static bool valid_key(const char *b64)
{
	uint8_t key[WG_KEY_LEN];
	bool ok = b64 && wg_key_from_base64(b64, key) == 0;

	sodium_memzero(key, sizeof(key));
	return ok;
}

/* wg_allowedip_parse accepts a bare address (full-width mask) and "a/m". */
static bool valid_cidr(const char *s)
{
	struct wg_allowedip ip;

	return s && wg_allowedip_parse(s, &ip) == 0;
}

static bool valid_dns(const char *s)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!s)
		return false;
	return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1 ||
	       valid_host(s, strlen(s));
}

static bool valid_list(const char *const *list, size_t n, bool need_one,
		       bool (*valid)(const char *))
{
	if (n == 0)
		return !need_one;
	if (!list)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!valid(list[i]))
			return false;
	return true;
}

static int validate(const struct clientconf *c)
{
	if (!valid_key(c->private_key) || !valid_key(c->server_public_key) ||
	    (c->preshared_key && !valid_key(c->preshared_key)))
		return -EINVAL;
	if (!valid_list(c->addresses, c->n_addresses, true, valid_cidr) ||
	    !valid_list(c->dns, c->n_dns, false, valid_dns) ||
	    !valid_list(c->allowed_ips, c->n_allowed_ips, true, valid_cidr))
		return -EINVAL;
	if (!valid_endpoint(c->endpoint) || c->persistent_keepalive > 65535)
		return -EINVAL;
	return 0;
}

/* Counts when buf is NULL, writes otherwise. */
struct writer {
	char *buf;
	size_t len;
};

static void put(struct writer *w, const char *s)
{
	size_t n = strlen(s);

	if (w->buf)
		memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void put_line(struct writer *w, const char *key, const char *value)
{
	put(w, key);
	put(w, " = ");
	put(w, value);
	put(w, "\n");
}

static void put_list(struct writer *w, const char *key, const char *const *list, size_t n,
		     bool cidr)
{
	put(w, key);
	put(w, " = ");
	for (size_t i = 0; i < n; i++) {
		char buf[WG_ALLOWEDIP_STRLEN];
		struct wg_allowedip ip;

		if (i)
			put(w, ", ");
		/* Canonical form: validate() already parsed each, so this cannot fail. */
		if (cidr && wg_allowedip_parse(list[i], &ip) == 0) {
			wg_allowedip_format(&ip, buf);
			put(w, buf);
		} else {
			put(w, list[i]);
		}
	}
	put(w, "\n");
}

static void emit(const struct clientconf *c, struct writer *w)
{
	char keepalive[16];

	put(w, "[Interface]\n");
	put_line(w, "PrivateKey", c->private_key);
	put_list(w, "Address", c->addresses, c->n_addresses, true);
	if (c->n_dns)
		put_list(w, "DNS", c->dns, c->n_dns, false);
	put(w, "\n[Peer]\n");
	put_line(w, "PublicKey", c->server_public_key);
	if (c->preshared_key)
		put_line(w, "PresharedKey", c->preshared_key);
	put_line(w, "Endpoint", c->endpoint);
	put_list(w, "AllowedIPs", c->allowed_ips, c->n_allowed_ips, true);
	if (c->persistent_keepalive) {
		snprintf(keepalive, sizeof(keepalive), "%u", c->persistent_keepalive);
		put_line(w, "PersistentKeepalive", keepalive);
	}
}

int clientconf_format(const struct clientconf *c, char **ret_text, size_t *ret_len)
{
	struct writer w = {0};
	int r;

	if (!c || !ret_text || !ret_len)
		return -EINVAL;
	r = validate(c);
	if (r < 0)
		return r;
	emit(c, &w);
	w.buf = malloc(w.len + 1);
	if (!w.buf)
		return -ENOMEM;
	w.len = 0;
	emit(c, &w);
	w.buf[w.len] = '\0';
	*ret_text = w.buf;
	*ret_len = w.len;
	return 0;
}

char *clientconf_text_free(char *text, size_t len)
{
	if (text) {
		sodium_memzero(text, len + 1);
		free(text);
	}
	return NULL;
}
