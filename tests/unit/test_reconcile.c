// SPDX-License-Identifier: MIT
/* The pure part of the agent's reconcile (agent/reconcile.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "reconcile.h"
#include "state_codec.h"
#include "wgdiff.h"

static void key(uint8_t k[WG_KEY_LEN], uint8_t b)
{
	memset(k, b, WG_KEY_LEN);
}

static struct state_peer mkpeer(uint8_t b, const char *a4)
{
	struct state_peer p = {0};

	key(p.public_key, b);
	assert_int_equal(wg_allowedip_parse(a4, &p.addrs[0]), 0);
	p.n_addrs = 1;
	p.persistent_keepalive = 25;
	return p;
}

static void test_desired_peer(void **s)
{
	struct wg_device *dev = NULL;
	struct state_peer p = mkpeer(1, "10.0.0.2"), q = mkpeer(2, "10.0.0.3");

	(void)s;
	q.flags = STATE_PEER_DISABLED;
	p.flags = STATE_PEER_HAS_PRESHARED_KEY;
	key(p.preshared_key, 7);
	assert_int_equal(wg_device_new("wg0", &dev), 0);
	assert_int_equal(reconcile_desired_peer(dev, &p), 0);
	assert_int_equal(reconcile_desired_peer(dev, &q), 0); /* disabled: not on the device */
	assert_int_equal(dev->n_peers, 1);
	assert_true(dev->peers[0].flags & WG_PEER_HAS_PRESHARED_KEY);
	assert_true(dev->peers[0].flags & WG_PEER_HAS_KEEPALIVE);
	assert_int_equal(dev->peers[0].preshared_key[0], 7);
	assert_int_equal(dev->peers[0].n_ips, 1);
	assert_int_equal(dev->peers[0].ips[0].cidr, 32);
	wg_device_free(dev);
}

/* actual: A (right), B (wrong allowed IP), S (stray); desired: A, B, C (missing). */
static void test_classify(void **s)
{
	struct wg_device *actual = NULL, *desired = NULL, *change = NULL;
	struct state_peer a = mkpeer(1, "10.0.0.2"), b = mkpeer(2, "10.0.0.3"),
			  c = mkpeer(3, "10.0.0.4"), bw = mkpeer(2, "10.0.0.9"),
			  st = mkpeer(9, "10.0.0.10");
	struct reconcile_repairs rep = {0};

	(void)s;
	assert_int_equal(wg_device_new("wg0", &actual), 0);
	assert_int_equal(wg_device_new("wg0", &desired), 0);
	assert_int_equal(reconcile_desired_peer(actual, &a), 0);
	assert_int_equal(reconcile_desired_peer(actual, &bw), 0);
	assert_int_equal(reconcile_desired_peer(actual, &st), 0);
	assert_int_equal(reconcile_desired_peer(desired, &a), 0);
	assert_int_equal(reconcile_desired_peer(desired, &b), 0);
	assert_int_equal(reconcile_desired_peer(desired, &c), 0);
	assert_int_equal(wgdiff_compute(actual, desired, &change), 0);
	reconcile_classify(actual, change, &rep);
	assert_int_equal(rep.readded, 1);
	assert_int_equal(rep.removed, 1);
	assert_int_equal(rep.fixed, 1);
	assert_int_equal(change->n_peers, 3); /* A untouched: incremental */
	wg_device_free(change);
	assert_int_equal(wgdiff_compute(desired, desired, &change), 0);
	assert_true(wgdiff_is_empty(change));
	wg_device_free(change);
	wg_device_free(actual);
	wg_device_free(desired);
}

static void test_device_reset(void **s)
{
	struct state_model *m = NULL;
	struct state_txn *txn = NULL;
	struct wg_device *dev = NULL;
	struct state_peer p = mkpeer(1, "10.0.0.2"), q = mkpeer(2, "10.0.0.3");
	struct state_counters c = {.last_rx = 100, .last_tx = 50, .total_rx = 100, .total_tx = 50};
	const uint8_t *payload;
	size_t len;

	(void)s;
	assert_int_equal(state_model_new(&m), 0);
	assert_int_equal(state_txn_new(&txn), 0);
	assert_int_equal(state_txn_peer_put(txn, &p, 0), 0);
	assert_int_equal(state_txn_peer_put(txn, &q, 0), 0);
	assert_int_equal(state_txn_counters(txn, p.public_key, &c), 0);
	assert_int_equal(state_txn_counters(txn, q.public_key, &c), 0);
	payload = state_txn_payload(txn, &len);
	assert_int_equal(state_model_apply(m, payload, len, false, NULL), 0);
	state_model_settle(m);

	assert_int_equal(wg_device_new("wg0", &dev), 0);
	dev->ifindex = 5;
	dev->listen_port = 51820;
	assert_int_equal(reconcile_desired_peer(dev, &p), 0);
	assert_int_equal(reconcile_desired_peer(dev, &q), 0);
	dev->peers[0].rx_bytes = 200; dev->peers[0].tx_bytes = 60;
	dev->peers[1].rx_bytes = 10; dev->peers[1].tx_bytes = 0;
	assert_false(reconcile_device_reset(false, 1, 1, dev, m)); /* first pass */
	assert_true(reconcile_device_reset(true, 4, 51820, dev, m)); /* new ifindex */
	assert_true(reconcile_device_reset(true, 5, 51821, dev, m)); /* new port */
	assert_false(reconcile_device_reset(true, 5, 51820, dev, m)); /* one peer dropped */
	dev->peers[0].rx_bytes = 0; dev->peers[0].tx_bytes = 0;
	assert_true(reconcile_device_reset(true, 5, 51820, dev, m)); /* all dropped */
	wg_device_free(dev);
	state_txn_free(txn);
	state_model_free(m);
}

/* Two changes hold the same peers, in the same order, with the same fields. */
static void assert_same_change(const struct wg_device *x, const struct wg_device *y)
{
	assert_int_equal(x->n_peers, y->n_peers);
	for (size_t i = 0; i < x->n_peers; i++) {
		const struct wg_peer *a = &x->peers[i], *b = &y->peers[i];

		assert_memory_equal(a->public_key, b->public_key, WG_KEY_LEN);
		assert_int_equal(a->flags, b->flags);
		if (a->flags & WG_PEER_HAS_PRESHARED_KEY)
			assert_memory_equal(a->preshared_key, b->preshared_key, WG_KEY_LEN);
		if (a->flags & WG_PEER_HAS_KEEPALIVE)
			assert_int_equal(a->persistent_keepalive, b->persistent_keepalive);
		assert_int_equal(a->n_ips, b->n_ips);
		for (size_t j = 0; j < a->n_ips; j++)
			assert_int_equal(wg_allowedip_cmp(&a->ips[j], &b->ips[j]), 0);
	}
}

/* reconcile_change() against the record = wgdiff_compute() against the desired device. */
static void test_change(void **s)
{
	struct state_model *m = NULL;
	struct state_txn *txn = NULL;
	struct wg_device *actual = NULL, *desired = NULL, *want = NULL, *got = NULL;
	struct state_peer same = mkpeer(1, "10.0.0.2"), missing = mkpeer(2, "10.0.0.3"),
			  off = mkpeer(3, "10.0.0.4"), moved = mkpeer(4, "10.0.0.5"),
			  psk = mkpeer(5, "10.0.0.6"), ka = mkpeer(6, "10.0.0.7"),
			  two = mkpeer(7, "10.0.0.8"), self = mkpeer(8, "10.0.0.9"),
			  stray = mkpeer(9, "10.0.0.10"), dev_moved = moved, dev_psk = psk,
			  dev_ka = ka;
	struct wg_peer *tp;
	const struct state_peer *p;
	const uint8_t *payload;
	size_t len, it = 0;

	(void)s;
	off.flags = STATE_PEER_DISABLED;
	psk.flags = STATE_PEER_HAS_PRESHARED_KEY;
	key(psk.preshared_key, 0x55);
	ka.persistent_keepalive = 0;
	assert_int_equal(wg_allowedip_parse("fd99::8", &two.addrs[1]), 0);
	two.n_addrs = 2;
	assert_int_equal(wg_allowedip_parse("10.0.0.50", &dev_moved.addrs[0]), 0);

	assert_int_equal(state_model_new(&m), 0);
	assert_int_equal(state_txn_new(&txn), 0);
	const struct state_peer *rec[] = {&same, &missing, &off, &moved, &psk, &ka, &two, &self};
	for (size_t i = 0; i < sizeof(rec) / sizeof(rec[0]); i++)
		assert_int_equal(state_txn_peer_put(txn, rec[i], 0), 0);
	payload = state_txn_payload(txn, &len);
	assert_int_equal(state_model_apply(m, payload, len, false, NULL), 0);
	state_model_settle(m);

	/* The device: the right, wrong and extra peers; two's addresses reversed, doubled. */
	assert_int_equal(wg_device_new("wg0", &actual), 0);
	actual->flags |= WG_DEVICE_HAS_PUBLIC_KEY;
	memcpy(actual->public_key, self.public_key, WG_KEY_LEN);
	off.flags = 0;
	const struct state_peer *dev[] = {&stray, &same, &off, &dev_moved, &dev_psk, &dev_ka};
	for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
		assert_int_equal(reconcile_desired_peer(actual, dev[i]), 0);
	assert_int_equal(wg_device_add_peer(actual, two.public_key, &tp), 0);
	tp->flags |= WG_PEER_HAS_KEEPALIVE | WG_PEER_HAS_PRESHARED_KEY;
	tp->persistent_keepalive = 25;
	for (int k = 0; k < 2; k++)
		for (int j = 1; j >= 0; j--) {
			struct wg_allowedip ip = two.addrs[j];

			ip.cidr = ip.family == AF_INET ? 32 : 128;
			assert_int_equal(wg_peer_add_allowedip(tp, &ip), 0);
		}

	assert_int_equal(wg_device_new("wg0", &desired), 0);
	while ((p = state_model_peer_next(m, &it)))
		assert_int_equal(reconcile_desired_peer(desired, p), 0);
	assert_int_equal(wgdiff_compute(actual, desired, &want), 0);
	assert_int_equal(reconcile_change(actual, m, &got), 0);
	assert_int_equal(got->n_peers, 6); /* stray, off, missing, moved, psk, ka */
	assert_same_change(want, got);
	wg_device_free(want);
	wg_device_free(got);
	want = got = NULL;

	/* An empty device gets everything; a converged one nothing. */
	wg_device_clear_peers(actual);
	assert_int_equal(wgdiff_compute(actual, desired, &want), 0);
	assert_int_equal(reconcile_change(actual, m, &got), 0);
	assert_same_change(want, got);
	wg_device_free(got);
	got = NULL;
	assert_int_equal(reconcile_change(desired, m, &got), 0);
	assert_true(wgdiff_is_empty(got));

	wg_device_free(want);
	wg_device_free(got);
	wg_device_free(desired);
	wg_device_free(actual);
	state_txn_free(txn);
	state_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_desired_peer),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_device_reset),
		cmocka_unit_test(test_change),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
