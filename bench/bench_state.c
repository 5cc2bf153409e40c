// SPDX-License-Identifier: MIT
/*
 * The agent's durable record (agent/state.c) on the real disk: latency of one committed
 * change with 50,000 peers present (each is one append + one fdatasync), against the bare
 * cost of append + fdatasync on the same file system; load time of 50,000 peers (from a
 * snapshot, and from a snapshot plus a journal of changes); compaction time; file sizes;
 * heap held by the loaded state. Goal (issue 3): provision p99 under 5 ms end to end, so
 * the record's share must be well under that.
 *
 * usage: bench_state [PEERS [PARENT_DIR]]   (defaults 50000, /var/tmp)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "state.h"
#include "state_codec.h"

int main(int argc, char **argv);

#define SAMPLES 2000

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "bench_state: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, size_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf("%-44s p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (%zu samples)\n", what,
	       lat[n / 2] * 1e3, lat[n * 99 / 100] * 1e3, lat[n - 1] * 1e3, n);
}

/* Peer i: a key from i, 10.x.y.z and fd00::i, a preshared key on every other one. */
static void make_peer(uint32_t i, struct state_peer *p)
{
	memset(p, 0, sizeof(*p));
	for (int k = 0; k < WG_KEY_LEN; k += 4) {
		uint32_t v = (i + 1) * 2654435761U ^ (uint32_t)k * 40503U;

		memcpy(p->public_key + k, &v, 4);
	}
	if (i & 1) {
		p->flags = STATE_PEER_HAS_PRESHARED_KEY;
		memset(p->preshared_key, 0x42, WG_KEY_LEN);
	}
	p->persistent_keepalive = 25;
	p->created = p->updated = 1700000000;
	p->addrs[0] = (struct wg_allowedip){.family = AF_INET, .cidr = 32,
					    .ip4.s_addr = htonl(0x0a000002 + i)};
	p->addrs[1].family = AF_INET6;
	p->addrs[1].cidr = 128;
	p->addrs[1].ip6.s6_addr[0] = 0xfd;
	memcpy(p->addrs[1].ip6.s6_addr + 12, &(uint32_t){htonl(i + 2)}, 4);
	p->n_addrs = 2;
}

static off_t file_size(const char *dir)
{
	char path[512];
	struct stat s;

	snprintf(path, sizeof(path), "%s/state.journal", dir);
	return stat(path, &s) == 0 ? s.st_size : -1;
}

static double time_open(const char *dir, struct state **ret, struct state_load_info *info)
{
	double t = now_s();
	int r = state_open(dir, info, ret);

	if (r < 0)
		die("state_open", r);
	return now_s() - t;
}

static void raw_fdatasync(const char *dir)
{
	char path[512];
	uint8_t buf[160] = {1};
	double lat[SAMPLES];
	int fd;

	snprintf(path, sizeof(path), "%s/raw", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open raw", -errno);
	for (size_t i = 0; i < SAMPLES; i++) {
		double t = now_s();

		if (write(fd, buf, sizeof(buf)) != sizeof(buf) || fdatasync(fd) < 0)
			die("raw write", -errno);
		lat[i] = now_s() - t;
	}
	close(fd);
	unlink(path);
	report("bare append 160 B + fdatasync", lat, SAMPLES);
}

int main(int argc, char **argv)
{
	uint32_t n_peers = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 50000;
	const char *parent = argc > 2 ? argv[2] : "/var/tmp";
	char dir[256], path[512];
	struct state *st = NULL;
	struct state_txn *t = NULL;
	struct state_load_info info;
	struct state_stats stats;
	struct state_peer p;
	static double lat[SAMPLES];
	double t0, dt;
	size_t heap0, heap1;
	int r;

	snprintf(dir, sizeof(dir), "%s/bench_state.XXXXXX", parent);
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	printf("bench_state: %u peers in %s\n", n_peers, dir);
	raw_fdatasync(dir);

	/* Fill: 1,000 peers per commit. */
	if ((r = state_open(dir, &info, &st)) < 0 || (r = state_txn_new(&t)) < 0)
		die("open", r);
	t0 = now_s();
	for (uint32_t i = 0; i < n_peers; i++) {
		make_peer(i, &p);
		if ((r = state_txn_peer_put(t, &p, 0)) < 0)
			die("txn", r);
		if ((i + 1) % 1000 == 0 || i + 1 == n_peers)
			if ((r = state_commit(st, t)) < 0)
				die("commit", r);
	}
	dt = now_s() - t0;
	printf("fill %u peers, 1,000 per commit:             %.3f s\n", n_peers, dt);
	t0 = now_s();
	if ((r = state_compact(st, 1700000000)) < 0)
		die("compact", r);
	printf("compaction of %u peers:                      %.1f ms, snapshot %lld bytes "
	       "(%.0f B/peer)\n",
	       n_peers, (now_s() - t0) * 1e3, (long long)file_size(dir),
	       (double)file_size(dir) / n_peers);

	/* One change per commit, as a provision does: a new peer. */
	for (size_t i = 0; i < SAMPLES; i++) {
		make_peer(n_peers + (uint32_t)i, &p);
		t0 = now_s();
		if ((r = state_peer_put(st, &p, 0)) < 0)
			die("put", r);
		lat[i] = now_s() - t0;
	}
	report("state_peer_put, new peer", lat, SAMPLES);
	/* A new peer and its job answer in one txn (POST /v1/peers with a job id). */
	for (size_t i = 0; i < SAMPLES; i++) {
		char id[32], answer[160];
		int il;

		make_peer(n_peers + SAMPLES + (uint32_t)i, &p);
		il = snprintf(id, sizeof(id), "job-%zu", i);
		snprintf(answer, sizeof(answer),
			 "{\"addresses\":[\"10.0.0.1/32\",\"fd00::1/128\"],\"created\":true,"
			 "\"public_key\":\"%zu\"}",
			 i);
		t0 = now_s();
		if ((r = state_txn_peer_put(t, &p, 0)) < 0 ||
		    (r = state_txn_job_put(t, id, (size_t)il, answer, strlen(answer), 1700000000)) <
			    0 ||
		    (r = state_commit(st, t)) < 0)
			die("put+job", r);
		lat[i] = now_s() - t0;
	}
	report("peer put + job answer (one txn)", lat, SAMPLES);
	/* Update and remove existing peers. */
	for (size_t i = 0; i < SAMPLES; i++) {
		make_peer((uint32_t)i * 7, &p);
		p.persistent_keepalive = 0;
		t0 = now_s();
		if ((r = state_peer_put(st, &p, 0)) < 0)
			die("update", r);
		lat[i] = now_s() - t0;
	}
	report("state_peer_put, existing peer", lat, SAMPLES);
	for (size_t i = 0; i < SAMPLES; i++) {
		make_peer((uint32_t)i * 7 + 3, &p);
		t0 = now_s();
		if ((r = state_peer_remove(st, p.public_key, 1700003600)) < 0)
			die("remove", r);
		lat[i] = now_s() - t0;
	}
	report("state_peer_remove (to quarantine)", lat, SAMPLES);

	/* Counters of every peer in one update (frames of 1 MiB). */
	{
		size_t n = n_peers;
		struct state_counter_sample *s = calloc(n, sizeof(*s));
		off_t before = file_size(dir);

		if (!s)
			die("calloc", -ENOMEM);
		for (size_t i = 0; i < n; i++) {
			make_peer((uint32_t)i, &p);
			memcpy(s[i].public_key, p.public_key, WG_KEY_LEN);
			s[i].rx_bytes = 1000 + i;
			s[i].tx_bytes = 2000 + i;
		}
		t0 = now_s();
		if ((r = state_counters_update(st, s, n, false)) < 0)
			die("counters", r);
		printf("counters of all peers, one update:           %.1f ms, %lld bytes\n",
		       (now_s() - t0) * 1e3, (long long)(file_size(dir) - before));
		free(s);
	}
	state_get_stats(st, &stats);
	printf("journal now %llu bytes (%llu after compaction), compaction due: %s\n",
	       (unsigned long long)stats.journal_bytes, (unsigned long long)stats.base_bytes,
	       state_compact_due(st) ? "yes" : "no");
	state_close(st);

	/* Load: snapshot plus journal, then compacted. */
	heap0 = mallinfo2().uordblks;
	dt = time_open(dir, &st, &info);
	heap1 = mallinfo2().uordblks;
	state_get_stats(st, &stats);
	printf("load snapshot + %llu frames (%zu peers):       %.1f ms, %llu bytes; heap %.1f MiB "
	       "(%.0f B/peer)\n",
	       (unsigned long long)info.frames, stats.peers, dt * 1e3,
	       (unsigned long long)info.file_bytes, (double)(heap1 - heap0) / (1 << 20),
	       (double)(heap1 - heap0) / (double)stats.peers);
	t0 = now_s();
	if ((r = state_compact(st, 1700000000)) < 0)
		die("compact", r);
	printf("compaction:                                  %.1f ms\n", (now_s() - t0) * 1e3);
	state_close(st);
	dt = time_open(dir, &st, &info);
	printf("load compacted (%llu bytes):                 %.1f ms\n",
	       (unsigned long long)info.file_bytes, dt * 1e3);
	state_close(st);

	state_txn_free(t);
	const char *names[] = {"state.journal", "state.journal.tmp", "state.lock"};

	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}
