/* SPDX-License-Identifier: MIT */
/*
 * IP assignments: the addresses node agents allocated to VPN configs, as the controller
 * records them. The agent allocates (its pool, its quarantine); the database makes sure
 * an address is live at most once per node (migration 0002), whatever the callers do.
 * An assignment belongs to a live (pending or active) config: its node, owner, VPN type
 * and kind (trial or paid) are taken from the config, never from the caller.
 *
 * Every change writes its audit_log row in the same transaction. Errors as in db.h, plus
 * -ENOENT (no such config, or no live assignment), -EEXIST (the address is live on that
 * node already) and -EPERM (the config has ended).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "model.h"

/* An address as stored: 4 (IPv4) or 16 (IPv6) bytes in network order. */
struct db_ip_address {
	uint8_t len;
	uint8_t bytes[16];
};

/* Text form "10.8.0.2" or "fd42::2" (no prefix length). An IPv4-mapped IPv6 address
 * (::ffff:10.8.0.2) is stored as the IPv4 address, so that one address has one form.
 * -EINVAL if it is neither. Pure. */
int db_ip_address_parse(const char *text, struct db_ip_address *ret);
/* Into buf of at least DB_IP_ADDRESS_STRLEN bytes; -EINVAL for a bad length. Pure. */
#define DB_IP_ADDRESS_STRLEN 46
int db_ip_address_format(const struct db_ip_address *a, char *buf, size_t len);

struct db_ip_assignment {
	uint64_t id, node_id;
	struct db_ip_address address;
	enum ip_kind kind;
	enum vpn_type vpn_type;
	uint64_t vpn_config_id, user_id;        /* 0: none (only once released) */
	int64_t assigned_at_us, released_at_us; /* released 0: live */
};

/* Live addresses of one node, by kind. */
struct db_ip_usage {
	uint64_t node_id;
	uint64_t live[_IP_KIND_MAX];
};

/*
 * Records that the agent gave address a to VPN config vpn_config_id on the config's
 * node; *ret_id (optional) is the assignment's id. Opens its own transaction: c must not
 * be in one. actor_id 0: the controller itself.
 */
int db_ip_record(struct db_conn *c, uint64_t actor_id, uint64_t vpn_config_id,
                 const struct db_ip_address *a, uint64_t *ret_id);

/* The same, inside the caller's transaction (db_vpn_activate records its addresses with
 * it); an error breaks that transaction (db.h). */
int db_ip_record_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t vpn_config_id,
                       const struct db_ip_address *a, uint64_t *ret_id);

/* Marks the live assignment of a on node_id released (the agent freed the address).
 * Opens its own transaction. -ENOENT if a is not live there. */
int db_ip_release(struct db_conn *c, uint64_t actor_id, uint64_t node_id,
                  const struct db_ip_address *a);

/*
 * The live assignments of node_id in the order of their address bytes (stable, not
 * numeric across families), at most limit, starting after address `after` (NULL: from
 * the first), so that a large pool is read in pages. *ret (free()) has *ret_n entries. Outside any
 * transaction.
 */
int db_ip_list_node(struct db_conn *c, uint64_t node_id, const struct db_ip_address *after,
                    unsigned limit, struct db_ip_assignment **ret, size_t *ret_n);

/* Live addresses per node, every node (also those with none), by node id. *ret (free())
 * has *ret_n entries. Outside any transaction. */
int db_ip_usage(struct db_conn *c, struct db_ip_usage **ret, size_t *ret_n);
