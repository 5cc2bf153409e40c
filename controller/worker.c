// SPDX-License-Identifier: MIT
/*
 * The job workers (service.h, docs/controller.md "Flows"): each thread claims one due job
 * at a time, carries it to the node's agent or the webhook, and records the outcome.
 *
 * Every step is safe to repeat, because a job can run more than once: after a crash, a
 * lease that ran out, or a commit whose outcome the database never confirmed. A provision
 * sends the same job_id each time (the agent answers a repeat with its first answer) and
 * a second activation is -EALREADY; a revoke of an absent peer is fine; a resync PUTs a
 * complete set. So the worker never needs to know whether an earlier attempt got through.
 *
 * Also here: the helpers the poller and sweeper share (worker.h), and /metrics' part of
 * the service (svc_metrics_text).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentclient.h"
#include "db_ip.h"
#include "db_job.h"
#include "db_node.h"
#include "db_status.h"
#include "db_vpn.h"
#include "httpc.h"
#include "service.h"
#include "vault.h"
#include "wgfleet/macro.h"
#include "wgkey.h"
#include "worker.h"

/* A job whose VPN has an earlier unfinished job waits this long before another look. */
#define BLOCKED_DEFER_MS 200
/* No job due: look again after this long (or at once when the API queues one), so that
 * jobs queued by other controllers are picked up too. */
#define IDLE_WAIT_MS 200
/* The database is away: retry after 200..500 ms (jittered, so threads spread out). */
#define DB_RETRY_MIN_MS 200
#define DB_RETRY_SPAN_MS 300
#define ERR_LEN 512

static atomic_uint worker_seq;

struct worker {
	struct ctl_service *s;
	const struct controller_config *cfg;
	char owner[80];
	struct httpc *agent_http;   /* made on first use */
	struct httpc *webhook_http; /* made on first use */
	bool db_down;               /* the last database call failed: log the recovery */
};

/* ---- helpers shared with the poller and the sweeper (worker.h) */

int worker_agent_httpc_new(const struct ctl_service *s, struct httpc **ret)
{
	struct httpc_options o = {
	    .ca_file = s->cfg->agent_ca_file,
	    .timeout_ms = (unsigned)s->cfg->agent_timeout_ms,
	};

	return httpc_new(&o, ret);
}

int node_agent_open(const struct ctl_service *s, const struct db_node *n, struct node_agent *ret)
{
	uint8_t *token = NULL;
	size_t len = 0;
	int r;

	if (n->agent_token_enc) {
		r = vault_open(s->vault, n->agent_token_enc, n->agent_token_enc_len, &token, &len);
		if (r < 0)
			return r;
	}
	*ret = (struct node_agent){
	    .target = {.url = n->agent_url, .token = (const char *)token},
	    .token = token,
	    .token_len = len,
	};
	return 0;
}

void node_agent_close(struct node_agent *a)
{
	if (!a)
		return;
	vault_plain_free(a->token, a->token_len);
	*a = (struct node_agent){0};
}

bool worker_db_error_transient(int r)
{
	switch (r) {
	case -ENOTCONN:
	case -ETIMEDOUT:
	case -EAGAIN:
	case -EBUSY:
	case -EIO:
		return true;
	default:
		return false;
	}
}

static unsigned db_retry_ms(void)
{
	return DB_RETRY_MIN_MS + randombytes_uniform(DB_RETRY_SPAN_MS);
}

/* A database call failed in the loop: count it, log the first of a series. */
static void db_trouble(struct worker *w, struct db_conn *c, const char *what, int r)
{
	const struct db_error *e = c ? db_conn_error(c) : NULL;

	atomic_fetch_add(&w->s->metrics.db_errors, 1);
	if (w->db_down)
		return;
	w->db_down = true;
	svc_log(w->s, CTL_LOG_WARN, "%s: %s: %s; retrying", w->owner, what,
	        e && e->code && e->message[0] ? e->message : strerror(-r));
}

static void db_fine(struct worker *w)
{
	if (!w->db_down)
		return;
	w->db_down = false;
	svc_log(w->s, CTL_LOG_INFO, "%s: database reachable again", w->owner);
}

static int agent_http(struct worker *w, struct httpc **ret)
{
	int r;

	if (!w->agent_http) {
		r = worker_agent_httpc_new(w->s, &w->agent_http);
		if (r < 0)
			return r;
	}
	*ret = w->agent_http;
	return 0;
}

static int webhook_http(struct worker *w, struct httpc **ret)
{
	/* Webhook receivers are verified against the system's CAs: agent_ca_file is the
	 * fleet's own CA and says nothing about the bot's server. */
	struct httpc_options o = {.timeout_ms = (unsigned)w->cfg->agent_timeout_ms};
	int r;

	if (!w->webhook_http) {
		r = httpc_new(&o, &w->webhook_http);
		if (r < 0)
			return r;
	}
	*ret = w->webhook_http;
	return 0;
}

/* The agent's error as one line for last_error and the log (never a key or token). */
static void agent_err_text(char *out, size_t size, const char *what, int r,
                           const struct agent_error *e)
{
	if (e->http_status)
		snprintf(out, size, "%s: HTTP %u %s%s%s", what, e->http_status, e->code,
		         e->code[0] ? ": " : "", e->message);
	else
		snprintf(out, size, "%s: %s", what, e->message[0] ? e->message : strerror(-r));
}

/*
 * The preshared key of a config as base64 for the agent. The vault holds the 32 raw bytes
 * (grant.c); a config sealed as base64 text is accepted too. *ret_has false: none stored.
 */
static int open_psk(const struct ctl_service *s, const struct db_vpn *v,
                    char out[static WG_KEY_B64_LEN], bool *ret_has)
{
	uint8_t *plain = NULL, key[WG_KEY_LEN];
	size_t len = 0;
	int r;

	if (!v->preshared_key_enc) {
		*ret_has = false;
		return 0;
	}
	r = vault_open(s->vault, v->preshared_key_enc, v->preshared_key_enc_len, &plain, &len);
	if (r < 0)
		return r;
	if (len == WG_KEY_LEN) {
		wg_key_to_base64(out, plain);
		r = 0;
	} else if (len == WG_KEY_B64_LEN - 1 && wg_key_from_base64((const char *)plain, key) == 0) {
		wg_key_to_base64(out, key);
		r = 0;
	} else {
		r = -EINVAL;
	}
	wg_key_wipe(key, sizeof(key));
	vault_plain_free(plain, len);
	if (r == 0)
		*ret_has = true;
	return r;
}

/* ---- one peer of a VPN, as the agent wants it (worker.h) */

void peer_spec_done(struct peer_spec *p)
{
	wg_key_wipe(p->psk, sizeof(p->psk));
	free(p->addresses);
	json_decref(p->config);
	*p = (struct peer_spec){0};
}

int peer_spec_fill(const struct ctl_service *s, const struct db_vpn *v, struct peer_spec *p)
{
	json_t *a;
	bool has_psk = false;
	size_t n = 0;
	int r;

	*p = (struct peer_spec){0};
	r = open_psk(s, v, p->psk, &has_psk);
	if (r < 0)
		return r;
	p->req = (struct agent_peer_req){
	    .public_key = v->peer_public_key,
	    .preshared_key = has_psk ? p->psk : NULL,
	    .persistent_keepalive = (int)s->cfg->persistent_keepalive,
	};
	if (v->status != VPN_ACTIVE || !v->config)
		return 0;
	p->config = json_loads(v->config, 0, NULL);
	a = json_object_get(p->config, "addresses");
	if (!json_is_array(a) || json_array_size(a) == 0)
		return 0;
	p->addresses = calloc(json_array_size(a), sizeof(*p->addresses));
	if (!p->addresses) {
		peer_spec_done(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < json_array_size(a); i++) {
		const char *t = json_string_value(json_array_get(a, i));

		if (t)
			p->addresses[n++] = t;
	}
	p->req.addresses = p->addresses;
	p->req.n_addresses = n;
	return 0;
}

/* ---- provision */

/*
 * "10.101.0.2/32" (as the agent returned it) into the stored form and "10.101.0.2/32"
 * normalised (a /32 or /128: the address itself, whatever prefix the agent wrote).
 */
static int address_from_agent(const char *text, struct db_ip_address *ret, char *norm,
                              size_t norm_size)
{
	char buf[DB_IP_ADDRESS_STRLEN], out[DB_IP_ADDRESS_STRLEN];
	size_t n = strcspn(text, "/");
	int r;

	if (n == 0 || n >= sizeof(buf))
		return -EPROTO;
	memcpy(buf, text, n);
	buf[n] = '\0';
	r = db_ip_address_parse(buf, ret);
	if (r < 0)
		return -EPROTO;
	r = db_ip_address_format(ret, out, sizeof(out));
	if (r < 0)
		return -EPROTO;
	snprintf(norm, norm_size, "%s/%u", out, ret->len == 4 ? 32U : 128U);
	return 0;
}

int addresses_from_peer(const struct agent_peer *peer, struct db_ip_address **ret_addrs,
                               char **ret_config)
{
	struct db_ip_address *addrs = NULL;
	json_t *cfg = NULL, *list;
	char norm[DB_IP_ADDRESS_STRLEN + 5], *text = NULL;
	int r;

	addrs = calloc(peer->n_addresses ? peer->n_addresses : 1, sizeof(*addrs));
	list = json_array();
	cfg = json_pack("{s:o}", "addresses", list);
	if (!addrs || !cfg) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < peer->n_addresses; i++) {
		r = address_from_agent(peer->addresses[i], &addrs[i], norm, sizeof(norm));
		if (r < 0)
			goto out;
		if (json_array_append_new(list, json_string(norm)) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	text = json_dumps(cfg, JSON_COMPACT);
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	*ret_addrs = addrs;
	*ret_config = text;
	addrs = NULL;
	r = 0;
out:
	free(addrs);
	json_decref(cfg);
	return r;
}

/* The job's node, its agent opened (token unsealed) and this worker's HTTP client: what
 * every agent job needs first. On failure err says which step failed. */
static int job_agent_open(struct worker *w, struct db_conn *c, uint64_t node_id,
                          struct db_node **ret_node, struct node_agent *ret_agent,
                          struct httpc **ret_http, char *err, size_t err_size)
{
	struct db_node *n = NULL;
	struct node_agent a = {0};
	struct httpc *h = NULL;
	int r;

	r = db_node_get(c, node_id, &n);
	if (r < 0) {
		snprintf(err, err_size, "reading node %" PRIu64 ": %s", node_id, strerror(-r));
		goto out;
	}
	r = node_agent_open(w->s, n, &a);
	if (r < 0) {
		snprintf(err, err_size, "node %s: the agent token does not open: %s", n->name,
		         strerror(-r));
		goto out;
	}
	r = agent_http(w, &h);
	if (r < 0) {
		snprintf(err, err_size, "HTTP client: %s", strerror(-r));
		goto out;
	}
	*ret_node = n;
	*ret_agent = a;
	*ret_http = h;
	return 0;
out:
	node_agent_close(&a);
	db_node_free(n);
	return r;
}

static int run_provision(struct worker *w, struct db_conn *c, const struct db_job *j, char *err,
                         size_t err_size)
{
	struct db_vpn *v = NULL;
	struct db_node *n = NULL;
	struct node_agent a = {0};
	struct agent_peer *peer = NULL;
	struct agent_error aerr = {0};
	struct peer_spec spec = {0};
	struct db_ip_address *addrs = NULL;
	struct httpc *h;
	char *config = NULL, job_id[96];
	int r;

	r = db_vpn_get(c, j->vpn_config_id, &v);
	if (r < 0) {
		snprintf(err, err_size, "reading VPN %" PRIu64 ": %s", j->vpn_config_id,
		         strerror(-r));
		goto out;
	}
	/* Revoked or expired meanwhile (its revoke job follows this one), or already active
	 * (an earlier attempt got through but could not record it): nothing to do. */
	if (v->status != VPN_PENDING) {
		r = 0;
		goto out;
	}
	if (!v->peer_public_key) {
		snprintf(err, err_size, "VPN %" PRIu64 " has no peer key", v->id);
		r = -EINVAL;
		goto out;
	}
	r = job_agent_open(w, c, j->node_id, &n, &a, &h, err, err_size);
	if (r < 0)
		goto out;
	r = peer_spec_fill(w->s, v, &spec);
	if (r < 0) {
		snprintf(err, err_size, "VPN %" PRIu64 ": the preshared key does not open: %s",
		         v->id, strerror(-r));
		goto out;
	}
	/* The agent allocates from its pools; a retried job gets its first answer again. */
	spec.req.addresses = NULL;
	spec.req.n_addresses = 0;
	/* The peer's key in the id as well: job ids start again in a database restored from
	 * a backup, and the agent must not hand this VPN the answer it gave another peer. */
	snprintf(job_id, sizeof(job_id), "job-%" PRIu64 "-%s", j->id, v->peer_public_key);
	spec.req.job_id = job_id;
	r = agent_add_peer(h, &a.target, &spec.req, &peer, &aerr);
	if (r < 0) {
		agent_err_text(err, err_size, n->name, r, &aerr);
		goto out;
	}
	if (!peer->public_key || strcmp(peer->public_key, v->peer_public_key) != 0) {
		snprintf(err, err_size, "node %s answered for another peer", n->name);
		r = -EPROTO;
		goto out;
	}
	r = addresses_from_peer(peer, &addrs, &config);
	if (r < 0) {
		snprintf(err, err_size, "node %s answered an address we cannot use", n->name);
		goto out;
	}
	r = db_vpn_activate(c, 0, v->id, config, addrs, peer->n_addresses);
	if (r == -EALREADY || r == -EPERM) {
		/* Activated by an earlier attempt, or ended meanwhile: its revoke job comes
		 * after this one and removes the peer. */
		r = 0;
	} else if (r < 0) {
		snprintf(err, err_size, "activating VPN %" PRIu64 ": %.400s", v->id,
		         db_conn_error(c)->message[0] ? db_conn_error(c)->message : strerror(-r));
	}
out:
	free(config);
	free(addrs);
	agent_peer_free(peer);
	peer_spec_done(&spec);
	node_agent_close(&a);
	db_node_free(n);
	db_vpn_free(v);
	return r;
}

/* ---- revoke */

static int run_revoke(struct worker *w, struct db_conn *c, const struct db_job *j, char *err,
                      size_t err_size)
{
	struct db_vpn *v = NULL;
	struct db_node *n = NULL;
	struct node_agent a = {0};
	struct agent_error aerr = {0};
	struct httpc *h;
	bool removed = false;
	int r;

	r = db_vpn_get(c, j->vpn_config_id, &v);
	if (r < 0) {
		snprintf(err, err_size, "reading VPN %" PRIu64 ": %s", j->vpn_config_id,
		         strerror(-r));
		goto out;
	}
	if (!v->peer_public_key) {
		r = 0; /* never had a peer */
		goto out;
	}
	r = job_agent_open(w, c, j->node_id, &n, &a, &h, err, err_size);
	if (r < 0)
		goto out;
	/* An absent peer is success: never provisioned, or removed by an earlier attempt. */
	r = agent_remove_peer(h, &a.target, v->peer_public_key, &removed, &aerr);
	if (r < 0)
		agent_err_text(err, err_size, n->name, r, &aerr);
out:
	node_agent_close(&a);
	db_node_free(n);
	db_vpn_free(v);
	return r;
}

/* ---- resync */

static int next_generation_tx(struct db_conn *c, void *userdata)
{
	uint64_t *io = userdata; /* in: node id, out: the generation */

	return db_node_next_generation_in_tx(c, *io, io);
}

static bool has_id(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/*
 * After the PUT: what changed between our read of the live set and the agent's answer.
 * A VPN that ended meanwhile may have had its revoke job run before the PUT put it back,
 * and a VPN created meanwhile may have had its provision run before the PUT removed it;
 * both are put right here. Anything that changes after this read has a job of its own
 * that runs after it.
 */
static int resync_fixup(struct worker *w, struct db_conn *c, struct httpc *h,
                        const struct node_agent *a, const struct db_node *node,
                        const struct db_vpn *sent, size_t n_sent, char *err, size_t err_size)
{
	struct db_vpn *now = NULL;
	uint64_t *now_ids = NULL;
	struct agent_error aerr = {0};
	struct peer_spec spec = {0};
	struct agent_peer *peer = NULL;
	size_t n_now = 0;
	bool removed;
	int r;

	r = db_vpn_list_node_live(c, node->id, &now, &n_now);
	if (r < 0) {
		snprintf(err, err_size, "listing the live VPNs again: %s", strerror(-r));
		goto out;
	}
	now_ids = calloc(n_now ? n_now : 1, sizeof(*now_ids));
	if (!now_ids) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_now; i++)
		now_ids[i] = now[i].id;
	for (size_t i = 0; i < n_sent; i++) {
		if (!sent[i].peer_public_key || has_id(now_ids, n_now, sent[i].id))
			continue;
		r = agent_remove_peer(h, &a->target, sent[i].peer_public_key, &removed, &aerr);
		if (r < 0) {
			agent_err_text(err, err_size, node->name, r, &aerr);
			goto out;
		}
	}
	for (size_t i = 0; i < n_now; i++) {
		bool was_sent = false;

		for (size_t k = 0; k < n_sent && !was_sent; k++)
			was_sent = sent[k].id == now[i].id;
		if (was_sent || !now[i].peer_public_key)
			continue;
		r = peer_spec_fill(w->s, &now[i], &spec);
		if (r < 0) {
			snprintf(err, err_size, "VPN %" PRIu64 ": the preshared key does not open",
			         now[i].id);
			goto out;
		}
		r = agent_add_peer(h, &a->target, &spec.req, &peer, &aerr);
		peer_spec_done(&spec);
		peer = agent_peer_free(peer);
		if (r < 0) {
			agent_err_text(err, err_size, node->name, r, &aerr);
			goto out;
		}
	}
	r = 0;
out:
	peer_spec_done(&spec);
	free(now_ids);
	db_vpns_free(now, n_now);
	return r;
}

static int run_resync(struct worker *w, struct db_conn *c, const struct db_job *j, char *err,
                      size_t err_size, uint64_t *ret_generation)
{
	struct db_node *n = NULL;
	struct node_agent a = {0};
	struct agent_info *info = NULL;
	struct agent_error aerr = {0};
	struct db_vpn *vpns = NULL;
	struct peer_spec *specs = NULL;
	struct agent_peer_req *reqs = NULL;
	size_t n_vpns = 0, n_reqs = 0;
	struct httpc *h;
	uint64_t gen;
	int r;

	r = job_agent_open(w, c, j->node_id, &n, &a, &h, err, err_size);
	if (r < 0)
		goto out;
	r = agent_get_info(h, &a.target, &info, &aerr);
	if (r < 0) {
		agent_err_text(err, err_size, n->name, r, &aerr);
		goto out;
	}
	r = db_vpn_list_node_live(c, n->id, &vpns, &n_vpns);
	if (r < 0) {
		snprintf(err, err_size, "listing the live VPNs of node %s: %s", n->name,
		         strerror(-r));
		goto out;
	}
	specs = calloc(n_vpns ? n_vpns : 1, sizeof(*specs));
	reqs = calloc(n_vpns ? n_vpns : 1, sizeof(*reqs));
	if (!specs || !reqs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_vpns; i++) {
		if (!vpns[i].peer_public_key)
			continue;
		r = peer_spec_fill(w->s, &vpns[i], &specs[n_reqs]);
		if (r < 0) {
			snprintf(err, err_size, "VPN %" PRIu64 ": the preshared key does not open",
			         vpns[i].id);
			goto out;
		}
		reqs[n_reqs] = specs[n_reqs].req;
		n_reqs++;
	}

	gen = n->id;
	r = db_tx_run(c, next_generation_tx, &gen);
	if (r < 0) {
		snprintf(err, err_size, "next peer generation of node %s: %s", n->name,
		         strerror(-r));
		goto out;
	}
	/* The agent may have seen a higher generation (another database, a restored backup):
	 * ours must be newer, or it answers stale_generation. */
	if (info->generation >= gen)
		gen = info->generation + 1;
	r = agent_put_peers(h, &a.target, gen, reqs, n_reqs, NULL, &aerr);
	if (r < 0) {
		agent_err_text(err, err_size, n->name, r, &aerr);
		/* Someone PUT a newer set between our read and ours: the next attempt reads
		 * the agent's generation again. */
		if (r == -EEXIST && strcmp(aerr.code, "stale_generation") == 0)
			r = -EAGAIN;
		goto out;
	}
	r = resync_fixup(w, c, h, &a, n, vpns, n_vpns, err, err_size);
	if (r < 0)
		goto out;
	*ret_generation = gen;
out:
	for (size_t i = 0; specs && i < n_reqs; i++)
		peer_spec_done(&specs[i]);
	free(specs);
	free(reqs);
	db_vpns_free(vpns, n_vpns);
	agent_info_free(info);
	node_agent_close(&a);
	db_node_free(n);
	return r;
}

/* ---- notify */

static int run_notify(struct worker *w, const struct db_job *j, char *err, size_t err_size)
{
	struct httpc *h;
	int r;

	r = webhook_http(w, &h);
	if (r < 0) {
		snprintf(err, err_size, "HTTP client: %s", strerror(-r));
		return r;
	}
	return webhook_send(w->s, h, j, err, err_size);
}

/* ---- running a job and recording the outcome */

static bool job_error_retryable(const struct db_job *j, int r)
{
	if (worker_db_error_transient(r) || r == -ENOMEM)
		return true;
	if (j->kind == JOB_NOTIFY)
		return webhook_error_retryable(r);
	return agent_error_retryable(r);
}

/* job_backoff · 2^(attempts-1), capped at job_backoff_max, then ±25 % so that jobs that
 * failed together do not all come back together. */
static uint64_t retry_delay_ms(const struct controller_config *cfg, unsigned attempts)
{
	uint64_t d = cfg->job_backoff_ms, span;

	for (unsigned i = 1; i < attempts && d < cfg->job_backoff_max_ms; i++)
		d *= 2;
	if (d > cfg->job_backoff_max_ms)
		d = cfg->job_backoff_max_ms;
	span = d / 2;
	if (span > 0 && span < UINT32_MAX)
		d = d - d / 4 + randombytes_uniform((uint32_t)span + 1);
	return d;
}

enum outcome {
	OUTCOME_DONE,
	OUTCOME_RETRY,
	OUTCOME_FAIL,
};

/*
 * How many attempts a job of this kind gets before it is failed (0: no limit). A revoke
 * never gives up while its error may pass: a revoked or expired user must not stay
 * connected because an agent was down longer than the other jobs' attempts last.
 */
static unsigned attempts_budget(const struct controller_config *cfg, enum job_kind kind)
{
	return kind == JOB_REVOKE ? 0 : cfg->job_max_attempts;
}

/*
 * Writes the outcome; while the database is away, tries again for up to half the lease
 * (the job stays ours that long), so a short outage costs no second run. A commit whose
 * outcome was unknown and that went through shows as -ESTALE on the next try.
 */
static int record(struct worker *w, struct db_conn *c, const struct db_job *j, enum outcome o,
                  uint64_t delay_ms, const char *error, const char *result, bool *ret_failed)
{
	struct timespec t0, t;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		switch (o) {
		case OUTCOME_DONE:
			r = db_job_done(c, j->id, w->owner, result);
			break;
		case OUTCOME_RETRY:
			r = db_job_retry(c, j->id, w->owner, delay_ms, error,
			                 attempts_budget(w->cfg, j->kind), ret_failed);
			break;
		default:
			r = db_job_fail(c, j->id, w->owner, error);
			break;
		}
		if (r >= 0 || !worker_db_error_transient(r) || atomic_load(&w->s->stopping))
			return r;
		db_trouble(w, c, "recording a job's outcome", r);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((uint64_t)(t.tv_sec - t0.tv_sec) * 1000 +
		        (uint64_t)((t.tv_nsec - t0.tv_nsec) / 1000000) >
		    w->cfg->job_lease_ms / 2)
			return r;
		svc_sleep(w->s, db_retry_ms());
	}
}

static void run_one(struct worker *w, struct db_conn *c, const struct db_job *j)
{
	const char *kind = job_kind_to_string(j->kind);
	char err[ERR_LEN] = "", result[96] = "";
	uint64_t gen = 0, delay = 0;
	bool blocked = false, failed = false;
	enum outcome o;
	int r, r2;

	if (!kind || (unsigned)j->kind >= _JOB_KIND_MAX)
		return; /* a kind this build does not know: its lease runs out, a newer one takes it
		         */

	r = db_job_blocked(c, j, &blocked);
	if (r < 0) {
		/* Unknown: the lease runs out and the job comes back. */
		db_trouble(w, c, "checking a job's order", r);
		return;
	}
	if (blocked) {
		r = db_job_defer(c, j->id, w->owner, BLOCKED_DEFER_MS);
		if (r < 0 && r != -ESTALE)
			db_trouble(w, c, "deferring a job", r);
		return;
	}

	switch (j->kind) {
	case JOB_PROVISION:
		r = run_provision(w, c, j, err, sizeof(err));
		break;
	case JOB_REVOKE:
		r = run_revoke(w, c, j, err, sizeof(err));
		break;
	case JOB_RESYNC:
		r = run_resync(w, c, j, err, sizeof(err), &gen);
		if (r == 0)
			snprintf(result, sizeof(result), "{\"generation\":%" PRIu64 "}", gen);
		break;
	case JOB_NOTIFY:
		r = run_notify(w, j, err, sizeof(err));
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r < 0 && !err[0])
		snprintf(err, sizeof(err), "%s", strerror(-r));

	if (r == 0)
		o = OUTCOME_DONE;
	else if (job_error_retryable(j, r))
		o = OUTCOME_RETRY;
	else
		o = OUTCOME_FAIL;
	if (o == OUTCOME_RETRY)
		delay = retry_delay_ms(w->cfg, j->attempts);

	r2 = record(w, c, j, o, delay, o == OUTCOME_DONE ? NULL : err, result[0] ? result : NULL,
	            &failed);
	if (r2 == -ESTALE)
		return; /* our lease ran out and another worker has it: its result counts */
	if (r2 < 0) {
		/* The lease runs out and the job is claimed again; every step repeats safely. */
		db_trouble(w, c, "recording a job's outcome", r2);
		return;
	}
	db_fine(w);

	switch (o) {
	case OUTCOME_DONE:
		atomic_fetch_add(&w->s->metrics.jobs_done[j->kind], 1);
		svc_log(w->s, CTL_LOG_DEBUG, "job %" PRIu64 " (%s) done", j->id, kind);
		svc_job_finished(w->s, j->vpn_config_id);
		break;
	case OUTCOME_RETRY:
		if (failed) {
			atomic_fetch_add(&w->s->metrics.jobs_failed[j->kind], 1);
			svc_log(w->s, CTL_LOG_WARN,
			        "job %" PRIu64 " (%s) failed after %u attempts: %s", j->id, kind,
			        j->attempts, err);
			svc_job_finished(w->s, j->vpn_config_id);
		} else {
			atomic_fetch_add(&w->s->metrics.jobs_retried[j->kind], 1);
			/* The first failure of a job says what is wrong; the later ones repeat it.
			 */
			svc_log(w->s, j->attempts <= 1 ? CTL_LOG_INFO : CTL_LOG_DEBUG,
			        "job %" PRIu64 " (%s) attempt %u: %s; retry in %" PRIu64 " ms",
			        j->id, kind, j->attempts, err, delay);
		}
		break;
	case OUTCOME_FAIL:
		atomic_fetch_add(&w->s->metrics.jobs_failed[j->kind], 1);
		svc_log(w->s, CTL_LOG_WARN, "job %" PRIu64 " (%s) failed: %s", j->id, kind, err);
		svc_job_finished(w->s, j->vpn_config_id);
		break;
	}
}

void *worker_main(void *svc)
{
	struct ctl_service *s = svc;
	struct worker w = {.s = s, .cfg = s->cfg};
	uint64_t seen;

	snprintf(w.owner, sizeof(w.owner), "%s:w%u", s->owner,
	         atomic_fetch_add(&worker_seq, 1) + 1);
	pthread_mutex_lock(&s->lock);
	seen = s->queued_seq;
	pthread_mutex_unlock(&s->lock);

	while (!atomic_load(&s->stopping)) {
		struct db_conn *c = NULL;
		struct db_job *jobs = NULL;
		size_t n = 0;
		int r;

		r = svc_db_acquire(s, &c);
		if (r < 0) {
			w.db_down = true;
			svc_sleep(s, db_retry_ms());
			continue;
		}
		/* One at a time: a job claimed is a job this thread starts now, and other
		 * threads and controllers take the rest. */
		r = db_job_claim(c, w.owner, (unsigned)w.cfg->job_lease_ms, 1, &jobs, &n);
		if (r < 0) {
			db_trouble(&w, c, "claiming jobs", r);
			db_release(c);
			svc_sleep(s, db_retry_ms());
			continue;
		}
		db_fine(&w);
		for (size_t i = 0; i < n; i++)
			run_one(&w, c, &jobs[i]);
		db_jobs_free(jobs, n);
		db_release(c);
		if (n == 0)
			svc_wait_queued(s, &seen, IDLE_WAIT_MS);
	}
	httpc_free(w.agent_http);
	httpc_free(w.webhook_http);
	return NULL;
}

/* ---- /metrics */

static int count_health(struct db_conn *c, uint64_t ret[static _NODE_HEALTH_MAX])
{
	struct db_node *nodes = NULL;
	size_t n = 0;
	int r;

	r = db_node_list(c, &nodes, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if ((unsigned)nodes[i].health < _NODE_HEALTH_MAX)
			ret[nodes[i].health]++;
	db_nodes_free(nodes, n);
	return 0;
}

int svc_metrics_text(struct ctl_service *s, char **ret_text, size_t *ret_len)
{
	static const char *const outcomes[] = {"done", "retried", "failed"};
	const struct svc_metrics *m = &s->metrics;
	const atomic_uint_fast64_t *by_outcome[] = {m->jobs_done, m->jobs_retried, m->jobs_failed};
	struct db_status *st = NULL;
	struct db_conn *c = NULL;
	uint64_t health[_NODE_HEALTH_MAX] = {0};
	bool have_status = false, have_health = false;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	/* The gauges are a few small indexed reads; without the database the counters still
	 * answer. A short wait: a scrape must not hang on a busy pool. */
	r = db_acquire(s->db, 1000, &c, NULL);
	if (r == 0) {
		have_status = db_status_get(c, &st) == 0;
		have_health = count_health(c, health) == 0;
		db_release(c);
	}
	/* -EDEADLK: the caller holds a connection already; its mistake, not the database's. */
	if ((r < 0 && r != -EDEADLK) || (r == 0 && (!have_status || !have_health)))
		atomic_fetch_add(&s->metrics.db_errors, 1);

	f = open_memstream(&text, &len);
	if (!f) {
		r = negative_errno();
		goto out;
	}
	fputs("# HELP wgfleet_controller_jobs_total Jobs this process ran, by kind and outcome.\n"
	      "# TYPE wgfleet_controller_jobs_total counter\n",
	      f);
	for (unsigned k = 0; k < _JOB_KIND_MAX; k++)
		for (size_t o = 0; o < ARRAY_SIZE(outcomes); o++)
			fprintf(f,
			        "wgfleet_controller_jobs_total{kind=\"%s\",outcome=\"%s\"} %" PRIu64
			        "\n",
			        job_kind_to_string(k), outcomes[o],
			        (uint64_t)atomic_load(&by_outcome[o][k]));
	fprintf(
	    f,
	    "# HELP wgfleet_controller_polls_total Agent polls by outcome.\n"
	    "# TYPE wgfleet_controller_polls_total counter\n"
	    "wgfleet_controller_polls_total{outcome=\"ok\"} %" PRIu64 "\n"
	    "wgfleet_controller_polls_total{outcome=\"failed\"} %" PRIu64 "\n"
	    "# HELP wgfleet_controller_resyncs_total Resync jobs queued after an agent restart.\n"
	    "# TYPE wgfleet_controller_resyncs_total counter\n"
	    "wgfleet_controller_resyncs_total %" PRIu64 "\n"
	    "# HELP wgfleet_controller_expired_total VPNs this process expired.\n"
	    "# TYPE wgfleet_controller_expired_total counter\n"
	    "wgfleet_controller_expired_total %" PRIu64 "\n"
	    "# HELP wgfleet_controller_webhooks_total Webhooks queued.\n"
	    "# TYPE wgfleet_controller_webhooks_total counter\n"
	    "wgfleet_controller_webhooks_total %" PRIu64 "\n"
	    "# HELP wgfleet_controller_db_errors_total Database calls that failed.\n"
	    "# TYPE wgfleet_controller_db_errors_total counter\n"
	    "wgfleet_controller_db_errors_total %" PRIu64 "\n",
	    (uint64_t)atomic_load(&m->polls_ok), (uint64_t)atomic_load(&m->polls_failed),
	    (uint64_t)atomic_load(&m->resyncs_queued), (uint64_t)atomic_load(&m->vpns_expired),
	    (uint64_t)atomic_load(&m->webhooks_queued), (uint64_t)atomic_load(&m->db_errors));
	if (have_status) {
		fputs("# HELP wgfleet_controller_jobs Jobs in the database by state.\n"
		      "# TYPE wgfleet_controller_jobs gauge\n",
		      f);
		for (unsigned i = 0; i < _JOB_STATE_MAX; i++)
			fprintf(f, "wgfleet_controller_jobs{state=\"%s\"} %" PRIu64 "\n",
			        job_state_to_string(i), st->jobs_by_state[i]);
	}
	if (have_health) {
		fputs("# HELP wgfleet_controller_nodes Nodes by health at their last poll.\n"
		      "# TYPE wgfleet_controller_nodes gauge\n",
		      f);
		for (unsigned i = 0; i < _NODE_HEALTH_MAX; i++)
			fprintf(f, "wgfleet_controller_nodes{health=\"%s\"} %" PRIu64 "\n",
			        node_health_to_string(i), health[i]);
	}
	fprintf(f,
	        "# HELP wgfleet_controller_database_up Whether the gauges could be read.\n"
	        "# TYPE wgfleet_controller_database_up gauge\n"
	        "wgfleet_controller_database_up %d\n",
	        have_status && have_health);
	if (fclose(f) != 0 || !text) {
		r = -ENOMEM;
		goto out;
	}
	*ret_text = text;
	*ret_len = len;
	text = NULL;
	r = 0;
out:
	free(text);
	db_status_free(st);
	return r;
}
