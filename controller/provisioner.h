/* SPDX-License-Identifier: MIT */
/*
 * Batched VPN creation for POST /v1/users/{telegram_id}/vpns (docs/architecture.md,
 * "Provisioning in batches"). API threads hand their requests to a few provisioner
 * threads; each takes every request queued (up to DB_BATCH_MAX) and carries them
 * together: one transaction creates the configs, their audit rows and their provision
 * jobs, claimed by this process from the start; one agent call per node adds all the new
 * peers (one journal frame, one device update on the node); one transaction activates
 * them and ends the jobs. The rules are those of one request at a time: a request is
 * answered only after the commit of its config and job, and if anything fails after that
 * commit the jobs go back to the queue for the workers (if even that fails, their leases
 * run out and the workers take them then). Nothing is lost, nothing is done twice.
 *
 * What a batch does not handle it hands back (PROV_FALLBACK) before anything is created,
 * and the API takes that request the ordinary way, which gives the precise answer: a
 * user that is missing or banned, no node with room, a unique key that refused a config
 * (a second live trial, a reused Idempotency-Key), a database error, a stopping service.
 *
 * The choice of node is db_node_pick_in_tx's (most room), with the configs this process
 * created since each node's last poll counted in memory instead of in the database.
 *
 * Thread-safety: every function may be called from any thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ctl_service;
struct grant_request;
struct db_vpn;
struct db_job;

enum prov_state {
	PROV_QUEUED,
	PROV_FALLBACK,   /* nothing created: the caller creates it the ordinary way */
	PROV_CREATED,    /* committed, pending: vpn, job and node_* are set */
	PROV_ACTIVE,     /* the node has the peer and the activation committed: config and
	                  * activated_at_us are set */
	PROV_HANDED_OFF, /* committed, but the job went back to the workers */
};

/* A request in the provisioner's hands. The fields below are fixed once prov_wait() has
 * returned a state that sets them; read them only then. */
struct prov_req {
	const struct db_vpn *vpn;    /* CREATED and later: the config as committed */
	const struct db_job *job;    /* CREATED and later: its provision job as committed */
	const char *node_name;       /* CREATED and later */
	const char *node_public_key; /* CREATED and later */
	const char *node_endpoint;   /* CREATED and later */
	/* ACTIVE: what the activation changed in vpn (status active besides): the rest of the
	 * row is as created. */
	const char *config;
	int64_t activated_at_us;
};

/* Starts the provisioner (s->prov): creators threads for stage one (configs and jobs),
 * carriers for stage two (agents, activations). */
int prov_start(struct ctl_service *s, unsigned creators, unsigned carriers);
/* Finishes what is queued, joins the threads and frees everything; after api_stop(). */
void prov_stop(struct ctl_service *s);

/*
 * Queues a VPN creation for the user with Telegram id tid (g->user_id is found by the
 * provisioner; g's strings must outlive the wait for a state past PROV_QUEUED). When the
 * service is stopping the request is PROV_FALLBACK at once.
 */
int prov_submit(struct ctl_service *s, int64_t tid, const struct grant_request *g,
                struct prov_req **ret);

/*
 * Waits until r has left PROV_QUEUED and, if final, until it is PROV_ACTIVE or
 * PROV_HANDED_OFF (or any state but CREATED at deadline_ms, CLOCK_MONOTONIC milliseconds).
 * Returns the state then.
 */
enum prov_state prov_wait(struct ctl_service *s, struct prov_req *r, bool final,
                          int64_t deadline_ms);

/* The caller is done with r (after any state). NULL is fine. */
void prov_put(struct ctl_service *s, struct prov_req *r);
