// SPDX-License-Identifier: MIT
/*
 * wgfleet-controller rekey --config FILE --new-key FILE: seals every stored secret (client
 * private and preshared keys, agent tokens) again with a new master key. Run it with every
 * controller stopped; then point master_key_file at the new key and start them.
 *
 * Resumable: a value that already opens with the new key is left as it is, so a run that
 * was interrupted is finished by running it again. A value that opens with neither key
 * stops the run with its table and row named, and nothing more is changed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "ctlconf.h"
#include "db.h"
#include "db_sealed.h"
#include "vault.h"

#define REKEY_PAGE 500

static const char *const table_names[_DB_SEALED_TABLE_MAX] = {
    [DB_SEALED_VPN_CONFIGS] = "vpn_configs",
    [DB_SEALED_NODES] = "nodes",
};

struct rekey {
	const struct vault *old, *new;
	uint64_t resealed, already;
};

static void rekey_usage(FILE *f)
{
	fprintf(f, "Usage: wgfleet-controller rekey --config FILE --new-key FILE "
	           "[--database-url URL]\n\n"
	           "Seals every secret stored in the database (client private and preshared\n"
	           "keys, agent tokens) again with the master key in --new-key (made with\n"
	           "'wgfleet-controller genkey'); the current key is the config's\n"
	           "master_key_file. Stop every controller first; afterwards set\n"
	           "master_key_file to the new key and start them. Running it again finishes an\n"
	           "interrupted run and changes nothing after a complete one.\n");
}

/* One stored value: *ret the value to store (new or the same), *ret_changed whether it is
 * new. -EBADMSG: opens with neither key. */
static int reseal_one(struct rekey *k, const uint8_t *blob, size_t len, uint8_t **ret,
                      size_t *ret_len, bool *ret_changed)
{
	uint8_t *plain = NULL, *sealed = NULL;
	size_t plain_len = 0, sealed_len = 0;
	int r;

	if (vault_check(k->new, blob, len) == 0) {
		*ret_changed = false;
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	r = vault_open(k->old, blob, len, &plain, &plain_len);
	if (r < 0)
		return r;
	r = vault_seal(k->new, plain, plain_len, &sealed, &sealed_len);
	vault_plain_free(plain, plain_len);
	if (r < 0)
		return r;
	*ret = sealed;
	*ret_len = sealed_len;
	*ret_changed = true;
	return 0;
}

static int rekey_table(struct rekey *k, struct db_conn *c, enum db_sealed_table table)
{
	uint64_t after = 0;
	int r = 0;

	for (;;) {
		struct db_sealed_row *rows = NULL;
		size_t n = 0;

		r = db_sealed_page(c, table, after, REKEY_PAGE, &rows, &n);
		if (r < 0) {
			fprintf(stderr, "wgfleet-controller: rekey: reading %s: %s\n", table_names[table],
			        db_conn_error(c)->message);
			return r;
		}
		for (size_t i = 0; r == 0 && i < n; i++) {
			struct db_sealed_row fresh = {.id = rows[i].id};
			bool changed[2] = {false, false};

			for (unsigned b = 0; r == 0 && b < 2; b++) {
				if (!rows[i].blob[b])
					continue;
				r = reseal_one(k, rows[i].blob[b], rows[i].len[b], &fresh.blob[b],
				               &fresh.len[b], &changed[b]);
				if (r < 0)
					fprintf(stderr,
					        "wgfleet-controller: rekey: %s row %" PRIu64
					        ": a sealed value opens with neither the current nor the "
					        "new master key (%s); stopped, nothing more changed\n",
					        table_names[table], rows[i].id, strerror(-r));
				else if (!changed[b]) {
					/* already new: store it as it is, beside a new one */
					fresh.blob[b] = malloc(rows[i].len[b]);
					if (!fresh.blob[b])
						r = -ENOMEM;
					else
						memcpy(fresh.blob[b], rows[i].blob[b], rows[i].len[b]);
					fresh.len[b] = rows[i].len[b];
				}
			}
			if (r == 0 && (changed[0] || changed[1])) {
				r = db_sealed_replace(c, table, rows[i].id, &rows[i], &fresh);
				if (r == -ESTALE)
					fprintf(stderr,
					        "wgfleet-controller: rekey: %s row %" PRIu64
					        " changed during the run: is a controller still running? Stop "
					        "every controller, then run rekey again\n",
					        table_names[table], rows[i].id);
				else if (r < 0 && r != -ENOENT)
					fprintf(stderr, "wgfleet-controller: rekey: %s row %" PRIu64 ": %s\n",
					        table_names[table], rows[i].id, db_conn_error(c)->message);
				if (r == -ENOENT)
					r = 0; /* deleted meanwhile: nothing to protect */
				else if (r == 0)
					k->resealed++;
			} else if (r == 0) {
				k->already++;
			}
			free(fresh.blob[0]);
			free(fresh.blob[1]);
		}
		if (n)
			after = rows[n - 1].id;
		db_sealed_rows_free(rows, n);
		if (r < 0 || n < REKEY_PAGE)
			return r;
	}
}

/* The two keys must differ: a secret sealed with one must not open with the other. */
static bool same_key(const struct vault *a, const struct vault *b)
{
	static const char probe[] = "wgfleet rekey probe";
	uint8_t *sealed = NULL;
	size_t len = 0;
	bool same;

	if (vault_seal(a, probe, sizeof(probe), &sealed, &len) < 0)
		return true; /* cannot tell: refuse */
	same = vault_check(b, sealed, len) == 0;
	free(sealed);
	return same;
}

int cmd_rekey(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"new-key", required_argument, NULL, 'k'},
	    {"database-url", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *config_path = NULL, *new_path = NULL, *option_url = NULL;
	struct controller_config *cfg = NULL;
	struct vault *old = NULL, *new = NULL;
	struct db *db = NULL;
	struct db_conn *c = NULL;
	struct db_error dberr = {0};
	char err[512];
	int opt, r, ret = 1;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'k':
			new_path = optarg;
			break;
		case 'd':
			option_url = optarg;
			break;
		case 'h':
			rekey_usage(stdout);
			return 0;
		default:
			rekey_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !config_path || !new_path) {
		rekey_usage(stderr);
		return 2;
	}
	if (cmd_config_load("rekey", config_path, &cfg) < 0)
		return 1;
	if (!cfg->master_key_file) {
		fprintf(stderr, "wgfleet-controller: rekey: %s sets no master_key_file\n",
		        config_path);
		goto out;
	}
	if (vault_load(cfg->master_key_file, &old, err, sizeof(err)) < 0 ||
	    vault_load(new_path, &new, err, sizeof(err)) < 0) {
		fprintf(stderr, "wgfleet-controller: rekey: %s\n", err);
		goto out;
	}
	if (same_key(old, new)) {
		fprintf(stderr, "wgfleet-controller: rekey: %s holds the current master key: "
		                "make a new one with 'wgfleet-controller genkey'\n", new_path);
		goto out;
	}
	r = cmd_db_open("rekey", option_url, cfg, 1, &db, NULL);
	if (r < 0) {
		ret = r == -EINVAL ? 2 : 1;
		goto out;
	}
	if (db_acquire(db, 10000, &c, &dberr) < 0) {
		fprintf(stderr, "wgfleet-controller: rekey: %s\n", dberr.message);
		goto out;
	}
	struct rekey k = {.old = old, .new = new};
	for (unsigned t = 0; t < _DB_SEALED_TABLE_MAX; t++)
		if (rekey_table(&k, c, (enum db_sealed_table)t) < 0)
			goto out;
	printf("re-sealed %" PRIu64 " rows with the new master key; %" PRIu64
	       " held it already.\nNow set master_key_file = %s and start the controllers.\n",
	       k.resealed, k.already, new_path);
	ret = 0;
out:
	db_release(c);
	db_close(db);
	vault_free(old);
	vault_free(new);
	ctlconf_free(cfg);
	return ret;
}
