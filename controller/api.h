/* SPDX-License-Identifier: MIT */
/*
 * The controller's HTTP API (docs/api.md, "Controller"; served by api.c over
 * common/http.c): the route table, the handlers and the server's lifetime.
 */
#pragma once

#include <stddef.h>

#include "httproute.h"
#include "service.h"

/*
 * Listens on s->cfg->api_listen_addr (HTTPS when tls_cert/tls_key are set), with the
 * tokens (roles: CTL_ROLE_BOT, CTL_ROLE_ADMIN, CTL_ROLE_MONITOR; only their digests are
 * kept, so the caller may wipe them afterwards), a 64 KiB body limit and the metrics
 * prefix "wgfleet_controller". Stores the server in s->http. Requests are logged through
 * svc_log (5xx as warn, the rest as debug). On failure ret_err names the cause (errors as
 * http_server_start) and s->http stays NULL.
 */
int api_start(struct ctl_service *s, const struct http_token *tokens, size_t n_tokens,
              char *ret_err, size_t err_size);

/* Stops serving: waits for running handlers (a ?wait= ends early once s->stopping is
 * set), frees the server, s->http becomes NULL. Accepts a service whose API never
 * started. */
void api_stop(struct ctl_service *s);
