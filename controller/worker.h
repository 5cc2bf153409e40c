/* SPDX-License-Identifier: MIT */
/*
 * What the controller's background threads (worker.c, poller.c, sweeper.c, webhook.c)
 * share beyond service.h: the HTTP client they talk to agents with, a node's agent opened
 * for calls (its sealed token opened with the master key), and the webhook sender.
 *
 * Nothing here logs; the threads log once, where they decide what to do (service.h).
 * Thread-safety: every function may run on any thread; a struct httpc and a struct
 * node_agent belong to the thread that made them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentclient.h"
#include "wgkey.h"

struct ctl_service;
struct db_conn;
struct db_node;
struct db_job;
struct httpc;

/* An HTTP client for agent calls: timeout agent_timeout, CA bundle agent_ca_file. */
int worker_agent_httpc_new(const struct ctl_service *s, struct httpc **ret);

/*
 * A node's agent, ready for agentclient.h's calls: target.url points into n (keep n alive
 * as long as the target is used), target.token at the opened token (NULL when the node has
 * none stored: the agent will answer 401). Close with node_agent_close(), which wipes the
 * token. -EBADMSG/-EINVAL as vault_open() (the token does not open with this master key).
 */
struct node_agent {
	struct agent_target target;
	uint8_t *token;
	size_t token_len;
};
int node_agent_open(const struct ctl_service *s, const struct db_node *n, struct node_agent *ret);
/* Wipes and forgets the token; a zeroed or closed struct is fine. */
void node_agent_close(struct node_agent *a);

/* ---- one peer of a VPN, as the agent wants it */

struct db_vpn;
struct db_ip_address;

struct peer_spec {
	struct agent_peer_req req;
	char psk[WG_KEY_B64_LEN];
	struct json_t *config;  /* owns the address strings */
	const char **addresses; /* into config */
};

/*
 * key, preshared key (opened with the master key), keepalive, and for an active config the
 * addresses its config JSON names, so that an agent that lost its state gets each peer back
 * where clients expect it. A pending config gets none: the agent allocates, and its
 * provision reads them back. Undo with peer_spec_done(), which wipes the key.
 */
int peer_spec_fill(const struct ctl_service *s, const struct db_vpn *v, struct peer_spec *p);
void peer_spec_done(struct peer_spec *p);

/* The addresses of an agent's answer to a provision: the stored form (*ret_addrs,
 * peer->n_addresses of them) and the config JSON {"addresses": [...]} (*ret_config); both
 * free(). -EPROTO: an address we cannot use. */
int addresses_from_peer(const struct agent_peer *peer, struct db_ip_address **ret_addrs,
                        char **ret_config);

/* ---- webhooks (webhook.c) */

/*
 * The HMAC-SHA256 of body under key as "sha256=<64 lower-case hex digits>", the value of
 * the X-Wgfleet-Signature header. out must hold WEBHOOK_SIGNATURE_LEN bytes. Pure.
 */
#define WEBHOOK_SIGNATURE_LEN (7 + 64 + 1)
void webhook_signature(const uint8_t *key, size_t key_len, const void *body, size_t len,
                       char out[static WEBHOOK_SIGNATURE_LEN]);

/*
 * The body a notify job delivers: {"id": key, "event": ..., "data": {...}, "sent_at":
 * RFC 3339 of now_us} from the job's payload {"event", "data"}. *ret_event (free()) is the
 * event name, *ret_body (free()) the compact JSON. -EINVAL if the payload is not such an
 * object. Pure.
 */
int webhook_body(const char *key, const char *payload, int64_t now_us, char **ret_event,
                 char **ret_body, size_t *ret_len);

/*
 * Delivers a notify job to cfg->webhook_url with h (an HTTP client the caller owns:
 * webhook URLs are verified against the system's CAs, not agent_ca_file), signed when
 * the service has a webhook secret. 0: a 2xx answer. Errors:
 *   -EIO        a 5xx, 408 or 429 answer: the receiver may take it later
 *   -EINVAL     any other 4xx (or a payload we cannot send): it never will
 *   -EPROTO     a 1xx or 3xx answer (redirects are not followed)
 *   -ENOENT     no webhook_url configured (any more): nothing to deliver
 *   transport errors as httpc.h (-ECONNREFUSED, -ETIMEDOUT, ...)
 * err (err_size bytes) says what happened, for the job's last_error and the log.
 */
int webhook_send(struct ctl_service *s, struct httpc *h, const struct db_job *j, char *err,
                 size_t err_size);

/* Whether webhook_send's error may go away on a later attempt. */
bool webhook_error_retryable(int r);

/* ---- helpers shared by the threads */

/* Whether a database error (db.h) goes away when the database comes back: -ENOTCONN,
 * -ETIMEDOUT, -EAGAIN, -EBUSY, -EIO. */
bool worker_db_error_transient(int r);

/* RFC 3339 in UTC with seconds ("2024-06-01T12:00:00Z") of a time in microseconds. */
#define RFC3339_LEN 32
void worker_rfc3339(int64_t us, char out[static RFC3339_LEN]);

/*
 * The JSON data of a vpn.* webhook: {"vpn_id", "telegram_id", "expires_at"}; the user is
 * looked up with c (outside any transaction). *ret (free()) is compact JSON.
 */
int webhook_vpn_data(struct db_conn *c, uint64_t vpn_id, uint64_t user_id, int64_t expires_at_us,
                     char **ret);
