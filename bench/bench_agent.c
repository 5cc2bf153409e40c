// SPDX-License-Identifier: MIT
/*
 * A client for bench/run-agent.sh: drives a running wgfleet-agent over one keep-alive
 * HTTP/1.1 connection on raw sockets (so no client library's cost is in the numbers).
 *
 *   bench_agent HOST PORT TOKEN_FILE put N    one PUT /v1/peers of N new peers (the load)
 *   bench_agent HOST PORT TOKEN_FILE post N   N POST /v1/peers of new peers, one at a time:
 *                                             latency p50/p90/p99/max in ms
 * Keys are random 32-byte strings: the agent and WireGuard accept any public key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wgkey.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int connect_to(const char *host, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd, one = 1;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Requests are written whole; Nagle would only add delay to the next one. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One request and its whole answer (Content-Length framed); returns the status or -errno. */
static int request(int fd, const char *method, const char *path, const char *auth,
		   const char *body, char *buf, size_t size)
{
	size_t blen = strlen(body), have = 0, need = 0;
	char head[512];
	int n, status;

	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer %s\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		     method, path, auth, blen);
	if (n < 0 || (size_t)n >= sizeof(head) || write_all(fd, head, n) < 0 ||
	    write_all(fd, body, blen) < 0)
		return -EIO;
	for (;;) {
		char *end;
		ssize_t r;

		if (have == size - 1)
			return -EMSGSIZE;
		r = read(fd, buf + have, size - 1 - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -EIO;
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		if (!need) {
			const char *cl = strcasestr(buf, "\r\nContent-Length:");

			if (!cl)
				return -EPROTO;
			need = (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
		}
		if (have >= need)
			break;
	}
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
		return -EPROTO;
	return status;
}

static void random_key(int ufd, char out[static WG_KEY_B64_LEN])
{
	uint8_t k[WG_KEY_LEN];

	if (read(ufd, k, sizeof(k)) != (ssize_t)sizeof(k))
		abort();
	wg_key_to_base64(out, k);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	char token[256], *buf, key[WG_KEY_B64_LEN];
	size_t n, bufsize = 1 << 20;
	int fd, ufd, status = 0;
	FILE *tf;

	if (argc != 6 || (strcmp(argv[4], "put") && strcmp(argv[4], "post"))) {
		fprintf(stderr, "usage: bench_agent HOST PORT TOKEN_FILE put|post N\n");
		return 2;
	}
	n = strtoul(argv[5], NULL, 10);
	/* The PUT answer lists every peer with its addresses: ~130 bytes each. */
	if (!strcmp(argv[4], "put"))
		bufsize += n * 256;
	tf = fopen(argv[3], "re");
	if (!tf || !fgets(token, sizeof(token), tf)) {
		fprintf(stderr, "bench_agent: cannot read %s\n", argv[3]);
		return 1;
	}
	fclose(tf);
	token[strcspn(token, "\r\n")] = '\0';
	ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	fd = connect_to(argv[1], atoi(argv[2]));
	buf = malloc(bufsize);
	if (ufd < 0 || fd < 0 || !buf) {
		fprintf(stderr, "bench_agent: cannot connect to %s:%s\n", argv[1], argv[2]);
		return 1;
	}
	if (!strcmp(argv[4], "put")) {
		size_t cap = 64 + n * 64, len;
		char *body = malloc(cap);
		double t0;

		if (!body)
			return 1;
		len = (size_t)sprintf(body, "{\"generation\":1,\"peers\":[");
		for (size_t i = 0; i < n; i++) {
			random_key(ufd, key);
			len += (size_t)sprintf(body + len, "%s{\"public_key\":\"%s\"}", i ? "," : "", key);
		}
		strcpy(body + len, "]}");
		t0 = now_ms();
		status = request(fd, "PUT", "/v1/peers", token, body, buf, bufsize);
		printf("put %zu peers: status %d in %.0f ms\n", n, status, now_ms() - t0);
		free(body);
		status = status == 200 ? 0 : 1;
	} else {
		double *lat = calloc(n ? n : 1, sizeof(*lat)), sum = 0;
		char body[128];

		for (size_t i = 0; i < n && lat; i++) {
			double t0;
			int s;

			random_key(ufd, key);
			snprintf(body, sizeof(body), "{\"public_key\":\"%s\"}", key);
			t0 = now_ms();
			s = request(fd, "POST", "/v1/peers", token, body, buf, bufsize);
			lat[i] = now_ms() - t0;
			if (s != 201) {
				fprintf(stderr, "bench_agent: POST %zu: status %d\n", i, s);
				return 1;
			}
			sum += lat[i];
		}
		if (!lat || !n)
			return 1;
		qsort(lat, n, sizeof(*lat), cmp_double);
		printf("post %zu: p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n", n,
		       lat[n / 2], lat[n * 90 / 100], lat[n * 99 / 100], lat[n - 1], sum / n);
		free(lat);
	}
	free(buf);
	close(fd);
	close(ufd);
	return status;
}
