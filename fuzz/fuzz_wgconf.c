// SPDX-License-Identifier: MIT
/*
 * wgconf_parse over arbitrary bytes, with no resolver (so no I/O): it must return a device
 * or an error, never crash, leak or read past len. A returned device must also pass
 * wg_device_validate, since backends rely on the parser's output being well formed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The parser is compiled into the harness (as wireguard-tools' fuzzers do) so that it gets
 * the fuzzer's coverage instrumentation even though libwgctl is built without it; the
 * linker then never pulls wgconf.o from the library.
 */
#include "wgconf.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wg_device *dev = NULL;
	struct wgconf_error err;
	int r;

	r = wgconf_parse((const char *)data, size, "wg0", NULL, NULL, &dev, &err);
	if (r < 0) {
		/* Nothing returned, and a message that is a terminated string with a line. */
		if (dev || !memchr(err.message, '\0', sizeof(err.message)) || !err.message[0])
			abort();
		return 0;
	}
	if (!dev || wg_device_validate(dev) < 0 || !(dev->flags & WG_DEVICE_REPLACE_PEERS))
		abort();
	/* Public keys are unique once duplicate sections are merged. */
	for (size_t i = 1; i < dev->n_peers && i < 64; i++)
		for (size_t j = 0; j < i; j++)
			if (!memcmp(dev->peers[i].public_key, dev->peers[j].public_key, 32))
				abort();
	wg_device_free(dev);
	return 0;
}
