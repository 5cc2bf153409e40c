#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A failed job gets a second chance once its cause is fixed: a provision whose agent is
# down fails after job_max_attempts; only an admin may retry it (POST /v1/jobs/{id}/retry,
# `wgfleetctl jobs retry`), only a failed job can be retried; with the agent back, the
# retried job runs and the VPN becomes active on the node.
#   jobs_retry.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
CTL_NODES=1
CONF[job_max_attempts]=2
CONF[unhealthy_after]=1000 # the node stays eligible while its agent is down
ctl_setup
TID=140100
user_put "$TID"

agent_stop 1
expect 201 bot POST "/v1/users/$TID/vpns" '{"type":"wireguard","name":"retry"}'
VID=$(j .id)
JID=$(j .job.id)
job_failed() { [ "$(sql "SELECT state FROM jobs WHERE id = $JID")" = failed ]; }
wait_for 20 "the provision job $JID failed while the agent is down" job_failed
vpn_status "$VID" pending || wgf_fail "VPN $VID after a failed provision: $BODY"
log "job $JID failed: $(sql "SELECT last_error FROM jobs WHERE id = $JID")"

# Who may, and what may be retried.
expect_err 403 forbidden bot POST "/v1/jobs/$JID/retry"
expect_err 403 forbidden monitor POST "/v1/jobs/$JID/retry"
expect_err 404 not_found admin POST "/v1/jobs/999999/retry"
expect_err 400 invalid_value admin POST "/v1/jobs/x1/retry"
done_job=$(sql "SELECT MIN(id) FROM jobs WHERE state = 'done'")
if [ -n "$done_job" ] && [ "$done_job" != NULL ]; then
	expect_err 409 invalid_transition admin POST "/v1/jobs/$done_job/retry"
fi
[ "$(sql "SELECT state FROM jobs WHERE id = $JID")" = failed ] || wgf_fail "a refused retry changed job $JID"

# The agent is back; an admin retries with wgfleetctl.
agent_start 1
out=$(ip netns exec "$KNS" "$WGFLEETCTL" --url "$(ctl_url 1)" --token-file "$WGF_TMP/admin.token" \
	jobs retry "$JID" --json) || wgf_fail "wgfleetctl jobs retry: $out"
[ "$(jq -r .id <<<"$out")" = "$JID" ] || wgf_fail "wgfleetctl jobs retry answered: $out"
wait_for 15 "VPN $VID active after the retry" vpn_status "$VID" active
wait_for 10 "the node holds exactly the active VPNs" nodes_match
[ "$(sql "SELECT state FROM jobs WHERE id = $JID")" = done ] || wgf_fail "job $JID is not done"
# Done now: a second retry is refused.
expect_err 409 invalid_transition admin POST "/v1/jobs/$JID/retry"
log "job $JID retried and done; VPN $VID active"
echo "jobs_retry: PASS"
