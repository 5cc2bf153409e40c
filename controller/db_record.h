/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the record modules (db_user.c, db_payment.c, db_vpn.c,
 * db_ip.c, db_status.c, db_node.c, db_job.c): reading optional columns into our types,
 * optional parameters, growing result arrays. Over db.h only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* A text column as a malloc'ed NUL-terminated copy; NULL for a NULL column. */
int db_record_strdup(const struct db_row *row, unsigned col, char **ret);

/* A binary column as a malloc'ed copy of *ret_len bytes; NULL and 0 for a NULL column. */
int db_record_blobdup(const struct db_row *row, unsigned col, uint8_t **ret, size_t *ret_len);

/* A time column; 0 for NULL. */
int db_record_time(const struct db_row *row, unsigned col, int64_t *ret);

/* An unsigned column; 0 for NULL. */
int db_record_uint(const struct db_row *row, unsigned col, uint64_t *ret);

/* An id parameter, NULL for 0 (no one, or the controller itself as actor). */
static inline struct db_param db_record_opt_id(uint64_t id)
{
	return id ? DB_UINT(id) : DB_NULL;
}

/* A text parameter, NULL for NULL. */
static inline struct db_param db_record_opt_text(const char *s)
{
	return s ? DB_TEXT(s) : DB_NULL;
}

/* A binary parameter, NULL for NULL. */
static inline struct db_param db_record_opt_blob(const uint8_t *p, size_t len)
{
	return p ? DB_BLOB(p, len) : DB_NULL;
}

/* Makes room for one more element of size sz at (*v)[*n], zeroed; -ENOMEM. */
int db_record_grow(void **v, size_t *cap, size_t n, size_t sz);
