/* SPDX-License-Identifier: MIT */
/*
 * The HTTP client boundary: the only code that includes <curl/curl.h>. A small blocking
 * client over one libcurl easy handle that keeps its connections alive between requests.
 *
 * Only http and https, for the request and for redirects, which are never followed (a 3xx
 * is an answer like any other). HTTPS verifies the peer and its name against ca_file, or
 * the system's CAs, with TLS 1.2 or later. Proxies from the environment (http_proxy, ...)
 * are ignored: the controller talks to its agents directly.
 *
 * Errors: 0 or -errno. An HTTP status is not an error here; these are:
 *   -ECONNREFUSED  nothing listens there
 *   -ETIMEDOUT     connect_timeout_ms or timeout_ms passed
 *   -EHOSTUNREACH, -ENETUNREACH  no route (a name that does not resolve: -EHOSTUNREACH)
 *   -ECONNRESET    the connection broke, or closed without an answer
 *   -EPROTO        TLS (handshake, certificate) or HTTP protocol failure
 *   -EFBIG         the answer is larger than max_response
 *   -EINVAL        a bad URL (other schemes included), method, token or header; an
 *                  unreadable ca_file
 *   -ENOMEM
 * ret_err (if not NULL) then holds one line: libcurl's message, or ours. It never holds the
 * bearer token or the body.
 *
 * Secrets: the Authorization header is built in memory that is wiped before it is freed,
 * and so is every answer's body (httpc_response_done). The request body is the caller's;
 * libcurl may copy a small one into its own send buffer, which is not wiped.
 *
 * Threads: call httpc_global_init() in main() before any thread starts. A struct httpc is
 * NOT thread-safe: one per thread; different handles may be used concurrently.
 */
#pragma once

#include <stddef.h>

/* libcurl's global initialisation, once per process (later calls return its first result). */
int httpc_global_init(void);

struct httpc_options {
	const char *ca_file;         /* PEM bundle for https; NULL: the system's */
	unsigned timeout_ms;         /* the whole request; 0: 30 s */
	unsigned connect_timeout_ms; /* TCP and TLS handshake; 0: 10 s, never above timeout_ms */
};

struct httpc;

/* A client; o may be NULL for the defaults. -EINVAL if ca_file cannot be read, -ENOMEM. */
int httpc_new(const struct httpc_options *o, struct httpc **ret);
struct httpc *httpc_free(struct httpc *h);

/* An answer. body is NUL-terminated (len excludes the NUL); content_type may be NULL. */
struct httpc_response {
	long status;
	char *body;
	size_t len;
	char *content_type;
};

/*
 * One request. method is an upper-case token ("GET", "DELETE", ...); with "HEAD" the body
 * is empty. bearer_token (NULL: none) must be printable ASCII without spaces. extra_headers
 * is NULL or a NULL-terminated list of "Name: value" lines without CR or LF. body (len
 * bytes, may be NULL with len 0) is sent with content_type (NULL: none) whenever body is
 * not NULL or the method is POST, PUT or PATCH. max_response bounds the body of the answer
 * (0: 64 MiB). *ret is written only on success; free it with httpc_response_done().
 */
int httpc_request(struct httpc *h, const char *method, const char *url, const char *bearer_token,
                  const char *const *extra_headers, const void *body, size_t len,
                  const char *content_type, size_t max_response, struct httpc_response *ret,
                  char *ret_err, size_t err_size);

/* Wipes and frees the body and content type; r becomes {0}. Accepts NULL. */
void httpc_response_done(struct httpc_response *r);
