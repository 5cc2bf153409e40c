// SPDX-License-Identifier: MIT
/*
 * wgdump_format against `wg show IFACE dump`. Every expected text below is the output of
 * wireguard-tools 1.0.20210914 (`wg show wgX dump`) reading a wireguard-go device that was
 * programmed with the same values through `wg setconf` / `wg set`; the handshake and byte
 * counters come from a real tunnel between two wireguard-go devices in two namespaces.
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

#include "wgdump.h"

#define PRIV "uCx/J4o6XGx8W3lcNnVGpVhvKuBFt0AnMDSQjEwP0Hc="
#define PUB "WBd5Y3jWjAoLEPFRejkYsfHqrb9CGlIrVuVLxhv5G0M=" /* wg pubkey < PRIV */
#define PUB_A "XpY8lRnKLJmjcQ0BgyOnY4GxdXaVvu3RyKSr2+E3H0I="
#define PUB_B "9F4AY9zTL8xz1wz2K6zyH7L6jcqh7Qb9yVYcTnGFLUg="
#define PUB_C "B4n1TFqv5tNc2gdcW6o9i3o+5mH8nC0vbjm1VQzqDEc="
#define PSK "tHpUq0qP6lp0Whh6wEG0+VjT3vSdPLbw33Ux9Jm0V5w="

static struct wg_device *new_device(void)
{
	struct wg_device *dev = NULL;

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	return dev;
}

static struct wg_peer *add_peer(struct wg_device *dev, const char *pub)
{
	uint8_t k[WG_KEY_LEN];
	struct wg_peer *peer;

	assert_int_equal(wg_key_from_base64(pub, k), 0);
	assert_int_equal(wg_device_add_peer(dev, k, &peer), 0);
	return peer;
}

static void add_ips(struct wg_peer *peer, const char *const *ips)
{
	for (; *ips; ips++) {
		struct wg_allowedip ip;

		assert_int_equal(wg_allowedip_parse(*ips, &ip), 0);
		assert_int_equal(wg_peer_add_allowedip(peer, &ip), 0);
	}
}

static void set_endpoint(struct wg_peer *peer, const char *ep)
{
	assert_int_equal(wg_endpoint_parse(ep, &peer->endpoint), 0);
	peer->flags |= WG_PEER_HAS_ENDPOINT;
}

static void assert_dump(const struct wg_device *dev, const char *want)
{
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(wgdump_format(dev, &text, &len), 0);
	assert_int_equal(len, strlen(text));
	assert_string_equal(text, want);
	free(text);
}

/* The device as `wg setconf` left it after d1.conf: every peer field form. */
static void test_full_device(void **state)
{
	struct wg_device *dev = new_device();
	struct wg_peer *p;

	assert_int_equal(wg_key_from_base64(PRIV, dev->private_key), 0);
	assert_int_equal(wg_key_from_base64(PUB, dev->public_key), 0);
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY |
		     WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	dev->listen_port = 51820;
	dev->fwmark = 0x1234;

	p = add_peer(dev, PUB_A);
	assert_int_equal(wg_key_from_base64(PSK, p->preshared_key), 0);
	p->flags |= WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE | WG_PEER_HAS_STATS;
	set_endpoint(p, "192.0.2.1:51820");
	add_ips(p, (const char *const[]){"10.0.0.2/32", "10.10.0.0/16", "fd00::2/128", NULL});
	p->persistent_keepalive = 25;

	p = add_peer(dev, PUB_B);
	p->flags |= WG_PEER_HAS_STATS | WG_PEER_HAS_KEEPALIVE;
	set_endpoint(p, "[2001:db8::1]:65535");
	add_ips(p, (const char *const[]){"0.0.0.0/0", "::/0", NULL});

	p = add_peer(dev, PUB_C);
	p->flags |= WG_PEER_HAS_STATS;

	/* clang-format off */
	assert_dump(dev,
		PRIV "\t" PUB "\t51820\t0x1234\n"
		PUB_A "\t" PSK "\t192.0.2.1:51820\t10.0.0.2/32,10.10.0.0/16,fd00::2/128\t0\t0\t0\t25\n"
		PUB_B "\t(none)\t[2001:db8::1]:65535\t0.0.0.0/0,::/0\t0\t0\t0\toff\n"
		PUB_C "\t(none)\t(none)\t(none)\t0\t0\t0\toff\n");
	/* clang-format on */
	wg_device_free(dev);
}

/* No private key: both keys print "(none)"; a v4-mapped endpoint keeps its v6 form. */
static void test_no_private_key(void **state)
{
	struct wg_device *dev = new_device();
	struct wg_peer *p;

	dev->flags = WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	dev->listen_port = 1;
	p = add_peer(dev, PUB_A);
	set_endpoint(p, "[::ffff:192.0.2.7]:7");
	add_ips(p, (const char *const[]){"10.0.0.0/24", NULL});
	p->persistent_keepalive = 65535;
	assert_dump(dev, "(none)\t(none)\t1\toff\n" PUB_A
			 "\t(none)\t[::ffff:192.0.2.7]:7\t10.0.0.0/24\t0\t0\t0\t65535\n");

	/* After `wg set ... fwmark 0xffffffff listen-port 65535 peer A allowed-ips ...`. */
	dev->fwmark = 0xffffffff;
	dev->listen_port = 65535;
	p->n_ips = 0;
	add_ips(p, (const char *const[]){"fe80::/64", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
					 "255.255.255.255/32", NULL});
	assert_dump(dev, "(none)\t(none)\t65535\t0xffffffff\n" PUB_A
			 "\t(none)\t[::ffff:192.0.2.7]:7\tfe80::/64,ffff:ffff:ffff:ffff:ffff:ffff:"
			 "ffff:ffff/128,255.255.255.255/32\t0\t0\t0\t65535\n");

	/* Presence needs both the bit and a non-zero key, as wg decides it. */
	dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY;
	p->flags |= WG_PEER_HAS_PRESHARED_KEY;
	assert_dump(dev, "(none)\t(none)\t65535\t0xffffffff\n" PUB_A
			 "\t(none)\t[::ffff:192.0.2.7]:7\tfe80::/64,ffff:ffff:ffff:ffff:ffff:ffff:"
			 "ffff:ffff/128,255.255.255.255/32\t0\t0\t0\t65535\n");
	wg_device_free(dev);
}

/* Both ends of a real tunnel after two pings: handshake seconds and byte counters. */
static void test_tunnel_stats(void **state)
{
	struct wg_device *dev = new_device();
	struct wg_peer *p;

	assert_int_equal(
	    wg_key_from_base64("4KalkAaq0G8sykenPpNnVP/KXCof+LTOjdDkyhxUTl0=", dev->private_key),
	    0);
	assert_int_equal(
	    wg_key_from_base64("PNnijJy5oSg/Qdl4LBzH9F+PsYClVUdZo1rv6SFEUyE=", dev->public_key), 0);
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY |
		     WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	dev->listen_port = 51820;
	p = add_peer(dev, "f9oC4eiNSA4EA51OHWAuJ1xfjXOH8k8qQ8lnrOHORyg=");
	p->flags |= WG_PEER_HAS_STATS;
	set_endpoint(p, "198.18.0.2:51821");
	add_ips(p, (const char *const[]){"10.99.0.2/32", NULL});
	p->last_handshake_sec = 1795576756;
	p->last_handshake_nsec = 123456789;
	p->rx_bytes = 436;
	p->tx_bytes = 348;
	assert_dump(dev, "4KalkAaq0G8sykenPpNnVP/KXCof+LTOjdDkyhxUTl0=\t"
			 "PNnijJy5oSg/Qdl4LBzH9F+PsYClVUdZo1rv6SFEUyE=\t51820\toff\n"
			 "f9oC4eiNSA4EA51OHWAuJ1xfjXOH8k8qQ8lnrOHORyg=\t(none)\t198.18.0.2:51821\t"
			 "10.99.0.2/32\t1795576756\t436\t348\toff\n");

	/* Wide counters print in full (wg uses PRIu64). */
	p->rx_bytes = UINT64_MAX;
	p->tx_bytes = 1000000000000ULL;
	p->last_handshake_sec = 0;
	dev->listen_port = 0;
	dev->fwmark = 1;
	assert_dump(dev, "4KalkAaq0G8sykenPpNnVP/KXCof+LTOjdDkyhxUTl0=\t"
			 "PNnijJy5oSg/Qdl4LBzH9F+PsYClVUdZo1rv6SFEUyE=\t0\t0x1\n"
			 "f9oC4eiNSA4EA51OHWAuJ1xfjXOH8k8qQ8lnrOHORyg=\t(none)\t198.18.0.2:51821\t"
			 "10.99.0.2/32\t0\t18446744073709551615\t1000000000000\toff\n");
	wg_device_free(dev);
}

static void test_empty_device(void **state)
{
	struct wg_device *dev = new_device();

	assert_dump(dev, "(none)\t(none)\t0\toff\n");
	wg_device_free(dev);
}

/*
 * The hand-written IPv6 text must equal glibc's inet_ntop, which wg uses: every address
 * whose eight words are each 0, 1, 0xffff or 0xabcd (65,536 of them, all zero-run shapes and
 * both dotted forms), as allowed IPs and as endpoints.
 */
static void test_ipv6_text_matches_inet_ntop(void **state)
{
	static const uint16_t values[] = {0, 1, 0xffff, 0xabcd};
	struct wg_device *dev = new_device();
	char *text = NULL, *line, *save = NULL;
	size_t len, n = 0;

	for (unsigned combo = 0; combo < 65536; combo++) {
		struct wg_peer *p;
		struct wg_allowedip ip = {.family = AF_INET6, .cidr = 128};
		uint8_t k[WG_KEY_LEN] = {0};

		for (int w = 0; w < 8; w++) {
			uint16_t v = values[(combo >> (2 * w)) & 3];

			ip.ip6.s6_addr[2 * w] = (uint8_t)(v >> 8);
			ip.ip6.s6_addr[2 * w + 1] = (uint8_t)v;
		}
		memcpy(k, &combo, sizeof(combo));
		assert_int_equal(wg_device_add_peer(dev, k, &p), 0);
		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
		p->endpoint.addr6.sin6_family = AF_INET6;
		p->endpoint.addr6.sin6_addr = ip.ip6;
		p->endpoint.addr6.sin6_port = htons(combo & 0xffff);
	}
	assert_int_equal(wgdump_format(dev, &text, &len), 0);
	line = strtok_r(text, "\n", &save); /* the device line */
	for (line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		const struct wg_peer *p = &dev->peers[n];
		char addr[INET6_ADDRSTRLEN], want[256];

		assert_non_null(inet_ntop(AF_INET6, &p->ips[0].ip6, addr, sizeof(addr)));
		snprintf(want, sizeof(want), "[%s]:%u\t%s/128\t", addr,
			 ntohs(p->endpoint.addr6.sin6_port), addr);
		if (!strstr(line, want))
			fail_msg("peer %zu: want \"%s\" in \"%s\"", n, want, line);
	}
	assert_int_equal(n, dev->n_peers);
	free(text);
	wg_device_free(dev);
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
	struct wg_device *dev = new_device();
	char *text = NULL;
	size_t len = 0;
	double t;

	for (size_t i = 0; i < n; i++) {
		uint8_t k[WG_KEY_LEN] = {0};
		struct wg_allowedip ip = {.family = AF_INET, .cidr = 32};
		struct wg_peer *p;

		memcpy(k, &i, sizeof(i));
		assert_int_equal(wg_device_add_peer(dev, k, &p), 0);
		ip.ip4.s_addr = htonl(0x0a000000U | (uint32_t)i);
		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
		p->endpoint.addr4.sin_family = AF_INET;
		p->endpoint.addr4.sin_addr.s_addr = htonl(0xc6120000U | (uint32_t)i);
		p->endpoint.addr4.sin_port = htons(51820);
		p->rx_bytes = i * 1000;
		p->tx_bytes = i * 7;
		p->last_handshake_sec = 1700000000 + (int64_t)i;
	}
	t = now();
	assert_int_equal(wgdump_format(dev, &text, &len), 0);
	t = now() - t;
	print_message("formatted %zu peers (%zu bytes) in %.1f ms\n", n, len, t * 1e3);
	assert_int_equal(len, strlen(text));
	assert_non_null(strstr(text, "\t198.18.195.79:51820\t10.0.195.79/32\t1700049999\t"
				     "49999000\t349993\toff\n"));
	free(text);
	wg_device_free(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_device),
		cmocka_unit_test(test_no_private_key),
		cmocka_unit_test(test_tunnel_stats),
		cmocka_unit_test(test_empty_device),
		cmocka_unit_test(test_ipv6_text_matches_inet_ntop),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
