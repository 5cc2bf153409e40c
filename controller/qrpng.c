// SPDX-License-Identifier: MIT
/*
 * PNG layout (RFC 2083, zlib RFC 1950, deflate RFC 1951 section 3.2.4):
 *
 *   89 50 4E 47 0D 0A 1A 0A                       signature
 *   len "IHDR" width height 8 0 0 0 0 crc         8-bit grayscale, no interlace
 *   len "IDAT" 78 01 {block}... adler32 crc       zlib, stored deflate blocks
 *   0 "IEND" crc
 *
 * Each image row is a filter byte (0, none) and one byte per pixel. A stored block is
 * BFINAL|BTYPE=00 in one byte, then LEN and its complement NLEN (little-endian, LEN at
 * most 65535), then LEN bytes as they are.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <qrencode.h>
#include <sodium.h>

#include "qrpng.h"

#define STORED_MAX 65535U
#define ADLER_MOD 65521U
/* The largest n with 255 * n * (n + 1) / 2 + (n + 1) * (ADLER_MOD - 1) < 2^32 (zlib). */
#define ADLER_NMAX 5552U
#define PNG_CHUNK_MAX 0x7fffffffU

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static void crc32_table(uint32_t table[static 256])
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		table[n] = c;
	}
}

static uint32_t crc32_of(const uint32_t table[static 256], const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffU;

	for (size_t i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffU;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* The zlib stream being written: stored blocks cut wherever 65535 bytes are full. */
struct zstore {
	uint8_t *out;
	size_t left;     /* raw bytes still to come, this block's included */
	size_t in_block; /* raw bytes still to come in the open block */
	uint32_t s1, s2; /* Adler-32 */
	unsigned since_mod;
};

static void zstore_write(struct zstore *z, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (z->in_block == 0) {
			size_t blen = z->left < STORED_MAX ? z->left : STORED_MAX;

			*z->out++ = blen == z->left ? 1 : 0; /* BFINAL on the last block */
			*z->out++ = (uint8_t)blen;
			*z->out++ = (uint8_t)(blen >> 8);
			*z->out++ = (uint8_t)~blen;
			*z->out++ = (uint8_t)(~blen >> 8);
			z->in_block = blen;
		}
		size_t k = n < z->in_block ? n : z->in_block;

		memcpy(z->out, p, k);
		for (size_t i = 0; i < k; i++) {
			z->s1 += p[i];
			z->s2 += z->s1;
			if (++z->since_mod == ADLER_NMAX) {
				z->s1 %= ADLER_MOD;
				z->s2 %= ADLER_MOD;
				z->since_mod = 0;
			}
		}
		z->out += k;
		z->in_block -= k;
		z->left -= k;
		p += k;
		n -= k;
	}
}

static uint32_t zstore_adler(struct zstore *z)
{
	return (z->s2 % ADLER_MOD) << 16 | (z->s1 % ADLER_MOD);
}

static int render(const QRcode *qr, unsigned scale, unsigned margin, uint8_t **ret_png,
		  size_t *ret_len)
{
	uint32_t crc_table[256];
	size_t modules = (size_t)qr->width + 2 * (size_t)margin;
	size_t side = modules * scale;
	size_t row_len = 1 + side;
	size_t raw = side * row_len;
	size_t blocks = (raw + STORED_MAX - 1) / STORED_MAX;
	size_t zlen = 2 + 5 * blocks + raw + 4;
	size_t png_len = sizeof(png_signature) + (12 + 13) + (12 + zlen) + 12;
	struct zstore z = {.left = raw, .s1 = 1};
	uint8_t *png = NULL, *row = NULL, *p, *chunk;
	int r = 0;

	/* Bounded by the arguments' ranges (a 6688-pixel side at most), but checked. */
	if (side == 0 || side > UINT32_MAX || zlen > PNG_CHUNK_MAX)
		return -EINVAL;
	png = malloc(png_len);
	row = malloc(row_len);
	if (!png || !row) {
		r = -ENOMEM;
		goto out;
	}
	crc32_table(crc_table);

	p = png;
	memcpy(p, png_signature, sizeof(png_signature));
	p += sizeof(png_signature);

	chunk = p;
	p = put32(p, 13);
	memcpy(p, "IHDR", 4);
	p = put32(p + 4, (uint32_t)side);
	p = put32(p, (uint32_t)side);
	*p++ = 8; /* bit depth */
	*p++ = 0; /* grayscale */
	*p++ = 0; /* deflate */
	*p++ = 0; /* adaptive filtering, of which each row uses type 0 */
	*p++ = 0; /* no interlace */
	p = put32(p, crc32_of(crc_table, chunk + 4, 4 + 13));

	chunk = p;
	p = put32(p, (uint32_t)zlen);
	memcpy(p, "IDAT", 4);
	p += 4;
	/* CMF 0x78: deflate, 32 KiB window; FLG 0x01: no dictionary, (CMF*256+FLG) % 31 == 0. */
	*p++ = 0x78;
	*p++ = 0x01;
	z.out = p;
	for (size_t y = 0; y < side; y++) {
		size_t my = y / scale;
		/* This pixel row's row of modules; NULL in the quiet zone above and below. */
		const unsigned char *line = NULL;

		if (my >= margin && my < margin + (size_t)qr->width)
			line = qr->data + (my - margin) * (size_t)qr->width;
		row[0] = 0; /* filter type: none */
		for (size_t mx = 0; mx < modules; mx++) {
			bool dark = line && mx >= margin && mx < margin + (size_t)qr->width &&
				    (line[mx - margin] & 1);

			memset(row + 1 + mx * scale, dark ? 0x00 : 0xff, scale);
		}
		zstore_write(&z, row, row_len);
	}
	p = put32(z.out, zstore_adler(&z));
	p = put32(p, crc32_of(crc_table, chunk + 4, 4 + zlen));

	chunk = p;
	p = put32(p, 0);
	memcpy(p, "IEND", 4);
	p = put32(p + 4, crc32_of(crc_table, chunk + 4, 4));

	if ((size_t)(p - png) != png_len) {
		r = -EIO; /* the size computation above is wrong: a bug, not bad input */
		goto out;
	}
	*ret_png = png;
	*ret_len = png_len;
	png = NULL;
out:
	if (row)
		sodium_memzero(row, row_len);
	free(row);
	if (png)
		sodium_memzero(png, png_len);
	free(png);
	return r;
}

int qrpng_encode(const char *text, size_t len, unsigned scale, unsigned margin,
		 uint8_t **ret_png, size_t *ret_len)
{
	QRcode *qr;
	int r;

	if (!text || len == 0 || len > INT_MAX || scale < 1 || scale > QRPNG_SCALE_MAX ||
	    margin > QRPNG_MARGIN_MAX || !ret_png || !ret_len)
		return -EINVAL;
	errno = 0;
	qr = QRcode_encodeData((int)len, (const unsigned char *)text, 0, QR_ECLEVEL_M);
	if (!qr)
		/* ERANGE: too long for version 40; EINVAL: bad input. */
		return errno == ENOMEM ? -ENOMEM : -EINVAL;
	r = render(qr, scale, margin, ret_png, ret_len);
	/* The modules are the text in another form. */
	sodium_memzero(qr->data, (size_t)qr->width * (size_t)qr->width);
	QRcode_free(qr);
	return r;
}

uint8_t *qrpng_free(uint8_t *png, size_t len)
{
	if (png) {
		sodium_memzero(png, len);
		free(png);
	}
	return NULL;
}
