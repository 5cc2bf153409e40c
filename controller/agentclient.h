/* SPDX-License-Identifier: MIT */
/*
 * Typed calls to a node agent's HTTP API (docs/api.md, "Node agent"; served by agent/api.c)
 * over an httpc handle: info, health, add/get/list/remove one peer, add a batch of peers,
 * and the complete desired set (PUT). The caller owns the handle (one per thread, see httpc.h) and
 * passes the agent's URL and token per call.
 *
 * Errors: 0 or -errno, one mapping for every call:
 *   transport (httpc.h): -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ENETUNREACH,
 *                        -ECONNRESET, -EPROTO (TLS), -EFBIG
 *   401, 403       -EACCES   (a wrong token)
 *   404            -ENOENT   (no such peer)
 *   409            -EEXIST   (err->code tells which: stale_generation, address_in_use,
 *                             address_unavailable, addresses_differ)
 *   507            -ENOSPC   (pool_exhausted)
 *   400, 413, 422 and any other 4xx  -EINVAL
 *   other 5xx      -EIO
 *   a 1xx/3xx answer, a 2xx answer that is not the JSON the API promises (malformed,
 *   a field missing or of the wrong type, a bad key or address): -EPROTO
 *   bad arguments (a malformed key, preshared key, address or job id; a URL that is not
 *   http(s)): -EINVAL before anything is sent
 *   -ENOMEM
 * On failure *err (if not NULL) says what happened: the HTTP status (0 when no answer came),
 * the API's error code ("" when the answer had none, or there was no answer) and a message
 * (the API's, libcurl's or ours), all printable ASCII. On success err is left alone.
 *
 * Secrets: a preshared key travels only in request bodies, which are built in buffers
 * that are wiped before they are freed; the token is passed to httpc. Neither is ever put
 * in *err.
 *
 * The answer parsers and the request builder are pure and exported for the unit tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpc;

struct agent_target {
	const char *url;   /* "http://127.0.0.1:8080"; a trailing '/' is ignored */
	const char *token; /* the agent's bearer token */
};

struct agent_error {
	unsigned http_status; /* 0: no HTTP answer (transport error, bad argument) */
	char code[64];
	char message[256];
};

struct agent_info {
	char *public_key, *interface, *backend, *endpoint, *boot_id;
	char *pools_json; /* the "pools" array, compact JSON */
	uint16_t listen_port;
	uint64_t peers, generation;
	/*
	 * How many more peers the node can take: every peer gets one address from each pool,
	 * so this is the smallest "free" among the pools (0 without pools). A pool past 2^64
	 * addresses (the API sends a float then) counts as UINT64_MAX.
	 */
	uint64_t free_addresses;
};

struct agent_peer_req {
	const char *public_key;       /* base64 */
	const char *preshared_key;    /* base64; NULL: not sent (an existing one is kept) */
	int persistent_keepalive;     /* 0..65535; -1: not sent */
	const char *const *addresses; /* NULL or n_addresses: "10.8.0.10" or "10.8.0.10/32" */
	size_t n_addresses;
	const char *job_id; /* 1..128 printable ASCII; NULL: none. Ignored by agent_put_peers. */
};

/* The most peers one agent_add_peers call (POST /v1/peers/batch) takes. */
#define AGENT_BATCH_MAX 1024

struct agent_peer {
	char *public_key;
	char **addresses;
	size_t n_addresses;
	bool created;                /* add: the agent created the peer (false: it existed) */
	bool on_device;              /* get/list: the peer is on the WireGuard device */
	bool has_preshared_key;      /* add/get/list */
	int persistent_keepalive;    /* add/get/list; 0: off */
	uint64_t rx_bytes, tx_bytes; /* get/list: totals that survive interface resets */
	int64_t latest_handshake;    /* get/list: Unix seconds, 0: never */
	char *endpoint;              /* get/list: the client's last endpoint; NULL: none */
	char *server_public_key;     /* add: the node's public key */
	char *server_endpoint;       /* add: the node's endpoint for client configs */
};

struct agent_put_result {
	uint64_t generation, added, removed, updated;
	struct agent_peer *peers; /* public_key and addresses of every peer of the set */
	size_t n_peers;
};

struct agent_info *agent_info_free(struct agent_info *i);
struct agent_peer *agent_peer_free(struct agent_peer *p);
/* Frees an array of n peers (from agent_list_peers, agent_add_peers). */
struct agent_peer *agent_peers_free(struct agent_peer *p, size_t n);
struct agent_put_result *agent_put_result_free(struct agent_put_result *r);

/* GET /v1/info. */
int agent_get_info(struct httpc *h, const struct agent_target *t, struct agent_info **ret,
                   struct agent_error *err);
/* GET /healthz (no token sent): 0 when the agent answers {"status":"ok"}. */
int agent_healthz(struct httpc *h, const struct agent_target *t, struct agent_error *err);
/*
 * POST /v1/peers: create the peer, or update its preshared key and keepalive. Idempotent by
 * key; with job_id the agent answers a repeated call with its first answer.
 */
int agent_add_peer(struct httpc *h, const struct agent_target *t, const struct agent_peer_req *p,
                   struct agent_peer **ret, struct agent_error *err);
/*
 * POST /v1/peers/batch: n (1..AGENT_BATCH_MAX) peers as agent_add_peer would add each, in
 * one change on the agent (one journal frame, one device update), all or nothing. Public
 * keys and job ids must be distinct within the batch (else -EINVAL from the agent). On
 * success *ret_peers is an array of n answers in request order, each what agent_add_peer
 * would have answered (a repeated job_id: that job's first answer, from either call); free
 * it with agent_peers_free(*ret_peers, n). One refused item refuses the batch with that
 * item's error (same mapping), err->message starting "peers[i]: ".
 */
int agent_add_peers(struct httpc *h, const struct agent_target *t,
                    const struct agent_peer_req *reqs, size_t n, struct agent_peer **ret_peers,
                    struct agent_error *err);
/* GET /v1/peers/{key}; -ENOENT if the agent has no such peer. */
int agent_get_peer(struct httpc *h, const struct agent_target *t, const char *public_key,
                   struct agent_peer **ret, struct agent_error *err);
/* DELETE /v1/peers/{key}; *ret_removed is false when the peer was absent (not an error). */
int agent_remove_peer(struct httpc *h, const struct agent_target *t, const char *public_key,
                      bool *ret_removed, struct agent_error *err);
/* GET /v1/peers: all peers with their counters. */
int agent_list_peers(struct httpc *h, const struct agent_target *t, struct agent_peer **ret,
                     size_t *ret_n, struct agent_error *err);
/*
 * PUT /v1/peers: the complete desired set at generation (peers not listed are removed).
 * A generation older than the agent's is -EEXIST with err->code "stale_generation".
 * ret may be NULL when the caller does not need the answer.
 */
int agent_put_peers(struct httpc *h, const struct agent_target *t, uint64_t generation,
                    const struct agent_peer_req *peers, size_t n, struct agent_put_result **ret,
                    struct agent_error *err);

/*
 * Whether the same call may succeed later without anyone changing anything: transport
 * failures (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -ENETUNREACH, -ECONNRESET), the
 * agent's own failures (-EIO, a 5xx) and a full pool (-ENOSPC: quarantined addresses come
 * back, peers get removed), and -ENOMEM. Not retryable: a refused token (-EACCES), refused
 * or conflicting input (-EINVAL, -EEXIST, -ENOENT), an answer we cannot use (-EPROTO, which
 * includes TLS failures: a certificate problem needs an operator) and -EFBIG.
 */
bool agent_error_retryable(int r);

/* ---- pure parts, exported for the unit tests ---- */

/*
 * The -errno for an HTTP status (0 for 2xx), and *err filled from an error body
 * {"error": {"code", "message"}} if there is one (else a message naming the status).
 */
int agent_status_to_errno(long status, const char *body, size_t len, struct agent_error *err);
int agent_info_parse(const char *body, size_t len, struct agent_info **ret,
                     struct agent_error *err);
/* One peer: a POST answer or an element of GET /v1/peers. */
int agent_peer_parse(const char *body, size_t len, struct agent_peer **ret,
                     struct agent_error *err);
int agent_peers_parse(const char *body, size_t len, struct agent_peer **ret, size_t *ret_n,
                      struct agent_error *err);
int agent_put_result_parse(const char *body, size_t len, struct agent_put_result **ret,
                           struct agent_error *err);
/* A POST /v1/peers/batch answer: {"peers": [exactly n POST answers]}. */
int agent_add_peers_parse(const char *body, size_t len, size_t n, struct agent_peer **ret,
                          struct agent_error *err);
/*
 * The JSON body of POST /v1/peers (put == false) or PUT /v1/peers (put == true, generation
 * used). -EINVAL with *err filled for a bad key, preshared key, keepalive, address or job
 * id. The caller frees *ret_body with agent_body_free(), which wipes it.
 */
int agent_peers_body(bool put, uint64_t generation, const struct agent_peer_req *peers, size_t n,
                     char **ret_body, size_t *ret_len, struct agent_error *err);
/* The body of POST /v1/peers/batch: 1..AGENT_BATCH_MAX peers, job ids included. */
int agent_peers_batch_body(const struct agent_peer_req *peers, size_t n, char **ret_body,
                           size_t *ret_len, struct agent_error *err);
char *agent_body_free(char *body, size_t len);
