// SPDX-License-Identifier: MIT
/*
 * The job queue against a real MariaDB: idempotent enqueueing (also from 8 threads at
 * once, and inside a transaction that rolls back), claims by 8 threads at once that take
 * 500 jobs exactly once, leases that run out and are claimed again, stale owners refused,
 * retry backoff up to failure, deferral that does not count, the order of a VPN's jobs
 * (a revoke waits for the provision before it; webhooks wait for nothing), listing, the
 * status counters, and the claim's plan next to 20,000 finished jobs.
 *
 * Tests that claim get a database of their own: a claim takes whatever is due.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "dbtest.h"
#include "db_job.h"
#include "db_node.h"
#include "db_status.h"
#include "db_user.h"
#include "db_vpn.h"

static struct db *db;
static uint64_t counter = 1;
static char *fresh_name; /* of the last fresh() database */

static int group_setup(void **state)
{
	(void)state;
	db = dbtest_open(10);
	dbtest_migrate(db);
	dbtest_pool = db;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	db = db_close(db);
	free(fresh_name);
	return 0;
}

/* A connection to a fresh, migrated database of its own; *ret_db is its pool. */
static struct db_conn *fresh(const char *suffix, unsigned pool_size, struct db **ret_db)
{
	struct db_conn *c = NULL;
	struct db *d;

	free(fresh_name);
	d = dbtest_open_fresh(suffix, pool_size, &fresh_name);
	dbtest_migrate(d);
	assert_int_equal(db_acquire(d, -1, &c, NULL), 0);
	*ret_db = d;
	return c;
}

static void close_fresh(struct db_conn *c, struct db *d)
{
	db_release(c);
	db_close(d);
}

static uint64_t new_vpn(struct db_conn *c, uint64_t user, uint64_t node)
{
	struct db_vpn_new n = {
	    .user_id = user, .node_id = node, .type = VPN_WIREGUARD, .name = "phone"};
	uint64_t id = 0;

	assert_db(c, db_vpn_create(c, 0, &n, &id), 0);
	return id;
}

/* Enqueues and returns the id; the key is made unique unless given. */
static uint64_t enqueue(struct db_conn *c, enum job_kind kind, uint64_t node, uint64_t vpn,
                        const char *key)
{
	char buf[64];
	struct db_job_new n = {.kind = kind, .node_id = node, .vpn_config_id = vpn};
	uint64_t id = 0;
	bool created = false;

	if (!key) {
		snprintf(buf, sizeof(buf), "test-%llu", (unsigned long long)counter++);
		key = buf;
	}
	n.idempotency_key = key;
	assert_db(c, db_job_enqueue(c, &n, &id, &created), 0);
	assert_true(id > 0);
	return id;
}

static struct db_job *get(struct db_conn *c, uint64_t id)
{
	struct db_job *j = NULL;

	assert_db(c, db_job_get(c, id, &j), 0);
	return j;
}

static enum job_state state_of(struct db_conn *c, uint64_t id)
{
	struct db_job *j = get(c, id);
	enum job_state s = j->state;

	db_job_free(j);
	return s;
}

/* Claims up to max and returns how many; *ids (optional) gets their ids. */
static size_t claim(struct db_conn *c, const char *owner, unsigned lease_ms, unsigned max,
                    uint64_t *ids)
{
	struct db_job *v = NULL;
	size_t n = 0;

	assert_db(c, db_job_claim(c, owner, lease_ms, max, &v, &n), 0);
	assert_true(n <= max);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(v[i].state, JOB_RUNNING);
		assert_string_equal(v[i].claimed_by, owner);
		assert_true(v[i].lease_expires_at_us > 0);
		if (ids)
			ids[i] = v[i].id;
	}
	db_jobs_free(v, n);
	return n;
}

static uint64_t claim_one(struct db_conn *c, const char *owner)
{
	uint64_t id = 0;

	assert_int_equal(claim(c, owner, 60000, 1, &id), 1);
	return id;
}

/* Makes a pending job due now (what its backoff would do after waiting). */
static void make_due(struct db_conn *c, uint64_t id)
{
	assert_db(c, SQL(c, "UPDATE jobs SET next_attempt_at = NOW(6) WHERE id = ?", DB_UINT(id)),
	          0);
}

/* ---- enqueue ---- */

static void test_enqueue(void **state)
{
	struct db_conn *c = *state;
	uint64_t node = dbtest_new_node(c, 1000), vpn = new_vpn(c, dbtest_new_user(c), node),
	         id = 0, again = 0;
	uint64_t jobs_before = COUNT(c, "SELECT COUNT(*) FROM jobs");
	bool created = false;
	struct db_job *j;

	struct db_job_new n = {.kind = JOB_PROVISION,
	                       .node_id = node,
	                       .vpn_config_id = vpn,
	                       .payload = "{\"peer\": \"x\", \"emoji\": \"\xf0\x9f\x94\x91\"}",
	                       .idempotency_key = "vpn-1-provision"};
	assert_db(c, db_job_enqueue(c, &n, &id, &created), 0);
	assert_true(created);
	j = get(c, id);
	assert_int_equal(j->kind, JOB_PROVISION);
	assert_int_equal(j->node_id, node);
	assert_int_equal(j->vpn_config_id, vpn);
	assert_string_equal(j->payload, n.payload);
	assert_int_equal(j->state, JOB_PENDING);
	assert_int_equal(j->attempts, 0);
	assert_string_equal(j->idempotency_key, "vpn-1-provision");
	assert_null(j->claimed_by);
	assert_null(j->result);
	assert_null(j->last_error);
	assert_int_equal(j->lease_expires_at_us, 0);
	assert_int_equal(j->finished_at_us, 0);
	assert_true(j->next_attempt_at_us > 0 && j->created_at_us > 0);
	j = db_job_free(j);

	/* The same key again, even with other content: the same job, unchanged. */
	n.kind = JOB_REVOKE;
	n.payload = "{\"other\": 1}";
	assert_db(c, db_job_enqueue(c, &n, &again, &created), 0);
	assert_false(created);
	assert_int_equal(again, id);
	j = get(c, id);
	assert_int_equal(j->kind, JOB_PROVISION);
	assert_string_equal(j->payload, "{\"peer\": \"x\", \"emoji\": \"\xf0\x9f\x94\x91\"}");
	j = db_job_free(j);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs"), jobs_before + 1);

	/* Every kind; a webhook has no node, and may name a VPN. */
	struct db_job_new notify = {
	    .kind = JOB_NOTIFY, .vpn_config_id = vpn, .idempotency_key = "vpn-1-expired-webhook"};
	assert_db(c, db_job_enqueue(c, &notify, &id, &created), 0);
	assert_true(created);
	j = get(c, id);
	assert_int_equal(j->kind, JOB_NOTIFY);
	assert_int_equal(j->node_id, 0);
	assert_string_equal(j->payload, "{}");
	j = db_job_free(j);
	struct db_job_new resync = {
	    .kind = JOB_RESYNC, .node_id = node, .idempotency_key = "node-1-boot-abc"};
	assert_db(c, db_job_enqueue(c, &resync, &id, &created), 0);
	j = get(c, id);
	assert_int_equal(j->kind, JOB_RESYNC);
	assert_int_equal(j->vpn_config_id, 0);
	j = db_job_free(j);
	jobs_before = COUNT(c, "SELECT COUNT(*) FROM jobs");

	/* Refusals: nothing stored. */
	char long_key[193];
	memset(long_key, 'k', 192);
	long_key[192] = '\0';
	struct {
		struct db_job_new n;
		int want;
	} bad[] = {
	    {{.kind = JOB_NOTIFY, .node_id = node, .idempotency_key = "b1"}, -EINVAL},
	    {{.kind = JOB_PROVISION, .vpn_config_id = vpn, .idempotency_key = "b2"}, -EINVAL},
	    {{.kind = _JOB_KIND_MAX, .node_id = node, .idempotency_key = "b3"}, -EINVAL},
	    {{.kind = JOB_REVOKE, .node_id = node, .idempotency_key = ""}, -EINVAL},
	    {{.kind = JOB_REVOKE, .node_id = node, .idempotency_key = NULL}, -EINVAL},
	    {{.kind = JOB_REVOKE, .node_id = node, .idempotency_key = long_key}, -EINVAL},
	    {{.kind = JOB_REVOKE, .node_id = node, .payload = "{x}", .idempotency_key = "b4"},
	     -EINVAL},
	    {{.kind = JOB_REVOKE, .node_id = node, .payload = "[1]", .idempotency_key = "b5"},
	     -EINVAL},
	    {{.kind = JOB_REVOKE, .node_id = 999999, .idempotency_key = "b6"}, -EINVAL},
	    {{.kind = JOB_REVOKE,
	      .node_id = node,
	      .vpn_config_id = 999999,
	      .idempotency_key = "b7"},
	     -EINVAL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		created = true;
		id = 12345;
		assert_db(c, db_job_enqueue(c, &bad[i].n, &id, &created), bad[i].want);
		assert_int_equal(id, 12345); /* untouched on failure */
	}
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs"), jobs_before);
	long_key[191] = '\0'; /* the longest key the schema takes */
	struct db_job_new longest = {
	    .kind = JOB_RESYNC, .node_id = node, .idempotency_key = long_key};
	assert_db(c, db_job_enqueue(c, &longest, &id, &created), 0);
	assert_true(created);

	/* Inside the caller's transaction: gone with its rollback, kept with its commit. */
	struct db_job_new t = {.kind = JOB_RESYNC, .node_id = node, .idempotency_key = "tx-1"};
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_job_enqueue_in_tx(c, &t, &id, &created), 0);
	assert_true(created);
	assert_db(c, db_tx_rollback(c), 0);
	assert_db(c, db_job_get(c, id, &j), -ENOENT);
	assert_db(c, db_tx_begin(c), 0);
	assert_db(c, db_job_enqueue_in_tx(c, &t, &id, &created), 0);
	assert_db(c, db_job_enqueue_in_tx(c, &t, &again, &created), 0);
	assert_false(created);
	assert_int_equal(again, id);
	assert_db(c, db_tx_commit(c), 0);
	assert_int_equal(state_of(c, id), JOB_PENDING);
}

/* ---- threads ---- */

#define THREADS 8

struct worker {
	struct db *db;
	pthread_barrier_t *start;
	int (*fn)(struct db_conn *c, struct worker *w);
	char owner[32];
	uint64_t arg;
	uint64_t ids[600];
	size_t n;
	bool flag;
	int r;
};

static void *worker_thread(void *arg)
{
	struct worker *w = arg;
	struct db_conn *c = NULL;

	w->r = db_acquire(w->db, 10000, &c, NULL);
	pthread_barrier_wait(w->start);
	if (w->r == 0) {
		w->r = w->fn(c, w);
		if (w->r < 0)
			print_error("%s: %d (%u %s)\n", w->owner, w->r,
			            db_conn_error(c)->server_code, db_conn_error(c)->message);
		db_release(c);
	}
	return NULL;
}

static void run_workers(struct db *d, int (*fn)(struct db_conn *c, struct worker *w), uint64_t arg,
                        struct worker w[THREADS])
{
	pthread_barrier_t start;
	pthread_t t[THREADS];

	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.db = d, .start = &start, .fn = fn, .arg = arg};
		snprintf(w[i].owner, sizeof(w[i].owner), "test:worker-%d", i);
		assert_int_equal(pthread_create(&t[i], NULL, worker_thread, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].r, 0);
	}
	pthread_barrier_destroy(&start);
}

static int enqueue_fn(struct db_conn *c, struct worker *w)
{
	struct db_job_new n = {
	    .kind = JOB_RESYNC, .node_id = w->arg, .idempotency_key = "race-same-key"};

	w->n = 1;
	return db_job_enqueue(c, &n, &w->ids[0], &w->flag);
}

static void test_enqueue_race(void **state)
{
	struct db_conn *c = *state;
	uint64_t node = dbtest_new_node(c, 1000);
	struct worker w[THREADS];
	int created = 0;

	run_workers(db, enqueue_fn, node, w);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(w[i].ids[0], w[0].ids[0]);
		created += w[i].flag;
	}
	assert_int_equal(created, 1);
	assert_int_equal(
	    COUNT(c, "SELECT COUNT(*) FROM jobs WHERE idempotency_key = 'race-same-key'"), 1);
}

/* Claims batches of up to 7 until a claim finds nothing. */
static int claim_fn(struct db_conn *c, struct worker *w)
{
	for (;;) {
		struct db_job *v = NULL;
		size_t n = 0;
		int r;

		r = db_job_claim(c, w->owner, 60000, 7, &v, &n);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			if (w->n == ARRAY_SIZE(w->ids) || v[i].attempts != 1 ||
			    strcmp(v[i].claimed_by, w->owner)) {
				db_jobs_free(v, n);
				return -EPROTO;
			}
			w->ids[w->n++] = v[i].id;
		}
		db_jobs_free(v, n);
		if (n == 0)
			return 0;
	}
}

static void test_claim_concurrent(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("claim", THREADS + 1, &d);
	uint64_t node = dbtest_new_node(c, 1000), first = 0, last = 0;
	struct worker w[THREADS];
	static uint8_t seen[600];
	size_t total = 0;

	for (int i = 0; i < 500; i++) {
		last = enqueue(c, JOB_RESYNC, node, 0, NULL);
		if (i == 0)
			first = last;
	}
	assert_int_equal(last - first, 499); /* ids are dense: seen[] below can index them */
	run_workers(d, claim_fn, 0, w);
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < THREADS; i++) {
		total += w[i].n;
		for (size_t k = 0; k < w[i].n; k++) {
			uint64_t id = w[i].ids[k];

			assert_true(id >= first && id <= last);
			assert_int_equal(seen[id - first], 0); /* nobody else took it */
			seen[id - first] = 1;
		}
	}
	assert_int_equal(total, 500);
	/* each job once, by the owner that got it, attempts 1 */
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs WHERE state = 'running' "
	                          "AND attempts = 1 AND claimed_by LIKE 'test:worker-%'"),
	                 500);
	for (int i = 0; i < THREADS; i++)
		if (w[i].n)
			assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs WHERE claimed_by = ?",
			                       DB_TEXT(w[i].owner)),
			                 w[i].n);
	assert_int_equal(claim(c, "late", 60000, 10, NULL), 0);
	dbtest_assert_counters_match(c);
	close_fresh(c, d);
}

/*
 * 8 workers at once through every end of a run: done, retry (then done), defer (then
 * done), fail, on 400 jobs, 100 of them in pairs of one VPN. Nothing is lost or done
 * twice, no pair runs out of order, and the counters follow.
 */
/* Which jobs a worker deferred already (by id; the fresh database's ids are small):
 * shared, so that whichever worker claims the job again runs it for real. */
static atomic_uchar deferred_once[1 << 16];

static int busy_fn(struct db_conn *c, struct worker *w)
{
	unsigned idle = 0;

	while (idle < 20) {
		struct db_job *v = NULL;
		size_t n = 0;
		int r;

		r = db_job_claim(c, w->owner, 60000, 3, &v, &n);
		if (r == -EAGAIN) {
			w->arg++; /* deadlock reruns used up: count, and claim again */
			continue;
		}
		if (r < 0)
			return r;
		idle = n ? 0 : idle + 1;
		if (n == 0)
			usleep(2000); /* the jobs another worker deferred are due again soon */
		for (size_t i = 0; i < n && r == 0; i++) {
			struct db_job *j = &v[i];
			bool blocked = false, failed;

			r = db_job_blocked(c, j, &blocked);
			if (r < 0)
				break;
			if (blocked) {
				r = -EPROTO; /* a claim took a job whose earlier job is unfinished
				              */
				break;
			}
			do {
				if (j->id % 7 == 0)
					r = db_job_fail(c, j->id, w->owner, "permanent");
				else if (j->id % 3 == 0 && j->attempts == 1)
					r = db_job_retry(c, j->id, w->owner, 0, "transient", 5,
					                 &failed);
				else if (j->id % 5 == 0 &&
				         !atomic_exchange(
				             &deferred_once[j->id % ARRAY_SIZE(deferred_once)], 1))
					r = db_job_defer(c, j->id, w->owner, 0);
				else
					r = db_job_done(c, j->id, w->owner, "{}");
				if (r == -EAGAIN)
					w->arg++;
			} while (r == -EAGAIN);
			if (r == 0 && w->n < ARRAY_SIZE(w->ids))
				w->ids[w->n++] = j->id;
		}
		db_jobs_free(v, n);
		if (r < 0)
			return r;
	}
	return 0;
}

static void test_workers(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("workers", THREADS + 1, &d);
	uint64_t node = dbtest_new_node(c, 1000), user = dbtest_new_user(c), reruns = 0;
	struct worker w[THREADS];

	for (int i = 0; i < 50; i++) {
		uint64_t vpn = new_vpn(c, user, node);

		enqueue(c, JOB_PROVISION, node, vpn, NULL);
		enqueue(c, JOB_REVOKE, node, vpn, NULL);
	}
	for (int i = 0; i < 300; i++)
		enqueue(c, i % 10 ? JOB_RESYNC : JOB_NOTIFY, i % 10 ? node : 0, 0, NULL);
	run_workers(d, busy_fn, 0, w);
	for (int i = 0; i < THREADS; i++)
		reruns += w[i].arg;
	print_message("8 workers, 400 jobs: %llu deadlock reruns were used up\n",
	              (unsigned long long)reruns);
	assert_int_equal(
	    COUNT(c, "SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'running')"), 0);
	/* the ones that failed are exactly the permanent failures */
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs WHERE state = 'failed'"),
	                 COUNT(c, "SELECT COUNT(*) FROM jobs WHERE id % 7 = 0"));
	/* a retried job ran twice, a deferred one once for real */
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs WHERE id % 7 <> 0 AND id % 3 = 0 "
	                          "AND attempts <> 2"),
	                 0);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs WHERE id % 7 <> 0 AND id % 3 <> 0 "
	                          "AND attempts <> 1"),
	                 0);
	/* every revoke finished after its provision */
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs p JOIN jobs r "
	                          "ON r.vpn_config_id = p.vpn_config_id AND r.id > p.id "
	                          "WHERE r.updated_at < p.finished_at"),
	                 0);
	dbtest_assert_counters_match(c);
	close_fresh(c, d);
}

/* A claim skips the rows another transaction holds: it neither waits nor takes them. */
static void test_claim_skips_locked(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("skip", 3, &d), *other = NULL;
	uint64_t node = dbtest_new_node(c, 1000), first, second, id = 0;

	struct db_url *url = dbtest_url();
	struct db *d2 = NULL;

	/* a second pool on the same database: one connection per thread and pool */
	free(url->database);
	assert_non_null(url->database = strdup(fresh_name));
	assert_int_equal(db_open(url, NULL, &d2, NULL), 0);
	db_url_free(url);
	first = enqueue(c, JOB_RESYNC, node, 0, NULL);
	second = enqueue(c, JOB_RESYNC, node, 0, NULL);
	assert_int_equal(db_acquire(d2, -1, &other, NULL), 0);
	assert_db(other, db_tx_begin(other), 0);
	assert_db(other, SQL(other, "SELECT id FROM jobs WHERE id = ? FOR UPDATE", DB_UINT(first)),
	          0);
	/* waiting would fail here, after a second, with -EBUSY */
	assert_db(c, SQL(c, "SET SESSION innodb_lock_wait_timeout = 1"), 0);
	assert_int_equal(claim(c, "w", 60000, 10, &id), 1);
	assert_int_equal(id, second);
	assert_db(other, db_tx_rollback(other), 0);
	assert_int_equal(claim(c, "w", 60000, 10, &id), 1);
	assert_int_equal(id, first);
	db_release(other);
	db_close(d2);
	close_fresh(c, d);
}

/* ---- leases and owners ---- */

static void test_lease_and_owner(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("lease", 2, &d);
	uint64_t node = dbtest_new_node(c, 1000), id, other;
	struct db_job *j;

	id = enqueue(c, JOB_RESYNC, node, 0, NULL);
	/* Bad arguments change nothing. */
	struct db_job *v = NULL;
	size_t n = 0;
	assert_db(c, db_job_claim(c, "", 1000, 1, &v, &n), -EINVAL);
	assert_db(c, db_job_claim(c, NULL, 1000, 1, &v, &n), -EINVAL);
	assert_db(c,
	          db_job_claim(c,
	                       "01234567890123456789012345678901234567890123456789012345678901234",
	                       1000, 1, &v, &n),
	          -EINVAL); /* 65 bytes */
	assert_db(c, db_job_claim(c, "a", 0, 1, &v, &n), -EINVAL);
	assert_db(c, db_job_claim(c, "a", 1000, 0, &v, &n), -EINVAL);
	assert_db(c, db_job_claim(c, "a", 1000, 1001, &v, &n), -EINVAL);
	assert_int_equal(state_of(c, id), JOB_PENDING);

	/* A short lease runs out; the job is claimed again by someone else. */
	assert_int_equal(claim(c, "owner-a", 1, 5, NULL), 1);
	usleep(20000);
	other = claim_one(c, "owner-b");
	assert_int_equal(other, id);
	j = get(c, id);
	assert_int_equal(j->attempts, 2);
	assert_string_equal(j->claimed_by, "owner-b");
	j = db_job_free(j);

	/* A lease that has not run out is not taken. */
	assert_int_equal(claim(c, "owner-c", 60000, 5, NULL), 0);

	/* The first owner's outcome is refused, whatever it is; the job stays as it is. */
	bool failed = true;
	assert_db(c, db_job_done(c, id, "owner-a", "{}"), -ESTALE);
	assert_db(c, db_job_retry(c, id, "owner-a", 0, "x", 5, &failed), -ESTALE);
	assert_true(failed); /* untouched on failure */
	assert_db(c, db_job_defer(c, id, "owner-a", 0), -ESTALE);
	assert_db(c, db_job_fail(c, id, "owner-a", "x"), -ESTALE);
	j = get(c, id);
	assert_int_equal(j->state, JOB_RUNNING);
	assert_int_equal(j->attempts, 2);
	assert_string_equal(j->claimed_by, "owner-b");
	j = db_job_free(j);
	assert_db(c, db_job_done(c, 999999, "owner-b", NULL), -ENOENT);

	/* A result must be JSON; the job stays running. */
	assert_db(c, db_job_done(c, id, "owner-b", "{not json"), -EINVAL);
	assert_int_equal(state_of(c, id), JOB_RUNNING);
	assert_db(c, db_job_done(c, id, "owner-b", "{\"addresses\": [\"10.8.0.2/32\"]}"), 0);
	j = get(c, id);
	assert_int_equal(j->state, JOB_DONE);
	assert_string_equal(j->result, "{\"addresses\": [\"10.8.0.2/32\"]}");
	assert_int_equal(j->lease_expires_at_us, 0);
	assert_true(j->finished_at_us > 0);
	j = db_job_free(j);
	/* Done is final: the owner cannot finish it twice. */
	assert_db(c, db_job_done(c, id, "owner-b", NULL), -ESTALE);
	assert_db(c, db_job_fail(c, id, "owner-b", NULL), -ESTALE);
	assert_int_equal(claim(c, "owner-c", 60000, 5, NULL), 0);
	dbtest_assert_counters_match(c);
	close_fresh(c, d);
}

/* ---- retry, defer, fail ---- */

static void test_retry_defer_fail(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("retry", 2, &d);
	uint64_t node = dbtest_new_node(c, 1000), id, rows;
	bool failed = true;
	struct db_job *j;
	char long_error[5001];

	id = enqueue(c, JOB_RESYNC, node, 0, NULL);
	assert_int_equal(claim_one(c, "w"), id);
	assert_db(c, db_job_retry(c, id, "w", 5000, "agent: connection refused", 3, &failed), 0);
	assert_false(failed);
	j = get(c, id);
	assert_int_equal(j->state, JOB_PENDING);
	assert_int_equal(j->attempts, 1);
	assert_int_equal(j->lease_expires_at_us, 0);
	assert_string_equal(j->last_error, "agent: connection refused");
	j = db_job_free(j);
	/* due again 5 s from now, by the database's clock */
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM jobs WHERE id = ? AND next_attempt_at "
	                       "BETWEEN NOW(6) + INTERVAL 4 SECOND AND NOW(6) + INTERVAL 5 SECOND",
	                       DB_UINT(id)),
	                 1);
	assert_int_equal(claim(c, "w", 60000, 5, NULL), 0); /* not due yet */

	make_due(c, id);
	assert_int_equal(claim_one(c, "w"), id);
	memset(long_error, 'e', sizeof(long_error) - 1);
	long_error[sizeof(long_error) - 1] = '\0';
	assert_db(c, db_job_retry(c, id, "w", 0, long_error, 3, &failed), 0);
	assert_false(failed);
	rows = COUNT(c, "SELECT CHAR_LENGTH(last_error) FROM jobs WHERE id = ?", DB_UINT(id));
	assert_int_equal(rows, 4096); /* cut, not refused */

	/* The third attempt fails for good. */
	assert_int_equal(claim_one(c, "w"), id);
	assert_db(c, db_job_retry(c, id, "w", 0, "still refused", 3, &failed), 0);
	assert_true(failed);
	j = get(c, id);
	assert_int_equal(j->state, JOB_FAILED);
	assert_int_equal(j->attempts, 3);
	assert_string_equal(j->last_error, "still refused");
	assert_true(j->finished_at_us > 0);
	assert_int_equal(j->lease_expires_at_us, 0);
	j = db_job_free(j);
	assert_int_equal(claim(c, "w", 60000, 5, NULL), 0);
	assert_db(c, db_job_retry(c, id, "w", 0, NULL, 3, &failed), -ESTALE);
	assert_db(c, db_job_retry(c, id, "w", 0, NULL, 0, &failed), -EINVAL);
	assert_db(c, db_job_retry(c, id, "w", 2000000000000ULL, NULL, 3, &failed), -EINVAL);

	/* Deferral gives the attempt back. */
	id = enqueue(c, JOB_RESYNC, node, 0, NULL);
	assert_int_equal(claim_one(c, "w"), id);
	assert_db(c, db_job_defer(c, id, "w", 0), 0);
	j = get(c, id);
	assert_int_equal(j->state, JOB_PENDING);
	assert_int_equal(j->attempts, 0);
	assert_int_equal(j->lease_expires_at_us, 0);
	j = db_job_free(j);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(claim_one(c, "w"), id);
		assert_db(c, db_job_defer(c, id, "w", 0), 0);
	}
	assert_int_equal(state_of(c, id), JOB_PENDING);
	assert_int_equal(COUNT(c, "SELECT attempts FROM jobs WHERE id = ?", DB_UINT(id)), 0);
	assert_int_equal(claim_one(c, "w"), id);
	assert_db(c, db_job_retry(c, id, "w", 0, "x", 2, &failed), 0);
	assert_false(failed); /* one real attempt, five deferrals: not out of attempts */
	assert_int_equal(claim_one(c, "w"), id);
	assert_db(c, db_job_defer(c, id, "w", 60000), 0);
	assert_int_equal(claim(c, "w", 60000, 5, NULL), 0); /* deferred a minute */
	make_due(c, id);

	/* Failing at once. */
	assert_int_equal(claim_one(c, "w"), id);
	assert_db(c, db_job_fail(c, id, "w", "agent: 400 invalid_value"), 0);
	j = get(c, id);
	assert_int_equal(j->state, JOB_FAILED);
	assert_int_equal(j->attempts, 2);
	assert_string_equal(j->last_error, "agent: 400 invalid_value");
	j = db_job_free(j);
	assert_int_equal(claim(c, "w", 60000, 5, NULL), 0);
	dbtest_assert_counters_match(c);
	close_fresh(c, d);
}

/* ---- the order of a VPN's jobs ---- */

static void test_vpn_order(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("order", 2, &d);
	uint64_t node = dbtest_new_node(c, 1000), user = dbtest_new_user(c);
	uint64_t v1 = new_vpn(c, user, node), v2 = new_vpn(c, user, node);
	uint64_t ids[10], p1, n1, r1, p2, r2, other;
	bool blocked = true, failed = false;
	struct db_job *j;

	p1 = enqueue(c, JOB_PROVISION, node, v1, NULL);
	n1 = enqueue(c, JOB_NOTIFY, 0, v1, NULL);
	r1 = enqueue(c, JOB_REVOKE, node, v1, NULL);
	p2 = enqueue(c, JOB_PROVISION, node, v2, NULL);
	r2 = enqueue(c, JOB_REVOKE, node, v2, NULL);
	other = enqueue(c, JOB_RESYNC, node, 0, NULL);

	/* The provisions, the webhook (it waits for nobody) and the resync; no revoke. */
	assert_int_equal(claim(c, "w", 60000, 10, ids), 4);
	assert_int_equal(ids[0], p1);
	assert_int_equal(ids[1], n1);
	assert_int_equal(ids[2], p2);
	assert_int_equal(ids[3], other);
	assert_int_equal(claim(c, "w", 60000, 10, NULL), 0);

	/* A provision that failed an attempt is pending again: the revoke still waits, also
	 * while the provision is not due. */
	assert_db(c, db_job_retry(c, p1, "w", 60000, "refused", 10, &failed), 0);
	assert_int_equal(claim(c, "w", 60000, 10, NULL), 0);
	make_due(c, p1);
	assert_int_equal(claim(c, "w", 60000, 10, ids), 1);
	assert_int_equal(ids[0], p1);

	/* Done: now the revoke. The webhook, still running, holds up nobody. */
	assert_db(c, db_job_done(c, p1, "w", NULL), 0);
	assert_int_equal(claim(c, "w", 60000, 10, ids), 1);
	assert_int_equal(ids[0], r1);

	/* Failed for good counts as finished too. */
	assert_db(c, db_job_fail(c, p2, "w", "gone"), 0);
	assert_int_equal(claim(c, "w", 60000, 10, ids), 1);
	assert_int_equal(ids[0], r2);

	/*
	 * The race the worker checks for: two claims at the same moment each took a job of
	 * one VPN. Seen after both committed, the later one is blocked.
	 */
	uint64_t v3 = new_vpn(c, user, node);
	uint64_t p3 = enqueue(c, JOB_PROVISION, node, v3, NULL);
	uint64_t r3 = enqueue(c, JOB_REVOKE, node, v3, NULL);
	uint64_t n3 = enqueue(c, JOB_NOTIFY, 0, v3, NULL);
	assert_db(c,
	          SQL(c,
	              "UPDATE jobs SET state = 'running', attempts = 1, claimed_by = 'x', "
	              "lease_expires_at = NOW(6) + INTERVAL 1 MINUTE WHERE id IN (?, ?, ?)",
	              DB_UINT(p3), DB_UINT(r3), DB_UINT(n3)),
	          0);
	j = get(c, r3);
	assert_db(c, db_job_blocked(c, j, &blocked), 0);
	assert_true(blocked);
	j = db_job_free(j);
	j = get(c, p3);
	assert_db(c, db_job_blocked(c, j, &blocked), 0);
	assert_false(blocked); /* the first of its VPN */
	j = db_job_free(j);
	j = get(c, n3);
	assert_db(c, db_job_blocked(c, j, &blocked), 0);
	assert_false(blocked); /* webhooks wait for nobody */
	j = db_job_free(j);
	assert_db(c, db_job_done(c, p3, "x", NULL), 0);
	j = get(c, r3);
	assert_db(c, db_job_blocked(c, j, &blocked), 0);
	assert_false(blocked);
	j = db_job_free(j);
	assert_db(c, db_job_defer(c, r3, "x", 0), 0);
	assert_db(c, db_job_done(c, n3, "x", NULL), 0);

	/* The VPN's newest agent job (webhooks aside), for the API. */
	assert_db(c, db_job_latest_for_vpn(c, v3, &j), 0);
	assert_int_equal(j->id, r3);
	assert_int_equal(j->state, JOB_PENDING);
	j = db_job_free(j);
	assert_db(c, db_job_latest_for_vpn(c, v1, &j), 0);
	assert_int_equal(j->id, r1);
	j = db_job_free(j);
	assert_db(c, db_job_latest_for_vpn(c, new_vpn(c, user, node), &j), -ENOENT);
	dbtest_assert_counters_match(c);
	close_fresh(c, d);
}

/* ---- listing and counters ---- */

static void test_list_and_counters(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("list", 2, &d);
	uint64_t node = dbtest_new_node(c, 1000), ids[6];
	struct db_status *st = NULL;
	struct db_job *v = NULL;
	bool failed;
	size_t n = 0;

	for (int i = 0; i < 6; i++)
		ids[i] = enqueue(c, JOB_RESYNC, node, 0, NULL);
	/* 0, 1 done; 2 failed; 3 running; 4, 5 pending */
	for (int i = 0; i < 4; i++)
		assert_int_equal(claim_one(c, "w"), ids[i]);
	assert_db(c, db_job_done(c, ids[0], "w", NULL), 0);
	assert_db(c, db_job_done(c, ids[1], "w", NULL), 0);
	assert_db(c, db_job_retry(c, ids[2], "w", 0, "no", 1, &failed), 0);
	assert_true(failed);

	assert_db(c, db_status_get(c, &st), 0);
	assert_int_equal(st->jobs_by_state[JOB_PENDING], 2);
	assert_int_equal(st->jobs_by_state[JOB_RUNNING], 1);
	assert_int_equal(st->jobs_by_state[JOB_DONE], 2);
	assert_int_equal(st->jobs_by_state[JOB_FAILED], 1);
	st = db_status_free(st);
	dbtest_assert_counters_match(c);

	assert_db(c, db_job_list(c, -1, 100, &v, &n), 0);
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(v[i].id, ids[5 - i]); /* newest first */
	v = db_jobs_free(v, n);
	assert_db(c, db_job_list(c, JOB_DONE, 100, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].id, ids[1]);
	assert_int_equal(v[1].id, ids[0]);
	v = db_jobs_free(v, n);
	assert_db(c, db_job_list(c, JOB_PENDING, 1, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, ids[5]);
	v = db_jobs_free(v, n);
	assert_db(c, db_job_list(c, JOB_FAILED, 100, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].last_error, "no");
	v = db_jobs_free(v, n);
	assert_db(c, db_job_list(c, _JOB_STATE_MAX, 100, &v, &n), -EINVAL);
	assert_db(c, db_job_list(c, -1, 0, &v, &n), -EINVAL);
	assert_db(c, db_job_list(c, -1, 1001, &v, &n), -EINVAL);
	close_fresh(c, d);
}

/* Purging: only done jobs that finished long enough ago go, oldest first, at most the
 * limit; failed, running and pending ones stay; the counters follow the deletes. Then a
 * failed job is requeued, and only a failed one. */
static void test_purge(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("purge", 2, &d);
	uint64_t node = dbtest_new_node(c, 1000), ids[7], deleted = 99;
	bool failed;

	for (int i = 0; i < 7; i++)
		ids[i] = enqueue(c, JOB_RESYNC, node, 0, NULL);
	/* 0..3 done (0, 1, 2 long ago; 3 just now); 4 failed long ago; 5 running; 6 pending */
	for (int i = 0; i < 6; i++)
		assert_int_equal(claim_one(c, "w"), ids[i]);
	for (int i = 0; i < 4; i++)
		assert_db(c, db_job_done(c, ids[i], "w", NULL), 0);
	assert_db(c, db_job_retry(c, ids[4], "w", 0, "no", 1, &failed), 0);
	assert_true(failed);
	assert_db(c,
	          SQL(c,
	              "UPDATE jobs SET finished_at = NOW(6) - INTERVAL 40 DAY "
	              "WHERE id IN (?, ?, ?, ?)",
	              DB_UINT(ids[0]), DB_UINT(ids[1]), DB_UINT(ids[2]), DB_UINT(ids[4])),
	          0);

	assert_db(c, db_job_purge(c, 0, 10, &deleted), -EINVAL);
	assert_db(c, db_job_purge(c, 86400, 0, &deleted), -EINVAL);
	assert_int_equal(deleted, 99); /* untouched on error */
	/* a limit of 2: the two oldest */
	assert_db(c, db_job_purge(c, 30 * 86400, 2, &deleted), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs WHERE id IN (?, ?)", DB_UINT(ids[0]),
	                       DB_UINT(ids[1])),
	                 0);
	assert_db(c, db_job_purge(c, 30 * 86400, 100, &deleted), 0);
	assert_int_equal(deleted, 1);
	assert_db(c, db_job_purge(c, 30 * 86400, 100, &deleted), 0);
	assert_int_equal(deleted, 0);
	/* what is left: the recent done one, the failed, running and pending ones */
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs"), 4);
	assert_int_equal(COUNT(c, "SELECT COUNT(*) FROM jobs WHERE id IN (?, ?, ?, ?)",
	                       DB_UINT(ids[3]), DB_UINT(ids[4]), DB_UINT(ids[5]), DB_UINT(ids[6])),
	                 4);
	dbtest_assert_counters_match(c);
	/* the failed one gets a second chance: pending, due now, a fresh attempt budget */
	assert_db(c, db_job_requeue(c, ids[4]), 0);
	assert_int_equal(COUNT(c,
	                       "SELECT COUNT(*) FROM jobs WHERE id = ? AND state = 'pending' "
	                       "AND attempts = 0 AND finished_at IS NULL "
	                       "AND next_attempt_at <= NOW(6) AND last_error = 'no'",
	                       DB_UINT(ids[4])),
	                 1);
	assert_db(c, db_job_requeue(c, ids[4]), -EPERM); /* pending now */
	assert_db(c, db_job_requeue(c, ids[3]), -EPERM); /* done */
	assert_db(c, db_job_requeue(c, ids[6] + 1000), -ENOENT);
	/* claimable again, after the pending job that was due before it */
	assert_int_equal(claim_one(c, "w2"), ids[6]);
	assert_int_equal(claim_one(c, "w2"), ids[4]);
	dbtest_assert_counters_match(c);
	close_fresh(c, d);
}

/* ---- the claim's plan ---- */

struct plan {
	char rows[8][3][64]; /* table, type, key */
	size_t n;
};

static void copy_col(const struct db_row *row, unsigned col, char *buf, size_t len)
{
	const char *p;
	size_t n;

	if (db_row_bytes(row, col, &p, &n) < 0)
		n = 0, p = "";
	snprintf(buf, len, "%.*s", (int)n, p);
}

static int plan_row(const struct db_row *row, void *userdata)
{
	struct plan *pl = userdata;

	if (pl->n == ARRAY_SIZE(pl->rows))
		return -E2BIG;
	copy_col(row, 2, pl->rows[pl->n][0], 64);
	copy_col(row, 3, pl->rows[pl->n][1], 64);
	copy_col(row, 5, pl->rows[pl->n][2], 64);
	pl->n++;
	return 0;
}

/* EXPLAIN of statement id: every table through an index, `table` through `key` (or
 * `alt`, if not NULL). */
static void check_plan(struct db_conn *c, enum db_stmt_id id, const struct db_param *p, size_t n,
                       const char *table, const char *key, const char *alt)
{
	char sql[4096];
	struct plan pl = {0};
	bool found = false;

	snprintf(sql, sizeof(sql), "EXPLAIN %s", db_stmts[id].sql);
	assert_db(c, db_query_sql(c, sql, strlen(sql), p, n, plan_row, &pl, NULL), 0);
	for (size_t i = 0; i < pl.n; i++) {
		const char *type = pl.rows[i][1], *k = pl.rows[i][2];

		if (!strcmp(type, "ALL") || !strcmp(type, "index") || !k[0]) {
			print_error("%s: full scan of %s (type %s)\n", db_stmts[id].name,
			            pl.rows[i][0], type);
			fail();
		}
		found |=
		    !strcmp(pl.rows[i][0], table) && (!strcmp(k, key) || (alt && !strcmp(k, alt)));
	}
	if (!found) {
		print_error("%s: %s is not read through %s; plan:\n", db_stmts[id].name, table,
		            key);
		for (size_t i = 0; i < pl.n; i++)
			print_error("  %s %s %s\n", pl.rows[i][0], pl.rows[i][1], pl.rows[i][2]);
		fail();
	}
}

static void test_claim_plan(void **state)
{
	(void)state;
	struct db *d;
	struct db_conn *c = fresh("plan", 2, &d);
	uint64_t node = dbtest_new_node(c, 1000), user = dbtest_new_user(c),
	         vpn = new_vpn(c, user, node);
	int64_t t0;

	/* 20,000 finished jobs, a few live ones */
	assert_db(c,
	          SQL(c,
	              "INSERT INTO jobs (kind, node_id, state, attempts, finished_at, "
	              "idempotency_key) SELECT 'resync', ?, IF(seq % 1000 = 0, 'failed', 'done'), "
	              "1, NOW(6), CONCAT('old-', seq) FROM seq_1_to_20000",
	              DB_UINT(node)),
	          0);
	for (int i = 0; i < 5; i++)
		enqueue(c, JOB_REVOKE, node, vpn, NULL);
	assert_db(c, SQL(c, "ANALYZE TABLE jobs"), 0);

	struct db_param limit[] = {DB_UINT(10)};
	struct db_param state_limit[] = {DB_TEXT("failed"), DB_UINT(10)};
	struct db_param one[] = {DB_UINT(vpn)};
	check_plan(c, DB_STMT_JOB_CLAIM_DUE, limit, ARRAY_SIZE(limit), "j", "jobs_due", NULL);
	/* the earlier jobs of a VPN: its few jobs, or the few unfinished ones */
	check_plan(c, DB_STMT_JOB_CLAIM_DUE, limit, ARRAY_SIZE(limit), "e", "jobs_vpn_config",
	           "jobs_due");
	check_plan(c, DB_STMT_JOB_CLAIM_EXPIRED, limit, ARRAY_SIZE(limit), "j", "jobs_lease", NULL);
	check_plan(c, DB_STMT_JOB_LIST_BY_STATE, state_limit, ARRAY_SIZE(state_limit), "jobs",
	           "jobs_state_id", NULL);
	check_plan(c, DB_STMT_JOB_LATEST_FOR_VPN, one, ARRAY_SIZE(one), "jobs", "jobs_vpn_config",
	           NULL);

	/* and it is quick: the first live job of the VPN, then the others wait for it */
	t0 = db_now_us();
	assert_int_equal(claim(c, "w", 60000, 10, NULL), 1);
	assert_int_equal(claim(c, "w", 60000, 10, NULL), 0);
	print_message("claim next to 20,000 finished jobs: %.1f ms for two claims\n",
	              (double)(db_now_us() - t0) / 1000);
	close_fresh(c, d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enqueue, dbtest_conn_setup, dbtest_conn_teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_race, dbtest_conn_setup,
	                                    dbtest_conn_teardown),
	    cmocka_unit_test(test_claim_concurrent),
	    cmocka_unit_test(test_claim_skips_locked),
	    cmocka_unit_test(test_workers),
	    cmocka_unit_test(test_lease_and_owner),
	    cmocka_unit_test(test_retry_defer_fail),
	    cmocka_unit_test(test_vpn_order),
	    cmocka_unit_test(test_list_and_counters),
	    cmocka_unit_test(test_purge),
	    cmocka_unit_test(test_claim_plan),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
