// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secretfile.h"
#include "wgfleet/macro.h"

void err_printf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

int secret_file_read(const char *what, const char *path, char *buf, size_t max, size_t *ret_len,
                     char *ret_err, size_t err_size)
{
	struct stat st;
	size_t len = 0;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO in the file's place must be refused, not waited on. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = negative_errno();
		err_printf(ret_err, err_size, "%s %s: %s", what, path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = negative_errno();
		err_printf(ret_err, err_size, "%s %s: %s", what, path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		err_printf(ret_err, err_size, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		r = -EPERM;
		err_printf(ret_err, err_size,
		           "%s %s: group or others may access it (mode %04o); chmod 600 it", what,
		           path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	for (;;) {
		char extra;
		ssize_t n = len < max ? read(fd, buf + len, max - len) : read(fd, &extra, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = negative_errno();
			err_printf(ret_err, err_size, "%s %s: %s", what, path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		if (len == max) {
			/* One byte beyond max tells "too long" from "exactly max". */
			r = -EFBIG;
			err_printf(ret_err, err_size, "%s %s: longer than %zu bytes", what, path, max);
			goto out;
		}
		len += (size_t)n;
	}
	*ret_len = len;
out:
	close(fd);
	return r;
}
