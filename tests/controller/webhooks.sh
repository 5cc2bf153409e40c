#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Webhooks: a receiver in the control namespace records every POST. It refuses each id's
# first delivery (503), so every webhook is retried once, and from then on accepts. Each
# event must be accepted exactly once, signed (X-Wgfleet-Signature: sha256=HMAC of the body
# with webhook_secret_file's key), with X-Wgfleet-Event naming it:
#   - payment.completed once per completed payment, also when completed twice;
#   - vpn.expiring once per VPN and expiry, through sweeps and a controller restart, and
#     once more after a payment extended the expiry;
#   - vpn.expired once, for the trial that expired (trial_duration 6s);
# and a 4xx answer fails the job at once (no retry).
#   webhooks.sh BIN_DIR       (through tests/db/with_db.sh: DATABASE_URL)
. "$(dirname "$0")/ctl_lib.sh"
command -v python3 >/dev/null || wgf_fail "python3 is not installed"
CTL_NODES=1
HOOK_PORT=9000
HOOK_DIR=$WGF_TMP/hooks
mkdir -p "$HOOK_DIR"
(umask 077; head -c 32 /dev/urandom | base64 | tr -d '=+/\n' >"$WGF_TMP/webhook.secret")
CONF[webhook_url]="http://127.0.0.1:$HOOK_PORT/hook"
CONF[webhook_secret_file]="$WGF_TMP/webhook.secret"
CONF[trial_duration]=6s
CONF[expiry_notice]=100d # a month's VPN, and the same extended by a month, are both due
ctl_setup

# The receiver: one JSON file per request, written whole (rename), with what it answered.
cat >"$WGF_TMP/receiver.py" <<'PY'
import hashlib, hmac, http.server, json, os, sys, threading

port, out, secret_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(secret_file, "rb") as f:
    secret = f.read().rstrip(b"\r\n")
lock = threading.Lock()
seen = {}
seq = [0]

class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Wgfleet-Signature", "")
        try:
            doc = json.loads(body)
            key = doc.get("id")
        except ValueError:
            doc, key = None, None
        with lock:
            seq[0] += 1
            n = seq[0]
            seen[key] = seen.get(key, 0) + 1
            first = seen[key] == 1
        if os.path.exists(os.path.join(out, "reject")):
            status = 400
        elif first:
            status = 503
        else:
            status = 200
        rec = {"seq": n, "path": self.path, "status": status, "body": doc,
               "raw": body.decode("utf-8", "replace"),
               "event_header": self.headers.get("X-Wgfleet-Event"),
               "content_type": self.headers.get("Content-Type"),
               "sig_ok": hmac.compare_digest(got, want)}
        tmp = os.path.join(out, ".%06d.tmp" % n)
        with open(tmp, "w") as f:
            json.dump(rec, f)
        os.rename(tmp, os.path.join(out, "%06d.json" % n))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
PY
ip netns exec "$KNS" python3 "$WGF_TMP/receiver.py" "$HOOK_PORT" "$HOOK_DIR" "$WGF_TMP/webhook.secret" \
	>>"$WGF_TMP/receiver.log" 2>&1 &
RECV_PID=$!
WGF_CLEANUP+=("kill $RECV_PID")
recv_up() {
	[ "$(ip netns exec "$KNS" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HOOK_PORT/")" != 000 ]
}
wait_for 10 "the webhook receiver listening" recv_up

# records: every request so far, as one JSON array.
records() {
	local f
	f=$(find "$HOOK_DIR" -name '[0-9]*.json' | sort)
	if [ -z "$f" ]; then echo '[]'; else cat $f | jq -s .; fi
}
# accepted EVENT [VPN]: how many deliveries of EVENT (for VPN) the receiver accepted.
accepted() {
	records | jq --arg e "$1" --arg v "${2:-}" '[.[] | select(.status == 200 and .body.event == $e
		and ($v == "" or (.body.data.vpn_id | tostring) == $v))] | length'
}
accepted_is() { [ "$(accepted "$1" "${3:-}")" = "$2" ]; }

pay() {
	jq -nc --argjson t "$1" --arg ch "$2" '{telegram_id: $t, method: "stars", amount: 150,
		currency: "XTR", vpn_type: "wireguard", months: 1, charge_id: $ch}'
}

TID=800100
user_put "$TID"
user_put $((TID + 1))

# --- a payment, completed twice: one payment.completed, one vpn.expiring for its VPN
expect 201 bot POST /v1/payments "$(pay $((TID + 1)) "wh-$WGF_ID-1")"
P1=$(j .id)
expect_any "200 201" bot POST "/v1/payments/$P1/complete"
PAID=$(j .vpn.id)
[ -n "$PAID" ] && [ "$PAID" != null ] || wgf_fail "completion granted no VPN: $BODY"
expect 200 bot POST "/v1/payments/$P1/complete"
wait_for 10 "payment.completed accepted" accepted_is payment.completed 1
wait_for 10 "vpn.expiring of the paid VPN accepted" accepted_is vpn.expiring 1 "$PAID"

# --- a trial: vpn.expiring at once (6 s < 100 d), vpn.expired after its expiry
expect_any "200 201" bot POST "/v1/users/$TID/vpns?wait=10" '{"type":"wireguard","trial":true}'
TRIAL=$(j .id)
trial_exp=$(date -d "$(j .expires_at)" +%s)
wait_for 10 "vpn.expiring of the trial accepted" accepted_is vpn.expiring 1 "$TRIAL"
wait_for 20 "vpn.expired of the trial accepted" accepted_is vpn.expired 1 "$TRIAL"
vpn_status "$TRIAL" expired || wgf_fail "the trial: $BODY"
log "trial expired and announced"

# The payloads: data as documented, the receiver's clock aside.
rec=$(records | jq -c --arg v "$TRIAL" '[.[] | select(.status == 200 and .body.event == "vpn.expired"
	and (.body.data.vpn_id | tostring) == $v)][0]')
[ "$(jq -r .event_header <<<"$rec")" = vpn.expired ] || wgf_fail "X-Wgfleet-Event: $rec"
[ "$(jq -r .body.data.telegram_id <<<"$rec")" = "$TID" ] || wgf_fail "telegram_id: $rec"
[ "$(date -d "$(jq -r .body.data.expires_at <<<"$rec")" +%s)" = "$trial_exp" ] ||
	wgf_fail "expires_at $(jq -r .body.data.expires_at <<<"$rec"), want $(date -u -d "@$trial_exp" +%FT%TZ)"
[ "$(jq -r .body.id <<<"$rec")" = "vpn.expired-$TRIAL" ] || wgf_fail "id: $rec"
date -d "$(jq -r .body.sent_at <<<"$rec")" +%s >/dev/null 2>&1 || wgf_fail "sent_at: $rec"
[[ "$(jq -r .content_type <<<"$rec")" == application/json* ]] || wgf_fail "Content-Type: $rec"

# --- more sweeps and a controller restart send nothing again
sleep 2.5
ctl_stop 1
ctl_start 1
sleep 3
accepted_is vpn.expiring 1 "$PAID" || wgf_fail "vpn.expiring of VPN $PAID accepted $(accepted vpn.expiring "$PAID") times"
accepted_is vpn.expiring 1 "$TRIAL" || wgf_fail "vpn.expiring of the trial accepted $(accepted vpn.expiring "$TRIAL") times"
accepted_is vpn.expired 1 "$TRIAL" || wgf_fail "vpn.expired accepted $(accepted vpn.expired "$TRIAL") times"
accepted_is payment.completed 1 || wgf_fail "payment.completed accepted $(accepted payment.completed) times"

# --- an extension earns a new notice (the key holds the expiry)
expect 201 bot POST /v1/payments "$(pay $((TID + 1)) "wh-$WGF_ID-2")"
P2=$(j .id)
expect_any "200 201" bot POST "/v1/payments/$P2/complete"
[ "$(j .vpn.id)" = "$PAID" ] || wgf_fail "the second payment did not extend VPN $PAID: $BODY"
wait_for 10 "payment.completed of the second payment" accepted_is payment.completed 2
wait_for 10 "a second vpn.expiring after the extension" accepted_is vpn.expiring 2 "$PAID"
[ "$(records | jq --arg v "$PAID" '[.[] | select(.status == 200 and .body.event == "vpn.expiring"
	and (.body.data.vpn_id | tostring) == $v) | .body.data.expires_at] | unique | length')" = 2 ] ||
	wgf_fail "the two notices of VPN $PAID name the same expiry"

# --- every accepted delivery: signed right, named right, its id accepted once, after one 503
all=$(records)
[ "$(jq '[.[] | select(.sig_ok | not)] | length' <<<"$all")" = 0 ] ||
	wgf_fail "bad signatures: $(jq -c '[.[] | select(.sig_ok | not)][0]' <<<"$all")"
[ "$(jq '[.[] | select(.event_header != .body.event)] | length' <<<"$all")" = 0 ] ||
	wgf_fail "X-Wgfleet-Event differs from the event"
[ "$(jq '[.[] | select(.status == 200) | .body.id] | group_by(.) | map(select(length > 1)) | length' <<<"$all")" = 0 ] ||
	wgf_fail "an id accepted twice: $(jq -c '[.[] | select(.status == 200) | .body.id]' <<<"$all")"
[ "$(jq '[.[] | select(.status == 200) | .body.id] as $ok | [.[] | select(.status == 503) | .body.id] as $no
	| [$ok[] | select(. as $i | $no | index($i) | not)] | length' <<<"$all")" = 0 ] ||
	wgf_fail "an id accepted without its first delivery refused (no retry seen)"
wait_for 10 "jobs settled" jobs_settled
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'notify' AND state = 'failed'")" = 0 ] ||
	wgf_fail "failed webhooks: $(sql "SELECT id, last_error FROM jobs WHERE kind = 'notify' AND state = 'failed'")"
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'notify' AND attempts < 2")" = 0 ] ||
	wgf_fail "a webhook done in one attempt although its first delivery was refused"
log "$(jq '[.[] | select(.status == 200)] | length' <<<"$all") webhooks accepted once each, $(jq length <<<"$all") deliveries"

# --- a 4xx answer: the job fails at once, never retried
touch "$HOOK_DIR/reject"
n0=$(records | jq length)
expect 201 bot POST /v1/payments "$(pay $((TID + 1)) "wh-$WGF_ID-3")"
P3=$(j .id)
expect_any "200 201" bot POST "/v1/payments/$P3/complete"
failed_notify() { [ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'notify' AND state = 'failed'")" -ge 1 ]; }
wait_for 10 "a refused webhook failed" failed_notify
wait_for 10 "jobs settled" jobs_settled
[ "$(sql "SELECT COUNT(*) FROM jobs WHERE kind = 'notify' AND state = 'failed' AND attempts <> 1")" = 0 ] ||
	wgf_fail "a webhook answered 400 was retried: $(sql "SELECT id, attempts, last_error FROM jobs WHERE kind = 'notify' AND state = 'failed'")"
sleep 1
[ "$(records | jq "[.[] | select(.seq > $n0) | .body.id] | group_by(.) | map(select(length > 1)) | length")" = 0 ] ||
	wgf_fail "a refused webhook was delivered again"
# The controller's /metrics counts what its workers did (since the restart) and reads
# the jobs table's states.
expect 200 monitor GET /metrics
metric() { awk -v m="$1" '$1 == m { print $2 }' <<<"$BODY"; }
(( $(metric 'wgfleet_controller_jobs_total{kind="notify",outcome="failed"}') >= 1 )) ||
	wgf_fail "metrics: no failed notify job counted"
(( $(metric 'wgfleet_controller_jobs_total{kind="notify",outcome="retried"}') >= 2 )) ||
	wgf_fail "metrics: retried notify jobs not counted"
(( $(metric 'wgfleet_controller_jobs{state="failed"}') >= 1 )) || wgf_fail "metrics: no jobs gauge"
echo "webhooks: PASS"
