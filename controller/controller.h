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
int cmd_run(int argc, char **argv);
int cmd_genkey(int argc, char **argv);
int cmd_rekey(int argc, char **argv);

struct controller_config;
struct db;

/* cmd_common.c: --config and the database, each failure reported once on stderr as
 * "wgfleet-controller: CMD: ...". cmd_db_open: -EINVAL means a usage error (no URL, a bad
 * one), anything else that the database could not be opened. *ret_shown (optional) is the
 * URL with its password redacted, for messages. */
int cmd_config_load(const char *cmd, const char *path, struct controller_config **ret);
int cmd_db_open(const char *cmd, const char *option_url, const struct controller_config *cfg,
                unsigned pool_size, struct db **ret_db, char **ret_shown);
