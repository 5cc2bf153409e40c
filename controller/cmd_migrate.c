// SPDX-License-Identifier: MIT
/*
 * wgfleet-controller migrate [--status]: the schema migrations compiled into this binary
 * against the database of --database-url, the config file's database_url (--config) or
 * DATABASE_URL, in that order (ctlconf.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "ctlconf.h"
#include "db.h"
#include "migrate.h"

#define LOCK_TIMEOUT_DEFAULT_S 60

static void usage(FILE *f)
{
	fprintf(f,
	        "Usage: wgfleet-controller migrate [--status] [--config FILE] "
	        "[--database-url URL] [--lock-timeout SECONDS]\n\n"
	        "Applies the pending schema migrations in order; a database already up to date\n"
	        "is left alone. Refuses to run if an applied migration was changed since.\n\n"
	        "  --status            list applied and pending migrations, change nothing\n"
	        "  --config FILE       the controller's config file (its database_url)\n"
	        "  --database-url URL  the database; wins over --config, which wins over\n"
	        "                      $DATABASE_URL\n"
	        "  --lock-timeout S    wait this long for another controller's migration "
	        "(default %d)\n",
	        LOCK_TIMEOUT_DEFAULT_S);
}

static void format_time(int64_t us, char *buf, size_t len)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (!us || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, len, "-");
}

static int print_status(struct db_conn *c)
{
	struct migration_status *v = NULL;
	struct migrate_error err = {0};
	size_t n = 0;
	int r, bad = 0;

	r = migrate_status(c, migrations_builtin, migrations_builtin_count, &v, &n, &err);
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: migrate --status: %s\n", err.message);
		return 1;
	}
	printf("%-8s %-40s %-12s %s\n", "version", "file", "state", "applied at");
	for (size_t i = 0; i < n; i++) {
		char when[64];

		format_time(v[i].applied_at_us, when, sizeof(when));
		printf("%04u     %-40s %-12s %s\n", v[i].version, v[i].name,
		       migration_state_to_string(v[i].state), when);
		if (v[i].state != MIGRATION_PENDING && v[i].state != MIGRATION_APPLIED)
			bad = 1;
	}
	free(v);
	if (bad)
		fprintf(stderr, "wgfleet-controller: the database's migration history does not "
		                "match this build: run 'migrate' for details\n");
	return bad;
}

static int apply(struct db_conn *c, unsigned lock_timeout)
{
	struct migration_status *before = NULL;
	struct migrate_error err = {0};
	size_t n = 0, applied = 0, k = 0;
	int r;

	/* Only to name what gets applied; migrate_apply reads it again under the lock. */
	r = migrate_status(c, migrations_builtin, migrations_builtin_count, &before, &n, &err);
	if (r == 0)
		r = migrate_apply(c, migrations_builtin, migrations_builtin_count, lock_timeout,
		                  &applied, &err);
	if (r < 0) {
		if (err.name[0])
			fprintf(stderr, "wgfleet-controller: migrate: %s: %s\n", err.name,
			        err.message);
		else
			fprintf(stderr, "wgfleet-controller: migrate: %s\n", err.message);
		free(before);
		return 1;
	}
	for (size_t i = 0; i < n && k < applied; i++)
		if (before[i].state == MIGRATION_PENDING) {
			printf("applied %s\n", before[i].name);
			k++;
		}
	if (applied == 0)
		printf("database is up to date (%zu migrations)\n", migrations_builtin_count);
	free(before);
	return 0;
}

int cmd_migrate(int argc, char **argv)
{
	static const struct option options[] = {
	    {"status", no_argument, NULL, 's'},
	    {"database-url", required_argument, NULL, 'd'},
	    {"config", required_argument, NULL, 'c'},
	    {"lock-timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *option_url = NULL, *config_path = NULL;
	struct controller_config *cfg = NULL;
	unsigned lock_timeout = LOCK_TIMEOUT_DEFAULT_S;
	struct db_error dberr = {0};
	struct db_conn *c = NULL;
	struct db *db = NULL;
	bool status = false;
	int opt, r, ret = 1;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			status = true;
			break;
		case 'd':
			option_url = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (!*optarg || *end || v > 86400) {
				fprintf(stderr,
				        "wgfleet-controller: migrate: bad --lock-timeout\n");
				return 2;
			}
			lock_timeout = (unsigned)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config_path && cmd_config_load("migrate", config_path, &cfg) < 0)
		return 1;
	r = cmd_db_open("migrate", option_url, cfg, 1, &db, NULL);
	if (r < 0) {
		ret = r == -EINVAL ? 2 : 1;
		goto out;
	}
	if (db_acquire(db, -1, &c, &dberr) < 0) {
		fprintf(stderr, "wgfleet-controller: migrate: %s\n", dberr.message);
		goto out;
	}
	ret = status ? print_status(c) : apply(c, lock_timeout);
out:
	ctlconf_free(cfg);
	db_release(c);
	db_close(db);
	return ret;
}
