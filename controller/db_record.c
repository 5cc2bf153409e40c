// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "db_record.h"

int db_record_strdup(const struct db_row *row, unsigned col, char **ret)
{
	const char *p;
	size_t len;
	char *s;
	int r;

	r = db_row_bytes(row, col, &p, &len);
	if (r == -ENODATA) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return r;
	/* memcpy, not strdup: a NUL inside the value is data */
	s = malloc(len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, p, len + 1);
	*ret = s;
	return 0;
}

int db_record_blobdup(const struct db_row *row, unsigned col, uint8_t **ret, size_t *ret_len)
{
	const char *p;
	size_t len;
	uint8_t *b;
	int r;

	r = db_row_bytes(row, col, &p, &len);
	if (r == -ENODATA) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	if (r < 0)
		return r;
	b = malloc(len ? len : 1);
	if (!b)
		return -ENOMEM;
	memcpy(b, p, len);
	*ret = b;
	*ret_len = len;
	return 0;
}

int db_record_time(const struct db_row *row, unsigned col, int64_t *ret)
{
	int r = db_row_time(row, col, ret);

	if (r == -ENODATA) {
		*ret = 0;
		return 0;
	}
	return r;
}

int db_record_uint(const struct db_row *row, unsigned col, uint64_t *ret)
{
	int r = db_row_uint(row, col, ret);

	if (r == -ENODATA) {
		*ret = 0;
		return 0;
	}
	return r;
}

int db_record_grow(void **v, size_t *cap, size_t n, size_t sz)
{
	if (n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 8;
		void *nv;

		if (ncap > SIZE_MAX / sz)
			return -ENOMEM;
		nv = realloc(*v, ncap * sz);
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	memset((char *)*v + n * sz, 0, sz);
	return 0;
}
