// SPDX-License-Identifier: MIT
/*
 * `wgfleet-agent check-config FILE`: parse the agent's configuration exactly as `run`
 * will, and say OK or where and why not. `--keys` prints the table of keys (the source
 * of docs/agent-config.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wgfleet/macro.h"
#include "agent.h"
#include "agentconf.h"

#define PROG "wgfleet-agent check-config"
/* Far above any real configuration; keeps a wrong path (a log, a device) from being slurped. */
#define CONFIG_SIZE_MAX (1024 * 1024)

static int read_config_file(const char *path, char **ret_buf, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	char *buf = NULL;
	size_t len;
	int r = 0;

	if (!f)
		return negative_errno();
	buf = malloc(CONFIG_SIZE_MAX + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	len = fread(buf, 1, CONFIG_SIZE_MAX + 1, f);
	if (ferror(f)) {
		r = -EIO;
		goto out;
	}
	if (len > CONFIG_SIZE_MAX) {
		r = -EFBIG;
		goto out;
	}
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
out:
	if (f != stdin)
		fclose(f);
	free(buf);
	return r;
}

static void print_summary(const struct agent_config *cfg)
{
	char ep[WG_ENDPOINT_STRLEN], ip[WG_ALLOWEDIP_STRLEN], addr[WG_ALLOWEDIP_STRLEN];

	printf("interface %s, port %u, endpoint %s, pools", cfg->interface,
	       (unsigned)cfg->listen_port, cfg->endpoint.text);
	for (size_t i = 0; i < cfg->n_pools; i++) {
		wg_allowedip_format(&cfg->pools[i], ip);
		wg_allowedip_format(&cfg->addresses[i], addr);
		printf(" %s (server %s)", ip, addr);
	}
	wg_endpoint_format(&cfg->api_listen, ep);
	printf(", %zu reserved, api %s%s, backend %s, mtu %u\n", cfg->n_reserved, ep,
	       cfg->tls_cert ? " (TLS)" : "", agentconf_backend_name(cfg->backend),
	       (unsigned)cfg->mtu);
}

static void print_keys(void)
{
	struct agentconf_keydoc d;

	printf("| key | type | default | bounds | description |\n");
	printf("|---|---|---|---|---|\n");
	for (size_t i = 0; agentconf_describe(i, &d) == 0; i++) {
		printf("| `%s` | %s%s | ", d.name, d.type, d.list ? " (list)" : "");
		if (d.required)
			printf("required");
		else if (d.default_value && strchr(d.default_value, ' '))
			printf("%s", d.default_value); /* computed from other keys */
		else if (d.default_value)
			printf("`%s`", d.default_value);
		else
			printf("none");
		printf(" | ");
		/* '|' separates choices; markdown tables need it escaped. */
		for (const char *c = d.bounds; *c; c++)
			printf(*c == '|' ? "\\|" : "%c", *c);
		printf(" | %s |\n", d.description);
	}
}

int cmd_check_config(int argc, char **argv)
{
	_cleanup_free_ char *text = NULL;
	struct agent_config *cfg = NULL;
	struct agentconf_error err;
	char msg[512];
	size_t len = 0;
	int r;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: %s FILE\n       %s --keys\n", PROG, PROG);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--keys")) {
		print_keys();
		return 0;
	}
	if (argc != 2 || (argv[1][0] == '-' && argv[1][1] != '\0')) {
		fprintf(stderr, "Usage: %s FILE\n       %s --keys\n", PROG, PROG);
		return 2;
	}
	r = read_config_file(argv[1], &text, &len);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", PROG, argv[1],
			r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return 1;
	}
	r = agentconf_parse(text, len, argv[1], &cfg, &err);
	if (r < 0) {
		agentconf_error_format(&err, msg, sizeof(msg));
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	printf("%s: OK\n", argv[1]);
	print_summary(cfg);
	agentconf_free(cfg);
	return 0;
}
