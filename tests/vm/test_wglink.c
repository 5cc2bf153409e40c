// SPDX-License-Identifier: MIT
/*
 * wglink against a real kernel.
 *
 *   test_wglink          the full suite; needs the WireGuard module (run in the VM:
 *                        tests/vm/run --module dummy -- test_wglink)
 *   test_wglink --host   in a private network and mount namespace: without the module
 *                        (this host), creating fails with -EOPNOTSUPP and leaves nothing
 *                        behind, and everything that needs no WireGuard link works on lo;
 *                        with the module, the full suite
 *
 * Results are checked through other channels than wglink itself: /sys/class/net,
 * if_nametoindex() and iproute2's `ip`.
 */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "wgfleet/macro.h"
#include "wglink.h"

#define IF0 "wgt0"
#define IF1 "wgt1"
#define OTHER "wgtother0" /* a link of another kind: dummy, or veth */
#define MISSING "wgtmissing0"
#define NAME16 "wgt0123456789abc" /* one byte over IFNAMSIZ - 1 */

static bool have_other;

static bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static bool link_exists(const char *ifname)
{
	return if_nametoindex(ifname) != 0;
}

/* First line of /sys/class/net/IFNAME/ATTR, without the newline. */
static void read_sysfs(const char *ifname, const char *attr, char *buf, size_t size)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	f = fopen(path, "re");
	assert_non_null(f);
	assert_non_null(fgets(buf, (int)size, f));
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

static unsigned long sysfs_ulong(const char *ifname, const char *attr)
{
	char buf[64];

	read_sysfs(ifname, attr, buf, sizeof(buf));
	return strtoul(buf, NULL, 0); /* mtu is decimal, flags are 0x... */
}

/* Output of a shell command (at most size - 1 bytes); asserts that it exits with 0. */
__attribute__((format(printf, 3, 4)))
static void capture(char *buf, size_t size, const char *fmt, ...)
{
	char cmd[256];
	size_t n = 0, got;
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (n < size - 1 && (got = fread(buf + n, 1, size - 1 - n, p)) > 0)
		n += got;
	buf[n] = '\0';
	assert_int_equal(pclose(p), 0);
}

static bool strv_contains(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

static struct wg_allowedip prefix(const char *s)
{
	struct wg_allowedip ip;

	assert_int_equal(wg_allowedip_parse(s, &ip), 0);
	return ip;
}

/* Every entry point refuses name with -EINVAL, and nothing by that name appears. */
static void assert_name_rejected(const char *name)
{
	struct wg_allowedip ip = prefix("10.77.0.1/24");

	assert_int_equal(wglink_create(name), -EINVAL);
	assert_int_equal(wglink_delete(name), -EINVAL);
	assert_int_equal(wglink_add_address(name, &ip), -EINVAL);
	assert_int_equal(wglink_set_mtu(name, 1400), -EINVAL);
	assert_int_equal(wglink_set_up(name, true), -EINVAL);
	assert_int_equal(wglink_ifindex(name), -EINVAL);
}

/* ---- tests that need no WireGuard link ---------------------------------------------- */

static void test_bad_names(void **state)
{
	assert_name_rejected(NAME16);
	/* Had the name been sent, the kernel would have refused it too; but a truncating
	 * implementation would have created the 15-byte prefix. */
	assert_false(link_exists("wgt0123456789ab"));
	assert_name_rejected("");
	assert_name_rejected(NULL);
	assert_name_rejected("wg/0");
	assert_name_rejected("wg 0");
	assert_name_rejected("wg:0");
	assert_name_rejected("..");
	assert_int_equal(wglink_list_wireguard(NULL), -EINVAL);
}

static void test_bad_prefixes(void **state)
{
	struct wg_allowedip ip = {.family = AF_UNIX, .cidr = 8};

	/* Checked before the link is even looked up: "lo" exists, the prefixes are bad. */
	assert_int_equal(wglink_add_address("lo", NULL), -EINVAL);
	assert_int_equal(wglink_add_address("lo", &ip), -EINVAL);
	ip = prefix("10.77.0.1/24");
	ip.cidr = 33;
	assert_int_equal(wglink_add_address("lo", &ip), -EINVAL);
	ip = prefix("fd77::1/64");
	ip.cidr = 129;
	assert_int_equal(wglink_add_address("lo", &ip), -EINVAL);
}

static void test_missing_link(void **state)
{
	struct wg_allowedip ip = prefix("10.77.0.1/24");

	assert_false(link_exists(MISSING));
	assert_int_equal(wglink_delete(MISSING), -ENODEV);
	assert_int_equal(wglink_add_address(MISSING, &ip), -ENODEV);
	assert_int_equal(wglink_set_mtu(MISSING, 1400), -ENODEV);
	assert_int_equal(wglink_set_up(MISSING, true), -ENODEV);
	assert_int_equal(wglink_ifindex(MISSING), -ENODEV);
	assert_false(link_exists(MISSING));
}

static void test_other_kinds(void **state)
{
	char **names = NULL;

	assert_int_equal(wglink_ifindex("lo"), (int)if_nametoindex("lo"));
	assert_int_equal(wglink_list_wireguard(&names), 0);
	assert_false(strv_contains(names, "lo"));
	if (have_other)
		assert_false(strv_contains(names, OTHER));
	names = strv_free(names);

	/* wglink_delete() only removes WireGuard links. (The kernel cannot delete lo at all;
	 * the other link it would delete.) */
	assert_int_equal(wglink_delete("lo"), -EOPNOTSUPP);
	assert_true(link_exists("lo"));
	if (have_other) {
		assert_int_equal(wglink_delete(OTHER), -EOPNOTSUPP);
		assert_true(link_exists(OTHER));
	}
}

/* MTU, flags and addresses work on any link; lo stands in when there is no WireGuard. */
static void check_link_settings(const char *ifname)
{
	struct wg_allowedip v4 = prefix("10.77.1.5/16"), v6 = prefix("fd77::1/64");
	unsigned long mtu = sysfs_ulong(ifname, "mtu");
	char out[4096], state[32];

	assert_int_equal(wglink_set_mtu(ifname, 1380), 0);
	assert_int_equal(sysfs_ulong(ifname, "mtu"), 1380);
	/* Beyond the device's max_mtu: the kernel's EINVAL, unchanged MTU. */
	assert_int_equal(wglink_set_mtu(ifname, UINT_MAX), -EINVAL);
	assert_int_equal(sysfs_ulong(ifname, "mtu"), 1380);
	assert_int_equal(wglink_set_mtu(ifname, (unsigned)mtu), 0);
	assert_int_equal(sysfs_ulong(ifname, "mtu"), mtu);

	/* Host bits are the address itself: 10.77.1.5/16 stays 10.77.1.5/16. */
	assert_int_equal(wglink_add_address(ifname, &v4), 0);
	assert_int_equal(wglink_add_address(ifname, &v4), -EEXIST);
	if (path_exists("/proc/sys/net/ipv6")) {
		assert_int_equal(wglink_add_address(ifname, &v6), 0);
		assert_int_equal(wglink_add_address(ifname, &v6), -EEXIST);
	}
	capture(out, sizeof(out), "ip -o addr show dev %s", ifname);
	assert_non_null(strstr(out, " inet 10.77.1.5/16 "));
	if (path_exists("/proc/sys/net/ipv6"))
		assert_non_null(strstr(out, " inet6 fd77::1/64 "));

	assert_int_equal(wglink_set_up(ifname, true), 0);
	assert_true(sysfs_ulong(ifname, "flags") & IFF_UP);
	read_sysfs(ifname, "operstate", state, sizeof(state));
	/* "unknown", as WireGuard and lo report no carrier; never "down" once up. */
	assert_string_not_equal(state, "down");
	assert_int_equal(wglink_set_up(ifname, true), 0); /* idempotent */
	assert_int_equal(wglink_set_up(ifname, false), 0);
	assert_false(sysfs_ulong(ifname, "flags") & IFF_UP);
	read_sysfs(ifname, "operstate", state, sizeof(state));
	assert_string_equal(state, "down");
}

/* ---- without the module -------------------------------------------------------------- */

static void test_create_unsupported(void **state)
{
	char **names = NULL;

	assert_int_equal(wglink_create(IF0), -EOPNOTSUPP);
	assert_false(link_exists(IF0));
	assert_false(path_exists("/sys/class/net/" IF0));
	assert_int_equal(wglink_ifindex(IF0), -ENODEV);
	assert_int_equal(wglink_list_wireguard(&names), 0);
	assert_non_null(names);
	assert_int_equal(strv_length(names), 0);
	strv_free(names);
}

static void test_lo_settings(void **state)
{
	check_link_settings("lo");
}

/* ---- with the module: each test starts with IF0 freshly created ------------------------ */

static int setup_link(void **state)
{
	(void)wglink_delete(IF0); /* a leftover of a failed test */
	(void)wglink_delete(IF1);
	if (wglink_create(IF0) < 0) {
		fprintf(stderr, "cannot create %s\n", IF0);
		return -1;
	}
	return 0;
}

static int teardown_link(void **state)
{
	(void)wglink_delete(IF0);
	(void)wglink_delete(IF1);
	return 0;
}

static void test_create(void **state)
{
	char out[4096];

	assert_true(link_exists(IF0));
	capture(out, sizeof(out), "ip -d link show dev %s", IF0);
	assert_non_null(strstr(out, "wireguard"));
	assert_int_equal(wglink_create(IF0), -EEXIST);
	assert_int_equal(wglink_ifindex(IF0), (int)if_nametoindex(IF0));
	assert_true(wglink_ifindex(IF0) > 0);
}

static void test_list(void **state)
{
	char **names = NULL;

	assert_int_equal(wglink_create(IF1), 0);
	assert_int_equal(wglink_list_wireguard(&names), 0);
	assert_int_equal(strv_length(names), 2);
	assert_true(strv_contains(names, IF0));
	assert_true(strv_contains(names, IF1));
	assert_false(strv_contains(names, "lo"));
	assert_false(strv_contains(names, OTHER));
	names = strv_free(names);

	assert_int_equal(wglink_delete(IF1), 0);
	assert_int_equal(wglink_list_wireguard(&names), 0);
	assert_int_equal(strv_length(names), 1);
	assert_string_equal(names[0], IF0);
	strv_free(names);
}

static void test_settings(void **state)
{
	assert_int_equal(sysfs_ulong(IF0, "mtu"), 1420); /* WireGuard's default */
	check_link_settings(IF0);
}

static void test_delete(void **state)
{
	char **names = NULL;

	assert_int_equal(wglink_delete(IF0), 0);
	assert_false(link_exists(IF0));
	assert_false(path_exists("/sys/class/net/" IF0));
	assert_int_equal(wglink_ifindex(IF0), -ENODEV);
	assert_int_equal(wglink_delete(IF0), -ENODEV);
	assert_int_equal(wglink_list_wireguard(&names), 0);
	assert_false(strv_contains(names, IF0));
	strv_free(names);
}

/* ---- driver ------------------------------------------------------------------------- */

/* A network namespace of our own, with /sys showing it: nothing on the host is touched,
 * and parallel tests cannot see our links. */
static int enter_private_netns(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		perror("unshare(CLONE_NEWNET|CLONE_NEWNS) (needs root)");
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    umount2("/sys", MNT_DETACH) < 0 || mount("sysfs", "/sys", "sysfs", 0, NULL) < 0) {
		perror("remounting /sys in the new namespace");
		return -1;
	}
	return 0;
}

static int run_kernel_suite(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_prefixes),
		cmocka_unit_test(test_missing_link),
		cmocka_unit_test(test_other_kinds),
		cmocka_unit_test_setup_teardown(test_create, setup_link, teardown_link),
		cmocka_unit_test_setup_teardown(test_list, setup_link, teardown_link),
		cmocka_unit_test_setup_teardown(test_settings, setup_link, teardown_link),
		cmocka_unit_test_setup_teardown(test_delete, setup_link, teardown_link),
	};

	return cmocka_run_group_tests_name("wglink (kernel WireGuard)", tests, NULL, NULL);
}

static int run_host_suite(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_unsupported),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_bad_prefixes),
		cmocka_unit_test(test_missing_link),
		cmocka_unit_test(test_other_kinds),
		cmocka_unit_test(test_lo_settings),
	};

	return cmocka_run_group_tests_name("wglink (no WireGuard module)", tests, NULL, NULL);
}

int main(int argc, char **argv)
{
	bool host = argc > 1 && strcmp(argv[1], "--host") == 0;

	if (argc > 2 || (argc == 2 && !host)) {
		fprintf(stderr, "usage: %s [--host]\n", argv[0]);
		return 2;
	}
	if (host && enter_private_netns() < 0)
		return 1;
	/* A link of another kind that the kernel could delete: dummy where the module is
	 * loaded (the VM loads it), else veth (this host has it built in). */
	have_other = system("ip link add " OTHER " type dummy 2>/dev/null") == 0 ||
		     system("ip link add " OTHER " type veth peer name wgtother1 2>/dev/null") == 0;
	if (!have_other && getenv("WGFLEET_VM")) {
		fputs("test_wglink: cannot create a dummy link in the VM (--module dummy?)\n", stderr);
		return 1;
	}
	if (path_exists("/sys/module/wireguard"))
		return run_kernel_suite();
	if (!host) {
		fputs("test_wglink: no WireGuard module (/sys/module/wireguard); run it in the VM "
		      "(tests/vm/run) or use --host\n",
		      stderr);
		return 1;
	}
	return run_host_suite();
}
