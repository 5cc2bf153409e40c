// SPDX-License-Identifier: MIT
/*
 * `wgfleet-agent link ...`: manage a WireGuard link and its addresses through rtnetlink
 * (the agent daemon does the same at start-up; this exposes it to admins and tests).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "agent.h"
#include "wgctl.h"
#include "wglink.h"

#define PROG "wgfleet-agent link"

static int report(int r, const char *what, const char *ifname)
{
	if (r < 0)
		fprintf(stderr, "%s: %s %s: %s\n", PROG, what, ifname, wgctl_strerror(r));
	return r < 0 ? 1 : 0;
}

static int do_add(int argc, char **argv)
{
	if (argc != 2)
		return -1;
	return report(wglink_create(argv[1]), "cannot create", argv[1]);
}

static int do_del(int argc, char **argv)
{
	if (argc != 2)
		return -1;
	return report(wglink_delete(argv[1]), "cannot delete", argv[1]);
}

static int do_addr(int argc, char **argv)
{
	struct wg_allowedip prefix;

	if (argc != 3)
		return -1;
	if (wg_allowedip_parse(argv[2], &prefix) < 0) {
		fprintf(stderr, "%s: '%s' is not an address with a prefix length\n", PROG,
			argv[2]);
		return 1;
	}
	return report(wglink_add_address(argv[1], &prefix), "cannot add address to", argv[1]);
}

static int do_mtu(int argc, char **argv)
{
	char *end;
	unsigned long mtu;

	if (argc != 3)
		return -1;
	errno = 0;
	mtu = strtoul(argv[2], &end, 10);
	if (errno || *end || argv[2][0] < '0' || argv[2][0] > '9' || mtu < 68 || mtu > 65535) {
		fprintf(stderr, "%s: MTU '%s' must be a number from 68 to 65535\n", PROG, argv[2]);
		return 1;
	}
	return report(wglink_set_mtu(argv[1], (unsigned)mtu), "cannot set MTU of", argv[1]);
}

static int do_up(int argc, char **argv)
{
	if (argc != 2)
		return -1;
	return report(wglink_set_up(argv[1], !strcmp(argv[0], "up")), "cannot change state of",
		      argv[1]);
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} link_commands[] = {
	{"add", do_add, "add IFACE            create a kernel WireGuard link"},
	{"del", do_del, "del IFACE            delete a link"},
	{"addr", do_addr, "addr IFACE PREFIX    add an address, e.g. 10.99.0.1/24"},
	{"mtu", do_mtu, "mtu IFACE N          set the MTU"},
	{"up", do_up, "up IFACE             set the link up"},
	{"down", do_up, "down IFACE           set the link down"},
};

int cmd_link(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < ARRAY_SIZE(link_commands); i++)
			if (!strcmp(argv[1], link_commands[i].name)) {
				int r = link_commands[i].fn(argc - 1, argv + 1);

				if (r >= 0)
					return r;
				fprintf(stderr, "Usage: %s %s\n", PROG, link_commands[i].usage);
				return 2;
			}
	FILE *f = argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr;
	fprintf(f, "Usage: %s COMMAND ...\n\nCommands:\n", PROG);
	for (size_t i = 0; i < ARRAY_SIZE(link_commands); i++)
		fprintf(f, "  %s\n", link_commands[i].usage);
	return f == stdout ? 0 : 2;
}
