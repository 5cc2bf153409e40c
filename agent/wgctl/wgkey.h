/* SPDX-License-Identifier: MIT */
/*
 * WireGuard keys: Curve25519 private/public keys and preshared keys, 32 bytes each.
 *
 * Contract:
 * - Encoders and decoders run in constant time with respect to the key bytes: no
 *   branch or table lookup depends on secret data, so they are safe for private keys.
 * - Decoders return 0 or -EINVAL and write ret_key only on success; a rejected input
 *   leaves ret_key untouched.
 * - Keys are plain uint8_t[WG_KEY_LEN]; wipe secret copies with wg_key_wipe().
 * - Thread-safe; wg_key_init() must have been called once (it initialises libsodium).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WG_KEY_LEN 32
#define WG_KEY_B64_LEN 45 /* 44 characters and the terminating NUL */
#define WG_KEY_HEX_LEN 65 /* 64 characters and the terminating NUL */

int wg_key_init(void);

void wg_key_to_base64(char out[static WG_KEY_B64_LEN], const uint8_t key[static WG_KEY_LEN]);
int wg_key_from_base64(const char *b64, uint8_t ret_key[static WG_KEY_LEN]);

void wg_key_to_hex(char out[static WG_KEY_HEX_LEN], const uint8_t key[static WG_KEY_LEN]);
int wg_key_from_hex(const char *hex, uint8_t ret_key[static WG_KEY_LEN]);

/* Constant time. */
bool wg_key_is_zero(const uint8_t key[static WG_KEY_LEN]);
bool wg_key_equal(const uint8_t a[static WG_KEY_LEN], const uint8_t b[static WG_KEY_LEN]);

/* A fresh random private key, clamped as RFC 7748 says. */
int wg_key_generate_private(uint8_t ret_key[static WG_KEY_LEN]);
/* A fresh random preshared key (no clamping). */
int wg_key_generate_preshared(uint8_t ret_key[static WG_KEY_LEN]);
/* X25519(private, 9). -EINVAL if the result is the all-zero point (a degenerate key). */
int wg_key_public_from_private(const uint8_t private_key[static WG_KEY_LEN],
			       uint8_t ret_public[static WG_KEY_LEN]);

/* Zero memory in a way the compiler may not elide. */
void wg_key_wipe(void *p, size_t len);
