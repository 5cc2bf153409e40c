// SPDX-License-Identifier: MIT
/*
 * wgfleet-agent: one binary, subcommands dispatched from a table (wg(8)'s shape).
 * `wg ...` is the admin face of the WireGuard control library; `run` execs the daemon
 * binary, wgfleet-agentd, so that this one stays free of the HTTP stack.
 */
#include <stdio.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "agent.h"

static const struct agent_command commands[] = {
	{"wg", cmd_wg, "show, setconf and syncconf WireGuard interfaces, as wg(8) does"},
	{"link", cmd_link, "create and delete WireGuard links, set addresses, MTU and up"},
	{"check-config", cmd_check_config, "check an agent configuration file, or list its keys (--keys)"},
	{"run", cmd_exec_daemon, "run the node agent daemon (wgfleet-agentd): interface, pools, job API, reconcile"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: wgfleet-agent COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].description);
	fprintf(f, "\nRun 'wgfleet-agent COMMAND --help' for a command's usage.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "wgfleet-agent: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
