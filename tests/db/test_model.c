// SPDX-License-Identifier: MIT
/* The records' enumerations and the payment and VPN state machines (controller/model.c):
 * pure. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"

static void test_names(void **state)
{
	enum payment_status ps;
	enum payment_method pm;
	enum user_status us;
	enum vpn_type vt;

	for (int i = 0; i < _PAYMENT_STATUS_MAX; i++) {
		const char *n = payment_status_to_string((enum payment_status)i);

		assert_non_null(n);
		assert_int_equal(payment_status_from_string(n, strlen(n), &ps), 0);
		assert_int_equal(ps, i);
	}
	assert_null(payment_status_to_string(_PAYMENT_STATUS_MAX));
	/* the old system's "paid" does not exist; names are exact */
	assert_int_equal(payment_status_from_string("paid", 4, &ps), -EINVAL);
	assert_int_equal(payment_status_from_string("Pending", 7, &ps), -EINVAL);
	assert_int_equal(payment_status_from_string("pending ", 8, &ps), -EINVAL);
	assert_int_equal(payment_status_from_string("pend", 4, &ps), -EINVAL);
	assert_int_equal(payment_method_from_string("qvapay", 6, &pm), 0);
	assert_int_equal(pm, PAYMENT_QVAPAY);
	assert_int_equal(user_status_from_string("banned", 6, &us), 0);
	assert_int_equal(us, USER_BANNED);
	assert_int_equal(vpn_type_from_string("outline", 7, &vt), 0);
	assert_int_equal(vt, VPN_OUTLINE);
	assert_string_equal(vpn_type_to_string(VPN_WIREGUARD), "wireguard");

	/* every name of the newer enumerations round-trips; the schema's CHECKs list them */
	for (int i = 0; i < _VPN_STATUS_MAX; i++) {
		const char *n = vpn_status_to_string((enum vpn_status)i);
		enum vpn_status v;

		assert_int_equal(vpn_status_from_string(n, strlen(n), &v), 0);
		assert_int_equal(v, i);
	}
	for (int i = 0; i < _NODE_STATE_MAX; i++) {
		const char *n = node_state_to_string((enum node_state)i);
		enum node_state v;

		assert_int_equal(node_state_from_string(n, strlen(n), &v), 0);
		assert_int_equal(v, i);
	}
	for (int i = 0; i < _JOB_STATE_MAX; i++) {
		const char *n = job_state_to_string((enum job_state)i);
		enum job_state v;

		assert_int_equal(job_state_from_string(n, strlen(n), &v), 0);
		assert_int_equal(v, i);
	}
	for (int i = 0; i < _JOB_KIND_MAX; i++) {
		const char *n = job_kind_to_string((enum job_kind)i);
		enum job_kind v;

		assert_int_equal(job_kind_from_string(n, strlen(n), &v), 0);
		assert_int_equal(v, i);
	}
	for (int i = 0; i < _NODE_HEALTH_MAX; i++) {
		const char *n = node_health_to_string((enum node_health)i);
		enum node_health v;

		assert_int_equal(node_health_from_string(n, strlen(n), &v), 0);
		assert_int_equal(v, i);
	}
	enum job_kind jk;
	assert_string_equal(job_kind_to_string(JOB_NOTIFY), "notify");
	assert_null(job_kind_to_string(_JOB_KIND_MAX));
	assert_int_equal(job_kind_from_string("Notify", 6, &jk), -EINVAL);
	enum node_health nh;
	assert_int_equal(node_health_from_string("healthy ", 8, &nh), -EINVAL);
	enum ip_kind k;
	assert_int_equal(ip_kind_from_string("trial", 5, &k), 0);
	assert_int_equal(k, IP_TRIAL);
	assert_string_equal(ip_kind_to_string(IP_PAID), "paid");
	assert_null(vpn_status_to_string(_VPN_STATUS_MAX));
	enum vpn_status vs;
	assert_int_equal(vpn_status_from_string("paid", 4, &vs), -EINVAL);
}

static void test_vpn_machine(void **state)
{
	static const struct {
		enum vpn_status from;
		enum vpn_event event;
		int r;
		enum vpn_status to;
	} cases[] = {
	    {VPN_PENDING, VPN_EVENT_ACTIVATE, 0, VPN_ACTIVE},
	    {VPN_PENDING, VPN_EVENT_EXPIRE, 0, VPN_EXPIRED},
	    {VPN_PENDING, VPN_EVENT_REVOKE, 0, VPN_REVOKED},
	    {VPN_ACTIVE, VPN_EVENT_ACTIVATE, -EALREADY, 0},
	    {VPN_ACTIVE, VPN_EVENT_EXPIRE, 0, VPN_EXPIRED},
	    {VPN_ACTIVE, VPN_EVENT_REVOKE, 0, VPN_REVOKED},
	    {VPN_EXPIRED, VPN_EVENT_ACTIVATE, -EPERM, 0},
	    {VPN_EXPIRED, VPN_EVENT_EXPIRE, -EALREADY, 0},
	    {VPN_EXPIRED, VPN_EVENT_REVOKE, -EPERM, 0},
	    {VPN_REVOKED, VPN_EVENT_ACTIVATE, -EPERM, 0},
	    {VPN_REVOKED, VPN_EVENT_EXPIRE, -EPERM, 0},
	    {VPN_REVOKED, VPN_EVENT_REVOKE, -EALREADY, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum vpn_status to = _VPN_STATUS_MAX;

		assert_int_equal(vpn_next(cases[i].from, cases[i].event, &to), cases[i].r);
		assert_int_equal(to, cases[i].r == 0 ? cases[i].to : _VPN_STATUS_MAX);
	}
	enum vpn_status x;
	assert_int_equal(vpn_next(_VPN_STATUS_MAX, VPN_EVENT_REVOKE, &x), -EINVAL);
	assert_int_equal(vpn_next(VPN_ACTIVE, _VPN_EVENT_MAX, &x), -EINVAL);
}

static void test_payment_machine(void **state)
{
	static const struct {
		enum payment_status from;
		enum payment_event event;
		int r;
		enum payment_status to;
	} cases[] = {
	    {PAYMENT_PENDING, PAYMENT_EVENT_COMPLETE, 0, PAYMENT_COMPLETED},
	    {PAYMENT_PENDING, PAYMENT_EVENT_FAIL, 0, PAYMENT_FAILED},
	    {PAYMENT_PENDING, PAYMENT_EVENT_REFUND, -EPERM, 0},
	    {PAYMENT_COMPLETED, PAYMENT_EVENT_COMPLETE, -EALREADY, 0},
	    {PAYMENT_COMPLETED, PAYMENT_EVENT_FAIL, -EPERM, 0},
	    {PAYMENT_COMPLETED, PAYMENT_EVENT_REFUND, 0, PAYMENT_REFUNDED},
	    {PAYMENT_FAILED, PAYMENT_EVENT_COMPLETE, -EPERM, 0},
	    {PAYMENT_FAILED, PAYMENT_EVENT_FAIL, -EALREADY, 0},
	    {PAYMENT_FAILED, PAYMENT_EVENT_REFUND, -EPERM, 0},
	    {PAYMENT_REFUNDED, PAYMENT_EVENT_COMPLETE, -EPERM, 0},
	    {PAYMENT_REFUNDED, PAYMENT_EVENT_FAIL, -EPERM, 0},
	    {PAYMENT_REFUNDED, PAYMENT_EVENT_REFUND, -EALREADY, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum payment_status to = _PAYMENT_STATUS_MAX;

		assert_int_equal(payment_next(cases[i].from, cases[i].event, &to), cases[i].r);
		if (cases[i].r == 0)
			assert_int_equal(to, cases[i].to);
		else
			assert_int_equal(to, _PAYMENT_STATUS_MAX); /* untouched */
	}
	/* every edge agrees with payment_next */
	for (int e = 0; e < _PAYMENT_EVENT_MAX; e++) {
		enum payment_status from, to, next;

		assert_int_equal(payment_event_edge((enum payment_event)e, &from, &to), 0);
		assert_int_equal(payment_next(from, (enum payment_event)e, &next), 0);
		assert_int_equal(next, to);
	}
	enum payment_status x;
	assert_int_equal(payment_next(_PAYMENT_STATUS_MAX, PAYMENT_EVENT_FAIL, &x), -EINVAL);
	assert_int_equal(payment_event_edge(_PAYMENT_EVENT_MAX, &x, &x), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_payment_machine),
	    cmocka_unit_test(test_vpn_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
