/* SPDX-License-Identifier: MIT */
/*
 * The master key and the secrets sealed with it (client private keys, preshared keys,
 * agent tokens), so that a copy of the database alone reveals none of them.
 *
 * - The key file holds 32 random bytes as base64 (44 characters) and an optional trailing
 *   newline; it must be a regular file that neither group nor others may access.
 * - A sealed blob is 1 version byte (VAULT_VERSION) || 24-byte random nonce ||
 *   crypto_secretbox (XSalsa20-Poly1305: 16-byte tag, then the ciphertext), so it is
 *   VAULT_OVERHEAD bytes longer than the plaintext. The blob is not bound to the row that
 *   stores it: whoever can write the database can swap two sealed values, not read them.
 * - Errors: 0 or -errno. vault_open: -EBADMSG when the blob does not authenticate (another
 *   master key, or tampered), -EINVAL when it is malformed (too short, unknown version).
 *   Outputs are written only on success. Nothing here logs; vault_load() describes a
 *   failure in ret_err (it names the file and the reason, never the content).
 * - Memory: the key lives in sodium_malloc'ed memory (guard pages, locked when the system
 *   allows, excluded from core dumps) that is read-only after loading; vault_free() wipes
 *   it. Plaintexts come in ordinary malloc'ed memory: release them with vault_plain_free(),
 *   which wipes first.
 * - Thread-safety: a loaded vault is immutable; any number of threads may seal and open
 *   with it at once. vault_free() needs the last user gone.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define VAULT_KEY_LEN 32
#define VAULT_VERSION 1
#define VAULT_NONCE_LEN 24
#define VAULT_TAG_LEN 16
#define VAULT_OVERHEAD (1 + VAULT_NONCE_LEN + VAULT_TAG_LEN)

struct vault;

/*
 * Reads the master key from path. -ENOENT (missing), -EPERM (group or others may access
 * it), -EINVAL (not a regular file; not 44 characters of canonical base64 of 32 bytes,
 * or all zeros), -ENOMEM, or the -errno of open/read.
 */
int vault_load(const char *path, struct vault **ret, char *ret_err, size_t err_size);

/* A vault over a key the caller holds (tests, tools). -EINVAL for the all-zero key. */
int vault_new_from_key(const uint8_t key[static VAULT_KEY_LEN], struct vault **ret);

/* Wipes and frees; NULL is fine. Returns NULL. */
struct vault *vault_free(struct vault *v);

/* Seals len bytes (0 is fine) into a new malloc'ed blob of len + VAULT_OVERHEAD bytes. */
int vault_seal(const struct vault *v, const void *plain, size_t len, uint8_t **ret,
	       size_t *ret_len);

/*
 * Opens a blob made by vault_seal() with the same key. *ret is malloc'ed, *ret_len bytes,
 * followed by one NUL byte (not counted) so that a sealed string can be used as a C string.
 * Release it with vault_plain_free(*ret, *ret_len).
 */
int vault_open(const struct vault *v, const uint8_t *sealed, size_t len, uint8_t **ret,
	       size_t *ret_len);

/* Wipes len + 1 bytes (the plaintext and its NUL) and frees; NULL is fine. Returns NULL. */
uint8_t *vault_plain_free(uint8_t *p, size_t len);

/*
 * 0 if sealed opens with v (the plaintext is wiped at once), else as vault_open. The
 * service tries one stored secret at start-up so that a wrong master key is a clear
 * start-up error rather than a failure on the first request that needs a secret.
 */
int vault_check(const struct vault *v, const uint8_t *sealed, size_t len);

/*
 * Writes a new random key to path in base64 with a newline, mode 0600, and syncs it.
 * Never replaces a file: -EEXIST if path exists (a symlink included). On failure the
 * file is removed again. Used by `wgfleet-controller genkey`.
 */
int vault_keygen_file(const char *path);
