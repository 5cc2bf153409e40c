// SPDX-License-Identifier: MIT
/*
 * webhook_body over arbitrary bytes: the first 8 are the send time (microseconds, little
 * endian), the rest the job's payload. It must return a body or -EINVAL with nothing
 * written, never crash or leak. A body must be the compact JSON {"id", "event", "data",
 * "sent_at"} holding the key, the payload's event (a name fit for a header line) and its
 * data object unchanged, and its signature must have the documented form.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Compiled into the harness for coverage instrumentation, as the other targets do. */
#include "../controller/webhook.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key[] = "fuzz:\"key\"\\1";

static void check_event(const char *e)
{
	size_t n = strlen(e);

	if (n == 0 || n > EVENT_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", e[i]))
			abort();
}

static void check_body(const char *payload, int64_t now_us, const char *event, const char *body,
                       size_t len)
{
	json_t *b, *p;
	const char *sent_at;
	char sig[WEBHOOK_SIGNATURE_LEN];

	if (len != strlen(body))
		abort();
	check_event(event);
	b = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	p = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	if (!b || !p || json_object_size(b) != 4)
		abort();
	if (strcmp(json_string_value(json_object_get(b, "id")) ?: "", key) ||
	    strcmp(json_string_value(json_object_get(b, "event")) ?: "", event) ||
	    strcmp(json_string_value(json_object_get(p, "event")) ?: "", event))
		abort();
	if (!json_is_object(json_object_get(b, "data")) ||
	    !json_equal(json_object_get(b, "data"), json_object_get(p, "data")))
		abort();
	sent_at = json_string_value(json_object_get(b, "sent_at"));
	if (!sent_at || !sent_at[0] || sent_at[strlen(sent_at) - 1] != 'Z')
		abort();
	/* From 1970 to 9999 (any clock we run on) it is RFC 3339; beyond, %Y has no fixed
	 * width. */
	if (now_us >= 0 && now_us <= INT64_C(253402300799999999)) {
		static const char form[] = "dddd-dd-ddTdd:dd:ddZ";

		if (strlen(sent_at) != sizeof(form) - 1)
			abort();
		for (size_t i = 0; i < sizeof(form) - 1; i++)
			if (form[i] == 'd' ? !(sent_at[i] >= '0' && sent_at[i] <= '9')
			                   : sent_at[i] != form[i])
				abort();
	}
	json_decref(b);
	json_decref(p);

	webhook_signature((const uint8_t *)key, sizeof(key) - 1, body, len, sig);
	if (strlen(sig) != WEBHOOK_SIGNATURE_LEN - 1 || memcmp(sig, "sha256=", 7))
		abort();
	for (size_t i = 7; i < WEBHOOK_SIGNATURE_LEN - 1; i++)
		if (!strchr("0123456789abcdef", sig[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char untouched[] = "untouched";
	char *payload, *event = untouched, *body = untouched;
	uint64_t t = 0;
	size_t len = 7;
	int r;

	if (size < 8)
		return 0;
	for (size_t i = 0; i < 8; i++)
		t |= (uint64_t)data[i] << (8 * i);
	payload = malloc(size - 8 + 1);
	if (!payload)
		return 0;
	memcpy(payload, data + 8, size - 8);
	payload[size - 8] = '\0';

	r = webhook_body(key, payload, (int64_t)t, &event, &body, &len);
	if (r < 0) {
		if (r != -EINVAL && r != -ENOMEM)
			abort();
		if (event != untouched || body != untouched || len != 7)
			abort();
	} else {
		if (r != 0 || !event || !body)
			abort();
		check_body(payload, (int64_t)t, event, body, len);
		free(event);
		free(body);
	}
	free(payload);
	return 0;
}
