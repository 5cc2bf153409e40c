/* SPDX-License-Identifier: MIT */
/*
 * Reading a small secret from a file (a bearer token, the master key, a webhook secret)
 * the way every one of them must be read: a regular file (a FIFO or a device in its place
 * is refused, not waited on) that neither group nor others may access, at most max bytes.
 * libc only; no logging. Errors: 0 or -errno:
 *   -ENOENT, -EACCES, ...  open/fstat/read failed
 *   -EINVAL   not a regular file
 *   -EPERM    group or others may access it (a secret others could read is no secret)
 *   -EFBIG    longer than max bytes
 * ret_err (err_size bytes, optional) then holds "<what> <path>: <reason>"; it never holds
 * the content. buf must hold max bytes; *ret_len is how many were read. The caller wipes
 * buf when done.
 */
#pragma once

#include <stddef.h>

int secret_file_read(const char *what, const char *path, char *buf, size_t max, size_t *ret_len,
                     char *ret_err, size_t err_size);

/* snprintf into an optional error buffer (NULL or size 0: nothing). */
void err_printf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
