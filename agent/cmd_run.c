// SPDX-License-Identifier: MIT
/*
 * `wgfleet-agent run --config FILE`: the daemon's main thread. Signals are blocked in every
 * thread and taken here with sigtimedwait(), so a SIGTERM never interrupts a handler or a
 * journal write: it is seen between reconcile passes, and shutdown runs in order (HTTP
 * first, so no handler is mid-change, then the device handle and the state).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "daemon.h"

#define PROG "wgfleet-agent run"

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s --config FILE\n", PROG);
}

int cmd_run(int argc, char **argv)
{
	const char *config = NULL;
	struct daemon d;
	sigset_t set;
	int r, status = 0;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--config"))
		config = argv[2];
	else if (argc == 2 && !strncmp(argv[1], "--config=", 9))
		config = argv[1] + 9;
	if (!config || !*config) {
		usage(stderr);
		return 2;
	}
	/* Before any thread exists, so every thread inherits the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = daemon_start(&d, config);
	if (r < 0) {
		daemon_stop(&d);
		return 1;
	}
	for (;;) {
		struct timespec ts;
		int sig;

		pthread_mutex_lock(&d.lock);
		/* After a failed device change, retry soon rather than a full interval later. */
		ts.tv_sec = d.dirty ? 1 : d.cfg->reconcile_interval_sec;
		pthread_mutex_unlock(&d.lock);
		ts.tv_nsec = 0;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT) {
			if (__atomic_load_n(&d.fatal, __ATOMIC_SEQ_CST))
				status = 1;
			else
				daemon_log(&d, AGENTCONF_LOG_INFO, "%s: stopping", strsignal(sig));
			break;
		}
		if (sig == SIGHUP) {
			daemon_log(&d, AGENTCONF_LOG_INFO,
				   "SIGHUP: reconciling now (restart to reload the config)");
		} else if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			daemon_log(&d, AGENTCONF_LOG_ERROR, "sigtimedwait: %s", strerror(errno));
			status = 1;
			break;
		}
		daemon_reconcile(&d);
	}
	daemon_stop(&d);
	return status;
}
