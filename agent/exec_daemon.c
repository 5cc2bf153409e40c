// SPDX-License-Identifier: MIT
/*
 * `wgfleet-agent run` hands over to wgfleet-agentd, installed beside this binary. The
 * daemon links libmicrohttpd and through it GnuTLS, p11-kit and nettle, whose load-time
 * initialisation would otherwise tax every `wgfleet-agent wg ...` call (measured: 2.15 ms
 * instead of 1.2 ms per process on the host, far more under emulation). exec keeps the
 * PID, so systemd and signals see one process.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

int cmd_exec_daemon(int argc, char **argv)
{
	char self[PATH_MAX], path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0) {
		fprintf(stderr, "wgfleet-agent: cannot find own path: %m\n");
		return 1;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash || snprintf(path, sizeof(path), "%.*s/wgfleet-agentd", (int)(slash - self),
			       self) >= (int)sizeof(path)) {
		fprintf(stderr, "wgfleet-agent: path too long: %s\n", self);
		return 1;
	}
	/* argv[0] of the daemon is "run": it parses the same arguments cmd_run always did. */
	execv(path, argv);
	fprintf(stderr, "wgfleet-agent: cannot start %s: %m\n", path);
	return 1;
}
