// SPDX-License-Identifier: MIT
/*
 * ctlconf_parse() on arbitrary bytes. Besides crashes (ASan/UBSan), it checks the
 * contract: on error nothing is returned and the reason is non-empty with a line within
 * the input; on success database_url is NULL or a non-empty string without control
 * characters, and the URL the command would use is the option, then the file, then env.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct controller_config *cfg = (struct controller_config *)(uintptr_t)1;
	struct ctlconf_error err = {.line = 12345};
	const char *source = NULL, *url;
	unsigned lines = 1;
	int r;

	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	r = ctlconf_parse((const char *)data, size, &cfg, &err);
	if (r < 0) {
		if (cfg != (struct controller_config *)(uintptr_t)1)
			abort(); /* ret written on failure */
		if (!err.message[0] || err.line > lines)
			abort();
		return 0;
	}
	if (r != 0 || !cfg)
		abort();
	if (cfg->database_url) {
		if (!cfg->database_url[0])
			abort();
		for (const char *p = cfg->database_url; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				abort();
	}
	url = ctlconf_database_url(NULL, cfg, "mysql://env/db", &source);
	if (cfg->database_url ? url != cfg->database_url : strcmp(url, "mysql://env/db"))
		abort();
	if (ctlconf_database_url("mysql://opt/db", cfg, "mysql://env/db", &source) == NULL ||
	    strcmp(source, "--database-url"))
		abort();
	ctlconf_free(cfg);
	return 0;
}
