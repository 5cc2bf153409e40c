/* SPDX-License-Identifier: MIT */
/*
 * The node agent daemon (`wgfleet-agent run`): owns one WireGuard interface, its address
 * pools and the durable record, serves the job API (api.c) and reconciles the device with
 * the record (reconcile.c holds the pure part).
 *
 * Threads: HTTP handlers run on libmicrohttpd's connection threads, the reconcile timer on
 * the main thread. daemon->lock serializes every use of the state, the pools and the wgctl
 * handle (none of them is thread-safe); the few counters read without it are atomics.
 *
 * Logging happens here and in api.c/cmd_run.c only: once, where an error is handled.
 * Never a private key, a preshared key or the API token.
 */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "agentconf.h"
#include "reconcile.h"
#include "wgkey.h"

struct state;
struct ippool;
struct wgctl;
struct http_server;

#define DAEMON_POOLS_MAX 2
#define DAEMON_KEY_FILE "server.key"

struct daemon {
	struct agent_config *cfg;
	const char *config_path;
	pthread_mutex_t lock;
	struct state *st;
	struct ippool *pools[DAEMON_POOLS_MAX];
	size_t n_pools;
	struct wgctl *wg;
	struct http_server *http;
	uint8_t public_key[WG_KEY_LEN];
	char boot_id[37];
	/* What the device looked like at the last reconcile, to notice it was recreated. */
	uint32_t dev_ifindex;
	uint16_t dev_listen_port;
	bool dev_known;
	/* A device change failed after the journal committed: reconcile at the next tick. */
	bool dirty;
	/* Metrics (under lock). */
	uint64_t reconcile_runs, reconcile_errors, rebases;
	struct reconcile_repairs repairs;
	/* The journal turned broken (state.h): stop and let the supervisor restart us. */
	int fatal;
};

/* Ask the main loop to exit with failure (journal broken). Any thread. */
void daemon_fatal(struct daemon *d);
/*
 * Make the device hold exactly the recorded peers: read it, diff, apply only the
 * difference. ret_rep (may be NULL) gets the repairs counted. Locked. 0 or -errno (logged).
 */
int daemon_device_sync(struct daemon *d, struct reconcile_repairs *ret_rep);

/* Log a line at level (AGENTCONF_LOG_*) if the config's log_level lets it through. */
void daemon_log(const struct daemon *d, enum agentconf_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wall-clock seconds (persisted deadlines, see ippool.h). */
uint64_t daemon_now(void);

/*
 * Everything `run` does before serving: config, token, state, key, interface, pools,
 * first reconcile, HTTP. Logs the reason and returns -errno on failure (the caller then
 * calls daemon_stop, which undoes what was done).
 */
int daemon_start(struct daemon *d, const char *config_path);
/* Stop HTTP, close the device handle and the state, free everything. Call once. */
void daemon_stop(struct daemon *d);

/* One reconcile pass (takes the lock). 0 or -errno (already logged). */
int daemon_reconcile(struct daemon *d);
/* Same, lock already held. */
int daemon_reconcile_locked(struct daemon *d);

/* Rebuild the pools from the record (undo of pool changes whose commit failed). Locked. */
int daemon_pools_rebuild(struct daemon *d);
/* The pool whose prefix holds addr; -1 if none. */
int daemon_pool_index(const struct daemon *d, const struct wg_allowedip *addr);

/* Push one peer (or its removal) to the device; on failure mark dirty and log. Locked. */
void daemon_device_peer_put(struct daemon *d, const struct state_peer *p);
/*
 * Push n recorded peers to the device in ONE set (netlink chunks it; UAPI is one request),
 * each exactly as recorded (allowed IPs replaced); disabled ones are skipped. On failure
 * mark dirty and log once. Locked.
 */
void daemon_device_peers_put(struct daemon *d, const struct state_peer *peers, size_t n);
void daemon_device_peer_remove(struct daemon *d, const uint8_t public_key[static WG_KEY_LEN]);

/* The HTTP routes (api.c): start the server on cfg->api_listen. Logs on failure. */
int api_start(struct daemon *d, const char *token);
