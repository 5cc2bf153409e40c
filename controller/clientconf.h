/* SPDX-License-Identifier: MIT */
/*
 * The wg-quick file a client imports: pure formatting, no I/O.
 *
 *   [Interface]
 *   PrivateKey = <base64>
 *   Address = 10.8.0.10/32, fd00::a/128
 *   DNS = 1.1.1.1, 2606:4700:4700::1111        (omitted when there is none)
 *
 *   [Peer]
 *   PublicKey = <base64>
 *   PresharedKey = <base64>                    (omitted when NULL)
 *   Endpoint = vpn.example.com:51820
 *   AllowedIPs = 0.0.0.0/0, ::/0
 *   PersistentKeepalive = 25                   (omitted when 0)
 *
 * Every field is validated and the text is produced whole or not at all (-EINVAL):
 * - keys: 44 characters of canonical base64 of 32 bytes;
 * - addresses (at least one) and allowed IPs (at least one): an IPv4 or IPv6 address with
 *   an optional /mask within its family's width; written back in canonical form, a bare
 *   address with its full-width mask ("10.8.0.10" becomes "10.8.0.10/32");
 * - dns: IPv4 or IPv6 addresses, or search domains (wg-quick's meaning of a non-address);
 * - endpoint: HOST:PORT with HOST a DNS name, a dotted-quad IPv4 address or a bracketed
 *   IPv6 address, PORT 1..65535;
 * - persistent_keepalive: 0..65535 seconds;
 * so no field can carry a newline, a control character, a comma or '=' into the file.
 *
 * The text holds the private key: free it with clientconf_text_free(), which wipes it.
 * Thread-safe (no shared state).
 */
#pragma once

#include <stddef.h>

struct clientconf {
	const char *private_key; /* base64 */
	const char *const *addresses;
	size_t n_addresses; /* "10.8.0.10/32" */
	const char *const *dns;
	size_t n_dns;
	const char *server_public_key;
	const char *preshared_key; /* NULL: none */
	const char *endpoint;
	const char *const *allowed_ips;
	size_t n_allowed_ips;
	unsigned persistent_keepalive; /* 0: omitted */
};

/*
 * *ret_text is a new malloc'ed NUL-terminated string of *ret_len bytes (not counting the
 * NUL). -EINVAL (a field is invalid; nothing produced) or -ENOMEM.
 */
int clientconf_format(const struct clientconf *c, char **ret_text, size_t *ret_len);

/* Wipes len + 1 bytes (the text and its NUL) and frees; NULL is fine. Returns NULL. */
char *clientconf_text_free(char *text, size_t len);
