// SPDX-License-Identifier: MIT
/*
 * wguapi_parse_get() over arbitrary bytes: a UAPI reply comes from another process, so
 * any input must give a device or an error, never a crash or a leak.
 *
 * Beyond not crashing, every accepted reply must survive a round trip: the device passes
 * validation, formats as a SET, and that SET read back through the parser gives the same
 * fields. A parser that accepted something the formatter cannot express would fail here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wguapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_same(const struct wg_device *a, const struct wg_device *b)
{
	if (a->n_peers != b->n_peers || a->listen_port != b->listen_port ||
	    a->fwmark != b->fwmark || memcmp(a->private_key, b->private_key, WG_KEY_LEN))
		abort();
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct wg_peer *p = &a->peers[i], *q = &b->peers[i];

		if (memcmp(p->public_key, q->public_key, WG_KEY_LEN) ||
		    memcmp(p->preshared_key, q->preshared_key, WG_KEY_LEN) ||
		    !wg_endpoint_equal(&p->endpoint, &q->endpoint) ||
		    p->persistent_keepalive != q->persistent_keepalive || p->n_ips != q->n_ips)
			abort();
		for (size_t j = 0; j < p->n_ips; j++)
			if (wg_allowedip_cmp(&p->ips[j], &q->ips[j]))
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool initialised;
	struct wg_device *dev = NULL, *back = NULL;
	char *text = NULL, *reply = NULL;
	size_t len = 0;

	if (!initialised) {
		if (wg_key_init() < 0)
			abort();
		initialised = true;
	}
	if (wguapi_parse_get((const char *)data, size, "wg0", &dev) < 0)
		return 0;
	if (wg_device_validate(dev) < 0 || wguapi_format_set(dev, &text, &len) < 0)
		abort();
	/* The SET without its empty line, plus the end of a GET reply. */
	reply = malloc(len + 9);
	if (!reply)
		abort();
	memcpy(reply, text, len - 1);
	memcpy(reply + len - 1, "errno=0\n\n", 9);
	if (wguapi_parse_get(reply, len - 1 + 9, "wg0", &back) < 0)
		abort();
	check_same(dev, back);
	free(reply);
	free(text);
	wg_device_free(back);
	wg_device_free(dev);
	return 0;
}
