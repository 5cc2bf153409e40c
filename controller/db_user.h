/* SPDX-License-Identifier: MIT */
/*
 * Users and their roles. Every change writes its audit_log row in the same transaction.
 * Each function opens its own transaction (db_tx_run), so c must not be in one; reads
 * run outside any transaction. Errors as in db.h, plus -ENOENT (no such user or role)
 * and -EALREADY (the user already has that status).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "model.h"

struct db_user {
	uint64_t id;
	int64_t telegram_id;
	char *username, *first_name, *last_name; /* NULL when unknown */
	enum user_status status;
	char *qvapay_user_id, *qvapay_app_id; /* NULL unless linked */
	int64_t qvapay_linked_at_us, last_login_at_us, created_at_us, updated_at_us; /* 0: none */
};

struct db_user_profile {
	int64_t telegram_id;                           /* > 0 */
	const char *username, *first_name, *last_name; /* NULL: unknown */
};

struct db_user *db_user_free(struct db_user *u);
/* Frees an array of n users; returns NULL. */
struct db_user *db_users_free(struct db_user *v, size_t n);

/*
 * Registers the Telegram user, or refreshes the names and the last login of one already
 * known (one row per Telegram id, also under concurrent calls). *ret_id is the user's id;
 * *ret_created (optional) says whether this call registered it.
 */
int db_user_upsert(struct db_conn *c, const struct db_user_profile *p, uint64_t *ret_id,
                   bool *ret_created);

/* Reads a user; *ret is freed with db_user_free(). -ENOENT if there is none. */
int db_user_get(struct db_conn *c, uint64_t id, struct db_user **ret);
/* A user as the provisioner needs it. */
struct db_user_brief {
	uint64_t id;
	int64_t telegram_id;
	enum user_status status;
};
/*
 * The users of up to DB_BATCH_MAX Telegram ids, those that exist, in any order, into
 * ret (room for n); inside a transaction they stay share-locked until it ends (a status
 * change waits for it).
 */
int db_user_list_brief(struct db_conn *c, const int64_t *telegram_ids, size_t n,
                       struct db_user_brief *ret, size_t *ret_n);
int db_user_get_by_telegram(struct db_conn *c, int64_t telegram_id, struct db_user **ret);

/* Sets the status; actor_id 0 means the controller itself. -EALREADY if already so. */
int db_user_set_status(struct db_conn *c, uint64_t actor_id, uint64_t user_id,
                       enum user_status status);
/* The same inside the caller's transaction (a ban revokes the user's VPNs with it). */
int db_user_set_status_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t user_id,
                             enum user_status status);

/* Grants role ("admin", "superadmin") until expires_at_us (0: no expiry); granting again
 * renews. A past expiry is -EINVAL. */
int db_user_grant_role(struct db_conn *c, uint64_t actor_id, uint64_t user_id, const char *role,
                       int64_t expires_at_us);
int db_user_revoke_role(struct db_conn *c, uint64_t actor_id, uint64_t user_id, const char *role);

/* Whether the user holds role now (granted and not expired). */
int db_user_has_role(struct db_conn *c, uint64_t user_id, const char *role, bool *ret);

/* Users holding admin or superadmin now, by id; *ret (db_users_free) has *ret_n. */
int db_admins_list(struct db_conn *c, struct db_user **ret, size_t *ret_n);
