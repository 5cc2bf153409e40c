// SPDX-License-Identifier: MIT
/*
 * Nodes over the statement table. The schema checks names, URLs, endpoints, keys and
 * pools (0001, 0003); this file maps them to our types and codes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "db_node.h"
#include "db_record.h"

static void node_clear(struct db_node *n)
{
	free(n->name);
	free(n->agent_url);
	free(n->endpoint);
	free(n->public_key);
	free(n->pools);
	free(n->agent_token_enc);
	free(n->boot_id);
	free(n->last_error);
}

struct db_node *db_node_free(struct db_node *n)
{
	if (n)
		node_clear(n);
	free(n);
	return NULL;
}

struct db_node *db_nodes_free(struct db_node *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		node_clear(&v[i]);
	free(v);
	return NULL;
}

/* NODE_COLUMNS (db_stmt.c) into n, which the caller zeroed. */
static int node_from_row(const struct db_row *row, struct db_node *n)
{
	uint64_t failed;
	const char *s;
	size_t len;
	int r;

	if ((r = db_row_uint(row, 0, &n->id)) < 0 || (r = db_record_strdup(row, 1, &n->name)) < 0 ||
	    (r = db_record_strdup(row, 2, &n->agent_url)) < 0 ||
	    (r = db_record_strdup(row, 3, &n->endpoint)) < 0 ||
	    (r = db_record_strdup(row, 4, &n->public_key)) < 0 ||
	    (r = db_record_strdup(row, 5, &n->pools)) < 0 ||
	    (r = db_row_bytes(row, 6, &s, &len)) < 0 ||
	    (r = node_state_from_string(s, len, &n->state)) < 0 ||
	    (r = db_row_bytes(row, 7, &s, &len)) < 0 ||
	    (r = node_health_from_string(s, len, &n->health)) < 0 ||
	    (r = db_row_uint(row, 8, &failed)) < 0 || failed > UINT32_MAX ||
	    (r = db_record_blobdup(row, 9, &n->agent_token_enc, &n->agent_token_enc_len)) < 0 ||
	    (r = db_record_strdup(row, 10, &n->boot_id)) < 0 ||
	    (r = db_record_time(row, 11, &n->last_seen_at_us)) < 0 ||
	    (r = db_record_strdup(row, 12, &n->last_error)) < 0 ||
	    (r = db_row_uint(row, 13, &n->free_addresses)) < 0 ||
	    (r = db_row_uint(row, 14, &n->peers)) < 0 ||
	    (r = db_row_uint(row, 15, &n->peer_generation)) < 0 ||
	    (r = db_record_time(row, 16, &n->created_at_us)) < 0 ||
	    (r = db_record_time(row, 17, &n->updated_at_us)) < 0)
		return r == -ENOMEM ? r : -EBADMSG;
	n->failed_polls = (unsigned)failed;
	return 0;
}

struct node_list {
	struct db_node *v;
	size_t n, cap;
};

static int list_row(const struct db_row *row, void *userdata)
{
	struct node_list *l = userdata;
	int r;

	r = db_record_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v));
	if (r < 0)
		return r;
	/* counted even on failure, so that db_nodes_free frees what was read */
	return node_from_row(row, &l->v[l->n++]);
}

static int list(struct db_conn *c, enum db_stmt_id id, const struct db_param *p, size_t n,
                struct db_node **ret, size_t *ret_n)
{
	struct node_list l = {0};
	int r;

	r = db_query(c, id, p, n, list_row, &l, NULL);
	if (r < 0) {
		db_nodes_free(l.v, l.n);
		return r;
	}
	*ret = l.v;
	*ret_n = l.n;
	return 0;
}

int db_node_get(struct db_conn *c, uint64_t id, struct db_node **ret)
{
	struct db_node *v = NULL;
	size_t n = 0;
	int r;

	r = list(c, DB_STMT_NODE_GET, &DB_UINT(id), 1, &v, &n);
	if (r < 0)
		return r;
	if (n != 1) {
		db_nodes_free(v, n);
		return -ENOENT;
	}
	*ret = v;
	return 0;
}

int db_node_list(struct db_conn *c, struct db_node **ret, size_t *ret_n)
{
	return list(c, DB_STMT_NODE_LIST, NULL, 0, ret, ret_n);
}

/* ---- create, state ---- */

struct create {
	uint64_t actor;
	const struct db_node_new *n;
	uint64_t id;
};

static int create_tx(struct db_conn *c, void *userdata)
{
	struct create *x = userdata;
	const struct db_node_new *n = x->n;
	struct db_param p[] = {DB_TEXT(n->name),
	                       DB_TEXT(n->agent_url),
	                       DB_TEXT(n->endpoint),
	                       DB_TEXT(n->public_key),
	                       DB_TEXT(n->pools ? n->pools : "{}"),
	                       db_record_opt_blob(n->agent_token_enc, n->agent_token_enc_len),
	                       db_record_opt_text(n->boot_id),
	                       DB_UINT(n->free_addresses),
	                       DB_UINT(n->peers)};
	int r;

	r = db_exec(c, DB_STMT_NODE_CREATE, p, ARRAY_SIZE(p), NULL, &x->id);
	if (r < 0)
		return r;
	struct db_param a[] = {db_record_opt_id(x->actor), DB_UINT(x->id), DB_TEXT(n->name),
	                       DB_TEXT(n->agent_url)};
	return db_exec(c, DB_STMT_AUDIT_NODE_CREATE, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_node_create(struct db_conn *c, uint64_t actor_id, const struct db_node_new *n,
                   uint64_t *ret_id)
{
	struct create x = {actor_id, n, 0};
	int r;

	if (!n || !n->name || !n->agent_url || !n->endpoint || !n->public_key ||
	    (n->agent_token_enc_len && !n->agent_token_enc))
		return -EINVAL;
	r = db_tx_run(c, create_tx, &x);
	if (r < 0)
		return r;
	*ret_id = x.id;
	return 0;
}

struct set_state {
	uint64_t actor, id;
	const char *state;
};

static int count_row(const struct db_row *row, void *userdata)
{
	(void)row;
	(*(uint64_t *)userdata)++;
	return 0;
}

static int set_state_tx(struct db_conn *c, void *userdata)
{
	struct set_state *x = userdata;
	struct db_param p[] = {DB_TEXT(x->state), DB_UINT(x->id), DB_TEXT(x->state)};
	uint64_t affected = 0, rows = 0;
	int r;

	r = db_exec(c, DB_STMT_NODE_SET_STATE, p, ARRAY_SIZE(p), &affected, NULL);
	if (r < 0)
		return r;
	if (affected == 0) {
		r = db_query(c, DB_STMT_NODE_STATE, &DB_UINT(x->id), 1, count_row, &rows, NULL);
		if (r < 0)
			return r;
		return rows ? -EALREADY : -ENOENT;
	}
	struct db_param a[] = {db_record_opt_id(x->actor), DB_UINT(x->id), DB_TEXT(x->state)};
	return db_exec(c, DB_STMT_AUDIT_NODE_STATE, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_node_set_state(struct db_conn *c, uint64_t actor_id, uint64_t id, enum node_state s)
{
	struct set_state x = {actor_id, id, node_state_to_string(s)};

	if (!x.state)
		return -EINVAL;
	return db_tx_run(c, set_state_tx, &x);
}

struct set_agent {
	uint64_t actor, id;
	const char *url;
	const uint8_t *enc;
	size_t enc_len;
	bool token_changed;
};

static int set_agent_tx(struct db_conn *c, void *userdata)
{
	struct set_agent *x = userdata;
	struct db_param p[] = {DB_TEXT(x->url), DB_BLOB(x->enc, x->enc_len), DB_UINT(x->id)};
	uint64_t rows = 0;
	int r;

	r = db_query(c, DB_STMT_NODE_STATE, &DB_UINT(x->id), 1, count_row, &rows, NULL);
	if (r < 0)
		return r;
	if (!rows)
		return -ENOENT;
	r = db_exec(c, DB_STMT_NODE_SET_AGENT, p, ARRAY_SIZE(p), NULL, NULL);
	if (r < 0)
		return r;
	struct db_param a[] = {db_record_opt_id(x->actor), DB_UINT(x->id), DB_TEXT(x->url),
	                       DB_UINT(x->token_changed ? 1 : 0)};
	return db_exec(c, DB_STMT_AUDIT_NODE_AGENT, a, ARRAY_SIZE(a), NULL, NULL);
}

int db_node_set_agent(struct db_conn *c, uint64_t actor_id, uint64_t id, const char *agent_url,
                      const uint8_t *agent_token_enc, size_t agent_token_enc_len,
                      bool token_changed)
{
	struct set_agent x = {actor_id, id, agent_url, agent_token_enc, agent_token_enc_len,
	                      token_changed};

	if (!agent_url || !agent_token_enc || !agent_token_enc_len)
		return -EINVAL;
	return db_tx_run(c, set_agent_tx, &x);
}

/* ---- polls ---- */

struct report {
	uint64_t id;
	const struct db_node_report *r;
	bool boot_changed;
};

/* The stored boot id, copied: the row's memory is gone after the callback. */
struct boot {
	bool found;
	char *id; /* NULL: none recorded */
};

static int boot_row(const struct db_row *row, void *userdata)
{
	struct boot *b = userdata;
	int r;

	b->found = true;
	r = db_record_strdup(row, 0, &b->id);
	return r < 0 ? r : 1;
}

static int report_tx(struct db_conn *c, void *userdata)
{
	struct report *x = userdata;
	const struct db_node_report *rep = x->r;
	struct boot b = {false, NULL};
	uint64_t affected = 0;
	int r;

	x->boot_changed = false;
	/* The row lock first: the boot id compared is the one this update replaces. */
	r = db_query(c, DB_STMT_NODE_LOCK, &DB_UINT(x->id), 1, boot_row, &b, NULL);
	if (r < 0)
		goto out;
	if (!b.found) {
		r = -ENOENT;
		goto out;
	}
	if (rep->ok) {
		struct db_param p[] = {db_record_opt_text(rep->boot_id), DB_UINT(rep->free_addresses),
		                       DB_UINT(rep->peers), db_record_opt_text(rep->pools),
		                       db_record_opt_text(rep->public_key),
		                       db_record_opt_text(rep->endpoint), DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_NODE_REPORT_OK, p, ARRAY_SIZE(p), &affected, NULL);
		x->boot_changed = b.id && rep->boot_id && strcmp(b.id, rep->boot_id) != 0;
	} else {
		struct db_param p[] = {DB_UINT(rep->unhealthy_after), db_record_opt_text(rep->error),
		                       DB_UINT(x->id)};

		r = db_exec(c, DB_STMT_NODE_REPORT_FAIL, p, ARRAY_SIZE(p), &affected, NULL);
	}
	if (r == 0 && affected != 1)
		r = -EIO; /* the row is locked by us: cannot happen */
out:
	free(b.id);
	return r;
}

int db_node_report(struct db_conn *c, uint64_t id, const struct db_node_report *r,
                   bool *ret_boot_changed)
{
	struct report x = {id, r, false};
	int e;

	if (!r || (!r->ok && r->unhealthy_after == 0))
		return -EINVAL;
	e = db_tx_run(c, report_tx, &x);
	if (e < 0)
		return e;
	if (ret_boot_changed)
		*ret_boot_changed = x.boot_changed;
	return 0;
}

/* ---- inside the caller's transaction ---- */

static int id_row(const struct db_row *row, void *userdata)
{
	return db_row_uint(row, 0, userdata) < 0 ? -EBADMSG : 1;
}

int db_node_pick_in_tx(struct db_conn *c, uint64_t *ret_id)
{
	uint64_t id = 0, rows = 0;
	int r;

	r = db_query(c, DB_STMT_NODE_PICK, NULL, 0, id_row, &id, &rows);
	if (r < 0)
		return r;
	if (rows == 0)
		return -ENOSPC;
	*ret_id = id;
	return 0;
}

int db_node_next_generation_in_tx(struct db_conn *c, uint64_t id, uint64_t *ret)
{
	uint64_t affected = 0, generation = 0;
	int r;

	r = db_exec(c, DB_STMT_NODE_NEXT_GENERATION, &DB_UINT(id), 1, &affected, &generation);
	if (r < 0)
		return r;
	if (affected == 0)
		return -ENOENT;
	*ret = generation;
	return 0;
}
