// SPDX-License-Identifier: MIT
/*
 * The expiry sweeper (service.h, docs/controller.md "Expiry"): every sweep_interval, the
 * active configs past their expiry are expired, each in one transaction with its revoke
 * job and its vpn.expired webhook; then the configs expiring within expiry_notice get
 * their vpn.expiring webhook.
 *
 * Any number of controllers may sweep at once: the expiry is a guarded UPDATE (one
 * winner; the others see -EALREADY or -ESTALE and skip), and every job has an
 * idempotency key.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_job.h"
#include "db_vpn.h"
#include "service.h"
#include "worker.h"

/* Per round; a full page is followed at once by the next. */
#define SWEEP_BATCH 500

/* A vpn.expiring notice this process has queued: id and the expiry it was for. */
struct notice {
	uint64_t id;
	int64_t expires_at_us;
};

struct sweeper {
	struct ctl_service *s;
	/* The notices queued in earlier rounds that are still due, sorted: each round's
	 * due list is mostly the same configs, and the database need not be asked to
	 * queue again what it would refuse by key anyway. */
	struct notice *sent;
	size_t n_sent;
	bool db_down;
};

static void db_trouble(struct sweeper *w, const char *what, int r)
{
	atomic_fetch_add(&w->s->metrics.db_errors, 1);
	if (!w->db_down)
		svc_log(w->s, CTL_LOG_WARN, "sweeper: %s: %s", what, strerror(-r));
	w->db_down = true;
}

/* ---- expiry */

struct expire_tx {
	struct ctl_service *s;
	const struct db_vpn *v;
	const char *data; /* vpn.expired data; NULL: no webhook */
	char key[64];
};

static int expire_tx(struct db_conn *c, void *userdata)
{
	struct expire_tx *x = userdata;
	int r;

	r = db_vpn_expire_due_in_tx(c, 0, x->v->id);
	if (r < 0)
		return r;
	r = grant_queue_revoke_in_tx(c, x->v->id, x->v->node_id);
	if (r < 0)
		return r;
	if (x->data)
		r = grant_queue_webhook_in_tx(x->s, c, "vpn.expired", x->data, x->key);
	return r;
}

/* 1: expired now, 0: not (any more) due or ended by someone else, or -errno. */
static int expire_one(struct sweeper *w, struct db_conn *c, const struct db_vpn *v)
{
	struct expire_tx x = {.s = w->s, .v = v};
	char *data = NULL;
	int r;

	if (w->s->cfg->webhook_url) {
		/* Read before the transaction: db_tx_run may run it again on a deadlock, so
		 * it only writes. */
		r = webhook_vpn_data(c, v->id, v->user_id, v->expires_at_us, &data);
		if (r < 0)
			return r;
		x.data = data;
		snprintf(x.key, sizeof(x.key), "vpn.expired-%" PRIu64, v->id);
	}
	r = db_tx_run(c, expire_tx, &x);
	free(data);
	/* Extended by a payment after the list was read (-ESTALE), or already expired or
	 * revoked by another controller or the API (-EALREADY, -EPERM). */
	if (r == -ESTALE || r == -EALREADY || r == -EPERM)
		return 0;
	return r < 0 ? r : 1;
}

/* Expires every due config; false if the database failed. */
static bool sweep_expired(struct sweeper *w, struct db_conn *c)
{
	struct db_vpn *vpns = NULL;
	size_t n = 0, done;
	int r;

	do {
		done = 0;
		r = db_vpn_list_expired(c, SWEEP_BATCH, &vpns, &n);
		if (r < 0) {
			db_trouble(w, "listing expired VPNs", r);
			return false;
		}
		for (size_t i = 0; i < n && !atomic_load(&w->s->stopping); i++) {
			r = expire_one(w, c, &vpns[i]);
			if (r < 0) {
				if (worker_db_error_transient(r)) {
					db_trouble(w, "expiring a VPN", r);
					vpns = db_vpns_free(vpns, n);
					return false;
				}
				svc_log(w->s, CTL_LOG_WARN, "sweeper: expiring VPN %" PRIu64 ": %s",
				        vpns[i].id, strerror(-r));
				continue;
			}
			if (r == 0)
				continue;
			done++;
			atomic_fetch_add(&w->s->metrics.vpns_expired, 1);
			svc_log(w->s, CTL_LOG_INFO, "VPN %" PRIu64 " expired: revoke queued",
			        vpns[i].id);
			/* Its revoke job starts now, not at a worker's next look. */
			svc_kick_workers(w->s);
		}
		vpns = db_vpns_free(vpns, n);
		/* A full page that made progress: there may be more right behind it. */
	} while (n == SWEEP_BATCH && done > 0 && !atomic_load(&w->s->stopping));
	return true;
}

/* ---- expiry notices */

static int cmp_notice(const void *a, const void *b)
{
	const struct notice *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->expires_at_us != y->expires_at_us)
		return x->expires_at_us < y->expires_at_us ? -1 : 1;
	return 0;
}

struct notice_tx {
	struct ctl_service *s;
	const char *data;
	char key[96];
};

static int notice_tx(struct db_conn *c, void *userdata)
{
	struct notice_tx *x = userdata;

	return grant_queue_webhook_in_tx(x->s, c, "vpn.expiring", x->data, x->key);
}

static int queue_notice(struct sweeper *w, struct db_conn *c, const struct db_vpn *v)
{
	struct notice_tx x = {.s = w->s};
	char *data = NULL;
	int r;

	r = webhook_vpn_data(c, v->id, v->user_id, v->expires_at_us, &data);
	if (r < 0)
		return r;
	x.data = data;
	/* The expiry is part of the key: an extended config earns a new notice, and a
	 * restart never a second one for the same expiry. */
	snprintf(x.key, sizeof(x.key), "vpn.expiring-%" PRIu64 "-%" PRId64, v->id,
	         v->expires_at_us);
	r = db_tx_run(c, notice_tx, &x);
	free(data);
	return r;
}

/* Queues vpn.expiring for every config due within expiry_notice; false on database
 * failure. */
static bool sweep_notices(struct sweeper *w, struct db_conn *c)
{
	const struct controller_config *cfg = w->s->cfg;
	struct db_vpn *vpns = NULL;
	struct notice *now = NULL;
	size_t n = 0, n_now = 0;
	uint32_t secs;
	bool ok = true;
	int r;

	if (!cfg->webhook_url || !cfg->expiry_notice_s)
		return true;
	secs = cfg->expiry_notice_s > UINT32_MAX ? UINT32_MAX : (uint32_t)cfg->expiry_notice_s;
	r = db_vpn_list_due(c, secs, SWEEP_BATCH, &vpns, &n);
	if (r < 0) {
		db_trouble(w, "listing VPNs due to expire", r);
		return false;
	}
	now = calloc(n ? n : 1, sizeof(*now));
	if (!now) {
		db_vpns_free(vpns, n);
		return true;
	}
	for (size_t i = 0; i < n && !atomic_load(&w->s->stopping); i++) {
		struct notice k = {vpns[i].id, vpns[i].expires_at_us};

		if (!w->n_sent || !bsearch(&k, w->sent, w->n_sent, sizeof(k), cmp_notice)) {
			r = queue_notice(w, c, &vpns[i]);
			if (r < 0) {
				if (worker_db_error_transient(r)) {
					db_trouble(w, "queueing an expiry notice", r);
					ok = false;
					break;
				}
				svc_log(w->s, CTL_LOG_WARN,
				        "sweeper: expiry notice of VPN %" PRIu64 ": %s", vpns[i].id,
				        strerror(-r));
				continue;
			}
			svc_kick_workers(w->s);
		}
		now[n_now++] = k;
	}
	/* Only what is still due stays remembered: the list never outgrows one page. */
	qsort(now, n_now, sizeof(*now), cmp_notice);
	free(w->sent);
	w->sent = now;
	w->n_sent = n_now;
	db_vpns_free(vpns, n);
	return ok;
}

/* Done jobs past job_retention, a bounded batch per sweep: the table stays the size of
 * the recent past, and a large backlog goes in many short statements, not one long one. */
#define PURGE_BATCH 5000

static void purge_jobs(struct sweeper *w, struct db_conn *c)
{
	uint64_t n = 0;
	int r;

	r = db_job_purge(c, w->s->cfg->job_retention_s, PURGE_BATCH, &n);
	if (r < 0)
		db_trouble(w, "purging finished jobs", r);
	else if (n)
		svc_log(w->s, CTL_LOG_DEBUG, "sweeper: purged %" PRIu64 " finished jobs", n);
}

static bool sweep(struct sweeper *w)
{
	struct db_conn *c = NULL;
	bool ok;

	if (svc_db_acquire(w->s, &c) < 0)
		return false;
	ok = sweep_expired(w, c) && sweep_notices(w, c);
	if (ok && w->s->cfg->job_retention_s)
		purge_jobs(w, c);
	db_release(c);
	if (ok && w->db_down) {
		w->db_down = false;
		svc_log(w->s, CTL_LOG_INFO, "sweeper: database reachable again");
	}
	return ok;
}

static bool sweep_step(void *arg)
{
	return sweep(arg);
}

void *sweeper_main(void *svc)
{
	struct ctl_service *s = svc;
	struct sweeper w = {.s = s};

	svc_every(s, s->cfg->sweep_interval_ms, sweep_step, &w);
	free(w.sent);
	return NULL;
}
