/* SPDX-License-Identifier: MIT */
/*
 * WireGuard link management over rtnetlink with libnl-route-3 (see wglink.h). This is the
 * only file that includes libnl.
 *
 * Errors: libnl returns negative NLE_* codes, not errnos, and folds several kernel errors
 * into one (EEXIST and EADDRINUSE are both NLE_EXIST, anything unknown is NLE_FAILURE).
 * So each socket carries an error callback that keeps the kernel's own errno from its
 * NLMSG_ERROR reply; NLE_* codes are mapped only for errors libnl raised by itself.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "wgfleet/macro.h"
#include "wglink.h"

#define WGLINK_KIND "wireguard"

struct wglink_sock {
	struct nl_sock *sk;
	int kernel_error; /* negative errno of the kernel's last NLMSG_ERROR, or 0 */
};

static int wglink_on_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct wglink_sock *s = arg;

	/* The kernel sends a negative errno; guard against a positive one all the same. */
	s->kernel_error = e->error < 0 ? e->error : -e->error;
	return NL_STOP;
}

static int wglink_nle_to_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_SUCCESS:
		return 0;
	case NLE_INTR:
		return -EINTR;
	case NLE_BAD_SOCK:
		return -EBADF;
	case NLE_AGAIN:
	case NLE_DUMP_INTR:
		return -EAGAIN;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_INVAL:
	case NLE_MISSING_ATTR:
	case NLE_AF_MISMATCH:
	case NLE_IMMUTABLE:
		return -EINVAL;
	case NLE_RANGE:
		return -ERANGE;
	case NLE_MSGSIZE:
		return -EMSGSIZE;
	case NLE_OPNOTSUPP:
	case NLE_MSGTYPE_NOSUPPORT:
		return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND: /* every lookup here is of a link */
	case NLE_NODEV:
		return -ENODEV;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	case NLE_BUSY:
		return -EBUSY;
	case NLE_PROTO_MISMATCH:
		return -EPROTONOSUPPORT;
	case NLE_NOACCESS:
		return -EACCES;
	case NLE_PERM:
		return -EPERM;
	case NLE_SEQ_MISMATCH:
	case NLE_MSG_OVERFLOW:
	case NLE_MSG_TRUNC:
	case NLE_MSG_TOOSHORT:
	case NLE_NOATTR:
	case NLE_PARSE_ERR:
	case NLE_ATTRSIZE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* The errno for a libnl return value: the kernel's own if it sent one, else mapped. */
static int wglink_errno(struct wglink_sock *s, int nle)
{
	int err = 0;

	if (nle < 0)
		err = s->kernel_error < 0 ? s->kernel_error : wglink_nle_to_errno(nle);
	s->kernel_error = 0;
	return err;
}

/* s must stay at its address until wglink_sock_close(): the socket's callback points to it. */
static int wglink_sock_open(struct wglink_sock *s)
{
	struct nl_cb *cb;
	int err;

	*s = (struct wglink_sock){0};
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb)
		return -ENOMEM;
	err = nl_cb_err(cb, NL_CB_CUSTOM, wglink_on_error, s);
	if (err == 0) {
		s->sk = nl_socket_alloc_cb(cb); /* takes its own reference */
		if (!s->sk)
			err = -NLE_NOMEM;
	}
	nl_cb_put(cb);
	if (err == 0)
		err = nl_connect(s->sk, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(s->sk);
		s->sk = NULL;
		return wglink_nle_to_errno(err);
	}
	return 0;
}

static void wglink_sock_close(struct wglink_sock *s)
{
	nl_socket_free(s->sk); /* NULL-safe; closes the socket */
	s->sk = NULL;
}

/* The kernel's view of ifname (RTM_GETLINK by name); -ENODEV if there is none. */
static int wglink_get_link(struct wglink_sock *s, const char *ifname, struct rtnl_link **ret_link)
{
	struct rtnl_link *link = NULL;
	int err;

	err = wglink_errno(s, rtnl_link_get_kernel(s->sk, 0, ifname, &link));
	if (err < 0)
		return err;
	if (!link)
		return -ENODEV;
	*ret_link = link;
	return 0;
}

static bool wglink_is_wireguard(struct rtnl_link *link)
{
	const char *kind = rtnl_link_get_type(link);

	return kind && strcmp(kind, WGLINK_KIND) == 0;
}

/*
 * The common start of every call on an existing link: a socket and the kernel's view of
 * ifname. On success both are open; release them with wglink_release().
 */
static int wglink_acquire(const char *ifname, struct wglink_sock *s, struct rtnl_link **ret_link)
{
	int err = wglink_sock_open(s);

	if (err < 0)
		return err;
	err = wglink_get_link(s, ifname, ret_link);
	if (err < 0)
		wglink_sock_close(s);
	return err;
}

static void wglink_release(struct wglink_sock *s, struct rtnl_link *link)
{
	rtnl_link_put(link); /* NULL-safe */
	wglink_sock_close(s);
}

int wglink_create(const char *ifname)
{
	struct wglink_sock s;
	struct rtnl_link *link = NULL;
	int err;

	if (wg_ifname_validate(ifname) < 0)
		return -EINVAL;
	err = wglink_sock_open(&s);
	if (err < 0)
		return err;

	link = rtnl_link_alloc();
	if (!link) {
		err = -ENOMEM;
		goto out;
	}
	rtnl_link_set_name(link, ifname);
	err = rtnl_link_set_type(link, WGLINK_KIND);
	if (err < 0) {
		err = wglink_nle_to_errno(err);
		goto out;
	}
	/* Without the module the kernel answers EOPNOTSUPP ("Unknown device type"). */
	err = wglink_errno(&s, rtnl_link_add(s.sk, link, NLM_F_CREATE | NLM_F_EXCL));
out:
	rtnl_link_put(link);
	wglink_sock_close(&s);
	return err;
}

int wglink_delete(const char *ifname)
{
	struct wglink_sock s;
	struct rtnl_link *link = NULL;
	int err;

	if (wg_ifname_validate(ifname) < 0)
		return -EINVAL;
	err = wglink_acquire(ifname, &s, &link);
	if (err < 0)
		return err;
	/* A mistyped name must not take down the host's uplink. */
	if (!wglink_is_wireguard(link)) {
		err = -EOPNOTSUPP;
		goto out;
	}
	/* By the ifindex just read: a link renamed in between is not someone else's. */
	err = wglink_errno(&s, rtnl_link_delete(s.sk, link));
out:
	wglink_release(&s, link);
	return err;
}

/* Apply the attributes set in changes to ifname. */
static int wglink_change(const char *ifname, struct rtnl_link *changes)
{
	struct wglink_sock s;
	struct rtnl_link *link = NULL;
	int err;

	err = wglink_acquire(ifname, &s, &link);
	if (err < 0)
		return err;
	err = wglink_errno(&s, rtnl_link_change(s.sk, link, changes, 0));
	wglink_release(&s, link);
	return err;
}

int wglink_set_mtu(const char *ifname, unsigned mtu)
{
	struct rtnl_link *changes;
	int err;

	if (wg_ifname_validate(ifname) < 0)
		return -EINVAL;
	changes = rtnl_link_alloc();
	if (!changes)
		return -ENOMEM;
	/* The bounds are the device's (min_mtu/max_mtu): the kernel checks them. */
	rtnl_link_set_mtu(changes, mtu);
	err = wglink_change(ifname, changes);
	rtnl_link_put(changes);
	return err;
}

int wglink_set_up(const char *ifname, bool up)
{
	struct rtnl_link *changes;
	int err;

	if (wg_ifname_validate(ifname) < 0)
		return -EINVAL;
	changes = rtnl_link_alloc();
	if (!changes)
		return -ENOMEM;
	if (up)
		rtnl_link_set_flags(changes, IFF_UP);
	else
		rtnl_link_unset_flags(changes, IFF_UP);
	err = wglink_change(ifname, changes);
	rtnl_link_put(changes);
	return err;
}

int wglink_add_address(const char *ifname, const struct wg_allowedip *prefix)
{
	struct wglink_sock s;
	struct rtnl_link *link = NULL;
	struct rtnl_addr *addr = NULL;
	struct nl_addr *local = NULL;
	const void *bytes;
	size_t len;
	int err;

	if (wg_ifname_validate(ifname) < 0 || !prefix || wg_allowedip_validate(prefix) < 0)
		return -EINVAL;
	if (prefix->family == AF_INET) {
		bytes = &prefix->ip4;
		len = sizeof(prefix->ip4);
	} else {
		bytes = &prefix->ip6;
		len = sizeof(prefix->ip6);
	}
	err = wglink_acquire(ifname, &s, &link);
	if (err < 0)
		return err;
	/* Host bits are kept: for an interface address they are the address itself. */
	local = nl_addr_build(prefix->family, bytes, len);
	addr = rtnl_addr_alloc();
	if (!local || !addr) {
		err = -ENOMEM;
		goto out;
	}
	nl_addr_set_prefixlen(local, prefix->cidr);
	rtnl_addr_set_ifindex(addr, rtnl_link_get_ifindex(link));
	err = rtnl_addr_set_local(addr, local); /* also sets family and prefix length */
	if (err < 0) {
		err = wglink_nle_to_errno(err);
		goto out;
	}
	/* EXCL: an address already there is -EEXIST, as the header promises. */
	err = wglink_errno(&s, rtnl_addr_add(s.sk, addr, NLM_F_EXCL));
out:
	rtnl_addr_put(addr);
	nl_addr_put(local);
	wglink_release(&s, link);
	return err;
}

int wglink_list_wireguard(char ***ret_names)
{
	struct wglink_sock s;
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	char **names = NULL;
	size_t n = 0, i = 0;
	int err;

	if (!ret_names)
		return -EINVAL;
	err = wglink_sock_open(&s);
	if (err < 0)
		return err;

	/* libnl restarts the dump by itself when NLM_F_DUMP_INTR says links changed. */
	err = wglink_errno(&s, rtnl_link_alloc_cache(s.sk, AF_UNSPEC, &cache));
	if (err < 0)
		goto out;

	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj))
		if (wglink_is_wireguard((struct rtnl_link *)obj))
			n++;
	names = calloc(n + 1, sizeof(*names));
	if (!names) {
		err = -ENOMEM;
		goto out;
	}
	for (obj = nl_cache_get_first(cache); obj && i < n; obj = nl_cache_get_next(obj)) {
		struct rtnl_link *link = (struct rtnl_link *)obj;
		const char *name = rtnl_link_get_name(link);

		if (!wglink_is_wireguard(link))
			continue;
		names[i] = strdup(name ? name : "");
		if (!names[i]) {
			err = -ENOMEM;
			goto out;
		}
		i++;
	}
	*ret_names = names;
	names = NULL;
	err = 0;
out:
	strv_free(names);
	nl_cache_free(cache);
	wglink_sock_close(&s);
	return err;
}

int wglink_ifindex(const char *ifname)
{
	struct wglink_sock s;
	struct rtnl_link *link = NULL;
	int err;

	if (wg_ifname_validate(ifname) < 0)
		return -EINVAL;
	err = wglink_acquire(ifname, &s, &link);
	if (err < 0)
		return err;
	err = rtnl_link_get_ifindex(link);
	if (err <= 0)
		err = -ENODEV;
	wglink_release(&s, link);
	return err;
}
