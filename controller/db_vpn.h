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
 * one) and write their audit_log row in it, except db_vpn_add_bandwidth and
 * db_vpn_traffic_apply (accounting, see there). The _in_tx functions do the same inside
 * the caller's transaction, so that a config and its job commit together; an error there
 * breaks that transaction (db.h). Reads run in whatever c is in. actor_id 0 means the
 * controller itself.
 *
 * Errors as in db.h, plus:
 *   -ENOENT    no such config (or user, or node)
 *   -EEXIST    the user has a live trial already; or the peer key is used on that node;
 *              or the user has a config with that idempotency key already; or
 *              (activation) an address is live on the node already
 *   -EALREADY  the config is already where the call leads
 *   -EPERM     not allowed from the config's state; or the user is banned or the node
 *              is not active (creation)
 *   -EINVAL    a constraint refused the data (bad JSON, an expiry in the past, ...)
 *   -ESTALE    (db_vpn_expire_due_in_tx) no longer due
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
	/* The client's private key and the preshared key, sealed with the master key by the
	 * caller (this module never sees them in the clear); NULL, 0: none. */
	uint8_t *private_key_enc, *preshared_key_enc;
	size_t private_key_enc_len, preshared_key_enc_len;
	uint64_t rx_seen, tx_seen; /* the agent's totals at the last accounting */
};

struct db_vpn_new {
	uint64_t user_id, node_id;
	enum vpn_type type;
	const char *name;            /* 1..128 characters */
	const char *config;          /* a JSON object; NULL: {} */
	const char *peer_public_key; /* NULL: none (WireGuard only) */
	int64_t expires_at_us;       /* 0: never; must be in the future */
	bool is_trial;
	const uint8_t *private_key_enc; /* sealed, 1..255 bytes; NULL: none */
	size_t private_key_enc_len;
	const uint8_t *preshared_key_enc; /* sealed, 1..255 bytes; NULL: none */
	size_t preshared_key_enc_len;
	/* The client's Idempotency-Key, 1..64 characters, unique per user (a second config
	 * with the user's key is -EEXIST); NULL: none. */
	const char *idempotency_key;
};

/* Frees what v holds, not v itself (one held by value); NULL is fine. */
void db_vpn_clear(struct db_vpn *v);
struct db_vpn *db_vpn_free(struct db_vpn *v);
/* Frees an array of n configs; NULL is fine; returns NULL. */
struct db_vpn *db_vpns_free(struct db_vpn *v, size_t n);

/* Creates a pending config; *ret_id is its id. */
int db_vpn_create(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                  uint64_t *ret_id);
/* The same, inside the caller's transaction. */
int db_vpn_create_in_tx(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                        uint64_t *ret_id);

/*
 * Batched creation (the provisioner, DB_BATCH_MAX at most, each with a peer key), inside
 * the caller's transaction: the configs and their audit rows; *ret_vpns (count configs,
 * in the order of n) are the rows as stored. Unlike db_vpn_create_in_tx this does not
 * check that the users are active: the caller has read them share-locked in this
 * transaction (db_user_list_brief). The nodes are share-locked here: -ESTALE if one is no
 * longer active (drained or disabled meanwhile). -EEXIST: a unique key
 * refused one (a live trial, an Idempotency-Key, a peer key): the caller rolls back and
 * takes the requests one at a time, which tells them apart.
 */
int db_vpn_create_many_in_tx(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                             size_t count, struct db_vpn **ret_vpns);

struct db_vpn_activation {
	const struct db_vpn *vpn; /* as created, pending */
	uint64_t job_id;          /* its provision job, running under the caller's owner */
	const char *config;       /* the stored config JSON from now on */
	const struct db_ip_address *addresses;
	size_t n_addresses;
};

/*
 * Batched db_vpn_activate inside the caller's transaction, for the provisioner's own jobs:
 * share-locks the users, locks every job and config (users first: docs/controller-db.md,
 * "Lock order"), then each config pending -> active (activated_at = at_us)
 * with its addresses and the audit rows of the one-at-a-time way. -ESTALE, with nothing
 * changed, if some config is no longer pending (ended meanwhile) or some job no longer
 * runs under owner (its lease ran out and a worker took it): the caller rolls back and
 * leaves them to the workers. The caller ends the jobs (db_job_done_many_in_tx).
 */
int db_vpn_activate_many_in_tx(struct db_conn *c, uint64_t actor_id,
                               const struct db_vpn_activation *a, size_t count,
                               const char *owner, int64_t at_us);

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

/* The same, inside the caller's transaction. */
int db_vpn_revoke_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *reason);

/* pending/active -> expired. Releases the config's addresses. */
int db_vpn_expire(struct db_conn *c, uint64_t actor_id, uint64_t id);
/* The same, inside the caller's transaction. */
int db_vpn_expire_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id);
/*
 * The expiry sweep's expire, inside the caller's transaction: like db_vpn_expire_in_tx,
 * but only while expires_at has passed by the database's clock; -ESTALE if the config is
 * live and no longer due (a payment extended it after the sweep listed it).
 */
int db_vpn_expire_due_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id);

/*
 * Inside the caller's transaction: a live (pending or active) config's expiry moves
 * `months` (1..1200) calendar months on, from its expiry or from now if that is later (a
 * config that never expired gets now + months); *ret_expires_at_us (optional) is the new
 * expiry. Jan 31 + 1 month is Feb 28 (29). -EPERM if the config has ended. Audited
 * (vpn.extend).
 */
int db_vpn_extend_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id, unsigned months,
                        int64_t *ret_expires_at_us);

/*
 * Inside the caller's transaction: the user's newest live (pending or active) paid config
 * of that type that has an expiry (a comp that never expires is not extended), its row
 * locked until the transaction ends. -ENOENT if none.
 */
int db_vpn_find_live_paid_in_tx(struct db_conn *c, uint64_t user_id, enum vpn_type type,
                                uint64_t *ret_id);

/*
 * Inside the caller's transaction: the user's config (any status) created with that
 * idempotency key; -ENOENT if none. A plain read of the transaction's snapshot, no lock:
 * after an -EEXIST from a create with the key, look again in a new transaction.
 */
int db_vpn_find_by_idempotency_in_tx(struct db_conn *c, uint64_t user_id, const char *key,
                                     uint64_t *ret_id);

/* Inside the caller's transaction: the ids of the user's live configs, ascending, their
 * rows locked (a ban revokes them). *ret_ids (free()) has *ret_n; none is 0, NULL. */
int db_vpn_list_user_live_in_tx(struct db_conn *c, uint64_t user_id, uint64_t **ret_ids,
                                size_t *ret_n);

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

/* A node's agent reports traffic as totals per peer (public key). */
struct db_traffic_sample {
	const char *public_key;
	uint64_t rx, tx; /* bytes since the agent started counting this peer */
};

/*
 * Accounts one poll of a node's traffic, in a transaction of its own that first locks
 * the node's row, so that two controllers polling at once take turns and count each byte
 * once. For each sample whose key is a config's of that node (any status: traffic before
 * a revoke counts): the difference to the totals seen last time (the whole total if it is
 * lower: the agent lost its counters) is added to bandwidth_bytes, and the totals become
 * the seen ones. A sample equal to the seen totals costs no write; unknown keys are
 * ignored. *ret_updated (optional) counts the configs written. -EINVAL (nothing applied)
 * if a key appears twice, or a bandwidth would overflow 64 bits. -ENOENT: no such node.
 */
int db_vpn_traffic_apply(struct db_conn *c, uint64_t node_id, const struct db_traffic_sample *s,
                         size_t n, uint64_t *ret_updated);

int db_vpn_get(struct db_conn *c, uint64_t id, struct db_vpn **ret);
/* The same, FOR UPDATE inside the caller's transaction: the row as committed now, which a
 * transaction that has waited for a lock needs (its snapshot may predate the row). */
int db_vpn_get_locked_in_tx(struct db_conn *c, uint64_t id, struct db_vpn **ret);

/* The config of node_id with that peer key (any status); -ENOENT. */
int db_vpn_get_by_node_key(struct db_conn *c, uint64_t node_id, const char *public_key,
                           struct db_vpn **ret);

/* The pending and active configs of a node (a resync's desired peer set): the active
 * ones, then the pending ones, each by id; *ret (db_vpns_free) has *ret_n. */
int db_vpn_list_node_live(struct db_conn *c, uint64_t node_id, struct db_vpn **ret,
                          size_t *ret_n);

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
