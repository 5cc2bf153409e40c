// SPDX-License-Identifier: MIT
/* The wg-quick client file (controller/clientconf.c): exact output, every field refused when
 * malformed, and the output read back by the project's wg(8) parser (agent/wgctl/wgconf.c)
 * once the wg-quick-only lines are stripped. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "clientconf.h"
#include "wgconf.h"
#include "wgkey.h"

#define PRIV "YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOdpg="
#define PUB "9FE4HEPnm68zAQMT3yctZDG6SU77xgtwngIj2F1vDh0="
#define PSK "f60dl9sgir36+60706D34u43zCq6PfPBZ4+Ye5kHdYw="

static const char *const addrs[] = {"10.8.0.10/32", "fd00:8::a/128"};
static const char *const dns[] = {"1.1.1.1", "2606:4700:4700::1111"};
static const char *const allowed[] = {"0.0.0.0/0", "::/0"};

static struct clientconf full(void)
{
	return (struct clientconf){
	    .private_key = PRIV,
	    .addresses = addrs,
	    .n_addresses = 2,
	    .dns = dns,
	    .n_dns = 2,
	    .server_public_key = PUB,
	    .preshared_key = PSK,
	    .endpoint = "vpn.example.com:51820",
	    .allowed_ips = allowed,
	    .n_allowed_ips = 2,
	    .persistent_keepalive = 25,
	};
}

static void expect_text(const struct clientconf *c, const char *want)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(clientconf_format(c, &text, &len), 0);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	assert_null(clientconf_text_free(text, len));
}

static void test_exact(void **state)
{
	struct clientconf c = full();

	(void)state;
	expect_text(&c, "[Interface]\n"
			"PrivateKey = " PRIV "\n"
			"Address = 10.8.0.10/32, fd00:8::a/128\n"
			"DNS = 1.1.1.1, 2606:4700:4700::1111\n"
			"\n"
			"[Peer]\n"
			"PublicKey = " PUB "\n"
			"PresharedKey = " PSK "\n"
			"Endpoint = vpn.example.com:51820\n"
			"AllowedIPs = 0.0.0.0/0, ::/0\n"
			"PersistentKeepalive = 25\n");

	/* The optional lines left out. */
	static const char *const one[] = {"10.8.0.10/32"};
	c.addresses = one;
	c.n_addresses = 1;
	c.dns = NULL;
	c.n_dns = 0;
	c.preshared_key = NULL;
	c.persistent_keepalive = 0;
	c.allowed_ips = one;
	c.n_allowed_ips = 1;
	c.endpoint = "[2001:db8::1]:443";
	expect_text(&c, "[Interface]\n"
			"PrivateKey = " PRIV "\n"
			"Address = 10.8.0.10/32\n"
			"\n"
			"[Peer]\n"
			"PublicKey = " PUB "\n"
			"Endpoint = [2001:db8::1]:443\n"
			"AllowedIPs = 10.8.0.10/32\n");

	/* Addresses in canonical form; DNS search domains; the largest keepalive. */
	static const char *const loose[] = {"10.8.0.10", "FD00:8:0::A/128", "192.168.1.0/24"};
	static const char *const search[] = {"10.8.0.1", "corp.example"};
	c = full();
	c.addresses = loose;
	c.n_addresses = 3;
	c.dns = search;
	c.n_dns = 2;
	c.allowed_ips = loose + 2;
	c.n_allowed_ips = 1;
	c.endpoint = "203.0.113.7:65535";
	c.persistent_keepalive = 65535;
	expect_text(&c, "[Interface]\n"
			"PrivateKey = " PRIV "\n"
			"Address = 10.8.0.10/32, fd00:8::a/128, 192.168.1.0/24\n"
			"DNS = 10.8.0.1, corp.example\n"
			"\n"
			"[Peer]\n"
			"PublicKey = " PUB "\n"
			"PresharedKey = " PSK "\n"
			"Endpoint = 203.0.113.7:65535\n"
			"AllowedIPs = 192.168.1.0/24\n"
			"PersistentKeepalive = 65535\n");
}

/* c must be refused and produce nothing. */
static void expect_invalid(const struct clientconf *c, const char *what)
{
	char *text = (char *)"sentinel";
	size_t len = 99;

	if (clientconf_format(c, &text, &len) != -EINVAL)
		fail_msg("accepted: %s", what);
	assert_string_equal(text, "sentinel");
	assert_int_equal(len, 99);
}

static void test_keys(void **state)
{
	static const char *const bad[] = {
	    "",
	    "YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOdpg",   /* 43 */
	    "YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOdpg==", /* 45 */
	    "YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOdph=",  /* non-canonical */
	    "YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOdp\n=",
	    "YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOdpg=\n",
	    " YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOdpg=",
	    "YslKOzCnbhCMW3FDit-b46wjY3D8x1jj23ElyyhOdpg=", /* base64url */
	    "YslKOzCnbhCMW3FDit+b46wjY3D8x1jj23ElyyhOd\x01g=",
	};
	struct clientconf c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = full();
		c.private_key = bad[i];
		expect_invalid(&c, bad[i]);
		c = full();
		c.server_public_key = bad[i];
		expect_invalid(&c, bad[i]);
		c = full();
		c.preshared_key = bad[i];
		expect_invalid(&c, bad[i]);
	}
	c = full();
	c.private_key = NULL;
	expect_invalid(&c, "no private key");
	c = full();
	c.server_public_key = NULL;
	expect_invalid(&c, "no public key");
}

static void test_lists(void **state)
{
	static const char *const bad_cidr[] = {
	    "",
	    "10.8.0.10/33",
	    "fd00::1/129",
	    "10.8.0.256/32",
	    "10.8.0.10/",
	    "10.8.0.10/-1",
	    "10.8.0.10/+8",
	    "10.8.0.10 /32",
	    " 10.8.0.10/32",
	    "10.8.0.10/32 ",
	    "10.8.0.10/32\nDNS = 6.6.6.6",
	    "10.8.0.10/32,10.8.0.11/32",
	    "010.8.0.10/32",
	    "10.8.0/24",
	    "vpn.example.com",
	    "10.8.0.10/0032",
	};
	static const char *const bad_dns[] = {
	    "",
	    "1.1.1.1, 8.8.8.8",
	    "1.1.1.1\nPostUp = touch /tmp/owned",
	    "1.1.1",
	    "1.1.1.256",
	    "-corp.example",
	    "corp-.example",
	    "corp.example-",
	    "corp..example",
	    ".corp.example",
	    "corp.example.",
	    "corp_example",
	    "corp example",
	    "fd00::1/128",
	    "1.1.1.1/32",
	};
	const char *one[1];
	struct clientconf c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cidr) / sizeof(bad_cidr[0]); i++) {
		one[0] = bad_cidr[i];
		c = full();
		c.addresses = one;
		c.n_addresses = 1;
		expect_invalid(&c, bad_cidr[i]);
		c = full();
		c.allowed_ips = one;
		c.n_allowed_ips = 1;
		expect_invalid(&c, bad_cidr[i]);
	}
	for (size_t i = 0; i < sizeof(bad_dns) / sizeof(bad_dns[0]); i++) {
		one[0] = bad_dns[i];
		c = full();
		c.dns = one;
		c.n_dns = 1;
		expect_invalid(&c, bad_dns[i]);
	}
	/* A bad entry after good ones. */
	static const char *const mixed[] = {"10.8.0.10/32", "10.8.0.11/32", NULL};
	c = full();
	c.addresses = mixed;
	c.n_addresses = 3;
	expect_invalid(&c, "NULL entry");
	/* Empty or missing lists where one is needed. */
	c = full();
	c.n_addresses = 0;
	expect_invalid(&c, "no address");
	c = full();
	c.n_allowed_ips = 0;
	expect_invalid(&c, "no allowed IP");
	c = full();
	c.addresses = NULL;
	expect_invalid(&c, "NULL addresses");
	c = full();
	c.dns = NULL;
	expect_invalid(&c, "NULL dns with n_dns 2");
	/* A 63-character label is fine, 64 is not; a 253-character name is fine, 254 not. */
	char name[300];
	memset(name, 'a', 63);
	strcpy(name + 63, ".example");
	one[0] = name;
	c = full();
	c.dns = one;
	c.n_dns = 1;
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(clientconf_format(&c, &text, &len), 0);
	clientconf_text_free(text, len);
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	expect_invalid(&c, "64-character label");
	for (int i = 0; i < 127; i++)
		memcpy(name + 2 * i, "a.", 2);
	name[253] = '\0'; /* "a.a. ... a" of 253 characters */
	assert_int_equal(clientconf_format(&c, &text, &len), 0);
	clientconf_text_free(text, len);
	memcpy(name + 253, "a", 2);
	expect_invalid(&c, "254-character name");
}

static void test_endpoint_keepalive(void **state)
{
	static const char *const good[] = {
	    "vpn.example.com:51820", "a:1", "1.2.3.4:51820", "[2001:db8::1]:51820",
	    "[::ffff:1.2.3.4]:1", "xn--bcher-kva.example:65535", "node-1.vpn:443",
	};
	static const char *const bad[] = {
	    "",
	    "vpn.example.com",
	    "vpn.example.com:",
	    ":51820",
	    "vpn.example.com:0",
	    "vpn.example.com:65536",
	    "vpn.example.com:051820",
	    "vpn.example.com:0443",
	    "vpn.example-:51820",
	    "fd00::1:51820",
	    "vpn::51820",
	    "vpn.example.com:+1",
	    "vpn.example.com:1x",
	    "vpn.example.com:51820 ",
	    "vpn.example.com:51820\n[Peer]",
	    "vpn.example.com :51820",
	    "2001:db8::1:51820",
	    "[2001:db8::1]51820",
	    "[2001:db8::1]:",
	    "[]:51820",
	    "[1.2.3.4]:51820",
	    "[fe80::1%eth0]:51820",
	    "[2001:db8::1:51820",
	    "1.2.3:51820",
	    "1.2.3.256:51820",
	    "-vpn.example.com:51820",
	    "vpn-.example.com:51820",
	    "vpn..example.com:51820",
	    "vpn.example.com.:51820",
	    "vpn_1.example.com:51820",
	    "vpn.example.com:51820:1",
	    "vpn.exam\tple.com:51820",
	};
	struct clientconf c = full();
	char *text = NULL;
	size_t len = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		c.endpoint = good[i];
		if (clientconf_format(&c, &text, &len) != 0)
			fail_msg("refused: %s", good[i]);
		clientconf_text_free(text, len);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.endpoint = bad[i];
		expect_invalid(&c, bad[i]);
	}
	c.endpoint = NULL;
	expect_invalid(&c, "no endpoint");
	c = full();
	c.persistent_keepalive = 65536;
	expect_invalid(&c, "keepalive 65536");
	assert_int_equal(clientconf_format(NULL, &text, &len), -EINVAL);
	assert_int_equal(clientconf_format(&c, NULL, &len), -EINVAL);
	assert_null(clientconf_text_free(NULL, 5));
}

static int resolve(const char *host, const char *port, union wg_endpoint *ret, void *userdata)
{
	(void)userdata;
	if (strcmp(host, "vpn.example.com") != 0 || strcmp(port, "51820") != 0)
		return -ENOENT;
	memset(ret, 0, sizeof(*ret));
	ret->addr4.sin_family = AF_INET;
	ret->addr4.sin_port = htons(51820);
	inet_pton(AF_INET, "203.0.113.7", &ret->addr4.sin_addr);
	return 0;
}

/* Drop the lines wg-quick(8) handles itself, as `wg-quick strip` does. */
static char *strip(const char *text)
{
	char *out = malloc(strlen(text) + 1), *o = out;

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
	return out;
}

static void test_wg_parses(void **state)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN], psk[WG_KEY_LEN], got[WG_KEY_LEN];
	char priv_b64[WG_KEY_B64_LEN], pub_b64[WG_KEY_B64_LEN], psk_b64[WG_KEY_B64_LEN];
	struct wg_device *dev = NULL;
	struct wgconf_error err = {0};
	struct clientconf c = full();
	char *text = NULL, *stripped;
	size_t len = 0;

	(void)state;
	/* Fresh keys, as the controller makes them. */
	assert_int_equal(wg_key_generate_private(priv), 0);
	assert_int_equal(wg_key_generate_private(got), 0);
	assert_int_equal(wg_key_public_from_private(got, pub), 0);
	assert_int_equal(wg_key_generate_preshared(psk), 0);
	wg_key_to_base64(priv_b64, priv);
	wg_key_to_base64(pub_b64, pub);
	wg_key_to_base64(psk_b64, psk);
	c.private_key = priv_b64;
	c.server_public_key = pub_b64;
	c.preshared_key = psk_b64;
	assert_int_equal(clientconf_format(&c, &text, &len), 0);

	/* As it stands, wg setconf refuses it (Address is wg-quick's)... */
	assert_int_equal(wgconf_parse(text, len, "wg0", resolve, NULL, &dev, &err), -EINVAL);
	assert_null(dev);
	assert_non_null(strstr(err.message, "Address"));

	/* ...and stripped, it is what the fields say. */
	stripped = strip(text);
	assert_null(strstr(stripped, "Address"));
	assert_null(strstr(stripped, "DNS"));
	if (wgconf_parse(stripped, strlen(stripped), "wg0", resolve, NULL, &dev, &err) != 0)
		fail_msg("line %u: %s", err.line, err.message);
	assert_memory_equal(dev->private_key, priv, WG_KEY_LEN);
	assert_int_equal(dev->n_peers, 1);
	struct wg_peer *p = &dev->peers[0];
	assert_memory_equal(p->public_key, pub, WG_KEY_LEN);
	assert_true(p->flags & WG_PEER_HAS_PRESHARED_KEY);
	assert_memory_equal(p->preshared_key, psk, WG_KEY_LEN);
	assert_true(p->flags & WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(p->persistent_keepalive, 25);
	assert_true(p->flags & WG_PEER_HAS_ENDPOINT);
	char ep[WG_ENDPOINT_STRLEN];
	wg_endpoint_format(&p->endpoint, ep);
	assert_string_equal(ep, "203.0.113.7:51820");
	assert_int_equal(p->n_ips, 2);
	char ip[WG_ALLOWEDIP_STRLEN];
	wg_allowedip_format(&p->ips[0], ip);
	assert_string_equal(ip, "0.0.0.0/0");
	wg_allowedip_format(&p->ips[1], ip);
	assert_string_equal(ip, "::/0");

	wg_device_free(dev);
	free(stripped);
	clientconf_text_free(text, len);
	wg_key_wipe(priv, sizeof(priv));
	wg_key_wipe(got, sizeof(got));
	wg_key_wipe(psk, sizeof(psk));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact),
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_lists),
	    cmocka_unit_test(test_endpoint_keepalive),
	    cmocka_unit_test(test_wg_parses),
	};

	if (wg_key_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
