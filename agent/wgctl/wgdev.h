/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard data model shared by every wgctl backend: a device, its peers and
 * their allowed IPs, in our own structs. Backends translate to and from the wire
 * (netlink attributes, UAPI lines); nothing else in wgfleet sees those.
 *
 * Presence bits (WG_*_HAS_*) say which optional fields carry a value; intent bits
 * (REPLACE_*, REMOVE_ME, UPDATE_ONLY) say what a SET should do. A device read back
 * from a backend has the HAS_* bits of every field the backend reported.
 *
 * Ownership: a wg_device owns its peers array; a peer owns its allowed-IP array.
 * wg_device_free() wipes the private key and every preshared key before freeing.
 * Destructors accept NULL and return NULL. Not thread-safe: one owner at a time.
 */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "wgkey.h"

#define WG_IFNAME_MAX 15 /* IFNAMSIZ - 1 */

enum {
	WG_DEVICE_REPLACE_PEERS = 1U << 0,
	WG_DEVICE_HAS_PRIVATE_KEY = 1U << 1,
	WG_DEVICE_HAS_PUBLIC_KEY = 1U << 2,
	WG_DEVICE_HAS_LISTEN_PORT = 1U << 3,
	WG_DEVICE_HAS_FWMARK = 1U << 4,
	WG_DEVICE_FLAGS_ALL = (1U << 5) - 1,
};

enum {
	WG_PEER_REMOVE_ME = 1U << 0,
	WG_PEER_REPLACE_ALLOWEDIPS = 1U << 1,
	WG_PEER_UPDATE_ONLY = 1U << 2,
	WG_PEER_HAS_PUBLIC_KEY = 1U << 3,
	WG_PEER_HAS_PRESHARED_KEY = 1U << 4,
	WG_PEER_HAS_KEEPALIVE = 1U << 5,
	WG_PEER_HAS_ENDPOINT = 1U << 6,
	WG_PEER_HAS_STATS = 1U << 7, /* handshake and byte counters are filled */
	WG_PEER_FLAGS_ALL = (1U << 8) - 1,
};

struct wg_allowedip {
	uint16_t family; /* AF_INET or AF_INET6 */
	uint8_t cidr;
	union {
		struct in_addr ip4;
		struct in6_addr ip6;
	};
};

union wg_endpoint {
	struct sockaddr addr;
	struct sockaddr_in addr4;
	struct sockaddr_in6 addr6;
};

struct wg_peer {
	uint32_t flags;
	uint8_t public_key[WG_KEY_LEN];
	uint8_t preshared_key[WG_KEY_LEN]; /* all zeros: none (and removes it in a SET) */
	union wg_endpoint endpoint;        /* family AF_UNSPEC when none */
	uint16_t persistent_keepalive;     /* seconds, 0 = off */
	int64_t last_handshake_sec;        /* 0 = never */
	int64_t last_handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
	struct wg_allowedip *ips;
	size_t n_ips, cap_ips;
};

struct wg_device {
	char name[WG_IFNAME_MAX + 1];
	uint32_t ifindex;
	uint32_t flags;
	uint8_t public_key[WG_KEY_LEN];
	uint8_t private_key[WG_KEY_LEN]; /* all zeros: none (and removes it in a SET) */
	uint32_t fwmark;                 /* 0 = off */
	uint16_t listen_port;            /* 0 = random */
	struct wg_peer *peers;
	size_t n_peers, cap_peers;
};

/* A new empty device named name; -EINVAL for an empty or too long name. */
int wg_device_new(const char *name, struct wg_device **ret);
struct wg_device *wg_device_free(struct wg_device *dev);

/* 0 if name is a valid interface name (1..15 bytes, no '/', whitespace or ':'), else -EINVAL. */
int wg_ifname_validate(const char *name);

/* Room for n peers in all, so that appending up to n never moves the array. -ENOMEM. */
int wg_device_reserve_peers(struct wg_device *dev, size_t n);
/*
 * Append a zeroed peer with the given public key (flags = HAS_PUBLIC_KEY) and return it
 * in ret (a pointer into dev->peers, valid until the next append). -ENOMEM.
 */
int wg_device_add_peer(struct wg_device *dev, const uint8_t public_key[static WG_KEY_LEN],
		       struct wg_peer **ret);
/* Linear search by public key; NULL if absent. */
struct wg_peer *wg_device_find_peer(const struct wg_device *dev,
				    const uint8_t public_key[static WG_KEY_LEN]);
/* Remove all peers (wiping their keys), keep the device attributes. */
void wg_device_clear_peers(struct wg_device *dev);

int wg_peer_add_allowedip(struct wg_peer *peer, const struct wg_allowedip *ip);
/* Release what a peer owns and wipe its keys; the peer struct itself is not freed. */
void wg_peer_done(struct wg_peer *peer);
/* Deep copy of src into *dst (dst is overwritten, not freed first). -ENOMEM. */
int wg_peer_copy(struct wg_peer *dst, const struct wg_peer *src);

/*
 * "10.0.0.0/24", "fd00::1/128", "10.0.0.1" (means /32). Rejects a mask beyond the family's
 * width, junk, and host bits are kept as given (wg(8) keeps them; the kernel masks them).
 */
int wg_allowedip_parse(const char *s, struct wg_allowedip *ret);
/* "10.0.0.0/24" into buf (at least WG_ALLOWEDIP_STRLEN bytes). */
#define WG_ALLOWEDIP_STRLEN (INET6_ADDRSTRLEN + 4)
void wg_allowedip_format(const struct wg_allowedip *ip, char buf[static WG_ALLOWEDIP_STRLEN]);
/* Compare for sorting: family, then address bytes, then cidr. */
int wg_allowedip_cmp(const struct wg_allowedip *a, const struct wg_allowedip *b);
/* 0 if family/cidr are consistent (cidr <= 32 for v4, <= 128 for v6), else -EINVAL. */
int wg_allowedip_validate(const struct wg_allowedip *ip);

/*
 * Numeric endpoint "1.2.3.4:51820" or "[fd00::1]:51820" (also "[fe80::1%eth0]:51820").
 * Host names are not resolved here (that is I/O); -EINVAL for anything non-numeric.
 */
int wg_endpoint_parse(const char *s, union wg_endpoint *ret);
/* As wg(8) prints it: "1.2.3.4:51820", "[fd00::1]:51820"; "(none)" for AF_UNSPEC. */
#define WG_ENDPOINT_STRLEN (INET6_ADDRSTRLEN + IF_NAMESIZE + 16)
void wg_endpoint_format(const union wg_endpoint *ep, char buf[static WG_ENDPOINT_STRLEN]);
bool wg_endpoint_equal(const union wg_endpoint *a, const union wg_endpoint *b);

/*
 * Check a device before it is sent: valid name, every peer has a public key, flags
 * within their masks, allowed IPs with a known family and a mask within its width,
 * endpoints of family AF_UNSPEC/AF_INET/AF_INET6. 0 or -EINVAL. Backends call this
 * before writing anything, so bad input never half-applies.
 */
int wg_device_validate(const struct wg_device *dev);
