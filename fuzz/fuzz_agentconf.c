// SPDX-License-Identifier: MIT
/*
 * agentconf_parse over arbitrary bytes: it must return a configuration or an error, never
 * crash, leak or read past len. On error nothing is returned and the message is a
 * terminated, non-empty string; on success every invariant the daemon relies on holds
 * (bounds, one address per pool inside it, reserved ranges inside a pool, TLS both or
 * neither), since the daemon does not check them again.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into the harness so it gets the fuzzer's coverage (as fuzz_wgconf.c does). */
#include "agentconf.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const struct agent_config *cfg)
{
	if (!cfg->interface || wg_ifname_validate(cfg->interface) < 0 || cfg->listen_port == 0 ||
	    !cfg->endpoint.text || !cfg->endpoint.host || cfg->endpoint.port == 0 ||
	    !cfg->token_file || cfg->token_file[0] != '/' || !cfg->state_dir ||
	    cfg->state_dir[0] != '/' || !cfg->tls_cert != !cfg->tls_key)
		abort();
	if (cfg->n_pools < 1 || cfg->n_pools > 2 || cfg->n_addresses != cfg->n_pools)
		abort();
	if (cfg->n_pools == 2 && cfg->pools[0].family == cfg->pools[1].family)
		abort();
	for (size_t i = 0; i < cfg->n_pools; i++) {
		const struct wg_allowedip *pool = &cfg->pools[i], *a = &cfg->addresses[i];
		size_t len = family_len(pool->family);
		bool v4 = pool->family == AF_INET;

		if (!v4 && pool->family != AF_INET6)
			abort();
		if (v4 ? pool->cidr < 8 || pool->cidr > 30 : pool->cidr < 64 || pool->cidr > 126)
			abort();
		if (!host_bits_are(ip_bytes(pool), len, pool->cidr, false))
			abort();
		if (a->family != pool->family || a->cidr != pool->cidr ||
		    !prefix_match(ip_bytes(pool), ip_bytes(a), pool->cidr) ||
		    host_bits_are(ip_bytes(a), len, pool->cidr, false) ||
		    (v4 && host_bits_are(ip_bytes(a), len, pool->cidr, true)))
			abort();
	}
	for (size_t i = 0; i < cfg->n_reserved; i++) {
		const struct agentconf_range *r = &cfg->reserved[i];
		int p = find_pool(cfg, r->family, (const uint8_t *)&r->first);

		if (p < 0 || p != find_pool(cfg, r->family, (const uint8_t *)&r->last) ||
		    memcmp(&r->first, &r->last, family_len(r->family)) > 0)
			abort();
	}
	if (cfg->api_listen.addr.sa_family != AF_INET && cfg->api_listen.addr.sa_family != AF_INET6)
		abort();
	if (cfg->mtu < 1280 || cfg->mtu > 9000 || cfg->reconcile_interval_sec < 1 ||
	    cfg->reconcile_interval_sec > 3600 || cfg->quarantine_sec > 30 * DAY ||
	    (unsigned)cfg->log_level > AGENTCONF_LOG_DEBUG ||
	    (unsigned)cfg->backend > AGENTCONF_BACKEND_USERSPACE)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config *cfg = NULL;
	struct agentconf_error err;
	int r;

	r = agentconf_parse((const char *)data, size, "fuzz.conf", &cfg, &err);
	if (r < 0) {
		if (cfg || r != -EINVAL || !memchr(err.message, '\0', sizeof(err.message)) ||
		    !err.message[0])
			abort();
		return 0;
	}
	if (!cfg)
		abort();
	check_config(cfg);
	agentconf_free(cfg);
	return 0;
}
