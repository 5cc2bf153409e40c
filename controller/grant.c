// SPDX-License-Identifier: MIT
/*
 * Granting and ending VPNs inside the caller's transaction (service.h): the config, its
 * sealed keys and the job that carries it to the node commit together or not at all, so
 * an acknowledged request is never lost and nothing is half-done.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_job.h"
#include "db_node.h"
#include "db_vpn.h"
#include "service.h"
#include "vault.h"
#include "wgkey.h"

/* A VPN's agent job, once per VPN and kind: the key "<kind>-<vpn id>" makes a second
 * queueing (a retried request, a revoke of an expired config) find the first. */
static int queue_vpn_job_in_tx(struct db_conn *c, enum job_kind kind, uint64_t vpn_id,
                               uint64_t node_id)
{
	char key[64];
	uint64_t job_id;
	bool created;

	snprintf(key, sizeof(key), "%s-%" PRIu64, job_kind_to_string(kind), vpn_id);
	struct db_job_new j = {
	    .kind = kind,
	    .node_id = node_id,
	    .vpn_config_id = vpn_id,
	    .payload = "{}",
	    .idempotency_key = key,
	};
	return db_job_enqueue_in_tx(c, &j, &job_id, &created);
}

int grant_keys_make(const struct ctl_service *s, struct grant_keys *ret)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN], psk[WG_KEY_LEN];
	char priv_b64[WG_KEY_B64_LEN], psk_b64[WG_KEY_B64_LEN];
	struct grant_keys k = {0};
	int r;

	r = wg_key_generate_private(priv);
	if (r < 0)
		goto out;
	r = wg_key_public_from_private(priv, pub);
	if (r < 0)
		goto out;
	r = wg_key_generate_preshared(psk);
	if (r < 0)
		goto out;
	wg_key_to_base64(k.pub_b64, pub);
	wg_key_to_base64(priv_b64, priv);
	wg_key_to_base64(psk_b64, psk);
	/* Sealed as the base64 text every consumer wants (the config file, the agent's JSON);
	 * vault_open() hands it back NUL-terminated. */
	r = vault_seal(s->vault, priv_b64, strlen(priv_b64), &k.priv_enc, &k.priv_enc_len);
	if (r < 0)
		goto out;
	r = vault_seal(s->vault, psk_b64, strlen(psk_b64), &k.psk_enc, &k.psk_enc_len);
	if (r < 0)
		goto out;
	*ret = k;
	k = (struct grant_keys){0};
out:
	grant_keys_done(&k);
	wg_key_wipe(priv, sizeof(priv));
	wg_key_wipe(psk, sizeof(psk));
	wg_key_wipe(priv_b64, sizeof(priv_b64));
	wg_key_wipe(psk_b64, sizeof(psk_b64));
	return r;
}

void grant_keys_done(struct grant_keys *k)
{
	if (!k)
		return;
	free(k->priv_enc);
	free(k->psk_enc);
	*k = (struct grant_keys){0};
}

void grant_vpn_new(const struct ctl_service *s, const struct grant_request *r, uint64_t node_id,
                   const struct grant_keys *k, char name[static GRANT_NAME_LEN],
                   struct db_vpn_new *ret)
{
	snprintf(name, GRANT_NAME_LEN, "%s%s", vpn_type_to_string(r->type),
	         r->trial ? "-trial" : "");
	*ret = (struct db_vpn_new){
	    .user_id = r->user_id,
	    .node_id = node_id,
	    .type = r->type,
	    .name = r->name ? r->name : name,
	    .config = "{}",
	    .peer_public_key = k->pub_b64,
	    .expires_at_us = r->trial ? db_now_us() + (int64_t)s->cfg->trial_duration_s * 1000000
	                              : r->expires_at_us,
	    .is_trial = r->trial,
	    .private_key_enc = k->priv_enc,
	    .private_key_enc_len = k->priv_enc_len,
	    .preshared_key_enc = k->psk_enc,
	    .preshared_key_enc_len = k->psk_enc_len,
	    .idempotency_key = r->idempotency_key,
	};
}

int grant_create_vpn_in_tx(struct ctl_service *s, struct db_conn *c, uint64_t actor_id,
                           const struct grant_request *r, uint64_t *ret_vpn_id)
{
	struct grant_keys k = {0};
	struct db_vpn_new n;
	char name[GRANT_NAME_LEN];
	uint64_t node_id, vpn_id;
	int r2;

	if (r->type != VPN_WIREGUARD)
		return -EOPNOTSUPP;
	r2 = db_node_pick_in_tx(c, &node_id);
	if (r2 < 0)
		return r2;
	r2 = grant_keys_make(s, &k);
	if (r2 < 0)
		goto out;
	grant_vpn_new(s, r, node_id, &k, name, &n);
	r2 = db_vpn_create_in_tx(c, actor_id, &n, &vpn_id);
	if (r2 < 0)
		goto out;
	r2 = queue_vpn_job_in_tx(c, JOB_PROVISION, vpn_id, node_id);
	if (r2 < 0)
		goto out;
	*ret_vpn_id = vpn_id;
out:
	grant_keys_done(&k);
	return r2;
}

int grant_queue_revoke_in_tx(struct db_conn *c, uint64_t vpn_id, uint64_t node_id)
{
	return queue_vpn_job_in_tx(c, JOB_REVOKE, vpn_id, node_id);
}

int grant_queue_webhook_in_tx(struct ctl_service *s, struct db_conn *c, const char *event,
                              const char *data, const char *key)
{
	json_t *payload = NULL, *d = NULL;
	char *text = NULL;
	uint64_t job_id;
	bool created;
	int r;

	if (!s->cfg->webhook_url)
		return 0;
	d = json_loads(data ? data : "{}", JSON_REJECT_DUPLICATES, NULL);
	if (!d || !json_is_object(d)) {
		r = -EINVAL;
		goto out;
	}
	payload = json_pack("{s:s, s:O}", "event", event, "data", d);
	text = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	struct db_job_new j = {
	    .kind = JOB_NOTIFY,
	    .payload = text,
	    .idempotency_key = key,
	};
	r = db_job_enqueue_in_tx(c, &j, &job_id, &created);
	if (r >= 0 && created)
		atomic_fetch_add(&s->metrics.webhooks_queued, 1);
out:
	free(text);
	json_decref(payload);
	json_decref(d);
	return r;
}
