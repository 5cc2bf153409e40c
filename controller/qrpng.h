/* SPDX-License-Identifier: MIT */
/*
 * A QR code of some bytes (a wg-quick file, for phones to scan) as a PNG image. Pure: no
 * I/O. The only file that includes <qrencode.h>.
 *
 * - The symbol: libqrencode, 8-bit byte mode, error correction level M, the smallest
 *   version that holds the text (at most 2331 bytes, version 40).
 * - The image: 8-bit grayscale, black modules (0) on white (255), scale pixels per module
 *   and a quiet zone of margin modules on every side; (width + 2 * margin) * scale pixels
 *   square. QRPNG_DEFAULT_SCALE and QRPNG_DEFAULT_MARGIN are what the API serves.
 * - The PNG is written here: signature, IHDR, one IDAT holding a zlib stream of *stored*
 *   (uncompressed) deflate blocks, IEND, with CRC-32 and Adler-32 computed here. Why not
 *   zlib or libpng: they would be one more library to build, ship and patch for a few
 *   dozen lines, and a config's QR code is small (a 350-byte config at the defaults makes
 *   a 648-pixel square, 420 KB uncompressed: well within what a bot sends as a photo).
 * - Errors: -EINVAL for a NULL or empty text, scale outside 1..32, margin outside 0..16,
 *   or a text too long for a QR code; -ENOMEM. Outputs are written only on success.
 * - The image encodes the text, which usually holds a private key: release it with
 *   qrpng_free(), which wipes it. (libqrencode's own working buffers are freed unwiped;
 *   that is beyond our control.)
 * - Thread-safe (libqrencode is built with pthreads on every target we support).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define QRPNG_SCALE_MAX 32
#define QRPNG_MARGIN_MAX 16
#define QRPNG_DEFAULT_SCALE 8
#define QRPNG_DEFAULT_MARGIN 4

/* *ret_png is a new malloc'ed buffer of *ret_len bytes. */
int qrpng_encode(const char *text, size_t len, unsigned scale, unsigned margin,
		 uint8_t **ret_png, size_t *ret_len);

/* Wipes len bytes and frees; NULL is fine. Returns NULL. */
uint8_t *qrpng_free(uint8_t *png, size_t len);
