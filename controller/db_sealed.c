// SPDX-License-Identifier: MIT
/* The sealed secrets, page by page (db_sealed.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db_record.h"
#include "db_sealed.h"
#include "wgfleet/macro.h"

static const struct {
	enum db_stmt_id page, replace;
} stmts[_DB_SEALED_TABLE_MAX] = {
    [DB_SEALED_VPN_CONFIGS] = {DB_STMT_SEALED_VPN_PAGE, DB_STMT_SEALED_VPN_REPLACE},
    [DB_SEALED_NODES] = {DB_STMT_SEALED_NODE_PAGE, DB_STMT_SEALED_NODE_REPLACE},
};

struct db_sealed_row *db_sealed_rows_free(struct db_sealed_row *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].blob[0]);
		free(v[i].blob[1]);
	}
	free(v);
	return NULL;
}

struct page {
	struct db_sealed_row *v;
	size_t n, cap;
};

static int page_row(const struct db_row *row, void *userdata)
{
	struct page *pg = userdata;
	struct db_sealed_row *x;
	int r;

	r = db_record_grow((void **)&pg->v, &pg->cap, pg->n, sizeof(*pg->v));
	if (r < 0)
		return r;
	x = &pg->v[pg->n];
	*x = (struct db_sealed_row){0};
	r = db_record_uint(row, 0, &x->id);
	for (unsigned k = 0; r == 0 && k < 2; k++)
		if (!db_row_is_null(row, 1 + k))
			r = db_record_blobdup(row, 1 + k, &x->blob[k], &x->len[k]);
	if (r < 0) {
		free(x->blob[0]);
		free(x->blob[1]);
		return r;
	}
	pg->n++;
	return 0;
}

int db_sealed_page(struct db_conn *c, enum db_sealed_table table, uint64_t after_id,
                   unsigned limit, struct db_sealed_row **ret, size_t *ret_n)
{
	struct page pg = {0};
	int r;

	if ((unsigned)table >= _DB_SEALED_TABLE_MAX || limit == 0 || limit > 10000)
		return -EINVAL;
	struct db_param p[] = {DB_UINT(after_id), DB_UINT(limit)};
	r = db_query(c, stmts[table].page, p, ARRAY_SIZE(p), page_row, &pg, NULL);
	if (r < 0) {
		db_sealed_rows_free(pg.v, pg.n);
		return r;
	}
	*ret = pg.v;
	*ret_n = pg.n;
	return 0;
}

static struct db_param blob_or_null(const struct db_sealed_row *x, unsigned k)
{
	return x->blob[k] ? DB_BLOB(x->blob[k], x->len[k]) : DB_NULL;
}

int db_sealed_replace(struct db_conn *c, enum db_sealed_table table, uint64_t id,
                      const struct db_sealed_row *old, const struct db_sealed_row *new)
{
	uint64_t affected = 0, rows = 0;
	struct db_sealed_row *now = NULL;
	size_t n = 0;
	int r;

	if ((unsigned)table >= _DB_SEALED_TABLE_MAX || !!old->blob[0] != !!new->blob[0] ||
	    !!old->blob[1] != !!new->blob[1] || (table == DB_SEALED_NODES && new->blob[1]))
		return -EINVAL;
	struct db_param p[] = {blob_or_null(new, 0), blob_or_null(new, 1), DB_UINT(id),
	                       blob_or_null(old, 0), blob_or_null(old, 1)};
	r = db_exec(c, stmts[table].replace, p, ARRAY_SIZE(p), &affected, NULL);
	if (r < 0 || affected == 1)
		return r;
	/* Nothing changed: gone, or someone else's value now. */
	r = db_sealed_page(c, table, id - 1, 1, &now, &n);
	if (r == 0)
		rows = n && now[0].id == id;
	db_sealed_rows_free(now, n);
	return r < 0 ? r : rows ? -ESTALE : -ENOENT;
}
