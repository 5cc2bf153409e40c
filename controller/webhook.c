// SPDX-License-Identifier: MIT
/*
 * Webhook delivery (worker.h): a notify job's payload becomes one signed POST to
 * webhook_url. The receiver deduplicates by "id" (the job's idempotency key): a delivery
 * whose answer we never saw is sent again, so at-least-once is the promise, and the id
 * makes it exactly-once for a receiver that keeps the ids it has seen.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_job.h"
#include "db_user.h"
#include "httpc.h"
#include "service.h"
#include "worker.h"

/* A receiver's answer is read only for the log; anything longer is not worth keeping. */
#define WEBHOOK_MAX_ANSWER ((size_t)64 << 10)
#define EVENT_NAME_MAX 64

void worker_rfc3339(int64_t us, char out[static RFC3339_LEN])
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, RFC3339_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, RFC3339_LEN, "1970-01-01T00:00:00Z");
}

void webhook_signature(const uint8_t *key, size_t key_len, const void *body, size_t len,
                       char out[static WEBHOOK_SIGNATURE_LEN])
{
	crypto_auth_hmacsha256_state st;
	uint8_t mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, key, key_len);
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, WEBHOOK_SIGNATURE_LEN - 7, mac, sizeof(mac));
	/* The state holds the key's inner and outer pads. */
	sodium_memzero(&st, sizeof(st));
}

/* An event name goes into a header line: only what our events are made of. */
static bool event_name_valid(const char *e)
{
	size_t n = strlen(e);

	if (n == 0 || n > EVENT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((e[i] >= 'a' && e[i] <= 'z') || (e[i] >= '0' && e[i] <= '9') || e[i] == '.' ||
		      e[i] == '_' || e[i] == '-'))
			return false;
	return true;
}

int webhook_body(const char *key, const char *payload, int64_t now_us, char **ret_event,
                 char **ret_body, size_t *ret_len)
{
	json_t *p = NULL, *out = NULL, *data;
	const char *event;
	char sent_at[RFC3339_LEN];
	char *ev = NULL, *body = NULL;
	int r;

	p = json_loads(payload ? payload : "", JSON_REJECT_DUPLICATES, NULL);
	event = json_string_value(json_object_get(p, "event"));
	data = json_object_get(p, "data");
	if (!key || !event || !event_name_valid(event) || !json_is_object(data)) {
		r = -EINVAL;
		goto out;
	}
	worker_rfc3339(now_us, sent_at);
	out = json_pack("{s:s, s:s, s:O, s:s}", "id", key, "event", event, "data", data, "sent_at",
	                sent_at);
	body = out ? json_dumps(out, JSON_COMPACT) : NULL;
	ev = strdup(event);
	if (!body || !ev) {
		r = -ENOMEM;
		goto out;
	}
	*ret_event = ev;
	*ret_body = body;
	*ret_len = strlen(body);
	ev = body = NULL;
	r = 0;
out:
	free(ev);
	free(body);
	json_decref(out);
	json_decref(p);
	return r;
}

bool webhook_error_retryable(int r)
{
	switch (r) {
	case -EIO:
	case -ECONNREFUSED:
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ECONNRESET:
	case -ENOMEM:
		return true;
	default:
		return false;
	}
}

int webhook_send(struct ctl_service *s, struct httpc *h, const struct db_job *j, char *err,
                 size_t err_size)
{
	struct httpc_response resp = {0};
	char *event = NULL, *body = NULL;
	char event_hdr[32 + EVENT_NAME_MAX], sig_hdr[32 + WEBHOOK_SIGNATURE_LEN];
	char sig[WEBHOOK_SIGNATURE_LEN];
	const char *headers[3] = {NULL};
	size_t len = 0;
	int r;

	err[0] = '\0';
	if (!s->cfg->webhook_url) {
		snprintf(err, err_size, "no webhook_url configured");
		return -ENOENT;
	}
	r = webhook_body(j->idempotency_key, j->payload, db_now_us(), &event, &body, &len);
	if (r < 0) {
		snprintf(err, err_size, "%s",
		         r == -EINVAL ? "payload is not {\"event\", \"data\"}" : strerror(-r));
		goto out;
	}
	snprintf(event_hdr, sizeof(event_hdr), "X-Wgfleet-Event: %s", event);
	headers[0] = event_hdr;
	if (s->webhook_secret && s->webhook_secret_len > 0) {
		webhook_signature((const uint8_t *)s->webhook_secret, s->webhook_secret_len, body,
		                  len, sig);
		snprintf(sig_hdr, sizeof(sig_hdr), "X-Wgfleet-Signature: %s", sig);
		headers[1] = sig_hdr;
	}
	r = httpc_request(h, "POST", s->cfg->webhook_url, NULL, headers, body, len,
	                  "application/json", WEBHOOK_MAX_ANSWER, &resp, err, err_size);
	if (r < 0)
		goto out;
	if (resp.status >= 200 && resp.status < 300) {
		r = 0;
	} else if (resp.status >= 500 || resp.status == 408 || resp.status == 429) {
		/* The receiver is down, overloaded or asks us to slow down: it may take it
		 * later. */
		r = -EIO;
	} else if (resp.status >= 400) {
		r = -EINVAL;
	} else {
		r = -EPROTO;
	}
	if (r < 0)
		snprintf(err, err_size, "webhook answered HTTP %ld", resp.status);
out:
	httpc_response_done(&resp);
	free(event);
	free(body);
	return r;
}

int webhook_vpn_data(struct db_conn *c, uint64_t vpn_id, uint64_t user_id, int64_t expires_at_us,
                     char **ret)
{
	struct db_user *u = NULL;
	char expires[RFC3339_LEN];
	json_t *o = NULL;
	char *text;
	int r;

	r = db_user_get(c, user_id, &u);
	if (r < 0)
		goto out;
	worker_rfc3339(expires_at_us, expires);
	/* Ids as JSON integers: jansson's json_int_t is 64 bits, and ours fit in 63. */
	o = json_pack("{s:I, s:I, s:s}", "vpn_id", (json_int_t)vpn_id, "telegram_id",
	              (json_int_t)u->telegram_id, "expires_at", expires);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	*ret = text;
	r = 0;
out:
	json_decref(o);
	db_user_free(u);
	return r;
}
