/* SPDX-License-Identifier: MIT */
/*
 * VPN configs: created pending for an active user on an active node, activated with the
 * addresses the node's agent allocated, then revoked or expired (model.h's state
 * machine, each transition guarded in SQL by the states it leaves). A user has at most
 * one live (pending or active) trial: the schema's unique index decides, also between
 * concurrent callers. Ending a config releases its addresses in the same transaction,
 * so that a live address always belongs to a live config.
 *
 * Transactions: the functions that change something open their own (c must not be in
 * one) and write their audit_log row in it, except db_vpn_add_bandwidth (see there).
 * Reads run outside any transaction. actor_id 0 means the controller itself.
 *
 * Errors as in db.h, plus:
 *   -ENOENT    no such config (or user, or node)
 *   -EEXIST    the user has a live trial already; or the peer key is used on that node;
 *              or (activation) an address is live on the node already
 *   -EALREADY  the config is already where the call leads
 *   -EPERM     not allowed from the config's state; or the user is banned or the node
 *              is not active (creation)
 *   -EINVAL    a constraint refused the data (bad JSON, an expiry in the past, ...)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "db_ip.h"
#include "model.h"

struct db_vpn {
	uint64_t id, user_id, node_id;
	enum vpn_type type;
	char *name;
	char *config;          /* JSON object, as stored */
	char *peer_public_key; /* base64; NULL unless a WireGuard config has one */
	enum vpn_status status;
	bool is_trial;
	uint64_t bandwidth_bytes;
	char *extra; /* JSON object; "revocation": {"reason", "at"} once revoked */
	int64_t created_at_us, activated_at_us, expires_at_us, revoked_at_us; /* 0: none */
	int64_t updated_at_us;
};

struct db_vpn_new {
	uint64_t user_id, node_id;
	enum vpn_type type;
	const char *name;            /* 1..128 characters */
	const char *config;          /* a JSON object; NULL: {} */
	const char *peer_public_key; /* NULL: none (WireGuard only) */
	int64_t expires_at_us;       /* 0: never; must be in the future */
	bool is_trial;
};

struct db_vpn *db_vpn_free(struct db_vpn *v);
/* Frees an array of n configs; NULL is fine; returns NULL. */
struct db_vpn *db_vpns_free(struct db_vpn *v, size_t n);

/* Creates a pending config; *ret_id is its id. */
int db_vpn_create(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                  uint64_t *ret_id);

/*
 * pending -> active, recording the n addresses the agent allocated (db_ip.h) in the same
 * transaction: all of them or, on any error, none and the config stays pending. config
 * (NULL: keep) replaces the stored config JSON, e.g. with the addresses filled in.
 */
int db_vpn_activate(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *config,
                    const struct db_ip_address *addresses, size_t n);

/* pending/active -> revoked; extra gets {"revocation": {"reason": reason, "at": time}}.
 * reason NULL: none given. Releases the config's addresses. */
int db_vpn_revoke(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *reason);

/* pending/active -> expired. Releases the config's addresses. */
int db_vpn_expire(struct db_conn *c, uint64_t actor_id, uint64_t id);

/*
 * Releases the live addresses of configs that ended without going through
 * db_vpn_revoke/db_vpn_expire (a hand-written UPDATE, an import): normally none.
 * *ret_released (optional) counts them. Walks the live assignments, not the ended configs.
 */
int db_vpn_cleanup(struct db_conn *c, uint64_t actor_id, uint64_t *ret_released);

/*
 * Adds bytes to the config's bandwidth (an unsigned 64-bit count: never negative, and an
 * overflow is -EINVAL, never a wrap). One statement, no audit row (accounting is not an
 * action): it runs in the caller's transaction if there is one, so that a batch of
 * reports from one agent can be applied at once, else on its own.
 */
int db_vpn_add_bandwidth(struct db_conn *c, uint64_t id, uint64_t bytes);

int db_vpn_get(struct db_conn *c, uint64_t id, struct db_vpn **ret);

/* A user's configs, newest first, at most limit; *ret (db_vpns_free) has *ret_n. */
int db_vpn_list_by_user(struct db_conn *c, uint64_t user_id, unsigned limit, struct db_vpn **ret,
                        size_t *ret_n);

/* Active configs that expire within the next `seconds` (not yet expired), soonest first,
 * at most limit. The database's clock decides. */
int db_vpn_list_due(struct db_conn *c, uint32_t seconds, unsigned limit, struct db_vpn **ret,
                    size_t *ret_n);

/* Active configs whose expiry has passed, oldest first, at most limit: what the expiry
 * sweep hands to db_vpn_expire(). */
int db_vpn_list_expired(struct db_conn *c, unsigned limit, struct db_vpn **ret, size_t *ret_n);
