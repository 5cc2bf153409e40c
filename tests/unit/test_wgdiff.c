// SPDX-License-Identifier: MIT
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

#include "wgdiff.h"

static struct wg_device *new_device(void)
{
	struct wg_device *dev = NULL;

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	return dev;
}

/* A public key made from a number, so tests can name peers. */
static void key_of(uint32_t id, uint8_t k[static WG_KEY_LEN])
{
	uint32_t mix = id * 2654435761U; /* spread like real keys, whose bytes are random */

	memset(k, 0x11, WG_KEY_LEN);
	memcpy(k, &mix, sizeof(mix));
	memcpy(k + 8, &id, sizeof(id));
}

static struct wg_peer *add_peer(struct wg_device *dev, uint32_t id, const char *ips)
{
	uint8_t k[WG_KEY_LEN];
	struct wg_peer *p;
	char buf[256], *save = NULL;

	key_of(id, k);
	assert_int_equal(wg_device_add_peer(dev, k, &p), 0);
	if (!ips)
		return p;
	snprintf(buf, sizeof(buf), "%s", ips);
	for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		struct wg_allowedip ip;

		assert_int_equal(wg_allowedip_parse(s, &ip), 0);
		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
	}
	return p;
}

/* As a backend reads a device: stats, keepalive and psk reported on every peer. */
static struct wg_peer *add_actual(struct wg_device *dev, uint32_t id, const char *ips)
{
	struct wg_peer *p = add_peer(dev, id, ips);

	p->flags |= WG_PEER_HAS_STATS | WG_PEER_HAS_KEEPALIVE | WG_PEER_HAS_PRESHARED_KEY;
	p->rx_bytes = 1000 + id;
	p->tx_bytes = 2000 + id;
	p->last_handshake_sec = 1700000000;
	return p;
}

/* As a config describes a peer: setconf semantics. */
static struct wg_peer *add_desired(struct wg_device *dev, uint32_t id, const char *ips)
{
	struct wg_peer *p = add_peer(dev, id, ips);

	p->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
	return p;
}

static void set_endpoint(struct wg_peer *p, const char *ep)
{
	assert_int_equal(wg_endpoint_parse(ep, &p->endpoint), 0);
	p->flags |= WG_PEER_HAS_ENDPOINT;
}

static struct wg_device *diff(const struct wg_device *a, const struct wg_device *d)
{
	struct wg_device *change = NULL;

	assert_int_equal(wgdiff_compute(a, d, &change), 0);
	assert_non_null(change);
	assert_string_equal(change->name, d->name);
	assert_int_equal(wg_device_validate(change), 0);
	return change;
}

static void assert_key(const struct wg_peer *p, uint32_t id)
{
	uint8_t k[WG_KEY_LEN];

	key_of(id, k);
	assert_memory_equal(p->public_key, k, WG_KEY_LEN);
}

static void assert_ips(const struct wg_peer *p, const char *want)
{
	char got[1024] = "", buf[WG_ALLOWEDIP_STRLEN];

	for (size_t i = 0; i < p->n_ips; i++) {
		wg_allowedip_format(&p->ips[i], buf);
		if (i)
			strcat(got, ",");
		strcat(got, buf);
	}
	assert_string_equal(got, want);
}

/* A pair of devices that agree: actual with stats and full read-back, desired from a file. */
static void make_pair(struct wg_device **ret_a, struct wg_device **ret_d)
{
	struct wg_device *a = new_device(), *d = new_device();
	struct wg_peer *p;

	a->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_PUBLIC_KEY |
		   WG_DEVICE_HAS_LISTEN_PORT | WG_DEVICE_HAS_FWMARK;
	/* A device reports its key clamped (RFC 7748); the file's 0x42... is the same key. */
	memset(a->private_key, 0x42, WG_KEY_LEN);
	a->private_key[0] &= 248;
	a->private_key[31] = (a->private_key[31] & 127) | 64;
	memset(a->public_key, 0x43, WG_KEY_LEN);
	a->listen_port = 51820;
	a->fwmark = 0;
	d->flags = WG_DEVICE_REPLACE_PEERS | WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	memset(d->private_key, 0x42, WG_KEY_LEN);
	d->listen_port = 51820;

	/* Listed in different orders; host bits, duplicates and IP order differ. */
	p = add_actual(a, 1, "10.0.0.0/24,fd00::/64");
	p->persistent_keepalive = 25;
	memset(p->preshared_key, 0x55, WG_KEY_LEN);
	set_endpoint(p, "192.0.2.1:51820");
	add_actual(a, 2, "10.0.1.2/32");
	p = add_actual(a, 3, NULL);
	set_endpoint(p, "[2001:db8::1]:1"); /* learned by roaming; desired names none */

	add_desired(d, 3, NULL);
	add_desired(d, 2, "10.0.1.2");
	p = add_desired(d, 1, "fd00::1/64,10.0.0.1/24,10.0.0.7/24");
	p->flags |= WG_PEER_HAS_KEEPALIVE | WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT;
	p->persistent_keepalive = 25;
	memset(p->preshared_key, 0x55, WG_KEY_LEN);
	set_endpoint(p, "192.0.2.1:51820");
	*ret_a = a;
	*ret_d = d;
}

static void test_identical(void **state)
{
	struct wg_device *a, *d, *c;

	make_pair(&a, &d);
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	assert_int_equal(c->flags, 0);
	assert_int_equal(c->n_peers, 0);
	wg_device_free(c);

	/* Two empty devices, and the NULL-safe emptiness check. */
	wg_device_free(a);
	wg_device_free(d);
	a = new_device();
	d = new_device();
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	assert_true(wgdiff_is_empty(NULL));
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);
}

static void test_add_and_remove(void **state)
{
	struct wg_device *a, *d, *c;
	struct wg_peer *p;

	make_pair(&a, &d);
	p = add_desired(d, 9, "10.9.0.0/16,10.8.0.1");
	p->flags |= WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE | WG_PEER_HAS_ENDPOINT;
	memset(p->preshared_key, 0x99, WG_KEY_LEN);
	p->persistent_keepalive = 15;
	set_endpoint(p, "198.51.100.1:9");
	add_actual(a, 7, "10.7.0.1/32");
	add_desired(d, 8, NULL);

	c = diff(a, d);
	assert_false(wgdiff_is_empty(c));
	assert_int_equal(c->flags, 0);
	assert_int_equal(c->n_peers, 3);

	/* Removals come first: public key and REMOVE_ME only. */
	assert_key(&c->peers[0], 7);
	assert_int_equal(c->peers[0].flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REMOVE_ME);
	assert_int_equal(c->peers[0].n_ips, 0);

	/* Additions carry everything desired has. */
	for (size_t i = 1; i < 3; i++) {
		p = &c->peers[i];
		if (p->public_key[8] == 8) {
			assert_int_equal(p->flags,
					 WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS);
			assert_int_equal(p->n_ips, 0);
			continue;
		}
		assert_key(p, 9);
		assert_int_equal(p->flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS |
					       WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_KEEPALIVE |
					       WG_PEER_HAS_ENDPOINT);
		assert_int_equal(p->preshared_key[0], 0x99);
		assert_int_equal(p->persistent_keepalive, 15);
		assert_true(wg_endpoint_equal(&p->endpoint, &d->peers[3].endpoint));
		assert_ips(p, "10.9.0.0/16,10.8.0.1/32");
		assert_int_equal(p->rx_bytes, 0);
	}
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);

	/* Everything removed. */
	make_pair(&a, &d);
	wg_device_clear_peers(d);
	c = diff(a, d);
	assert_int_equal(c->n_peers, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(c->peers[i].flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REMOVE_ME);
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);
}

/* Change one field of peer 1 in desired; expect exactly that field in the change. */
static void test_change_each_field(void **state)
{
	enum {
		PSK,
		PSK_REMOVED,
		ENDPOINT,
		ENDPOINT_PORT,
		KEEPALIVE,
		KEEPALIVE_OFF,
		IPS,
		IPS_MASK,
		N
	};

	for (int field = 0; field < N; field++) {
		struct wg_device *a, *d, *c;
		struct wg_peer *p, *want;
		uint32_t flags = WG_PEER_HAS_PUBLIC_KEY;

		make_pair(&a, &d);
		want = &d->peers[2];
		switch (field) {
		case PSK:
			want->preshared_key[5] ^= 1;
			flags |= WG_PEER_HAS_PRESHARED_KEY;
			break;
		case PSK_REMOVED:
			memset(want->preshared_key, 0, WG_KEY_LEN);
			flags |= WG_PEER_HAS_PRESHARED_KEY;
			break;
		case ENDPOINT:
			set_endpoint(want, "[2001:db8::2]:51820");
			flags |= WG_PEER_HAS_ENDPOINT;
			break;
		case ENDPOINT_PORT:
			set_endpoint(want, "192.0.2.1:51821");
			flags |= WG_PEER_HAS_ENDPOINT;
			break;
		case KEEPALIVE:
			want->persistent_keepalive = 26;
			flags |= WG_PEER_HAS_KEEPALIVE;
			break;
		case KEEPALIVE_OFF:
			want->persistent_keepalive = 0;
			flags |= WG_PEER_HAS_KEEPALIVE;
			break;
		case IPS:
			/* Drop 10.0.0.7/24, a duplicate after masking: no change. */
			want->n_ips = 2;
			c = diff(a, d);
			assert_true(wgdiff_is_empty(c));
			wg_device_free(c);
			want->n_ips = 1; /* drop 10.0.0.1/24 as well: a real change */
			flags |= WG_PEER_REPLACE_ALLOWEDIPS;
			break;
		case IPS_MASK:
			want->ips[1].cidr = 25; /* 10.0.0.1/25 is 10.0.0.0/25, not /24 */
			flags |= WG_PEER_REPLACE_ALLOWEDIPS;
			break;
		}
		c = diff(a, d);
		assert_int_equal(c->flags, 0);
		assert_int_equal(c->n_peers, 1);
		p = &c->peers[0];
		assert_key(p, 1);
		assert_int_equal(p->flags, flags);
		if (flags & WG_PEER_HAS_PRESHARED_KEY)
			assert_memory_equal(p->preshared_key, want->preshared_key, WG_KEY_LEN);
		else
			assert_true(wg_key_is_zero(p->preshared_key));
		if (flags & WG_PEER_HAS_ENDPOINT)
			assert_true(wg_endpoint_equal(&p->endpoint, &want->endpoint));
		else
			assert_int_equal(p->endpoint.addr.sa_family, AF_UNSPEC);
		if (flags & WG_PEER_HAS_KEEPALIVE)
			assert_int_equal(p->persistent_keepalive, want->persistent_keepalive);
		if (flags & WG_PEER_REPLACE_ALLOWEDIPS) {
			/* The full desired list, as written. */
			assert_int_equal(p->n_ips, want->n_ips);
			assert_memory_equal(p->ips, want->ips, want->n_ips * sizeof(*p->ips));
		} else
			assert_int_equal(p->n_ips, 0);
		wg_device_free(c);
		wg_device_free(a);
		wg_device_free(d);
	}
}

static void test_absent_fields_left_alone(void **state)
{
	struct wg_device *a, *d, *c;
	struct wg_peer *p;

	make_pair(&a, &d);
	/* Peer 1 in desired says nothing of psk, endpoint, keepalive; actual has all three. */
	p = &d->peers[2];
	p->flags &= ~(WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_KEEPALIVE);
	memset(p->preshared_key, 0, WG_KEY_LEN);
	memset(&p->endpoint, 0, sizeof(p->endpoint));
	p->persistent_keepalive = 0;
	/* Nor of the device's key, port and fwmark. */
	d->flags = WG_DEVICE_REPLACE_PEERS;
	memset(d->private_key, 0, WG_KEY_LEN);
	d->listen_port = 0;
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	wg_device_free(c);

	/* An actual peer that reports no psk equals a desired all-zero psk. */
	a->peers[1].flags &= ~WG_PEER_HAS_PRESHARED_KEY;
	memset(a->peers[1].preshared_key, 0xee, WG_KEY_LEN); /* ignored without its bit */
	d->peers[1].flags |= WG_PEER_HAS_PRESHARED_KEY;
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);
}

static void test_device_fields(void **state)
{
	struct wg_device *a, *d, *c;

	make_pair(&a, &d);
	d->private_key[0] ^= 0xff;
	d->listen_port = 51821;
	d->flags |= WG_DEVICE_HAS_FWMARK;
	d->fwmark = 0x10;
	c = diff(a, d);
	assert_int_equal(c->flags, WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT |
				       WG_DEVICE_HAS_FWMARK);
	assert_memory_equal(c->private_key, d->private_key, WG_KEY_LEN);
	assert_int_equal(c->listen_port, 51821);
	assert_int_equal(c->fwmark, 0x10);
	assert_int_equal(c->n_peers, 0);
	assert_false(wgdiff_is_empty(c));
	wg_device_free(c);

	/* Removing the key and the fwmark are changes too. */
	memset(d->private_key, 0, WG_KEY_LEN);
	d->fwmark = 0;
	a->fwmark = 7;
	d->listen_port = 51820;
	c = diff(a, d);
	assert_int_equal(c->flags, WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_FWMARK);
	assert_true(wg_key_is_zero(c->private_key));
	assert_int_equal(c->fwmark, 0);
	wg_device_free(c);

	/* An unclamped key in the file equals its clamped form on the device: no change. */
	memset(d->private_key, 0x42, WG_KEY_LEN);
	d->private_key[0] = 0x47;          /* low 3 bits set: clamping clears them */
	d->private_key[31] = 0xc2;         /* bit 255 set: clamping clears it */
	a->private_key[0] = 0x40;
	a->private_key[31] = 0x42;
	d->listen_port = 51820;
	d->fwmark = 7;
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	wg_device_free(c);
	/* ...but a key that differs after clamping is a change. */
	d->private_key[1] ^= 1;
	c = diff(a, d);
	assert_int_equal(c->flags, WG_DEVICE_HAS_PRIVATE_KEY);
	wg_device_free(c);

	/* ListenPort = 0 asks for any port: whatever the device picked satisfies it. */
	memcpy(d->private_key, a->private_key, WG_KEY_LEN);
	d->fwmark = 7;
	d->listen_port = 0;
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	wg_device_free(c);
	/* ...unless the device reports no port at all. */
	a->flags &= ~WG_DEVICE_HAS_LISTEN_PORT;
	c = diff(a, d);
	assert_int_equal(c->flags, WG_DEVICE_HAS_LISTEN_PORT);
	wg_device_free(c);

	/* A device without a key, fwmark or port bit reads as zeros. */
	a->flags = 0;
	d->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_FWMARK;
	memset(d->private_key, 0, WG_KEY_LEN);
	d->fwmark = 0;
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);
}

static void test_duplicate_keys(void **state)
{
	struct wg_device *a, *d, *c = NULL;

	make_pair(&a, &d);
	add_desired(d, 2, "10.2.0.0/16");
	assert_int_equal(wgdiff_compute(a, d, &c), -EINVAL);
	assert_null(c);
	d->n_peers--;
	wg_peer_done(&d->peers[d->n_peers]);
	add_actual(a, 1, NULL);
	assert_int_equal(wgdiff_compute(a, d, &c), -EINVAL);
	assert_null(c);
	wg_device_free(a);
	wg_device_free(d);
}

/* A device never holds a peer with its own public key (wireguard-go drops it silently). */
static void test_own_key_peer(void **state)
{
	/* A key pair as `wg show dump` printed it for a wireguard-go device. */
	static const char priv_b64[] = "uCx/J4o6XGx8W3lcNnVGpVhvKuBFt0AnMDSQjEwP0Hc=";
	static const char pub_b64[] = "WBd5Y3jWjAoLEPFRejkYsfHqrb9CGlIrVuVLxhv5G0M=";
	struct wg_device *a, *d, *c;
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	struct wg_peer *p;

	assert_int_equal(wg_key_from_base64(priv_b64, priv), 0);
	assert_int_equal(wg_key_from_base64(pub_b64, pub), 0);

	/* The device has the key; desired also lists a peer with its public key. */
	make_pair(&a, &d);
	memcpy(a->private_key, priv, WG_KEY_LEN);
	memcpy(a->public_key, pub, WG_KEY_LEN);
	memcpy(d->private_key, priv, WG_KEY_LEN);
	assert_int_equal(wg_device_add_peer(d, pub, &p), 0);
	c = diff(a, d);
	assert_true(wgdiff_is_empty(c));
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);

	/* The key changes to one whose public key a current peer has: that peer goes. */
	make_pair(&a, &d);
	memcpy(d->private_key, priv, WG_KEY_LEN);
	assert_int_equal(wg_device_add_peer(a, pub, &p), 0);
	assert_int_equal(wg_device_add_peer(d, pub, &p), 0);
	c = diff(a, d);
	assert_int_equal(c->flags, WG_DEVICE_HAS_PRIVATE_KEY);
	assert_int_equal(c->n_peers, 1);
	assert_memory_equal(c->peers[0].public_key, pub, WG_KEY_LEN);
	assert_int_equal(c->peers[0].flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REMOVE_ME);
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peer i's prefixes; every 1000th has a /112, read back masked or written with host bits. */
static void fmt_ips(char *buf, size_t len, uint32_t i, bool as_written)
{
	if (i % 1000)
		snprintf(buf, len, "10.%u.%u.%u/32,fd00::%x:%x/128", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255, i >> 16, i & 0xffff);
	else
		snprintf(buf, len, "10.%u.%u.%u/32,fd00::%x:%x/112", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255, i >> 16, as_written ? (i & 0xffff) : 0);
}

static uint32_t id_of(const struct wg_peer *p)
{
	uint32_t id;

	memcpy(&id, p->public_key + 8, sizeof(id));
	return id;
}

/* The kernel lists peers in insertion order: additions must keep the file's order. */
static void test_emits_in_desired_order(void **state)
{
	struct wg_device *a = new_device(), *d = new_device(), *c;
	const int order[] = {9, 1, 5, 3, 7};

	add_actual(a, 3, "10.0.3.0/24");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		add_desired(d, order[i], order[i] == 3 ? "10.0.33.0/24" : NULL);
	c = diff(a, d);
	assert_int_equal(c->n_peers, 5);
	for (size_t i = 0; i < c->n_peers; i++)
		assert_memory_equal(c->peers[i].public_key, d->peers[i].public_key, WG_KEY_LEN);
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);
}

static void test_large(void **state)
{
	const uint32_t n = 50000;
	struct wg_device *a = new_device(), *d = new_device(), *c = NULL;
	char ips[128], swapped[sizeof(ips) + 1];
	uint32_t removed = 0, seen = 0;
	double t;

	/* Actual in key-number order, as read back (masked). */
	for (uint32_t i = 0; i < n; i++) {
		fmt_ips(ips, sizeof(ips), i, false);
		set_endpoint(add_actual(a, i, ips), "192.0.2.1:51820");
	}
	/* Desired permuted (7919 is prime, n = 2^4 5^5), prefixes reversed, host bits set. */
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = (k * 7919) % n;
		char *comma;

		fmt_ips(ips, sizeof(ips), i, true);
		comma = strchr(ips, ',');
		*comma = '\0';
		snprintf(swapped, sizeof(swapped), "%s,%s", comma + 1, ips);
		set_endpoint(add_desired(d, i, swapped), "192.0.2.1:51820");
	}

	/* Nothing changed yet. */
	t = now();
	assert_int_equal(wgdiff_compute(a, d, &c), 0);
	t = now() - t;
	print_message("diffed %u unchanged peers in %.1f ms\n", n, t * 1e3);
	assert_true(wgdiff_is_empty(c));
	c = wg_device_free(c);

	/* Remove 3, add 2, move 1 endpoint, change 1 IP set, set 1 psk. */
	for (size_t k = 0; k < d->n_peers; k++) {
		struct wg_peer *p = &d->peers[k];
		uint32_t id = id_of(p);

		if (id == 10 || id == 20000 || id == 49999) {
			wg_peer_done(p);
			*p = d->peers[--d->n_peers];
			k--;
		} else if (id == 123) {
			set_endpoint(p, "192.0.2.2:51820");
		} else if (id == 4567) {
			p->ips[0].cidr = 127; /* fd00::0:11d7/127 is not fd00::0:11d7/128 */
		} else if (id == 31000) {
			memset(p->preshared_key, 7, WG_KEY_LEN);
			p->flags |= WG_PEER_HAS_PRESHARED_KEY;
		}
	}
	add_desired(d, n + 1, "10.255.0.1");
	add_desired(d, n + 2, "10.255.0.2");

	t = now();
	assert_int_equal(wgdiff_compute(a, d, &c), 0);
	t = now() - t;
	print_message("diffed %u against %zu peers, 8 changes, in %.1f ms\n", n, d->n_peers,
		      t * 1e3);

	assert_int_equal(c->flags, 0);
	assert_int_equal(c->n_peers, 8);
	for (size_t k = 0; k < c->n_peers; k++) {
		const struct wg_peer *p = &c->peers[k];
		uint32_t id = id_of(p);

		if (p->flags & WG_PEER_REMOVE_ME) {
			assert_true(k < 3); /* removals first */
			assert_true(id == 10 || id == 20000 || id == 49999);
			assert_int_equal(p->flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REMOVE_ME);
			removed++;
		} else if (id == 123) {
			assert_int_equal(p->flags, WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_ENDPOINT);
			seen |= 1;
		} else if (id == 4567) {
			assert_int_equal(p->flags,
					 WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS);
			assert_ips(p, "fd00::11d7/127,10.0.17.215/32");
			seen |= 2;
		} else if (id == 31000) {
			assert_int_equal(p->flags,
					 WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_PRESHARED_KEY);
			assert_int_equal(p->preshared_key[0], 7);
			seen |= 4;
		} else if (id == n + 1 || id == n + 2) {
			assert_int_equal(p->flags,
					 WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REPLACE_ALLOWEDIPS);
			assert_int_equal(p->n_ips, 1);
			seen |= id == n + 1 ? 8 : 16;
		} else
			fail_msg("unexpected peer %u in the change", id);
	}
	assert_int_equal(removed, 3);
	assert_int_equal(seen, 31);
	wg_device_free(c);
	wg_device_free(a);
	wg_device_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_add_and_remove),
		cmocka_unit_test(test_change_each_field),
		cmocka_unit_test(test_absent_fields_left_alone),
		cmocka_unit_test(test_device_fields),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_own_key_peer),
		cmocka_unit_test(test_emits_in_desired_order),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
