// SPDX-License-Identifier: MIT
/*
 * IP assignments over the statement table. Uniqueness of a live address per node is the
 * schema's (a duplicate key, even between concurrent callers); this file maps it to our
 * types and codes, and reads the config's state only to explain a refusal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_ip.h"
#include "db_record.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int db_ip_address_parse(const char *text, struct db_ip_address *ret)
{
	struct db_ip_address a = {0};

	if (inet_pton(AF_INET, text, a.bytes) == 1) {
		a.len = 4;
	} else if (inet_pton(AF_INET6, text, a.bytes) == 1) {
		a.len = 16;
		if (!memcmp(a.bytes, v4_mapped_prefix, sizeof(v4_mapped_prefix))) {
			memmove(a.bytes, a.bytes + 12, 4);
			memset(a.bytes + 4, 0, 12);
			a.len = 4;
		}
	} else {
		return -EINVAL;
	}
	*ret = a;
	return 0;
}

int db_ip_address_format(const struct db_ip_address *a, char *buf, size_t len)
{
	int af = a->len == 4 ? AF_INET : a->len == 16 ? AF_INET6 : 0;

	if (!af || len > INT32_MAX || !inet_ntop(af, a->bytes, buf, (socklen_t)len))
		return -EINVAL;
	return 0;
}

static bool address_valid(const struct db_ip_address *a)
{
	return a && (a->len == 4 || a->len == 16);
}

/* IP_COLUMNS (db_stmt.c) into x, which the caller zeroed. */
static int assignment_from_row(const struct db_row *row, struct db_ip_assignment *x)
{
	const char *s;
	size_t len;
	int r;

	if ((r = db_row_uint(row, 0, &x->id)) < 0 || (r = db_row_uint(row, 1, &x->node_id)) < 0 ||
	    (r = db_row_bytes(row, 2, &s, &len)) < 0 || (len != 4 && len != 16))
		return -EBADMSG;
	memcpy(x->address.bytes, s, len);
	x->address.len = (uint8_t)len;
	if ((r = db_row_bytes(row, 3, &s, &len)) < 0 ||
	    (r = ip_kind_from_string(s, len, &x->kind)) < 0 ||
	    (r = db_row_bytes(row, 4, &s, &len)) < 0 ||
	    (r = vpn_type_from_string(s, len, &x->vpn_type)) < 0 ||
	    (r = db_record_uint(row, 5, &x->vpn_config_id)) < 0 ||
	    (r = db_record_uint(row, 6, &x->user_id)) < 0 ||
	    (r = db_record_time(row, 7, &x->assigned_at_us)) < 0 ||
	    (r = db_record_time(row, 8, &x->released_at_us)) < 0)
		return -EBADMSG;
	return 0;
}

static int status_row(const struct db_row *row, void *userdata)
{
	const char *s;
	size_t len;

	if (db_row_bytes(row, 0, &s, &len) < 0 || vpn_status_from_string(s, len, userdata) < 0)
		return -EBADMSG;
	return 1;
}

/* Why a statement guarded by "the config is live" matched nothing. */
static int config_not_live(struct db_conn *c, uint64_t vpn_config_id)
{
	enum vpn_status status;
	uint64_t rows = 0;
	int r;

	r = db_query(c, DB_STMT_VPN_STATUS, &DB_UINT(vpn_config_id), 1, status_row, &status, &rows);
	if (r < 0)
		return r;
	if (rows == 0)
		return -ENOENT;
	return status == VPN_PENDING || status == VPN_ACTIVE ? -EIO /* a bug */ : -EPERM;
}

int db_ip_record_in_tx(struct db_conn *c, uint64_t actor_id, uint64_t vpn_config_id,
                       const struct db_ip_address *a, uint64_t *ret_id)
{
	struct db_param p[] = {DB_BLOB(a->bytes, a->len), DB_UINT(vpn_config_id)};
	uint64_t affected = 0, id = 0;
	int r;

	if (!address_valid(a))
		return -EINVAL;
	r = db_exec(c, DB_STMT_IP_RECORD, p, ARRAY_SIZE(p), &affected, &id);
	if (r < 0)
		return r;
	if (affected == 0)
		return config_not_live(c, vpn_config_id);
	struct db_param audit[] = {db_record_opt_id(actor_id), DB_TEXT("ip.assign"), DB_UINT(id)};
	r = db_exec(c, DB_STMT_AUDIT_IP, audit, ARRAY_SIZE(audit), NULL, NULL);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = id;
	return 0;
}

struct record {
	uint64_t actor, vpn_config_id;
	const struct db_ip_address *a;
	uint64_t id;
};

static int record_tx(struct db_conn *c, void *userdata)
{
	struct record *x = userdata;

	return db_ip_record_in_tx(c, x->actor, x->vpn_config_id, x->a, &x->id);
}

int db_ip_record(struct db_conn *c, uint64_t actor_id, uint64_t vpn_config_id,
                 const struct db_ip_address *a, uint64_t *ret_id)
{
	struct record x = {actor_id, vpn_config_id, a, 0};
	int r;

	if (!address_valid(a))
		return -EINVAL;
	r = db_tx_run(c, record_tx, &x);
	if (r < 0)
		return r;
	if (ret_id)
		*ret_id = x.id;
	return 0;
}

struct release {
	uint64_t actor, node_id;
	const struct db_ip_address *a;
};

static int release_tx(struct db_conn *c, void *userdata)
{
	struct release *x = userdata;
	struct db_param p[] = {DB_UINT(x->node_id), DB_BLOB(x->a->bytes, x->a->len)};
	uint64_t affected = 0, id = 0;
	int r;

	r = db_exec(c, DB_STMT_IP_RELEASE, p, ARRAY_SIZE(p), &affected, &id);
	if (r < 0)
		return r;
	if (affected == 0)
		return -ENOENT;
	if (!id)
		return -EIO;
	struct db_param audit[] = {db_record_opt_id(x->actor), DB_TEXT("ip.release"), DB_UINT(id)};
	return db_exec(c, DB_STMT_AUDIT_IP, audit, ARRAY_SIZE(audit), NULL, NULL);
}

int db_ip_release(struct db_conn *c, uint64_t actor_id, uint64_t node_id,
                  const struct db_ip_address *a)
{
	struct release x = {actor_id, node_id, a};

	if (!address_valid(a))
		return -EINVAL;
	return db_tx_run(c, release_tx, &x);
}

struct assignment_list {
	struct db_ip_assignment *v;
	size_t n, cap;
};

static int list_row(const struct db_row *row, void *userdata)
{
	struct assignment_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	return assignment_from_row(row, &l->v[l->n++]);
}

int db_ip_list_node(struct db_conn *c, uint64_t node_id, const struct db_ip_address *after,
                    unsigned limit, struct db_ip_assignment **ret, size_t *ret_n)
{
	/* '' sorts before every address, so it means "from the first". */
	struct db_param p[] = {DB_UINT(node_id),
	                       after ? DB_BLOB(after->bytes, after->len) : DB_BLOB("", 0),
	                       DB_UINT(limit)};
	struct assignment_list l = {0};
	int r;

	if (after && !address_valid(after))
		return -EINVAL;
	r = db_query(c, DB_STMT_IP_LIST_NODE, p, ARRAY_SIZE(p), list_row, &l, NULL);
	if (r < 0) {
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

struct usage_list {
	struct db_ip_usage *v;
	size_t n, cap;
};

/* node id, kind (NULL for a node with none), count; rows of one node are adjacent. */
static int usage_row(const struct db_row *row, void *userdata)
{
	struct usage_list *l = userdata;
	uint64_t node, count;
	enum ip_kind kind;
	const char *s;
	size_t len;
	int r;

	if (db_row_uint(row, 0, &node) < 0 || db_row_uint(row, 2, &count) < 0)
		return -EBADMSG;
	if (l->n == 0 || l->v[l->n - 1].node_id != node) {
		r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
		if (r < 0)
			return r;
		l->v[l->n++].node_id = node;
	}
	r = db_row_bytes(row, 1, &s, &len);
	if (r == -ENODATA)
		return 0;
	if (r < 0 || ip_kind_from_string(s, len, &kind) < 0)
		return -EBADMSG;
	l->v[l->n - 1].live[kind] = count;
	return 0;
}

int db_ip_usage(struct db_conn *c, struct db_ip_usage **ret, size_t *ret_n)
{
	struct usage_list l = {0};
	int r;

	r = db_query(c, DB_STMT_IP_USAGE, NULL, 0, usage_row, &l, NULL);
	if (r < 0) {
		free(l.v);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}
