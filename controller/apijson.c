// SPDX-License-Identifier: MIT
/*
 * The API's objects as JSON. Kept apart from the handlers so that the shape of every
 * answer is in one place, free of database calls, and can be tested on its own.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "apijson.h"
#include "model.h"

const char *const apijson_roles[] = {"admin", "superadmin"};
const size_t apijson_n_roles = sizeof(apijson_roles) / sizeof(apijson_roles[0]);

json_t *apijson_time(int64_t us)
{
	char buf[32];
	struct tm tm;
	/* Floor division: a (theoretical) time before 1970 still rounds down. Without
	 * negating us, which overflows for INT64_MIN. */
	time_t sec = (time_t)(us / 1000000 - (us % 1000000 < 0));

	if (us == 0)
		return json_null();
	if (!gmtime_r(&sec, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return json_null();
	return json_string(buf);
}

json_t *apijson_count(uint64_t v)
{
	return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

/* A stored name of an enum, or null for a value this build does not know. */
static json_t *name_or_null(const char *name)
{
	return name ? json_string(name) : json_null();
}

json_t *apijson_vpn_addresses(const char *config)
{
	json_t *arr = json_array(), *cfg = NULL, *v;
	size_t i;

	if (!arr || !config)
		return arr;
	cfg = json_loads(config, 0, NULL);
	json_array_foreach(json_object_get(cfg, "addresses"), i, v)
	{
		if (json_is_string(v) && json_array_append(arr, v) < 0) {
			json_decref(arr);
			arr = NULL;
			break;
		}
	}
	json_decref(cfg);
	return arr;
}

json_t *apijson_user(const struct db_user *u, const char *const *roles, size_t n_roles)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n_roles; i++)
		if (json_array_append_new(arr, json_string(roles[i])) < 0)
			arr = (json_decref(arr), NULL);
	return json_pack("{s:I, s:s?, s:s?, s:s?, s:o, s:o, s:o}", "telegram_id",
	                 (json_int_t)u->telegram_id, "username", u->username, "first_name",
	                 u->first_name, "last_name", u->last_name, "status",
	                 name_or_null(user_status_to_string(u->status)), "roles", arr, "created_at",
	                 apijson_time(u->created_at_us));
}

json_t *apijson_vpn(const struct db_vpn *v, int64_t telegram_id, const char *node,
                    const struct db_job *job)
{
	json_t *j = job ? json_pack("{s:I, s:o}", "id", (json_int_t)job->id, "state",
	                            name_or_null(job_state_to_string(job->state)))
	                : json_null();

	return json_pack(
	    "{s:I, s:I, s:s?, s:o, s:s, s:o, s:b, s:o, s:s?, s:o, s:o, s:o, s:o, "
	    "s:o, s:o}",
	    "id", (json_int_t)v->id, "telegram_id", (json_int_t)telegram_id, "node", node, "type",
	    name_or_null(vpn_type_to_string(v->type)), "name", v->name ? v->name : "", "status",
	    name_or_null(vpn_status_to_string(v->status)), "trial", (int)v->is_trial, "addresses",
	    apijson_vpn_addresses(v->config), "public_key", v->peer_public_key, "bandwidth_bytes",
	    apijson_count(v->bandwidth_bytes), "created_at", apijson_time(v->created_at_us),
	    "activated_at", apijson_time(v->activated_at_us), "expires_at",
	    apijson_time(v->expires_at_us), "revoked_at", apijson_time(v->revoked_at_us), "job", j);
}

json_t *apijson_payment(const struct db_payment *p, int64_t telegram_id)
{
	return json_pack(
	    "{s:I, s:I, s:o, s:I, s:s, s:o, s:I, s:s?, s:o, s:o, s:s?, s:o, s:o, "
	    "s:o}",
	    "id", (json_int_t)p->id, "telegram_id", (json_int_t)telegram_id, "method",
	    name_or_null(payment_method_to_string(p->method)), "amount", (json_int_t)p->amount,
	    "currency", p->currency, "vpn_type", name_or_null(vpn_type_to_string(p->vpn_type)),
	    "months", (json_int_t)p->months, "charge_id", p->provider_charge_id, "status",
	    name_or_null(payment_status_to_string(p->status)), "vpn_id",
	    p->vpn_config_id ? json_integer((json_int_t)p->vpn_config_id) : json_null(),
	    "failure_reason", p->failure_reason, "created_at", apijson_time(p->created_at_us),
	    "completed_at", apijson_time(p->completed_at_us), "refunded_at",
	    apijson_time(p->refunded_at_us));
}

json_t *apijson_node(const struct db_node *n)
{
	/* Stored as the agent reported it; shown as JSON, not as a string of JSON. */
	json_t *pools = n->pools ? json_loads(n->pools, 0, NULL) : NULL;

	return json_pack(
	    "{s:I, s:s?, s:s?, s:s?, s:s?, s:o, s:o, s:o, s:s?, s:o, s:s?, s:o, "
	    "s:o}",
	    "id", (json_int_t)n->id, "name", n->name, "agent_url", n->agent_url, "endpoint",
	    n->endpoint, "public_key", n->public_key, "pools", pools ? pools : json_null(), "state",
	    name_or_null(node_state_to_string(n->state)), "health",
	    name_or_null(node_health_to_string(n->health)), "boot_id", n->boot_id, "last_seen_at",
	    apijson_time(n->last_seen_at_us), "last_error", n->last_error, "free_addresses",
	    apijson_count(n->free_addresses), "peers", apijson_count(n->peers));
}

json_t *apijson_job(const struct db_job *j, const char *node)
{
	return json_pack(
	    "{s:I, s:o, s:o, s:s?, s:o, s:I, s:o, s:s?, s:o, s:o}", "id", (json_int_t)j->id, "kind",
	    name_or_null(job_kind_to_string(j->kind)), "state",
	    name_or_null(job_state_to_string(j->state)), "node", node, "vpn_id",
	    j->vpn_config_id ? json_integer((json_int_t)j->vpn_config_id) : json_null(), "attempts",
	    (json_int_t)j->attempts, "next_attempt_at", apijson_time(j->next_attempt_at_us),
	    "last_error", j->last_error, "created_at", apijson_time(j->created_at_us),
	    "finished_at", apijson_time(j->finished_at_us));
}

/* {name: count} for n states named by name_of. */
static json_t *by_name(const uint64_t *counts, size_t n, const char *(*name_of)(int))
{
	json_t *obj = json_object();

	for (size_t i = 0; obj && i < n; i++) {
		const char *name = name_of((int)i);

		if (name && json_object_set_new(obj, name, apijson_count(counts[i])) < 0)
			obj = (json_decref(obj), NULL);
	}
	return obj;
}

/* Adapters: the enums' to_string functions take their own enum type. */
static const char *user_status_name(int i)
{
	return user_status_to_string((enum user_status)i);
}

static const char *vpn_status_name(int i)
{
	return vpn_status_to_string((enum vpn_status)i);
}

static const char *payment_status_name(int i)
{
	return payment_status_to_string((enum payment_status)i);
}

static const char *job_state_name(int i)
{
	return job_state_to_string((enum job_state)i);
}

json_t *apijson_status(const struct db_status *st, const struct db_node *nodes, size_t n_nodes)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n_nodes; i++) {
		const struct db_node *n = &nodes[i];
		json_t *o = json_pack("{s:s?, s:o, s:o, s:o, s:o}", "name", n->name, "state",
		                      name_or_null(node_state_to_string(n->state)), "health",
		                      name_or_null(node_health_to_string(n->health)), "peers",
		                      apijson_count(n->peers), "free_addresses",
		                      apijson_count(n->free_addresses));

		if (json_array_append_new(arr, o) < 0)
			arr = (json_decref(arr), NULL);
	}
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "users",
	                 by_name(st->users.by_status, _USER_STATUS_MAX, user_status_name), "vpns",
	                 by_name(st->vpn.by_status, _VPN_STATUS_MAX, vpn_status_name), "payments",
	                 by_name(st->payments.by_status, _PAYMENT_STATUS_MAX, payment_status_name),
	                 "jobs", by_name(st->jobs_by_state, _JOB_STATE_MAX, job_state_name),
	                 "nodes", arr);
}
