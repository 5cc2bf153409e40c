/* SPDX-License-Identifier: MIT */
/*
 * The controller's records as our own types: the enumerated values of the schema and
 * their names in the database (docs/schema.md). Pure code.
 */
#pragma once

#include <stdint.h>

enum user_status {
	USER_ACTIVE,
	USER_BANNED,
	_USER_STATUS_MAX,
};

enum vpn_type {
	VPN_WIREGUARD,
	VPN_OUTLINE,
	_VPN_TYPE_MAX,
};

enum vpn_status {
	VPN_PENDING, /* created, waiting for the agent */
	VPN_ACTIVE,
	VPN_EXPIRED,
	VPN_REVOKED,
	_VPN_STATUS_MAX,
};

/* What an IP assignment is for: a trial or a paid config. */
enum ip_kind {
	IP_TRIAL,
	IP_PAID,
	_IP_KIND_MAX,
};

enum node_state {
	NODE_ACTIVE,
	NODE_DRAINING, /* keeps its configs, takes no new ones */
	NODE_DISABLED,
	_NODE_STATE_MAX,
};

/* How the last polls of a node went: unknown until the first one. */
enum node_health {
	NODE_HEALTH_UNKNOWN,
	NODE_HEALTH_HEALTHY,
	NODE_HEALTH_UNHEALTHY,
	_NODE_HEALTH_MAX,
};

enum job_state {
	JOB_PENDING,
	JOB_RUNNING,
	JOB_DONE,
	JOB_FAILED,
	_JOB_STATE_MAX,
};

/* What a job does: the first three talk to a node's agent, notify sends a webhook. */
enum job_kind {
	JOB_PROVISION,
	JOB_REVOKE,
	JOB_RESYNC,
	JOB_NOTIFY,
	_JOB_KIND_MAX,
};

enum payment_method {
	PAYMENT_STARS,
	PAYMENT_QVAPAY,
	_PAYMENT_METHOD_MAX,
};

enum payment_status {
	PAYMENT_PENDING,
	PAYMENT_COMPLETED,
	PAYMENT_FAILED,
	PAYMENT_REFUNDED,
	_PAYMENT_STATUS_MAX,
};

/* The name as stored in the database, or NULL for a value out of range. */
const char *user_status_to_string(enum user_status s);
const char *vpn_type_to_string(enum vpn_type t);
const char *vpn_status_to_string(enum vpn_status s);
const char *ip_kind_to_string(enum ip_kind k);
const char *node_state_to_string(enum node_state s);
const char *node_health_to_string(enum node_health h);
const char *job_state_to_string(enum job_state s);
const char *job_kind_to_string(enum job_kind k);
const char *payment_method_to_string(enum payment_method m);
const char *payment_status_to_string(enum payment_status s);

/* The value of a stored name (exact match, len bytes); -EINVAL if unknown. */
int user_status_from_string(const char *s, size_t len, enum user_status *ret);
int vpn_type_from_string(const char *s, size_t len, enum vpn_type *ret);
int vpn_status_from_string(const char *s, size_t len, enum vpn_status *ret);
int ip_kind_from_string(const char *s, size_t len, enum ip_kind *ret);
int node_state_from_string(const char *s, size_t len, enum node_state *ret);
int node_health_from_string(const char *s, size_t len, enum node_health *ret);
int job_state_from_string(const char *s, size_t len, enum job_state *ret);
int job_kind_from_string(const char *s, size_t len, enum job_kind *ret);
int payment_method_from_string(const char *s, size_t len, enum payment_method *ret);
int payment_status_from_string(const char *s, size_t len, enum payment_status *ret);

/*
 * The payment state machine:
 *
 *   pending --complete--> completed --refund--> refunded
 *   pending --fail------> failed
 *
 * payment_next() gives where event leads from `from`: 0 and *ret; -EALREADY if the
 * payment is already where the event leads (a repeated confirmation); -EPERM if the event
 * is not allowed from there (a refund of a pending payment).
 */
enum payment_event {
	PAYMENT_EVENT_COMPLETE,
	PAYMENT_EVENT_FAIL,
	PAYMENT_EVENT_REFUND,
	_PAYMENT_EVENT_MAX,
};

int payment_next(enum payment_status from, enum payment_event event, enum payment_status *ret);

/* The single state an event leaves and the one it enters: the guard of its UPDATE. */
int payment_event_edge(enum payment_event event, enum payment_status *ret_from,
                       enum payment_status *ret_to);

/*
 * The VPN config state machine:
 *
 *   pending --activate--> active
 *   pending, active --expire--> expired
 *   pending, active --revoke--> revoked
 *
 * expired and revoked are final. vpn_next() answers like payment_next(): 0 and *ret,
 * -EALREADY if the config is already where the event leads, -EPERM if the event is not
 * allowed from there. The states an event leaves are the guard of its UPDATE
 * (db_stmt.c).
 */
enum vpn_event {
	VPN_EVENT_ACTIVATE,
	VPN_EVENT_EXPIRE,
	VPN_EVENT_REVOKE,
	_VPN_EVENT_MAX,
};

int vpn_next(enum vpn_status from, enum vpn_event event, enum vpn_status *ret);
