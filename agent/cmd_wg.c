// SPDX-License-Identifier: MIT
/*
 * `wgfleet-agent wg ...`: wg(8)'s show/setconf/syncconf over the wgctl library. These
 * are both an admin tool and a conformance check against the real wg(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "agent.h"
#include "wgconf.h"
#include "wgctl.h"
#include "wgdiff.h"
#include "wgdump.h"

#define PROG "wgfleet-agent wg"

/*
 * A regular file is read into a buffer of its size (plus one byte that tells whether it
 * grew), so a 1,000-peer file costs one allocation and no copies; a pipe grows by doubling.
 * Configuration files hold private keys: no copy is left behind in freed memory.
 */
static int read_whole_file(const char *path, char **ret_buf, size_t *ret_len)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	char *buf = NULL;
	size_t len = 0, cap = 0, first = 65536;
	struct stat st;
	int r = 0;

	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
	    (uint64_t)st.st_size < SIZE_MAX - 2)
		first = (size_t)st.st_size + 2;
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			r = grow_array_secret((void **)&buf, &cap, cap ? len + 65536 : first, len, 1);
			if (r < 0)
				goto out;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = negative_errno();
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
out:
	if (fd != STDIN_FILENO)
		close(fd);
	if (buf)
		wg_key_wipe(buf, len);
	free(buf);
	return r;
}

static int resolve_endpoint(const char *host, const char *port, union wg_endpoint *ret,
			    void *userdata)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_DGRAM,
				 .ai_protocol = IPPROTO_UDP};
	struct addrinfo *res = NULL;
	int e, r = -EHOSTUNREACH;

	e = getaddrinfo(host, port, &hints, &res);
	if (e != 0)
		return e == EAI_SYSTEM ? negative_errno() : -EHOSTUNREACH;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
		    a->ai_addrlen <= sizeof(*ret)) {
			memset(ret, 0, sizeof(*ret));
			memcpy(ret, a->ai_addr, a->ai_addrlen);
			r = 0;
			break;
		}
	}
	freeaddrinfo(res);
	return r;
}

/* "host:port" or "[v6]:port" resolved through getaddrinfo. */
static int resolve_endpoint_str(const char *s, union wg_endpoint *ret)
{
	_cleanup_free_ char *host = NULL;
	const char *colon = strrchr(s, ':');

	if (!colon || colon == s)
		return -EINVAL;
	host = strndup(s, (size_t)(colon - s));
	if (!host)
		return -ENOMEM;
	return resolve_endpoint(host, colon + 1, ret, NULL);
}

/* Parse FILE for IFACE; errors are reported here, once. */
static int load_config(const char *ifname, const char *path, struct wg_device **ret)
{
	_cleanup_free_ char *text = NULL;
	struct wgconf_error err = {};
	size_t len = 0;
	int r;

	r = read_whole_file(path, &text, &len);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", PROG, path, strerror(-r));
		return r;
	}
	r = wgconf_parse(text, len, ifname, resolve_endpoint, NULL, ret, &err);
	wg_key_wipe(text, len);
	if (r < 0)
		fprintf(stderr, "%s: %s:%u: %s\n", PROG, path, err.line, err.message);
	return r;
}

static int open_iface(const char *ifname, struct wgctl **ret)
{
	int r = wgctl_open(ifname, ret);

	if (r < 0)
		fprintf(stderr, "%s: %s: %s\n", PROG, ifname, r == -EINVAL
			? "invalid interface name (1 to 15 characters, no '/', ':' or spaces)"
			: wgctl_strerror(r));
	return r;
}

/* wgctl_set/wgctl_get with the failure reported here, once. */
static int apply_device(struct wgctl *c, const struct wg_device *dev)
{
	int r = wgctl_set(c, dev);

	if (r < 0)
		fprintf(stderr, "%s: %s: unable to set device: %s\n", PROG, dev->name,
			wgctl_strerror(r));
	return r;
}

static int read_device(struct wgctl *c, const char *ifname, struct wg_device **ret)
{
	int r = wgctl_get(c, ret);

	if (r < 0)
		fprintf(stderr, "%s: %s: unable to read device: %s\n", PROG, ifname,
			wgctl_strerror(r));
	return r;
}

static int do_show(int argc, char **argv)
{
	struct wgctl *c = NULL;
	struct wg_device *dev = NULL;
	char *text = NULL;
	size_t len;
	int r;

	if (argc == 2 && !strcmp(argv[1], "interfaces")) {
		char **names = NULL;

		r = wgctl_list(&names);
		if (r < 0) {
			fprintf(stderr, "%s: cannot list interfaces: %s\n", PROG, wgctl_strerror(r));
			return 1;
		}
		for (char **n = names; *n; n++)
			printf("%s%s", n == names ? "" : " ", *n);
		if (names[0])
			putchar('\n');
		strv_free(names);
		return 0;
	}
	if (argc != 3 || strcmp(argv[2], "dump")) {
		fprintf(stderr, "Usage: %s show { IFACE dump | interfaces }\n", PROG);
		return 2;
	}
	r = open_iface(argv[1], &c);
	if (r < 0)
		goto out;
	r = read_device(c, argv[1], &dev);
	if (r < 0)
		goto out;
	r = wgdump_format(dev, &text, &len);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, argv[1], strerror(-r));
		goto out;
	}
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "%s: write error: %m\n", PROG);
		r = -EIO;
	}
out:
	if (text)
		wg_key_wipe(text, len); /* the device line carries the private key */
	free(text);
	wg_device_free(dev);
	wgctl_close(c);
	return r < 0 ? 1 : 0;
}

static int do_setconf(int argc, char **argv)
{
	struct wgctl *c = NULL;
	struct wg_device *dev = NULL;
	int r;

	if (argc != 3) {
		fprintf(stderr, "Usage: %s setconf IFACE FILE\n", PROG);
		return 2;
	}
	/* Parse everything before touching the device: a bad file changes nothing. */
	r = load_config(argv[1], argv[2], &dev);
	if (r < 0)
		goto out;
	r = open_iface(argv[1], &c);
	if (r < 0)
		goto out;
	r = apply_device(c, dev);
out:
	wg_device_free(dev);
	wgctl_close(c);
	return r < 0 ? 1 : 0;
}

static int do_syncconf(int argc, char **argv)
{
	struct wgctl *c = NULL;
	struct wg_device *desired = NULL, *actual = NULL, *change = NULL;
	bool verbose = false;
	int r;

	if (argc == 4 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--verbose"))) {
		verbose = true;
		argc--, argv++;
	}
	if (argc != 3) {
		fprintf(stderr, "Usage: %s syncconf [-v] IFACE FILE\n", PROG);
		return 2;
	}
	r = load_config(argv[1], argv[2], &desired);
	if (r < 0)
		goto out;
	r = open_iface(argv[1], &c);
	if (r < 0)
		goto out;
	r = read_device(c, argv[1], &actual);
	if (r < 0)
		goto out;
	r = wgdiff_compute(actual, desired, &change);
	if (r < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, argv[1], strerror(-r));
		goto out;
	}
	if (verbose) {
		size_t added = 0, changed = 0, removed = 0;

		for (size_t i = 0; i < change->n_peers; i++) {
			const struct wg_peer *p = &change->peers[i];

			if (p->flags & WG_PEER_REMOVE_ME)
				removed++;
			else if (wg_device_find_peer(actual, p->public_key))
				changed++;
			else
				added++;
		}
		fprintf(stderr, "%s: %s: %zu added, %zu changed, %zu removed, device %s\n", PROG,
			argv[1], added, changed, removed,
			change->flags ? "changed" : "unchanged");
	}
	if (wgdiff_is_empty(change))
		goto out;
	r = apply_device(c, change);
out:
	wg_device_free(change);
	wg_device_free(actual);
	wg_device_free(desired);
	wgctl_close(c);
	return r < 0 ? 1 : 0;
}

static int read_key_file(const char *path, uint8_t ret_key[static WG_KEY_LEN])
{
	char line[128] = "";
	FILE *f = fopen(path, "re");
	int r = -EINVAL;

	if (!f)
		return negative_errno();
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		r = wg_key_from_base64(line, ret_key);
	}
	wg_key_wipe(line, sizeof(line));
	fclose(f);
	return r;
}

/*
 * wg(8)'s `set`, for one peer: a targeted change that touches nothing else. This is the
 * incremental path the agent uses, exposed for admins and for the benchmarks.
 *   set IFACE [listen-port P] [private-key FILE] [peer KEY [remove] [preshared-key FILE]
 *       [endpoint IP:PORT] [persistent-keepalive N|off] [allowed-ips A,B,...]]
 */
static int do_set(int argc, char **argv)
{
	struct wgctl *c = NULL;
	struct wg_device *dev = NULL;
	struct wg_peer *peer = NULL;
	const char *bad = NULL;
	int r = -EINVAL, i;

	if (argc < 3) {
		fprintf(stderr, "Usage: %s set IFACE [listen-port P] [private-key FILE] "
				"[peer KEY [remove] [preshared-key FILE] [endpoint IP:PORT] "
				"[persistent-keepalive N|off] [allowed-ips LIST]]\n", PROG);
		return 2;
	}
	r = wg_device_new(argv[1], &dev);
	if (r < 0) {
		bad = "invalid interface name (1 to 15 characters, no '/', ':' or spaces)";
		goto out;
	}
	for (i = 2; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long n;
		char *end;

		r = -EINVAL;
		if (!strcmp(opt, "remove") && peer) {
			peer->flags |= WG_PEER_REMOVE_ME;
			continue;
		}
		if (!val) {
			bad = "option without a value";
			goto out;
		}
		i++;
		if (!strcmp(opt, "listen-port") && !peer) {
			errno = 0;
			n = strtoul(val, &end, 10);
			if (errno || *end || !*val || n > 65535) {
				bad = "listen-port must be 0..65535";
				goto out;
			}
			dev->listen_port = (uint16_t)n;
			dev->flags |= WG_DEVICE_HAS_LISTEN_PORT;
		} else if (!strcmp(opt, "private-key") && !peer) {
			if (read_key_file(val, dev->private_key) < 0) {
				bad = "private-key: cannot read a base64 key from that file";
				goto out;
			}
			dev->flags |= WG_DEVICE_HAS_PRIVATE_KEY;
		} else if (!strcmp(opt, "peer")) {
			uint8_t key[WG_KEY_LEN];

			if (peer || wg_key_from_base64(val, key) < 0) {
				bad = peer ? "one peer per command" : "peer: not a base64 public key";
				goto out;
			}
			r = wg_device_add_peer(dev, key, &peer);
			if (r < 0)
				goto out;
		} else if (!peer) {
			bad = "unknown option (or a peer option before 'peer KEY')";
			goto out;
		} else if (!strcmp(opt, "preshared-key")) {
			if (read_key_file(val, peer->preshared_key) < 0) {
				bad = "preshared-key: cannot read a base64 key from that file";
				goto out;
			}
			peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
		} else if (!strcmp(opt, "endpoint")) {
			if (wg_endpoint_parse(val, &peer->endpoint) < 0 &&
			    resolve_endpoint_str(val, &peer->endpoint) < 0) {
				bad = "endpoint: expected IP:PORT, [IPv6]:PORT or HOST:PORT";
				goto out;
			}
			peer->flags |= WG_PEER_HAS_ENDPOINT;
		} else if (!strcmp(opt, "persistent-keepalive")) {
			errno = 0;
			n = strcmp(val, "off") ? strtoul(val, &end, 10) : 0;
			if (strcmp(val, "off") && (errno || *end || !*val || n > 65535)) {
				bad = "persistent-keepalive must be 0..65535 or off";
				goto out;
			}
			peer->persistent_keepalive = (uint16_t)n;
			peer->flags |= WG_PEER_HAS_KEEPALIVE;
		} else if (!strcmp(opt, "allowed-ips")) {
			_cleanup_free_ char *list = strdup(val);
			char *save = NULL;

			if (!list) {
				r = -ENOMEM;
				goto out;
			}
			peer->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
			for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
				struct wg_allowedip ip;

				if (wg_allowedip_parse(t, &ip) < 0) {
					bad = "allowed-ips: not an address/prefix list";
					goto out;
				}
				r = wg_peer_add_allowedip(peer, &ip);
				if (r < 0)
					goto out;
			}
		} else {
			bad = "unknown peer option";
			goto out;
		}
	}
	r = open_iface(argv[1], &c);
	if (r < 0)
		goto out;
	r = apply_device(c, dev);
out:
	if (bad)
		fprintf(stderr, "%s: set: %s\n", PROG, bad);
	wg_device_free(dev);
	wgctl_close(c);
	return r < 0 ? 1 : 0;
}

static int do_genkey(int argc, char **argv)
{
	uint8_t key[WG_KEY_LEN];
	char b64[WG_KEY_B64_LEN];
	bool psk = !strcmp(argv[0], "genpsk");
	int r;

	if (argc != 1) {
		fprintf(stderr, "Usage: %s %s\n", PROG, argv[0]);
		return 2;
	}
	r = psk ? wg_key_generate_preshared(key) : wg_key_generate_private(key);
	if (r < 0) {
		fprintf(stderr, "%s: cannot generate a key: %s\n", PROG, strerror(-r));
		return 1;
	}
	wg_key_to_base64(b64, key);
	puts(b64);
	wg_key_wipe(key, sizeof(key));
	wg_key_wipe(b64, sizeof(b64));
	return 0;
}

static int do_pubkey(int argc, char **argv)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	char line[128] = "", b64[WG_KEY_B64_LEN];
	size_t len;
	int r = -EINVAL;

	if (argc != 1) {
		fprintf(stderr, "Usage: %s pubkey < private.key\n", PROG);
		return 2;
	}
	if (fgets(line, sizeof(line), stdin)) {
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		r = wg_key_from_base64(line, priv);
	}
	wg_key_wipe(line, sizeof(line));
	if (r == 0)
		r = wg_key_public_from_private(priv, pub);
	wg_key_wipe(priv, sizeof(priv));
	if (r < 0) {
		fprintf(stderr, "%s: pubkey: expected a base64 private key on stdin\n", PROG);
		return 1;
	}
	wg_key_to_base64(b64, pub);
	puts(b64);
	return 0;
}

static const struct agent_command wg_commands[] = {
	{"show", do_show, "print a device as `wg show IFACE dump` does, or list interfaces"},
	{"setconf", do_setconf, "replace a device's configuration with a wg(8) config file"},
	{"set", do_set, "change one peer (or device attributes) and nothing else"},
	{"syncconf", do_syncconf, "apply a config file, sending only the peers that differ"},
	{"genkey", do_genkey, "print a new private key"},
	{"genpsk", do_genkey, "print a new preshared key"},
	{"pubkey", do_pubkey, "read a private key on stdin, print its public key"},
};

int cmd_wg(int argc, char **argv)
{
	/* No eager libsodium init: the key functions initialise on first use, and show or
	 * setconf never need it (start-up time counts for a command run per change). */
	if (argc >= 2)
		for (size_t i = 0; i < ARRAY_SIZE(wg_commands); i++)
			if (!strcmp(argv[1], wg_commands[i].name))
				return wg_commands[i].fn(argc - 1, argv + 1);
	FILE *f = argc >= 2 && strcmp(argv[1], "--help") ? stderr : stdout;
	fprintf(f, "Usage: %s COMMAND [ARGS]\n\nCommands:\n", PROG);
	for (size_t i = 0; i < ARRAY_SIZE(wg_commands); i++)
		fprintf(f, "  %-10s %s\n", wg_commands[i].name, wg_commands[i].description);
	return f == stdout ? 0 : 2;
}
