/* SPDX-License-Identifier: MIT */
/*
 * Nodes: the VPN servers and their agents. An admin registers a node (after the
 * controller talked to its agent), sets its state (active, draining: keeps its configs
 * but takes no new ones, disabled); the poller reports each poll's outcome, which keeps
 * the node's health (unknown until the first poll, healthy, unhealthy after
 * `unhealthy_after` failed polls in a row), boot id, free addresses and peer count.
 * New VPN configs go to the active, healthy node with the most room (db_node_pick_in_tx).
 *
 * The agent token is stored sealed (agent_token_enc: the caller seals and opens it with
 * the master key; this module never sees the token itself).
 *
 * Transactions: the _in_tx functions run in the caller's; every other function that
 * changes something opens its own (c must not be in one) and writes its audit_log row in
 * it, except db_node_report (a poll is not an action). Reads run in whatever c is in.
 * actor_id 0 means the controller itself.
 *
 * Errors as in db.h, plus:
 *   -ENOENT    no such node
 *   -EEXIST    a node with this name or public key exists already
 *   -EALREADY  the node is already in that state
 *   -ENOSPC    (pick) no active, healthy node has a free address
 *   -EINVAL    bad input, or a constraint refused it (a name, URL, endpoint or key of
 *              the wrong form, pools neither a JSON object nor an array)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "model.h"

struct db_node {
	uint64_t id;
	char *name, *agent_url, *endpoint, *public_key;
	char *pools; /* JSON array (the agent's /v1/info) or object, as stored */
	enum node_state state;
	enum node_health health;
	unsigned failed_polls; /* in a row; 0 after a good poll */
	uint8_t *agent_token_enc; /* NULL: none */
	size_t agent_token_enc_len;
	char *boot_id;          /* NULL: never reported */
	int64_t last_seen_at_us; /* last good poll; 0: never */
	char *last_error;       /* of the last failed poll; NULL after a good one */
	uint64_t free_addresses, peers; /* at the last good poll */
	uint64_t peer_generation;       /* of the last full peer set sent */
	int64_t created_at_us, updated_at_us;
};

struct db_node_new {
	const char *name;      /* ^[a-z0-9][a-z0-9._-]{0,63}$ */
	const char *agent_url; /* http:// or https:// */
	const char *endpoint;  /* host:port or [v6]:port, what clients connect to */
	const char *public_key; /* the server's WireGuard key, base64 */
	const char *pools;     /* JSON array or object; NULL: {} */
	const uint8_t *agent_token_enc; /* NULL: none */
	size_t agent_token_enc_len;
	const char *boot_id; /* NULL: none */
	uint64_t free_addresses, peers;
};

/* NULL is fine; returns NULL. */
struct db_node *db_node_free(struct db_node *n);
/* Frees an array of n nodes; NULL is fine; returns NULL. */
struct db_node *db_nodes_free(struct db_node *v, size_t n);

/* Registers an active node, healthy and seen now (the caller just talked to its agent);
 * *ret_id is its id. -EEXIST for a known name or public key. */
int db_node_create(struct db_conn *c, uint64_t actor_id, const struct db_node_new *n,
                   uint64_t *ret_id);

int db_node_get(struct db_conn *c, uint64_t id, struct db_node **ret);

/* Every node, by id; *ret (db_nodes_free) has *ret_n. */
int db_node_list(struct db_conn *c, struct db_node **ret, size_t *ret_n);

/*
 * Points the node at its agent anew: agent_url (http:// or https://) and the sealed token
 * (the caller checked both against the agent first). Audited (node.agent: the URL and
 * whether the token changed, never the token). -ENOENT: no such node; -EINVAL: a URL or
 * token the schema refuses.
 */
int db_node_set_agent(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *agent_url,
                      const uint8_t *agent_token_enc, size_t agent_token_enc_len,
                      bool token_changed);

/* Sets the state (any to any); -EALREADY if it is so already. */
int db_node_set_state(struct db_conn *c, uint64_t actor_id, uint64_t id, enum node_state s);

struct db_node_report {
	bool ok;              /* the agent answered */
	const char *boot_id;  /* ok: the agent's boot id; NULL: keep the stored one */
	uint64_t free_addresses, peers; /* ok: the agent's figures */
	const char *pools;    /* ok: JSON array or object; NULL: keep */
	/* ok: the agent's server key and client endpoint now (an agent that lost its state
	 * made a new key: configs issued from here on must carry it); NULL: keep */
	const char *public_key, *endpoint;
	const char *error;    /* !ok: why (cut to 255 characters); NULL: none */
	unsigned unhealthy_after; /* !ok: failed polls in a row that make it unhealthy, > 0 */
};

/*
 * One poll's outcome, in a transaction of its own that locks the node's row (two
 * controllers polling one node take turns). ok: healthy, failed_polls 0, last_seen_at now,
 * last_error cleared, the figures stored. !ok: failed_polls + 1, last_error; unhealthy
 * once failed_polls reaches unhealthy_after (before that the health stays as it was).
 * *ret_boot_changed (optional): ok, a boot id was recorded before, and r->boot_id differs
 * (the agent restarted; the new one is stored). The first boot id recorded is no change.
 */
int db_node_report(struct db_conn *c, uint64_t id, const struct db_node_report *r,
                   bool *ret_boot_changed);

/*
 * Inside the caller's transaction: the active, healthy node with the most free
 * addresses, where free = free_addresses at the last poll minus the live configs created
 * on it since that poll; ties go to the lower id. A plain read (no lock on the node row:
 * VPN creations must not queue behind each other), so the count is an estimate between
 * polls; the agent has the last word. -ENOSPC if no node qualifies or all are full.
 */
int db_node_pick_in_tx(struct db_conn *c, uint64_t *ret_id);

/* Inside the caller's transaction: peer_generation + 1, stored and returned (the
 * generation of a full peer set PUT to the agent). Locks the node's row until the
 * transaction ends. */
int db_node_next_generation_in_tx(struct db_conn *c, uint64_t id, uint64_t *ret);
