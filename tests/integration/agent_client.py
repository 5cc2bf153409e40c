#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# One API client for the agent tests: N provisions of fresh random keys over one keep-alive
# connection; each acknowledged peer is appended to OUT ("key addr addr") and flushed at
# once, so a kill of the agent leaves exactly the acknowledged ones in the file.
#   agent_client.py HOST PORT TOKEN N OUT
import base64, http.client, json, os, sys

host, port, token, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
conn = http.client.HTTPConnection(host, port, timeout=30)
hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
with open(out, "a") as f:
    for i in range(n):
        key = base64.b64encode(os.urandom(32)).decode()
        body = json.dumps({"public_key": key, "job_id": "job-" + key})
        try:
            conn.request("POST", "/v1/peers", body, hdr)
            r = conn.getresponse()
            data = r.read()
        except (OSError, http.client.HTTPException):
            sys.exit(0)  # the agent was killed: what was acknowledged is in OUT
        if r.status != 201:
            sys.exit("unexpected %d: %s" % (r.status, data))
        a = json.loads(data)
        f.write(key + " " + " ".join(a["addresses"]) + "\n")
        f.flush()
