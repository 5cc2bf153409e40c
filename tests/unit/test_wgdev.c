// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "wgdev.h"

static void test_ifname(void **state)
{
	assert_int_equal(wg_ifname_validate("wg0"), 0);
	assert_int_equal(wg_ifname_validate("abcdefghijklmno"), 0); /* 15 */
	assert_int_equal(wg_ifname_validate("abcdefghijklmnop"), -EINVAL); /* 16 */
	assert_int_equal(wg_ifname_validate(""), -EINVAL);
	assert_int_equal(wg_ifname_validate("a/b"), -EINVAL);
	assert_int_equal(wg_ifname_validate("a b"), -EINVAL);
	assert_int_equal(wg_ifname_validate(".."), -EINVAL);
	assert_int_equal(wg_ifname_validate(NULL), -EINVAL);
}

static void roundtrip_ip(const char *in, const char *want)
{
	struct wg_allowedip ip;
	char buf[WG_ALLOWEDIP_STRLEN];

	assert_int_equal(wg_allowedip_parse(in, &ip), 0);
	wg_allowedip_format(&ip, buf);
	assert_string_equal(buf, want);
}

static void test_allowedip(void **state)
{
	struct wg_allowedip ip, sentinel;

	roundtrip_ip("10.0.0.0/24", "10.0.0.0/24");
	roundtrip_ip("10.0.0.1", "10.0.0.1/32");
	roundtrip_ip("0.0.0.0/0", "0.0.0.0/0");
	roundtrip_ip("fd00::1/128", "fd00::1/128");
	roundtrip_ip("FD00:0::/64", "fd00::/64");
	roundtrip_ip("::/0", "::/0");
	roundtrip_ip("10.0.0.7/24", "10.0.0.7/24"); /* host bits kept, as wg(8) does */

	memset(&sentinel, 0x5a, sizeof(sentinel));
	const char *bad[] = {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/-1",
			     "10.0.0.0/8x", "10.0.0/8", "300.0.0.0/8", "/24", "", "fd00::1/0128",
			     "10.0.0.0/24 ", "hello", "10.0.0.0/1000"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ip = sentinel;
		assert_int_equal(wg_allowedip_parse(bad[i], &ip), -EINVAL);
		assert_memory_equal(&ip, &sentinel, sizeof(ip));
	}
	ip.family = AF_INET;
	ip.cidr = 33;
	assert_int_equal(wg_allowedip_validate(&ip), -EINVAL);
	ip.family = AF_INET6;
	ip.cidr = 128;
	assert_int_equal(wg_allowedip_validate(&ip), 0);
	ip.family = 99;
	assert_int_equal(wg_allowedip_validate(&ip), -EINVAL);
}

static void roundtrip_ep(const char *in, const char *want)
{
	union wg_endpoint ep;
	char buf[WG_ENDPOINT_STRLEN];

	assert_int_equal(wg_endpoint_parse(in, &ep), 0);
	wg_endpoint_format(&ep, buf);
	assert_string_equal(buf, want);
}

static void test_endpoint(void **state)
{
	union wg_endpoint ep = {}, ep2;
	char buf[WG_ENDPOINT_STRLEN];

	roundtrip_ep("198.18.0.1:51820", "198.18.0.1:51820");
	roundtrip_ep("[fd00::1]:1", "[fd00::1]:1");
	roundtrip_ep("[::ffff:1.2.3.4]:65535", "[::ffff:1.2.3.4]:65535");
	roundtrip_ep("[fe80::1%lo]:5", "[fe80::1%lo]:5");
	wg_endpoint_format(&ep, buf);
	assert_string_equal(buf, "(none)");

	const char *bad[] = {"198.18.0.1", "198.18.0.1:", "198.18.0.1:65536", "fd00::1:80",
			     "[fd00::1]80", "[fd00::1]:", "example.com:80", ":80", "1.2.3.4:8x",
			     "1.2.3.4:-1", "[1.2.3.4:80", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wg_endpoint_parse(bad[i], &ep), -EINVAL);

	assert_int_equal(wg_endpoint_parse("1.2.3.4:5", &ep), 0);
	assert_int_equal(wg_endpoint_parse("1.2.3.4:5", &ep2), 0);
	assert_true(wg_endpoint_equal(&ep, &ep2));
	assert_int_equal(wg_endpoint_parse("1.2.3.4:6", &ep2), 0);
	assert_false(wg_endpoint_equal(&ep, &ep2));
}

static void test_device_peers(void **state)
{
	struct wg_device *dev = NULL;
	struct wg_peer *p, copy;
	struct wg_allowedip ip;
	uint8_t key[WG_KEY_LEN];

	assert_int_equal(wg_device_new("abcdefghijklmnop", &dev), -EINVAL);
	assert_null(dev);
	assert_int_equal(wg_device_new("wg0", &dev), 0);
	for (unsigned i = 0; i < 1000; i++) {
		memset(key, 0, sizeof(key));
		memcpy(key, &i, sizeof(i));
		assert_int_equal(wg_device_add_peer(dev, key, &p), 0);
		assert_int_equal(wg_allowedip_parse("10.0.0.0/8", &ip), 0);
		assert_int_equal(wg_peer_add_allowedip(p, &ip), 0);
	}
	assert_int_equal(dev->n_peers, 1000);
	memset(key, 0, sizeof(key));
	unsigned k = 777;
	memcpy(key, &k, sizeof(k));
	p = wg_device_find_peer(dev, key);
	assert_non_null(p);
	assert_int_equal(p - dev->peers, 777);
	assert_int_equal(wg_peer_copy(&copy, p), 0);
	assert_int_equal(copy.n_ips, 1);
	assert_ptr_not_equal(copy.ips, p->ips);
	wg_peer_done(&copy);
	assert_int_equal(wg_device_validate(dev), 0);

	dev->peers[5].ips[0].cidr = 33;
	assert_int_equal(wg_device_validate(dev), -EINVAL);
	dev->peers[5].ips[0].cidr = 8;
	dev->peers[6].flags &= ~WG_PEER_HAS_PUBLIC_KEY;
	assert_int_equal(wg_device_validate(dev), -EINVAL);
	dev->peers[6].flags |= WG_PEER_HAS_PUBLIC_KEY | WG_PEER_HAS_ENDPOINT;
	assert_int_equal(wg_device_validate(dev), -EINVAL); /* endpoint flag, AF_UNSPEC */
	dev->peers[6].flags &= ~WG_PEER_HAS_ENDPOINT;
	dev->flags = 1U << 31;
	assert_int_equal(wg_device_validate(dev), -EINVAL);
	dev->flags = 0;
	assert_int_equal(wg_device_validate(dev), 0);

	wg_device_clear_peers(dev);
	assert_int_equal(dev->n_peers, 0);
	dev = wg_device_free(dev);
	assert_null(dev);
	assert_null(wg_device_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ifname),
		cmocka_unit_test(test_allowedip),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_device_peers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
