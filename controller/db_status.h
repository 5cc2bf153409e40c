/* SPDX-License-Identifier: MIT */
/*
 * The status figures of the controller: users, VPN configs, bandwidth, payments and
 * revenue, nodes, jobs. The counts of the big tables (users, vpn_configs, payments,
 * jobs) come from status_counters, which triggers keep in the same transaction as every
 * change to those tables (migration 0002), so a status read costs three small indexed
 * queries whatever the size of the tables; nodes and live admin grants are counted
 * directly (small tables, indexed).
 *
 * db_status_recount() computes the same figures from the tables themselves (it reads
 * every row: for checking); db_status_rebuild() resets the counters from them (repair).
 *
 * Errors as in db.h, plus -EBADMSG (the database holds a value this build does not know,
 * or a negative count). *ret is freed with db_status_free().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "model.h"

/* Completed payments (not failed, pending or refunded) of one method and currency. */
struct db_revenue {
	enum payment_method method;
	char currency[9];
	uint64_t payments;
	uint64_t amount; /* in the currency's smallest unit */
};

struct db_status {
	struct {
		uint64_t all;
		uint64_t by_status[_USER_STATUS_MAX]; /* active, banned */
		uint64_t admins;                      /* holding a live admin or superadmin grant */
	} users;
	struct {
		uint64_t all;
		uint64_t by_status[_VPN_STATUS_MAX];
		uint64_t by_type[_VPN_TYPE_MAX];
		uint64_t trial, paid;                              /* any status */
		uint64_t count[_VPN_TYPE_MAX][_VPN_STATUS_MAX][2]; /* [type][status][is_trial] */
		uint64_t bandwidth_bytes;                          /* all configs, ever */
	} vpn;
	struct {
		uint64_t all;
		uint64_t by_status[_PAYMENT_STATUS_MAX];
		struct db_revenue *revenue; /* by enum payment_method, then currency */
		size_t n_revenue;
	} payments;
	uint64_t nodes_by_state[_NODE_STATE_MAX];
	uint64_t jobs_by_state[_JOB_STATE_MAX];
};

struct db_status *db_status_free(struct db_status *s);

/* The figures, from one consistent snapshot (its own read-only transaction: c must not
 * be in one). */
int db_status_get(struct db_conn *c, struct db_status **ret);

/* The same figures counted from the tables (reads every row of the big tables); same
 * transaction rule. */
int db_status_recount(struct db_conn *c, struct db_status **ret);

/* Resets the counters to the tables' contents, in its own transaction, with an audit row.
 * Writers of the big tables wait while it runs (it reads every row with shared locks).
 * actor_id 0: the controller. */
int db_status_rebuild(struct db_conn *c, uint64_t actor_id);
