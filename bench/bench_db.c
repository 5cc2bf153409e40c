// SPDX-License-Identifier: MIT
/*
 * Benchmarks of the controller's data layer, on the (migrated, otherwise empty) database
 * of DATABASE_URL. Run by bench/run-db.sh, which starts a private durable MariaDB, gives
 * each part a fresh database and prints docs/benchmarks.md's tables; never a CTest test.
 *
 *   bench_db status ROWS ROUNDS
 *       ROWS users, VPN configs and payments (INSERT ... SELECT from the sequence
 *       engine), then ROUNDS alternating rounds of: the old system's way (one COUNT(*) or
 *       SUM per figure, 13 queries), db_status_get() (trigger-kept counters), and
 *       db_status_recount() (GROUP BY over the tables' indexes). Checks that all three
 *       agree on every figure the old way has. Prints markdown table rows.
 *   bench_db complete THREADS PER_THREAD
 *       THREADS * PER_THREAD pending payments (untimed), then THREADS threads, one pooled
 *       connection each, complete them with db_payment_complete(); prints
 *       "complete|payments|seconds|per second".
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wgfleet/macro.h"
#include "db.h"
#include "db_payment.h"
#include "db_status.h"

#define MAX_ROUNDS 50
#define MAX_THREADS 64

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die_db(struct db_conn *c, const char *what, int r)
{
	fprintf(stderr, "bench_db: %s: %s (%d)\n", what, c ? db_conn_error(c)->message : "", r);
	exit(1);
}

static struct db *open_db(unsigned pool)
{
	const char *text = getenv("DATABASE_URL");
	struct db_url_error uerr = {0};
	struct db_options opts = {.pool_size = pool};
	struct db_error err = {0};
	struct db_url *url = NULL;
	struct db *db = NULL;

	if (!text || db_url_parse(text, &url, &uerr) < 0) {
		fprintf(stderr, "bench_db: DATABASE_URL: %s\n", text ? uerr.message : "not set");
		exit(2);
	}
	if (db_open(url, &opts, &db, &err) < 0) {
		fprintf(stderr, "bench_db: %s\n", err.message);
		exit(1);
	}
	db_url_free(url);
	return db;
}

static void exec(struct db_conn *c, const char *sql, const struct db_param *p, size_t n)
{
	int r = db_exec_sql(c, sql, strlen(sql), p, n, NULL, NULL);

	if (r < 0)
		die_db(c, sql, r);
}

static int uint_row(const struct db_row *row, void *userdata)
{
	uint64_t *v = userdata;

	if (db_row_is_null(row, 0)) {
		*v = 0;
		return 1;
	}
	return db_row_uint(row, 0, v) < 0 ? -ERANGE : 1;
}

static uint64_t query_uint(struct db_conn *c, const char *sql)
{
	uint64_t v = 0;
	int r = db_query_sql(c, sql, strlen(sql), NULL, 0, uint_row, &v, NULL);

	if (r < 0)
		die_db(c, sql, r);
	return v;
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

/* ---- status ---- */

/* The old system's status: one query per figure (shared/notes/domain.md). */
static const char *const old_queries[] = {
    "SELECT COUNT(*) FROM users",
    "SELECT COUNT(*) FROM users WHERE status = 'active'",
    "SELECT COUNT(DISTINCT ur.user_id) FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
    "WHERE r.name IN ('admin', 'superadmin') AND (ur.expires_at IS NULL OR "
    "ur.expires_at > NOW(6))",
    "SELECT COUNT(*) FROM vpn_configs",
    "SELECT COUNT(*) FROM vpn_configs WHERE status = 'active'",
    "SELECT COUNT(*) FROM vpn_configs WHERE is_trial = 1",
    "SELECT COUNT(*) FROM vpn_configs WHERE is_trial = 0",
    "SELECT COUNT(*) FROM vpn_configs WHERE type = 'wireguard'",
    "SELECT COUNT(*) FROM vpn_configs WHERE type = 'outline'",
    "SELECT SUM(bandwidth_bytes) FROM vpn_configs",
    "SELECT COUNT(*) FROM payments",
    "SELECT COUNT(*) FROM payments WHERE status = 'pending'",
    "SELECT COUNT(*) FROM payments WHERE status = 'completed'",
};
#define N_OLD ARRAY_SIZE(old_queries)

static void old_status(struct db_conn *c, uint64_t v[N_OLD])
{
	for (size_t i = 0; i < N_OLD; i++)
		v[i] = query_uint(c, old_queries[i]);
}

/* Our figures in the order of old_queries. */
static void figures(const struct db_status *s, uint64_t v[N_OLD])
{
	uint64_t f[] = {s->users.all,
	                s->users.by_status[USER_ACTIVE],
	                s->users.admins,
	                s->vpn.all,
	                s->vpn.by_status[VPN_ACTIVE],
	                s->vpn.trial,
	                s->vpn.paid,
	                s->vpn.by_type[VPN_WIREGUARD],
	                s->vpn.by_type[VPN_OUTLINE],
	                s->vpn.bandwidth_bytes,
	                s->payments.all,
	                s->payments.by_status[PAYMENT_PENDING],
	                s->payments.by_status[PAYMENT_COMPLETED]};

	_Static_assert(ARRAY_SIZE(f) == N_OLD, "one figure per old query");
	memcpy(v, f, sizeof(f));
}

struct gen {
	struct db *db;
	const char *sql; /* ends in "FROM ": the sequence table follows */
	uint64_t rows;
	struct db_param params[2];
	size_t n_params;
	double seconds;
};

static void bulk_session(struct db_conn *c)
{
	/* A bulk load's usual settings; the rows are valid by construction. */
	exec(c, "SET SESSION unique_checks = 0, foreign_key_checks = 0", NULL, 0);
}

static void *gen_thread(void *arg)
{
	struct gen *g = arg;
	struct db_conn *c = NULL;
	char sql[2048];
	double t0;
	int r;

	r = db_acquire(g->db, -1, &c, NULL);
	if (r < 0)
		die_db(NULL, "acquire", r);
	bulk_session(c);
	snprintf(sql, sizeof(sql), "%sseq_1_to_%" PRIu64, g->sql, g->rows);
	t0 = now_s();
	exec(c, sql, g->params, g->n_params);
	g->seconds = now_s() - t0;
	db_release(c);
	return NULL;
}

/*
 * Users: 2% banned. VPN configs: one per user, a third Outline, statuses in turn, a
 * fifth of the live ones trials (at most one live trial per user, as the schema wants),
 * bandwidth growing with the id, a realistic config object. Payments: one per user,
 * half Stars, half QvaPay (USD), statuses in turn.
 */
static const char gen_users[] =
    "INSERT INTO users (telegram_id, username, first_name, status, last_login_at) "
    "SELECT 5000000000 + seq, CONCAT('user', seq), 'Name', "
    "IF(seq % 50 = 0, 'banned', 'active'), NOW(6) FROM ";
static const char gen_vpn[] =
    "INSERT INTO vpn_configs (user_id, node_id, type, name, config, status, is_trial, "
    "bandwidth_bytes, activated_at, expires_at, revoked_at) "
    "SELECT ? + seq - 1, ? + seq % 3, IF(seq % 3 = 0, 'outline', 'wireguard'), 'phone', "
    "CONCAT('{\"address\": \"10.8.', seq DIV 250 % 256, '.', seq % 250 + 2, "
    "'/32\", \"dns\": \"1.1.1.1\", \"endpoint\": \"vpn.example:51820\", "
    "\"peer\": \"', SHA2(seq, 256), '\"}'), "
    "ELT(1 + seq % 4, 'pending', 'active', 'expired', 'revoked'), "
    "IF(seq % 4 IN (0, 1), seq % 5 = 0, 0), seq * 1000, IF(seq % 4 = 1, NOW(6), NULL), "
    "NOW(6) + INTERVAL 30 DAY, IF(seq % 4 = 3, NOW(6), NULL) FROM ";
static const char gen_payments[] =
    "INSERT INTO payments (user_id, method, amount, currency, status, vpn_type, months, "
    "provider_charge_id, completed_at, refunded_at) "
    "SELECT ? + seq - 1, IF(seq % 2 = 0, 'stars', 'qvapay'), 100 + seq % 400, "
    "IF(seq % 2 = 0, 'XTR', 'USD'), "
    "ELT(1 + seq % 4, 'pending', 'completed', 'failed', 'refunded'), 'wireguard', 1, "
    "CONCAT('charge-', seq), IF(seq % 4 IN (1, 3), NOW(6), NULL), "
    "IF(seq % 4 = 3, NOW(6), NULL) FROM ";

static int run_status(uint64_t rows, int rounds)
{
	struct db *db = open_db(2);
	struct db_status *ours = NULL, *counted = NULL;
	double t_old[MAX_ROUNDS], t_ours[MAX_ROUNDS], t_recount[MAX_ROUNDS], t0, t_gen;
	uint64_t v_old[N_OLD], v_ours[N_OLD], v_counted[N_OLD];
	struct gen users = {.db = db, .sql = gen_users, .rows = rows};
	struct gen vpn = {.db = db, .sql = gen_vpn, .rows = rows, .n_params = 2};
	struct gen pay = {.db = db, .sql = gen_payments, .rows = rows, .n_params = 1};
	uint64_t base_user, base_node;
	pthread_t tv, tp;
	struct db_conn *c;
	int r;

	r = db_acquire(db, -1, &c, NULL);
	if (r < 0)
		die_db(NULL, "acquire", r);
	exec(c,
	     "INSERT INTO nodes (name, agent_url, endpoint, public_key) VALUES "
	     "('n1', 'https://n1.example', 'n1.example:51820', "
	     "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE='), "
	     "('n2', 'https://n2.example', 'n2.example:51820', "
	     "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI='), "
	     "('n3', 'https://n3.example', 'n3.example:51820', "
	     "'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAM=')",
	     NULL, 0);
	db_release(c);

	t0 = now_s();
	gen_thread(&users);
	r = db_acquire(db, -1, &c, NULL);
	if (r < 0)
		die_db(NULL, "acquire", r);
	base_user = query_uint(c, "SELECT MIN(id) FROM users");
	base_node = query_uint(c, "SELECT MIN(id) FROM nodes");
	vpn.params[0] = pay.params[0] = DB_UINT(base_user);
	vpn.params[1] = DB_UINT(base_node);
	db_release(c);
	/* Two connections, two cores: the configs and the payments at once. */
	if (pthread_create(&tv, NULL, gen_thread, &vpn) ||
	    pthread_create(&tp, NULL, gen_thread, &pay))
		return 1;
	pthread_join(tv, NULL);
	pthread_join(tp, NULL);

	r = db_acquire(db, -1, &c, NULL);
	if (r < 0)
		die_db(NULL, "acquire", r);
	exec(c,
	     "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u "
	     "JOIN roles r ON r.name = 'admin' ORDER BY u.id LIMIT 10",
	     NULL, 0);
	exec(c, "ANALYZE TABLE users, vpn_configs, payments, user_roles, status_counters", NULL, 0);
	t_gen = now_s() - t0;
	fprintf(stderr,
	        "bench_db: generated %" PRIu64 " users (%.1f s), VPN configs (%.1f s) and payments "
	        "(%.1f s, in parallel with the configs): %.1f s in all\n",
	        rows, users.seconds, vpn.seconds, pay.seconds, t_gen);

	/* Warm the buffer pool for both ways, untimed. */
	old_status(c, v_old);
	if ((r = db_status_get(c, &ours)) < 0)
		die_db(c, "db_status_get", r);
	ours = db_status_free(ours);

	for (int i = 0; i < rounds; i++) {
		t0 = now_s();
		old_status(c, v_old);
		t_old[i] = now_s() - t0;

		t0 = now_s();
		r = db_status_get(c, &ours);
		t_ours[i] = now_s() - t0;
		if (r < 0)
			die_db(c, "db_status_get", r);

		t0 = now_s();
		r = db_status_recount(c, &counted);
		t_recount[i] = now_s() - t0;
		if (r < 0)
			die_db(c, "db_status_recount", r);

		figures(ours, v_ours);
		figures(counted, v_counted);
		ours = db_status_free(ours);
		counted = db_status_free(counted);
		if (memcmp(v_old, v_ours, sizeof(v_old)) ||
		    memcmp(v_old, v_counted, sizeof(v_old))) {
			fprintf(stderr, "bench_db: the figures differ:\n");
			for (size_t k = 0; k < N_OLD; k++)
				fprintf(stderr,
				        "  %-70.70s old %" PRIu64 " ours %" PRIu64
				        " recount %" PRIu64 "\n",
				        old_queries[k], v_old[k], v_ours[k], v_counted[k]);
			return 1;
		}
	}
	db_release(c);
	db_close(db);

	double old_ms = median(t_old, rounds) * 1e3, ours_ms = median(t_ours, rounds) * 1e3;
	double recount_ms = median(t_recount, rounds) * 1e3;
	printf("| %" PRIu64 " each | old: one query per figure (%zu queries) | %.1f | 1 |\n", rows,
	       N_OLD, old_ms);
	printf("| %" PRIu64
	       " each | GROUP BY over the tables' indexes (db_status_recount) | %.1f | "
	       "%.1fx |\n",
	       rows, recount_ms, old_ms / recount_ms);
	printf("| %" PRIu64 " each | **ours: trigger-kept counters (db_status_get)** | %.2f | "
	       "**%.0fx** |\n",
	       rows, ours_ms, old_ms / ours_ms);
	printf("gen_seconds=%.1f\n", t_gen);
	return 0;
}

/* ---- payment completions ---- */

struct worker {
	struct db *db;
	pthread_barrier_t *start;
	const uint64_t *ids;
	size_t n, stride, first;
	int r;
};

static void *complete_thread(void *arg)
{
	struct worker *w = arg;
	struct db_conn *c = NULL;

	w->r = db_acquire(w->db, -1, &c, NULL);
	pthread_barrier_wait(w->start);
	for (size_t i = w->first; w->r == 0 && i < w->n; i += w->stride) {
		w->r = db_payment_complete(c, 0, w->ids[i], 0);
		if (w->r < 0)
			fprintf(stderr, "bench_db: complete %" PRIu64 ": %s\n", w->ids[i],
			        db_conn_error(c)->message);
	}
	db_release(c);
	return NULL;
}

struct id_list {
	uint64_t *v;
	size_t n, cap;
};

static int id_row(const struct db_row *row, void *userdata)
{
	struct id_list *l = userdata;

	if (l->n == l->cap)
		return -E2BIG;
	return db_row_uint(row, 0, &l->v[l->n++]) < 0 ? -ERANGE : 0;
}

static int run_complete(unsigned threads, uint64_t per_thread)
{
	struct db *db = open_db(threads + 1);
	struct worker w[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	pthread_barrier_t start;
	struct id_list ids = {0};
	uint64_t total = threads * per_thread, user;
	struct db_conn *c;
	char sql[512];
	double t0, secs;
	int r;

	ids.cap = total;
	ids.v = calloc(total, sizeof(*ids.v));
	if (!ids.v)
		return 1;
	r = db_acquire(db, -1, &c, NULL);
	if (r < 0)
		die_db(NULL, "acquire", r);
	/* Pending payments to complete, untimed; charge ids unique to this run. */
	exec(c, "INSERT INTO users (telegram_id) SELECT 1 + IFNULL(MAX(telegram_id), 0) FROM users",
	     NULL, 0);
	user = query_uint(c, "SELECT MAX(id) FROM users");
	snprintf(sql, sizeof(sql),
	         "INSERT INTO payments (user_id, method, amount, currency, vpn_type, months, "
	         "provider_charge_id) SELECT ?, 'stars', 250, 'XTR', 'wireguard', 1, "
	         "CONCAT('bench-', ?, '-', seq) FROM seq_1_to_%" PRIu64,
	         total);
	exec(c, sql, (struct db_param[]){DB_UINT(user), DB_UINT(user)}, 2);
	r = db_query_sql(c, "SELECT id FROM payments WHERE user_id = ? ORDER BY id",
	                 strlen("SELECT id FROM payments WHERE user_id = ? ORDER BY id"),
	                 &DB_UINT(user), 1, id_row, &ids, NULL);
	if (r < 0 || ids.n != total)
		die_db(c, "pending payments", r);
	db_release(c);

	pthread_barrier_init(&start, NULL, threads + 1);
	for (unsigned i = 0; i < threads; i++) {
		w[i] = (struct worker){db, &start, ids.v, total, threads, i, 0};
		if (pthread_create(&t[i], NULL, complete_thread, &w[i]))
			return 1;
	}
	pthread_barrier_wait(&start); /* every thread holds its connection: go */
	t0 = now_s();
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	secs = now_s() - t0;
	pthread_barrier_destroy(&start);
	for (unsigned i = 0; i < threads; i++)
		if (w[i].r < 0)
			return 1;
	printf("complete|%" PRIu64 "|%.3f|%.0f\n", total, secs, (double)total / secs);
	free(ids.v);
	db_close(db);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "status")) {
		uint64_t rows = strtoull(argv[2], NULL, 10);
		int rounds = atoi(argv[3]);

		if (rows < 1 || rounds < 1 || rounds > MAX_ROUNDS)
			return 2;
		return run_status(rows, rounds);
	}
	if (argc == 4 && !strcmp(argv[1], "complete")) {
		unsigned threads = (unsigned)atoi(argv[2]);
		uint64_t per_thread = strtoull(argv[3], NULL, 10);

		if (threads < 1 || threads > MAX_THREADS || per_thread < 1)
			return 2;
		return run_complete(threads, per_thread);
	}
	fprintf(stderr,
	        "usage: bench_db status ROWS ROUNDS | bench_db complete THREADS PER_THREAD\n"
	        "(on the migrated database of DATABASE_URL; see bench/run-db.sh)\n");
	return 2;
}
