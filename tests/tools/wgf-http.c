// SPDX-License-Identifier: MIT
/*
 * wgf-http: one HTTP request for the tests that run where there is no curl(1) (the VM guest
 * has busybox wget, which can neither send DELETE nor show the body of an error answer).
 *   wgf-http [-T TOKEN_FILE] [-X METHOD] [-d BODY] URL
 * Prints the answer's body, a newline and the status code on a line of its own (the same
 * shape as the integration tests' api()). Exit 0 on any HTTP answer, 1 when there was none
 * (connection refused, timeout), 2 on bad usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t write_body(char *ptr, size_t size, size_t n, void *ud)
{
	return fwrite(ptr, size, n, ud) == n ? n * size : 0;
}

/* The token file's first line, without its newline; NULL if unreadable. */
static char *token_read(const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (!f)
		return NULL;
	len = getline(&line, &cap, f);
	fclose(f);
	if (len < 0) {
		free(line);
		return NULL;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	return line;
}

int main(int argc, char **argv)
{
	const char *method = "GET", *body = NULL, *token_file = NULL;
	struct curl_slist *hdrs = NULL;
	char *token = NULL, *auth = NULL;
	long status = 0;
	CURLcode cr;
	CURL *c;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "T:X:d:")) != -1) {
		switch (opt) {
		case 'T': token_file = optarg; break;
		case 'X': method = optarg; break;
		case 'd': body = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	if (token_file) {
		token = token_read(token_file);
		if (!token || asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			fprintf(stderr, "wgf-http: cannot read the token from %s\n", token_file);
			free(token);
			return 2;
		}
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (body)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	c = curl_easy_init();
	if (!c)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, argv[optind]);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, stdout);
	/* Emulated guests are slow; still, a hung agent must not hang the test. */
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	cr = curl_easy_perform(c);
	if (cr == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		printf("\n%ld\n", status);
		rc = 0;
	} else {
		fprintf(stderr, "wgf-http: %s %s: %s\n", method, argv[optind], curl_easy_strerror(cr));
	}
	curl_easy_cleanup(c);
out:
	curl_slist_free_all(hdrs);
	if (token) {
		explicit_bzero(token, strlen(token));
		explicit_bzero(auth, strlen(auth));
	}
	free(token);
	free(auth);
	return rc;
usage:
	fprintf(stderr, "usage: wgf-http [-T TOKEN_FILE] [-X METHOD] [-d BODY] URL\n");
	return 2;
}
