// SPDX-License-Identifier: MIT
/*
 * What every database command of wgfleet-controller does first: read --config and open
 * the database named by --database-url, the config file or $DATABASE_URL (ctlconf.h),
 * reporting each failure once on stderr in the same words.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "ctlconf.h"
#include "db.h"

int cmd_config_load(const char *cmd, const char *path, struct controller_config **ret)
{
	struct ctlconf_error cerr = {0};
	int r;

	r = ctlconf_load(path, ret, &cerr);
	if (r < 0) {
		/* "FILE:LINE: reason", as compilers write it, so editors jump to the line. */
		if (cerr.message[0] && cerr.line)
			fprintf(stderr, "wgfleet-controller: %s:%u: %s\n", path, cerr.line,
			        cerr.message);
		else if (cerr.message[0])
			fprintf(stderr, "wgfleet-controller: %s: %s\n", path, cerr.message);
		else
			fprintf(stderr, "wgfleet-controller: %s %s: %s\n", cmd, path, strerror(-r));
	}
	return r;
}

int cmd_db_open(const char *cmd, const char *option_url, const struct controller_config *cfg,
                unsigned pool_size, struct db **ret_db, char **ret_shown)
{
	const char *text, *source = NULL;
	struct db_options opts = {.pool_size = pool_size};
	struct db_url_error uerr = {0};
	struct db_error dberr = {0};
	struct db_url *url = NULL;
	struct db *db = NULL;
	char *shown = NULL;
	int r;

	text = ctlconf_database_url(option_url, cfg, getenv("DATABASE_URL"), &source);
	if (!text) {
		fprintf(stderr, "wgfleet-controller: %s: no database: set DATABASE_URL, "
		                "database_url in --config FILE, or pass --database-url\n", cmd);
		r = -EINVAL;
		goto out;
	}
	r = db_url_parse(text, &url, &uerr);
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: %s: bad database URL (%s): %s\n", cmd, source,
		        uerr.message);
		goto out;
	}
	r = db_url_format(url, true, &shown);
	if (r < 0)
		goto out;
	if (!url->database) {
		fprintf(stderr, "wgfleet-controller: %s: %s names no database\n", cmd, shown);
		r = -EINVAL;
		goto out;
	}
	r = db_open(url, &opts, &db, &dberr);
	if (r < 0) {
		fprintf(stderr, "wgfleet-controller: %s: %s: %s\n", cmd, shown, dberr.message);
		/* Not a usage error: the URL was fine, the server was not. */
		r = r == -EINVAL ? -EIO : r;
		goto out;
	}
	*ret_db = db;
	db = NULL;
	if (ret_shown) {
		*ret_shown = shown;
		shown = NULL;
	}
out:
	db_close(db);
	db_url_free(url);
	free(shown);
	return r;
}
