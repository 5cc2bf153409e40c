// SPDX-License-Identifier: MIT
/* QR codes as PNG (controller/qrpng.c), checked by independent decoders: zbarimg (libpng,
 * zlib and zbar's QR reader) must read back the exact text, and Python's zlib must agree
 * with every CRC-32, the Adler-32 and the pixel layout. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "clientconf.h"
#include "qrpng.h"
#include "wgkey.h"

#ifndef ZBARIMG
#define ZBARIMG ""
#endif
#ifndef PYTHON3
#define PYTHON3 ""
#endif

/*
 * argv: png scale margin. Verifies the PNG structure and pixels; prints "ok" or a reason.
 * Independent of qrpng.c: zlib.crc32, zlib.decompress (which checks the Adler-32).
 */
static const char check_py[] =
    "import struct, sys, zlib\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "scale, margin = int(sys.argv[2]), int(sys.argv[3])\n"
    "def die(m):\n"
    "    print(m); sys.exit(1)\n"
    "if data[:8] != b'\\x89PNG\\r\\n\\x1a\\n': die('signature')\n"
    "pos, chunks = 8, []\n"
    "while pos < len(data):\n"
    "    n, = struct.unpack('>I', data[pos:pos + 4])\n"
    "    kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]\n"
    "    crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])\n"
    "    if zlib.crc32(kind + body) != crc: die('crc of %r' % kind)\n"
    "    chunks.append((kind, body)); pos += 12 + n\n"
    "if pos != len(data): die('trailing bytes')\n"
    "kinds = [k for k, _ in chunks]\n"
    "if kinds[0] != b'IHDR' or kinds[-1] != b'IEND' or b'IDAT' not in kinds:\n"
    "    die('chunks %r' % kinds)\n"
    "w, h, depth, color, comp, filt, lace = struct.unpack('>IIBBBBB', chunks[0][1])\n"
    "if (depth, color, comp, filt, lace) != (8, 0, 0, 0, 0) or w != h: die('IHDR')\n"
    "if w % scale: die('side not a multiple of scale')\n"
    "modules = w // scale - 2 * margin\n"
    "if modules < 21 or modules > 177 or (modules - 21) % 4: die('not a QR width: %d' % modules)\n"
    "raw = zlib.decompress(b''.join(b for k, b in chunks if k == b'IDAT'))\n"
    "if len(raw) != h * (w + 1): die('raw size')\n"
    "rows = [raw[y * (w + 1):(y + 1) * (w + 1)] for y in range(h)]\n"
    "if any(r[0] != 0 for r in rows): die('filter byte')\n"
    "px = [r[1:] for r in rows]\n"
    "if set(b''.join(px)) - {0, 255}: die('not black and white')\n"
    "def module(mx, my): return px[my * scale][mx * scale]\n"
    "for my in range(h // scale):\n"
    "    base = px[my * scale]\n"
    "    if base != b''.join(bytes([v]) * scale for v in base[::scale]):\n"
    "        die('block not uniform in row %d' % my)\n"
    "    if any(px[my * scale + k] != base for k in range(1, scale)):\n"
    "        die('block not uniform below row %d' % my)\n"
    "side = modules + 2 * margin\n"
    "for i in range(side):\n"
    "    for j in range(side):\n"
    "        quiet = i < margin or j < margin or i >= side - margin or j >= side - margin\n"
    "        if quiet and module(i, j) != 255: die('quiet zone')\n"
    "# the top-left finder pattern: a dark 7x7 ring, a light ring, a dark 3x3 core\n"
    "for i in range(7):\n"
    "    for j in range(7):\n"
    "        ring = max(abs(i - 3), abs(j - 3))\n"
    "        if (module(margin + i, margin + j) == 0) != (ring != 2): die('finder pattern')\n"
    "print('ok')\n";

static char dir[] = "/tmp/test_qrpng.XXXXXX";
static char py_path[64];

static int setup(void **state)
{
	FILE *f;

	(void)state;
	if (!mkdtemp(dir) || wg_key_init() < 0)
		return -1;
	snprintf(py_path, sizeof(py_path), "%s/check.py", dir);
	f = fopen(py_path, "w");
	if (!f)
		return -1;
	fputs(check_py, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_png(const char *path, const uint8_t *png, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(png, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Runs cmd and returns its standard output (malloc'ed) and exit status. */
static char *run(const char *cmd, int *ret_status, size_t *ret_len)
{
	FILE *p = popen(cmd, "r");
	size_t cap = 4096, len = 0, n;
	char *out = malloc(cap + 1);

	assert_non_null(p);
	while ((n = fread(out + len, 1, cap - len, p)) > 0) {
		len += n;
		if (len == cap)
			out = realloc(out, (cap *= 2) + 1);
	}
	out[len] = '\0';
	*ret_status = pclose(p);
	*ret_len = len;
	return out;
}

static void python_check(const char *png_path, unsigned scale, unsigned margin)
{
	char cmd[512], *out;
	size_t len;
	int status;

	if (!PYTHON3[0])
		fail_msg("python3 not found at configure time: run scripts/deps.sh");
	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s' %u %u 2>&1", PYTHON3, py_path, png_path, scale,
		 margin);
	out = run(cmd, &status, &len);
	if (status != 0 || strcmp(out, "ok\n") != 0)
		fail_msg("%s (scale %u, margin %u): %s", png_path, scale, margin, out);
	free(out);
}

static void zbar_check(const char *png_path, const char *text, size_t text_len)
{
	char cmd[512], *out;
	size_t len;
	int status;

	if (!ZBARIMG[0])
		fail_msg("zbarimg not found at configure time: run scripts/deps.sh (zbar-tools)");
	/* Its stderr goes to a file: ImageMagick chatters about D-Bus on machines without. */
	snprintf(cmd, sizeof(cmd), "'%s' --raw -q '%s' 2>'%s.err'", ZBARIMG, png_path, png_path);
	out = run(cmd, &status, &len);
	if (status != 0)
		fail_msg("zbarimg could not read %s (status %d; see %s.err)", png_path, status,
			 png_path);
	/* --raw prints the decoded bytes and a newline. */
	assert_int_equal(len, text_len + 1);
	assert_memory_equal(out, text, text_len);
	assert_int_equal(out[text_len], '\n');
	free(out);
}

/* The size of the image, from IHDR; also checks the signature and IHDR's place. */
static unsigned ihdr_side(const uint8_t *png, size_t len)
{
	static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	unsigned w, h;

	assert_true(len > 8 + 25 + 12);
	assert_memory_equal(png, sig, 8);
	assert_memory_equal(png + 8, "\0\0\0\x0dIHDR", 8);
	w = (unsigned)png[16] << 24 | (unsigned)png[17] << 16 | (unsigned)png[18] << 8 | png[19];
	h = (unsigned)png[20] << 24 | (unsigned)png[21] << 16 | (unsigned)png[22] << 8 | png[23];
	assert_int_equal(w, h);
	assert_int_equal(png[24], 8); /* bit depth */
	assert_int_equal(png[25], 0); /* grayscale */
	assert_memory_equal(png + len - 12, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
	return w;
}

/* A realistic client config: fresh keys, the controller's own formatter. */
static char *make_config(size_t *ret_len)
{
	static const char *const addrs[] = {"10.8.0.10/32", "fd00:8::a/128"};
	static const char *const dns[] = {"1.1.1.1", "2606:4700:4700::1111"};
	static const char *const allowed[] = {"0.0.0.0/0", "::/0"};
	uint8_t k[WG_KEY_LEN];
	char priv[WG_KEY_B64_LEN], pub[WG_KEY_B64_LEN], psk[WG_KEY_B64_LEN];
	struct clientconf c = {
	    .private_key = priv,
	    .addresses = addrs,
	    .n_addresses = 2,
	    .dns = dns,
	    .n_dns = 2,
	    .server_public_key = pub,
	    .preshared_key = psk,
	    .endpoint = "nl-ams-1.vpn.example.com:51820",
	    .allowed_ips = allowed,
	    .n_allowed_ips = 2,
	    .persistent_keepalive = 25,
	};
	char *text = NULL;

	assert_int_equal(wg_key_generate_private(k), 0);
	wg_key_to_base64(priv, k);
	assert_int_equal(wg_key_generate_private(k), 0);
	wg_key_to_base64(pub, k);
	assert_int_equal(wg_key_generate_preshared(k), 0);
	wg_key_to_base64(psk, k);
	assert_int_equal(clientconf_format(&c, &text, ret_len), 0);
	return text;
}

static void test_config_roundtrip(void **state)
{
	static const struct {
		unsigned scale, margin;
	} sizes[] = {{QRPNG_DEFAULT_SCALE, QRPNG_DEFAULT_MARGIN}, {3, 4}, {4, 16}};
	size_t text_len = 0;
	char *text = make_config(&text_len);

	(void)state;
	assert_true(text_len >= 330 && text_len <= 400);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *png = NULL;
		size_t len = 0;
		char path[128];

		assert_int_equal(
		    qrpng_encode(text, text_len, sizes[i].scale, sizes[i].margin, &png, &len), 0);
		unsigned side = ihdr_side(png, len);
		assert_int_equal(side % sizes[i].scale, 0);
		snprintf(path, sizeof(path), "%s/config-%zu.png", dir, i);
		write_png(path, png, len);
		python_check(path, sizes[i].scale, sizes[i].margin);
		zbar_check(path, text, text_len);
		assert_null(qrpng_free(png, len));
	}
	clientconf_text_free(text, text_len);
}

static void test_sizes(void **state)
{
	char *text = malloc(5000), path[128];
	uint8_t *png = NULL;
	size_t len = 0;

	(void)state;
	/* Bytes of every value, including NUL and non-UTF-8: 8-bit mode carries them all. */
	for (size_t i = 0; i < 5000; i++)
		text[i] = (char)(i * 7 + 3);

	/* The smallest symbol (version 1, 21 modules), no quiet zone, one pixel per module. */
	assert_int_equal(qrpng_encode("x", 1, 1, 0, &png, &len), 0);
	assert_int_equal(ihdr_side(png, len), 21);
	snprintf(path, sizeof(path), "%s/tiny.png", dir);
	write_png(path, png, len);
	python_check(path, 1, 0);
	png = qrpng_free(png, len);

	/* Version 40 at M holds 2331 bytes, not 2332. The largest image: many stored blocks. */
	assert_int_equal(qrpng_encode(text, 2331, QRPNG_SCALE_MAX, QRPNG_MARGIN_MAX, &png, &len),
			 0);
	assert_int_equal(ihdr_side(png, len), (177 + 2 * QRPNG_MARGIN_MAX) * QRPNG_SCALE_MAX);
	snprintf(path, sizeof(path), "%s/max.png", dir);
	write_png(path, png, len);
	png = qrpng_free(png, len);
	python_check(path, QRPNG_SCALE_MAX, QRPNG_MARGIN_MAX);

	/* Same text at a scale zbar reads quickly: the bytes come back. Printable ones only,
	 * since zbar may re-encode what it takes for text in another character set. */
	for (size_t i = 0; i < 2331; i++)
		text[i] = (char)(' ' + i % 95);
	assert_int_equal(qrpng_encode(text, 2331, 4, 4, &png, &len), 0);
	snprintf(path, sizeof(path), "%s/v40.png", dir);
	write_png(path, png, len);
	png = qrpng_free(png, len);
	zbar_check(path, text, 2331);

	uint8_t *untouched = (uint8_t *)"sentinel";
	size_t untouched_len = 5;
	assert_int_equal(qrpng_encode(text, 2332, 1, 0, &untouched, &untouched_len), -EINVAL);
	assert_int_equal(qrpng_encode(text, 5000, 1, 0, &untouched, &untouched_len), -EINVAL);
	assert_int_equal(qrpng_encode(text, 0, 1, 0, &untouched, &untouched_len), -EINVAL);
	assert_int_equal(qrpng_encode(NULL, 5, 1, 0, &untouched, &untouched_len), -EINVAL);
	assert_int_equal(qrpng_encode(text, 5, 0, 0, &untouched, &untouched_len), -EINVAL);
	assert_int_equal(qrpng_encode(text, 5, QRPNG_SCALE_MAX + 1, 0, &untouched, &untouched_len),
			 -EINVAL);
	assert_int_equal(
	    qrpng_encode(text, 5, 1, QRPNG_MARGIN_MAX + 1, &untouched, &untouched_len), -EINVAL);
	assert_int_equal(qrpng_encode(text, 5, 1, 0, NULL, &untouched_len), -EINVAL);
	assert_string_equal((const char *)untouched, "sentinel");
	assert_int_equal(untouched_len, 5);
	assert_null(qrpng_free(NULL, 3));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_roundtrip),
	    cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
