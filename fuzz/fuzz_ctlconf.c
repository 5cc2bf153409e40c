// SPDX-License-Identifier: MIT
/*
 * ctlconf_parse() on arbitrary bytes. Besides crashes (ASan/UBSan), it checks the
 * contract: on error nothing is returned and the reason is non-empty with a line within
 * the input; on success every string is non-empty and free of control characters, every
 * value is within its bounds, the rules that span keys hold, each price is the one
 * ctlconf_price() finds, and the URL the command would use is the option, then the file,
 * then env.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_string(const char *s, int may_be_null)
{
	if (!s) {
		if (!may_be_null)
			abort();
		return;
	}
	if (!s[0])
		abort();
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

static void check_config(const struct controller_config *cfg)
{
	check_string(cfg->database_url, 1);
	check_string(cfg->api_listen, 0);
	if (cfg->api_listen_addr.addr.sa_family != AF_INET &&
	    cfg->api_listen_addr.addr.sa_family != AF_INET6)
		abort();
	check_string(cfg->tls_cert, 1);
	check_string(cfg->tls_key, 1);
	if (!cfg->tls_cert != !cfg->tls_key)
		abort();
	for (size_t i = 0; i < cfg->n_tokens; i++) {
		check_string(cfg->tokens[i].file, 0);
		if (cfg->tokens[i].file[0] != '/' || !ctl_role_name(cfg->tokens[i].role))
			abort();
	}
	check_string(cfg->master_key_file, 1);
	check_string(cfg->agent_ca_file, 1);
	check_string(cfg->webhook_secret_file, 1);
	check_string(cfg->webhook_url, 1);
	for (size_t i = 0; i < cfg->n_dns; i++)
		check_string(cfg->dns[i], 0);
	if (cfg->n_client_allowed_ips == 0)
		abort();
	for (size_t i = 0; i < cfg->n_client_allowed_ips; i++)
		check_string(cfg->client_allowed_ips[i], 0);
	for (size_t i = 0; i < cfg->n_prices; i++) {
		const struct ctl_price *pr = &cfg->prices[i];

		if (ctlconf_price(cfg, pr->method, pr->type, pr->months) != pr || pr->amount <= 0 ||
		    pr->months < 1 || pr->months > 120 || strlen(pr->currency) < 3 ||
		    (pr->method == PAYMENT_STARS && strcmp(pr->currency, "XTR")))
			abort();
	}
	if (cfg->persistent_keepalive > 65535 || cfg->trial_duration_s == 0 || cfg->workers < 1 ||
	    cfg->workers > 256 || cfg->job_max_attempts < 1 ||
	    cfg->job_backoff_ms > cfg->job_backoff_max_ms ||
	    cfg->job_lease_ms <= cfg->agent_timeout_ms || cfg->poll_interval_ms == 0 ||
	    cfg->sweep_interval_ms == 0 || cfg->unhealthy_after < 1 ||
	    cfg->db_pool_size < cfg->workers + 3 || !ctl_log_level_name(cfg->log_level))
		abort();
}

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
	check_config(cfg);
	url = ctlconf_database_url(NULL, cfg, "mysql://env/db", &source);
	if (cfg->database_url ? url != cfg->database_url : strcmp(url, "mysql://env/db"))
		abort();
	if (ctlconf_database_url("mysql://opt/db", cfg, "mysql://env/db", &source) == NULL ||
	    strcmp(source, "--database-url"))
		abort();
	ctlconf_free(cfg);
	return 0;
}
