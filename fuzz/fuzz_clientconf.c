// SPDX-License-Identifier: MIT
/*
 * clientconf_format over fields cut from arbitrary bytes. The property is that no field can
 * change the file's shape: whenever a text is produced, it has exactly the lines the fields
 * call for, no control character but '\n', and once stripped of the wg-quick-only lines
 * (Address, DNS) the project's wg(8) parser reads back the very keys that went in.
 *
 * Input: NUL-separated fields: private key, public key, preshared key (empty: none),
 * endpoint, keepalive (decimal, at most 6 digits), then list entries whose first byte
 * says the list: 'A' address, 'D' DNS, 'I' allowed IP (at most 8 in all).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into the harness for coverage, as fuzz_wgconf.c does with wgconf.c. */
#include "clientconf.c"
#include "wgconf.h"

#define MAX_FIELDS 13
#define MAX_ENTRIES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int resolve_any(const char *host, const char *port, union wg_endpoint *ret,
		       void *userdata)
{
	(void)host;
	(void)userdata;
	memset(ret, 0, sizeof(*ret));
	ret->addr4.sin_family = AF_INET;
	ret->addr4.sin_port = htons((uint16_t)atoi(port));
	ret->addr4.sin_addr.s_addr = htonl(0xcb007107); /* 203.0.113.7 */
	return 0;
}

static void check_keys(const struct clientconf *c, const char *text, size_t len)
{
	char *stripped = malloc(len + 1), *o = stripped;
	struct wg_device *dev = NULL;
	struct wgconf_error err;
	uint8_t key[WG_KEY_LEN];

	if (!stripped)
		return;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);

		if (strncmp(p, "Address = ", 10) != 0 && strncmp(p, "DNS = ", 6) != 0) {
			memcpy(o, p, n);
			o += n;
		}
		p += n;
	}
	*o = '\0';
	if (wgconf_parse(stripped, (size_t)(o - stripped), "wg0", resolve_any, NULL, &dev, &err) <
		0 ||
	    dev->n_peers != 1)
		abort();
	if (wg_key_from_base64(c->private_key, key) < 0 || memcmp(key, dev->private_key, 32))
		abort();
	if (wg_key_from_base64(c->server_public_key, key) < 0 ||
	    memcmp(key, dev->peers[0].public_key, 32))
		abort();
	if (!!c->preshared_key != !!(dev->peers[0].flags & WG_PEER_HAS_PRESHARED_KEY))
		abort();
	if (dev->peers[0].persistent_keepalive != c->persistent_keepalive ||
	    dev->peers[0].n_ips != c->n_allowed_ips)
		abort();
	wg_device_free(dev);
	free(stripped);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *fields[MAX_FIELDS] = {0}, *addrs[MAX_ENTRIES], *dns[MAX_ENTRIES],
		   *ips[MAX_ENTRIES];
	struct clientconf c = {0};
	size_t n_fields = 0, lines, len = 0;
	char *copy, *text = NULL;

	/* A NUL-terminated copy, so that every field is a C string. */
	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *p = copy; n_fields < MAX_FIELDS && p <= copy + size; p += strlen(p) + 1)
		fields[n_fields++] = p;
	if (n_fields < 5)
		goto out;

	c.private_key = fields[0];
	c.server_public_key = fields[1];
	c.preshared_key = fields[2][0] ? fields[2] : NULL;
	c.endpoint = fields[3];
	if (strlen(fields[4]) > 6 || strspn(fields[4], "0123456789") != strlen(fields[4]))
		goto out;
	c.persistent_keepalive = (unsigned)strtoul(fields[4], NULL, 10);
	c.addresses = addrs;
	c.dns = dns;
	c.allowed_ips = ips;
	for (size_t i = 5; i < n_fields; i++) {
		if (fields[i][0] == 'A')
			addrs[c.n_addresses++] = fields[i] + 1;
		else if (fields[i][0] == 'D')
			dns[c.n_dns++] = fields[i] + 1;
		else if (fields[i][0] == 'I')
			ips[c.n_allowed_ips++] = fields[i] + 1;
	}

	if (clientconf_format(&c, &text, &len) < 0) {
		if (text)
			abort();
		goto out;
	}
	if (strlen(text) != len || len == 0 || text[len - 1] != '\n')
		abort();
	lines = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n')
			lines++;
		else if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			abort();
	}
	/* [Interface], PrivateKey, Address, blank, [Peer], PublicKey, Endpoint, AllowedIPs. */
	if (lines != 8 + (size_t)(c.n_dns > 0) + (size_t)(c.preshared_key != NULL) +
			 (size_t)(c.persistent_keepalive > 0))
		abort();
	check_keys(&c, text, len);
	clientconf_text_free(text, len);
out:
	free(copy);
	return 0;
}
