/* SPDX-License-Identifier: MIT */
/*
 * Payments: created pending, then completed, failed or refunded along the state machine
 * of model.h, each transition guarded in SQL by the state it leaves, so that of any
 * number of concurrent calls exactly one makes it. Every change writes its audit_log row
 * in the same transaction; each function opens its own transaction (c must not be in
 * one), except the _in_tx ones, which run in the caller's. Errors as in db.h, plus:
 *   -EEXIST    a payment with this method and provider charge id exists already
 *   -ENOENT    no such payment (or user)
 *   -EALREADY  the payment is already where the call leads (a repeated confirmation)
 *   -EPERM     the transition is not allowed from the payment's state
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "model.h"

struct db_payment {
	uint64_t id, user_id;
	enum payment_method method;
	int64_t amount;   /* in the currency's smallest unit (Stars are whole) */
	char currency[9]; /* "XTR" for Stars */
	enum payment_status status;
	enum vpn_type vpn_type; /* what it buys */
	unsigned months;
	char *provider_charge_id;
	uint64_t vpn_config_id;                                 /* 0: none yet */
	char *failure_reason;                                   /* NULL unless failed with one */
	int64_t created_at_us, completed_at_us, refunded_at_us; /* 0: not yet */
};

struct db_payment_new {
	uint64_t user_id;
	enum payment_method method;
	int64_t amount;
	const char *currency;
	enum vpn_type vpn_type;
	unsigned months;
	const char *provider_charge_id;
};

struct db_payment *db_payment_free(struct db_payment *p);
struct db_payment *db_payments_free(struct db_payment *v, size_t n);

/* Records a pending payment; *ret_id is its id. actor_id 0: the controller. */
int db_payment_create(struct db_conn *c, uint64_t actor_id, const struct db_payment_new *p,
                      uint64_t *ret_id);

/* pending -> completed; vpn_config_id (0: none) is what it paid for. */
int db_payment_complete(struct db_conn *c, uint64_t actor_id, uint64_t payment_id,
                        uint64_t vpn_config_id);
/* The same inside the caller's transaction (with the VPN it bought and its job); an error
 * breaks that transaction (db.h). */
int db_payment_complete_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t payment_id,
                              uint64_t vpn_config_id);
/* pending -> failed, with a reason (NULL: none) */
int db_payment_fail(struct db_conn *c, uint64_t actor_id, uint64_t payment_id, const char *reason);
/* completed -> refunded */
int db_payment_refund(struct db_conn *c, uint64_t actor_id, uint64_t payment_id);

int db_payment_get(struct db_conn *c, uint64_t id, struct db_payment **ret);
/* Inside the caller's transaction: the payment, its row locked until the transaction
 * ends (a completion reads, decides and writes while no one else can). */
int db_payment_get_for_update_in_tx(struct db_conn *c, uint64_t id, struct db_payment **ret);
int db_payment_get_by_charge(struct db_conn *c, enum payment_method method,
                             const char *provider_charge_id, struct db_payment **ret);

/* A user's payments, newest first, at most limit; *ret (db_payments_free) has *ret_n. */
int db_payment_history(struct db_conn *c, uint64_t user_id, unsigned limit, struct db_payment **ret,
                       size_t *ret_n);
