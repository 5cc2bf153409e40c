// SPDX-License-Identifier: MIT
/*
 * VPN configs over the statement table. As for payments, a transition is one guarded
 * UPDATE and the row is read only afterwards, to tell "already there" from "not
 * allowed" with the pure state machine of model.c. The one-live-trial rule is the
 * schema's unique index: no check-then-insert here, which is what raced in the old
 * system.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_record.h"
#include "db_vpn.h"

void db_vpn_clear(struct db_vpn *v)
{
	if (!v)
		return;
	free(v->name);
	free(v->config);
	free(v->peer_public_key);
	free(v->extra);
	free(v->private_key_enc);
	free(v->preshared_key_enc);
}

struct db_vpn *db_vpn_free(struct db_vpn *v)
{
	if (v)
		db_vpn_clear(v);
	free(v);
	return NULL;
}

struct db_vpn *db_vpns_free(struct db_vpn *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		db_vpn_clear(&v[i]);
	free(v);
	return NULL;
}

/* VPN_COLUMNS (db_stmt.c) into v, which the caller zeroed. */
static int vpn_from_row(const struct db_row *row, struct db_vpn *v)
{
	uint64_t trial;
	const char *s;
	size_t len;
	int r;

	if ((r = db_row_uint(row, 0, &v->id)) < 0 || (r = db_row_uint(row, 1, &v->user_id)) < 0 ||
	    (r = db_row_uint(row, 2, &v->node_id)) < 0 ||
	    (r = db_row_bytes(row, 3, &s, &len)) < 0 ||
	    (r = vpn_type_from_string(s, len, &v->type)) < 0 ||
	    (r = db_record_strdup(row, 4, &v->name)) < 0 ||
	    (r = db_record_strdup(row, 5, &v->config)) < 0 ||
	    (r = db_record_strdup(row, 6, &v->peer_public_key)) < 0 ||
	    (r = db_row_bytes(row, 7, &s, &len)) < 0 ||
	    (r = vpn_status_from_string(s, len, &v->status)) < 0 ||
	    (r = db_row_uint(row, 8, &trial)) < 0 ||
	    (r = db_row_uint(row, 9, &v->bandwidth_bytes)) < 0 ||
	    (r = db_record_strdup(row, 10, &v->extra)) < 0 ||
	    (r = db_record_time(row, 11, &v->created_at_us)) < 0 ||
	    (r = db_record_time(row, 12, &v->activated_at_us)) < 0 ||
	    (r = db_record_time(row, 13, &v->expires_at_us)) < 0 ||
	    (r = db_record_time(row, 14, &v->revoked_at_us)) < 0 ||
	    (r = db_record_time(row, 15, &v->updated_at_us)) < 0 ||
	    (r = db_record_blobdup(row, 16, &v->private_key_enc, &v->private_key_enc_len)) < 0 ||
	    (r = db_record_blobdup(row, 17, &v->preshared_key_enc, &v->preshared_key_enc_len)) < 0 ||
	    (r = db_row_uint(row, 18, &v->rx_seen)) < 0 || (r = db_row_uint(row, 19, &v->tx_seen)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	v->is_trial = trial != 0;
	return 0;
}

struct vpn_list {
	struct db_vpn *v;
	size_t n, cap;
};

static int list_row(const struct db_row *row, void *userdata)
{
	struct vpn_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	/* counted even on failure, so that db_vpns_free frees what was read */
	return vpn_from_row(row, &l->v[l->n++]);
}

static int list(struct db_conn *c, enum db_stmt_id id, const struct db_param *p, size_t n,
                struct db_vpn **ret, size_t *ret_n)
{
	struct vpn_list l = {0};
	int r;

	r = db_query(c, id, p, n, list_row, &l, NULL);
	if (r < 0) {
		db_vpns_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

static int get_by(struct db_conn *c, enum db_stmt_id stmt, uint64_t id, struct db_vpn **ret)
{
	struct db_vpn *v = NULL;
	size_t n = 0;
	int r;

	r = list(c, stmt, &DB_UINT(id), 1, &v, &n);
	if (r < 0)
		return r;
	if (n != 1) {
		db_vpns_free(v, n);
		return -ENOENT;
	}
	*ret = v;
	return 0;
}

int db_vpn_get(struct db_conn *c, uint64_t id, struct db_vpn **ret)
{
	return get_by(c, DB_STMT_VPN_GET, id, ret);
}

int db_vpn_get_locked_in_tx(struct db_conn *c, uint64_t id, struct db_vpn **ret)
{
	return get_by(c, DB_STMT_VPN_GET_LOCKED, id, ret);
}

int db_vpn_list_by_user(struct db_conn *c, uint64_t user_id, unsigned limit, struct db_vpn **ret,
                        size_t *ret_n)
{
	struct db_param p[] = {DB_UINT(user_id), DB_UINT(limit)};

	return list(c, DB_STMT_VPN_LIST_BY_USER, p, ARRAY_SIZE(p), ret, ret_n);
}

int db_vpn_list_due(struct db_conn *c, uint32_t seconds, unsigned limit, struct db_vpn **ret,
                    size_t *ret_n)
{
	struct db_param p[] = {DB_UINT(seconds), DB_UINT(limit)};

	return list(c, DB_STMT_VPN_LIST_DUE, p, ARRAY_SIZE(p), ret, ret_n);
}

int db_vpn_list_expired(struct db_conn *c, unsigned limit, struct db_vpn **ret, size_t *ret_n)
{
	return list(c, DB_STMT_VPN_LIST_EXPIRED, &DB_UINT(limit), 1, ret, ret_n);
}

int db_vpn_list_node_live(struct db_conn *c, uint64_t node_id, struct db_vpn **ret,
                          size_t *ret_n)
{
	return list(c, DB_STMT_VPN_LIST_NODE_LIVE, &DB_UINT(node_id), 1, ret, ret_n);
}

int db_vpn_get_by_node_key(struct db_conn *c, uint64_t node_id, const char *public_key,
                           struct db_vpn **ret)
{
	struct db_vpn *v = NULL;
	size_t n = 0;
	int r;

	if (!public_key)
		return -EINVAL;
	struct db_param p[] = {DB_UINT(node_id), DB_TEXT(public_key)};
	r = list(c, DB_STMT_VPN_GET_BY_NODE_KEY, p, ARRAY_SIZE(p), &v, &n);
	if (r < 0)
		return r;
	if (n != 1) {
		db_vpns_free(v, n);
		return -ENOENT;
	}
	*ret = v;
	return 0;
}

/* ---- create ---- */

struct create {
	uint64_t actor;
	const struct db_vpn_new *n;
	uint64_t id;
};

/* user status, node state: NULL for a missing row */
struct why {
	bool user, node;
};

static int why_row(const struct db_row *row, void *userdata)
{
	struct why *w = userdata;

	w->user = !db_row_is_null(row, 0);
	w->node = !db_row_is_null(row, 1);
	return 1;
}

static bool vpn_new_valid(const struct db_vpn_new *n)
{
	return n && vpn_type_to_string(n->type) && n->name &&
	       (n->private_key_enc || !n->private_key_enc_len) &&
	       (n->preshared_key_enc || !n->preshared_key_enc_len);
}

static int create_tx(struct db_conn *c, void *userdata)
{
	struct create *x = userdata;
	const struct db_vpn_new *n = x->n;
	const char *type = vpn_type_to_string(n->type);
	struct db_param expires = n->expires_at_us ? DB_TIME(n->expires_at_us) : DB_NULL;
	struct db_param p[] = {DB_TEXT(type),
	                       DB_TEXT(n->name),
	                       DB_TEXT(n->config ? n->config : "{}"),
	                       db_record_opt_text(n->peer_public_key),
	                       db_record_opt_blob(n->private_key_enc, n->private_key_enc_len),
	                       db_record_opt_blob(n->preshared_key_enc, n->preshared_key_enc_len),
	                       DB_UINT(n->is_trial),
	                       expires,
	                       db_record_opt_text(n->idempotency_key),
	                       DB_UINT(n->user_id),
	                       DB_UINT(n->node_id)};
	uint64_t affected = 0;
	int r;

	r = db_exec(c, DB_STMT_VPN_CREATE, p, ARRAY_SIZE(p), &affected, &x->id);
	if (r < 0)
		return r;
	if (affected == 0) {
		struct db_param q[] = {DB_UINT(n->user_id), DB_UINT(n->node_id)};
		struct why w = {0};

		r = db_query(c, DB_STMT_VPN_CREATE_WHY, q, ARRAY_SIZE(q), why_row, &w, NULL);
		if (r < 0)
			return r;
		return w.user && w.node ? -EPERM : -ENOENT;
	}
	struct db_param a[] = {db_record_opt_id(x->actor),
	                       DB_UINT(n->user_id),
	                       DB_UINT(x->id),
	                       DB_UINT(n->node_id),
	                       DB_TEXT(type),
	                       DB_UINT(n->is_trial),
	                       expires};
	return db_exec(c, DB_STMT_AUDIT_VPN_CREATE, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_vpn_create(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                  uint64_t *ret_id)
{
	struct create x = {actor_id, n, 0};
	int r;

	if (!vpn_new_valid(n))
		return -EINVAL;
	r = db_tx_run(c, create_tx, &x);
	if (r < 0)
		return r;
	*ret_id = x.id;
	return 0;
}

int db_vpn_create_in_tx(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                        uint64_t *ret_id)
{
	struct create x = {actor_id, n, 0};
	int r;

	if (!vpn_new_valid(n))
		return -EINVAL;
	r = create_tx(c, &x);
	if (r < 0)
		return r;
	*ret_id = x.id;
	return 0;
}

/* ---- batches (the provisioner) ---- */

/* The configs of the batch statement stmt (params p) into ret, in the order of want: a
 * row matches the first unmatched want[i] with match(row, i). -ESTALE if one is missing. */
static int read_batch(struct db_conn *c, enum db_stmt_id stmt, const struct db_param *p,
                      size_t n_params, size_t count,
                      bool (*match)(const struct db_vpn *v, size_t i, const void *want),
                      const void *want, struct db_vpn **ret)
{
	struct db_vpn *got = NULL, *out = NULL;
	size_t n_got = 0;
	int r;

	r = list(c, stmt, p, n_params, &got, &n_got);
	if (r < 0)
		return r;
	out = calloc(count, sizeof(*out));
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		size_t k;

		for (k = 0; k < n_got; k++)
			if (got[k].id && match(&got[k], i, want))
				break;
		if (k == n_got) {
			r = -ESTALE;
			goto out;
		}
		out[i] = got[k];
		memset(&got[k], 0, sizeof(got[k])); /* moved: id 0 matches nothing more */
	}
	*ret = out;
	out = NULL;
out:
	db_vpns_free(out, count);
	db_vpns_free(got, n_got);
	return r;
}

static bool match_key(const struct db_vpn *v, size_t i, const void *want)
{
	const struct db_vpn_new *n = want;

	return v->node_id == n[i].node_id && v->peer_public_key &&
	       strcmp(v->peer_public_key, n[i].peer_public_key) == 0;
}

static int count_row(const struct db_row *row, void *userdata)
{
	(void)row;
	++*(size_t *)userdata;
	return 0;
}

/* Share-locks the configs' nodes (a state change waits for the commit); -ESTALE unless
 * every one is still active. */
static int lock_nodes(struct db_conn *c, const struct db_vpn_new *n, size_t count)
{
	struct db_param q[DB_BATCH_MAX];
	size_t k = 0, found = 0;
	int r;

	for (size_t i = 0; i < count; i++) {
		bool seen = false;

		for (size_t j = 0; j < k && !seen; j++)
			seen = q[j].u == n[i].node_id;
		if (!seen)
			q[k++] = DB_UINT(n[i].node_id);
	}
	for (size_t i = k; i < DB_BATCH_MAX; i++)
		q[i] = DB_NULL;
	r = db_query(c, DB_STMT_BATCH_NODES_LOCK, q, DB_BATCH_MAX, count_row, &found, NULL);
	if (r < 0)
		return r;
	return found == k ? 0 : -ESTALE;
}

int db_vpn_create_many_in_tx(struct db_conn *c, uint64_t actor_id, const struct db_vpn_new *n,
                             size_t count, struct db_vpn **ret_vpns)
{
	enum { NP = 11, NA = 7 };
	struct db_param *p = NULL, *a = NULL, keys[2 * DB_BATCH_MAX];
	struct db_vpn *vpns = NULL;
	int r;

	if (count == 0 || count > DB_BATCH_MAX)
		return -EINVAL;
	for (size_t i = 0; i < count; i++)
		if (!vpn_new_valid(&n[i]) || !n[i].peer_public_key)
			return -EINVAL;
	p = calloc(count * NP, sizeof(*p));
	a = calloc(count * NA, sizeof(*a));
	if (!p || !a) {
		r = -ENOMEM;
		goto out;
	}
	r = lock_nodes(c, n, count);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		const struct db_vpn_new *x = &n[i];
		struct db_param *row = &p[i * NP];

		row[0] = DB_TEXT(vpn_type_to_string(x->type));
		row[1] = DB_TEXT(x->name);
		row[2] = DB_TEXT(x->config ? x->config : "{}");
		row[3] = DB_TEXT(x->peer_public_key);
		row[4] = db_record_opt_blob(x->private_key_enc, x->private_key_enc_len);
		row[5] = db_record_opt_blob(x->preshared_key_enc, x->preshared_key_enc_len);
		row[6] = DB_UINT(x->is_trial);
		row[7] = x->expires_at_us ? DB_TIME(x->expires_at_us) : DB_NULL;
		row[8] = db_record_opt_text(x->idempotency_key);
		row[9] = DB_UINT(x->user_id);
		row[10] = DB_UINT(x->node_id);
	}
	/* Each row inserts or fails the statement; the read-back finds every one. */
	r = db_exec_bulk(c, DB_STMT_BATCH_VPN_INSERT, p, NP, count, NULL);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < DB_BATCH_MAX; i++) {
		keys[2 * i] = i < count ? DB_UINT(n[i].node_id) : DB_NULL;
		keys[2 * i + 1] = i < count ? DB_TEXT(n[i].peer_public_key) : DB_NULL;
	}
	r = read_batch(c, DB_STMT_BATCH_VPNS_BY_KEY, keys, ARRAY_SIZE(keys), count, match_key, n,
	               &vpns);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < count; i++) {
		struct db_param *row = &a[i * NA];

		row[0] = db_record_opt_id(actor_id);
		row[1] = DB_UINT(n[i].user_id);
		row[2] = DB_UINT(vpns[i].id);
		row[3] = DB_UINT(n[i].node_id);
		row[4] = DB_TEXT(vpn_type_to_string(n[i].type));
		row[5] = DB_UINT(n[i].is_trial);
		row[6] = n[i].expires_at_us ? DB_TIME(n[i].expires_at_us) : DB_NULL;
	}
	r = db_exec_bulk(c, DB_STMT_AUDIT_VPN_CREATE, a, NA, count, NULL);
	if (r < 0)
		goto out;
	*ret_vpns = vpns;
	vpns = NULL;
out:
	db_vpns_free(vpns, count);
	free(p);
	free(a);
	return r;
}

/* One live assignment as DB_STMT_BATCH_IPS_OF reads it, for its audit row. */
struct ip_seen {
	uint64_t id, node_id, vpn_config_id, user_id;
	char address[DB_IP_ADDRESS_STRLEN];
};

struct ips_seen {
	struct ip_seen *v;
	size_t n, cap;
};

static int ip_seen_row(const struct db_row *row, void *userdata)
{
	struct ips_seen *l = userdata;
	struct ip_seen *x;
	const char *s;
	size_t len;

	if (l->n == l->cap)
		return -EBADMSG;
	x = &l->v[l->n];
	if (db_row_uint(row, 0, &x->id) < 0 || db_row_uint(row, 1, &x->node_id) < 0 ||
	    db_row_bytes(row, 2, &s, &len) < 0 || len >= sizeof(x->address) ||
	    db_row_uint(row, 3, &x->vpn_config_id) < 0 || db_row_uint(row, 4, &x->user_id) < 0)
		return -EBADMSG;
	memcpy(x->address, s, len);
	x->address[len] = '\0';
	l->n++;
	return 0;
}

int db_vpn_activate_many_in_tx(struct db_conn *c, uint64_t actor_id,
                               const struct db_vpn_activation *a, size_t count,
                               const char *owner, int64_t at_us)
{
	enum { NI = 6, NAI = 6, NAA = 4 };
	struct db_param *act = NULL, *ips = NULL, *aips = NULL, aact[NAA * DB_BATCH_MAX],
	                ids[DB_BATCH_MAX], jobs[DB_BATCH_MAX + 1], users[DB_BATCH_MAX];
	struct ips_seen seen = {0};
	size_t n_ips = 0, k = 0, open = 0;
	int r;

	if (count == 0 || count > DB_BATCH_MAX || !owner)
		return -EINVAL;
	for (size_t i = 0; i < count; i++) {
		if (!a[i].vpn || (a[i].n_addresses && !a[i].addresses))
			return -EINVAL;
		n_ips += a[i].n_addresses;
	}
	act = calloc(count * 3, sizeof(*act));
	ips = calloc(n_ips ? n_ips * NI : 1, sizeof(*ips));
	aips = calloc(n_ips ? n_ips * NAI : 1, sizeof(*aips));
	seen.v = calloc(n_ips ? n_ips : 1, sizeof(*seen.v));
	seen.cap = n_ips;
	if (!act || !ips || !aips || !seen.v) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < DB_BATCH_MAX; i++) {
		jobs[i] = i < count ? DB_UINT(a[i].job_id) : DB_NULL;
		ids[i] = i < count ? DB_UINT(a[i].vpn->id) : DB_NULL;
		users[i] = i < count ? DB_UINT(a[i].vpn->user_id) : DB_NULL;
	}
	jobs[DB_BATCH_MAX] = DB_TEXT(owner);
	/* The users before their configs (lock_user_of). */
	r = db_query(c, DB_STMT_BATCH_USERS_LOCK, users, ARRAY_SIZE(users), NULL, NULL, NULL);
	if (r < 0)
		goto out;
	/* A bulk UPDATE's affected-row count includes the status-counter triggers' rows, so
	 * the guards are checked here, under locks, instead. */
	r = db_query(c, DB_STMT_BATCH_PROVISIONS_OPEN, jobs, ARRAY_SIZE(jobs), count_row, &open,
	             NULL);
	if (r < 0)
		goto out;
	if (open != count) {
		r = -ESTALE;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		const struct db_vpn *v = a[i].vpn;

		act[3 * i] = DB_TIME(at_us);
		act[3 * i + 1] = db_record_opt_text(a[i].config);
		act[3 * i + 2] = DB_UINT(v->id);
		for (size_t j = 0; j < a[i].n_addresses; j++, k++) {
			struct db_param *row = &ips[k * NI];

			row[0] = DB_UINT(v->node_id);
			row[1] = DB_BLOB(a[i].addresses[j].bytes, a[i].addresses[j].len);
			row[2] = DB_TEXT(v->is_trial ? "trial" : "paid");
			row[3] = DB_TEXT(vpn_type_to_string(v->type));
			row[4] = DB_UINT(v->id);
			row[5] = DB_UINT(v->user_id);
		}
		aact[i * NAA + 0] = db_record_opt_id(actor_id);
		aact[i * NAA + 1] = DB_UINT(v->user_id);
		aact[i * NAA + 2] = DB_UINT(v->id);
		aact[i * NAA + 3] = DB_UINT(a[i].n_addresses);
	}
	r = db_exec_bulk(c, DB_STMT_BATCH_VPN_ACTIVATE, act, 3, count, NULL);
	if (r < 0)
		goto out;
	if (n_ips) {
		r = db_exec_bulk(c, DB_STMT_BATCH_IP_INSERT, ips, NI, n_ips, NULL);
		if (r < 0)
			goto out;
		r = db_query(c, DB_STMT_BATCH_IPS_OF, ids, ARRAY_SIZE(ids), ip_seen_row, &seen, NULL);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < seen.n; i++) {
			struct db_param *row = &aips[i * NAI];

			row[0] = db_record_opt_id(actor_id);
			row[1] = DB_UINT(seen.v[i].user_id);
			row[2] = DB_UINT(seen.v[i].id);
			row[3] = DB_UINT(seen.v[i].node_id);
			row[4] = DB_TEXT(seen.v[i].address);
			row[5] = DB_UINT(seen.v[i].vpn_config_id);
		}
		r = db_exec_bulk(c, DB_STMT_BATCH_AUDIT_IP, aips, NAI, seen.n, NULL);
		if (r < 0)
			goto out;
	}
	r = db_exec_bulk(c, DB_STMT_BATCH_AUDIT_ACTIVATE, aact, NAA, count, NULL);
out:
	free(act);
	free(ips);
	free(aips);
	free(seen.v);
	return r;
}

/* ---- transitions ---- */

struct transition {
	uint64_t actor, id;
	enum vpn_event event;
	const char *config, *reason;
	const struct db_ip_address *addresses;
	size_t n_addresses;
	bool due_only; /* expire: only while the expiry has passed */
};

static int status_row(const struct db_row *row, void *userdata)
{
	const char *s;
	size_t len;

	if (db_row_bytes(row, 0, &s, &len) < 0 || vpn_status_from_string(s, len, userdata) < 0)
		return -EBADMSG;
	return 1;
}

/*
 * A user's row is locked before any of their configs, by every transaction that locks
 * both: creations share-lock the user, a ban updates it and then locks the user's configs.
 * A change of a config that locked the config first and met its user only through a
 * foreign key (its audit row, its addresses) waited for a ban that waited for the config:
 * a deadlock, and under a stream of creations for the user the ban lost every rerun
 * (controller/batch under load). Share-locks the user of config id. The user is found
 * through a plain read, in the transaction's snapshot: a config younger than the snapshot
 * leaves the user unlocked here, which only happens to a caller that found the config
 * through a locking read of its own, as a ban does while it holds the user already. Whether
 * the config exists is the guarded UPDATE's to tell.
 */
static int lock_user_of(struct db_conn *c, uint64_t id)
{
	return db_query(c, DB_STMT_VPN_USER_LOCK, &DB_UINT(id), 1, NULL, NULL, NULL);
}

/* Why the guarded UPDATE matched nothing: the state machine on the row as it is now (a
 * locking read: lock_user_of's subquery may have set the snapshot before this row moved). */
static int refused(struct db_conn *c, const struct transition *x)
{
	enum vpn_status now, to;
	uint64_t rows = 0;
	int r;

	r = db_query(c, DB_STMT_VPN_STATUS_LOCKED, &DB_UINT(x->id), 1, status_row, &now, &rows);
	if (r < 0)
		return r;
	if (rows == 0)
		return -ENOENT;
	r = vpn_next(now, x->event, &to);
	if (r < 0)
		return r;
	/* allowed, yet the guard did not match: no longer due, or a bug */
	return x->due_only ? -ESTALE : -EIO;
}

static int transition_tx(struct db_conn *c, void *userdata)
{
	static const char *const actions[_VPN_EVENT_MAX] = {
	    [VPN_EVENT_ACTIVATE] = "vpn.activate",
	    [VPN_EVENT_EXPIRE] = "vpn.expire",
	    [VPN_EVENT_REVOKE] = "vpn.revoke",
	};
	static const enum vpn_status targets[_VPN_EVENT_MAX] = {
	    [VPN_EVENT_ACTIVATE] = VPN_ACTIVE,
	    [VPN_EVENT_EXPIRE] = VPN_EXPIRED,
	    [VPN_EVENT_REVOKE] = VPN_REVOKED,
	};
	struct transition *x = userdata;
	uint64_t affected = 0, released = 0;
	int r;

	r = lock_user_of(c, x->id);
	if (r < 0)
		return r;
	switch (x->event) {
	case VPN_EVENT_ACTIVATE: {
		struct db_param p[] = {db_record_opt_text(x->config), DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_VPN_ACTIVATE, p, ARRAY_SIZE(p), &affected, NULL);
		break;
	}
	case VPN_EVENT_EXPIRE:
		r = db_exec(c, x->due_only ? DB_STMT_VPN_EXPIRE_DUE : DB_STMT_VPN_EXPIRE,
		            &DB_UINT(x->id), 1, &affected, NULL);
		break;
	case VPN_EVENT_REVOKE: {
		struct db_param p[] = {db_record_opt_text(x->reason), DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_VPN_REVOKE, p, ARRAY_SIZE(p), &affected, NULL);
		break;
	}
	default:
		return -EINVAL;
	}
	if (r < 0)
		return r;
	if (affected == 0)
		return refused(c, x);

	if (x->event == VPN_EVENT_ACTIVATE) {
		/* The config row is ours (X-locked) now: the addresses join it atomically. */
		for (size_t i = 0; i < x->n_addresses; i++) {
			r = db_ip_record_in_tx(c, x->actor, x->id, &x->addresses[i], NULL);
			if (r < 0)
				return r;
		}
	} else {
		r = db_exec(c, DB_STMT_VPN_RELEASE_IPS, &DB_UINT(x->id), 1, &released, NULL);
		if (r < 0)
			return r;
	}
	struct db_param a[] = {db_record_opt_id(x->actor),
	                       DB_TEXT(actions[x->event]),
	                       DB_TEXT(vpn_status_to_string(targets[x->event])),
	                       db_record_opt_text(x->reason),
	                       DB_UINT(x->event == VPN_EVENT_ACTIVATE ? x->n_addresses : 0),
	                       DB_UINT(released),
	                       DB_UINT(x->id)};
	return db_exec(c, DB_STMT_AUDIT_VPN_TRANSITION, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_vpn_activate(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *config,
                    const struct db_ip_address *addresses, size_t n)
{
	struct transition x = {actor_id, id, VPN_EVENT_ACTIVATE, config, NULL, addresses, n, false};

	if (n && !addresses)
		return -EINVAL;
	return db_tx_run(c, transition_tx, &x);
}

int db_vpn_revoke(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *reason)
{
	struct transition x = {actor_id, id, VPN_EVENT_REVOKE, NULL, reason, NULL, 0, false};

	return db_tx_run(c, transition_tx, &x);
}

int db_vpn_revoke_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *reason)
{
	struct transition x = {actor_id, id, VPN_EVENT_REVOKE, NULL, reason, NULL, 0, false};

	return transition_tx(c, &x);
}

int db_vpn_expire(struct db_conn *c, uint64_t actor_id, uint64_t id)
{
	struct transition x = {actor_id, id, VPN_EVENT_EXPIRE, NULL, NULL, NULL, 0, false};

	return db_tx_run(c, transition_tx, &x);
}

int db_vpn_expire_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id)
{
	struct transition x = {actor_id, id, VPN_EVENT_EXPIRE, NULL, NULL, NULL, 0, false};

	return transition_tx(c, &x);
}

int db_vpn_expire_due_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id)
{
	struct transition x = {actor_id, id, VPN_EVENT_EXPIRE, NULL, NULL, NULL, 0, true};

	return transition_tx(c, &x);
}

/* ---- payments' helpers ---- */

#define VPN_EXTEND_MONTHS_MAX 1200

static int time_row(const struct db_row *row, void *userdata)
{
	return db_record_time(row, 0, userdata) < 0 ? -EBADMSG : 1;
}

int db_vpn_extend_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t id, unsigned months,
                        int64_t *ret_expires_at_us)
{
	struct db_param p[] = {DB_UINT(months), DB_UINT(id)};
	uint64_t affected = 0, rows = 0;
	int64_t expires = 0;
	int r;

	if (months == 0 || months > VPN_EXTEND_MONTHS_MAX)
		return -EINVAL;
	r = lock_user_of(c, id);
	if (r < 0)
		return r;
	r = db_exec(c, DB_STMT_VPN_EXTEND, p, ARRAY_SIZE(p), &affected, NULL);
	if (r < 0)
		return r;
	if (affected == 0) {
		enum vpn_status now;

		r = db_query(c, DB_STMT_VPN_STATUS_LOCKED, &DB_UINT(id), 1, status_row, &now, &rows);
		if (r < 0)
			return r;
		return rows ? -EPERM : -ENOENT;
	}
	r = db_query(c, DB_STMT_VPN_EXPIRES_AT, &DB_UINT(id), 1, time_row, &expires, NULL);
	if (r < 0)
		return r;
	struct db_param a[] = {db_record_opt_id(actor_id), DB_UINT(months), DB_UINT(id)};
	r = db_exec(c, DB_STMT_AUDIT_VPN_EXTEND, a, ARRAY_SIZE(a), NULL, NULL);
	if (r < 0)
		return r;
	if (ret_expires_at_us)
		*ret_expires_at_us = expires;
	return 0;
}

static int id_row(const struct db_row *row, void *userdata)
{
	return db_row_uint(row, 0, userdata) < 0 ? -EBADMSG : 1;
}

/* The id of the first row of a one-id query; -ENOENT if there is none. */
static int query_id(struct db_conn *c, enum db_stmt_id stmt, const struct db_param *p, size_t n,
                    uint64_t *ret_id)
{
	uint64_t id = 0, rows = 0;
	int r;

	r = db_query(c, stmt, p, n, id_row, &id, &rows);
	if (r < 0)
		return r;
	if (rows == 0)
		return -ENOENT;
	*ret_id = id;
	return 0;
}

int db_vpn_find_live_paid_in_tx(struct db_conn *c, uint64_t user_id, enum vpn_type type,
                                uint64_t *ret_id)
{
	const char *t = vpn_type_to_string(type);

	if (!t)
		return -EINVAL;
	struct db_param p[] = {DB_UINT(user_id), DB_TEXT(t)};
	return query_id(c, DB_STMT_VPN_FIND_LIVE_PAID, p, ARRAY_SIZE(p), ret_id);
}

int db_vpn_find_by_idempotency_in_tx(struct db_conn *c, uint64_t user_id, const char *key,
                                     uint64_t *ret_id)
{
	if (!key)
		return -EINVAL;
	struct db_param p[] = {DB_UINT(user_id), DB_TEXT(key)};
	return query_id(c, DB_STMT_VPN_FIND_BY_IDEMPOTENCY, p, ARRAY_SIZE(p), ret_id);
}

struct id_list {
	uint64_t *v;
	size_t n, cap;
};

static int id_list_row(const struct db_row *row, void *userdata)
{
	struct id_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	return db_row_uint(row, 0, &l->v[l->n++]) < 0 ? -EBADMSG : 0;
}

int db_vpn_list_user_live_in_tx(struct db_conn *c, uint64_t user_id, uint64_t **ret_ids,
                                size_t *ret_n)
{
	struct id_list l = {0};
	int r;

	r = db_query(c, DB_STMT_VPN_LIST_USER_LIVE, &DB_UINT(user_id), 1, id_list_row, &l, NULL);
	if (r < 0) {
		free(l.v);
		return r;
	}
	*ret_ids = l.v;
	*ret_n = l.n;
	return 0;
}

/* ---- clean-up and accounting ---- */

struct cleanup {
	uint64_t actor, released;
};

static int cleanup_tx(struct db_conn *c, void *userdata)
{
	struct cleanup *x = userdata;
	int r;

	r = db_exec(c, DB_STMT_VPN_CLEANUP, NULL, 0, &x->released, NULL);
	if (r < 0 || x->released == 0)
		return r; /* a sweep that found nothing leaves no trace in the audit log */
	struct db_param a[] = {db_record_opt_id(x->actor), DB_UINT(x->released)};
	return db_exec(c, DB_STMT_AUDIT_VPN_CLEANUP, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_vpn_cleanup(struct db_conn *c, uint64_t actor_id, uint64_t *ret_released)
{
	struct cleanup x = {actor_id, 0};
	int r;

	r = db_tx_run(c, cleanup_tx, &x);
	if (r < 0)
		return r;
	if (ret_released)
		*ret_released = x.released;
	return 0;
}

int db_vpn_add_bandwidth(struct db_conn *c, uint64_t id, uint64_t bytes)
{
	struct db_param p[] = {DB_UINT(bytes), DB_UINT(id)};
	uint64_t affected = 0;
	int r;

	r = db_exec(c, DB_STMT_VPN_ADD_BANDWIDTH, p, ARRAY_SIZE(p), &affected, NULL);
	if (r < 0)
		return r;
	return affected ? 0 : -ENOENT;
}

/* ---- traffic ---- */

/* A config's key and the totals seen last time (DB_STMT_VPN_TRAFFIC_SEEN). */
struct seen {
	uint64_t id, rx, tx;
	char key[45]; /* base64 of 32 bytes, NUL-terminated */
};

struct seen_list {
	struct seen *v;
	size_t n, cap;
};

static int seen_row(const struct db_row *row, void *userdata)
{
	struct seen_list *l = userdata;
	struct seen *s;
	const char *key;
	size_t len;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	s = &l->v[l->n++];
	if (db_row_uint(row, 0, &s->id) < 0 || db_row_bytes(row, 1, &key, &len) < 0 ||
	    len >= sizeof(s->key) || db_row_uint(row, 2, &s->rx) < 0 ||
	    db_row_uint(row, 3, &s->tx) < 0)
		return -EBADMSG;
	memcpy(s->key, key, len);
	s->key[len] = '\0';
	return 0;
}

static int cmp_seen(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->key, ((const struct seen *)b)->key);
}

static int cmp_sample_ptr(const void *a, const void *b)
{
	const struct db_traffic_sample *x = *(const struct db_traffic_sample *const *)a;
	const struct db_traffic_sample *y = *(const struct db_traffic_sample *const *)b;

	return strcmp(x->public_key, y->public_key);
}

/* What a new total adds to a seen one: the difference, or all of it if the agent's
 * counter went back (it lost its totals and started again from zero). */
static uint64_t counted(uint64_t total, uint64_t seen)
{
	return total >= seen ? total - seen : total;
}

static int any_row(const struct db_row *row, void *userdata)
{
	(void)row, (void)userdata;
	return 1;
}

struct traffic {
	uint64_t node_id;
	const struct db_traffic_sample *const *sorted; /* by key, no duplicates */
	size_t n;
	uint64_t updated;
	struct db_param batch[4 * VPN_TRAFFIC_BATCH];
	size_t in_batch;
};

/* Sends the batch (the unused rows with id 0, which matches no config). */
static int flush(struct db_conn *c, struct traffic *x)
{
	int r;

	if (x->in_batch == 0)
		return 0;
	for (size_t i = 4 * x->in_batch; i < ARRAY_SIZE(x->batch); i++)
		x->batch[i] = DB_UINT(0);
	/* bandwidth_bytes is BIGINT UNSIGNED: an overflow is an error (-EINVAL), and the
	 * transaction rolls back whole */
	r = db_exec(c, DB_STMT_VPN_TRAFFIC_APPLY, x->batch, ARRAY_SIZE(x->batch), NULL, NULL);
	if (r < 0)
		return r;
	x->updated += x->in_batch;
	x->in_batch = 0;
	return 0;
}

static int traffic_tx(struct db_conn *c, void *userdata)
{
	struct traffic *x = userdata;
	struct seen_list l = {0};
	uint64_t rows = 0;
	size_t i = 0, k = 0;
	int r;

	x->updated = 0;
	x->in_batch = 0;
	/*
	 * The node's row first: the other pollers of this node wait here until this
	 * transaction ends. A locking read opens no snapshot, so the plain read below takes
	 * its snapshot after the wait and sees the totals the previous poller stored.
	 */
	r = db_query(c, DB_STMT_NODE_LOCK, &DB_UINT(x->node_id), 1, any_row, NULL, &rows);
	if (r < 0)
		goto out;
	if (rows == 0) {
		r = -ENOENT;
		goto out;
	}
	r = db_query(c, DB_STMT_VPN_TRAFFIC_SEEN, &DB_UINT(x->node_id), 1, seen_row, &l, NULL);
	if (r < 0)
		goto out;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_seen);

	/* Both sorted by key: one merge walk. */
	while (i < x->n && k < l.n) {
		const struct db_traffic_sample *s = x->sorted[i];
		struct seen *cfg = &l.v[k];
		int d = strcmp(s->public_key, cfg->key);
		struct db_param *p;
		uint64_t bytes;

		if (d < 0) {
			i++; /* a peer the controller does not know on this node */
			continue;
		}
		if (d > 0) {
			k++; /* a config the agent did not report */
			continue;
		}
		i++, k++;
		if (s->rx == cfg->rx && s->tx == cfg->tx)
			continue;
		if (__builtin_add_overflow(counted(s->rx, cfg->rx), counted(s->tx, cfg->tx),
		                           &bytes)) {
			r = -EINVAL;
			goto out;
		}
		p = &x->batch[4 * x->in_batch++];
		p[0] = DB_UINT(cfg->id);
		p[1] = DB_UINT(bytes);
		p[2] = DB_UINT(s->rx);
		p[3] = DB_UINT(s->tx);
		if (x->in_batch == VPN_TRAFFIC_BATCH) {
			r = flush(c, x);
			if (r < 0)
				goto out;
		}
	}
	r = flush(c, x);
out:
	free(l.v);
	return r;
}

int db_vpn_traffic_apply(struct db_conn *c, uint64_t node_id, const struct db_traffic_sample *s,
                         size_t n, uint64_t *ret_updated)
{
	const struct db_traffic_sample **sorted = NULL;
	struct traffic *x = NULL;
	int r;

	if (n && !s)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	sorted = calloc(n ? n : 1, sizeof(*sorted));
	if (!x || !sorted) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (!s[i].public_key) {
			r = -EINVAL;
			goto out;
		}
		sorted[i] = &s[i];
	}
	if (n > 1)
		qsort(sorted, n, sizeof(*sorted), cmp_sample_ptr);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(sorted[i - 1]->public_key, sorted[i]->public_key)) {
			r = -EINVAL; /* which of the two totals would be right? */
			goto out;
		}
	x->node_id = node_id;
	x->sorted = sorted;
	x->n = n;
	r = db_tx_run(c, traffic_tx, x);
	if (r < 0)
		goto out;
	if (ret_updated)
		*ret_updated = x->updated;
out:
	free(x);
	free(sorted);
	return r;
}
