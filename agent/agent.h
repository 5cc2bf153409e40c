/* SPDX-License-Identifier: MIT */
/*
 * Subcommands of wgfleet-agent. Each takes argc/argv starting at its own name and
 * returns the process exit status: 0 success, 1 failure (already reported on stderr),
 * 2 usage error.
 */
#pragma once

struct agent_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *description;
};

int cmd_wg(int argc, char **argv);
int cmd_link(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
/* The daemon's entry point, in wgfleet-agentd; argv[0] is "run" or the program name. */
int cmd_run(int argc, char **argv);
/* `wgfleet-agent run ...`: exec wgfleet-agentd from the same directory with the same args. */
int cmd_exec_daemon(int argc, char **argv);
