// SPDX-License-Identifier: MIT
/* The master key file and sealed secrets (controller/vault.c): real files in a private
 * temporary directory, and the blob layout checked against libsodium directly. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "vault.h"
#include "wgkey.h"

static const uint8_t key_a[VAULT_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
					     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
					     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static char dir[] = "/tmp/test_vault.XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	return wg_key_init();
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	unlink(buf);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_seal_open(void **state)
{
	static const size_t lens[] = {0, 1, 32, 44, 1000, 70000};
	struct vault *v = NULL;

	(void)state;
	assert_int_equal(vault_new_from_key(key_a, &v), 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t *plain = malloc(lens[i] + 1), *s1 = NULL, *s2 = NULL, *out = NULL;
		size_t l1 = 0, l2 = 0, lo = 0;

		assert_non_null(plain);
		randombytes_buf(plain, lens[i] + 1);
		assert_int_equal(vault_seal(v, plain, lens[i], &s1, &l1), 0);
		assert_int_equal(l1, lens[i] + VAULT_OVERHEAD);
		assert_int_equal(s1[0], VAULT_VERSION);
		/* A random nonce: the same plaintext never seals to the same blob. */
		assert_int_equal(vault_seal(v, plain, lens[i], &s2, &l2), 0);
		assert_int_equal(l2, l1);
		assert_memory_not_equal(s1 + 1, s2 + 1, VAULT_NONCE_LEN);

		assert_int_equal(vault_open(v, s1, l1, &out, &lo), 0);
		assert_int_equal(lo, lens[i]);
		if (lens[i])
			assert_memory_equal(out, plain, lens[i]);
		assert_int_equal(out[lo], 0);
		out = vault_plain_free(out, lo);
		assert_null(out);
		assert_int_equal(vault_check(v, s2, l2), 0);

		/* The layout is version || nonce || crypto_secretbox_easy: libsodium opens it. */
		uint8_t *direct = malloc(lens[i] + 1);
		assert_int_equal(crypto_secretbox_open_easy(direct, s1 + 1 + VAULT_NONCE_LEN,
							    l1 - 1 - VAULT_NONCE_LEN, s1 + 1,
							    key_a),
				 0);
		if (lens[i])
			assert_memory_equal(direct, plain, lens[i]);
		free(direct);
		free(s1);
		free(s2);
		free(plain);
	}
	v = vault_free(v);
	assert_null(v);
	assert_null(vault_free(NULL));
	assert_null(vault_plain_free(NULL, 10));
}

static void test_open_refuses(void **state)
{
	static const char secret[] = "agent-token-0123456789";
	uint8_t key_b[VAULT_KEY_LEN], *sealed = NULL, *out = (uint8_t *)"sentinel";
	struct vault *v = NULL, *w = NULL;
	size_t len = 0, out_len = 77;

	(void)state;
	memcpy(key_b, key_a, sizeof(key_b));
	key_b[31] ^= 0x80; /* one bit away */
	assert_int_equal(vault_new_from_key(key_a, &v), 0);
	assert_int_equal(vault_new_from_key(key_b, &w), 0);
	assert_int_equal(vault_seal(v, secret, strlen(secret), &sealed, &len), 0);

	/* Another master key: does not authenticate. */
	assert_int_equal(vault_open(w, sealed, len, &out, &out_len), -EBADMSG);
	assert_int_equal(vault_check(w, sealed, len), -EBADMSG);

	/* One flipped bit anywhere after the version byte: nonce, tag or ciphertext. */
	for (size_t i = 1; i < len; i++) {
		sealed[i] ^= 0x01;
		assert_int_equal(vault_open(v, sealed, len, &out, &out_len), -EBADMSG);
		sealed[i] ^= 0x01;
	}
	/* Truncated or extended. */
	assert_int_equal(vault_open(v, sealed, len - 1, &out, &out_len), -EBADMSG);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, sealed, len);
	longer[len] = 0;
	assert_int_equal(vault_open(v, longer, len + 1, &out, &out_len), -EBADMSG);
	free(longer);

	/* Malformed: shorter than the overhead, unknown version, NULLs. */
	for (size_t l = 0; l < VAULT_OVERHEAD; l++)
		assert_int_equal(vault_open(v, sealed, l, &out, &out_len), -EINVAL);
	sealed[0] = 2;
	assert_int_equal(vault_open(v, sealed, len, &out, &out_len), -EINVAL);
	assert_int_equal(vault_check(v, sealed, len), -EINVAL);
	sealed[0] = 0;
	assert_int_equal(vault_open(v, sealed, len, &out, &out_len), -EINVAL);
	sealed[0] = VAULT_VERSION;
	assert_int_equal(vault_open(NULL, sealed, len, &out, &out_len), -EINVAL);
	assert_int_equal(vault_open(v, NULL, len, &out, &out_len), -EINVAL);
	assert_int_equal(vault_seal(v, NULL, 3, &out, &out_len), -EINVAL);
	assert_int_equal(vault_seal(NULL, secret, 3, &out, &out_len), -EINVAL);

	/* Nothing was written on any failure. */
	assert_string_equal((const char *)out, "sentinel");
	assert_int_equal(out_len, 77);

	/* And the untouched blob still opens. */
	assert_int_equal(vault_open(v, sealed, len, &out, &out_len), 0);
	assert_string_equal((const char *)out, secret);
	vault_plain_free(out, out_len);

	/* The all-zero key is refused. */
	uint8_t zero[VAULT_KEY_LEN] = {0};
	struct vault *z = (struct vault *)&zero;
	assert_int_equal(vault_new_from_key(zero, &z), -EINVAL);
	assert_ptr_equal(z, (struct vault *)&zero);

	free(sealed);
	vault_free(v);
	vault_free(w);
}

static void test_keygen_and_load(void **state)
{
	char path[256], text[64] = {0}, err[256] = "";
	uint8_t key[VAULT_KEY_LEN], *sealed = NULL, *out = NULL;
	struct vault *v = NULL, *w = NULL;
	size_t len = 0, out_len = 0;
	struct stat st;
	mode_t old;
	int fd;

	(void)state;
	path_of(path, sizeof(path), "master.key");
	/* Whatever the umask, the file is exactly 0600 (0277 alone would leave 0400). */
	old = umask(0277);
	assert_int_equal(vault_keygen_file(path), 0);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 45);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, text, sizeof(text)), 45);
	close(fd);
	assert_int_equal(text[44], '\n');
	text[44] = '\0';
	assert_int_equal(wg_key_from_base64(text, key), 0);

	/* Never replaced. */
	assert_int_equal(vault_keygen_file(path), -EEXIST);
	char again[64] = {0};
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, again, sizeof(again)), 45);
	close(fd);
	again[44] = '\0';
	assert_string_equal(again, text);

	/* The loaded key is the file's key: it opens what a vault over those bytes sealed. */
	assert_int_equal(vault_load(path, &v, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(vault_new_from_key(key, &w), 0);
	assert_int_equal(vault_seal(w, "psk", 3, &sealed, &len), 0);
	assert_int_equal(vault_open(v, sealed, len, &out, &out_len), 0);
	assert_int_equal(out_len, 3);
	assert_memory_equal(out, "psk", 3);
	vault_plain_free(out, out_len);
	free(sealed);
	vault_free(w);
	vault_free(v);
	v = NULL;

	/* Two generated keys differ. */
	char path2[256], text2[64] = {0};
	path_of(path2, sizeof(path2), "master2.key");
	assert_int_equal(vault_keygen_file(path2), 0);
	fd = open(path2, O_RDONLY);
	assert_int_equal(read(fd, text2, sizeof(text2)), 45);
	close(fd);
	text2[44] = '\0';
	assert_string_not_equal(text, text2);

	/* Without the newline it loads as well. */
	write_file(path2, text, 44, 0600);
	assert_int_equal(vault_load(path2, &v, err, sizeof(err)), 0);
	v = vault_free(v);
	/* 0400 is fine too. */
	assert_int_equal(chmod(path2, 0400), 0);
	assert_int_equal(vault_load(path2, &v, err, sizeof(err)), 0);
	v = vault_free(v);

	/* keygen does not follow a symlink, even a dangling one. */
	char link[256], target[256];
	path_of(link, sizeof(link), "link.key");
	path_of(target, sizeof(target), "target.key");
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(vault_keygen_file(link), -EEXIST);
	assert_int_equal(access(target, F_OK), -1);
	assert_int_equal(vault_keygen_file(""), -EINVAL);
	assert_int_equal(vault_keygen_file(NULL), -EINVAL);
	char nodir[300];
	snprintf(nodir, sizeof(nodir), "%s/missing/master.key", dir);
	assert_int_equal(vault_keygen_file(nodir), -ENOENT);
}

/* vault_load(path) fails with want, names the file, never quotes content, sets nothing. */
static void expect_load_error(const char *path, int want, const char *reason,
			      const char *content)
{
	struct vault *v = (struct vault *)path;
	char err[512] = "";

	assert_int_equal(vault_load(path, &v, err, sizeof(err)), want);
	assert_ptr_equal(v, (struct vault *)path);
	assert_non_null(strstr(err, path));
	if (!strstr(err, reason))
		fail_msg("\"%s\" does not say \"%s\"", err, reason);
	if (content && strlen(content) >= 8) {
		char head[9];

		memcpy(head, content, 8);
		head[8] = '\0';
		assert_null(strstr(err, head));
	}
}

static void test_load_refuses(void **state)
{
	static const char good[] = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
	static const struct {
		const char *content;
		const char *reason;
	} bad[] = {
	    {"", "empty"},
	    {"\n", "empty"},
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA", "wrong length"},
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\r\n", "wrong length"},
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\n\n", "wrong length"},
	    {" AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", "wrong length"},
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
	     "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
	     "wrong length"},
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA==", "wrong length"},
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB=", "not base64"}, /* non-canonical */
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH*A=", "not base64"},
	    {"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAA", "not base64"},
	    {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "all zeros"},
	};
	char path[256];

	(void)state;
	path_of(path, sizeof(path), "bad.key");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i].content, strlen(bad[i].content), 0600);
		expect_load_error(path, -EINVAL, bad[i].reason, bad[i].content);
	}

	/* Group or others may read (or write, or execute) it. */
	static const mode_t modes[] = {0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(path, good, strlen(good), modes[i]);
		expect_load_error(path, -EPERM, "group or others", good);
	}
	write_file(path, good, strlen(good), 0600);
	struct vault *v = NULL;
	assert_int_equal(vault_load(path, &v, NULL, 0), 0);
	vault_free(v);

	/* Missing, a directory, a FIFO (must not block), a symlink to a good file is fine. */
	char missing[256];
	path_of(missing, sizeof(missing), "missing.key");
	expect_load_error(missing, -ENOENT, "No such file", NULL);
	expect_load_error(dir, -EINVAL, "not a regular file", NULL);
	char fifo[256];
	path_of(fifo, sizeof(fifo), "fifo.key");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	expect_load_error(fifo, -EINVAL, "not a regular file", NULL);
	char link[256];
	path_of(link, sizeof(link), "good.link");
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(vault_load(link, &v, NULL, 0), 0);
	vault_free(v);

	char err[64] = "";
	assert_int_equal(vault_load(NULL, &v, err, sizeof(err)), -EINVAL);
	assert_string_not_equal(err, "");
	assert_int_equal(vault_load("", &v, NULL, 0), -EINVAL);

	/* A short error buffer is truncated, still terminated. */
	char small[8];
	memset(small, 'x', sizeof(small));
	assert_int_equal(vault_load(missing, &v, small, sizeof(small)), -ENOENT);
	assert_int_equal(small[7], '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seal_open),
	    cmocka_unit_test(test_open_refuses),
	    cmocka_unit_test(test_keygen_and_load),
	    cmocka_unit_test(test_load_refuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
