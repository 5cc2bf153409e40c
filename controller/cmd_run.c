// SPDX-License-Identifier: MIT
/*
 * wgfleet-controller run --config FILE: the service (docs/controller.md). Everything that
 * can be wrong with the configuration, the master key, the tokens or the database is found
 * here, before the API listens, and reported as one clear line; then the API, the job
 * workers, the node poller and the expiry sweeper run until SIGTERM or SIGINT.
 *
 * wgfleet-controller genkey --out FILE: a new master key.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "controller.h"
#include "ctlconf.h"
#include "db.h"
#include "db_node.h"
#include "http.h"
#include "httpc.h"
#include "migrate.h"
#include "provisioner.h"
#include "service.h"
#include "vault.h"
#include "wgkey.h"

/* While the carriers wait for agents, the creator makes the next batch; each thread takes
 * everything queued for its stage. Measured (bench/run-controller.sh, 2 vCPUs): one
 * creator and two carriers beat one and one (754/s) and two and two (690/s). */
#define PROVISION_CREATORS 1
#define PROVISION_CARRIERS 2

static void run_usage(FILE *f)
{
	fprintf(f, "Usage: wgfleet-controller run --config FILE [--database-url URL]\n\n"
	           "Runs the controller service: the HTTP API for the bot and the admins, the job\n"
	           "workers that carry provisions and revokes to the node agents, the node poller\n"
	           "and the expiry sweeper. The database must be migrated first\n"
	           "('wgfleet-controller migrate'). Stops cleanly on SIGTERM or SIGINT.\n\n"
	           "  --config FILE       the configuration (docs/controller-config.md)\n"
	           "  --database-url URL  the database; wins over the file's database_url and\n"
	           "                      $DATABASE_URL\n");
}

/* Refuses a schema that is behind (or ahead of) this binary: every query would fail in
 * ways far from the cause. */
static int check_schema(struct db_conn *c)
{
	struct migration_status *v = NULL;
	struct migrate_error err = {0};
	size_t n = 0;
	int r;

	r = migrate_status(c, migrations_builtin, migrations_builtin_count, &v, &n, &err);
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: run: cannot read the schema version: %s\n",
		        err.message);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].state == MIGRATION_APPLIED)
			continue;
		if (v[i].state == MIGRATION_UNKNOWN)
			fprintf(stderr,
			        "wgfleet-controller: run: the database has migration %s, which this "
			        "binary does not know: a newer wgfleet-controller migrated it; run "
			        "that version\n",
			        v[i].name);
		else if (v[i].state == MIGRATION_PENDING)
			fprintf(stderr,
			        "wgfleet-controller: run: migration %s is not applied: run "
			        "'wgfleet-controller migrate' with this binary first\n",
			        v[i].name);
		else
			fprintf(stderr,
			        "wgfleet-controller: run: migration %s is %s: see "
			        "'wgfleet-controller migrate --status'\n",
			        v[i].name, migration_state_to_string(v[i].state));
		r = -EPROTO;
		break;
	}
	free(v);
	return r;
}

/* A wrong master key must fail here, not on the first request that opens a secret: try
 * one stored secret (a node's agent token). A fresh database has none to try. */
static int check_master_key(struct ctl_service *s, struct db_conn *c)
{
	struct db_node *nodes = NULL;
	size_t n = 0;
	int r;

	r = db_node_list(c, &nodes, &n);
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: run: cannot read the nodes: %s\n",
		        db_conn_error(c)->message);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		if (!nodes[i].agent_token_enc)
			continue;
		r = vault_check(s->vault, nodes[i].agent_token_enc, nodes[i].agent_token_enc_len);
		if (r < 0)
			fprintf(stderr,
			        "wgfleet-controller: run: the master key %s does not open the secrets "
			        "stored in this database (node %s): wrong key file?\n",
			        s->cfg->master_key_file, nodes[i].name);
		break;
	}
	db_nodes_free(nodes, n);
	return r;
}

static int read_tokens(const struct controller_config *cfg, struct http_token **ret, size_t *ret_n)
{
	struct http_token *t;
	char err[256];
	int r = 0;

	t = calloc(cfg->n_tokens ? cfg->n_tokens : 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_tokens; i++) {
		char *tok = NULL;

		r = http_token_file_read(cfg->tokens[i].file, &tok, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "wgfleet-controller: run: %s\n", err);
			for (size_t k = 0; k < i; k++)
				http_token_free((char *)t[k].token);
			free(t);
			return r;
		}
		t[i] = (struct http_token){
			.token = tok,
			.role = cfg->tokens[i].role,
			.name = ctl_role_name(cfg->tokens[i].role),
		};
	}
	*ret = t;
	*ret_n = cfg->n_tokens;
	return 0;
}

static void free_tokens(struct http_token *t, size_t n)
{
	for (size_t i = 0; t && i < n; i++)
		http_token_free((char *)t[i].token);
	free(t);
}

static int init_sync(struct ctl_service *s)
{
	pthread_condattr_t attr;
	int r;

	/* Waits measure intervals: a wall-clock step must not stretch or cut them. */
	r = -pthread_condattr_init(&attr);
	if (r < 0)
		return r;
	r = -pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (r == 0)
		r = -pthread_mutex_init(&s->lock, NULL);
	if (r == 0)
		r = -pthread_cond_init(&s->jobs_queued, &attr);
	if (r == 0)
		r = -pthread_cond_init(&s->jobs_finished, &attr);
	pthread_condattr_destroy(&attr);
	return r;
}

int cmd_run(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"database-url", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *config_path = NULL, *option_url = NULL;
	struct controller_config *cfg = NULL;
	struct ctl_service s = {0};
	struct http_token *tokens = NULL;
	size_t n_tokens = 0, n_threads = 0;
	pthread_t *threads = NULL;
	struct db_conn *c = NULL;
	struct db_error dberr = {0};
	char *shown = NULL, err[512];
	sigset_t sigs;
	int opt, r, sig, ret = 1;
	bool sync_ready = false;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			option_url = optarg;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !config_path) {
		if (!config_path)
			fprintf(stderr, "wgfleet-controller: run: --config FILE is required\n");
		run_usage(stderr);
		return 2;
	}
	if (cmd_config_load("run", config_path, &cfg) < 0)
		return 1;
	s.cfg = cfg;
	if (!cfg->master_key_file) {
		fprintf(stderr, "wgfleet-controller: run: %s sets no master_key_file (create one "
		                "with 'wgfleet-controller genkey --out FILE')\n", config_path);
		goto out;
	}
	if (!cfg->n_tokens) {
		fprintf(stderr, "wgfleet-controller: run: %s sets no token: nobody could use the "
		                "API\n", config_path);
		goto out;
	}
	r = vault_load(cfg->master_key_file, &s.vault, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: run: %s\n", err);
		goto out;
	}
	if (read_tokens(cfg, &tokens, &n_tokens) < 0)
		goto out;
	if (cfg->webhook_secret_file) {
		r = http_token_file_read(cfg->webhook_secret_file, &s.webhook_secret, err,
		                         sizeof(err));
		if (r < 0) {
			fprintf(stderr, "wgfleet-controller: run: webhook secret %s\n", err);
			goto out;
		}
		s.webhook_secret_len = strlen(s.webhook_secret);
	}
	if (wg_key_init() < 0 || httpc_global_init() < 0) {
		fprintf(stderr, "wgfleet-controller: run: cannot initialise libsodium or libcurl\n");
		goto out;
	}
	r = cmd_db_open("run", option_url, cfg, cfg->db_pool_size, &s.db, &shown);
	if (r < 0) {
		ret = r == -EINVAL ? 2 : 1;
		goto out;
	}
	if (db_acquire(s.db, 10000, &c, &dberr) < 0) {
		fprintf(stderr, "wgfleet-controller: run: %s: %s\n", shown, dberr.message);
		goto out;
	}
	if (check_schema(c) < 0 || check_master_key(&s, c) < 0)
		goto out;
	c = db_release(c);

	char host[64] = "controller";
	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = 0;
	snprintf(s.owner, sizeof(s.owner), "%.40s:%ld", host, (long)getpid());
	if (init_sync(&s) < 0) {
		fprintf(stderr, "wgfleet-controller: run: cannot set up locks\n");
		goto out;
	}
	sync_ready = true;

	/* Only the main thread takes SIGTERM/SIGINT (sigwait below): the threads inherit the
	 * blocked mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Before the API, which hands it VPN creations. */
	r = prov_start(&s, PROVISION_CREATORS, PROVISION_CARRIERS);
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: run: cannot start the provisioner: %s\n",
		        strerror(-r));
		goto out;
	}
	r = api_start(&s, tokens, n_tokens, err, sizeof(err));
	/* The server keeps digests only: the tokens themselves can go. */
	free_tokens(tokens, n_tokens);
	tokens = NULL;
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: run: API on %s: %s\n", cfg->api_listen, err);
		goto out;
	}

	threads = calloc(cfg->workers + 2, sizeof(*threads));
	if (!threads)
		goto stop;
	for (unsigned i = 0; i < cfg->workers + 2; i++) {
		void *(*fn)(void *) = i < cfg->workers ? worker_main
		                      : i == cfg->workers ? poller_main
		                                          : sweeper_main;
		r = -pthread_create(&threads[n_threads], NULL, fn, &s);
		if (r < 0) {
			svc_log(&s, CTL_LOG_ERROR, "cannot start a thread: %s", strerror(-r));
			goto stop;
		}
		n_threads++;
	}
	svc_log(&s, CTL_LOG_INFO,
	        "wgfleet-controller listening on %s (%s), %u workers, database %s, owner %s",
	        cfg->api_listen, cfg->tls_cert ? "https" : "http", cfg->workers, shown, s.owner);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			svc_log(&s, CTL_LOG_INFO, "SIGHUP ignored: restart to change the configuration");
			continue;
		}
		break;
	}
	svc_log(&s, CTL_LOG_INFO, "stopping (%s)", sig == SIGINT ? "SIGINT" : "SIGTERM");
	ret = 0;
stop:
	atomic_store(&s.stopping, true);
	/* The API first: no new request queues work while the workers finish. */
	api_stop(&s);
	prov_stop(&s);
	pthread_mutex_lock(&s.lock);
	pthread_cond_broadcast(&s.jobs_queued);
	pthread_cond_broadcast(&s.jobs_finished);
	pthread_mutex_unlock(&s.lock);
	for (size_t i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
out:
	prov_stop(&s);
	free_tokens(tokens, n_tokens);
	db_release(c);
	db_close(s.db);
	if (s.webhook_secret)
		http_token_free(s.webhook_secret);
	vault_free(s.vault);
	if (sync_ready) {
		pthread_cond_destroy(&s.jobs_queued);
		pthread_cond_destroy(&s.jobs_finished);
		pthread_mutex_destroy(&s.lock);
	}
	free(shown);
	ctlconf_free(cfg);
	return ret;
}

static void genkey_usage(FILE *f)
{
	fprintf(f, "Usage: wgfleet-controller genkey --out FILE\n\n"
	           "Writes a new random master key (32 bytes, base64) to FILE with mode 0600.\n"
	           "The master key seals client private keys, preshared keys and agent tokens\n"
	           "in the database: keep it, and a backup of it, apart from database backups.\n"
	           "An existing FILE is never replaced.\n");
}

int cmd_genkey(int argc, char **argv)
{
	static const struct option options[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *out = NULL;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "ho:", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 'h':
			genkey_usage(stdout);
			return 0;
		default:
			genkey_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !out || !*out) {
		genkey_usage(stderr);
		return 2;
	}
	r = vault_keygen_file(out);
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: genkey: %s: %s\n", out,
		        r == -EEXIST ? "exists already; it is never replaced" : strerror(-r));
		return 1;
	}
	printf("%s\n", out);
	return 0;
}
