// SPDX-License-Identifier: MIT
/*
 * Batched VPN creation (provisioner.h). The statements per batch, whatever its size: the
 * nodes (a read), one transaction of seven (users and nodes share-locked, configs, their
 * read-back, audit rows, jobs, their read-back); then one agent call per node (all at
 * once; a batch mostly goes to one node, pick()) with the nodes as the creator read them,
 * and one transaction of eight (users share-locked, jobs and configs checked and locked,
 * activations, addresses, their read-back, two kinds of audit rows, the jobs' ends). One
 * at a time a VPN costs about forty statements and four commits (docs/benchmarks.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentclient.h"
#include "db_ip.h"
#include "db_job.h"
#include "db_node.h"
#include "db_user.h"
#include "db_vpn.h"
#include "httpc.h"
#include "provisioner.h"
#include "service.h"
#include "wgfleet/macro.h"
#include "worker.h"

/* The nodes as a creator read them for a batch: its items' carriers call the agents with
 * them instead of reading the nodes again (a round trip per batch). */
struct nodes_snap {
	unsigned refs; /* p->lock */
	struct db_node *nodes;
	size_t n;
};

struct req {
	struct prov_req pub; /* first: the caller's pointer is ours */
	int64_t tid;
	struct grant_request g;
	enum prov_state state;
	unsigned refs; /* the caller's and, until it lets go, the provisioner's */
	/* The state moved. One per request: a shared one woke every waiting API thread on
	 * every move (16 clients: ~30 wake-ups per provision, each a context switch that
	 * costs dearly on a paravirtualised VM, docs/benchmarks.md). */
	pthread_cond_t changed;
	struct req *next;
	/* By value: once a config is committed, answering for it must not need memory. */
	struct db_vpn vpn;
	struct db_job job;
	char *config; /* ACTIVE: the config JSON the activation stored */
	int64_t activated_at_us;
	char *node_name, *node_public_key, *node_endpoint; /* NULL if strdup failed */
	/* CREATED: the nodes its config was made with, and its node among them */
	struct nodes_snap *snap;
	const struct db_node *node;
};

/* The configs this process created on a node since its last poll (their created_at):
 * the part of the node's use its free_addresses does not show yet. */
struct recent {
	uint64_t node_id;
	int64_t *at;
	size_t n, cap;
};

struct provisioner {
	struct ctl_service *s;
	pthread_mutex_t lock;
	pthread_cond_t queued;  /* a request was queued, or stop */
	pthread_cond_t created; /* a config was created (for stage two), or a creator left */
	struct req *created_head, **created_tail;
	unsigned creators;      /* creator threads still running */
	pthread_condattr_t monotonic; /* for the requests' conditions (timed waits) */
	struct req *head, **tail;
	bool stopping;
	struct recent *recent;
	size_t n_recent;
	pthread_t *threads;
	unsigned n_threads;
	char owner[96]; /* jobs.claimed_by of the provisioner's jobs */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* p->lock held (or the snapshot not yet shared); NULL is fine. */
static void snap_unref_locked(struct nodes_snap *x)
{
	if (!x || --x->refs > 0)
		return;
	db_nodes_free(x->nodes, x->n);
	free(x);
}

/* p->lock held. */
static void req_free(struct req *r)
{
	snap_unref_locked(r->snap);
	pthread_cond_destroy(&r->changed);
	db_vpn_clear(&r->vpn);
	db_job_clear(&r->job);
	free(r->config);
	free(r->node_name);
	free(r->node_public_key);
	free(r->node_endpoint);
	free(r);
}

/* Drops one reference; p->lock held. */
static void req_unref_locked(struct req *r)
{
	if (--r->refs == 0)
		req_free(r);
}

static void set_state(struct provisioner *p, struct req *r, enum prov_state st)
{
	pthread_mutex_lock(&p->lock);
	r->state = st;
	if (st == PROV_CREATED) {
		r->pub.vpn = &r->vpn;
		r->pub.job = &r->job;
		r->pub.node_name = r->node_name;
		r->pub.node_public_key = r->node_public_key;
		r->pub.node_endpoint = r->node_endpoint;
	} else if (st == PROV_ACTIVE) {
		r->pub.config = r->config;
		r->pub.activated_at_us = r->activated_at_us;
	}
	pthread_cond_signal(&r->changed);
	/* Past CREATED the provisioner is done with the request. */
	if (st != PROV_CREATED)
		req_unref_locked(r);
	pthread_mutex_unlock(&p->lock);
}

/* ---- the configs created since each node's last poll (p->lock held) */

static struct recent *recent_of(struct provisioner *p, uint64_t node_id, bool add)
{
	struct recent *v;

	for (size_t i = 0; i < p->n_recent; i++)
		if (p->recent[i].node_id == node_id)
			return &p->recent[i];
	if (!add)
		return NULL;
	v = realloc(p->recent, (p->n_recent + 1) * sizeof(*v));
	if (!v)
		return NULL;
	p->recent = v;
	v[p->n_recent] = (struct recent){.node_id = node_id};
	return &v[p->n_recent++];
}

/* How many of ours the node's last poll (at last_seen_us) did not count; forgets the
 * rest. */
static uint64_t recent_count(struct provisioner *p, uint64_t node_id, int64_t last_seen_us)
{
	struct recent *x = recent_of(p, node_id, false);
	size_t k = 0;

	if (!x)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (x->at[i] > last_seen_us)
			x->at[k++] = x->at[i];
	x->n = k;
	return k;
}

/* Best effort: a count that misses one only lets the node look roomier until its next
 * poll; the agent has the last word. */
static void recent_add(struct provisioner *p, uint64_t node_id, int64_t at_us)
{
	struct recent *x = recent_of(p, node_id, true);

	if (!x)
		return;
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		int64_t *v = realloc(x->at, cap * sizeof(*v));

		if (!v)
			return;
		x->at = v;
		x->cap = cap;
	}
	x->at[x->n++] = at_us;
}

/* ---- one batch */

struct item {
	struct req *r;
	struct grant_keys keys;
	char name[GRANT_NAME_LEN];
	struct db_vpn_new n;
	const struct db_node *node;
	/* the agent's answer */
	bool added;
	struct db_ip_address *addrs;
	size_t n_addrs;
	char *config;
};

struct tx2 {
	const struct db_vpn_activation *a;
	size_t n;
	const char *owner;
	int64_t at_us;
};

static int tx2_run(struct db_conn *c, void *userdata)
{
	struct tx2 *x = userdata;
	uint64_t job_ids[DB_BATCH_MAX];
	int r;

	r = db_vpn_activate_many_in_tx(c, 0, x->a, x->n, x->owner, x->at_us);
	if (r < 0)
		return r;
	for (size_t i = 0; i < x->n; i++)
		job_ids[i] = x->a[i].job_id;
	return db_job_done_many_in_tx(c, job_ids, x->n, x->owner);
}

/*
 * The node for the next item of a batch, one address taken; NULL if none. The batch stays
 * on the node it started on, which had the most room (ties: the lower id), while that has
 * room: one agent call per batch instead of one per node. Alternating item by item gave each
 * agent half a batch, and an agent's cost is mostly per call (its journal frame, the HTTP
 * exchange, wireguard-go's per-request work: 232 µs of its CPU per peer one at a time,
 * 158 µs eight at a time, docs/benchmarks.md). The next batch sees the room this one took.
 */
static const struct db_node *pick(const struct db_node *nodes, uint64_t *room, size_t n,
                                  size_t *cur)
{
	size_t best = n;

	if (*cur < n && room[*cur] > 0) {
		best = *cur;
	} else {
		for (size_t i = 0; i < n; i++)
			if (room[i] > 0 && (best == n || room[i] > room[best]))
				best = i;
	}
	if (best == n)
		return NULL;
	room[best]--;
	*cur = best;
	return &nodes[best];
}

/*
 * Inside the first transaction: the users of the items (share-locked, so that a ban waits
 * for this batch and then revokes what it made) and a node for each; the items that can
 * go, with their configs' rows, into go. The others stay with node NULL.
 */
static int assign(struct provisioner *p, struct db_conn *c, struct item *it, size_t n,
                  const struct db_node *nodes, size_t n_nodes, struct item **go, size_t *ret_n_go)
{
	struct ctl_service *s = p->s;
	struct db_user_brief users[DB_BATCH_MAX];
	int64_t tids[DB_BATCH_MAX];
	uint64_t *room = calloc(n_nodes ? n_nodes : 1, sizeof(*room));
	size_t n_users = 0, k = 0, cur = n_nodes;
	int r;

	if (!room)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		tids[i] = it[i].r->tid;
		it[i].node = NULL;
	}
	r = db_user_list_brief(c, tids, n, users, &n_users);
	if (r < 0)
		goto out;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n_nodes; i++) {
		const struct db_node *x = &nodes[i];
		uint64_t mine;

		if (x->state != NODE_ACTIVE || x->health != NODE_HEALTH_HEALTHY)
			continue;
		mine = recent_count(p, x->id, x->last_seen_at_us);
		room[i] = x->free_addresses > mine ? x->free_addresses - mine : 0;
	}
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		struct item *x = &it[i];
		const struct db_user_brief *u = NULL;

		for (size_t j = 0; j < n_users; j++)
			if (users[j].telegram_id == x->r->tid)
				u = &users[j];
		if (!x->keys.priv_enc || !u || u->status != USER_ACTIVE ||
		    x->r->g.type != VPN_WIREGUARD)
			continue;
		x->node = pick(nodes, room, n_nodes, &cur);
		if (!x->node)
			continue;
		x->r->g.user_id = u->id;
		grant_vpn_new(s, &x->r->g, x->node->id, &x->keys, x->name, &x->n);
		go[k++] = x;
	}
	*ret_n_go = k;
out:
	free(room);
	return r;
}

static char *strdup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* The agent's part for the items of one node: one call for all of them. */
static void add_on_node(struct provisioner *p, struct httpc *h, struct item **it, size_t n,
                        const struct db_node *node, char *err, size_t err_size)
{
	struct ctl_service *s = p->s;
	struct peer_spec specs[DB_BATCH_MAX];
	struct agent_peer_req reqs[DB_BATCH_MAX];
	char job_ids[DB_BATCH_MAX][96];
	struct agent_peer *peers = NULL;
	struct agent_error aerr = {0};
	struct node_agent a = {0};
	size_t n_specs = 0;
	int r;

	r = node_agent_open(s, node, &a);
	if (r < 0) {
		snprintf(err, err_size, "node %s: the agent token does not open: %s", node->name,
		         strerror(-r));
		goto out;
	}
	for (; n_specs < n; n_specs++) {
		const struct db_vpn *v = &it[n_specs]->r->vpn;

		r = peer_spec_fill(s, v, &specs[n_specs]);
		if (r < 0) {
			snprintf(err, err_size,
			         "VPN %" PRIu64 ": the preshared key does not open: %s", v->id,
			         strerror(-r));
			goto out;
		}
		/* As the worker names it (worker.c): a retry by a worker gets this answer. */
		snprintf(job_ids[n_specs], sizeof(job_ids[n_specs]), "job-%" PRIu64 "-%s",
		         it[n_specs]->r->job.id, v->peer_public_key);
		reqs[n_specs] = specs[n_specs].req;
		reqs[n_specs].addresses = NULL;
		reqs[n_specs].n_addresses = 0;
		reqs[n_specs].job_id = job_ids[n_specs];
	}
	r = agent_add_peers(h, &a.target, reqs, n, &peers, &aerr);
	if (r < 0) {
		snprintf(err, err_size, "node %s: %s%s%s", node->name,
		         aerr.message[0] ? aerr.message : strerror(-r), aerr.code[0] ? " " : "",
		         aerr.code);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct item *x = it[i];

		if (!peers[i].public_key ||
		    strcmp(peers[i].public_key, x->r->vpn.peer_public_key) != 0) {
			snprintf(err, err_size, "node %s answered for another peer", node->name);
			continue;
		}
		if (addresses_from_peer(&peers[i], &x->addrs, &x->config) < 0) {
			snprintf(err, err_size, "node %s answered an address we cannot use",
			         node->name);
			continue;
		}
		x->n_addrs = peers[i].n_addresses;
		x->added = true;
	}
out:
	agent_peers_free(peers, peers ? n : 0);
	for (size_t i = 0; i < n_specs; i++)
		peer_spec_done(&specs[i]);
	node_agent_close(&a);
}

/* Gives the jobs of items back to the queue and their requests to the workers. */
static void hand_off(struct provisioner *p, struct db_conn *c, struct item **it, size_t n,
                     const char *why)
{
	struct ctl_service *s = p->s;
	uint64_t ids[DB_BATCH_MAX];
	int r = -ENOTCONN;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		ids[i] = it[i]->r->job.id;
	if (c)
		r = db_job_release_many(c, ids, n, p->owner, 0, why);
	svc_log(s, CTL_LOG_INFO, "provision of %zu VPNs (first %" PRIu64 "): %s; %s", n,
	        it[0]->r->vpn.id, why,
	        r < 0 ? "their jobs go to the workers when the lease runs out"
	              : "handed to the workers");
	for (size_t i = 0; i < n; i++) {
		atomic_fetch_add(&s->metrics.jobs_retried[JOB_PROVISION], 1);
		set_state(p, it[i]->r, PROV_HANDED_OFF);
	}
	svc_kick_workers(s);
}

static void activate(struct provisioner *p, struct db_conn *c, struct item **it, size_t n)
{
	struct ctl_service *s = p->s;
	struct db_vpn_activation acts[DB_BATCH_MAX];
	struct tx2 x = {acts, n, p->owner, db_now_us()};
	char why[300];
	int r;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		acts[i] = (struct db_vpn_activation){&it[i]->r->vpn, it[i]->r->job.id,
		                                     it[i]->config, it[i]->addrs, it[i]->n_addrs};
	}
	r = c ? db_tx_run(c, tx2_run, &x) : -ENOTCONN;
	if (r < 0) {
		/* Ended meanwhile, or the database is away: one at a time, the workers sort it out
		 * (the agent answers them with what it answered us). */
		snprintf(why, sizeof(why), "activation: %.250s",
		         c && db_conn_error(c)->message[0] ? db_conn_error(c)->message
		                                           : strerror(-r));
		hand_off(p, c, it, n, why);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct req *q = it[i]->r;

		atomic_fetch_add(&s->metrics.jobs_done[JOB_PROVISION], 1);
		svc_job_finished(s, q->vpn.id);
		q->config = it[i]->config; /* moved */
		it[i]->config = NULL;
		q->activated_at_us = x.at_us;
		set_state(p, q, PROV_ACTIVE);
	}
}

struct tx1 {
	struct provisioner *p;
	struct item *it; /* n */
	size_t n;
	const struct db_node *nodes;
	size_t n_nodes;
	struct item *go[DB_BATCH_MAX]; /* out: n_go of it that were created */
	size_t n_go;
	struct db_vpn *vpns; /* out, n_go */
	struct db_job *jobs; /* out, n_go */
};

static int tx1_run(struct db_conn *c, void *userdata)
{
	struct tx1 *x = userdata;
	struct db_vpn_new news[DB_BATCH_MAX];
	uint64_t ids[DB_BATCH_MAX], nodes[DB_BATCH_MAX];
	int r;

	/* A rerun after a deadlock starts afresh. */
	x->vpns = db_vpns_free(x->vpns, x->n_go);
	x->jobs = db_jobs_free(x->jobs, x->n_go);
	x->n_go = 0;
	r = assign(x->p, c, x->it, x->n, x->nodes, x->n_nodes, x->go, &x->n_go);
	if (r < 0 || x->n_go == 0)
		return r;
	for (size_t i = 0; i < x->n_go; i++)
		news[i] = x->go[i]->n;
	r = db_vpn_create_many_in_tx(c, 0, news, x->n_go, &x->vpns);
	if (r < 0)
		return r;
	for (size_t i = 0; i < x->n_go; i++) {
		ids[i] = x->vpns[i].id;
		nodes[i] = x->vpns[i].node_id;
	}
	return db_job_insert_running_in_tx(c, ids, nodes, x->n_go, x->p->owner,
	                                   (unsigned)x->p->s->cfg->job_lease_ms, &x->jobs);
}

/* Stage one: the configs and their jobs, committed; then queued for stage two. */
static void create_batch(struct provisioner *p, struct req **batch, size_t n)
{
	struct ctl_service *s = p->s;
	struct item it[DB_BATCH_MAX] = {0};
	struct nodes_snap *snap = calloc(1, sizeof(*snap));
	struct db_conn *c = NULL;
	struct tx1 x = {.p = p, .it = it, .n = n};
	int r;

	/* The keys before the transaction: it holds locks, and this is the slow part. */
	for (size_t i = 0; i < n; i++) {
		it[i].r = batch[i];
		if (grant_keys_make(s, &it[i].keys) < 0)
			grant_keys_done(&it[i].keys);
	}
	if (snap)
		snap->refs = 1; /* this batch's */
	r = snap ? svc_db_acquire(s, &c) : -ENOMEM;
	if (r == 0)
		r = db_node_list(c, &snap->nodes, &snap->n);
	if (r == 0) {
		x.nodes = snap->nodes;
		x.n_nodes = snap->n;
		r = db_tx_run(c, tx1_run, &x);
	}
	if (r < 0) {
		/* A unique key, a user or node that changed, the database: one at a time tells. */
		svc_log(s, CTL_LOG_DEBUG, "a batch of %zu VPNs goes one at a time: %s", n,
		        c && db_conn_error(c)->message[0] ? db_conn_error(c)->message
		                                          : strerror(-r));
		x.vpns = db_vpns_free(x.vpns, x.n_go);
		x.jobs = db_jobs_free(x.jobs, x.n_go);
		x.n_go = 0;
	}
	/* What was not created goes the ordinary way, which tells the client why. */
	for (size_t i = 0; i < n; i++) {
		bool created = false;

		for (size_t j = 0; j < x.n_go && !created; j++)
			created = x.go[j] == &it[i];
		if (!created)
			set_state(p, it[i].r, PROV_FALLBACK);
	}
	for (size_t i = 0; i < x.n_go; i++) {
		struct req *q = x.go[i]->r;

		q->vpn = x.vpns[i];
		memset(&x.vpns[i], 0, sizeof(x.vpns[i]));
		q->job = x.jobs[i];
		memset(&x.jobs[i], 0, sizeof(x.jobs[i]));
		/* Without memory for them the answer names no node and has no config yet. */
		q->node_name = strdup_opt(x.go[i]->node->name);
		q->node_public_key = strdup_opt(x.go[i]->node->public_key);
		q->node_endpoint = strdup_opt(x.go[i]->node->endpoint);
		set_state(p, q, PROV_CREATED);
	}
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < x.n_go; i++) {
		struct req *q = x.go[i]->r;

		recent_add(p, q->vpn.node_id, q->vpn.created_at_us);
		q->snap = snap;
		snap->refs++;
		q->node = x.go[i]->node;
		q->next = NULL;
		*p->created_tail = q;
		p->created_tail = &q->next;
	}
	if (x.n_go)
		pthread_cond_signal(&p->created);
	snap_unref_locked(snap);
	pthread_mutex_unlock(&p->lock);
	db_vpns_free(x.vpns, x.n_go);
	db_jobs_free(x.jobs, x.n_go);
	for (size_t i = 0; i < n; i++)
		grant_keys_done(&it[i].keys);
	db_release(c);
}

static int item_cmp(const void *a, const void *b)
{
	uint64_t x = (*(struct item *const *)a)->r->vpn.id,
	         y = (*(struct item *const *)b)->r->vpn.id;

	return (x % 16 > y % 16) - (x % 16 < y % 16);
}

/* A carrier's HTTP clients, one per node it talks to, kept across batches (keep-alive
 * connections and TLS sessions to each agent), so that it can call several nodes at once. */
struct carrier {
	uint64_t node_id[DB_BATCH_MAX];
	struct httpc *h[DB_BATCH_MAX];
};

static void carrier_done(struct carrier *k)
{
	for (size_t i = 0; i < DB_BATCH_MAX; i++)
		httpc_free(k->h[i]);
	memset(k, 0, sizeof(*k));
}

/* The client for node_id; NULL if none can be made. */
static struct httpc *carrier_http(struct provisioner *p, struct carrier *k, uint64_t node_id)
{
	size_t slot = DB_BATCH_MAX;

	for (size_t i = 0; i < DB_BATCH_MAX; i++) {
		if (k->h[i] && k->node_id[i] == node_id)
			return k->h[i];
		if (!k->h[i] && slot == DB_BATCH_MAX)
			slot = i;
	}
	if (slot == DB_BATCH_MAX)
		return NULL; /* the caller makes room between batches */
	if (worker_agent_httpc_new(p->s, &k->h[slot]) < 0)
		return NULL;
	k->node_id[slot] = node_id;
	return k->h[slot];
}

/* One node's share of a batch, called on a thread of its own when there are several. */
struct node_call {
	struct provisioner *p;
	struct httpc *h;
	const struct db_node *node;
	struct item *mine[DB_BATCH_MAX];
	size_t m;
	char err[512];
	pthread_t thread;
	bool threaded;
};

static void *node_call_main(void *arg)
{
	struct node_call *x = arg;

	add_on_node(x->p, x->h, x->mine, x->m, x->node, x->err, sizeof(x->err));
	return NULL;
}

/* Stage two: the agents' part, every node at once, one call each; then the activations in
 * one transaction. Takes every config created meanwhile, by any number of stage-one
 * batches. */
static void carry_batch(struct provisioner *p, struct carrier *k, struct req **batch, size_t n)
{
	struct ctl_service *s = p->s;
	struct item it[DB_BATCH_MAX] = {0};
	struct item *ok[DB_BATCH_MAX], *bad[DB_BATCH_MAX];
	struct nodes_snap *snaps[DB_BATCH_MAX];
	const struct db_node *nodes[DB_BATCH_MAX];
	struct node_call *calls = NULL;
	struct db_conn *c = NULL;
	size_t n_nodes = 0, n_ok = 0, n_bad = 0, n_calls = 0, want = 0, have_room = 0;

	/* The nodes as their creators read them: each item holds its own while it is ours,
	 * and this holds them past the moment an item is let go. */
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		snaps[i] = batch[i]->snap;
		snaps[i]->refs++;
	}
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n; i++) {
		bool known = false;

		it[i].r = batch[i];
		it[i].node = batch[i]->node;
		/* One entry per node id, whichever creator's snapshot it came from. */
		for (size_t j = 0; j < n_nodes && !known; j++)
			if (nodes[j]->id == it[i].node->id) {
				it[i].node = nodes[j];
				known = true;
			}
		if (!known)
			nodes[n_nodes++] = it[i].node;
	}
	calls = calloc(n_nodes ? n_nodes : 1, sizeof(*calls));
	/* Room for this batch's nodes among the clients (there are at most DB_BATCH_MAX). */
	for (size_t i = 0; i < n_nodes; i++) {
		bool has = false;

		for (size_t j = 0; j < DB_BATCH_MAX && !has; j++)
			has = k->h[j] && k->node_id[j] == nodes[i]->id;
		want += !has;
	}
	for (size_t j = 0; j < DB_BATCH_MAX; j++)
		have_room += !k->h[j];
	if (want > have_room)
		carrier_done(k);
	for (size_t i = 0; calls && i < n_nodes; i++) {
		struct node_call *x = &calls[n_calls];

		*x = (struct node_call){.p = p, .node = nodes[i]};
		for (size_t j = 0; j < n; j++)
			if (it[j].node == nodes[i])
				x->mine[x->m++] = &it[j];
		x->h = carrier_http(p, k, nodes[i]->id);
		if (!x->h)
			snprintf(x->err, sizeof(x->err), "no HTTP client");
		n_calls++;
	}
	for (size_t i = 0; i < n; i++) {
		bool placed = false;

		for (size_t j = 0; j < n_calls && !placed; j++)
			placed = calls[j].node == it[i].node;
		if (!placed)
			bad[n_bad++] = &it[i];
	}
	if (n_bad) {
		if (svc_db_acquire(s, &c) < 0)
			c = NULL;
		hand_off(p, c, bad, n_bad, "out of memory");
	}
	/* The first node on this thread, the others each on one of its own. */
	for (size_t i = 1; i < n_calls; i++)
		if (calls[i].h)
			calls[i].threaded =
			    pthread_create(&calls[i].thread, NULL, node_call_main, &calls[i]) == 0;
	for (size_t i = 0; i < n_calls; i++)
		if (calls[i].h && !calls[i].threaded)
			node_call_main(&calls[i]);
	for (size_t i = 0; i < n_calls; i++) {
		struct node_call *x = &calls[i];

		if (x->threaded)
			pthread_join(x->thread, NULL);
		n_bad = 0;
		for (size_t j = 0; j < x->m; j++) {
			if (x->mine[j]->added)
				ok[n_ok++] = x->mine[j];
			else
				bad[n_bad++] = x->mine[j];
		}
		if (n_bad) {
			if (!c && svc_db_acquire(s, &c) < 0)
				c = NULL;
			hand_off(p, c, bad, n_bad, x->err[0] ? x->err : "the agent did not add it");
		}
	}
	if (n_ok) {
		if (!c && svc_db_acquire(s, &c) < 0)
			c = NULL;
		/* In one order for every batch, so that two of them lock the configs' status
		 * counters in the same order. */
		qsort(ok, n_ok, sizeof(*ok), item_cmp);
		activate(p, c, ok, n_ok);
	}
	for (size_t i = 0; i < n; i++) {
		free(it[i].addrs);
		free(it[i].config);
	}
	free(calls);
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < n; i++)
		snap_unref_locked(snaps[i]);
	pthread_mutex_unlock(&p->lock);
	db_release(c);
}

static void *creator_main(void *arg)
{
	struct provisioner *p = arg;

	for (;;) {
		struct req *batch[DB_BATCH_MAX];
		size_t n = 0;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->queued, &p->lock);
		/* Stopping: what was queued still goes through. */
		if (!p->head) {
			p->creators--;
			pthread_cond_broadcast(&p->created);
			pthread_mutex_unlock(&p->lock);
			break;
		}
		while (p->head && n < DB_BATCH_MAX) {
			batch[n++] = p->head;
			p->head = p->head->next;
		}
		if (!p->head)
			p->tail = &p->head;
		pthread_mutex_unlock(&p->lock);
		create_batch(p, batch, n);
	}
	return NULL;
}

static void *carrier_main(void *arg)
{
	struct provisioner *p = arg;
	struct carrier k = {0};

	for (;;) {
		struct req *batch[DB_BATCH_MAX];
		size_t n = 0;

		pthread_mutex_lock(&p->lock);
		while (!p->created_head && p->creators > 0)
			pthread_cond_wait(&p->created, &p->lock);
		/* The creators are gone: nothing more comes. */
		if (!p->created_head) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		while (p->created_head && n < DB_BATCH_MAX) {
			batch[n++] = p->created_head;
			p->created_head = p->created_head->next;
		}
		if (!p->created_head)
			p->created_tail = &p->created_head;
		pthread_mutex_unlock(&p->lock);
		carry_batch(p, &k, batch, n);
	}
	carrier_done(&k);
	return NULL;
}

int prov_start(struct ctl_service *s, unsigned creators, unsigned carriers)
{
	struct provisioner *p = calloc(1, sizeof(*p));
	int r = 0;

	if (!p)
		return -ENOMEM;
	p->s = s;
	p->tail = &p->head;
	p->created_tail = &p->created_head;
	snprintf(p->owner, sizeof(p->owner), "%s:prov", s->owner);
	p->threads = calloc(creators + carriers + 1, sizeof(*p->threads));
	if (!p->threads) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->queued, NULL);
	pthread_cond_init(&p->created, NULL);
	pthread_condattr_init(&p->monotonic);
	pthread_condattr_setclock(&p->monotonic, CLOCK_MONOTONIC);
	s->prov = p;
	for (unsigned i = 0; r == 0 && i < creators + carriers; i++) {
		bool creator = i < creators;

		pthread_mutex_lock(&p->lock);
		p->creators += creator;
		pthread_mutex_unlock(&p->lock);
		r = -pthread_create(&p->threads[p->n_threads], NULL,
		                    creator ? creator_main : carrier_main, p);
		if (r == 0) {
			p->n_threads++;
		} else {
			pthread_mutex_lock(&p->lock);
			p->creators -= creator;
			pthread_mutex_unlock(&p->lock);
		}
	}
	if (r < 0)
		prov_stop(s);
	return r;
}

void prov_stop(struct ctl_service *s)
{
	struct provisioner *p = s->prov;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->queued);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	for (size_t i = 0; i < p->n_recent; i++)
		free(p->recent[i].at);
	free(p->recent);
	free(p->threads);
	pthread_cond_destroy(&p->queued);
	pthread_cond_destroy(&p->created);
	pthread_condattr_destroy(&p->monotonic);
	pthread_mutex_destroy(&p->lock);
	free(p);
	s->prov = NULL;
}

int prov_submit(struct ctl_service *s, int64_t tid, const struct grant_request *g,
                struct prov_req **ret)
{
	struct provisioner *p = s->prov;
	struct req *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->tid = tid;
	r->g = *g;
	r->refs = 2;
	pthread_cond_init(&r->changed, &p->monotonic);
	pthread_mutex_lock(&p->lock);
	if (p->stopping || p->creators == 0 || atomic_load(&s->stopping)) {
		r->state = PROV_FALLBACK;
		r->refs = 1;
	} else {
		*p->tail = r;
		p->tail = &r->next;
		pthread_cond_signal(&p->queued);
	}
	pthread_mutex_unlock(&p->lock);
	*ret = &r->pub;
	return 0;
}

enum prov_state prov_wait(struct ctl_service *s, struct prov_req *pr, bool final,
                          int64_t deadline_ms)
{
	struct provisioner *p = s->prov;
	struct req *r = (struct req *)pr;
	enum prov_state st;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		st = r->state;
		if (st != PROV_QUEUED && (!final || st != PROV_CREATED))
			break;
		if (st == PROV_CREATED && now_ms() >= deadline_ms)
			break;
		if (st == PROV_QUEUED) {
			pthread_cond_wait(&r->changed, &p->lock);
		} else {
			struct timespec ts = {deadline_ms / 1000, (deadline_ms % 1000) * 1000000};

			pthread_cond_timedwait(&r->changed, &p->lock, &ts);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return st;
}

void prov_put(struct ctl_service *s, struct prov_req *pr)
{
	struct provisioner *p = s->prov;

	if (!pr)
		return;
	pthread_mutex_lock(&p->lock);
	req_unref_locked((struct req *)pr);
	pthread_mutex_unlock(&p->lock);
}
