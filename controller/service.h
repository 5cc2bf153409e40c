/* SPDX-License-Identifier: MIT */
/*
 * The running controller (`wgfleet-controller run`, docs/controller.md): what its parts
 * share. One struct ctl_service per process, created by cmd_run.c, read by the HTTP
 * handlers (api*.c), the job workers (worker.c), the node poller (poller.c) and the expiry
 * sweeper (sweeper.c), each on threads of its own.
 *
 * Everything in the struct is set before the first thread starts and read-only afterwards,
 * except the fields marked atomic or guarded by `lock`.
 *
 * Logging: the daemon logs once, where an error is handled (svc_log); the libraries below
 * (db, agentclient, vault, ...) never log. Nothing logs a key, token or the master key.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctlconf.h"
#include "db.h"
#include "model.h"
#include "wgkey.h"

struct vault;
struct http_server;

/* Counters for /metrics; all atomic, monotonically increasing. */
struct svc_metrics {
	atomic_uint_fast64_t jobs_done[_JOB_KIND_MAX];
	atomic_uint_fast64_t jobs_retried[_JOB_KIND_MAX];
	atomic_uint_fast64_t jobs_failed[_JOB_KIND_MAX];
	atomic_uint_fast64_t polls_ok, polls_failed;
	atomic_uint_fast64_t resyncs_queued;
	atomic_uint_fast64_t vpns_expired;
	atomic_uint_fast64_t webhooks_queued;
	atomic_uint_fast64_t db_errors;
};

struct ctl_service {
	const struct controller_config *cfg;
	struct vault *vault; /* the master key */
	struct db *db;
	struct http_server *http; /* NULL until the API listens */
	struct provisioner *prov; /* provisioner.h; NULL: VPNs are created one at a time */
	char owner[64];            /* "host:pid": this process in jobs.claimed_by */
	char *webhook_secret;      /* NULL: no signature; wiped at exit */
	size_t webhook_secret_len;

	atomic_bool stopping; /* SIGTERM/SIGINT seen: threads finish their step and return */

	/* Wakes the workers when the API has queued a job (so a provision starts at once
	 * rather than at the next poll of the jobs table), and wakes the API's ?wait= when a
	 * worker has finished one. Both are hints: every waiter re-reads the database. */
	pthread_mutex_t lock;
	pthread_cond_t jobs_queued;   /* signalled by svc_kick_workers */
	pthread_cond_t jobs_finished; /* broadcast by svc_job_finished */
	uint64_t queued_seq, finished_seq; /* guarded by lock */
	/* The VPN of each of the last SVC_FINISHED_RING finished jobs (0: none), at index
	 * seq % SVC_FINISHED_RING: a ?wait= waiter reads the database when its own VPN's job
	 * finished, not on every job of every client. Guarded by lock. */
#define SVC_FINISHED_RING 512
	uint64_t finished_vpn[SVC_FINISHED_RING];

	struct svc_metrics metrics;
};

/* One log line on stderr: "<level> <message>", if level <= cfg->log_level. Thread-safe. */
void svc_log(const struct ctl_service *s, enum ctl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * A pooled database connection for the calling thread (db_acquire with the service's
 * timeout); on failure logs once per call site's error (warn) and counts a db error.
 * Release with db_release().
 */
int svc_db_acquire(struct ctl_service *s, struct db_conn **ret);

/* After a commit that queued jobs: wake a worker now. */
void svc_kick_workers(struct ctl_service *s);
/* After a worker finished a job (done or failed) of vpn_id (0: none): wake the ?wait=
 * waiters. */
void svc_job_finished(struct ctl_service *s, uint64_t vpn_id);

/*
 * Sleeps until a job is queued (svc_kick_workers), timeout_ms passes, or the service stops.
 * seen: the caller's last queued_seq (updated). Returns at once if queued_seq moved on.
 */
void svc_wait_queued(struct ctl_service *s, uint64_t *seen, unsigned timeout_ms);
/*
 * Sleeps until a job of vpn_id finished in this process since *seen (updated), timeout_ms
 * passes, or the service stops. true: the job finished, or so many jobs finished that the
 * ring no longer tells (read the database); false: not seen (a job finished by another
 * controller is only found by reading the database, so poll it now and then).
 */
bool svc_wait_vpn_finished(struct ctl_service *s, uint64_t vpn_id, uint64_t *seen,
                           unsigned timeout_ms);
/* Sleeps timeout_ms or until the service stops (then returns early). */
void svc_sleep(struct ctl_service *s, unsigned timeout_ms);

/*
 * A periodic thread's loop: step(arg) every interval_ms (measured from start to start)
 * until the service stops; after a step that returns false (the database was away) the
 * next comes after SVC_RETRY_MS if that is sooner.
 */
#define SVC_RETRY_MS 500
void svc_every(struct ctl_service *s, uint64_t interval_ms, bool (*step)(void *arg), void *arg);

/* ---- granting VPNs (grant.c): shared by POST /v1/users/{tid}/vpns and payment completion */

struct grant_request {
	uint64_t user_id;
	enum vpn_type type;    /* only VPN_WIREGUARD is provisionable: else -EOPNOTSUPP */
	bool trial;            /* expires after cfg->trial_duration_s */
	const char *name;      /* NULL: "<type>-<unix time>" */
	int64_t expires_at_us; /* not a trial: 0 never, else the expiry */
	/* The client's Idempotency-Key (1..64 characters), stored with the config; NULL: none.
	 * Another config of the user with the key: -EEXIST. */
	const char *idempotency_key;
};

/* A new client's keys: the public key, and the private and preshared keys sealed with the
 * master key (the clear keys are wiped before grant_keys_make returns). */
struct grant_keys {
	char pub_b64[WG_KEY_B64_LEN];
	uint8_t *priv_enc, *psk_enc;
	size_t priv_enc_len, psk_enc_len;
};
int grant_keys_make(const struct ctl_service *s, struct grant_keys *ret);
/* Frees the sealed keys; NULL or a zeroed struct is fine. */
void grant_keys_done(struct grant_keys *k);

/* The config r asks for on node_id with keys k: name (its default is written to name),
 * expiry (a trial's from now), the sealed keys. Points into r, k and name. */
#define GRANT_NAME_LEN 64
struct db_vpn_new;
void grant_vpn_new(const struct ctl_service *s, const struct grant_request *r, uint64_t node_id,
                   const struct grant_keys *k, char name[static GRANT_NAME_LEN],
                   struct db_vpn_new *ret);

/*
 * Inside the caller's transaction: picks the node (db_node_pick_in_tx), generates the
 * client's key pair and preshared key, seals both with the master key, creates the pending
 * config and queues its provision job (idempotency key "provision-<vpn id>"). *ret_vpn_id
 * is the new config. Errors as db_vpn_create_in_tx and db_node_pick_in_tx (-ENOSPC: no
 * node), -EOPNOTSUPP for a type we cannot provision. The caller commits, then calls
 * svc_kick_workers().
 */
int grant_create_vpn_in_tx(struct ctl_service *s, struct db_conn *c, uint64_t actor_id,
                           const struct grant_request *r, uint64_t *ret_vpn_id);

/*
 * Inside the caller's transaction: queues the revoke job of a config that has just ended
 * (idempotency key "revoke-<vpn id>"), on the config's node. A config never provisioned
 * anywhere still gets the job: the agent answers "absent" and it is done.
 */
int grant_queue_revoke_in_tx(struct db_conn *c, uint64_t vpn_id, uint64_t node_id);

/*
 * Inside the caller's transaction: queues a webhook (kind notify) if webhook_url is set;
 * a no-op otherwise. event: "vpn.expiring", "vpn.expired", "payment.completed"; data: a
 * JSON object text; key: the idempotency key (one delivery per key, ever).
 */
int grant_queue_webhook_in_tx(struct ctl_service *s, struct db_conn *c, const char *event,
                              const char *data, const char *key);

/* ---- the threads (each returns when s->stopping is set) */
void *worker_main(void *svc);  /* worker.c: claims and runs jobs */
void *poller_main(void *svc);  /* poller.c: node health, boot ids, traffic */
void *sweeper_main(void *svc); /* sweeper.c: expiry and expiry notices */

/* ---- the API: api.h (api_start, api_stop) */
/* Prometheus text of the service's own counters and gauges (worker.c metrics included);
 * appended to the HTTP module's. */
int svc_metrics_text(struct ctl_service *s, char **ret_text, size_t *ret_len);
