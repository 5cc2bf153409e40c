// SPDX-License-Identifier: MIT
/*
 * The HTTP client (see httpc.h): libcurl's easy interface, one handle per struct httpc.
 * Each request starts from curl_easy_reset(), so no option of an earlier request leaks
 * into the next one, while the handle's connection cache (keep-alive) survives the reset.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "httpc.h"
#include "secretfile.h"
#include "wgfleet/macro.h"

#define DEFAULT_TIMEOUT_MS 30000U
#define DEFAULT_CONNECT_TIMEOUT_MS 10000U
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define TOKEN_MAX 4096
#define METHOD_MAX 16

struct httpc {
	CURL *curl;
	char *ca_file;
	unsigned timeout_ms, connect_timeout_ms;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static int global_result;

static void global_init_once(void)
{
	global_result = curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK ? 0 : -EIO;
	if (global_result == 0 && sodium_init() < 0)
		global_result = -EIO;
}

int httpc_global_init(void)
{
	pthread_once(&global_once, global_init_once);
	return global_result;
}

int httpc_new(const struct httpc_options *o, struct httpc **ret)
{
	struct httpc *h = NULL;
	int r;

	r = httpc_global_init();
	if (r < 0)
		return r;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->timeout_ms = o && o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	h->connect_timeout_ms =
	    o && o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	if (h->connect_timeout_ms > h->timeout_ms)
		h->connect_timeout_ms = h->timeout_ms;
	if (o && o->ca_file) {
		/* Refused now with a clear reason rather than as a TLS error on the first call. */
		int fd = open(o->ca_file, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			r = -EINVAL;
			goto out;
		}
		close(fd);
		h->ca_file = strdup(o->ca_file);
		if (!h->ca_file) {
			r = -ENOMEM;
			goto out;
		}
	}
	h->curl = curl_easy_init();
	if (!h->curl) {
		r = -ENOMEM;
		goto out;
	}
	*ret = h;
	h = NULL;
out:
	httpc_free(h);
	return r;
}

struct httpc *httpc_free(struct httpc *h)
{
	if (!h)
		return NULL;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->ca_file);
	free(h);
	return NULL;
}

void httpc_response_done(struct httpc_response *r)
{
	if (!r)
		return;
	if (r->body) {
		sodium_memzero(r->body, r->len);
		free(r->body);
	}
	free(r->content_type);
	*r = (struct httpc_response){0};
}

/* The answer's body as it arrives; grown by copying so the old buffer can be wiped. */
struct sink {
	char *buf;
	size_t len, cap, max;
	bool too_big;
};

static size_t sink_write(char *data, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t add = size * n;

	if (add > s->max - s->len) {
		s->too_big = true;
		return 0; /* libcurl stops with CURLE_WRITE_ERROR */
	}
	if (s->len + add + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;

		while (cap < s->len + add + 1)
			cap *= 2;
		nb = malloc(cap);
		if (!nb)
			return 0;
		if (s->buf) {
			memcpy(nb, s->buf, s->len);
			sodium_memzero(s->buf, s->cap);
			free(s->buf);
		}
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

static void sink_done(struct sink *s)
{
	if (s->buf) {
		sodium_memzero(s->buf, s->cap);
		free(s->buf);
	}
	*s = (struct sink){0};
}

/* A header line: "Name: value", a token name, no control characters but tab. */
static bool header_valid(const char *line)
{
	const char *colon = strchr(line, ':');

	if (!colon || colon == line)
		return false;
	for (const char *p = line; p < colon; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;\\\"/[]?={}", *p))
			return false;
	for (const char *p = colon + 1; *p; p++)
		if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

static bool method_valid(const char *m)
{
	size_t n = 0;

	for (; m[n]; n++)
		if (m[n] < 'A' || m[n] > 'Z')
			return false;
	return n > 0 && n <= METHOD_MAX;
}

static bool token_valid(const char *t)
{
	size_t n = 0;

	for (; t[n]; n++)
		if (t[n] <= ' ' || t[n] >= 0x7f)
			return false;
	return n > 0 && n <= TOKEN_MAX;
}

static bool url_scheme_valid(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* libcurl's verdict as -errno; a failed connect says why in the socket's errno. */
static int curl_to_errno(CURL *c, CURLcode code, const struct sink *s)
{
	long os = 0;

	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_URL_MALFORMAT:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_BAD_FUNCTION_ARGUMENT:
		return -EINVAL;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os);
		if (os == EHOSTUNREACH || os == ENETUNREACH || os == ETIMEDOUT ||
		    os == ECONNREFUSED)
			return -(int)os;
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
		return -ECONNRESET;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_WRITE_ERROR:
		return s->too_big ? -EFBIG : -ENOMEM;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_TOO_MANY_REDIRECTS:
	/*
	 * Other schemes never get this far (check_request), so this is libcurl refusing
	 * what came back: "Received HTTP/0.9 when not allowed", i.e. not HTTP at all.
	 */
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* Header lines are copied by libcurl into list nodes: wipe those that hold the token. */
static void headers_free(struct curl_slist *list)
{
	for (struct curl_slist *l = list; l; l = l->next)
		if (strncasecmp(l->data, "Authorization:", 14) == 0)
			sodium_memzero(l->data, strlen(l->data));
	curl_slist_free_all(list);
}

static int headers_add(struct curl_slist **list, const char *line)
{
	struct curl_slist *n = curl_slist_append(*list, line);

	if (!n)
		return -ENOMEM;
	*list = n;
	return 0;
}

static int headers_build(const char *bearer_token, const char *const *extra,
                         const char *content_type, bool has_body, struct curl_slist **ret)
{
	struct curl_slist *list = NULL;
	char *auth = NULL;
	size_t auth_len = 0;
	int r = 0;

	if (bearer_token) {
		auth_len = strlen("Authorization: Bearer ") + strlen(bearer_token) + 1;
		auth = malloc(auth_len);
		if (!auth) {
			r = -ENOMEM;
			goto out;
		}
		snprintf(auth, auth_len, "Authorization: Bearer %s", bearer_token);
		r = headers_add(&list, auth);
		if (r < 0)
			goto out;
	}
	/* No "Expect: 100-continue" round trip before a large body. */
	r = headers_add(&list, "Expect:");
	if (r < 0)
		goto out;
	if (has_body) {
		char *ct;

		/* "Content-Type:" alone stops libcurl's form-urlencoded default. */
		if (asprintf(&ct, "Content-Type:%s%s", content_type ? " " : "",
		             content_type ? content_type : "") < 0) {
			r = -ENOMEM;
			goto out;
		}
		r = headers_add(&list, ct);
		free(ct);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; extra && extra[i]; i++) {
		r = headers_add(&list, extra[i]);
		if (r < 0)
			goto out;
	}
	*ret = list;
	list = NULL;
out:
	if (auth) {
		sodium_memzero(auth, auth_len);
		free(auth);
	}
	headers_free(list);
	return r;
}

static int check_request(const char *method, const char *url, const char *bearer_token,
                         const char *const *extra_headers, const void *body, size_t len,
                         const char *content_type, char *ret_err, size_t err_size)
{
	if (!method || !method_valid(method)) {
		err_printf(ret_err, err_size, "invalid HTTP method");
		return -EINVAL;
	}
	if (!url || !url_scheme_valid(url)) {
		err_printf(ret_err, err_size, "invalid URL: only http:// and https:// are allowed");
		return -EINVAL;
	}
	if (bearer_token && !token_valid(bearer_token)) {
		err_printf(ret_err, err_size,
		        "invalid bearer token (printable, no spaces, 1..%d bytes)", TOKEN_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; extra_headers && extra_headers[i]; i++) {
		if (!header_valid(extra_headers[i])) {
			err_printf(ret_err, err_size, "invalid header line %zu", i);
			return -EINVAL;
		}
	}
	if (content_type) {
		for (const char *p = content_type; *p; p++) {
			if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f) {
				err_printf(ret_err, err_size, "invalid content type");
				return -EINVAL;
			}
		}
	}
	if (!body && len) {
		err_printf(ret_err, err_size, "a body length without a body");
		return -EINVAL;
	}
	if (body && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
		err_printf(ret_err, err_size, "%s with a body", method);
		return -EINVAL;
	}
	return 0;
}

int httpc_request(struct httpc *h, const char *method, const char *url, const char *bearer_token,
                  const char *const *extra_headers, const void *body, size_t len,
                  const char *content_type, size_t max_response, struct httpc_response *ret,
                  char *ret_err, size_t err_size)
{
	struct sink s = {.max = max_response ? max_response : DEFAULT_MAX_RESPONSE};
	struct curl_slist *headers = NULL;
	bool has_body = body || !strcmp(method ? method : "", "POST") ||
	                !strcmp(method ? method : "", "PUT") ||
	                !strcmp(method ? method : "", "PATCH");
	CURL *c;
	CURLcode code;
	long status = 0;
	char *ct = NULL, *ctype = NULL;
	int r;

	if (!h || !ret)
		return -EINVAL;
	r = check_request(method, url, bearer_token, extra_headers, body, len, content_type,
	                  ret_err, err_size);
	if (r < 0)
		return r;
	r = headers_build(bearer_token, extra_headers, content_type, has_body, &headers);
	if (r < 0) {
		err_printf(ret_err, err_size, "out of memory");
		return r;
	}
	c = h->curl;
	curl_easy_reset(c);
	h->errbuf[0] = '\0';
	code = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	/* Every option below is checked as one: the first failure stops the chain. */
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (code == CURLE_OK)                                                              \
			code = curl_easy_setopt(c, opt, val);                                      \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_NOPROGRESS, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_timeout_ms);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file)
		SET(CURLOPT_CAINFO, h->ca_file);
	SET(CURLOPT_USERAGENT, "wgfleet");
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_WRITEFUNCTION, sink_write);
	SET(CURLOPT_WRITEDATA, &s);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)s.max);
	if (!strcmp(method, "GET")) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(method, "HEAD")) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		if (has_body) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
			SET(CURLOPT_POSTFIELDS, body ? body : "");
		}
		if (strcmp(method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
	}
#undef SET
	if (code == CURLE_OK)
		code = curl_easy_perform(c);
	r = curl_to_errno(c, code, &s);
	if (r < 0) {
		if (r == -EFBIG)
			err_printf(ret_err, err_size, "the answer is larger than %zu bytes", s.max);
		else
			err_printf(ret_err, err_size, "%s",
			        h->errbuf[0] ? h->errbuf : curl_easy_strerror(code));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
		ctype = strdup(ct);
		if (!ctype) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (!s.buf) {
		s.buf = calloc(1, 1);
		if (!s.buf) {
			r = -ENOMEM;
			goto out;
		}
		s.cap = 1;
	}
	*ret = (struct httpc_response){
	    .status = status, .body = s.buf, .len = s.len, .content_type = ctype};
	s = (struct sink){0};
	ctype = NULL;
out:
	/* The handle keeps pointers to these until the next reset: leave none dangling. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	headers_free(headers);
	free(ctype);
	sink_done(&s);
	return r;
}
