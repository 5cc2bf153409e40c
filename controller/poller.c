// SPDX-License-Identifier: MIT
/*
 * The node poller (service.h, docs/controller.md "Resync" and "Traffic"): every
 * poll_interval, each node that is not disabled is asked for its /v1/info (health, boot
 * id, room) and its peers' traffic totals.
 *
 * Any number of controllers may poll the same nodes: db_node_report and
 * db_vpn_traffic_apply lock the node's row, and the resync job of a boot id has one
 * idempotency key, so a second poller only repeats what the first recorded.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentclient.h"
#include "db_job.h"
#include "db_node.h"
#include "db_vpn.h"
#include "httpc.h"
#include "service.h"
#include "wgfleet/macro.h"
#include "worker.h"

#define ERR_LEN 300
/* Before the first poll and after a database failure: not a whole interval. */

struct poller {
	struct ctl_service *s;
	struct httpc *http; /* the client poll_node uses */
};

/* Nodes are polled this many at a time at most: a hung agent costs its own poll
 * agent_timeout, not the polls of every node after it. Each one holds a pooled
 * connection, so at most a quarter of the pool. */
#define POLL_PARALLEL_MAX 4

/* The poller thread's state across rounds: one HTTP client per parallel slot, kept so that
 * each agent's keep-alive (TLS) connection is reused from round to round. */
struct poll_state {
	struct ctl_service *s;
	struct httpc *http[POLL_PARALLEL_MAX];
	bool db_down;
};

/*
 * The resync job of the node's boot id boot_id: one per boot id, whoever queues it and
 * however often (the key decides), so queueing it on every sign of a restart is safe.
 */
static void queue_resync(struct poller *p, struct db_conn *c, const struct db_node *n,
                         const char *boot_id)
{
	char key[192];
	uint64_t id;
	bool created = false;
	int r;

	snprintf(key, sizeof(key), "resync-%" PRIu64 "-%.150s", n->id, boot_id);
	struct db_job_new j = {
	    .kind = JOB_RESYNC,
	    .node_id = n->id,
	    .payload = "{}",
	    .idempotency_key = key,
	};
	r = db_job_enqueue(c, &j, &id, &created);
	if (r < 0) {
		atomic_fetch_add(&p->s->metrics.db_errors, 1);
		svc_log(p->s, CTL_LOG_WARN,
		        "node %s restarted (boot id %s), but its resync job: %s", n->name, boot_id,
		        strerror(-r));
		return;
	}
	if (!created)
		return;
	atomic_fetch_add(&p->s->metrics.resyncs_queued, 1);
	svc_log(p->s, CTL_LOG_INFO, "node %s restarted (boot id %s): resync job %" PRIu64 " queued",
	        n->name, boot_id, id);
	svc_kick_workers(p->s);
}

static void report_failure(struct poller *p, struct db_conn *c, const struct db_node *n,
                           const char *error)
{
	const struct controller_config *cfg = p->s->cfg;
	struct db_node_report rep = {
	    .ok = false,
	    .error = error,
	    .unhealthy_after = cfg->unhealthy_after,
	};
	int r;

	atomic_fetch_add(&p->s->metrics.polls_failed, 1);
	/* Once when it starts failing and once when it turns unhealthy, not every poll. */
	if (n->failed_polls == 0)
		svc_log(p->s, CTL_LOG_WARN, "node %s: poll failed: %s", n->name, error);
	else if (n->failed_polls + 1 == cfg->unhealthy_after)
		svc_log(p->s, CTL_LOG_WARN, "node %s: unhealthy after %u failed polls: %s", n->name,
		        cfg->unhealthy_after, error);
	r = db_node_report(c, n->id, &rep, NULL);
	if (r < 0 && r != -ENOENT)
		atomic_fetch_add(&p->s->metrics.db_errors, 1);
}

/* The agent's totals into the VPNs' bandwidth (db_vpn_traffic_apply counts each byte
 * once, also with two pollers). */
static void poll_traffic(struct poller *p, struct db_conn *c, const struct db_node *n,
                         const struct node_agent *a)
{
	struct agent_peer *peers = NULL;
	struct db_traffic_sample *samples = NULL;
	struct agent_error aerr = {0};
	size_t n_peers = 0;
	int r;

	r = agent_list_peers(p->http, &a->target, &peers, &n_peers, &aerr);
	if (r < 0) {
		svc_log(p->s, CTL_LOG_INFO, "node %s: listing peers for traffic: %s", n->name,
		        aerr.message[0] ? aerr.message : strerror(-r));
		goto out;
	}
	if (n_peers == 0)
		goto out;
	samples = calloc(n_peers, sizeof(*samples));
	if (!samples)
		goto out;
	for (size_t i = 0; i < n_peers; i++)
		samples[i] = (struct db_traffic_sample){
		    .public_key = peers[i].public_key,
		    .rx = peers[i].rx_bytes,
		    .tx = peers[i].tx_bytes,
		};
	r = db_vpn_traffic_apply(c, n->id, samples, n_peers, NULL);
	if (r < 0 && r != -ENOENT) {
		if (worker_db_error_transient(r))
			atomic_fetch_add(&p->s->metrics.db_errors, 1);
		svc_log(p->s, CTL_LOG_WARN, "node %s: recording traffic: %s", n->name,
		        strerror(-r));
	}
out:
	free(samples);
	agent_peers_free(peers, n_peers);
}

static void poll_node(struct poller *p, struct db_conn *c, const struct db_node *n)
{
	struct node_agent a = {0};
	struct agent_info *info = NULL;
	struct agent_error aerr = {0};
	char err[ERR_LEN];
	bool changed = false, queued = false;
	int r;

	r = node_agent_open(p->s, n, &a);
	if (r < 0) {
		report_failure(p, c, n, "the agent token does not open with this master key");
		return;
	}
	r = agent_get_info(p->http, &a.target, &info, &aerr);
	if (r < 0) {
		if (aerr.http_status)
			snprintf(err, sizeof(err), "HTTP %u %s%s%.200s", aerr.http_status,
			         aerr.code, aerr.code[0] ? ": " : "", aerr.message);
		else
			snprintf(err, sizeof(err), "%.250s",
			         aerr.message[0] ? aerr.message : strerror(-r));
		report_failure(p, c, n, err);
		goto out;
	}
	/* Queued before the report that stores the new boot id: if the report is lost, the
	 * next poll sees the difference again, and the key keeps it one job. */
	if (n->boot_id && strcmp(n->boot_id, info->boot_id) != 0) {
		queue_resync(p, c, n, info->boot_id);
		queued = true;
	}
	struct db_node_report rep = {
	    .ok = true,
	    .boot_id = info->boot_id,
	    .free_addresses = info->free_addresses,
	    .peers = info->peers,
	    .pools = info->pools_json,
	    .public_key = info->public_key,
	    .endpoint = info->endpoint,
	};
	if (n->public_key && info->public_key && strcmp(n->public_key, info->public_key) != 0)
		svc_log(p->s, CTL_LOG_WARN,
		        "node %s: the agent's server key changed (%s -> %s): configs issued before "
		        "carry the old key and no longer connect; new ones get the new key",
		        n->name, n->public_key, info->public_key);
	r = db_node_report(c, n->id, &rep, &changed);
	if (r < 0) {
		if (r != -ENOENT)
			atomic_fetch_add(&p->s->metrics.db_errors, 1);
		svc_log(p->s, CTL_LOG_WARN, "node %s: recording the poll: %s", n->name,
		        strerror(-r));
		goto out;
	}
	atomic_fetch_add(&p->s->metrics.polls_ok, 1);
	if (n->failed_polls > 0)
		svc_log(p->s, CTL_LOG_INFO, "node %s answers again", n->name);
	/* Another controller stored a boot id after our list was read. */
	if (changed && !queued)
		queue_resync(p, c, n, info->boot_id);
	/* No peers, no traffic: an idle node costs one request per poll, not two. */
	if (info->peers > 0)
		poll_traffic(p, c, n, &a);
out:
	agent_info_free(info);
	node_agent_close(&a);
}

struct poll_round {
	struct poll_state *st;
	const struct db_node *nodes;
	size_t n;
	atomic_size_t next;
};

struct poll_slot {
	struct poll_round *round;
	size_t k; /* which of st->http this thread uses */
};

/* One slot of a round: its HTTP client (made on first use, kept), a connection of its own,
 * nodes taken in turn. */
static void *poll_some(void *arg)
{
	struct poll_slot *slot = arg;
	struct poll_round *round = slot->round;
	struct ctl_service *s = round->st->s;
	struct httpc **http = &round->st->http[slot->k];
	struct db_conn *c = NULL;
	size_t i;
	int r;

	if (!*http) {
		r = worker_agent_httpc_new(s, http);
		if (r < 0) {
			svc_log(s, CTL_LOG_ERROR, "poller: HTTP client: %s", strerror(-r));
			return NULL;
		}
	}
	if (svc_db_acquire(s, &c) < 0)
		return NULL;
	struct poller p = {.s = s, .http = *http};
	while ((i = atomic_fetch_add(&round->next, 1)) < round->n && !atomic_load(&s->stopping))
		if (round->nodes[i].state != NODE_DISABLED)
			poll_node(&p, c, &round->nodes[i]);
	db_release(c);
	return NULL;
}

/* One round over every node; false if the database could not be read. */
static bool poll_all(void *arg)
{
	struct poll_state *st = arg;
	struct db_conn *c = NULL;
	struct db_node *nodes = NULL;
	pthread_t threads[POLL_PARALLEL_MAX];
	struct poll_slot slots[POLL_PARALLEL_MAX];
	size_t n = 0, started = 0, parallel;
	int r;

	if (svc_db_acquire(st->s, &c) < 0)
		return false;
	r = db_node_list(c, &nodes, &n);
	db_release(c);
	if (r < 0) {
		atomic_fetch_add(&st->s->metrics.db_errors, 1);
		if (!st->db_down)
			svc_log(st->s, CTL_LOG_WARN, "poller: listing nodes: %s", strerror(-r));
		st->db_down = true;
		return false;
	}
	st->db_down = false;
	parallel = MIN(n, (size_t)POLL_PARALLEL_MAX);
	parallel = MIN(parallel, (size_t)(st->s->cfg->db_pool_size / 4));
	struct poll_round round = {.st = st, .nodes = nodes, .n = n};
	/* Slot 0 is this thread; the others are helpers for this round. */
	for (size_t k = 1; k < parallel; k++) {
		slots[k] = (struct poll_slot){.round = &round, .k = k};
		if (pthread_create(&threads[started], NULL, poll_some, &slots[k]) != 0)
			break;
		started++;
	}
	slots[0] = (struct poll_slot){.round = &round, .k = 0};
	if (n)
		poll_some(&slots[0]);
	for (size_t k = 0; k < started; k++)
		pthread_join(threads[k], NULL);
	db_nodes_free(nodes, n);
	return true;
}

void *poller_main(void *svc)
{
	struct poll_state st = {.s = svc};

	svc_every(st.s, st.s->cfg->poll_interval_ms, poll_all, &st);
	for (size_t k = 0; k < POLL_PARALLEL_MAX; k++)
		httpc_free(st.http[k]);
	return NULL;
}
