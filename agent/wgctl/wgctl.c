// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "wgctl.h"
#include "wglink.h"
#include "wgnl.h"
#include "wguapi.h"

struct wgctl {
	char name[WG_IFNAME_MAX + 1];
	enum wgctl_backend backend;
	struct wgnl *nl;
	struct wguapi *uapi;
};

int wgctl_open(const char *ifname, struct wgctl **ret)
{
	struct wgctl *c;
	int r;

	if (wg_ifname_validate(ifname) < 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	memcpy(c->name, ifname, strlen(ifname) + 1);

	/* wg(8)'s rule: a UAPI socket for this name wins over a kernel link of that name. */
	if (wguapi_has_socket(ifname)) {
		c->backend = WGCTL_BACKEND_UAPI;
		r = wguapi_open(ifname, &c->uapi);
	} else {
		c->backend = WGCTL_BACKEND_NETLINK;
		r = wgnl_open(&c->nl);
	}
	if (r < 0)
		goto out;
	*ret = c;
	c = NULL;
out:
	wgctl_close(c);
	return r;
}

struct wgctl *wgctl_close(struct wgctl *c)
{
	if (!c)
		return NULL;
	wgnl_close(c->nl);
	wguapi_close(c->uapi);
	free(c);
	return NULL;
}

enum wgctl_backend wgctl_backend(const struct wgctl *c)
{
	return c->backend;
}

const char *wgctl_backend_name(enum wgctl_backend b)
{
	return b == WGCTL_BACKEND_UAPI ? "uapi" : "netlink";
}

int wgctl_set(struct wgctl *c, const struct wg_device *dev)
{
	if (!dev || strcmp(dev->name, c->name))
		return -EINVAL;
	if (c->backend == WGCTL_BACKEND_UAPI)
		return wguapi_set_device(c->uapi, dev);
	return wgnl_set_device(c->nl, dev);
}

int wgctl_get(struct wgctl *c, struct wg_device **ret)
{
	if (c->backend == WGCTL_BACKEND_UAPI)
		return wguapi_get_device(c->uapi, ret);
	return wgnl_get_device(c->nl, c->name, ret);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int wgctl_list(char ***ret_names)
{
	char **kernel = NULL, **uapi = NULL, **all = NULL;
	size_t nk, nu, n = 0;
	int r;

	r = wglink_list_wireguard(&kernel);
	if (r < 0)
		goto out;
	r = wguapi_list(&uapi);
	if (r < 0)
		goto out;
	nk = strv_length(kernel);
	nu = strv_length(uapi);
	all = calloc(nk + nu + 1, sizeof(char *));
	if (!all) {
		r = -ENOMEM;
		goto out;
	}
	/* Move the strings over; the vectors themselves are freed empty below. */
	for (size_t i = 0; i < nk; i++, n++)
		all[n] = kernel[i], kernel[i] = NULL;
	for (size_t i = 0; i < nu; i++, n++)
		all[n] = uapi[i], uapi[i] = NULL;
	qsort(all, n, sizeof(char *), cmp_str);
	/* A name with both a link and a socket (wireguard-go's TUN) is listed once. */
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w && !strcmp(all[w - 1], all[i])) {
			free(all[i]);
			continue;
		}
		all[w++] = all[i];
	}
	all[w] = NULL;
	*ret_names = all;
	all = NULL;
	r = 0;
out:
	strv_free(kernel);
	strv_free(uapi);
	strv_free(all);
	return r;
}

const char *wgctl_strerror(int r)
{
	switch (-r) {
	case 0:
		return "success";
	case ENODEV:
		return "no such interface";
	case EOPNOTSUPP:
		return "not a WireGuard interface";
	case EPROTONOSUPPORT:
		return "kernel WireGuard not available (no module) and no userspace WireGuard socket";
	case EINVAL:
		return "invalid argument";
	case EADDRINUSE:
		return "listen port already in use";
	case ECONNRESET:
		return "userspace WireGuard closed the connection without a reply";
	case EPERM:
		return "operation not permitted (needs CAP_NET_ADMIN)";
	case EMSGSIZE:
		return "message too large for one netlink buffer";
	case EBADMSG:
		return "malformed reply from WireGuard";
	default:
		return strerror(-r);
	}
}
