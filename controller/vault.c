// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "wgfleet/macro.h"
#include "wgkey.h"
#include "vault.h"
#include "secretfile.h"

_Static_assert(VAULT_KEY_LEN == crypto_secretbox_KEYBYTES, "secretbox key size");
_Static_assert(VAULT_KEY_LEN == WG_KEY_LEN, "the key file shares wgkey's base64 codec");
_Static_assert(VAULT_NONCE_LEN == crypto_secretbox_NONCEBYTES, "secretbox nonce size");
_Static_assert(VAULT_TAG_LEN == crypto_secretbox_MACBYTES, "secretbox tag size");

/* The base64 line and its newline; anything longer is not a key file. */
#define KEY_FILE_MAX (WG_KEY_B64_LEN - 1 + 1)

struct vault {
	uint8_t key[VAULT_KEY_LEN];
};

int vault_new_from_key(const uint8_t key[static VAULT_KEY_LEN], struct vault **ret)
{
	struct vault *v;
	int r;

	if (!key || !ret)
		return -EINVAL;
	/* An all-zero key is what a botched key file decodes to, never a random one. */
	if (sodium_is_zero(key, VAULT_KEY_LEN))
		return -EINVAL;
	r = wg_key_init();
	if (r < 0)
		return r;
	/* sodium_malloc: guard pages, mlock where permitted, no core dumps. */
	v = sodium_malloc(sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v->key, key, VAULT_KEY_LEN);
	/* Nothing writes the key again; a stray write through a bad pointer now faults. */
	sodium_mprotect_readonly(v);
	*ret = v;
	return 0;
}

struct vault *vault_free(struct vault *v)
{
	/* sodium_free makes the region writable again, wipes it and unlocks it. */
	if (v)
		sodium_free(v);
	return NULL;
}

int vault_load(const char *path, struct vault **ret, char *ret_err, size_t err_size)
{
	char buf[KEY_FILE_MAX + 2];
	uint8_t key[VAULT_KEY_LEN];
	struct vault *v = NULL;
	size_t len = 0;
	int r;

	if (!path || !*path || !ret) {
		err_printf(ret_err, err_size, "master key file: no path given");
		return -EINVAL;
	}
	r = secret_file_read("master key file", path, buf, KEY_FILE_MAX, &len, ret_err, err_size);
	if (r < 0) {
		if (r == -EFBIG) {
			r = -EINVAL; /* vault.h: a file of the wrong length is malformed */
			err_printf(ret_err, err_size,
			           "master key file %s: wrong length; expected 44 characters of base64 "
			           "and an optional newline (wgfleet-controller genkey writes one)",
			           path);
		}
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len != WG_KEY_B64_LEN - 1) {
		r = -EINVAL;
		err_printf(ret_err, err_size,
			"master key file %s: %s; expected 44 characters of base64 and an optional "
			"newline (wgfleet-controller genkey writes one)",
			path, len == 0 ? "empty" : "wrong length");
		goto out;
	}
	buf[len] = '\0';
	r = wg_key_from_base64(buf, key);
	if (r < 0) {
		err_printf(ret_err, err_size, "master key file %s: not base64 of 32 bytes", path);
		goto out;
	}
	r = vault_new_from_key(key, &v);
	if (r == -EINVAL) {
		err_printf(ret_err, err_size, "master key file %s: the key is all zeros", path);
		goto out;
	}
	if (r < 0) {
		err_printf(ret_err, err_size, "master key file %s: %s", path, strerror(-r));
		goto out;
	}
	*ret = v;
out:
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(key, sizeof(key));
	return r;
}

int vault_seal(const struct vault *v, const void *plain, size_t len, uint8_t **ret,
	       size_t *ret_len)
{
	static const uint8_t empty[1];
	uint8_t *out;

	if (!v || (!plain && len) || !ret || !ret_len)
		return -EINVAL;
	if (len > crypto_secretbox_MESSAGEBYTES_MAX || len > SIZE_MAX - VAULT_OVERHEAD)
		return -EINVAL;
	out = malloc(len + VAULT_OVERHEAD);
	if (!out)
		return -ENOMEM;
	out[0] = VAULT_VERSION;
	/* 24 random bytes: collisions are negligible for any number of seals. */
	randombytes_buf(out + 1, VAULT_NONCE_LEN);
	if (crypto_secretbox_easy(out + 1 + VAULT_NONCE_LEN, len ? plain : empty, len, out + 1,
				  v->key) != 0) {
		free(out);
		return -EIO;
	}
	*ret = out;
	*ret_len = len + VAULT_OVERHEAD;
	return 0;
}

int vault_open(const struct vault *v, const uint8_t *sealed, size_t len, uint8_t **ret,
	       size_t *ret_len)
{
	size_t plen;
	uint8_t *p;

	if (!v || !sealed || !ret || !ret_len)
		return -EINVAL;
	if (len < VAULT_OVERHEAD || sealed[0] != VAULT_VERSION)
		return -EINVAL;
	plen = len - VAULT_OVERHEAD;
	p = malloc(plen + 1);
	if (!p)
		return -ENOMEM;
	/* The tag is verified before anything is decrypted into p. */
	if (crypto_secretbox_open_easy(p, sealed + 1 + VAULT_NONCE_LEN, len - 1 - VAULT_NONCE_LEN,
				       sealed + 1, v->key) != 0) {
		vault_plain_free(p, plen);
		return -EBADMSG;
	}
	p[plen] = '\0';
	*ret = p;
	*ret_len = plen;
	return 0;
}

uint8_t *vault_plain_free(uint8_t *p, size_t len)
{
	if (p) {
		sodium_memzero(p, len + 1);
		free(p);
	}
	return NULL;
}

int vault_check(const struct vault *v, const uint8_t *sealed, size_t len)
{
	uint8_t *p = NULL;
	size_t plen = 0;
	int r;

	r = vault_open(v, sealed, len, &p, &plen);
	if (r < 0)
		return r;
	vault_plain_free(p, plen);
	return 0;
}

/* fsync the directory holding path, so that the new name survives a crash. */
static int sync_parent(const char *path)
{
	char *copy = strdup(path);
	int fd, r = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		r = negative_errno();
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

int vault_keygen_file(const char *path)
{
	uint8_t key[VAULT_KEY_LEN];
	char line[WG_KEY_B64_LEN + 1];
	size_t len, off = 0;
	int fd, r;

	if (!path || !*path)
		return -EINVAL;
	r = wg_key_init();
	if (r < 0)
		return r;
	/* O_EXCL | O_NOFOLLOW: never replace a key (data sealed with it would be lost) nor
	 * write through a symlink someone else planted. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return negative_errno();
	do
		randombytes_buf(key, sizeof(key));
	while (sodium_is_zero(key, sizeof(key)));
	wg_key_to_base64(line, key);
	len = strlen(line);
	line[len++] = '\n';
	/* The umask may have left fewer bits; exactly 0600 is what vault_load() wants. */
	if (fchmod(fd, 0600) < 0) {
		r = negative_errno();
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? negative_errno() : -EIO;
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		r = negative_errno();
		goto out;
	}
	r = sync_parent(path);
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
	if (close(fd) < 0 && r == 0)
		r = negative_errno();
	if (r < 0)
		unlink(path);
	return r;
}
