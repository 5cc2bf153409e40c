// SPDX-License-Identifier: MIT
/*
 * The agent's job API (docs/api.md): routes, request validation and the write path.
 * Every write validates the whole request first, then changes the pools, commits ONE
 * journal frame, and only then touches the device; a refused pool change or a failed
 * commit rolls the pools back, and a failed device change leaves the device to reconcile
 * (the journal is the desired state, so it never claims what the device will not get).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "daemon.h"
#include "http.h"
#include "ippool.h"
#include "state.h"
#include "state_codec.h"
#include "wgctl.h"

#define ROLE_CONTROLLER (1U << 0)
/* A PUT of 50,000 peers is ~6 MB of JSON. */
#define API_MAX_BODY (16U << 20)

struct peer_req {
	uint8_t key[WG_KEY_LEN];
	uint8_t psk[WG_KEY_LEN];
	bool psk_set;  /* the field was given: a key, or null to remove it */
	bool has_keepalive;
	uint16_t keepalive;
	bool has_addrs;
	struct wg_allowedip addrs[STATE_ADDRS_MAX];
	size_t n_addrs;
};

static void peer_req_wipe(struct peer_req *p)
{
	wg_key_wipe(p->psk, sizeof(p->psk));
}

/* 400 invalid_value naming the field as "where.name": reason. */
static int bad_value(struct http_error *err, const char *reason, const char *where, const char *name)
{
	err->status = 400;
	err->code = "invalid_value";
	snprintf(err->message, sizeof(err->message), "%s%s%s: %s", where ? where : "",
		 where ? "." : "", name, reason);
	return -EINVAL;
}

static bool prefix_contains(const struct wg_allowedip *prefix, const struct wg_allowedip *a)
{
	const uint8_t *p = (const uint8_t *)&prefix->ip6, *x = (const uint8_t *)&a->ip6;
	unsigned bits = prefix->cidr;

	if (prefix->family != a->family)
		return false;
	for (unsigned i = 0; bits > 0; i++, bits = bits >= 8 ? bits - 8 : 0) {
		uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));

		if ((p[i] & mask) != (x[i] & mask))
			return false;
	}
	return true;
}

static int parse_key(const json_t *v, uint8_t key[static WG_KEY_LEN], const char *where,
		     const char *name, struct http_error *err)
{
	if (wg_key_from_base64(json_string_value(v), key) < 0)
		return bad_value(err, "not a base64 WireGuard key", where, name);
	return 0;
}

/* Fields of one peer; a POST adds job_id. */
static const struct http_field peer_fields[] = {
	{"public_key", HTTP_FIELD_STRING, HTTP_FIELD_REQUIRED},
	{"preshared_key", HTTP_FIELD_STRING, HTTP_FIELD_NULLABLE},
	{"persistent_keepalive", HTTP_FIELD_INTEGER, 0},
	{"addresses", HTTP_FIELD_ARRAY, 0},
	{"job_id", HTTP_FIELD_STRING, 0},
};

static int parse_peer(const struct daemon *d, const json_t *obj, const char *where,
		      struct peer_req *ret, struct http_error *err)
{
	struct peer_req p = {0};
	const json_t *v, *a;
	size_t i;
	int r;

	r = parse_key(json_object_get(obj, "public_key"), p.key, where, "public_key", err);
	if (r < 0)
		goto out;
	v = json_object_get(obj, "preshared_key");
	if (v) {
		p.psk_set = true;
		if (!json_is_null(v)) {
			r = parse_key(v, p.psk, where, "preshared_key", err);
			if (r == 0 && wg_key_is_zero(p.psk))
				r = bad_value(err, "all zeros (use null for none)", where,
					      "preshared_key");
			if (r < 0)
				goto out;
		}
	}
	v = json_object_get(obj, "persistent_keepalive");
	if (v) {
		json_int_t k = json_integer_value(v);

		if (k < 0 || k > 65535) {
			r = bad_value(err, "must be 0..65535", where, "persistent_keepalive");
			goto out;
		}
		p.has_keepalive = true;
		p.keepalive = (uint16_t)k;
	}
	v = json_object_get(obj, "addresses");
	if (v) {
		p.has_addrs = true;
		json_array_foreach(v, i, a) {
			struct wg_allowedip ip;
			const char *s = json_string_value(a);
			bool known = false;

			if (!s || wg_allowedip_parse(s, &ip) < 0 ||
			    ip.cidr != (ip.family == AF_INET ? 32 : 128)) {
				r = bad_value(err, "each must be one IPv4 or IPv6 address", where,
					      "addresses");
				goto out;
			}
			for (size_t j = 0; j < p.n_addrs; j++)
				if (p.addrs[j].family == ip.family) {
					r = bad_value(err, "at most one address per family",
						      where, "addresses");
					goto out;
				}
			for (size_t j = 0; j < d->cfg->n_pools; j++)
				known |= prefix_contains(&d->cfg->pools[j], &ip);
			if (!known) {
				r = bad_value(err, "an address outside every pool", where,
					      "addresses");
				goto out;
			}
			p.addrs[p.n_addrs++] = ip;
		}
	}
	*ret = p;
out:
	peer_req_wipe(&p);
	return r;
}

static json_t *addrs_json(const struct wg_allowedip *addrs, size_t n)
{
	json_t *arr = json_array();
	char buf[WG_ALLOWEDIP_STRLEN];

	for (size_t i = 0; arr && i < n; i++) {
		struct wg_allowedip a = addrs[i];

		a.cidr = a.family == AF_INET ? 32 : 128;
		wg_allowedip_format(&a, buf);
		if (json_array_append_new(arr, json_string(buf)) < 0)
			arr = (json_decref(arr), NULL);
	}
	return arr;
}

static const char *key_b64(const uint8_t key[static WG_KEY_LEN], char buf[static WG_KEY_B64_LEN])
{
	wg_key_to_base64(buf, key);
	return buf;
}

/*
 * A peer as the API shows it; live (may be NULL) is the device's view of it. The byte totals
 * are the recorded ones: counters_record() has put the live sample in the journal first.
 */
static json_t *peer_json(const struct state_peer *p, const struct wg_peer *live)
{
	char b64[WG_KEY_B64_LEN], ep[WG_ENDPOINT_STRLEN];
	struct state_counters c = p->counters;

	if (live && live->endpoint.addr.sa_family != AF_UNSPEC)
		wg_endpoint_format(&live->endpoint, ep);
	return json_pack("{s:s, s:o, s:b, s:i, s:b, s:I, s:I, s:o, s:I, s:I, s:I, s:b}",
			 "public_key", key_b64(p->public_key, b64),
			 "addresses", addrs_json(p->addrs, p->n_addrs),
			 "preshared_key", (p->flags & STATE_PEER_HAS_PRESHARED_KEY) != 0,
			 "persistent_keepalive", (int)p->persistent_keepalive,
			 "disabled", (p->flags & STATE_PEER_DISABLED) != 0,
			 "created", (json_int_t)p->created, "updated", (json_int_t)p->updated,
			 "endpoint", live && live->endpoint.addr.sa_family != AF_UNSPEC ?
					     json_string(ep) : json_null(),
			 "latest_handshake", (json_int_t)(live ? live->last_handshake_sec : 0),
			 "rx_bytes", (json_int_t)c.total_rx, "tx_bytes", (json_int_t)c.total_tx,
			 "on_device", live != NULL);
}

/* A failed commit: pools back to the record; a broken journal stops the daemon. */
static int commit_failed(struct daemon *d, int r, const char *what)
{
	daemon_log(d, AGENTCONF_LOG_ERROR, "cannot record %s: %s", what, strerror(-r));
	if (daemon_pools_rebuild(d) < 0 || r == -EIO) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "the state can no longer be trusted; exiting");
		daemon_fatal(d);
	}
	return r;
}

static bool addr_equal(const struct wg_allowedip *a, const struct wg_allowedip *b)
{
	return a->family == b->family && !memcmp(&a->ip6, &b->ip6, a->family == AF_INET ? 4 : 16);
}

/*
 * Take an address from the pool of each family: the requested one, else the one old (the
 * peer as recorded, NULL for a new peer) already has there, else the next free. The caller
 * releases the addresses of old that p no longer lists.
 */
static int take_addrs(struct daemon *d, const struct peer_req *req, const struct state_peer *old,
		      uint64_t now, struct state_peer *p, struct http_error *err)
{
	int r = 0;

	p->n_addrs = 0;
	for (size_t i = 0; i < d->n_pools && r == 0; i++) {
		const struct wg_allowedip *want = NULL, *have = NULL;
		struct wg_allowedip got;

		for (size_t j = 0; j < req->n_addrs; j++)
			if (req->addrs[j].family == ippool_prefix(d->pools[i])->family)
				want = &req->addrs[j];
		for (size_t j = 0; old && j < old->n_addrs; j++)
			if (daemon_pool_index(d, &old->addrs[j]) == (int)i)
				have = &old->addrs[j];
		if (have && (!want || addr_equal(want, have))) {
			got = *have; /* already the peer's in the pool: nothing to take */
		} else if (want) {
			r = ippool_claim(d->pools[i], want, now);
			got = *want;
		} else {
			r = ippool_alloc(d->pools[i], now, &got);
		}
		if (r == 0) {
			got.cidr = got.family == AF_INET ? 32 : 128;
			p->addrs[p->n_addrs++] = got;
		}
	}
	if (r == -ENOSPC) {
		err->status = 507;
		err->code = "pool_exhausted";
		snprintf(err->message, sizeof(err->message), "no free address left in a pool");
	} else if (r == -EADDRINUSE || r == -EADDRNOTAVAIL) {
		err->status = 409;
		err->code = r == -EADDRINUSE ? "address_in_use" : "address_unavailable";
		snprintf(err->message, sizeof(err->message), "%s",
			 r == -EADDRINUSE ? "a requested address is taken or in quarantine"
					  : "a requested address is reserved");
	}
	return r;
}

static json_t *post_answer(const struct daemon *d, const struct state_peer *p, bool created)
{
	char b64[WG_KEY_B64_LEN], srv[WG_KEY_B64_LEN];

	return json_pack("{s:s, s:o, s:i, s:b, s:b, s:s, s:s}", "public_key",
			 key_b64(p->public_key, b64), "addresses", addrs_json(p->addrs, p->n_addrs),
			 "persistent_keepalive", (int)p->persistent_keepalive, "preshared_key",
			 (p->flags & STATE_PEER_HAS_PRESHARED_KEY) != 0, "created", created,
			 "server_public_key", key_b64(d->public_key, srv), "endpoint",
			 d->cfg->endpoint.text);
}

/* Every requested address is already the peer's (asking for fewer is not a change). */
static bool same_addrs(const struct state_peer *p, const struct peer_req *req)
{
	for (size_t i = 0; i < req->n_addrs; i++) {
		bool found = false;

		for (size_t j = 0; j < p->n_addrs; j++)
			found |= p->addrs[j].family == req->addrs[i].family &&
				 !memcmp(&p->addrs[j].ip6, &req->addrs[i].ip6,
					 p->addrs[j].family == AF_INET ? 4 : 16);
		if (!found)
			return false;
	}
	return true;
}

static void apply_req(struct state_peer *p, const struct peer_req *req)
{
	if (req->psk_set) {
		memcpy(p->preshared_key, req->psk, WG_KEY_LEN);
		if (wg_key_is_zero(req->psk))
			p->flags &= ~(uint32_t)STATE_PEER_HAS_PRESHARED_KEY;
		else
			p->flags |= STATE_PEER_HAS_PRESHARED_KEY;
	}
	if (req->has_keepalive)
		p->persistent_keepalive = req->keepalive;
}

static void pools_give_back(struct daemon *d, const struct state_peer *p, uint64_t now)
{
	/* An address taken for a request that then failed was never used: free at once. */
	for (size_t i = 0; i < p->n_addrs; i++) {
		int k = daemon_pool_index(d, &p->addrs[i]);

		if (k >= 0 && ippool_release(d->pools[k], &p->addrs[i], 0) == 0)
			ippool_expire(d->pools[k], now);
	}
}

/* A peer object's optional "job_id" (its type checked by the schema): *ret NULL when absent,
 * else 1..STATE_JOB_ID_MAX bytes. */
static int parse_job_id(const json_t *peer, const char *where, const char **ret,
                        struct http_error *err)
{
	const char *job = json_string_value(json_object_get(peer, "job_id"));

	if (job && (!*job || strlen(job) > STATE_JOB_ID_MAX))
		return bad_value(err, "1..128 bytes", where, "job_id");
	*ret = job;
	return 0;
}

static int h_post_peers(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	struct http_error err = {0};
	struct peer_req pr = {0};
	struct state_peer np = {0};
	struct state_txn *txn = NULL;
	const struct state_peer *old;
	const char *job = NULL;
	json_t *body = NULL, *answer = NULL;
	char *text = NULL;
	uint64_t now = daemon_now();
	bool created = false, locked = false;
	int r;

	r = http_json_parse_object(req->body, req->body_len, peer_fields, ARRAY_SIZE(peer_fields),
				   &body, &err);
	if (r == 0)
		r = parse_peer(d, body, NULL, &pr, &err);
	if (r == 0)
		r = parse_job_id(body, NULL, &job, &err);
	if (r < 0) {
		r = http_respond_error_from(resp, &err);
		goto out;
	}
	r = state_txn_new(&txn);
	if (r < 0)
		goto out;
	pthread_mutex_lock(&d->lock);
	locked = true;
	if (job) {
		const uint8_t *a;
		size_t alen;

		if (state_job_get(d->st, job, strlen(job), &a, &alen) == 0) {
			/* A replay: the first answer, whatever this request says. */
			r = http_respond_text(resp, 200, "application/json", a, alen);
			goto out;
		}
	}
	old = state_peer_get(d->st, pr.key);
	if (old) {
		if (pr.has_addrs && !same_addrs(old, &pr)) {
			r = http_respond_error(resp, 409, "addresses_differ",
					       "the peer exists with other addresses");
			goto out;
		}
		np = *old;
		np.updated = now;
	} else {
		memcpy(np.public_key, pr.key, WG_KEY_LEN);
		np.created = np.updated = now;
		r = take_addrs(d, &pr, NULL, now, &np, &err);
		if (r < 0) {
			pools_give_back(d, &np, now);
			r = err.code ? http_respond_error_from(resp, &err) : r;
			goto out;
		}
		created = true;
	}
	apply_req(&np, &pr);
	answer = post_answer(d, &np, created);
	text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
	if (!text) {
		r = -ENOMEM;
		goto undo;
	}
	r = state_txn_peer_put(txn, &np, now + d->cfg->quarantine_sec);
	if (r == 0 && job)
		r = state_txn_job_put(txn, job, strlen(job), text, strlen(text), now);
	if (r < 0)
		goto undo;
	r = state_commit(d->st, txn);
	if (r < 0) {
		commit_failed(d, r, "a peer");
		goto out;
	}
	daemon_device_peer_put(d, &np);
	{
		char b64[WG_KEY_B64_LEN];

		daemon_log(d, AGENTCONF_LOG_INFO, "peer %s %s%s%s", key_b64(np.public_key, b64),
			   created ? "created" : "updated", job ? " for job " : "", job ? job : "");
	}
	r = http_respond_text(resp, created ? 201 : 200, "application/json", text, strlen(text));
	goto out;
undo:
	if (created)
		pools_give_back(d, &np, now);
out:
	if (locked)
		pthread_mutex_unlock(&d->lock);
	wg_key_wipe(np.preshared_key, sizeof(np.preshared_key));
	peer_req_wipe(&pr);
	free(text);
	json_decref(answer);
	json_decref(body);
	state_txn_free(txn);
	return r;
}

#define BATCH_MAX 1024

static const struct http_field batch_fields[] = {
	{"peers", HTTP_FIELD_ARRAY, HTTP_FIELD_REQUIRED},
};

/* One item of POST /v1/peers/batch and what the handler decided for it. */
struct batch_item {
	struct peer_req req;
	const char *job; /* in the parsed body; NULL: none */
	enum { ITEM_UNDECIDED, ITEM_CREATE, ITEM_UPDATE, ITEM_REPLAY } kind;
	struct state_peer np; /* CREATE/UPDATE: the peer as it will be recorded */
	json_t *answer;       /* the item's answer object */
};

static void batch_items_free(struct batch_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++) {
		peer_req_wipe(&items[i].req);
		wg_key_wipe(items[i].np.preshared_key, sizeof(items[i].np.preshared_key));
		json_decref(items[i].answer);
	}
	free(items);
}

static int item_key_cmp(const void *a, const void *b)
{
	const struct batch_item *x = *(const struct batch_item *const *)a;
	const struct batch_item *y = *(const struct batch_item *const *)b;

	return memcmp(x->req.key, y->req.key, WG_KEY_LEN);
}

static int item_job_cmp(const void *a, const void *b)
{
	const struct batch_item *x = *(const struct batch_item *const *)a;
	const struct batch_item *y = *(const struct batch_item *const *)b;

	return strcmp(x->job ? x->job : "", y->job ? y->job : "");
}

/*
 * A key or job id listed twice: both lists are sorted copies of the request order, so the
 * message can name the two items (the later one is at fault).
 */
static int batch_twice(const struct batch_item *items, size_t n, bool job, struct http_error *err)
{
	const struct batch_item **by = calloc(n, sizeof(*by));
	char where[32], reason[64];
	int r = 0;

	if (!by)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		by[i] = &items[i];
	qsort(by, n, sizeof(*by), job ? item_job_cmp : item_key_cmp);
	for (size_t i = 1; i < n && r == 0; i++) {
		const struct batch_item *a = by[i - 1], *b = by[i];
		bool same = job ? a->job && !item_job_cmp(&by[i - 1], &by[i])
		                : !item_key_cmp(&by[i - 1], &by[i]);

		if (!same)
			continue;
		if (a > b) {
			const struct batch_item *t = a;

			a = b;
			b = t;
		}
		snprintf(where, sizeof(where), "peers[%zu]", (size_t)(b - items));
		snprintf(reason, sizeof(reason), "listed twice (also peers[%zu])",
		         (size_t)(a - items));
		r = bad_value(err, reason, where, job ? "job_id" : "public_key");
	}
	free(by);
	return r;
}

/* Validate a batch body completely: the items in request order in *ret. */
static int parse_batch(const struct daemon *d, const json_t *body, struct batch_item **ret,
                       size_t *ret_n, struct http_error *err)
{
	const json_t *peers = json_object_get(body, "peers"), *v;
	size_t n = json_array_size(peers), i;
	struct batch_item *items = NULL;
	char where[32];
	int r = 0;

	if (n == 0 || n > BATCH_MAX)
		return bad_value(err,
		                 n ? "more than 1024 peers (1..1024 per batch)"
		                   : "empty (1..1024 peers per batch)",
		                 NULL, "peers");
	items = calloc(n, sizeof(*items));
	if (!items)
		return -ENOMEM;
	json_array_foreach(peers, i, v)
	{
		snprintf(where, sizeof(where), "peers[%zu]", i);
		r = http_schema_check(v, peer_fields, ARRAY_SIZE(peer_fields), where, err);
		if (r == 0)
			r = parse_peer(d, v, where, &items[i].req, err);
		if (r == 0)
			r = parse_job_id(v, where, &items[i].job, err);
		if (r < 0)
			goto out;
	}
	r = batch_twice(items, n, false, err);
	if (r == 0)
		r = batch_twice(items, n, true, err);
	if (r < 0)
		goto out;
	*ret = items;
	*ret_n = n;
	items = NULL;
out:
	batch_items_free(items, n);
	return r;
}

/*
 * Decide every item under the lock: a recorded job id is a replay, an existing peer an
 * update (addresses as the single route checks them), a new one takes addresses. Requested
 * addresses are taken before any allocation, so that no allocation takes an address a later
 * item asks for. On a refusal *ret_bad is the item; the caller gives back what was taken.
 */
static int batch_decide(struct daemon *d, struct batch_item *items, size_t n, uint64_t now,
                        size_t *ret_bad, struct http_error *err)
{
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		struct batch_item *it = &items[i];
		const struct state_peer *old;
		const uint8_t *a;
		size_t alen;

		if (it->job && state_job_get(d->st, it->job, strlen(it->job), &a, &alen) == 0) {
			it->kind = ITEM_REPLAY;
			it->answer = json_loadb((const char *)a, alen, 0, NULL);
			r = it->answer ? 0 : -ENOMEM;
			continue;
		}
		old = state_peer_get(d->st, it->req.key);
		if (!old) {
			it->kind = ITEM_CREATE;
			memcpy(it->np.public_key, it->req.key, WG_KEY_LEN);
			it->np.created = it->np.updated = now;
			continue;
		}
		if (it->req.has_addrs && !same_addrs(old, &it->req)) {
			err->status = 409;
			err->code = "addresses_differ";
			snprintf(err->message, sizeof(err->message),
			         "the peer exists with other addresses");
			*ret_bad = i;
			return -EEXIST;
		}
		it->kind = ITEM_UPDATE;
		it->np = *old;
		it->np.updated = now;
	}
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		for (size_t i = 0; i < n && r == 0; i++) {
			struct batch_item *it = &items[i];

			if (it->kind != ITEM_CREATE ||
			    (pass == 0) != (it->req.has_addrs && it->req.n_addrs > 0))
				continue;
			r = take_addrs(d, &it->req, NULL, now, &it->np, err);
			if (r < 0)
				*ret_bad = i;
		}
	}
	return r;
}

/*
 * POST /v1/peers/batch: many POST /v1/peers as one change, all or nothing. Each item is
 * answered as the single route would answer it (and its job id recorded with exactly that
 * answer, so either route replays the other's); all peers and job answers are one journal
 * frame, then the changed peers are one device set.
 */
static int h_post_peers_batch(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	struct http_error err = {0};
	struct batch_item *items = NULL;
	struct state_peer *puts = NULL;
	struct state_txn *txn = NULL;
	json_t *body = NULL, *answers = NULL;
	char *text = NULL;
	uint64_t now = daemon_now();
	size_t n = 0, n_puts = 0, bad = 0, created = 0, updated = 0, replayed = 0;
	bool locked = false;
	int r;

	r = http_json_parse_object(req->body, req->body_len, batch_fields, ARRAY_SIZE(batch_fields),
	                           &body, &err);
	if (r == 0)
		r = parse_batch(d, body, &items, &n, &err);
	if (r < 0) {
		r = err.code ? http_respond_error_from(resp, &err) : r;
		goto out;
	}
	r = state_txn_new(&txn);
	puts = calloc(n, sizeof(*puts));
	answers = json_array();
	if (r == 0 && (!puts || !answers))
		r = -ENOMEM;
	if (r < 0)
		goto out;
	pthread_mutex_lock(&d->lock);
	locked = true;
	r = batch_decide(d, items, n, now, &bad, &err);
	if (r < 0) {
		if (err.code)
			r = http_respond_error(resp, err.status, err.code, "peers[%zu]: %s", bad,
			                       err.message);
		goto undo;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct batch_item *it = &items[i];

		if (it->kind != ITEM_REPLAY) {
			apply_req(&it->np, &it->req);
			it->answer = post_answer(d, &it->np, it->kind == ITEM_CREATE);
			text = it->answer ? json_dumps(it->answer, JSON_COMPACT) : NULL;
			r = text ? state_txn_peer_put(txn, &it->np, now + d->cfg->quarantine_sec)
			         : -ENOMEM;
			if (r == 0 && it->job)
				r = state_txn_job_put(txn, it->job, strlen(it->job), text,
				                      strlen(text), now);
			free(text);
			text = NULL;
			puts[n_puts++] = it->np;
		}
		if (r == 0 && json_array_append(answers, it->answer) < 0)
			r = -ENOMEM;
		created += it->kind == ITEM_CREATE;
		updated += it->kind == ITEM_UPDATE;
		replayed += it->kind == ITEM_REPLAY;
	}
	if (r < 0)
		goto undo;
	r = state_commit(d->st, txn);
	if (r < 0) {
		commit_failed(d, r, "a batch of peers");
		goto out;
	}
	if (n_puts > 0)
		daemon_device_peers_put(d, puts, n_puts);
	daemon_log(d, AGENTCONF_LOG_INFO,
	           "batch of %zu peers: %zu created, %zu updated, %zu replayed", n, created,
	           updated, replayed);
	r = http_respond_json(resp, 200, json_pack("{s:O}", "peers", answers));
	goto out;
undo:
	/* As pools_give_back for one peer: every address taken for this request, freed at once. */
	for (size_t i = 0; i < n; i++)
		if (items[i].kind == ITEM_CREATE)
			pools_give_back(d, &items[i].np, now);
out:
	if (locked)
		pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; puts && i < n; i++)
		wg_key_wipe(puts[i].preshared_key, sizeof(puts[i].preshared_key));
	free(puts);
	batch_items_free(items, n);
	json_decref(answers);
	json_decref(body);
	state_txn_free(txn);
	return r;
}

static int key_param(const struct http_request *req, uint8_t key[static WG_KEY_LEN],
		     struct http_response *resp)
{
	const char *s = http_request_param(req, "public_key");

	if (!s || wg_key_from_base64(s, key) < 0) {
		http_respond_error(resp, 400, "invalid_value",
				   "public_key: not a base64 WireGuard key (percent-encode / + =)");
		return -EINVAL;
	}
	return 0;
}

static int h_delete_peer(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	uint8_t key[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN];
	struct wg_allowedip addrs[STATE_ADDRS_MAX];
	const struct state_peer *p;
	uint64_t now = daemon_now();
	size_t n;
	int r;

	if (key_param(req, key, resp) < 0)
		return 0;
	key_b64(key, b64);
	pthread_mutex_lock(&d->lock);
	p = state_peer_get(d->st, key);
	if (!p) {
		r = http_respond_json(resp, 200, json_pack("{s:s, s:b}", "public_key", b64,
							   "removed", false));
		goto out;
	}
	n = p->n_addrs;
	memcpy(addrs, p->addrs, sizeof(addrs));
	r = state_peer_remove(d->st, key, now + d->cfg->quarantine_sec);
	if (r < 0) {
		commit_failed(d, r, "a removal");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int k = daemon_pool_index(d, &addrs[i]);

		/* Same now, same deadline as the record's quarantine entry. */
		if (k >= 0 && ippool_release(d->pools[k], &addrs[i], now) < 0)
			daemon_pools_rebuild(d);
	}
	daemon_device_peer_remove(d, key);
	daemon_log(d, AGENTCONF_LOG_INFO, "peer %s removed", b64);
	r = http_respond_json(resp, 200, json_pack("{s:s, s:b}", "public_key", b64, "removed", true));
out:
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* The device's peers for live fields; NULL (record only) if it cannot be read. */
static struct wg_device *live_device(struct daemon *d)
{
	struct wg_device *dev = NULL;
	int r = wgctl_get(d->wg, &dev);

	if (r < 0) {
		d->dirty = true;
		daemon_log(d, AGENTCONF_LOG_WARN, "cannot read %s: %s", d->cfg->interface,
			   wgctl_strerror(r));
		return NULL;
	}
	return dev;
}

/*
 * Record the device's counters for peers (all of dev's if key is NULL) before they are shown.
 * A total computed from a live counter but not recorded would be lost if the interface were
 * recreated before the next reconcile pass saved it, and the API would then show a smaller
 * total than it had: totals must never go backwards. On failure the recorded totals (older,
 * never larger than later ones) are shown.
 */
static void counters_record(struct daemon *d, const struct wg_device *dev, const uint8_t *key)
{
	struct state_counter_sample *s;
	size_t n = 0;
	int r;

	if (!dev)
		return;
	s = calloc(dev->n_peers + 1, sizeof(*s));
	if (!s)
		return;
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *a = &dev->peers[i];

		if (key && memcmp(key, a->public_key, WG_KEY_LEN))
			continue;
		memcpy(s[n].public_key, a->public_key, WG_KEY_LEN);
		s[n].rx_bytes = a->rx_bytes;
		s[n].tx_bytes = a->tx_bytes;
		n++;
	}
	r = n ? state_counters_update(d->st, s, n, false) : 0;
	if (r < 0)
		daemon_log(d, AGENTCONF_LOG_WARN, "cannot save traffic counters: %s", strerror(-r));
	free(s);
}

static int h_get_peer(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	struct wg_device *dev = NULL;
	const struct state_peer *p;
	uint8_t key[WG_KEY_LEN];
	int r;

	if (key_param(req, key, resp) < 0)
		return 0;
	pthread_mutex_lock(&d->lock);
	p = state_peer_get(d->st, key);
	if (!p) {
		r = http_respond_error(resp, 404, "not_found", "no such peer");
		goto out;
	}
	dev = live_device(d);
	counters_record(d, dev, key);
	p = state_peer_get(d->st, key); /* the record may have moved */
	r = http_respond_json(resp, 200, peer_json(p, dev ? wg_device_find_peer(dev, key) : NULL));
out:
	pthread_mutex_unlock(&d->lock);
	wg_device_free(dev);
	return r;
}

static int peer_key_cmp(const void *a, const void *b)
{
	return memcmp(((const struct wg_peer *)a)->public_key, ((const struct wg_peer *)b)->public_key,
		      WG_KEY_LEN);
}

static int h_list_peers(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	struct wg_device *dev;
	const struct state_peer *p;
	json_t *arr = json_array();
	size_t it = 0;
	int r = 0;

	(void)req;
	pthread_mutex_lock(&d->lock);
	dev = live_device(d);
	counters_record(d, dev, NULL);
	/* Sorted once, so the lookup per peer is a binary search, not a scan. */
	if (dev && dev->n_peers) /* qsort's array must not be NULL, even for 0 elements */
		qsort(dev->peers, dev->n_peers, sizeof(*dev->peers), peer_key_cmp);
	while (arr && (p = state_peer_next(d->st, &it))) {
		struct wg_peer k, *live = NULL;

		if (dev) {
			memcpy(k.public_key, p->public_key, WG_KEY_LEN);
			live = dev->n_peers ? bsearch(&k, dev->peers, dev->n_peers, sizeof(k),
			                              peer_key_cmp)
			                    : NULL;
		}
		if (json_array_append_new(arr, peer_json(p, live)) < 0)
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&d->lock);
	wg_device_free(dev);
	if (!arr || r < 0) {
		json_decref(arr);
		return -ENOMEM;
	}
	return http_respond_json(resp, 200, json_pack("{s:I, s:o}", "count",
						      (json_int_t)json_array_size(arr), "peers", arr));
}

static int req_key_cmp(const void *a, const void *b)
{
	return memcmp(((const struct peer_req *)a)->key, ((const struct peer_req *)b)->key,
		      WG_KEY_LEN);
}

static const struct http_field put_fields[] = {
	{"generation", HTTP_FIELD_INTEGER, HTTP_FIELD_REQUIRED},
	{"peers", HTTP_FIELD_ARRAY, HTTP_FIELD_REQUIRED},
};

/* Validate a PUT body completely: sorted, distinct requests in *ret. */
static int parse_put(struct daemon *d, const json_t *body, struct peer_req **ret, size_t *ret_n,
		     struct http_error *err)
{
	const json_t *peers = json_object_get(body, "peers"), *v;
	size_t n = json_array_size(peers), i;
	struct peer_req *reqs = calloc(n + 1, sizeof(*reqs));
	char where[32];
	int r = 0;

	if (!reqs)
		return -ENOMEM;
	json_array_foreach(peers, i, v) {
		snprintf(where, sizeof(where), "peers[%zu]", i);
		r = http_schema_check(v, peer_fields, ARRAY_SIZE(peer_fields) - 1, where, err);
		if (r == 0)
			r = parse_peer(d, v, where, &reqs[i], err);
		if (r < 0)
			goto out;
	}
	qsort(reqs, n, sizeof(*reqs), req_key_cmp);
	for (i = 1; i < n; i++)
		if (memcmp(reqs[i - 1].key, reqs[i].key, WG_KEY_LEN) == 0) {
			r = bad_value(err, "a public key listed twice", NULL, "peers");
			goto out;
		}
	*ret = reqs;
	*ret_n = n;
	reqs = NULL;
out:
	if (reqs)
		for (i = 0; i < n; i++)
			peer_req_wipe(&reqs[i]);
	free(reqs);
	return r;
}

static int map_pool_error(int r, struct http_error *err)
{
	if (r == -ENOSPC) {
		err->status = 507;
		err->code = "pool_exhausted";
		snprintf(err->message, sizeof(err->message), "no free address left in a pool");
	} else if (r == -EADDRINUSE || r == -EADDRNOTAVAIL) {
		err->status = 409;
		err->code = r == -EADDRINUSE ? "address_in_use" : "address_unavailable";
		snprintf(err->message, sizeof(err->message), "a requested address is %s",
			 r == -EADDRINUSE ? "taken, requested twice or in quarantine" : "reserved");
	} else {
		return r;
	}
	return 0;
}

/*
 * PUT /v1/peers: the desired full set. Pool changes first (removals, then requested
 * addresses, then allocations, so an allocation never takes an address someone asked
 * for), one frame with every peer change and the generation, then the device diff.
 */
static int h_put_peers(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	struct http_error err = {0};
	struct peer_req *reqs = NULL;
	struct state_txn *txn = NULL;
	const struct state_peer *p;
	json_t *body = NULL, *out_peers = NULL;
	uint64_t now = daemon_now(), dl = now + d->cfg->quarantine_sec, gen;
	size_t n = 0, it = 0, added = 0, removed = 0, updated = 0;
	bool locked = false, pools_touched = false;
	int r;

	r = http_json_parse_object(req->body, req->body_len, put_fields, ARRAY_SIZE(put_fields),
				   &body, &err);
	if (r == 0 && json_integer_value(json_object_get(body, "generation")) < 0)
		r = bad_value(&err, "must be >= 0", NULL, "generation");
	if (r == 0)
		r = parse_put(d, body, &reqs, &n, &err);
	if (r < 0) {
		r = err.code ? http_respond_error_from(resp, &err) : r;
		goto out;
	}
	gen = (uint64_t)json_integer_value(json_object_get(body, "generation"));
	/*
	 * reqs holds all the request says: drop the tree (~3.5 MB at 50,000 peers) before the
	 * record grows, so that the new peers reuse its memory instead of landing among its
	 * pieces, where glibc could never give those pages back.
	 */
	json_decref(body);
	body = NULL;
	r = state_txn_new(&txn);
	out_peers = json_array();
	if (r == 0 && !out_peers)
		r = -ENOMEM;
	if (r < 0)
		goto out;
	pthread_mutex_lock(&d->lock);
	locked = true;
	if (gen < state_generation(d->st)) {
		r = http_respond_error(resp, 409, "stale_generation",
				       "generation %llu is older than the current %llu",
				       (unsigned long long)gen,
				       (unsigned long long)state_generation(d->st));
		goto out;
	}
	pools_touched = true;
	/* 1. Recorded peers absent from the set: removed, addresses to quarantine. */
	while (r == 0 && (p = state_peer_next(d->st, &it))) {
		struct peer_req k;

		memcpy(k.key, p->public_key, WG_KEY_LEN);
		if (bsearch(&k, reqs, n, sizeof(k), req_key_cmp))
			continue;
		r = state_txn_peer_remove(txn, p->public_key, dl);
		for (size_t i = 0; r == 0 && i < p->n_addrs; i++) {
			int pi = daemon_pool_index(d, &p->addrs[i]);

			if (pi >= 0)
				r = ippool_release(d->pools[pi], &p->addrs[i], now);
		}
		removed++;
	}
	/* 2. and 3. Requested addresses first, then the peers that take any free one. */
	for (int pass = 0; pass < 2 && r == 0; pass++) {
		for (size_t i = 0; i < n && r == 0; i++) {
			struct peer_req *q = &reqs[i];
			struct state_peer np = {0};
			const struct state_peer *old = state_peer_get(d->st, q->key);
			bool wants = q->has_addrs && q->n_addrs > 0;

			if ((pass == 0) != (wants || old != NULL))
				continue;
			if (old && (!q->has_addrs || same_addrs(old, q))) {
				np = *old;
				apply_req(&np, q);
				if (np.persistent_keepalive == old->persistent_keepalive &&
				    np.flags == old->flags &&
				    !memcmp(np.preshared_key, old->preshared_key, WG_KEY_LEN)) {
					wg_key_wipe(np.preshared_key, WG_KEY_LEN);
					continue;
				}
				np.updated = now;
				updated++;
			} else if (old) {
				/*
				 * New addresses: take them; the old ones they replace go to
				 * quarantine, a family not asked about keeps its address.
				 */
				np = *old;
				apply_req(&np, q);
				r = take_addrs(d, q, old, now, &np, &err);
				for (size_t j = 0; r == 0 && j < old->n_addrs; j++) {
					int pi = daemon_pool_index(d, &old->addrs[j]);
					bool kept = false;

					for (size_t k = 0; k < np.n_addrs; k++)
						kept |= addr_equal(&np.addrs[k], &old->addrs[j]);
					if (pi >= 0 && !kept)
						r = ippool_release(d->pools[pi], &old->addrs[j], now);
				}
				np.updated = now;
				updated++;
			} else {
				memcpy(np.public_key, q->key, WG_KEY_LEN);
				np.created = np.updated = now;
				apply_req(&np, q);
				r = take_addrs(d, q, NULL, now, &np, &err);
				added++;
			}
			if (r == 0)
				r = state_txn_peer_put(txn, &np, dl);
			wg_key_wipe(np.preshared_key, WG_KEY_LEN);
		}
	}
	if (r == 0)
		r = state_txn_generation(txn, gen);
	if (r < 0) {
		/* Nothing is recorded: the record still describes the pools as they were. */
		if (daemon_pools_rebuild(d) < 0)
			daemon_fatal(d);
		pools_touched = false;
		r = map_pool_error(r, &err) == 0 ? http_respond_error_from(resp, &err) : r;
		goto out;
	}
	r = state_commit(d->st, txn);
	if (r < 0) {
		pools_touched = false; /* commit_failed rebuilds them */
		commit_failed(d, r, "a desired set");
		goto out;
	}
	pools_touched = false;
	daemon_device_sync(d, NULL);
	daemon_log(d, AGENTCONF_LOG_INFO,
		   "desired set, generation %llu: %zu added, %zu removed, %zu updated",
		   (unsigned long long)gen, added, removed, updated);
	for (size_t i = 0; i < n && r == 0; i++) {
		char b64[WG_KEY_B64_LEN];

		p = state_peer_get(d->st, reqs[i].key);
		if (p && json_array_append_new(out_peers,
					       json_pack("{s:s, s:o}", "public_key",
							 key_b64(p->public_key, b64), "addresses",
							 addrs_json(p->addrs, p->n_addrs))) < 0)
			r = -ENOMEM;
	}
	if (r == 0) {
		r = http_respond_json(resp, 200,
				      json_pack("{s:I, s:I, s:I, s:I, s:O}", "generation",
						(json_int_t)gen, "added", (json_int_t)added,
						"removed", (json_int_t)removed, "updated",
						(json_int_t)updated, "peers", out_peers));
	}
out:
	if (pools_touched && daemon_pools_rebuild(d) < 0)
		daemon_fatal(d);
	if (locked)
		pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++)
		peer_req_wipe(&reqs[i]);
	free(reqs);
	json_decref(out_peers);
	json_decref(body);
	state_txn_free(txn);
	return r;
}

/* A /64 has 2^64 - 2 addresses: past JSON's signed range, a number is still a number. */
static json_t *count_json(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

static json_t *pools_json(struct daemon *d)
{
	json_t *arr = json_array();
	char buf[WG_ALLOWEDIP_STRLEN], srv[WG_ALLOWEDIP_STRLEN];

	for (size_t i = 0; arr && i < d->n_pools; i++) {
		struct ippool_stats s;
		struct wg_allowedip a = d->cfg->addresses[i];

		ippool_expire(d->pools[i], daemon_now());
		ippool_get_stats(d->pools[i], &s);
		wg_allowedip_format(ippool_prefix(d->pools[i]), buf);
		a.cidr = a.family == AF_INET ? 32 : 128;
		wg_allowedip_format(&a, srv);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:o}", "prefix",
						     buf, "server_address", srv, "size",
						     count_json(s.size), "used", (json_int_t)s.used,
						     "held", (json_int_t)s.held, "quarantined",
						     (json_int_t)s.quarantined, "free",
						     count_json(s.free)));
	}
	return arr;
}

static int h_info(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	struct state_stats s;
	char b64[WG_KEY_B64_LEN];
	json_t *j;

	(void)req;
	pthread_mutex_lock(&d->lock);
	state_get_stats(d->st, &s);
	j = json_pack("{s:s, s:s, s:s, s:i, s:s, s:o, s:I, s:s, s:I}", "public_key",
		      key_b64(d->public_key, b64), "interface", d->cfg->interface, "backend",
		      wgctl_backend_name(wgctl_backend(d->wg)), "listen_port",
		      (int)d->cfg->listen_port, "endpoint", d->cfg->endpoint.text, "pools",
		      pools_json(d), "peers", (json_int_t)s.peers, "boot_id", d->boot_id,
		      "generation", (json_int_t)s.generation);
	pthread_mutex_unlock(&d->lock);
	return http_respond_json(resp, 200, j);
}

static int h_healthz(const struct http_request *req, struct http_response *resp, void *ud)
{
	(void)req;
	(void)ud;
	return http_respond_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static int h_metrics(const struct http_request *req, struct http_response *resp, void *ud)
{
	struct daemon *d = ud;
	struct state_stats s;
	char *http_text = NULL, *buf = NULL, pfx[WG_ALLOWEDIP_STRLEN];
	size_t http_len = 0, len = 0;
	FILE *f;
	int r;

	(void)req;
	if (d->http) {
		r = http_server_metrics(d->http, &http_text, &http_len);
		if (r < 0)
			return r;
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		free(http_text);
		return -ENOMEM;
	}
	pthread_mutex_lock(&d->lock);
	state_get_stats(d->st, &s);
	fprintf(f, "# TYPE wgfleet_agent_peers gauge\nwgfleet_agent_peers %zu\n", s.peers);
	fprintf(f, "# TYPE wgfleet_agent_pool_size gauge\n# TYPE wgfleet_agent_pool_used gauge\n"
		   "# TYPE wgfleet_agent_pool_held gauge\n# TYPE wgfleet_agent_pool_quarantined gauge\n");
	for (size_t i = 0; i < d->n_pools; i++) {
		struct ippool_stats ps;

		ippool_expire(d->pools[i], daemon_now());
		ippool_get_stats(d->pools[i], &ps);
		wg_allowedip_format(ippool_prefix(d->pools[i]), pfx);
		fprintf(f, "wgfleet_agent_pool_size{pool=\"%s\"} %llu\n", pfx, (unsigned long long)ps.size);
		fprintf(f, "wgfleet_agent_pool_used{pool=\"%s\"} %llu\n", pfx, (unsigned long long)ps.used);
		fprintf(f, "wgfleet_agent_pool_held{pool=\"%s\"} %llu\n", pfx, (unsigned long long)ps.held);
		fprintf(f, "wgfleet_agent_pool_quarantined{pool=\"%s\"} %llu\n", pfx,
			(unsigned long long)ps.quarantined);
	}
	fprintf(f, "# TYPE wgfleet_agent_reconcile_runs_total counter\n"
		   "wgfleet_agent_reconcile_runs_total %llu\n"
		   "# TYPE wgfleet_agent_reconcile_errors_total counter\n"
		   "wgfleet_agent_reconcile_errors_total %llu\n"
		   "# TYPE wgfleet_agent_reconcile_repairs_total counter\n"
		   "wgfleet_agent_reconcile_repairs_total{kind=\"readded\"} %llu\n"
		   "wgfleet_agent_reconcile_repairs_total{kind=\"removed\"} %llu\n"
		   "wgfleet_agent_reconcile_repairs_total{kind=\"fixed\"} %llu\n"
		   "# TYPE wgfleet_agent_counter_rebases_total counter\n"
		   "wgfleet_agent_counter_rebases_total %llu\n"
		   "# TYPE wgfleet_agent_state_generation gauge\nwgfleet_agent_state_generation %llu\n"
		   "# TYPE wgfleet_agent_journal_bytes gauge\nwgfleet_agent_journal_bytes %llu\n",
		(unsigned long long)d->reconcile_runs, (unsigned long long)d->reconcile_errors,
		(unsigned long long)d->repairs.readded, (unsigned long long)d->repairs.removed,
		(unsigned long long)d->repairs.fixed, (unsigned long long)d->rebases,
		(unsigned long long)s.generation, (unsigned long long)s.journal_bytes);
	pthread_mutex_unlock(&d->lock);
	if (http_text)
		fwrite(http_text, 1, http_len, f);
	free(http_text);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	r = http_respond_text(resp, 200, "text/plain; version=0.0.4", buf, len);
	free(buf);
	return r;
}

static void on_http_event(const struct http_event *ev, void *ud)
{
	struct daemon *d = ud;
	char line[512];

	http_event_format(ev, line, sizeof(line));
	daemon_log(d, ev->level == HTTP_EVENT_WARN ? AGENTCONF_LOG_WARN : AGENTCONF_LOG_DEBUG,
		   "http: %s", line);
}

int api_start(struct daemon *d, const char *token)
{
	const struct http_route routes[] = {
		{HTTP_GET, "/healthz", h_healthz, 0, HTTP_ROUTE_PUBLIC, d},
		{HTTP_GET, "/metrics", h_metrics, ROLE_CONTROLLER, 0, d},
		{HTTP_GET, "/v1/info", h_info, ROLE_CONTROLLER, 0, d},
		{HTTP_GET, "/v1/peers", h_list_peers, ROLE_CONTROLLER, 0, d},
		{HTTP_POST, "/v1/peers", h_post_peers, ROLE_CONTROLLER, 0, d},
		{HTTP_POST, "/v1/peers/batch", h_post_peers_batch, ROLE_CONTROLLER, 0, d},
		{HTTP_PUT, "/v1/peers", h_put_peers, ROLE_CONTROLLER, 0, d},
		{HTTP_GET, "/v1/peers/{public_key}", h_get_peer, ROLE_CONTROLLER, 0, d},
		{HTTP_DELETE, "/v1/peers/{public_key}", h_delete_peer, ROLE_CONTROLLER, 0, d},
	};
	const struct http_token tokens[] = {{token, ROLE_CONTROLLER, "controller"}};
	struct http_server_config hc = {
		.listen = d->cfg->api_listen,
		.tls_cert_file = d->cfg->tls_cert,
		.tls_key_file = d->cfg->tls_key,
		.routes = routes,
		.n_routes = ARRAY_SIZE(routes),
		.tokens = tokens,
		.n_tokens = 1,
		.max_body = API_MAX_BODY,
		.metrics_prefix = "wgfleet_agent",
		.on_event = on_http_event,
		.event_userdata = d,
	};
	char err[256];
	int r = http_server_start(&hc, &d->http, err, sizeof(err));

	if (r < 0)
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot start the API: %s", err);
	return r;
}
