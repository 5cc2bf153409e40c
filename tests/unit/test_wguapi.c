// SPDX-License-Identifier: MIT
/*
 * wguapi: the SET formatter and GET parser against exact text and replies captured from
 * wireguard-go v0.0.20220316, and the socket layer against a scripted fake daemon in a
 * child process (a private WGFLEET_UAPI_DIR, no privileges needed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "wgfleet/macro.h"
#include "wguapi.h"

#define REP8(s) s s s s s s s s
#define HEX64(c) REP8(REP8(c))  /* a key of 32 bytes 0xcc, in hex, from "c" */
#define KEYHEX(b) REP8(b b b b) /* a key of 32 bytes 0xab, in hex, from "ab" */

/* RFC 7748 section 6.1: Alice's private key and its public key. */
#define ALICE_PRIV "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define ALICE_PUB "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"

/* Captured from wireguard-go (two namespaces, a veth pair, 5 pings through the tunnel). */
static const char reply_handshake[] =
    "private_key=d8c824b24d3696ea356a7262f6505971c577351cec6afcf4565d95fcbebc935f\n"
    "listen_port=51820\n"
    "fwmark=42\n"
    "public_key=07ceedce5cfa86422286f0fe60be9ac4e21da9e64bc7c2af9ad137092d4e7b66\n"
    "preshared_key=b83dd232d9362a32a50c98397a9d5df7014ea0303e12ed608a339b15d2d00ffa\n"
    "protocol_version=1\n"
    "endpoint=198.18.0.2:51821\n"
    "last_handshake_time_sec=1795576981\n"
    "last_handshake_time_nsec=958017127\n"
    "tx_bytes=968\n"
    "rx_bytes=732\n"
    "persistent_keepalive_interval=25\n"
    "allowed_ip=10.99.0.2/32\n"
    "allowed_ip=fd99::2/128\n"
    "errno=0\n"
    "\n";

/* The other end of that tunnel; its second peer never handshook. */
static const char reply_two_peers[] =
    "private_key=388479095a52cf037f4859c6edb708afa4279a9949d3f2ab16ab5d35d847537c\n"
    "listen_port=51821\n"
    "public_key=f11e73c308629b5ba308c6e557305113918d7c3dedf81cdf74b8ed67fefd2542\n"
    "preshared_key=b83dd232d9362a32a50c98397a9d5df7014ea0303e12ed608a339b15d2d00ffa\n"
    "protocol_version=1\n"
    "endpoint=198.18.0.1:51820\n"
    "last_handshake_time_sec=1795576981\n"
    "last_handshake_time_nsec=958187563\n"
    "tx_bytes=732\n"
    "rx_bytes=820\n"
    "persistent_keepalive_interval=0\n"
    "allowed_ip=10.99.0.1/32\n"
    "allowed_ip=fd99::1/128\n"
    "allowed_ip=0.0.0.0/0\n"
    "public_key=f9e47d568e26a8ed908d1a734a668fddc78ca0bd88663dec491569e100a64446\n"
    "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "protocol_version=1\n"
    "endpoint=[2001:db8::1]:443\n"
    "last_handshake_time_sec=0\n"
    "last_handshake_time_nsec=0\n"
    "tx_bytes=0\n"
    "rx_bytes=0\n"
    "persistent_keepalive_interval=0\n"
    "allowed_ip=10.99.0.77/32\n"
    "allowed_ip=fd99::77/128\n"
    "allowed_ip=fd99:1::/64\n"
    "errno=0\n"
    "\n";

/* A fresh wireguard-go device: no key, a random port, no fwmark line. */
static const char reply_fresh[] = "listen_port=60261\nerrno=0\n\n";

static void key_fill(uint8_t key[static WG_KEY_LEN], uint8_t byte)
{
	memset(key, byte, WG_KEY_LEN);
}

static void key_hex(uint8_t key[static WG_KEY_LEN], const char *hex)
{
	assert_int_equal(wg_key_from_hex(hex, key), 0);
}

static struct wg_allowedip aip(const char *s)
{
	struct wg_allowedip ip;

	assert_int_equal(wg_allowedip_parse(s, &ip), 0);
	return ip;
}

static void add_ip(struct wg_peer *p, const char *s)
{
	struct wg_allowedip ip = aip(s);

	assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
}

static struct wg_peer *add_peer(struct wg_device *dev, uint8_t byte)
{
	struct wg_peer *p;
	uint8_t key[WG_KEY_LEN];

	key_fill(key, byte);
	assert_int_equal(wg_device_add_peer(dev, key, &p), 0);
	return p;
}

static void set_endpoint6(union wg_endpoint *ep, const char *addr, uint16_t port, uint32_t scope)
{
	memset(ep, 0, sizeof(*ep));
	ep->addr6.sin6_family = AF_INET6;
	ep->addr6.sin6_port = htons(port);
	ep->addr6.sin6_scope_id = scope;
	assert_int_equal(inet_pton(AF_INET6, addr, &ep->addr6.sin6_addr), 1);
}

static void set_endpoint4(union wg_endpoint *ep, const char *addr, uint16_t port)
{
	memset(ep, 0, sizeof(*ep));
	ep->addr4.sin_family = AF_INET;
	ep->addr4.sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, addr, &ep->addr4.sin_addr), 1);
}

static void assert_format(const struct wg_device *dev, const char *want)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(wguapi_format_set(dev, &text, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(text, want, len);
	free(text);
}

/* ---- formatter ---- */

static void test_format_empty(void **state)
{
	struct wg_device *dev;

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	assert_format(dev, "set=1\n\n");
	wg_device_free(dev);
}

static void test_format_device(void **state)
{
	struct wg_device *dev;

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK |
	             WG_DEVICE_REPLACE_PEERS;
	key_hex(dev->private_key, ALICE_PRIV);
	dev->listen_port = 65535;
	dev->fwmark = 4294967295U;
	assert_format(dev, "set=1\n"
	                   "private_key=" ALICE_PRIV "\n"
	                   "listen_port=65535\n"
	                   "fwmark=4294967295\n"
	                   "replace_peers=true\n"
	                   "\n");

	/* Zeros are values too: no key, a random port, no mark. */
	memset(dev->private_key, 0, WG_KEY_LEN);
	dev->listen_port = 0;
	dev->fwmark = 0;
	dev->flags &= ~WG_DEVICE_REPLACE_PEERS;
	assert_format(dev, "set=1\n"
	                   "private_key=" HEX64("0") "\n"
	                                             "listen_port=0\n"
	                                             "fwmark=0\n"
	                                             "\n");
	wg_device_free(dev);
}

static void test_format_peers(void **state)
{
	struct wg_device *dev;
	struct wg_peer *p;

	assert_int_equal(wg_device_new("wg0", &dev), 0);

	p = add_peer(dev, 0x11);
	p->flags |= WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE |
	            WG_PEER_REPLACE_ALLOWEDIPS;
	key_fill(p->preshared_key, 0x22);
	set_endpoint4(&p->endpoint, "198.18.0.2", 51821);
	p->persistent_keepalive = 25;
	add_ip(p, "10.99.0.2/32");
	add_ip(p, "fd99::2/128");

	/* REMOVE_ME sends nothing but the key, whatever else the peer holds. */
	p = add_peer(dev, 0x33);
	p->flags |= WG_PEER_REMOVE_ME | WG_PEER_UPDATE_ONLY | WG_PEER_HAS_KEEPALIVE |
	            WG_PEER_HAS_PRESHARED_KEY | WG_PEER_REPLACE_ALLOWEDIPS;
	add_ip(p, "10.0.0.0/8");

	p = add_peer(dev, 0xab);
	p->flags |= WG_PEER_UPDATE_ONLY | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_PRESHARED_KEY |
	            WG_PEER_HAS_KEEPALIVE;
	set_endpoint6(&p->endpoint, "fe80::1", 443, 3);
	p->persistent_keepalive = 0;
	add_ip(p, "::/0");
	add_ip(p, "0.0.0.0/0");

	p = add_peer(dev, 0xff);
	p->flags |= WG_PEER_HAS_ENDPOINT;
	set_endpoint6(&p->endpoint, "2001:db8::ffff:1.2.3.4", 0, 0);

	add_peer(dev, 0x00);

	assert_format(
	    dev,
	    "set=1\n"
	    "public_key=" HEX64(
	        "1") "\n"
	             "preshared_key=" HEX64(
	                 "2") "\n"
	                      "endpoint=198.18.0.2:51821\n"
	                      "persistent_keepalive_interval=25\n"
	                      "replace_allowed_ips=true\n"
	                      "allowed_ip=10.99.0.2/32\n"
	                      "allowed_ip=fd99::2/128\n"
	                      "public_key=" HEX64(
	                          "3") "\n"
	                               "remove=true\n"
	                               "public_key=" KEYHEX(
	                                   "ab") "\n"
	                                         "update_only=true\n"
	                                         "preshared_key=" HEX64(
	                                             "0") "\n"
	                                                  "endpoint=[fe80::1%3]:443\n"
	                                                  "persistent_keepalive_interval=0\n"
	                                                  "allowed_ip=::/0\n"
	                                                  "allowed_ip=0.0.0.0/0\n"
	                                                  "public_key=" HEX64(
	                                                      "f") "\n"
	                                                           "endpoint=[2001:db8::ffff:102:"
	                                                           "304]:0\n"
	                                                           "public_key=" HEX64("0") "\n"
	                                                                                    "\n");
	wg_device_free(dev);
}

/*
 * The formatter writes addresses itself (inet_ntop was too slow): it must write exactly
 * what inet_ntop writes, for special forms and for many addresses with runs of zeros.
 */
static void test_format_addresses_like_inet_ntop(void **state)
{
	static const char *const special[] = {
	    "::",
	    "::1",
	    "1::",
	    "::ffff:1.2.3.4",
	    "::1.2.3.4",
	    "::ffff:0:1.2.3.4",
	    "::0.0.1.0",
	    "1:0:0:1:0:0:0:1",
	    "1:0:0:1:0:0:1:1",
	    "1:0:1:0:1:0:1:0",
	    "0:0:1::",
	    "fe80::1",
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "2001:db8::ffff:1.2.3.4",
	    "::fffe:1.2.3.4",
	};
	struct wg_device *dev;
	struct wg_peer *p;
	char *text = NULL, *line;
	size_t len = 0, k = 0;
	uint32_t x = 12345;

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	p = add_peer(dev, 1);
	for (size_t i = 0; i < ARRAY_SIZE(special); i++) {
		struct wg_allowedip ip = {.family = AF_INET6, .cidr = 128};

		assert_int_equal(inet_pton(AF_INET6, special[i], &ip.ip6), 1);
		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
	}
	for (unsigned i = 0; i < 20000; i++) {
		struct wg_allowedip ip = {.family = i % 4 ? AF_INET6 : AF_INET};

		for (unsigned g = 0; g < 8; g++) {
			x = x * 1103515245 + 12345;
			/* Mostly zero groups, so runs of every length and position occur. */
			uint16_t v = (x >> 16) % 3 ? 0 : (uint16_t)(x >> ((x >> 9) % 16));

			ip.ip6.s6_addr[2 * g] = (uint8_t)(v >> 8);
			ip.ip6.s6_addr[2 * g + 1] = (uint8_t)v;
		}
		if (ip.family == AF_INET)
			memcpy(&ip.ip4, &x, 4);
		ip.cidr = (uint8_t)(x % (ip.family == AF_INET ? 33 : 129));
		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
	}
	assert_int_equal(wguapi_format_set(dev, &text, &len), 0);
	text[len - 1] = '\0';
	line = strstr(text, "allowed_ip=");
	for (char *nl; line && (nl = strchr(line, '\n')); line = nl + 1, k++) {
		const struct wg_allowedip *ip = &p->ips[k];
		char want[80], addr[INET6_ADDRSTRLEN];

		assert_non_null(inet_ntop(ip->family, &ip->ip6, addr, sizeof(addr)));
		snprintf(want, sizeof(want), "allowed_ip=%s/%u", addr, ip->cidr);
		*nl = '\0';
		assert_string_equal(line, want);
	}
	assert_int_equal(k, p->n_ips);
	free(text);
	wg_device_free(dev);
}

static void test_format_invalid(void **state)
{
	struct wg_device *dev;
	struct wg_peer *p;
	char *text = (char *)"untouched";
	size_t len = 12345;

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	p = add_peer(dev, 1);
	add_ip(p, "10.0.0.1/32");

	p->ips[0].cidr = 33;
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	p->ips[0].cidr = 32;
	p->ips[0].family = AF_UNIX;
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	p->ips[0].family = AF_INET6;
	p->ips[0].cidr = 129;
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	p->ips[0].cidr = 128;

	p->flags &= ~WG_PEER_HAS_PUBLIC_KEY;
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	p->flags |= WG_PEER_HAS_PUBLIC_KEY;

	p->flags |= WG_PEER_HAS_ENDPOINT; /* with family AF_UNSPEC */
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	p->flags &= ~WG_PEER_HAS_ENDPOINT;

	p->flags |= 1U << 20;
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	p->flags &= ~(1U << 20);
	dev->flags |= 1U << 20;
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	dev->flags = 0;

	strcpy(dev->name, "bad/name");
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	dev->name[0] = '\0';
	assert_int_equal(wguapi_format_set(dev, &text, &len), -EINVAL);
	assert_int_equal(wguapi_format_set(NULL, &text, &len), -EINVAL);

	assert_string_equal(text, "untouched");
	assert_int_equal(len, 12345);
	wg_device_free(dev);
}

/* ---- parser ---- */

static void assert_key(const uint8_t key[static WG_KEY_LEN], const char *hex)
{
	char got[WG_KEY_HEX_LEN];

	wg_key_to_hex(got, key);
	assert_string_equal(got, hex);
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

static void test_parse_real_handshake(void **state)
{
	struct wg_device *dev = NULL;
	struct wg_peer *p;

	assert_int_equal(wguapi_parse_get(reply_handshake, strlen(reply_handshake), "wg0", &dev),
	                 0);
	assert_string_equal(dev->name, "wg0");
	assert_int_equal(dev->flags, WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY |
	                                 WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK);
	assert_key(dev->private_key,
	           "d8c824b24d3696ea356a7262f6505971c577351cec6afcf4565d95fcbebc935f");
	/* The other end lists this public key for its peer; `wg show` printed the same. */
	assert_key(dev->public_key,
	           "f11e73c308629b5ba308c6e557305113918d7c3dedf81cdf74b8ed67fefd2542");
	assert_int_equal(dev->listen_port, 51820);
	assert_int_equal(dev->fwmark, 42);
	assert_int_equal(dev->n_peers, 1);
	p = &dev->peers[0];
	assert_int_equal(p->flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_PRESHARED_KEY |
	                               WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_STATS |
	                               WG_PEER_HAS_KEEPALIVE);
	assert_key(p->public_key,
	           "07ceedce5cfa86422286f0fe60be9ac4e21da9e64bc7c2af9ad137092d4e7b66");
	assert_key(p->preshared_key,
	           "b83dd232d9362a32a50c98397a9d5df7014ea0303e12ed608a339b15d2d00ffa");
	assert_endpoint(&p->endpoint, "198.18.0.2:51821");
	assert_int_equal(p->last_handshake_sec, 1795576981);
	assert_int_equal(p->last_handshake_nsec, 958017127);
	assert_int_equal(p->tx_bytes, 968);
	assert_int_equal(p->rx_bytes, 732);
	assert_int_equal(p->persistent_keepalive, 25);
	assert_int_equal(p->n_ips, 2);
	assert_ip(&p->ips[0], "10.99.0.2/32");
	assert_ip(&p->ips[1], "fd99::2/128");
	wg_device_free(dev);
}

static void test_parse_real_two_peers(void **state)
{
	struct wg_device *dev = NULL;
	struct wg_peer *p;

	assert_int_equal(wguapi_parse_get(reply_two_peers, strlen(reply_two_peers), "wgb", &dev),
	                 0);
	assert_int_equal(dev->flags, WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY |
	                                 WG_DEVICE_HAS_LISTEN_PORT);
	assert_key(dev->public_key,
	           "07ceedce5cfa86422286f0fe60be9ac4e21da9e64bc7c2af9ad137092d4e7b66");
	assert_int_equal(dev->fwmark, 0);
	assert_int_equal(dev->n_peers, 2);

	p = &dev->peers[0];
	assert_endpoint(&p->endpoint, "198.18.0.1:51820");
	assert_int_equal(p->n_ips, 3);
	assert_ip(&p->ips[2], "0.0.0.0/0");
	assert_int_equal(p->persistent_keepalive, 0);
	assert_true(p->flags & WG_PEER_HAS_KEEPALIVE);

	p = &dev->peers[1];
	assert_key(p->public_key,
	           "f9e47d568e26a8ed908d1a734a668fddc78ca0bd88663dec491569e100a64446");
	/* Reported, though all zeros: present means HAS, zeros mean none (as netlink). */
	assert_true(p->flags & WG_PEER_HAS_PRESHARED_KEY);
	assert_true(wg_key_is_zero(p->preshared_key));
	assert_endpoint(&p->endpoint, "[2001:db8::1]:443");
	assert_int_equal(p->last_handshake_sec, 0);
	assert_int_equal(p->n_ips, 3);
	assert_ip(&p->ips[0], "10.99.0.77/32");
	assert_ip(&p->ips[1], "fd99::77/128");
	assert_ip(&p->ips[2], "fd99:1::/64");
	wg_device_free(dev);
}

static void test_parse_fresh_and_sparse(void **state)
{
	static const char no_endpoint[] =
	    "public_key=" HEX64("3") "\n"
	                             "preshared_key=" HEX64("0") "\n"
	                                                         "protocol_version=1\n"
	                                                         "last_handshake_time_sec=0\n"
	                                                         "last_handshake_time_nsec=0\n"
	                                                         "tx_bytes=0\n"
	                                                         "rx_bytes=0\n"
	                                                         "persistent_keepalive_interval=0\n"
	                                                         "errno=0\n\n";
	static const char bare_peer[] = "public_key=" HEX64("4") "\nerrno=0\n\n";
	struct wg_device *dev = NULL;

	assert_int_equal(wguapi_parse_get(reply_fresh, strlen(reply_fresh), "wg0", &dev), 0);
	assert_int_equal(dev->flags, WG_DEVICE_HAS_LISTEN_PORT);
	assert_int_equal(dev->listen_port, 60261);
	assert_int_equal(dev->n_peers, 0);
	dev = wg_device_free(dev);

	assert_int_equal(wguapi_parse_get("errno=0\n\n", 9, "wg0", &dev), 0);
	assert_int_equal(dev->flags, 0);
	dev = wg_device_free(dev);

	/* A zero private key is reported as such; no public key is derived from it. */
	assert_int_equal(wguapi_parse_get("private_key=" HEX64("0") "\nerrno=0\n\n",
	                                  12 + 64 + 1 + 9, "wg0", &dev),
	                 0);
	assert_int_equal(dev->flags, WG_DEVICE_HAS_PRIVATE_KEY);
	dev = wg_device_free(dev);

	assert_int_equal(wguapi_parse_get(no_endpoint, strlen(no_endpoint), "wg0", &dev), 0);
	assert_int_equal(dev->n_peers, 1);
	assert_int_equal(dev->peers[0].flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_PRESHARED_KEY |
	                                          WG_PEER_HAS_STATS | WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(dev->peers[0].endpoint.addr.sa_family, AF_UNSPEC);
	dev = wg_device_free(dev);

	assert_int_equal(wguapi_parse_get(bare_peer, strlen(bare_peer), "wg0", &dev), 0);
	assert_int_equal(dev->peers[0].flags, WG_PEER_HAS_PUBLIC_KEY);
	wg_device_free(dev);
}

static void test_parse_unknown_keys(void **state)
{
	static const char text[] = "future_device_key=whatever it is\n"
	                           "listen_port=1\n"
	                           "=no key at all\n"
	                           "public_key=" HEX64("5") "\n"
	                                                    "future_peer_key=1\n"
	                                                    "allowed_ip=10.0.0.1/32\n"
	                                                    "errno=0\n\n";
	struct wg_device *dev = NULL;

	assert_int_equal(wguapi_parse_get(text, strlen(text), "wg0", &dev), 0);
	assert_int_equal(dev->listen_port, 1);
	assert_int_equal(dev->n_peers, 1);
	assert_int_equal(dev->peers[0].n_ips, 1);
	wg_device_free(dev);
}

static void test_parse_endpoints(void **state)
{
	static const struct {
		const char *in, *out;
		uint32_t scope;
	} cases[] = {
	    {"198.18.0.2:0", "198.18.0.2:0", 0},
	    {"255.255.255.255:65535", "255.255.255.255:65535", 0},
	    {"[fd00::1]:51820", "[fd00::1]:51820", 0},
	    {"[::ffff:1.2.3.4]:5", "[::ffff:1.2.3.4]:5", 0},
	    {"[fe80::1%3]:51820", NULL, 3},
	    {"[fe80::1%4294967295]:1", NULL, 4294967295U},
	    {"[fe80::1%lo]:1", NULL, 0 /* if_nametoindex("lo") */},
	    {"[fe80::1%nosuchif0]:1", NULL, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char text[256];
		struct wg_device *dev = NULL;
		const union wg_endpoint *ep;
		int n =
		    snprintf(text, sizeof(text),
		             "public_key=" HEX64("1") "\nendpoint=%s\nerrno=0\n\n", cases[i].in);

		assert_int_equal(wguapi_parse_get(text, (size_t)n, "wg0", &dev), 0);
		ep = &dev->peers[0].endpoint;
		assert_true(dev->peers[0].flags & WG_PEER_HAS_ENDPOINT);
		if (cases[i].out)
			assert_endpoint(ep, cases[i].out);
		if (ep->addr.sa_family == AF_INET6) {
			uint32_t want =
			    strstr(cases[i].in, "%lo]") ? if_nametoindex("lo") : cases[i].scope;

			assert_int_equal(ep->addr6.sin6_scope_id, want);
		}
		wg_device_free(dev);
	}
}

static void test_parse_errno(void **state)
{
	static const struct {
		const char *text;
		int want;
	} cases[] = {
	    {"errno=-22\n\n", -EINVAL},
	    {"errno=-98\n\n", -EADDRINUSE},
	    {"listen_port=1\nerrno=-98\n\n", -EADDRINUSE},
	    {"errno=22\n\n", -EINVAL}, /* a daemon that sends positive values */
	    {"errno=-0\n\n", 0},
	    {"errno=4095\n\n", -4095},
	};
	struct wg_device *sentinel = (struct wg_device *)&sentinel;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct wg_device *dev = sentinel;
		int r = wguapi_parse_get(cases[i].text, strlen(cases[i].text), "wg0", &dev);

		assert_int_equal(r, cases[i].want);
		if (r < 0)
			assert_ptr_equal(dev, sentinel);
		else
			wg_device_free(dev);
	}
}

static void test_parse_malformed(void **state)
{
#define PK "public_key=" HEX64("1") "\n"
#define END "errno=0\n\n"
	static const char *const cases[] = {
	    "",
	    "\n",
	    "errno=0\n",
	    "errno=0",
	    "listen_port=1\n\n",
	    "errno=0\n\nextra",
	    "errno=0\n\n\n",
	    "errno=0\nlisten_port=1\n\n",
	    "errno=0\nerrno=0\n\n",
	    "listen_port\n" END,
	    "listen_port=\n" END,
	    "listen_port=65536\n" END,
	    "listen_port=-1\n" END,
	    "listen_port= 1\n" END,
	    "listen_port=+1\n" END,
	    "listen_port=1x\n" END,
	    "listen_port=1\r\n" END,
	    "listen_port=00000000000000000000001\n" END,
	    "fwmark=4294967296\n" END,
	    "fwmark=0x2a\n" END,
	    "private_key=" HEX64("g") "\n" END,
	    "private_key=" HEX64("1") "0\n" END,
	    "private_key=111\n" END,
	    "private_key=dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n" END,
	    "public_key=\n" END,
	    "allowed_ip=10.0.0.1/32\n" END,
	    "endpoint=1.2.3.4:5\n" END,
	    "preshared_key=" HEX64("1") "\n" END,
	    "tx_bytes=1\n" END,
	    "persistent_keepalive_interval=1\n" END,
	    "protocol_version=1\n" END,
	    PK "preshared_key=" HEX64("x") "\n" END,
	    PK "allowed_ip=10.0.0.1/33\n" END,
	    PK "allowed_ip=10.0.0.1\n" END,
	    PK "allowed_ip=fd00::/129\n" END,
	    PK "allowed_ip=10.0.0.256/32\n" END,
	    PK "allowed_ip=/32\n" END,
	    PK "allowed_ip=10.0.0.1/\n" END,
	    PK "allowed_ip=10.0.0.1/-1\n" END,
	    PK "allowed_ip=fe80::1%1/64\n" END,
	    PK "allowed_ip=a.b.c.d/8\n" END,
	    PK "endpoint=1.2.3.4\n" END,
	    PK "endpoint=1.2.3.4:\n" END,
	    PK "endpoint=1.2.3.4:65536\n" END,
	    PK "endpoint=:5\n" END,
	    PK "endpoint=fd00::1:5\n" END,
	    PK "endpoint=[fd00::1:5\n" END,
	    PK "endpoint=[fd00::1]5\n" END,
	    PK "endpoint=[fd00::1]:\n" END,
	    PK "endpoint=[]:5\n" END,
	    PK "endpoint=[1.2.3.4]:5\n" END,
	    PK "endpoint=[fe80::1%]:5\n" END,
	    PK "endpoint=[fe80::1%a/b]:5\n" END,
	    PK "endpoint=[fe80::1%abcdefghijklmnopq]:5\n" END,
	    PK "endpoint=example.com:5\n" END,
	    PK "endpoint=01.2.3.4.5:5\n" END,
	    PK "endpoint=\n" END,
	    PK "last_handshake_time_sec=9223372036854775808\n" END,
	    PK "last_handshake_time_nsec=1000000000\n" END,
	    PK "tx_bytes=18446744073709551616\n" END,
	    PK "rx_bytes=99999999999999999999\n" END,
	    PK "persistent_keepalive_interval=65536\n" END,
	    PK "protocol_version=x\n" END,
	    "errno=\n\n",
	    "errno=-\n\n",
	    "errno=abc\n\n",
	    "errno=4096\n\n",
	    "errno=-99999999999999999999999\n\n",
	    "errno=0 \n\n",
	};
	struct wg_device *sentinel = (struct wg_device *)&sentinel;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct wg_device *dev = sentinel;
		int r = wguapi_parse_get(cases[i], strlen(cases[i]), "wg0", &dev);

		if (r != -EBADMSG)
			fail_msg("case %zu (%s): %d", i, cases[i], r);
		assert_ptr_equal(dev, sentinel);
	}
	/* A NUL inside a value must not hide what follows it. */
	static const char nul1[] = "listen_port=1\0\n" END;
	static const char nul2[] = PK "allowed_ip=10.0.0.1\0/32\n" END;
	static const char nul3[] = PK "endpoint=1.2.3.4\0:5\n" END;
	struct wg_device *dev = sentinel;

	assert_int_equal(wguapi_parse_get(nul1, sizeof(nul1) - 1, "wg0", &dev), -EBADMSG);
	assert_int_equal(wguapi_parse_get(nul2, sizeof(nul2) - 1, "wg0", &dev), -EBADMSG);
	assert_int_equal(wguapi_parse_get(nul3, sizeof(nul3) - 1, "wg0", &dev), -EBADMSG);
	/* The length is what counts, not a terminating NUL. */
	assert_int_equal(wguapi_parse_get(reply_fresh, strlen(reply_fresh) - 1, "wg0", &dev),
	                 -EBADMSG);
	assert_ptr_equal(dev, sentinel);
#undef PK
#undef END
}

static void test_parse_bad_args(void **state)
{
	struct wg_device *sentinel = (struct wg_device *)&sentinel, *dev = sentinel;

	assert_int_equal(wguapi_parse_get(reply_fresh, strlen(reply_fresh), "", &dev), -EINVAL);
	assert_int_equal(wguapi_parse_get(reply_fresh, strlen(reply_fresh), "a/b", &dev), -EINVAL);
	assert_int_equal(
	    wguapi_parse_get(reply_fresh, strlen(reply_fresh), "sixteen-chars-xx", &dev), -EINVAL);
	assert_int_equal(wguapi_parse_get(NULL, 5, "wg0", &dev), -EINVAL);
	assert_int_equal(wguapi_parse_get(NULL, 0, "wg0", &dev), -EBADMSG);
	assert_ptr_equal(dev, sentinel);
}

/*
 * A SET request read back through the GET parser: the intent lines (set=1, remove,
 * update_only, replace_*) are unknown keys to it and skipped, so every peer field must come
 * back as it went out.
 */
static void test_roundtrip(void **state)
{
	struct wg_device *dev, *back = NULL;
	char *text = NULL, *reply;
	size_t len = 0;

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK |
	             WG_DEVICE_REPLACE_PEERS;
	key_hex(dev->private_key, ALICE_PRIV);
	dev->listen_port = 51820;
	dev->fwmark = 0x2a;
	for (unsigned i = 0; i < 300; i++) {
		struct wg_peer *p = add_peer(dev, (uint8_t)i);
		char ip[64];

		p->public_key[0] = (uint8_t)(i >> 8); /* keys stay distinct */
		p->flags |= WG_PEER_REPLACE_ALLOWEDIPS | (i % 2 ? WG_PEER_UPDATE_ONLY : 0);
		if (i % 3 == 0) {
			p->flags |= WG_PEER_HAS_PRESHARED_KEY;
			key_fill(p->preshared_key, (uint8_t)~i);
		}
		if (i % 4 == 1) {
			p->flags |= WG_PEER_HAS_ENDPOINT;
			set_endpoint4(&p->endpoint, "203.0.113.7", (uint16_t)(i * 211));
		} else if (i % 4 == 2) {
			p->flags |= WG_PEER_HAS_ENDPOINT;
			set_endpoint6(&p->endpoint, i % 8 == 2 ? "fe80::abcd" : "2001:db8:0:1::9",
			              (uint16_t)(65535 - i), i % 8 == 2 ? i : 0);
		}
		if (i % 5 == 0) {
			p->flags |= WG_PEER_HAS_KEEPALIVE;
			p->persistent_keepalive = (uint16_t)(i * 218);
		}
		for (unsigned j = 0; j < i % 4; j++) {
			if (j % 2)
				snprintf(ip, sizeof(ip), "fd00:%x::%x/%u", i, j, 64 + j);
			else
				snprintf(ip, sizeof(ip), "10.%u.%u.0/%u", i & 255, j, 16 + j);
			add_ip(p, ip);
		}
	}
	assert_int_equal(wguapi_format_set(dev, &text, &len), 0);
	reply = malloc(len + 16);
	assert_non_null(reply);
	memcpy(reply, text, len - 1); /* without the empty line */
	memcpy(reply + len - 1, "errno=0\n\n", 9);
	assert_int_equal(wguapi_parse_get(reply, len - 1 + 9, "wg0", &back), 0);

	assert_int_equal(back->listen_port, 51820);
	assert_int_equal(back->fwmark, 0x2a);
	assert_key(back->public_key, ALICE_PUB);
	assert_int_equal(back->n_peers, dev->n_peers);
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *w = &dev->peers[i], *g = &back->peers[i];
		uint32_t fields = WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_PRESHARED_KEY |
		                  WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE;

		assert_memory_equal(g->public_key, w->public_key, WG_KEY_LEN);
		assert_int_equal(g->flags, w->flags & fields);
		assert_memory_equal(g->preshared_key, w->preshared_key, WG_KEY_LEN);
		assert_true(wg_endpoint_equal(&g->endpoint, &w->endpoint));
		assert_int_equal(g->persistent_keepalive, w->persistent_keepalive);
		assert_int_equal(g->n_ips, w->n_ips);
		for (size_t j = 0; j < w->n_ips; j++)
			assert_int_equal(wg_allowedip_cmp(&g->ips[j], &w->ips[j]), 0);
	}
	wg_key_wipe(text, len);
	free(text);
	free(reply);
	wg_device_free(back);
	wg_device_free(dev);
}

/* A reply as wireguard-go would write it for n peers with two allowed IPs each. */
static char *make_reply(unsigned n, size_t *ret_len)
{
	size_t cap = 512 + (size_t)n * 512, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	len += (size_t)snprintf(buf, cap, "private_key=" ALICE_PRIV "\nlisten_port=51820\n");
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(
		    buf + len, cap - len,
		    "public_key=%08x" REP8("7") REP8("7") REP8("7") REP8("7") REP8("7") REP8("7")
		        REP8("7") "\n"
		                  "preshared_key=" HEX64(
		                      "0") "\nprotocol_version=1\n"
		                           "endpoint=198.18.%u.%u:%u\nlast_handshake_time_sec=%u\n"
		                           "last_handshake_time_nsec=%u\ntx_bytes=%u\nrx_bytes=%u\n"
		                           "persistent_keepalive_interval=25\nallowed_ip=10.%u.%u.%"
		                           "u/32\n"
		                           "allowed_ip=fd00::%x/128\n",
		    i, (i >> 8) & 255, i & 255, 1024 + i % 60000, 1700000000 + i, i * 7, i * 3,
		    i * 5, (i >> 16) & 255, (i >> 8) & 255, i & 255, i);
	len += (size_t)snprintf(buf + len, cap - len, "errno=0\n\n");
	*ret_len = len;
	return buf;
}

static void check_big_device(const struct wg_device *dev, unsigned n)
{
	assert_int_equal(dev->n_peers, n);
	for (unsigned i = 0; i < n; i += n / 97 + 1) {
		const struct wg_peer *p = &dev->peers[i];
		struct wg_allowedip want;
		char s[64];

		assert_int_equal(p->tx_bytes, i * 3);
		assert_int_equal(p->last_handshake_sec, 1700000000 + i);
		assert_int_equal(p->n_ips, 2);
		snprintf(s, sizeof(s), "fd00::%x/128", i);
		want = aip(s);
		assert_int_equal(wg_allowedip_cmp(&p->ips[1], &want), 0);
	}
}

static void test_parse_large(void **state)
{
	const unsigned n = 50000;
	struct wg_device *dev = NULL;
	struct timespec t0, t1;
	size_t len;
	char *text = make_reply(n, &len);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(wguapi_parse_get(text, len, "wg0", &dev), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	check_big_device(dev, n);
	/* Linear work: ~20 ms in a release build; generous for ASan and slow CI. */
	assert_true((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9 < 5.0);
	wg_device_free(dev);
	free(text);
}

/* ---- socket layer against a fake daemon ---- */

static char tmpdir[64];

static int setup_dir(void **state)
{
	strcpy(tmpdir, "/tmp/test_wguapi.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return setenv("WGFLEET_UAPI_DIR", tmpdir, 1);
}

static int teardown_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	unsetenv("WGFLEET_UAPI_DIR");
	return system(cmd) == 0 ? 0 : -1;
}

static int listen_on(const char *ifname)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s.sock", tmpdir, ifname);
	unlink(sa.sun_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Child side: read one request (up to its empty line) into buf; its length, or -1 on EOF. */
static ssize_t fake_read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < 2 || memcmp(buf + len - 2, "\n\n", 2)) {
		ssize_t n = read(fd, buf + len, 1);

		if (n <= 0 || ++len == cap)
			return -1;
	}
	return (ssize_t)len;
}

static int fake_write(int fd, const char *s, size_t len, size_t chunk)
{
	while (len) {
		size_t n = len < chunk ? len : chunk;
		ssize_t w = write(fd, s, n);

		if (w <= 0)
			return -1;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * The fake daemons. Each runs in a child with the listening socket and exits 0 if the
 * client behaved as the test expects.
 */
enum fake_script {
	FAKE_SESSION,      /* set, get (dribbled), set, get: all on one connection */
	FAKE_ERRNO,        /* set fails with -98; the client must reconnect for its get */
	FAKE_CLOSE,        /* closes the connection without a reply, twice */
	FAKE_FAIL_EARLY,   /* reads the first line of a set, replies -22 and closes */
	FAKE_ONE_PER_CONN, /* answers one request per connection, then closes it */
	FAKE_BIG,          /* a 50,000-peer reply in one write */
	FAKE_JUNK,         /* a reply followed by extra bytes */
};

static int fake_daemon(int lfd, enum fake_script script)
{
	static char req[1 << 16];
	ssize_t n;
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0)
		return 10;
	switch (script) {
	case FAKE_SESSION:
		for (int i = 0; i < 2; i++) {
			n = fake_read_request(fd, req, sizeof(req));
			if (n < 0 || strncmp(req, "set=1\nprivate_key=", 18))
				return 11;
			if (fake_write(fd, "errno=0\n\n", 9, 9) < 0)
				return 12;
			n = fake_read_request(fd, req, sizeof(req));
			if (n != 7 || memcmp(req, "get=1\n\n", 7))
				return 13;
			/* A few bytes at a time: lines split across reads must join up. */
			if (fake_write(fd, reply_two_peers, strlen(reply_two_peers), i ? 1 : 7) < 0)
				return 14;
		}
		return fake_read_request(fd, req, sizeof(req)) < 0 ? 0 : 15; /* then EOF */
	case FAKE_ERRNO:
		if (fake_read_request(fd, req, sizeof(req)) < 0 ||
		    fake_write(fd, "errno=-98\n\n", 11, 11) < 0)
			return 20;
		close(fd);
		fd = accept(lfd, NULL, NULL);
		if (fake_read_request(fd, req, sizeof(req)) != 7 ||
		    fake_write(fd, reply_fresh, strlen(reply_fresh), 64) < 0)
			return 21;
		return 0;
	case FAKE_CLOSE:
		if (fake_read_request(fd, req, sizeof(req)) < 0)
			return 30;
		close(fd);
		fd = accept(lfd, NULL, NULL);
		return fake_read_request(fd, req, sizeof(req)) == 7 ? 0 : 31;
	case FAKE_FAIL_EARLY:
		if (read(fd, req, 6) != 6 || fake_write(fd, "errno=-22\n\n", 11, 11) < 0)
			return 40;
		return 0; /* closes with the rest of the request unread */
	case FAKE_ONE_PER_CONN:
		for (int i = 0; i < 2; i++) {
			if (i)
				fd = accept(lfd, NULL, NULL);
			if (fake_read_request(fd, req, sizeof(req)) != 7 ||
			    fake_write(fd, reply_fresh, strlen(reply_fresh), 64) < 0)
				return 50;
			close(fd);
		}
		return 0;
	case FAKE_BIG: {
		size_t len;
		char *text = make_reply(50000, &len);

		if (fake_read_request(fd, req, sizeof(req)) != 7 ||
		    fake_write(fd, text, len, len) < 0)
			return 60;
		free(text);
		return 0;
	}
	case FAKE_JUNK:
		if (fake_read_request(fd, req, sizeof(req)) != 7 ||
		    fake_write(fd, "errno=0\n\nerrno=0\n\n", 18, 18) < 0)
			return 70;
		return 0;
	}
	return 99;
}

static pid_t start_fake(const char *ifname, enum fake_script script)
{
	int lfd = listen_on(ifname);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fake_daemon(lfd, script));
	close(lfd);
	return pid;
}

static void wait_fake(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static struct wg_device *port_device(const char *ifname, uint16_t port)
{
	struct wg_device *dev;

	assert_int_equal(wg_device_new(ifname, &dev), 0);
	dev->flags = WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_PRIVATE_KEY;
	key_hex(dev->private_key, ALICE_PRIV);
	dev->listen_port = port;
	return dev;
}

static void test_io_session(void **state)
{
	pid_t pid = start_fake("wgs", FAKE_SESSION);
	struct wg_device *dev = port_device("wgs", 1), *got;
	struct wguapi *u = NULL;

	assert_int_equal(wguapi_open("wgs", &u), 0);
	for (int i = 0; i < 2; i++) {
		got = NULL;
		assert_int_equal(wguapi_set_device(u, dev), 0);
		assert_int_equal(wguapi_get_device(u, &got), 0);
		assert_string_equal(got->name, "wgs");
		assert_int_equal(got->n_peers, 2);
		assert_int_equal(got->peers[0].n_ips, 3);
		assert_ip(&got->peers[1].ips[2], "fd99:1::/64");
		wg_device_free(got);
	}
	assert_null(wguapi_close(u));
	wait_fake(pid);
	wg_device_free(dev);
}

static void test_io_errno_then_reconnect(void **state)
{
	pid_t pid = start_fake("wge", FAKE_ERRNO);
	struct wg_device *dev = port_device("wge", 51820), *got = NULL;
	struct wguapi *u = NULL;

	assert_int_equal(wguapi_open("wge", &u), 0);
	assert_int_equal(wguapi_set_device(u, dev), -EADDRINUSE);
	assert_int_equal(wguapi_get_device(u, &got), 0);
	assert_int_equal(got->listen_port, 60261);
	wg_device_free(got);
	wguapi_close(u);
	wait_fake(pid);
	wg_device_free(dev);
}

static void test_io_closed_without_reply(void **state)
{
	pid_t pid = start_fake("wgc", FAKE_CLOSE);
	struct wg_device *dev = port_device("wgc", 1), *got = (struct wg_device *)&got;
	struct wguapi *u = NULL;

	assert_int_equal(wguapi_open("wgc", &u), 0);
	assert_int_equal(wguapi_set_device(u, dev), -ECONNRESET);
	assert_int_equal(wguapi_get_device(u, &got), -ECONNRESET);
	assert_ptr_equal(got, (struct wg_device *)&got);
	wguapi_close(u);
	wait_fake(pid);
	wg_device_free(dev);
}

static void test_io_fail_early(void **state)
{
	pid_t pid = start_fake("wgf", FAKE_FAIL_EARLY);
	struct wg_device *dev = port_device("wgf", 1);
	struct wguapi *u = NULL;

	/* Far larger than a socket buffer, so the write fails after the daemon gave up. */
	for (unsigned i = 0; i < 20000; i++) {
		struct wg_peer *p = add_peer(dev, (uint8_t)i);

		p->public_key[1] = (uint8_t)(i >> 8);
		add_ip(p, "10.0.0.1/32");
	}
	assert_int_equal(wguapi_open("wgf", &u), 0);
	assert_int_equal(wguapi_set_device(u, dev), -EINVAL);
	wguapi_close(u);
	wait_fake(pid);
	wg_device_free(dev);
}

static void test_io_restarted_daemon(void **state)
{
	pid_t pid = start_fake("wgr", FAKE_ONE_PER_CONN);
	struct wg_device *got = NULL;
	struct wguapi *u = NULL;

	assert_int_equal(wguapi_open("wgr", &u), 0);
	assert_int_equal(wguapi_get_device(u, &got), 0);
	got = wg_device_free(got);
	/* The daemon closed that connection; the handle reconnects rather than failing. */
	usleep(10000);
	assert_int_equal(wguapi_get_device(u, &got), 0);
	wg_device_free(got);
	wguapi_close(u);
	wait_fake(pid);
}

static void test_io_big(void **state)
{
	pid_t pid = start_fake("wgbig", FAKE_BIG);
	struct wg_device *got = NULL;
	struct wguapi *u = NULL;

	assert_int_equal(wguapi_open("wgbig", &u), 0);
	assert_int_equal(wguapi_get_device(u, &got), 0);
	check_big_device(got, 50000);
	wg_device_free(got);
	wguapi_close(u);
	wait_fake(pid);
}

static void test_io_junk_after_reply(void **state)
{
	pid_t pid = start_fake("wgj", FAKE_JUNK);
	struct wg_device *got = (struct wg_device *)&got;
	struct wguapi *u = NULL;

	assert_int_equal(wguapi_open("wgj", &u), 0);
	assert_int_equal(wguapi_get_device(u, &got), -EBADMSG);
	assert_ptr_equal(got, (struct wg_device *)&got);
	wguapi_close(u);
	wait_fake(pid);
}

static void test_io_open_errors(void **state)
{
	struct wguapi *u = (struct wguapi *)&u;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	assert_int_equal(wguapi_open("nothere0", &u), -ENOENT);
	assert_int_equal(wguapi_open("", &u), -EINVAL);
	assert_int_equal(wguapi_open("../x", &u), -EINVAL);
	assert_int_equal(wguapi_open("wg 0", &u), -EINVAL);
	assert_int_equal(wguapi_open(NULL, &u), -EINVAL);
	/* A socket file nobody listens on (a daemon killed with SIGKILL). */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale0.sock", tmpdir);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(wguapi_open("stale0", &u), -ECONNREFUSED);
	assert_false(wguapi_has_socket("stale0"));
	assert_ptr_equal(u, (struct wguapi *)&u);
	assert_null(wguapi_close(NULL));
	assert_int_equal(wguapi_set_device(NULL, NULL), -EINVAL);
	unlink(sa.sun_path);
}

static void test_dir_list_has_socket(void **state)
{
	char **names = NULL, path[128];
	int a = listen_on("wg1"), b = listen_on("wg0"), c = listen_on("a-long-name-16ch");
	FILE *f;

	assert_string_equal(wguapi_dir(), tmpdir);
	setenv("WGFLEET_UAPI_DIR", "", 1);
	assert_string_equal(wguapi_dir(), "/var/run/wireguard");
	setenv("WGFLEET_UAPI_DIR", tmpdir, 1);

	/* Not sockets, or not interface names: all skipped. */
	snprintf(path, sizeof(path), "%s/file0.sock", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/.sock", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);

	assert_true(wguapi_has_socket("wg0"));
	assert_false(wguapi_has_socket("file0"));
	assert_false(wguapi_has_socket("nothere0"));
	assert_false(wguapi_has_socket("bad/name"));

	assert_int_equal(wguapi_list(&names), 0);
	assert_int_equal(strv_length(names), 2);
	assert_string_equal(names[0], "wg0");
	assert_string_equal(names[1], "wg1");
	strv_free(names);

	close(a);
	close(b);
	close(c);

	/* A missing directory is no interfaces, not an error. */
	setenv("WGFLEET_UAPI_DIR", "/nonexistent/wguapi-test", 1);
	assert_int_equal(wguapi_list(&names), 0);
	assert_non_null(names);
	assert_null(names[0]);
	strv_free(names);
	setenv("WGFLEET_UAPI_DIR", tmpdir, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_empty),
	    cmocka_unit_test(test_format_device),
	    cmocka_unit_test(test_format_peers),
	    cmocka_unit_test(test_format_addresses_like_inet_ntop),
	    cmocka_unit_test(test_format_invalid),
	    cmocka_unit_test(test_parse_real_handshake),
	    cmocka_unit_test(test_parse_real_two_peers),
	    cmocka_unit_test(test_parse_fresh_and_sparse),
	    cmocka_unit_test(test_parse_unknown_keys),
	    cmocka_unit_test(test_parse_endpoints),
	    cmocka_unit_test(test_parse_errno),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_parse_bad_args),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_parse_large),
	    cmocka_unit_test(test_io_session),
	    cmocka_unit_test(test_io_errno_then_reconnect),
	    cmocka_unit_test(test_io_closed_without_reply),
	    cmocka_unit_test(test_io_fail_early),
	    cmocka_unit_test(test_io_restarted_daemon),
	    cmocka_unit_test(test_io_big),
	    cmocka_unit_test(test_io_junk_after_reply),
	    cmocka_unit_test(test_io_open_errors),
	    cmocka_unit_test(test_dir_list_has_socket),
	};

	if (wg_key_init() < 0)
		return 1;
	/* A fake daemon that exits early must fail a test, not kill the runner. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
