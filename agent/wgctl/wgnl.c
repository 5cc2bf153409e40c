// SPDX-License-Identifier: MIT
/*
 * Kernel WireGuard over generic netlink. The one file that knows libmnl and
 * <linux/wireguard.h>: everything above it speaks struct wg_device.
 *
 * Writes are chunked into WGNL_SET_BUFSIZE messages, each acknowledged before the next;
 * reads parse a multi-part dump with libmnl's two levels of callbacks: a per-attribute
 * callback only validates and files attributes into tb[], the code above it reads tb[].
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>

#include "wgfleet/macro.h"
#include "wgnl.h"

/*
 * The kernel sizes each dump message to the reader's buffer but never above 32 KiB; with
 * twice that, a datagram can never be truncated (MSG_TRUNC would be -ENOSPC).
 */
#define WGNL_RECV_BUFSIZE (64 * 1024)
/* Largest errno the kernel reports; anything else in an error field is garbage. */
#define WGNL_MAX_ERRNO 4095

struct wgnl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	uint16_t family_id;
	size_t recv_used; /* high-water mark of recvbuf since the last wipe */
	/* Both buffers can hold keys (a SET, or an ACK echoing it, or a dump): wiped after use. */
	uint8_t sendbuf[WGNL_SET_BUFSIZE] __attribute__((aligned(8)));
	uint8_t recvbuf[WGNL_RECV_BUFSIZE] __attribute__((aligned(8)));
};

struct wgnl_dump {
	struct wg_device *dev; /* allocated on the first feed */
	int state;             /* 1: more expected, 0: NLMSG_DONE seen, < 0: failed (sticky) */
};

/* ---- SET: the chunking builder (pure) ---- */

static uint32_t peer_wire_flags(uint32_t flags, bool resumed)
{
	uint32_t wire = 0;

	if (flags & WG_PEER_REMOVE_ME)
		wire |= WGPEER_F_REMOVE_ME;
	/* A resumed peer must only add: clearing again would drop the IPs just sent. */
	if ((flags & WG_PEER_REPLACE_ALLOWEDIPS) && !resumed)
		wire |= WGPEER_F_REPLACE_ALLOWEDIPS;
	if (flags & WG_PEER_UPDATE_ONLY)
		wire |= WGPEER_F_UPDATE_ONLY;
	return wire;
}

static bool put_allowedip(struct nlmsghdr *nlh, size_t buflen, const struct wg_allowedip *ip)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, buflen, 0);
	bool v4 = ip->family == AF_INET;

	if (!nest)
		return false;
	if (!mnl_attr_put_u16_check(nlh, buflen, WGALLOWEDIP_A_FAMILY, ip->family) ||
	    !mnl_attr_put_check(nlh, buflen, WGALLOWEDIP_A_IPADDR,
				v4 ? sizeof(ip->ip4) : sizeof(ip->ip6),
				v4 ? (const void *)&ip->ip4 : (const void *)&ip->ip6) ||
	    !mnl_attr_put_u8_check(nlh, buflen, WGALLOWEDIP_A_CIDR_MASK, ip->cidr)) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

/*
 * Put peer from its allowed IP *ip on (0: the whole peer; > 0: a resumed peer, which
 * repeats only its public key). Returns 1 when the rest of the peer fit, 0 when the
 * message filled up after at least one allowed IP (*ip is where to resume), -EMSGSIZE
 * when nothing useful fit (the peer's nest is cancelled, *ip untouched).
 *
 * A peer's first part always carries at least one allowed IP if it has any, so ip == 0
 * unambiguously means "not started" and every message makes progress.
 */
static int put_peer(struct nlmsghdr *nlh, size_t buflen, const struct wg_peer *peer, size_t *ip)
{
	const bool resumed = *ip > 0;
	const uint32_t wire = peer_wire_flags(peer->flags, resumed);
	struct nlattr *nest, *ips;
	size_t i = *ip;

	nest = mnl_attr_nest_start_check(nlh, buflen, 0);
	if (!nest)
		return -EMSGSIZE;
	if (!mnl_attr_put_check(nlh, buflen, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, peer->public_key))
		goto cancel;
	/*
	 * UPDATE_ONLY is repeated in a resumed part: without it, the rest of a peer that did
	 * not exist (and so was skipped) would be created by the second part.
	 */
	if (wire && !mnl_attr_put_u32_check(nlh, buflen, WGPEER_A_FLAGS, wire))
		goto cancel;
	if (peer->flags & WG_PEER_REMOVE_ME) {
		/* The kernel ignores the rest of a removed peer; a resumed part would revive it. */
		mnl_attr_nest_end(nlh, nest);
		return 1;
	}
	if (!resumed) {
		if ((peer->flags & WG_PEER_HAS_PRESHARED_KEY) &&
		    !mnl_attr_put_check(nlh, buflen, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN,
					peer->preshared_key))
			goto cancel;
		if (peer->flags & WG_PEER_HAS_ENDPOINT) {
			/* The kernel wants the exact sockaddr size of the family. */
			size_t len = peer->endpoint.addr.sa_family == AF_INET
					     ? sizeof(peer->endpoint.addr4)
					     : sizeof(peer->endpoint.addr6);

			if (!mnl_attr_put_check(nlh, buflen, WGPEER_A_ENDPOINT, len,
						&peer->endpoint))
				goto cancel;
		}
		if ((peer->flags & WG_PEER_HAS_KEEPALIVE) &&
		    !mnl_attr_put_u16_check(nlh, buflen, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
					    peer->persistent_keepalive))
			goto cancel;
	}
	if (i < peer->n_ips) {
		ips = mnl_attr_nest_start_check(nlh, buflen, WGPEER_A_ALLOWEDIPS);
		if (!ips)
			goto cancel;
		while (i < peer->n_ips && put_allowedip(nlh, buflen, &peer->ips[i]))
			i++;
		if (i == *ip)
			goto cancel; /* cancelling the peer's nest drops the IP nest too */
		mnl_attr_nest_end(nlh, ips);
	}
	mnl_attr_nest_end(nlh, nest);
	if (i < peer->n_ips) {
		*ip = i;
		return 0;
	}
	return 1;
cancel:
	mnl_attr_nest_cancel(nlh, nest);
	return -EMSGSIZE;
}

static bool cursor_valid(const struct wg_device *dev, const struct wgnl_set_cursor *c)
{
	if (c->peer > dev->n_peers)
		return false;
	if (c->peer == dev->n_peers)
		return c->ip == 0 && c->msgs == 0; /* past the end: everything was built */
	return c->ip <= dev->peers[c->peer].n_ips;
}

int wgnl_build_set_msg(const struct wg_device *dev, uint16_t family_id, uint32_t seq, void *buf,
		       size_t buflen, struct wgnl_set_cursor *cursor, size_t *ret_len)
{
	struct wgnl_set_cursor c;
	struct genlmsghdr *genl;
	struct nlmsghdr *nlh;
	struct nlattr *peers;
	bool progress = false;
	int r;

	if (!dev || !buf || !cursor || !ret_len)
		return -EINVAL;
	c = *cursor;
	/* Validating once, on the first message, keeps a 50,000-peer SET linear. */
	if (c.msgs == 0) {
		r = wg_device_validate(dev);
		if (r < 0)
			return r;
	}
	if (!cursor_valid(dev, &c))
		return -EINVAL;
	/* nla_len is 16 bits: a PEERS nest must stay below 64 KiB. */
	if (buflen > UINT16_MAX)
		buflen = UINT16_MAX;
	if (buflen < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*genl)))
		return -EMSGSIZE;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = family_id;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_SET_DEVICE;
	genl->version = WG_GENL_VERSION;
	if (!mnl_attr_put_strz_check(nlh, buflen, WGDEVICE_A_IFNAME, dev->name))
		return -EMSGSIZE;

	if (c.msgs == 0) {
		if ((dev->flags & WG_DEVICE_HAS_PRIVATE_KEY) &&
		    !mnl_attr_put_check(nlh, buflen, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN,
					dev->private_key))
			return -EMSGSIZE;
		if ((dev->flags & WG_DEVICE_HAS_LISTEN_PORT) &&
		    !mnl_attr_put_u16_check(nlh, buflen, WGDEVICE_A_LISTEN_PORT, dev->listen_port))
			return -EMSGSIZE;
		if ((dev->flags & WG_DEVICE_HAS_FWMARK) &&
		    !mnl_attr_put_u32_check(nlh, buflen, WGDEVICE_A_FWMARK, dev->fwmark))
			return -EMSGSIZE;
		if ((dev->flags & WG_DEVICE_REPLACE_PEERS) &&
		    !mnl_attr_put_u32_check(nlh, buflen, WGDEVICE_A_FLAGS,
					    WGDEVICE_F_REPLACE_PEERS))
			return -EMSGSIZE;
		/* The first message counts even without peers: it has to be sent anyway. */
		progress = dev->n_peers == 0 ||
			   (dev->flags & (WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT |
					  WG_DEVICE_HAS_FWMARK | WG_DEVICE_REPLACE_PEERS));
	}

	if (c.peer < dev->n_peers) {
		peers = mnl_attr_nest_start_check(nlh, buflen, WGDEVICE_A_PEERS);
		if (peers) {
			bool any = false;

			while (c.peer < dev->n_peers) {
				r = put_peer(nlh, buflen, &dev->peers[c.peer], &c.ip);
				if (r < 0)
					break;
				any = true;
				if (r == 0)
					break;
				c.peer++;
				c.ip = 0;
			}
			if (any)
				mnl_attr_nest_end(nlh, peers);
			else
				mnl_attr_nest_cancel(nlh, peers);
			progress = progress || any;
		}
	}
	if (!progress)
		return -EMSGSIZE;

	c.msgs++;
	*cursor = c;
	*ret_len = nlh->nlmsg_len;
	return c.peer == dev->n_peers;
}

/* ---- GET: the dump parser (pure) ---- */

struct attr_policy {
	bool known;
	uint16_t min, max; /* payload length */
};

#define EXACT(n) {true, (n), (n)}
#define RANGE(a, b) {true, (a), (b)}
#define NESTED RANGE(0, UINT16_MAX)

static const struct attr_policy device_policy[WGDEVICE_A_MAX + 1] = {
	[WGDEVICE_A_IFINDEX] = EXACT(sizeof(uint32_t)),
	[WGDEVICE_A_IFNAME] = RANGE(1, WG_IFNAME_MAX + 1),
	[WGDEVICE_A_PRIVATE_KEY] = EXACT(WG_KEY_LEN),
	[WGDEVICE_A_PUBLIC_KEY] = EXACT(WG_KEY_LEN),
	[WGDEVICE_A_FLAGS] = EXACT(sizeof(uint32_t)),
	[WGDEVICE_A_LISTEN_PORT] = EXACT(sizeof(uint16_t)),
	[WGDEVICE_A_FWMARK] = EXACT(sizeof(uint32_t)),
	[WGDEVICE_A_PEERS] = NESTED,
};

static const struct attr_policy peer_policy[WGPEER_A_MAX + 1] = {
	[WGPEER_A_PUBLIC_KEY] = EXACT(WG_KEY_LEN),
	[WGPEER_A_PRESHARED_KEY] = EXACT(WG_KEY_LEN),
	[WGPEER_A_FLAGS] = EXACT(sizeof(uint32_t)),
	[WGPEER_A_ENDPOINT] = RANGE(sizeof(struct sockaddr_in), sizeof(struct sockaddr_in6)),
	[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL] = EXACT(sizeof(uint16_t)),
	[WGPEER_A_LAST_HANDSHAKE_TIME] = EXACT(sizeof(struct __kernel_timespec)),
	[WGPEER_A_RX_BYTES] = EXACT(sizeof(uint64_t)),
	[WGPEER_A_TX_BYTES] = EXACT(sizeof(uint64_t)),
	[WGPEER_A_ALLOWEDIPS] = NESTED,
	[WGPEER_A_PROTOCOL_VERSION] = EXACT(sizeof(uint32_t)),
};

static const struct attr_policy allowedip_policy[WGALLOWEDIP_A_MAX + 1] = {
	[WGALLOWEDIP_A_FAMILY] = EXACT(sizeof(uint16_t)),
	[WGALLOWEDIP_A_IPADDR] = RANGE(sizeof(struct in_addr), sizeof(struct in6_addr)),
	[WGALLOWEDIP_A_CIDR_MASK] = EXACT(sizeof(uint8_t)),
};

struct attr_table {
	const struct nlattr **tb;
	const struct attr_policy *policy;
	unsigned max_type;
	const char *end; /* end of the last attribute libmnl handed us */
};

/* Per-attribute callback: validate and file, nothing else. */
static int attr_table_cb(const struct nlattr *attr, void *data)
{
	struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(attr);
	uint16_t len = mnl_attr_get_payload_len(attr);

	t->end = (const char *)attr + MNL_ALIGN(attr->nla_len);
	/* Unknown types are skipped, so a newer kernel's additions do not break us. */
	if (type > t->max_type || !t->policy[type].known)
		return MNL_CB_OK;
	if (len < t->policy[type].min || len > t->policy[type].max)
		return MNL_CB_ERROR;
	t->tb[type] = attr;
	return MNL_CB_OK;
}

static int parse_table(const void *payload, size_t len, const struct attr_policy *policy,
		       unsigned max_type, const struct nlattr **tb)
{
	struct attr_table t = {.tb = tb, .policy = policy, .max_type = max_type, .end = payload};

	memset(tb, 0, (max_type + 1) * sizeof(*tb));
	if (mnl_attr_parse_payload(payload, len, attr_table_cb, &t) != MNL_CB_OK)
		return -EBADMSG;
	/* libmnl stops quietly at a truncated attribute; a well-formed payload is used up. */
	if (t.end < (const char *)payload + len)
		return -EBADMSG;
	return 0;
}

struct array_walk {
	int (*fn)(const struct nlattr *elem, void *data);
	void *data;
	const char *end;
	int error;
};

static int array_walk_cb(const struct nlattr *elem, void *data)
{
	struct array_walk *w = data;
	int r;

	w->end = (const char *)elem + MNL_ALIGN(elem->nla_len);
	r = w->fn(elem, w->data);
	if (r < 0) {
		w->error = r;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/* Call fn for each element of a nested array (PEERS, ALLOWEDIPS); element types are indexes. */
static int parse_array(const struct nlattr *nest, int (*fn)(const struct nlattr *, void *),
		       void *data)
{
	const char *payload = mnl_attr_get_payload(nest);
	struct array_walk w = {.fn = fn, .data = data, .end = payload};

	if (mnl_attr_parse_nested(nest, array_walk_cb, &w) != MNL_CB_OK)
		return w.error < 0 ? w.error : -EBADMSG;
	if (w.end < payload + mnl_attr_get_payload_len(nest))
		return -EBADMSG;
	return 0;
}

static int parse_allowedip(const struct nlattr *elem, void *data)
{
	const struct nlattr *tb[WGALLOWEDIP_A_MAX + 1];
	struct wg_peer *peer = data;
	struct wg_allowedip ip = {0};
	uint16_t len;
	int r;

	r = parse_table(mnl_attr_get_payload(elem), mnl_attr_get_payload_len(elem),
			allowedip_policy, WGALLOWEDIP_A_MAX, tb);
	if (r < 0)
		return r;
	if (!tb[WGALLOWEDIP_A_FAMILY] || !tb[WGALLOWEDIP_A_IPADDR] || !tb[WGALLOWEDIP_A_CIDR_MASK])
		return -EBADMSG;
	ip.family = mnl_attr_get_u16(tb[WGALLOWEDIP_A_FAMILY]);
	ip.cidr = mnl_attr_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
	len = mnl_attr_get_payload_len(tb[WGALLOWEDIP_A_IPADDR]);
	if (ip.family == AF_INET && len == sizeof(ip.ip4))
		memcpy(&ip.ip4, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), len);
	else if (ip.family == AF_INET6 && len == sizeof(ip.ip6))
		memcpy(&ip.ip6, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), len);
	else
		return -EBADMSG;
	if (wg_allowedip_validate(&ip) < 0)
		return -EBADMSG;
	return wg_peer_add_allowedip(peer, &ip);
}

static int parse_endpoint(const struct nlattr *attr, union wg_endpoint *ret)
{
	union wg_endpoint ep;
	uint16_t len = mnl_attr_get_payload_len(attr);

	memset(&ep, 0, sizeof(ep));
	memcpy(&ep, mnl_attr_get_payload(attr), len); /* len <= sizeof(sockaddr_in6) by policy */
	if (!(ep.addr.sa_family == AF_INET && len == sizeof(ep.addr4)) &&
	    !(ep.addr.sa_family == AF_INET6 && len == sizeof(ep.addr6)))
		return -EBADMSG;
	*ret = ep;
	return 0;
}

static int parse_peer(const struct nlattr *elem, void *data)
{
	const struct nlattr *tb[WGPEER_A_MAX + 1];
	struct wg_device *dev = data;
	struct wg_peer *peer;
	union wg_endpoint ep;
	const uint8_t *key;
	int r;

	r = parse_table(mnl_attr_get_payload(elem), mnl_attr_get_payload_len(elem), peer_policy,
			WGPEER_A_MAX, tb);
	if (r < 0)
		return r;
	if (!tb[WGPEER_A_PUBLIC_KEY])
		return -EBADMSG;
	if (tb[WGPEER_A_ENDPOINT]) {
		r = parse_endpoint(tb[WGPEER_A_ENDPOINT], &ep);
		if (r < 0)
			return r;
	}
	key = mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]);
	/*
	 * A peer whose allowed IPs did not fit is continued at the start of the next part with
	 * its public key only. Comparing with the last peer alone keeps the parse linear.
	 */
	if (dev->n_peers && !memcmp(dev->peers[dev->n_peers - 1].public_key, key, WG_KEY_LEN)) {
		peer = &dev->peers[dev->n_peers - 1];
	} else {
		r = wg_device_add_peer(dev, key, &peer);
		if (r < 0)
			return r;
	}
	if (tb[WGPEER_A_PRESHARED_KEY]) {
		memcpy(peer->preshared_key, mnl_attr_get_payload(tb[WGPEER_A_PRESHARED_KEY]),
		       WG_KEY_LEN);
		peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
	}
	if (tb[WGPEER_A_ENDPOINT]) {
		peer->endpoint = ep;
		peer->flags |= WG_PEER_HAS_ENDPOINT;
	}
	if (tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]) {
		peer->persistent_keepalive =
			mnl_attr_get_u16(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
		peer->flags |= WG_PEER_HAS_KEEPALIVE;
	}
	if (tb[WGPEER_A_LAST_HANDSHAKE_TIME]) {
		struct __kernel_timespec ts;

		memcpy(&ts, mnl_attr_get_payload(tb[WGPEER_A_LAST_HANDSHAKE_TIME]), sizeof(ts));
		peer->last_handshake_sec = ts.tv_sec;
		peer->last_handshake_nsec = ts.tv_nsec;
		peer->flags |= WG_PEER_HAS_STATS;
	}
	if (tb[WGPEER_A_RX_BYTES]) {
		peer->rx_bytes = mnl_attr_get_u64(tb[WGPEER_A_RX_BYTES]);
		peer->flags |= WG_PEER_HAS_STATS;
	}
	if (tb[WGPEER_A_TX_BYTES]) {
		peer->tx_bytes = mnl_attr_get_u64(tb[WGPEER_A_TX_BYTES]);
		peer->flags |= WG_PEER_HAS_STATS;
	}
	if (tb[WGPEER_A_ALLOWEDIPS]) {
		const struct nlattr *attr;
		size_t n = 0;

		/* One allocation per part instead of one per doubling. */
		mnl_attr_for_each_nested(attr, tb[WGPEER_A_ALLOWEDIPS])
			n++;
		r = grow_array((void **)&peer->ips, &peer->cap_ips, peer->n_ips + n,
			       sizeof(*peer->ips));
		if (r < 0)
			return r;
		r = parse_array(tb[WGPEER_A_ALLOWEDIPS], parse_allowedip, peer);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_device_msg(struct wg_device *dev, const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[WGDEVICE_A_MAX + 1];
	const struct genlmsghdr *genl;
	const size_t hdrlen = MNL_ALIGN(sizeof(*genl));
	size_t len = mnl_nlmsg_get_payload_len(nlh);
	int r;

	if (len < hdrlen)
		return -EBADMSG;
	genl = mnl_nlmsg_get_payload(nlh);
	if (genl->cmd != WG_CMD_GET_DEVICE)
		return -EBADMSG;
	r = parse_table(mnl_nlmsg_get_payload_offset(nlh, sizeof(*genl)), len - hdrlen,
			device_policy, WGDEVICE_A_MAX, tb);
	if (r < 0)
		return r;

	/* Device attributes come only in the first part: each is optional in every part. */
	if (tb[WGDEVICE_A_IFNAME]) {
		const char *name = mnl_attr_get_payload(tb[WGDEVICE_A_IFNAME]);
		size_t max = mnl_attr_get_payload_len(tb[WGDEVICE_A_IFNAME]);
		size_t n = strnlen(name, max);

		if (n == 0 || n == max || n > WG_IFNAME_MAX)
			return -EBADMSG;
		memcpy(dev->name, name, n + 1);
	}
	if (tb[WGDEVICE_A_IFINDEX])
		dev->ifindex = mnl_attr_get_u32(tb[WGDEVICE_A_IFINDEX]);
	if (tb[WGDEVICE_A_PRIVATE_KEY]) {
		memcpy(dev->private_key, mnl_attr_get_payload(tb[WGDEVICE_A_PRIVATE_KEY]),
		       WG_KEY_LEN);
		dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
	}
	if (tb[WGDEVICE_A_PUBLIC_KEY]) {
		memcpy(dev->public_key, mnl_attr_get_payload(tb[WGDEVICE_A_PUBLIC_KEY]),
		       WG_KEY_LEN);
		dev->flags |= WG_DEVICE_HAS_PUBLIC_KEY;
	}
	if (tb[WGDEVICE_A_LISTEN_PORT]) {
		dev->listen_port = mnl_attr_get_u16(tb[WGDEVICE_A_LISTEN_PORT]);
		dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
	}
	if (tb[WGDEVICE_A_FWMARK]) {
		dev->fwmark = mnl_attr_get_u32(tb[WGDEVICE_A_FWMARK]);
		dev->flags |= WG_DEVICE_HAS_FWMARK;
	}
	if (tb[WGDEVICE_A_PEERS])
		return parse_array(tb[WGDEVICE_A_PEERS], parse_peer, dev);
	return 0;
}

/* The int in NLMSG_ERROR / NLMSG_DONE as -errno; out of range means a corrupt message. */
static int kernel_error(const struct nlmsghdr *nlh, int *ret)
{
	int err;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(err))
		return -EBADMSG;
	memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
	if (err < -WGNL_MAX_ERRNO || err > WGNL_MAX_ERRNO)
		return -EBADMSG;
	*ret = err > 0 ? -err : err;
	return 0;
}

/*
 * mnl_nlmsg_ok() compares (int)nlmsg_len with what is left: a length of 2 GiB or more
 * turns negative and passes. Compare unsigned as well.
 */
static bool msg_ok(const struct nlmsghdr *nlh, int rem)
{
	return mnl_nlmsg_ok(nlh, rem) && nlh->nlmsg_len <= (uint32_t)rem;
}

/* Per-message callback: 1 to go on, 0 at NLMSG_DONE, -errno. */
static int parse_msg(struct wg_device *dev, const struct nlmsghdr *nlh)
{
	int err, r;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		return -EAGAIN;
	switch (nlh->nlmsg_type) {
	case NLMSG_NOOP:
		return 1;
	case NLMSG_ERROR:
		r = kernel_error(nlh, &err);
		if (r < 0)
			return r;
		/* A dump ends with NLMSG_DONE; a bare ACK in its place is not a reply. */
		return err < 0 ? err : -EBADMSG;
	case NLMSG_DONE:
		r = kernel_error(nlh, &err);
		if (r < 0)
			return r;
		return err;
	default:
		break;
	}
	if (nlh->nlmsg_type < NLMSG_MIN_TYPE)
		return -EBADMSG;
	r = parse_device_msg(dev, nlh);
	return r < 0 ? r : 1;
}

int wgnl_dump_new(struct wgnl_dump **ret)
{
	struct wgnl_dump *d;

	if (!ret)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->state = 1;
	*ret = d;
	return 0;
}

struct wgnl_dump *wgnl_dump_free(struct wgnl_dump *d)
{
	if (!d)
		return NULL;
	wg_device_free(d->dev);
	free(d);
	return NULL;
}

static void dump_reset(struct wgnl_dump *d)
{
	d->dev = wg_device_free(d->dev);
	d->state = 1;
}

int wgnl_dump_feed(struct wgnl_dump *d, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh;
	int rem, r;

	if (!d || (!buf && len))
		return -EINVAL;
	if (d->state < 0)
		return d->state;
	if (d->state == 0)
		return -EINVAL; /* the dump is complete: take it first */
	/* Headers are read in place: the buffer must be aligned as any recv buffer is. */
	if ((uintptr_t)buf % NLMSG_ALIGNTO)
		return -EINVAL;
	if (len > INT_MAX) {
		r = -EBADMSG;
		goto fail;
	}
	if (!d->dev) {
		d->dev = calloc(1, sizeof(*d->dev));
		if (!d->dev)
			return -ENOMEM;
	}

	rem = (int)len;
	for (nlh = buf; msg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		r = parse_msg(d->dev, nlh);
		if (r < 0)
			goto fail;
		if (r == 0) {
			/* Whatever follows NLMSG_DONE is not part of this dump. */
			d->state = 0;
			return 0;
		}
	}
	/* Bytes left that do not make a whole message: the datagram was cut short. */
	if (rem > 0) {
		r = -EBADMSG;
		goto fail;
	}
	return 1;
fail:
	d->state = r;
	return r;
}

int wgnl_dump_take(struct wgnl_dump *d, struct wg_device **ret)
{
	if (!d || !ret || d->state != 0 || !d->dev)
		return -EINVAL;
	*ret = d->dev;
	d->dev = NULL;
	d->state = 1;
	return 0;
}

/* ---- I/O ---- */

struct wgnl *wgnl_close(struct wgnl *nl)
{
	if (!nl)
		return NULL;
	if (nl->sock)
		mnl_socket_close(nl->sock);
	/*
	 * Each call wiped the bytes it used (wipe_buffers); nothing else in the handle is
	 * secret. Wiping all ~100 KiB here would fault in pages no call touched.
	 */
	free(nl);
	return NULL;
}

static void wipe_buffers(struct wgnl *nl, size_t sent)
{
	wg_key_wipe(nl->sendbuf, sent);
	wg_key_wipe(nl->recvbuf, nl->recv_used);
	nl->recv_used = 0;
}

static int send_msg(struct wgnl *nl, const struct nlmsghdr *nlh)
{
	ssize_t n = mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len);

	if (n < 0)
		return negative_errno();
	return (size_t)n == nlh->nlmsg_len ? 0 : -EIO;
}

/* Receive the next datagram that answers seq; others are leftovers of an abandoned request. */
static int recv_reply(struct wgnl *nl, uint32_t seq, size_t *ret_len)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)nl->recvbuf;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->recvbuf, sizeof(nl->recvbuf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		if ((size_t)n > nl->recv_used)
			nl->recv_used = (size_t)n;
		if ((size_t)n >= sizeof(*nlh) && nlh->nlmsg_seq != seq)
			continue;
		*ret_len = (size_t)n;
		return 0;
	}
}

/* Send one request and run libmnl's callbacks over the reply until the ACK. */
static int request(struct wgnl *nl, const struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	size_t len;
	int r;

	r = send_msg(nl, nlh);
	if (r < 0)
		return r;
	for (;;) {
		r = recv_reply(nl, nlh->nlmsg_seq, &len);
		if (r < 0)
			return r;
		r = mnl_cb_run(nl->recvbuf, len, nlh->nlmsg_seq, nl->portid, cb, data);
		if (r == MNL_CB_ERROR)
			return negative_errno(); /* libmnl set errno from NLMSG_ERROR */
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	uint16_t *id = data;

	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_get_payload_len(attr) == sizeof(uint16_t))
		*id = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int family_msg_cb(const struct nlmsghdr *nlh, void *data)
{
	if (mnl_nlmsg_get_payload_len(nlh) < MNL_ALIGN(sizeof(struct genlmsghdr))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data);
}

static int resolve_family(struct wgnl *nl)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->sendbuf);
	struct genlmsghdr *genl;
	uint16_t id = 0;
	int r;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = CTRL_CMD_GETFAMILY;
	genl->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	r = request(nl, nlh, family_msg_cb, &id);
	if (r == -ENOENT)
		return -EPROTONOSUPPORT; /* no such family: the module is not there */
	if (r < 0)
		return r;
	if (id == 0)
		return -EBADMSG;
	nl->family_id = id;
	return 0;
}

int wgnl_open(struct wgnl **ret)
{
	struct wgnl *nl;
	int one = 1;
	int r;

	if (!ret)
		return -EINVAL;
	/* Only the header is zeroed: clearing ~100 KiB of buffers would fault in pages that
	 * a small call never touches. */
	nl = malloc(sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	memset(nl, 0, offsetof(struct wgnl, sendbuf));
	nl->sock = mnl_socket_open(NETLINK_GENERIC);
	if (!nl->sock) {
		r = negative_errno();
		goto out;
	}
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = negative_errno();
		goto out;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	/* ACKs need not echo each chunk back; older kernels ignore the option. */
	(void)mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
	r = resolve_family(nl);
	if (r < 0)
		goto out;
	*ret = nl;
	nl = NULL;
	r = 0;
out:
	wgnl_close(nl);
	return r;
}

int wgnl_set_device(struct wgnl *nl, const struct wg_device *dev)
{
	struct wgnl_set_cursor cursor = {0};
	size_t len, sent = 0;
	int r, last;

	/* Invalid input sends nothing: the kernel would apply the chunks before the bad one. */
	r = wg_device_validate(dev);
	if (r < 0)
		return r;
	if (!nl)
		return -EINVAL;
	do {
		r = wgnl_build_set_msg(dev, nl->family_id, ++nl->seq, nl->sendbuf,
				       sizeof(nl->sendbuf), &cursor, &len);
		if (r < 0)
			goto out;
		if (len > sent)
			sent = len;
		last = r;
		r = request(nl, (const struct nlmsghdr *)nl->sendbuf, NULL, NULL);
		if (r < 0)
			goto out;
		r = last;
	} while (r == 0);
	r = 0;
out:
	wipe_buffers(nl, sent);
	return r;
}

/* true if the datagram holds the end of its request (NLMSG_DONE or NLMSG_ERROR). */
static bool ends_reply(const void *buf, size_t len)
{
	const struct nlmsghdr *nlh;
	int rem = (int)len;

	for (nlh = buf; msg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem))
		if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR)
			return true;
	return false;
}

/*
 * One dump attempt. A dump we stop reading keeps running in the kernel and would make the
 * next request fail with EBUSY, so on error the rest of it is read and dropped.
 */
static int dump_once(struct wgnl *nl, const char *ifname, struct wgnl_dump *d)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->sendbuf);
	struct genlmsghdr *genl;
	size_t len = 0;
	int r, q;

	nlh->nlmsg_type = nl->family_id;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl->seq;
	genl = mnl_nlmsg_put_extra_header(nlh, sizeof(*genl));
	genl->cmd = WG_CMD_GET_DEVICE;
	genl->version = WG_GENL_VERSION;
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	r = send_msg(nl, nlh);
	if (r < 0)
		return r;
	do {
		r = recv_reply(nl, nlh->nlmsg_seq, &len);
		if (r < 0)
			return r;
		r = wgnl_dump_feed(d, nl->recvbuf, len);
	} while (r == 1);
	if (r < 0) {
		while (!ends_reply(nl->recvbuf, len)) {
			q = recv_reply(nl, nlh->nlmsg_seq, &len);
			if (q < 0)
				break;
		}
	}
	return r;
}

int wgnl_get_device(struct wgnl *nl, const char *ifname, struct wg_device **ret)
{
	struct wgnl_dump *d = NULL;
	struct wg_device *dev = NULL;
	int r;

	if (wg_ifname_validate(ifname) < 0 || !nl || !ret)
		return -EINVAL;
	r = wgnl_dump_new(&d);
	if (r < 0)
		return r;
	for (unsigned attempt = 0;; attempt++) {
		r = dump_once(nl, ifname, d);
		if (r != -EAGAIN || attempt == WGNL_DUMP_RETRIES)
			break;
		dump_reset(d); /* the device changed under the dump: start over */
	}
	if (r < 0)
		goto out;
	r = wgnl_dump_take(d, &dev);
	if (r < 0)
		goto out;
	if (!dev->name[0])
		memcpy(dev->name, ifname, strlen(ifname) + 1);
	*ret = dev;
	r = 0;
out:
	wipe_buffers(nl, 0);
	wgnl_dump_free(d);
	return r;
}
