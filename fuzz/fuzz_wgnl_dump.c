// SPDX-License-Identifier: MIT
/*
 * The netlink dump parser over arbitrary kernel replies. The input is a sequence of
 * datagrams, each framed as a little-endian u16 length and that many bytes (a short last
 * frame takes what is left), fed one by one as recv() would hand them over.
 *
 * Beyond "no crash": a dump the parser accepts must be a device the rest of wgfleet can
 * trust (every peer has a key, every allowed IP is valid, endpoints have a known family).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wgdev.h"
#include "wgnl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_device(const struct wg_device *dev)
{
	if (dev->flags & ~(uint32_t)WG_DEVICE_FLAGS_ALL)
		abort();
	if (memchr(dev->name, '\0', sizeof(dev->name)) == NULL)
		abort();
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct wg_peer *p = &dev->peers[i];
		sa_family_t fam = p->endpoint.addr.sa_family;

		if (!(p->flags & WG_PEER_HAS_PUBLIC_KEY) ||
		    (p->flags & ~(uint32_t)WG_PEER_FLAGS_ALL))
			abort();
		if ((p->flags & WG_PEER_HAS_ENDPOINT) ? (fam != AF_INET && fam != AF_INET6)
						      : fam != AF_UNSPEC)
			abort();
		/* adjacent peers with one key are one peer continued: they must have been merged */
		if (i > 0 && !memcmp(p->public_key, dev->peers[i - 1].public_key, WG_KEY_LEN))
			abort();
		if (p->n_ips > p->cap_ips)
			abort();
		for (size_t j = 0; j < p->n_ips; j++)
			if (wg_allowedip_validate(&p->ips[j]) < 0)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wgnl_dump *d = NULL;
	struct wg_device *dev = NULL;
	uint8_t *buf = NULL;
	int r = 1;

	if (wgnl_dump_new(&d) < 0)
		return 0;
	/* recv buffers are aligned; so is this copy, at any offset of the input */
	buf = malloc(size ? size : 1);
	if (!buf)
		goto out;
	while (size > 0 && r == 1) {
		size_t n;

		if (size < 2) {
			n = size;
		} else {
			n = (size_t)data[0] | (size_t)data[1] << 8;
			data += 2;
			size -= 2;
			if (n > size)
				n = size;
		}
		memcpy(buf, data, n);
		r = wgnl_dump_feed(d, buf, n);
		data += n;
		size -= n;
		/* once failed, a dump stays failed */
		if (r < 0 && wgnl_dump_feed(d, buf, n) != r)
			abort();
	}
	if (r == 0) {
		if (wgnl_dump_take(d, &dev) < 0)
			abort();
		check_device(dev);
	}
out:
	wg_device_free(dev);
	free(buf);
	wgnl_dump_free(d);
	return 0;
}
