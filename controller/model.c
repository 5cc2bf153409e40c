// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "model.h"

static const char *const user_status_names[_USER_STATUS_MAX] = {
    [USER_ACTIVE] = "active",
    [USER_BANNED] = "banned",
};

static const char *const vpn_type_names[_VPN_TYPE_MAX] = {
    [VPN_WIREGUARD] = "wireguard",
    [VPN_OUTLINE] = "outline",
};

static const char *const payment_method_names[_PAYMENT_METHOD_MAX] = {
    [PAYMENT_STARS] = "stars",
    [PAYMENT_QVAPAY] = "qvapay",
};

static const char *const payment_status_names[_PAYMENT_STATUS_MAX] = {
    [PAYMENT_PENDING] = "pending",
    [PAYMENT_COMPLETED] = "completed",
    [PAYMENT_FAILED] = "failed",
    [PAYMENT_REFUNDED] = "refunded",
};

static const char *name(const char *const *names, size_t n, unsigned v)
{
	return v < n ? names[v] : NULL;
}

static int lookup(const char *const *names, size_t n, const char *s, size_t len, unsigned *ret)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], s, len)) {
			*ret = (unsigned)i;
			return 0;
		}
	return -EINVAL;
}

#define NAMES(type, names)                                                                         \
	const char *type##_to_string(enum type v)                                                  \
	{                                                                                          \
		return name(names, ARRAY_SIZE(names), (unsigned)v);                                \
	}                                                                                          \
	int type##_from_string(const char *s, size_t len, enum type *ret)                          \
	{                                                                                          \
		unsigned v;                                                                        \
		int r = lookup(names, ARRAY_SIZE(names), s, len, &v);                              \
		if (r == 0)                                                                        \
			*ret = (enum type)v;                                                       \
		return r;                                                                          \
	}

NAMES(user_status, user_status_names)
NAMES(vpn_type, vpn_type_names)
NAMES(payment_method, payment_method_names)
NAMES(payment_status, payment_status_names)

/* Each event has exactly one source and one target; everything else is derived. */
static const struct {
	enum payment_status from, to;
} payment_edges[_PAYMENT_EVENT_MAX] = {
    [PAYMENT_EVENT_COMPLETE] = {PAYMENT_PENDING, PAYMENT_COMPLETED},
    [PAYMENT_EVENT_FAIL] = {PAYMENT_PENDING, PAYMENT_FAILED},
    [PAYMENT_EVENT_REFUND] = {PAYMENT_COMPLETED, PAYMENT_REFUNDED},
};

int payment_event_edge(enum payment_event event, enum payment_status *ret_from,
                       enum payment_status *ret_to)
{
	if ((unsigned)event >= _PAYMENT_EVENT_MAX)
		return -EINVAL;
	*ret_from = payment_edges[event].from;
	*ret_to = payment_edges[event].to;
	return 0;
}

int payment_next(enum payment_status from, enum payment_event event, enum payment_status *ret)
{
	if ((unsigned)event >= _PAYMENT_EVENT_MAX || (unsigned)from >= _PAYMENT_STATUS_MAX)
		return -EINVAL;
	if (from == payment_edges[event].to)
		return -EALREADY;
	if (from != payment_edges[event].from)
		return -EPERM;
	*ret = payment_edges[event].to;
	return 0;
}
