/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by every wgfleet module. No foreign library, no I/O.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Evaluates each argument once. */
#define MIN(a, b) __extension__({ __typeof__(a) _a = (a); __typeof__(b) _b = (b); _a < _b ? _a : _b; })

/* Run f(&var) when var leaves scope; f must accept a pointer to NULL. */
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Negative errno from a libc call that sets errno; never 0 even if errno was clobbered. */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* Grow *array to hold at least want elements of size sz: an empty array gets exactly
 * want, then capacity doubles. */
int grow_array(void **array, size_t *cap, size_t want, size_t sz);
/* As grow_array, for arrays that hold secrets: the first used elements move to a new
 * allocation and the old one is wiped whole before it is freed (realloc would leave a
 * copy behind). */
int grow_array_secret(void **array, size_t *cap, size_t want, size_t used, size_t sz);

/* NULL-terminated string vectors, as returned by the list functions. */
static inline char **strv_free(char **v)
{
	if (v)
		for (char **p = v; *p; p++)
			free(*p);
	free(v);
	return NULL;
}

static inline size_t strv_length(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}
