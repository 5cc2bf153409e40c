/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of wgfleet-controller. Each takes argc/argv starting at its own name and
 * returns the process exit status: 0 success, 1 failure (already reported on stderr),
 * 2 usage error.
 */
#pragma once

struct controller_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *description;
};

int cmd_migrate(int argc, char **argv);
