// SPDX-License-Identifier: MIT
/*
 * wgfleet-controller: one binary, subcommands dispatched from a table (wg(8)'s shape).
 * `migrate` brings the database schema up to date, `genkey` makes a master key, `run` is
 * the service.
 */
#include <stdio.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "controller.h"

static const struct controller_command commands[] = {
    {"run", cmd_run, "run the service: the API, job workers, node poller, expiry sweeper"},
    {"migrate", cmd_migrate, "apply the database schema migrations, or list them (--status)"},
    {"genkey", cmd_genkey, "write a new master key to a file (mode 0600)"},
    {"rekey", cmd_rekey, "seal every stored secret again with a new master key"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: wgfleet-controller COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].description);
	fprintf(f, "\nThe database is named by --database-url, by database_url in the file of\n"
	           "--config, or by DATABASE_URL, in that order (mysql://user:pass@host:port/db,\n"
	           "or mysql://user@/db?socket=/path).\n"
	           "Run 'wgfleet-controller COMMAND --help' for a command's usage.\n");
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
	fprintf(stderr, "wgfleet-controller: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
