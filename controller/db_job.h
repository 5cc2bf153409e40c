/* SPDX-License-Identifier: MIT */
/*
 * The durable job queue: what the controller still has to tell a node's agent (provision,
 * revoke, resync) or a webhook (notify). A job is written in the same transaction as the
 * record change it follows (db_job_enqueue_in_tx), claimed by a worker with a lease, and
 * ends done or failed:
 *
 *   pending --claim--> running --done--> done
 *                              --retry--> pending (again after a delay) | failed (out of attempts)
 *                              --defer--> pending (the attempt does not count)
 *                              --fail---> failed
 *   running, lease expired --claim--> running (another owner)
 *
 * Ordering: an agent job of a VPN is not claimed while an earlier (lower id) agent job of
 * the same VPN is pending or running, so a revoke never overtakes the provision before it.
 * Webhook jobs (notify) neither wait for nor hold up anyone. Any number of controllers
 * may claim at once: claims skip each other's rows (FOR UPDATE SKIP LOCKED).
 *
 * Transactions: the _in_tx function runs in the caller's; every other function that
 * changes something opens its own (c must not be in one). Reads run in whatever c is in.
 *
 * Errors as in db.h, plus:
 *   -ENOENT  no such job (or no job for that VPN)
 *   -ESTALE  the job is no longer running under this owner: its lease ran out and another
 *            worker claimed it (or it ended): the caller's result is discarded
 *   -EINVAL  bad input (unknown kind, a notify job with a node, an agent job without one,
 *            payload or result not JSON, an empty or too long key or owner), or a
 *            constraint refused it (a node or VPN that does not exist)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "model.h"

struct db_job_new {
	enum job_kind kind;
	uint64_t node_id;       /* 0: none (notify only; every other kind needs one) */
	uint64_t vpn_config_id; /* 0: none */
	const char *payload;    /* a JSON object; NULL: {} */
	const char *idempotency_key; /* 1..191 characters; one job per key, ever */
};

struct db_job {
	uint64_t id;
	enum job_kind kind;
	uint64_t node_id, vpn_config_id; /* 0: none */
	char *payload;                   /* JSON object */
	enum job_state state;
	unsigned attempts; /* claims so far, deferrals not counted */
	int64_t next_attempt_at_us;
	int64_t lease_expires_at_us; /* 0 unless running */
	char *last_error;            /* NULL: none */
	char *idempotency_key;
	char *claimed_by; /* the last owner; NULL if never claimed */
	char *result;     /* JSON, NULL: none */
	int64_t created_at_us, updated_at_us;
	int64_t finished_at_us; /* 0 unless done or failed */
};

/* NULL is fine; returns NULL. */
/* Frees what v holds, not v itself (one held by value); NULL is fine. */
void db_job_clear(struct db_job *v);
struct db_job *db_job_free(struct db_job *j);
/* Frees an array of n jobs; NULL is fine; returns NULL. */
struct db_job *db_jobs_free(struct db_job *v, size_t n);

/*
 * Queues a job, pending and due now, inside the caller's transaction. A job with this
 * idempotency key exists already (from any time, in any state): 0, *ret_id is that job,
 * *ret_created false, and nothing changes; so enqueueing is idempotent. A concurrent
 * enqueue of the same key waits for the first transaction and then finds its job.
 */
int db_job_enqueue_in_tx(struct db_conn *c, const struct db_job_new *n, uint64_t *ret_id,
                         bool *ret_created);
/* The same, in a transaction of its own. */
int db_job_enqueue(struct db_conn *c, const struct db_job_new *n, uint64_t *ret_id,
                   bool *ret_created);

/*
 * Claims up to max jobs (1..1000) for owner (1..64 bytes, e.g. "host:pid:worker"), in a
 * transaction of its own: running jobs whose lease ran out first, then pending jobs that
 * are due, oldest first; jobs another claim holds are skipped, and so are blocked ones (see
 * the ordering above). Each becomes running with attempts + 1, claimed_by = owner and a
 * lease of lease_ms (> 0) from now by the database's clock. *ret (db_jobs_free) has
 * *ret_n jobs, possibly none, as they are after the claim.
 */
int db_job_claim(struct db_conn *c, const char *owner, unsigned lease_ms, unsigned max,
                 struct db_job **ret, size_t *ret_n);

/*
 * Whether an earlier agent job of j's VPN is still pending or running, read after the
 * claim committed. Two claims that ran at the same moment can each take one of a VPN's
 * jobs (each skips the row the other holds); this read sees what they committed, and the
 * worker defers a job it says is blocked. Always false for notify jobs and jobs without
 * a VPN.
 */
int db_job_blocked(struct db_conn *c, const struct db_job *j, bool *ret);

/*
 * Batched provisioning (the provisioner), inside the caller's transaction: a provision job
 * for each of the n configs (DB_BATCH_MAX at most; key "provision-<vpn id>"), running
 * under owner with a lease of lease_ms from the start (the creator runs it itself; if it
 * dies, the lease runs out and any worker takes it). *ret_jobs: the n jobs as stored, in
 * the order of vpn_ids. -EEXIST: a job with such a key exists.
 */
int db_job_insert_running_in_tx(struct db_conn *c, const uint64_t *vpn_ids,
                                const uint64_t *node_ids, size_t n, const char *owner,
                                unsigned lease_ms, struct db_job **ret_jobs);

/* Batched db_job_done (no result) inside the caller's transaction, for jobs the caller
 * holds locked and knows to be its own (db_vpn_activate_many_in_tx checks and locks them):
 * a bulk UPDATE's affected-row count cannot tell. */
int db_job_done_many_in_tx(struct db_conn *c, const uint64_t *ids, size_t n, const char *owner);

/* Batched running(owner) -> pending, due after delay_ms, with error as last_error, in a
 * transaction of its own; jobs no longer ours are left alone. */
int db_job_release_many(struct db_conn *c, const uint64_t *ids, size_t n, const char *owner,
                        uint64_t delay_ms, const char *error);

/* running(owner) -> done, with result (JSON; NULL: none). -ESTALE as above. */
int db_job_done(struct db_conn *c, uint64_t id, const char *owner, const char *result);

/*
 * running(owner) -> pending, due again delay_ms from now, with error (NULL: none; cut to
 * 4096 characters) as last_error. If the job has been claimed max_attempts times or more
 * (max_attempts > 0) it becomes failed instead and *ret_failed (optional) is true.
 * -ESTALE as above.
 */
int db_job_retry(struct db_conn *c, uint64_t id, const char *owner, uint64_t delay_ms,
                 const char *error, unsigned max_attempts, bool *ret_failed);

/* running(owner) -> pending, due again delay_ms from now, the claim not counted as an
 * attempt (a blocked job). -ESTALE as above. */
int db_job_defer(struct db_conn *c, uint64_t id, const char *owner, uint64_t delay_ms);

/* running(owner) -> failed at once, with error (NULL: none) as last_error: a permanent
 * error, e.g. the agent refused the request as invalid. -ESTALE as above. */
int db_job_fail(struct db_conn *c, uint64_t id, const char *owner, const char *error);

/*
 * Deletes up to limit (1..100000) done jobs that finished more than older_than_s (> 0)
 * seconds ago, oldest first, in one statement of its own; *ret_deleted (optional) counts
 * them. Failed jobs are kept. A purged job's idempotency key may be used again, so
 * older_than_s must outlast every reason to queue the same key twice (ctlconf.h's
 * job_retention check).
 */
int db_job_purge(struct db_conn *c, uint64_t older_than_s, unsigned limit,
                 uint64_t *ret_deleted);

/*
 * failed -> pending, due now, with a fresh attempt budget (attempts 0; last_error kept
 * until the next attempt writes its own): what an operator does once the cause is fixed
 * (an agent token replaced, a webhook receiver repaired). The job's ordering rule holds as
 * for any pending job. -ENOENT: no such job; -EPERM: the job is not failed.
 */
int db_job_requeue(struct db_conn *c, uint64_t id);

int db_job_get(struct db_conn *c, uint64_t id, struct db_job **ret);

/* Newest first, at most limit (1..1000); state < 0: any, else an enum job_state.
 * *ret (db_jobs_free) has *ret_n jobs. */
int db_job_list(struct db_conn *c, int state, unsigned limit, struct db_job **ret,
                size_t *ret_n);

/* The newest agent job (provision, revoke, resync) of a VPN, for the API's "job" field;
 * -ENOENT if none. */
int db_job_latest_for_vpn(struct db_conn *c, uint64_t vpn_id, struct db_job **ret);
