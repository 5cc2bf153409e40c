// SPDX-License-Identifier: MIT
/*
 * wgconf_parse against the behaviour of `wg setconf` (wireguard-tools 1.0.20210914 on a
 * wireguard-go device): every accept/reject case below was first tried on the real tool.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "wgconf.h"

#define PRIV "uCx/J4o6XGx8W3lcNnVGpVhvKuBFt0AnMDSQjEwP0Hc="
#define PUB_A "XpY8lRnKLJmjcQ0BgyOnY4GxdXaVvu3RyKSr2+E3H0I="
#define PUB_B "9F4AY9zTL8xz1wz2K6zyH7L6jcqh7Qb9yVYcTnGFLUg="
#define PSK "tHpUq0qP6lp0Whh6wEG0+VjT3vSdPLbw33Ux9Jm0V5w="

static struct wg_device *parse_ok(const char *text)
{
	struct wg_device *dev = NULL;
	struct wgconf_error err = {};
	int r = wgconf_parse(text, strlen(text), "wg0", NULL, NULL, &dev, &err);

	if (r < 0)
		fail_msg("unexpected error %d at line %u: %s\n--- input:\n%s", r, err.line,
			 err.message, text);
	assert_non_null(dev);
	return dev;
}

/* Expect a rejection at line, with want in the message; nothing may be returned. */
static void parse_bad(const char *text, unsigned line, const char *want)
{
	struct wg_device *sentinel = (struct wg_device *)&line, *dev = sentinel;
	struct wgconf_error err = {};
	int r = wgconf_parse(text, strlen(text), "wg0", NULL, NULL, &dev, &err);

	if (r >= 0 || err.line != line || !strstr(err.message, want))
		fail_msg("want error at line %u containing \"%s\", got r=%d line %u \"%s\"\n"
			 "--- input:\n%s",
			 line, want, r, err.line, err.message, text);
	assert_int_equal(r, -EINVAL);
	assert_ptr_equal(dev, sentinel);
}

static void key(const char *b64, uint8_t out[static WG_KEY_LEN])
{
	assert_int_equal(wg_key_from_base64(b64, out), 0);
}

static void assert_ip(const struct wg_allowedip *ip, const char *want)
{
	char buf[WG_ALLOWEDIP_STRLEN];

	wg_allowedip_format(ip, buf);
	assert_string_equal(buf, want);
}

static void assert_endpoint(const union wg_endpoint *ep, const char *want)
{
	char buf[WG_ENDPOINT_STRLEN];

	wg_endpoint_format(ep, buf);
	assert_string_equal(buf, want);
}

static void test_full(void **state)
{
	const char *text = "# a full wg(8) config\n"
			   "[Interface]\r\n"
			   "PrivateKey = " PRIV "   # trailing comment\n"
			   "  listenport=51820\n"
			   "Fw Mark = 0x1234\n"
			   "\n"
			   "[ peer ]\n"
			   "PublicKey\t=\t" PUB_A "\n"
			   "PRESHAREDKEY = " PSK "\n"
			   "Endpoint = 192.0.2.1 : 51820\n"
			   "AllowedIPs = 10.0.0.2/32, 10.10.0.0/16\n"
			   "AllowedIPs = fd00::2/128\n"
			   "Persistent Keepalive = 25\n"
			   "[PEER]\n"
			   "AllowedIPs = 0.0.0.0/0,::/0\n"
			   "Endpoint = [2001:db8::1]:65535\n"
			   "PublicKey = " PUB_B "\n"
			   "PersistentKeepalive = off";
	struct wg_device *dev = parse_ok(text);
	uint8_t k[WG_KEY_LEN];
	struct wg_peer *a, *b;

	assert_string_equal(dev->name, "wg0");
	assert_int_equal(dev->flags, WG_DEVICE_REPLACE_PEERS | WG_DEVICE_HAS_PRIVATE_KEY |
					 WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK);
	key(PRIV, k);
	assert_memory_equal(dev->private_key, k, WG_KEY_LEN);
	assert_int_equal(dev->listen_port, 51820);
	assert_int_equal(dev->fwmark, 0x1234);
	assert_int_equal(dev->n_peers, 2);

	a = &dev->peers[0];
	key(PUB_A, k);
	assert_memory_equal(a->public_key, k, WG_KEY_LEN);
	assert_int_equal(a->flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS |
				       WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT |
				       WG_PEER_HAS_KEEPALIVE);
	key(PSK, k);
	assert_memory_equal(a->preshared_key, k, WG_KEY_LEN);
	assert_endpoint(&a->endpoint, "192.0.2.1:51820");
	assert_int_equal(a->persistent_keepalive, 25);
	assert_int_equal(a->n_ips, 3);
	assert_ip(&a->ips[0], "10.0.0.2/32");
	assert_ip(&a->ips[1], "10.10.0.0/16");
	assert_ip(&a->ips[2], "fd00::2/128");

	b = &dev->peers[1];
	key(PUB_B, k);
	assert_memory_equal(b->public_key, k, WG_KEY_LEN);
	assert_int_equal(b->flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS |
				       WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE);
	assert_endpoint(&b->endpoint, "[2001:db8::1]:65535");
	assert_int_equal(b->persistent_keepalive, 0);
	assert_int_equal(b->n_ips, 2);
	assert_ip(&b->ips[0], "0.0.0.0/0");
	assert_ip(&b->ips[1], "::/0");
	wg_device_free(dev);
}

#define DEVICE_RESET                                                                       \
	(WG_DEVICE_REPLACE_PEERS | WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT |       \
	 WG_DEVICE_HAS_FWMARK)

static void test_minimal_and_empty(void **state)
{
	struct wg_device *dev = parse_ok("");

	/*
	 * setconf of an empty file: drop every peer and reset the device (no key, a random
	 * port, no fwmark), as wg(8) does: it sends all three as zeros (seen with strace).
	 */
	assert_int_equal(dev->flags, DEVICE_RESET);
	assert_true(wg_key_is_zero(dev->private_key));
	assert_int_equal(dev->listen_port, 0);
	assert_int_equal(dev->fwmark, 0);
	assert_int_equal(dev->n_peers, 0);
	wg_device_free(dev);

	dev = parse_ok("\n\n   # only comments\n\t\n");
	assert_int_equal(dev->flags, DEVICE_RESET);
	wg_device_free(dev);

	dev = parse_ok("[Interface]\n[Interface]\n[Peer]\nPublicKey=" PUB_A "\n");
	assert_int_equal(dev->flags, DEVICE_RESET);
	assert_int_equal(dev->n_peers, 1);
	assert_int_equal(dev->peers[0].flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS);
	assert_int_equal(dev->peers[0].n_ips, 0);
	assert_int_equal(dev->peers[0].endpoint.addr.sa_family, AF_UNSPEC);
	wg_device_free(dev);

	/* A NULL text of length 0 is an empty file. */
	struct wg_device *d2 = NULL;
	assert_int_equal(wgconf_parse(NULL, 0, "wg0", NULL, NULL, &d2, NULL), 0);
	wg_device_free(d2);
}

static void test_text_with_len_and_nul(void **state)
{
	/* wg reads C strings per line: what follows a NUL byte on a line is ignored. */
	static const char text[] = "[Interface]\nPrivateKey=" PRIV "\0garbage\nListenPort=7";
	struct wg_device *dev = NULL;

	assert_int_equal(wgconf_parse(text, sizeof(text) - 1, "wg0", NULL, NULL, &dev, NULL), 0);
	assert_int_equal(dev->flags & WG_DEVICE_HAS_PRIVATE_KEY, WG_DEVICE_HAS_PRIVATE_KEY);
	assert_int_equal(dev->listen_port, 7);
	wg_device_free(dev);

	/* len is honoured: the text need not be NUL-terminated. */
	dev = NULL;
	assert_int_equal(
	    wgconf_parse("[Interface]\nListenPort=12345", 26, "wg0", NULL, NULL, &dev, NULL), 0);
	assert_int_equal(dev->listen_port, 123);
	wg_device_free(dev);
}

static void test_values(void **state)
{
	static const struct {
		const char *text;
		uint32_t fwmark;
	} marks[] = {
		{"off", 0},
		{"OFF", 0},
		{"0", 0},
		{"0x10", 16},
		{"010", 10},
		{"0xffffffff", 0xffffffff},
		{"4294967295", 0xffffffff},
		{"0xABCdef", 0xabcdef},
		{"1 2 3", 123},
	};
	static const struct {
		const char *text;
		uint16_t port;
	} ports[] = {{"0", 0}, {"51820", 51820}, {"65535", 65535}, {"+5", 5}, {"00051821", 51821}};
	static const struct {
		const char *text;
		uint16_t ka;
	} kas[] = {{"off", 0}, {"Off", 0}, {"0", 0}, {"25", 25}, {"65535", 65535}};
	char text[256];

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		snprintf(text, sizeof(text), "[Interface]\nFwMark = %s\n", marks[i].text);
		struct wg_device *dev = parse_ok(text);
		assert_true(dev->flags & WG_DEVICE_HAS_FWMARK);
		assert_int_equal(dev->fwmark, marks[i].fwmark);
		wg_device_free(dev);
	}
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		snprintf(text, sizeof(text), "[Interface]\nListenPort = %s\n", ports[i].text);
		struct wg_device *dev = parse_ok(text);
		assert_true(dev->flags & WG_DEVICE_HAS_LISTEN_PORT);
		assert_int_equal(dev->listen_port, ports[i].port);
		wg_device_free(dev);
	}
	for (size_t i = 0; i < sizeof(kas) / sizeof(kas[0]); i++) {
		snprintf(text, sizeof(text),
			 "[Peer]\nPublicKey=" PUB_A "\nPersistentKeepalive=%s\n", kas[i].text);
		struct wg_device *dev = parse_ok(text);
		assert_true(dev->peers[0].flags & WG_PEER_HAS_KEEPALIVE);
		assert_int_equal(dev->peers[0].persistent_keepalive, kas[i].ka);
		wg_device_free(dev);
	}
}

static void test_allowedips(void **state)
{
	struct wg_device *dev = parse_ok("[Peer]\nPublicKey=" PUB_A "\n"
					 "AllowedIPs = 10.0.0.1/24, 10.0.0.1\n"
					 "AllowedIPs = 10.0.0.0/0000000000032,fd00::1/64\n"
					 "AllowedIPs = 192.168.1.1/032\n");
	struct wg_peer *p = &dev->peers[0];

	/* Host bits and duplicates are kept as written (the device masks and dedups). */
	assert_int_equal(p->n_ips, 5);
	assert_ip(&p->ips[0], "10.0.0.1/24");
	assert_ip(&p->ips[1], "10.0.0.1/32");
	assert_ip(&p->ips[2], "10.0.0.0/32");
	assert_ip(&p->ips[3], "fd00::1/64");
	assert_ip(&p->ips[4], "192.168.1.1/32");
	wg_device_free(dev);
}

static void test_endpoints(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"1.2.3.4:51820", "1.2.3.4:51820"},
		{"[fd00::1]:51820", "[fd00::1]:51820"},
		{"fd00::1:51820", "[fd00::1]:51820"}, /* wg splits at the last ':' */
		{"[::ffff:1.2.3.4]:5", "[::ffff:1.2.3.4]:5"},
		{"10.1:5", "10.0.0.1:5"}, /* inet_aton forms, as getaddrinfo */
		{"0x01020304:5", "1.2.3.4:5"},
		{"[1.2.3.4]:5", "1.2.3.4:5"},
		{"1.2.3.4:+7", "1.2.3.4:7"},
		{"1.2.3.4:0", "1.2.3.4:0"},
	};
	char text[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[Peer]\nPublicKey=" PUB_A "\nEndpoint=%s\n",
			 cases[i].in);
		struct wg_device *dev = parse_ok(text);
		assert_true(dev->peers[0].flags & WG_PEER_HAS_ENDPOINT);
		assert_endpoint(&dev->peers[0].endpoint, cases[i].want);
		wg_device_free(dev);
	}

	struct wg_device *dev = parse_ok("[Peer]\nPublicKey=" PUB_A "\nEndpoint=[fe80::1%3]:5\n");
	assert_int_equal(dev->peers[0].endpoint.addr6.sin6_family, AF_INET6);
	assert_int_equal(dev->peers[0].endpoint.addr6.sin6_scope_id, 3);
	assert_int_equal(ntohs(dev->peers[0].endpoint.addr6.sin6_port), 5);
	wg_device_free(dev);
}

struct resolve_log {
	char host[64], port[16];
	int calls;
	int result;
	sa_family_t family;
};

static int fake_resolve(const char *host, const char *port, union wg_endpoint *ret, void *userdata)
{
	struct resolve_log *log = userdata;

	log->calls++;
	snprintf(log->host, sizeof(log->host), "%s", host);
	snprintf(log->port, sizeof(log->port), "%s", port);
	if (log->result < 0)
		return log->result;
	memset(ret, 0, sizeof(*ret));
	ret->addr4.sin_family = log->family;
	ret->addr4.sin_port = htons(4242);
	inet_pton(AF_INET, "198.51.100.7", &ret->addr4.sin_addr);
	return 0;
}

static void test_resolver(void **state)
{
	const char *text = "[Peer]\nPublicKey=" PUB_A "\nEndpoint = vpn.example.com:51820\n";
	struct resolve_log log = {.family = AF_INET};
	struct wg_device *dev = NULL;
	struct wgconf_error err = {};

	assert_int_equal(wgconf_parse(text, strlen(text), "wg0", fake_resolve, &log, &dev, &err),
			 0);
	assert_int_equal(log.calls, 1);
	assert_string_equal(log.host, "vpn.example.com");
	assert_string_equal(log.port, "51820");
	assert_endpoint(&dev->peers[0].endpoint, "198.51.100.7:4242");
	dev = wg_device_free(dev);

	/* A numeric host with a service name, or a named scope, also needs the resolver. */
	text = "[Peer]\nPublicKey=" PUB_A "\nEndpoint = 1.2.3.4:domain\n";
	assert_int_equal(wgconf_parse(text, strlen(text), "wg0", fake_resolve, &log, &dev, &err),
			 0);
	assert_string_equal(log.host, "1.2.3.4");
	assert_string_equal(log.port, "domain");
	dev = wg_device_free(dev);
	text = "[Peer]\nPublicKey=" PUB_A "\nEndpoint = [fe80::1%eth0]:5\n";
	assert_int_equal(wgconf_parse(text, strlen(text), "wg0", fake_resolve, &log, &dev, &err),
			 0);
	assert_string_equal(log.host, "fe80::1%eth0");
	dev = wg_device_free(dev);

	/* Numeric endpoints never reach it. */
	log.calls = 0;
	text = "[Peer]\nPublicKey=" PUB_A "\nEndpoint = [fd00::1]:5\n";
	assert_int_equal(wgconf_parse(text, strlen(text), "wg0", fake_resolve, &log, &dev, &err),
			 0);
	assert_int_equal(log.calls, 0);
	dev = wg_device_free(dev);

	/* Its error comes back as it is, with the line; a non-IP answer is rejected. */
	text = "[Peer]\nPublicKey=" PUB_A "\n\nEndpoint = vpn.example.com:51820\n";
	log.result = -EAGAIN;
	assert_int_equal(wgconf_parse(text, strlen(text), "wg0", fake_resolve, &log, &dev, &err),
			 -EAGAIN);
	assert_null(dev);
	assert_int_equal(err.line, 4);
	assert_non_null(strstr(err.message, "Endpoint: vpn.example.com:51820: cannot resolve"));
	log.result = 0;
	log.family = AF_UNIX;
	assert_int_equal(wgconf_parse(text, strlen(text), "wg0", fake_resolve, &log, &dev, &err),
			 -EINVAL);
	assert_null(dev);

	/* Without a resolver a host name is an error. */
	parse_bad(text, 4, "Endpoint: vpn.example.com:51820: not numeric and no resolver");
}

static void test_duplicate_peers(void **state)
{
	/*
	 * On wireguard-go, a second section for the same key replaced the allowed IPs and kept
	 * the psk, endpoint and keepalive that only the first section set.
	 */
	struct wg_device *dev = parse_ok("[Peer]\nPublicKey=" PUB_A "\n"
					 "AllowedIPs=10.0.0.1/24,fd00::1/64\n"
					 "PersistentKeepalive=25\nPresharedKey=" PSK "\n"
					 "Endpoint=1.1.1.1:1\n"
					 "[Peer]\nPublicKey=" PUB_B "\nAllowedIPs=10.2.0.0/16\n"
					 "[Peer]\nPublicKey=" PUB_A "\nEndpoint=1.2.3.4:5\n"
					 "AllowedIPs=10.9.9.9\n");
	uint8_t k[WG_KEY_LEN];

	assert_int_equal(dev->n_peers, 2);
	key(PUB_B, k);
	assert_memory_equal(dev->peers[0].public_key, k, WG_KEY_LEN);
	assert_int_equal(dev->peers[0].n_ips, 1);
	key(PUB_A, k);
	assert_memory_equal(dev->peers[1].public_key, k, WG_KEY_LEN);
	assert_int_equal(dev->peers[1].flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS |
						  WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE |
						  WG_PEER_HAS_PRESHARED_KEY);
	assert_endpoint(&dev->peers[1].endpoint, "1.2.3.4:5");
	assert_int_equal(dev->peers[1].persistent_keepalive, 25);
	key(PSK, k);
	assert_memory_equal(dev->peers[1].preshared_key, k, WG_KEY_LEN);
	assert_int_equal(dev->peers[1].n_ips, 1);
	assert_ip(&dev->peers[1].ips[0], "10.9.9.9/32");
	wg_device_free(dev);

	/* A later section with no AllowedIPs leaves the peer with none, as on the device. */
	dev = parse_ok("[Peer]\nPublicKey=" PUB_A "\nAllowedIPs=10.0.0.1\n"
		       "[Peer]\nPublicKey=" PUB_A "\n");
	assert_int_equal(dev->n_peers, 1);
	assert_int_equal(dev->peers[0].n_ips, 0);
	wg_device_free(dev);

	/* PublicKey twice in one section: the last one names the peer. */
	dev = parse_ok("[Peer]\nPublicKey=" PUB_A "\nPublicKey=" PUB_B "\n");
	key(PUB_B, k);
	assert_int_equal(dev->n_peers, 1);
	assert_memory_equal(dev->peers[0].public_key, k, WG_KEY_LEN);
	wg_device_free(dev);
}

/*
 * Many sections, every third key named again later and every ninth a third time (with
 * keys that share their first bytes, so the fold's table probes): each key ends up once,
 * where its last section stood, with the fields of the last section that set them.
 */
static void test_duplicate_peers_many(void **state)
{
	enum { N = 300 };
	size_t cap = 64 * 3 * N + 64, len = 0;
	char *text = malloc(cap), b64[WG_KEY_B64_LEN];
	uint8_t k[N][WG_KEY_LEN];
	struct wg_device *dev;
	size_t want_n = N;

	(void)state;
	assert_non_null(text);
	for (size_t i = 0; i < N; i++) {
		memset(k[i], 0x5a, WG_KEY_LEN);
		k[i][WG_KEY_LEN - 1] = (uint8_t)i;
		k[i][WG_KEY_LEN - 2] = (uint8_t)(i >> 8);
		wg_key_to_base64(b64, k[i]);
		len += (size_t)snprintf(text + len, cap - len,
					"[Peer]\nPublicKey=%s\nPersistentKeepalive=%zu\n", b64, i + 1);
	}
	for (size_t i = 0; i < N; i += 3) {
		wg_key_to_base64(b64, k[i]);
		len += (size_t)snprintf(text + len, cap - len, "[peer]\nPublicKey=%s\n%s", b64,
					i % 9 ? "" : "PersistentKeepalive=7\n");
	}
	for (size_t i = 0; i < N; i += 9) {
		wg_key_to_base64(b64, k[i]);
		len += (size_t)snprintf(text + len, cap - len, "[Peer]\nPublicKey=%s\n", b64);
	}
	dev = parse_ok(text);
	assert_int_equal(dev->n_peers, want_n);
	/* First the keys named once, in file order; then the others, by their last section. */
	size_t at = 0;
	for (size_t i = 0; i < N; i++)
		if (i % 3) {
			assert_memory_equal(dev->peers[at].public_key, k[i], WG_KEY_LEN);
			assert_int_equal(dev->peers[at++].persistent_keepalive, i + 1);
		}
	for (size_t i = 0; i < N; i += 3)
		if (i % 9) {
			assert_memory_equal(dev->peers[at].public_key, k[i], WG_KEY_LEN);
			assert_int_equal(dev->peers[at++].persistent_keepalive, i + 1);
		}
	for (size_t i = 0; i < N; i += 9) {
		assert_memory_equal(dev->peers[at].public_key, k[i], WG_KEY_LEN);
		assert_int_equal(dev->peers[at++].persistent_keepalive, 7);
	}
	assert_int_equal(at, want_n);
	wg_device_free(dev);
	free(text);
}

static void test_rejections(void **state)
{
	/* Each of these made `wg setconf` fail (or is a deliberate, documented difference). */
	parse_bad("ListenPort=51820\n", 1, "ListenPort: key before any [Interface] or [Peer]");
	parse_bad("[Interface]\nFoo=1\n", 2, "Foo: unknown key");
	parse_bad("[Interface]\nAddress = 10.0.0.1/24\n", 2, "Address: a wg-quick(8) key");
	parse_bad("[Interface]\nDNS = 1.1.1.1\n", 2, "DNS: a wg-quick(8) key");
	parse_bad("[Interface]\nMTU = 1420\n", 2, "MTU: a wg-quick(8) key");
	parse_bad("[Interface]\nPostUp = iptables -A FORWARD\n", 2, "PostUp: a wg-quick(8) key");
	parse_bad("[Interface]\nTable = off\n", 2, "Table: a wg-quick(8) key");
	parse_bad("[Interface]\nSaveConfig = true\n", 2, "SaveConfig: a wg-quick(8) key");
	parse_bad("[Interface]\nPublicKey=" PUB_A "\n", 2,
		  "PublicKey: not allowed in the [Interface]");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nListenPort=1\n", 3,
		  "ListenPort: not allowed in a [Peer]");
	parse_bad("[Foo]\n", 1, "unknown section [Foo]");
	parse_bad("[Peer]x\n", 1, "unknown section header");
	parse_bad("[Interface]\nPrivateKey\n", 2, "not a \"Key = Value\" line");
	parse_bad("[Interface]\nListenPort=\n", 2, "ListenPort: empty value");
	parse_bad("[Interface]\nListenPort = # none\n", 2, "ListenPort: empty value");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nAllowedIPs =\n", 3, "AllowedIPs: empty value");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nPresharedKey=\n", 3, "PresharedKey: empty value");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nPersistentKeepalive=\n", 3,
		  "PersistentKeepalive: empty value");

	/* Keys. */
	parse_bad("[Peer]\nPublicKey=XpY8lRnKLJmjcQ0BgyOnY4GxdXaVvu3RyKSr2+E3H0I\n", 2,
		  "PublicKey: not a key");
	parse_bad("[Interface]\nPrivateKey==" PRIV "\n", 2, "PrivateKey: not a key");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nPresharedKey=" PUB_A "A\n", 3,
		  "PresharedKey: not a key");
	/* Non-canonical: the last character's padding bits are set. */
	parse_bad("[Peer]\nPublicKey=XpY8lRnKLJmjcQ0BgyOnY4GxdXaVvu3RyKSr2+E3H0J=\n", 2,
		  "PublicKey: not a key");

	/* Peers without a key: reported at their [Peer] line. */
	parse_bad("[Peer]\n", 1, "[Peer] section has no PublicKey");
	parse_bad("[Peer]\nPublicKey=" PUB_A
		  "\n\n[Peer]\nAllowedIPs=10.0.0.1\n[Peer]\nPublicKey=" PUB_B "\n",
		  4, "[Peer] section has no PublicKey");
	parse_bad("[Peer]\nAllowedIPs=10.0.0.1\n[Interface]\n", 1,
		  "[Peer] section has no PublicKey");

	/* Allowed IPs. */
	const char *peer = "[Peer]\nPublicKey=" PUB_A "\n";
	char text[512];
#define BAD_IP(list, want)                                                                         \
	do {                                                                                       \
		snprintf(text, sizeof(text), "%sAllowedIPs = %s\n", peer, list);                   \
		parse_bad(text, 3, want);                                                          \
	} while (0)
	BAD_IP("10.0.0.0/33", "AllowedIPs: 10.0.0.0/33: mask out of range");
	BAD_IP("fd00::/129", "AllowedIPs: fd00::/129: mask out of range");
	BAD_IP("10.0.0.0/99999999999999999999999", "mask out of range");
	BAD_IP("10.0.0.1,", "AllowedIPs: empty entry");
	BAD_IP("10.0.0.1,,10.0.0.2", "AllowedIPs: empty entry");
	BAD_IP(",10.0.0.1", "AllowedIPs: empty entry");
	BAD_IP("10.0.0.1/", "AllowedIPs: 10.0.0.1/: bad mask");
	BAD_IP("10.0.0.1/+8", "bad mask");
	BAD_IP("10.0.0.1/8/8", "bad mask");
	BAD_IP("10.0.0.1/0x8", "bad mask");
	BAD_IP("10.1/8", "AllowedIPs: 10.1/8: not an IP address");
	BAD_IP("10.0.0.256", "not an IP address");
	BAD_IP("fd00:::1", "not an IP address");
	BAD_IP("host.example", "not an IP address");

	/* Numbers. */
	parse_bad("[Interface]\nListenPort=70000\n", 2, "ListenPort: 70000: port out of range");
	parse_bad("[Interface]\nListenPort=-1\n", 2, "ListenPort: not a port number");
	parse_bad("[Interface]\nListenPort=0x10\n", 2, "ListenPort: not a port number");
	parse_bad("[Interface]\nListenPort=domain\n", 2, "ListenPort: not a port number");
	parse_bad("[Interface]\nFwMark=0X10\n", 2, "FwMark: 0X10: neither");
	parse_bad("[Interface]\nFwMark=0x\n", 2, "FwMark: 0x: neither");
	parse_bad("[Interface]\nFwMark=4294967296\n", 2, "FwMark");
	parse_bad("[Interface]\nFwMark=0x100000000\n", 2, "FwMark");
	parse_bad("[Interface]\nFwMark=-1\n", 2, "FwMark");
	parse_bad("[Interface]\nFwMark=0x1g\n", 2, "FwMark");
	parse_bad("[Interface]\nFwMark=on\n", 2, "FwMark");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nPersistentKeepalive=65536\n", 3,
		  "PersistentKeepalive: 65536: neither");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nPersistentKeepalive=+5\n", 3,
		  "PersistentKeepalive");
	parse_bad("[Peer]\nPublicKey=" PUB_A "\nPersistentKeepalive=never\n", 3,
		  "PersistentKeepalive");

	/* Endpoints. */
#define BAD_EP(ep, want)                                                                           \
	do {                                                                                       \
		snprintf(text, sizeof(text), "%sEndpoint = %s\n", peer, ep);                       \
		parse_bad(text, 3, want);                                                          \
	} while (0)
	BAD_EP("1.2.3.4", "Endpoint: 1.2.3.4: no port");
	BAD_EP("1.2.3.4:", "no port");
	BAD_EP("[fd00::1]", "no port");
	BAD_EP("[fd00::1]x:5", "no port");
	BAD_EP("[fd00::1:5", "no matching ']'");
	BAD_EP(":51820", "Endpoint: empty host");
	BAD_EP("[]:51820", "Endpoint: empty host");
	BAD_EP("1.2.3.4:70000", "Endpoint: 70000: port out of range");
	BAD_EP("1.2.3.4:domain", "not numeric and no resolver");
	BAD_EP("[fe80::1%eth0]:5", "not numeric and no resolver");

	/* Errors are counted on the right line, blank and comment lines included. */
	parse_bad("# c\n\n[Interface]\n  # c\n\nListenPort = 1\nFwMark = x\n", 7, "FwMark");

	/* A bad interface name is refused up front. */
	struct wg_device *dev = NULL;
	struct wgconf_error err = {};
	assert_int_equal(wgconf_parse("", 0, "", NULL, NULL, &dev, &err), -EINVAL);
	assert_null(dev);
	assert_int_equal(wgconf_parse("", 0, "this-name-is-too-long", NULL, NULL, &dev, NULL),
			 -EINVAL);
	assert_null(dev);
}

static void test_no_secret_in_message(void **state)
{
	/* The private key with one character changed, a key as a key name, a bare key line. */
	static const char *const texts[] = {
		"[Interface]\nPrivateKey = uCx/J4o6XGx8W3lcNnVGpVhvKuBFt0AnMDSQjEwP0H!=\n",
		"[Interface]\nPrivateKey = uCx/J4o6XGx8W3lcNnVGpVhvKuBFt0AnMDSQjEwP0Hc\n",
		"[Interface]\n" PRIV "\n",
		"[Interface]\nuCx/J4o6XGx8W3lcNnVGpVhvKuBFt0AnMDSQjEwP0Hc=\n",
		"[Interface]\nuCxJoXGxWlcNnVGpVhvKuBFtAnMDSQjEwPHc=1\n",
		"[Peer]\nPublicKey=" PUB_A
		"\nPresharedKey=tHpUq0qP6lp0Whh6wEG0+VjT3vSdPLbw33Ux9Jm0V5w\n",
		"[Peer]\nPublicKey=" PUB_A "\nPrivateKey=" PRIV "\n",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct wg_device *dev = NULL;
		struct wgconf_error err = {};

		assert_int_equal(
		    wgconf_parse(texts[i], strlen(texts[i]), "wg0", NULL, NULL, &dev, &err),
		    -EINVAL);
		assert_null(dev);
		assert_true(err.message[0]);
		/* No run of 8 key characters may appear in the message. */
		assert_null(strstr(err.message, "uCx/J4o6"));
		assert_null(strstr(err.message, "AnMDSQjE"));
		assert_null(strstr(err.message, "uCxJoXGx"));
		assert_null(strstr(err.message, "tHpUq0qP"));
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_large(void **state)
{
	const size_t n = 50000;
	size_t cap = n * 160 + 256, len = 0;
	char *text = malloc(cap);
	struct wg_device *dev = NULL;
	uint8_t k[WG_KEY_LEN] = {0};
	char b64[WG_KEY_B64_LEN];
	double t;

	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len,
				"[Interface]\nPrivateKey = %s\nListenPort = 51820\n", PRIV);
	for (size_t i = 0; i < n; i++) {
		memcpy(k, &i, sizeof(i));
		k[31] = 0x5a;
		wg_key_to_base64(b64, k);
		len +=
		    (size_t)snprintf(text + len, cap - len,
				     "\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.%zu.%zu.%zu/32\n",
				     b64, (i >> 16) & 255, (i >> 8) & 255, i & 255);
	}
	t = now();
	assert_int_equal(wgconf_parse(text, len, "wg0", NULL, NULL, &dev, NULL), 0);
	t = now() - t;
	print_message("parsed %zu peers (%zu bytes) in %.1f ms\n", n, len, t * 1e3);
	assert_int_equal(dev->n_peers, n);
	memcpy(k, &(size_t){n - 1}, sizeof(size_t));
	assert_memory_equal(dev->peers[n - 1].public_key, k, WG_KEY_LEN);
	assert_int_equal(dev->peers[n - 1].n_ips, 1);
	wg_device_free(dev);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_minimal_and_empty),
		cmocka_unit_test(test_text_with_len_and_nul),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_allowedips),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_resolver),
		cmocka_unit_test(test_duplicate_peers),
		cmocka_unit_test(test_duplicate_peers_many),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_no_secret_in_message),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
