// SPDX-License-Identifier: MIT
/*
 * The agent client's answer parsers over arbitrary bytes (an agent, or whatever answers
 * at its address, chooses them): the first byte picks the parser, the rest is the body.
 * Each must return a complete struct or an error with nothing written, never crash or
 * leak; what it returns must hold what the header promises (keys, addresses, strings).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into the harness for coverage instrumentation, as the other targets do. */
#include "../controller/agentclient.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_peer(const struct agent_peer *p)
{
	uint8_t key[WG_KEY_LEN];
	struct wg_allowedip ip;

	if (!p->public_key || wg_key_from_base64(p->public_key, key) < 0)
		abort();
	for (size_t i = 0; i < p->n_addresses; i++)
		if (!p->addresses[i] || wg_allowedip_parse(p->addresses[i], &ip) < 0)
			abort();
	if (p->persistent_keepalive < 0 || p->persistent_keepalive > 65535)
		abort();
	if (p->server_public_key && wg_key_from_base64(p->server_public_key, key) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	struct agent_error err;
	size_t len, n = 7;
	int r;

	if (size < 1)
		return 0;
	len = size - 1;
	switch (data[0] % 6) {
	case 0: {
		struct agent_info *i = NULL;
		uint8_t key[WG_KEY_LEN];

		r = agent_info_parse(body, len, &i, &err);
		if ((r == 0) != (i != NULL))
			abort();
		if (i && (wg_key_from_base64(i->public_key, key) < 0 || !i->interface ||
		          !i->backend || !i->endpoint || !i->boot_id || !i->pools_json))
			abort();
		agent_info_free(i);
		break;
	}
	case 1: {
		struct agent_peer *p = NULL;

		r = agent_peer_parse(body, len, &p, &err);
		if ((r == 0) != (p != NULL))
			abort();
		if (p)
			check_peer(p);
		agent_peer_free(p);
		break;
	}
	case 2: {
		struct agent_peer *p = NULL;

		r = agent_peers_parse(body, len, &p, &n, &err);
		if (r < 0 && (p || n != 7))
			abort();
		for (size_t i = 0; r == 0 && i < n; i++)
			check_peer(&p[i]);
		agent_peers_free(p, r == 0 ? n : 0);
		break;
	}
	case 3: {
		struct agent_put_result *res = NULL;

		r = agent_put_result_parse(body, len, &res, &err);
		if ((r == 0) != (res != NULL))
			abort();
		for (size_t i = 0; res && i < res->n_peers; i++)
			check_peer(&res->peers[i]);
		agent_put_result_free(res);
		break;
	}
	case 4: {
		/* The batch answer, for 1..8 peers as the first byte says. */
		struct agent_peer *p = NULL;
		size_t want = 1 + (size_t)(data[0] / 6) % 8;

		r = agent_add_peers_parse(body, len, want, &p, &err);
		if ((r == 0) != (p != NULL))
			abort();
		for (size_t i = 0; p && i < want; i++)
			check_peer(&p[i]);
		agent_peers_free(p, p ? want : 0);
		break;
	}
	default:
		/* An error body: the code and message that reach logs are printable ASCII. */
		r = agent_status_to_errno(400 + (len ? data[1] % 200 : 0), body, len, &err);
		if (r >= 0)
			abort();
		for (const char *s = err.code; *s; s++)
			if (*s < ' ' || *s >= 0x7f)
				abort();
		for (const char *s = err.message; *s; s++)
			if (*s < ' ' || *s >= 0x7f)
				abort();
		break;
	}
	return 0;
}
