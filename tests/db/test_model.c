// SPDX-License-Identifier: MIT
/* The records' enumerations and the payment state machine (controller/model.c): pure. */
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
