// SPDX-License-Identifier: MIT
/*
 * wgf-bench: the timing half of the benchmarks (the scripts in bench/ decide what to run).
 *
 *   wgf-bench time ROUNDS [--before SHELL_CMD] -- A [ARGS...] [-- B [ARGS...]]
 *       Run A (and B, alternating) ROUNDS times, SHELL_CMD before each run (untimed);
 *       print the median wall time of each in milliseconds. Works the same on the host
 *       and in the busybox VM (whose date(1) has no nanoseconds).
 *   wgf-bench add-one IFACE ROUNDS
 *       Through the wgctl library over one open handle (what the agent does): add one
 *       new peer with one allowed IP, timed; then remove it, untimed. Print the median ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wgctl.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run(char **argv, int quiet)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet && !freopen("/dev/null", "w", stdout))
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * time ROUNDS [--before CMD] -- A... [-- B...]: with two commands the rounds alternate
 * A, B, A, B... so that drift in machine load hits both alike; prints "A_ms [B_ms]".
 */
static int cmd_time(int argc, char **argv)
{
	char **cmd[2] = {NULL, NULL};
	double *t[2] = {NULL, NULL};
	const char *before = NULL;
	int rounds, i = 1, ncmd = 0, r = 1;

	if (argc < 4)
		return 2;
	rounds = atoi(argv[i++]);
	if (rounds < 1 || rounds > 1000)
		return 2;
	if (!strcmp(argv[i], "--before") && i + 1 < argc) {
		before = argv[i + 1];
		i += 2;
	}
	/* Split the rest at "--" markers, in place. */
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			argv[i] = NULL;
			if (ncmd == 2 || i + 1 >= argc)
				return 2;
			cmd[ncmd++] = argv + i + 1;
		}
	}
	if (ncmd == 0)
		return 2;
	for (int c = 0; c < ncmd; c++)
		if (!(t[c] = calloc((size_t)rounds, sizeof(double))))
			goto out;
	for (int k = 0; k < rounds; k++) {
		for (int c = 0; c < ncmd; c++) {
			if (before) {
				char *sh[] = {"/bin/sh", "-c", (char *)before, NULL};
				if (run(sh, 1) != 0) {
					fprintf(stderr, "wgf-bench: --before command failed: %s\n", before);
					goto out;
				}
			}
			double t0 = now_ms();
			if (run(cmd[c], 1) != 0) {
				fprintf(stderr, "wgf-bench: %s failed\n", cmd[c][0]);
				goto out;
			}
			t[c][k] = now_ms() - t0;
		}
	}
	for (int c = 0; c < ncmd; c++)
		printf("%s%.3f", c ? " " : "", median(t[c], rounds));
	printf("\n");
	r = 0;
out:
	free(t[0]);
	free(t[1]);
	return r;
}

static int cmd_add_one(int argc, char **argv)
{
	struct wgctl *c = NULL;
	struct wg_device *dev = NULL;
	struct wg_peer *peer;
	struct wg_allowedip ip;
	uint8_t key[WG_KEY_LEN];
	int rounds, r;

	if (argc != 3 || (rounds = atoi(argv[2])) < 1 || rounds > 100000)
		return 2;
	double *t = calloc((size_t)rounds, sizeof(double));
	if (!t)
		return 1;
	r = wgctl_open(argv[1], &c);
	if (r < 0)
		goto out;
	r = wg_device_new(argv[1], &dev);
	if (r < 0)
		goto out;
	for (int k = 0; k < rounds; k++) {
		r = wg_key_generate_preshared(key); /* any 32 bytes are a valid peer key */
		if (r < 0)
			goto out;
		wg_device_clear_peers(dev);
		r = wg_device_add_peer(dev, key, &peer);
		if (r < 0)
			goto out;
		r = wg_allowedip_parse("10.254.254.254/32", &ip);
		if (r < 0)
			goto out;
		r = wg_peer_add_allowedip(peer, &ip);
		if (r < 0)
			goto out;
		peer->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
		double t0 = now_ms();
		r = wgctl_set(c, dev);
		t[k] = now_ms() - t0;
		if (r < 0)
			goto out;
		peer = &dev->peers[0];
		peer->flags = WG_PEER_HAS_PUBLIC_KEY | WG_PEER_REMOVE_ME;
		peer->n_ips = 0;
		r = wgctl_set(c, dev);
		if (r < 0)
			goto out;
	}
	printf("%.3f\n", median(t, rounds));
out:
	if (r < 0)
		fprintf(stderr, "wgf-bench add-one %s: %s\n", argv[1], wgctl_strerror(r));
	free(t);
	wg_device_free(dev);
	wgctl_close(c);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	int r = 2;

	if (wg_key_init() < 0)
		return 1;
	if (argc >= 2 && !strcmp(argv[1], "time"))
		r = cmd_time(argc - 1, argv + 1);
	else if (argc >= 2 && !strcmp(argv[1], "add-one"))
		r = cmd_add_one(argc - 1, argv + 1);
	if (r == 2)
		fprintf(stderr, "Usage: wgf-bench time ROUNDS [--before CMD] -- A [ARGS...] [-- B [ARGS...]]\n"
				"       wgf-bench add-one IFACE ROUNDS\n");
	return r;
}
