/* SPDX-License-Identifier: MIT */
/*
 * Every secret sealed with the master key, as stored: the client private and preshared
 * keys of VPN configs and the agent tokens of nodes, read in pages and written back one row
 * at a time. What `wgfleet-controller rekey` needs to seal them all again with a new master
 * key; this module never sees a secret in the clear (vault.h does the sealing).
 *
 * A write is guarded by the blob it replaces: a row whose sealed value changed since it was
 * read (another writer) is left alone (-ESTALE). Each write is a statement of its own
 * (autocommit), so a long run holds no lock for long and can be stopped and run again.
 * Errors as in db.h, plus -ESTALE.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "db.h"

enum db_sealed_table {
	DB_SEALED_VPN_CONFIGS, /* columns: private_key_enc, preshared_key_enc */
	DB_SEALED_NODES,       /* column: agent_token_enc (the second is always empty) */
	_DB_SEALED_TABLE_MAX,
};

struct db_sealed_row {
	uint64_t id;
	uint8_t *blob[2]; /* NULL: none stored */
	size_t len[2];
};

/* Frees an array of n rows; NULL is fine; returns NULL. */
struct db_sealed_row *db_sealed_rows_free(struct db_sealed_row *v, size_t n);

/* The rows of table with id > after_id that hold at least one sealed value, by id, at most
 * limit (1..10000); *ret (db_sealed_rows_free) has *ret_n, none at the end. */
int db_sealed_page(struct db_conn *c, enum db_sealed_table table, uint64_t after_id,
                   unsigned limit, struct db_sealed_row **ret, size_t *ret_n);

/* Replaces row id's sealed values old with new (each NULL where the row has none);
 * -ESTALE if the row no longer holds old, -ENOENT if it is gone. */
int db_sealed_replace(struct db_conn *c, enum db_sealed_table table, uint64_t id,
                      const struct db_sealed_row *old, const struct db_sealed_row *new);
