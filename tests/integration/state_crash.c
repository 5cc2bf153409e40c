// SPDX-License-Identifier: MIT
/*
 * Crash test of the agent's durable record (agent/state.c).
 *
 * Each iteration forks a child that opens the state in a directory under /var/tmp (the
 * real disk), rebuilds its address pools from it and commits a burst of changes: new
 * peers (often with the job answer in the same txn), removals (quarantine or free at
 * once), "remove one peer and hand its address to a new one" in one txn, disable/enable,
 * counters, generations, re-puts, and now and then a compaction. Before each commit the
 * child sends the txn's payload down a pipe ("intent"), after state_commit() returns 0 it
 * sends "done". The parent kills the child with SIGKILL at a random instant, then:
 *   - applies every intent that got its done to its own model of the state, in order;
 *   - sometimes emulates a power cut during the last, unacknowledged write: if the
 *     journal ends with the frame of an intent without done, it cuts the file inside
 *     that frame or zeroes its end;
 *   - opens the state: it must load, pass state_check() and an independent scan for
 *     an address on two peers, and equal the parent's model, or the model plus the one
 *     unacknowledged intent (written before the kill, never acknowledged: either is
 *     right);
 *   - opens it a second time: the same state again.
 * The pools of the child are rebuilt from the record each time (state_pools_restore()),
 * so a record that lost a removal but kept the reuse of its address would be caught both
 * by the child's restore and by the parent's checks.
 *
 * usage: state_crash [ITERATIONS] [PARENT_DIR]   (defaults 200, /var/tmp)
 * STATE_CRASH_TRACE=1 in the environment prints what each kill interrupted. On failure the
 * state directory is kept for inspection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ippool.h"
#include "state.h"
#include "state_codec.h"

int main(int argc, char **argv);

enum { MSG_INTENT = 1, MSG_DONE = 2 };

struct msg_header {
	uint32_t kind, len;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "state_crash: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

/* ---- the child ---- */

static int wfd = -1;

static void send_msg(uint32_t kind, const void *data, size_t len)
{
	struct msg_header h = {kind, (uint32_t)len};
	const uint8_t *p = data;

	if (write(wfd, &h, sizeof(h)) != sizeof(h))
		_exit(6);
	while (len > 0) {
		ssize_t n = write(wfd, p, len);

		if (n <= 0)
			_exit(6);
		p += n;
		len -= (size_t)n;
	}
}

static void commit(struct state *st, struct state_txn *t)
{
	size_t n;
	const uint8_t *p = state_txn_payload(t, &n);
	int r;

	send_msg(MSG_INTENT, p, n);
	r = state_commit(st, t);
	if (r < 0) {
		fprintf(stderr, "child: commit: %s\n", strerror(-r));
		_exit(5);
	}
	send_msg(MSG_DONE, NULL, 0);
}

static struct ippool *make_pool(const char *prefix, const char *server)
{
	struct ippool_config c = {0};
	struct wg_allowedip srv;
	struct ippool *p;
	int r;

	if ((r = ippool_prefix_parse(prefix, &c.prefix)) < 0 ||
	    (r = wg_allowedip_parse(server, &srv)) < 0)
		die(prefix, r);
	c.server = &srv;
	if ((r = ippool_new(&c, &p)) < 0)
		die("ippool_new", r);
	return p;
}

/* A random existing peer (a copy), or false if there is none. */
static bool pick_peer(struct state *st, struct state_peer *ret)
{
	struct state_stats s;
	size_t iter = 0, k;
	const struct state_peer *p;

	state_get_stats(st, &s);
	if (s.peers == 0)
		return false;
	k = rnd() % s.peers;
	while ((p = state_peer_next(st, &iter)) && k--)
		;
	*ret = *p;
	return true;
}

static void release_addrs(struct ippool **pools, const struct state_peer *p, uint64_t now)
{
	for (size_t i = 0; i < p->n_addrs; i++)
		ippool_release(pools[p->addrs[i].family == AF_INET ? 0 : 1], &p->addrs[i], now);
}

static __attribute__((noreturn)) void child(const char *dir, uint64_t seed)
{
	struct ippool *pools[2] = {make_pool("10.20.0.0/24", "10.20.0.1"),
				   make_pool("fd77::/64", "fd77::1")};
	struct state_load_info info;
	struct state *st = NULL;
	struct state_txn *t = NULL;
	uint64_t now = (uint64_t)time(NULL);
	struct wg_allowedip bad;
	int r;

	/* Not the parent's sequence shifted by one: keys and job ids must not repeat. */
	rng_state = (seed ^ 0x243f6a8885a308d3ULL) * 0x9e3779b97f4a7c15ULL | 1;
	r = state_open(dir, &info, &st);
	if (r < 0) {
		fprintf(stderr, "child: state_open: %s: %s\n", strerror(-r), info.message);
		_exit(3);
	}
	r = state_pools_restore(st, pools, 2, &bad);
	if (r < 0) {
		fprintf(stderr, "child: pools_restore: %s\n", strerror(-r));
		_exit(4);
	}
	if ((r = state_txn_new(&t)) < 0)
		_exit(7);

	for (uint64_t step = 0;; step++) {
		unsigned dice = (unsigned)(rnd() % 100);
		struct state_peer p = {0}, old;
		/* Short quarantines: later children find them expired and reuse the addresses. */
		uint64_t deadline = rnd() & 1 ? 0 : now + 1 + rnd() % 3;
		char id[32];

		state_txn_reset(t);
		if (dice < 40) {
			/* A new peer, with the job answer in the same commit half of the time. */
			for (int i = 0; i < 4; i++) {
				uint64_t v = rnd();

				memcpy(p.public_key + 8 * i, &v, 8);
			}
			if (ippool_alloc(pools[0], now, &p.addrs[0]) < 0)
				goto remove; /* the /24 is full */
			if (ippool_alloc(pools[1], now, &p.addrs[1]) < 0)
				die("alloc v6", -ENOSPC);
			p.n_addrs = 2;
			p.created = p.updated = now;
			p.persistent_keepalive = (uint16_t)(rnd() % 60);
			if (rnd() & 1) {
				p.flags |= STATE_PEER_HAS_PRESHARED_KEY;
				memset(p.preshared_key, (int)(step & 0xff) | 1, WG_KEY_LEN);
			}
			state_txn_peer_put(t, &p, 0);
			if (rnd() & 1) {
				int n = snprintf(id, sizeof(id), "job-%016llx",
						 (unsigned long long)rnd());

				state_txn_job_put(t, id, (size_t)n, p.public_key, WG_KEY_LEN, now);
			}
			commit(st, t);
		} else if (dice < 65) {
		remove:
			if (!pick_peer(st, &old))
				continue;
			state_txn_peer_remove(t, old.public_key, deadline);
			commit(st, t);
			release_addrs(pools, &old, now);
		} else if (dice < 75) {
			/* Remove one peer and give its IPv4 address to a new one, atomically. */
			if (!pick_peer(st, &old))
				continue;
			p = old;
			p.public_key[0] ^= 0x5a;
			p.public_key[31] = (uint8_t)step;
			if (state_peer_get(st, p.public_key))
				continue;
			if (ippool_alloc(pools[1], now, &p.addrs[1]) < 0)
				die("alloc v6", -ENOSPC);
			p.flags &= ~STATE_PEER_DISABLED;
			state_txn_peer_remove(t, old.public_key, 0);
			state_txn_peer_put(t, &p, 0);
			commit(st, t);
			ippool_release(pools[1], &old.addrs[1], now);
			if (old.flags & STATE_PEER_DISABLED)
				ippool_unhold(pools[0], &old.addrs[0]);
		} else if (dice < 83) {
			if (!pick_peer(st, &old))
				continue;
			bool dis = !(old.flags & STATE_PEER_DISABLED);

			old.flags ^= STATE_PEER_DISABLED;
			old.updated = now;
			state_txn_peer_put(t, &old, 0);
			commit(st, t);
			for (size_t i = 0; i < old.n_addrs; i++) {
				struct ippool *pl = pools[old.addrs[i].family == AF_INET ? 0 : 1];

				if (dis)
					ippool_hold(pl, &old.addrs[i]);
				else
					ippool_unhold(pl, &old.addrs[i]);
			}
		} else if (dice < 91) {
			for (int i = 0; i < 20 && pick_peer(st, &old); i++) {
				struct state_counters c;

				state_counters_rebase(&old.counters, rnd() % 100000,
						      rnd() % 100000, false, &c);
				state_txn_counters(t, old.public_key, &c);
			}
			if (state_txn_ops(t) == 0)
				continue;
			commit(st, t);
		} else if (dice < 95) {
			state_txn_generation(t, state_generation(st) + 1);
			commit(st, t);
		} else if (dice < 99) {
			if (!pick_peer(st, &old))
				continue;
			old.persistent_keepalive ^= 1;
			old.flags ^= STATE_PEER_HAS_PRESHARED_KEY;
			memset(old.preshared_key, 0x33, WG_KEY_LEN);
			state_txn_peer_put(t, &old, 0);
			commit(st, t);
		} else {
			/* At time 0 nothing has expired: compaction leaves the model as it is, and
			 * the parent's model stays comparable. */
			r = state_compact(st, 0);
			if (r < 0) {
				fprintf(stderr, "child: compact: %s\n", strerror(-r));
				_exit(8);
			}
		}
	}
}

/* ---- the parent ---- */

struct inbox {
	uint8_t *p;
	size_t len, cap;
};

static void inbox_read(int fd, struct inbox *in)
{
	for (;;) {
		ssize_t n;

		if (in->cap - in->len < 65536) {
			in->cap = in->cap ? in->cap * 2 : 1 << 20;
			in->p = realloc(in->p, in->cap);
			if (!in->p)
				die("realloc", -ENOMEM);
		}
		n = read(fd, in->p + in->len, in->cap - in->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* EAGAIN or EOF */
		in->len += (size_t)n;
	}
}

static void apply_or_die(struct state_model *m, const uint8_t *p, size_t n)
{
	int r = state_model_apply(m, p, n, false, NULL);

	if (r < 0)
		die("parent: replaying an acknowledged change", r);
	state_model_settle(m);
}

/* Say how the loaded state and the expected model differ, for the failure message. */
static void explain(const struct state *st, const struct state_model *model)
{
	struct state_stats a, b;
	size_t iter = 0;
	const struct state_peer *p, *q;

	state_get_stats(st, &a);
	state_model_stats(model, &b);
	fprintf(stderr,
		"  loaded:   %zu peers, %zu addresses, %zu quarantined, %zu jobs, generation %llu\n"
		"  expected: %zu peers, %zu addresses, %zu quarantined, %zu jobs, generation %llu\n",
		a.peers, a.addresses, a.quarantined, a.jobs, (unsigned long long)a.generation,
		b.peers, b.addresses, b.quarantined, b.jobs, (unsigned long long)b.generation);
	while ((p = state_peer_next(st, &iter))) {
		q = state_model_peer_get(model, p->public_key);
		if (!q)
			fprintf(stderr, "  peer %02x%02x.. loaded, not expected\n", p->public_key[0],
				p->public_key[1]);
		else if (memcmp(&p->counters, &q->counters, sizeof(p->counters)) != 0 ||
			 p->flags != q->flags || p->persistent_keepalive != q->persistent_keepalive)
			fprintf(stderr, "  peer %02x%02x.. differs\n", p->public_key[0],
				p->public_key[1]);
	}
	iter = 0;
	while ((q = state_model_peer_next(model, &iter)))
		if (!state_peer_get(st, q->public_key)) {
			char buf[WG_ALLOWEDIP_STRLEN];

			wg_allowedip_format(&q->addrs[0], buf);
			fprintf(stderr, "  peer %02x%02x%02x%02x.. (%s) expected, not loaded\n",
				q->public_key[0], q->public_key[1], q->public_key[2],
				q->public_key[3], buf);
		}
}

/* No address on two peers, checked by a plain scan (not the module's own index). */
static void check_unique(const struct state *st)
{
	struct wg_allowedip *all = NULL;
	size_t n = 0, cap = 0, iter = 0;
	const struct state_peer *p;

	while ((p = state_peer_next(st, &iter)))
		for (size_t i = 0; i < p->n_addrs; i++) {
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				all = realloc(all, cap * sizeof(*all));
				if (!all)
					die("realloc", -ENOMEM);
			}
			all[n++] = p->addrs[i];
		}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (all[i].family == all[j].family &&
			    memcmp(&all[i].ip6, &all[j].ip6,
				   all[i].family == AF_INET ? 4 : 16) == 0) {
				char buf[WG_ALLOWEDIP_STRLEN];

				wg_allowedip_format(&all[i], buf);
				fprintf(stderr, "state_crash: %s is on two peers\n", buf);
				exit(1);
			}
	free(all);
}

static struct state *open_or_die(const char *dir, struct state_load_info *info)
{
	struct state *st = NULL;
	int r = state_open(dir, info, &st);

	if (r < 0) {
		fprintf(stderr, "state_crash: state_open: %s: %s (offset %llu)\n", strerror(-r),
			info->message, (unsigned long long)info->offset);
		exit(1);
	}
	if ((r = state_check(st)) < 0)
		die("state_check", r);
	check_unique(st);
	return st;
}

/*
 * Power cut during the last write: if the journal ends with the frame of payload, cut it
 * inside that frame or zero its end. Returns true if it did.
 */
static bool tear_tail(const char *journal, const uint8_t *payload, size_t n)
{
	size_t frame = STATE_FRAME_HEADER_SIZE + n;
	struct stat s;
	uint8_t *tail;
	bool ok = false;
	int fd = open(journal, O_RDWR);

	if (fd < 0 || fstat(fd, &s) < 0)
		die("open journal", -errno);
	if ((size_t)s.st_size < STATE_HEADER_SIZE + frame)
		goto out;
	tail = malloc(n);
	if (!tail)
		die("malloc", -ENOMEM);
	if (pread(fd, tail, n, s.st_size - (off_t)n) == (ssize_t)n && memcmp(tail, payload, n) == 0) {
		off_t start = s.st_size - (off_t)frame, cut = start + (off_t)(rnd() % frame);

		if (rnd() & 1) {
			if (ftruncate(fd, cut) < 0)
				die("ftruncate", -errno);
			ok = true;
		} else {
			/* Blocks never written read as zeros. Zeroing bytes that already were zero
			 * (the high bytes of a deadline) leaves the frame whole: then it is no
			 * tear, and the frame may still be found. */
			size_t k = (size_t)(s.st_size - cut);
			uint8_t *zero = calloc(1, k);

			if (!zero)
				die("calloc", -ENOMEM);
			ok = k > n || memcmp(tail + n - k, zero, k) != 0; /* a header is never 0 */
			if (pwrite(fd, zero, k, cut) != (ssize_t)k)
				die("pwrite", -errno);
			free(zero);
		}
	}
	free(tail);
out:
	close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	unsigned iterations = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200;
	const char *parent = argc > 2 ? argv[2] : "/var/tmp";
	char dir[256], journal[300], path[300];
	struct state_model *model = NULL;
	struct inbox in = {0};
	uint64_t acked = 0, pending_present = 0, pending_absent = 0, torn = 0, cut = 0;
	struct timespec t0, t1;
	int r;

	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rng_state = (uint64_t)t0.tv_nsec * 0x9e3779b97f4a7c15ULL | 1;
	snprintf(dir, sizeof(dir), "%s/state_crash.XXXXXX", parent);
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	snprintf(journal, sizeof(journal), "%s/state.journal", dir);
	if ((r = state_model_new(&model)) < 0)
		die("state_model_new", r);

	for (unsigned it = 0; it < iterations; it++) {
		struct state_load_info info;
		struct state *st;
		int fds[2], status;
		pid_t pid;
		uint64_t seed = rnd();
		/* Mostly inside the burst; sometimes during start-up (open, load, restore). */
		long delay_us = rnd() % 8 == 0 ? (long)(rnd() % 1500) : 1000 + (long)(rnd() % 14000);
		struct timespec deadline, now;
		const uint8_t *pending = NULL;
		size_t pending_len = 0, off = 0;

		if (pipe2(fds, O_CLOEXEC) < 0)
			die("pipe", -errno);
		pid = fork();
		if (pid < 0)
			die("fork", -errno);
		if (pid == 0) {
			close(fds[0]);
			wfd = fds[1];
			child(dir, seed);
		}
		close(fds[1]);
		fcntl(fds[0], F_SETFL, O_NONBLOCK);
		in.len = 0;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_nsec += delay_us * 1000;
		deadline.tv_sec += deadline.tv_nsec / 1000000000;
		deadline.tv_nsec %= 1000000000;
		for (;;) {
			struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
			struct timespec left;

			clock_gettime(CLOCK_MONOTONIC, &now);
			left.tv_sec = deadline.tv_sec - now.tv_sec;
			left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
			if (left.tv_nsec < 0) {
				left.tv_nsec += 1000000000;
				left.tv_sec--;
			}
			if (left.tv_sec < 0)
				break;
			if (ppoll(&pfd, 1, &left, NULL) > 0) {
				inbox_read(fds[0], &in);
				if (pfd.revents & POLLHUP)
					break; /* the child died on its own */
			}
		}
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid", -errno);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
			fprintf(stderr, "state_crash: iteration %u: child exited on its own (status %d)\n",
				it, status);
			return 1;
		}
		fcntl(fds[0], F_SETFL, 0);
		inbox_read(fds[0], &in);
		close(fds[0]);

		/* Replay what the child was told is durable. */
		while (in.len - off >= sizeof(struct msg_header)) {
			struct msg_header h;

			memcpy(&h, in.p + off, sizeof(h));
			if (in.len - off - sizeof(h) < h.len)
				break; /* cut mid-message: the commit had not started */
			off += sizeof(h);
			if (h.kind == MSG_INTENT) {
				if (pending)
					die("protocol: two intents", -EPROTO);
				pending = in.p + off;
				pending_len = h.len;
			} else if (h.kind == MSG_DONE) {
				if (!pending)
					die("protocol: done without intent", -EPROTO);
				apply_or_die(model, pending, pending_len);
				pending = NULL;
				acked++;
			}
			off += h.len;
		}

		if (getenv("STATE_CRASH_TRACE")) {
			fprintf(stderr, "it %u: %zu bytes of messages, pending %s", it, in.len,
				pending ? "yes" : "no");
			if (pending)
				fprintf(stderr, " (type %u key %02x%02x%02x%02x)", pending[0],
					pending[5], pending[6], pending[7], pending[8]);
			fprintf(stderr, "\n");
		}
		/* Power cut emulation, for an intent without its done. */
		if (pending && rnd() % 3 == 0 && tear_tail(journal, pending, pending_len)) {
			pending = NULL;
			cut++;
		}

		st = open_or_die(dir, &info);
		torn += info.torn_tail;
		if (!state_model_equal(state_model(st), model)) {
			if (!pending) {
				fprintf(stderr, "state_crash: iteration %u: state differs from the "
						"acknowledged changes (%s kept)\n",
					it, dir);
				explain(st, model);
				return 1;
			}
			apply_or_die(model, pending, pending_len);
			if (!state_model_equal(state_model(st), model)) {
				fprintf(stderr, "state_crash: iteration %u: state is neither the "
						"acknowledged changes nor them plus the last one (%s kept)\n",
					it, dir);
				explain(st, model);
				return 1;
			}
			pending_present++;
		} else if (pending) {
			pending_absent++;
		}
		state_close(st);
		/* Opening again gives the same state (the torn tail is gone for good). */
		st = open_or_die(dir, &info);
		if (info.torn_tail || !state_model_equal(state_model(st), model)) {
			fprintf(stderr, "state_crash: iteration %u: second open differs\n", it);
			return 1;
		}
		state_close(st);
	}

	struct state_stats s;
	struct state *st = open_or_die(dir, &(struct state_load_info){0});

	state_get_stats(st, &s);
	state_close(st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("state_crash: %u kills, %llu acknowledged changes all present; unacknowledged last "
	       "change present %llu / absent %llu times; %llu power cuts emulated, %llu torn "
	       "tails dropped; final %zu peers, %zu addresses, %zu quarantined, %zu jobs, "
	       "journal %llu bytes; %.1f s\n",
	       iterations, (unsigned long long)acked, (unsigned long long)pending_present,
	       (unsigned long long)pending_absent, (unsigned long long)cut,
	       (unsigned long long)torn, s.peers, s.addresses, s.quarantined, s.jobs,
	       (unsigned long long)s.journal_bytes,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

	const char *names[] = {"state.journal", "state.journal.tmp", "state.lock"};

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	free(in.p);
	state_model_free(model);
	return 0;
}
