/* SPDX-License-Identifier: MIT */
/*
 * The controller API's objects as JSON (docs/api.md, "Controller", "Objects"): users, VPNs,
 * payments, nodes, jobs and the status figures, built from the database module's records.
 * Pure: no I/O, no database; what a record does not hold itself (a VPN's Telegram id, its
 * node's name, its latest job) the caller looks up and passes in.
 *
 * Times are RFC 3339 UTC strings with seconds ("2026-12-07T02:41:29Z"), or null for "none"
 * (0). Counts past 2^63 - 1 become JSON reals rather than wrapping.
 *
 * Every builder returns a new reference, or NULL when out of memory (or, for a value out
 * of range such as an unknown enum, the field is null rather than the object failing).
 * Thread-safe (no shared state).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "db_job.h"
#include "db_node.h"
#include "db_payment.h"
#include "db_status.h"
#include "db_user.h"
#include "db_vpn.h"

/* The role names a user may hold, in the order the user object lists them. */
extern const char *const apijson_roles[];
extern const size_t apijson_n_roles;

json_t *apijson_time(int64_t us);
json_t *apijson_count(uint64_t v);

/*
 * The addresses of a VPN config's JSON ({"addresses": [...]} once active, {} before):
 * always an array, of the strings found there; empty when config is NULL, not JSON or
 * has no such array.
 */
json_t *apijson_vpn_addresses(const char *config);

/* roles: the names of apijson_roles the user holds now. */
json_t *apijson_user(const struct db_user *u, const char *const *roles, size_t n_roles);

/* node: the node's name (NULL: null); job: the VPN's newest agent job (NULL: null). */
json_t *apijson_vpn(const struct db_vpn *v, int64_t telegram_id, const char *node,
                    const struct db_job *job);

json_t *apijson_payment(const struct db_payment *p, int64_t telegram_id);

/* Never shows the sealed agent token. */
json_t *apijson_node(const struct db_node *n);

/* node: the job's node's name (NULL: null, e.g. a webhook). */
json_t *apijson_job(const struct db_job *j, const char *node);

/*
 * {"users": {by status}, "vpns": {by status}, "payments": {by status}, "jobs": {by state},
 * "nodes": [{"name", "state", "health", "peers", "free_addresses"}]}. Each section holds
 * only its states' counts, so that the sum of a section is its table's size.
 */
json_t *apijson_status(const struct db_status *st, const struct db_node *nodes, size_t n_nodes);
