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

static const char *const vpn_status_names[_VPN_STATUS_MAX] = {
    [VPN_PENDING] = "pending",
    [VPN_ACTIVE] = "active",
    [VPN_EXPIRED] = "expired",
    [VPN_REVOKED] = "revoked",
};

static const char *const ip_kind_names[_IP_KIND_MAX] = {
    [IP_TRIAL] = "trial",
    [IP_PAID] = "paid",
};

static const char *const node_state_names[_NODE_STATE_MAX] = {
    [NODE_ACTIVE] = "active",
    [NODE_DRAINING] = "draining",
    [NODE_DISABLED] = "disabled",
};

static const char *const node_health_names[_NODE_HEALTH_MAX] = {
    [NODE_HEALTH_UNKNOWN] = "unknown",
    [NODE_HEALTH_HEALTHY] = "healthy",
    [NODE_HEALTH_UNHEALTHY] = "unhealthy",
};

static const char *const job_kind_names[_JOB_KIND_MAX] = {
    [JOB_PROVISION] = "provision",
    [JOB_REVOKE] = "revoke",
    [JOB_RESYNC] = "resync",
    [JOB_NOTIFY] = "notify",
};

static const char *const job_state_names[_JOB_STATE_MAX] = {
    [JOB_PENDING] = "pending",
    [JOB_RUNNING] = "running",
    [JOB_DONE] = "done",
    [JOB_FAILED] = "failed",
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
NAMES(vpn_status, vpn_status_names)
NAMES(ip_kind, ip_kind_names)
NAMES(node_state, node_state_names)
NAMES(node_health, node_health_names)
NAMES(job_state, job_state_names)
NAMES(job_kind, job_kind_names)
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

/* Unlike a payment, a VPN config can end from two states; each event still has one
 * target. */
static const struct {
	unsigned from; /* 1U << enum vpn_status */
	enum vpn_status to;
} vpn_edges[_VPN_EVENT_MAX] = {
    [VPN_EVENT_ACTIVATE] = {1U << VPN_PENDING, VPN_ACTIVE},
    [VPN_EVENT_EXPIRE] = {1U << VPN_PENDING | 1U << VPN_ACTIVE, VPN_EXPIRED},
    [VPN_EVENT_REVOKE] = {1U << VPN_PENDING | 1U << VPN_ACTIVE, VPN_REVOKED},
};

int vpn_next(enum vpn_status from, enum vpn_event event, enum vpn_status *ret)
{
	if ((unsigned)event >= _VPN_EVENT_MAX || (unsigned)from >= _VPN_STATUS_MAX)
		return -EINVAL;
	if (from == vpn_edges[event].to)
		return -EALREADY;
	if (!(vpn_edges[event].from & 1U << from))
		return -EPERM;
	*ret = vpn_edges[event].to;
	return 0;
}
