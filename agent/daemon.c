// SPDX-License-Identifier: MIT
/*
 * The node agent daemon: start-up (config, token, state, server key, interface, pools),
 * the reconcile pass and shutdown. The HTTP routes are in api.c, the signal loop in
 * cmd_run.c. See daemon.h for the threading rule (one lock).
 */
#include <malloc.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wgfleet/macro.h"
#include "daemon.h"
#include "http.h"
#include "ippool.h"
#include "state.h"
#include "state_codec.h"
#include "wgctl.h"
#include "wgdiff.h"
#include "wglink.h"
#include "wguapi.h"

#define CONFIG_SIZE_MAX (1024 * 1024)

uint64_t daemon_now(void)
{
	return (uint64_t)time(NULL);
}

void daemon_log(const struct daemon *d, enum agentconf_log_level level, const char *fmt, ...)
{
	/* sd-daemon(3) prefixes: journald files the line at its priority, and strips them. */
	static const char *const prefix[] = {"<3>error: ", "<4>warning: ", "<6>", "<7>debug: "};
	static const char *const plain[] = {"error: ", "warning: ", "", "debug: "};
	char line[1024];
	va_list ap;

	if (d && d->cfg && level > d->cfg->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One event, one line: a newline inside a message would forge a second entry. */
	for (char *c = line; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	fprintf(stderr, "%s%s\n", getenv("JOURNAL_STREAM") ? prefix[level] : plain[level], line);
}

static int read_small_file(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t len;
	int r = 0;

	if (!f)
		return negative_errno();
	buf = malloc(max + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	len = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		r = -EIO;
		goto out;
	}
	if (len > max) {
		r = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
out:
	fclose(f);
	free(buf);
	return r;
}

static int load_config(struct daemon *d, const char *path)
{
	_cleanup_free_ char *text = NULL;
	struct agentconf_error err;
	char msg[512];
	size_t len = 0;
	int r;

	r = read_small_file(path, CONFIG_SIZE_MAX, &text, &len);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot read config %s: %s", path,
			   r == -EFBIG ? "larger than 1 MiB" : strerror(-r));
		return r;
	}
	r = agentconf_parse(text, len, path, &d->cfg, &err);
	if (r < 0) {
		agentconf_error_format(&err, msg, sizeof(msg));
		daemon_log(d, AGENTCONF_LOG_ERROR, "%s", msg);
		return r;
	}
	return 0;
}

static int join_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int write_key_file(const char *dir, const char *path, const uint8_t key[static WG_KEY_LEN])
{
	char b64[WG_KEY_B64_LEN + 1];
	int fd, dfd = -1, r = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return negative_errno();
	wg_key_to_base64(b64, key);
	strcat(b64, "\n");
	if (write(fd, b64, strlen(b64)) != (ssize_t)strlen(b64) || fsync(fd) < 0) {
		r = errno ? -errno : -EIO;
		unlink(path);
		goto out;
	}
	/* The name must be durable before the journal records it. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		r = negative_errno();
out:
	wg_key_wipe(b64, sizeof(b64));
	if (dfd >= 0)
		close(dfd);
	close(fd);
	return r;
}

/* The private key from state_dir/server.key into key (the caller wipes it). */
static int read_key_file(const char *path, uint8_t key[static WG_KEY_LEN])
{
	char *text = NULL;
	size_t len = 0;
	struct stat sb;
	int r;

	if (stat(path, &sb) < 0)
		return negative_errno();
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077))
		return -EPERM;
	r = read_small_file(path, 128, &text, &len);
	if (r < 0)
		return r;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	r = wg_key_from_base64(text, key);
	wg_key_wipe(text, len);
	free(text);
	return r;
}

static int key_path(const struct daemon *d, char *buf, size_t size)
{
	return join_path(buf, size, d->cfg->state_dir, DAEMON_KEY_FILE);
}

/*
 * First start: generate the private key, write it (0600) and record its public half. Later
 * starts: the file must hold the key whose public half is recorded.
 */
static int server_key_init(struct daemon *d)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN], recorded[WG_KEY_LEN];
	char path[4096];
	const char *file;
	bool have_record;
	int r;

	r = key_path(d, path, sizeof(path));
	if (r < 0)
		goto out;
	have_record = state_server_get(d->st, recorded, &file) == 0;
	r = read_key_file(path, priv);
	if (r == -ENOENT && !have_record) {
		r = wg_key_generate_private(priv);
		if (r == 0)
			r = write_key_file(d->cfg->state_dir, path, priv);
		if (r < 0) {
			daemon_log(d, AGENTCONF_LOG_ERROR, "cannot write %s: %s", path, strerror(-r));
			goto out;
		}
		daemon_log(d, AGENTCONF_LOG_INFO, "generated the server private key in %s", path);
	} else if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot read the server key %s: %s%s", path,
			   r == -EPERM ? "not a regular file readable only by its owner" : strerror(-r),
			   have_record ? " (the state records one; restore the file)" : "");
		goto out;
	}
	r = wg_key_public_from_private(priv, pub);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "%s does not hold a usable private key", path);
		goto out;
	}
	if (have_record && !wg_key_equal(pub, recorded)) {
		daemon_log(d, AGENTCONF_LOG_ERROR,
			   "%s does not match the public key recorded in the state", path);
		r = -EKEYREJECTED;
		goto out;
	}
	if (!have_record) {
		r = state_server_set(d->st, pub, DAEMON_KEY_FILE);
		if (r < 0) {
			daemon_log(d, AGENTCONF_LOG_ERROR, "cannot record the server key: %s",
				   strerror(-r));
			goto out;
		}
	}
	memcpy(d->public_key, pub, WG_KEY_LEN);
out:
	wg_key_wipe(priv, sizeof(priv));
	return r;
}

/*
 * Private key and listen port, addresses, MTU, up. Idempotent: run at start and again when
 * reconcile finds the interface recreated. The key is read from its file each time and
 * wiped, so it is not kept in memory between uses.
 */
static int device_configure(struct daemon *d)
{
	struct wg_device *dev = NULL;
	char path[4096], buf[WG_ALLOWEDIP_STRLEN];
	const char *ifname = d->cfg->interface;
	int r;

	r = wg_device_new(ifname, &dev);
	if (r < 0)
		goto out;
	r = key_path(d, path, sizeof(path));
	if (r == 0)
		r = read_key_file(path, dev->private_key);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot read the server key %s: %s", path,
			   strerror(-r));
		goto out;
	}
	dev->flags = WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	dev->listen_port = d->cfg->listen_port;
	r = wgctl_set(d->wg, dev);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot set key and port %u on %s: %s",
			   (unsigned)dev->listen_port, ifname, wgctl_strerror(r));
		goto out;
	}
	for (size_t i = 0; i < d->cfg->n_addresses; i++) {
		r = wglink_add_address(ifname, &d->cfg->addresses[i]);
		if (r == -EEXIST)
			r = 0;
		if (r < 0) {
			wg_allowedip_format(&d->cfg->addresses[i], buf);
			daemon_log(d, AGENTCONF_LOG_ERROR, "cannot add address %s to %s: %s", buf,
				   ifname, strerror(-r));
			goto out;
		}
	}
	r = wglink_set_mtu(ifname, d->cfg->mtu);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot set MTU %u on %s: %s",
			   (unsigned)d->cfg->mtu, ifname, strerror(-r));
		goto out;
	}
	r = wglink_set_up(ifname, true);
	if (r < 0)
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot bring %s up: %s", ifname, strerror(-r));
out:
	wg_device_free(dev);
	return r;
}

/* Find or create the interface per the backend setting, and open the handle. */
static int device_open(struct daemon *d)
{
	const char *ifname = d->cfg->interface;
	bool sock = wguapi_has_socket(ifname);
	struct wg_device *probe = NULL;
	int r = 0;

	switch (d->cfg->backend) {
	case AGENTCONF_BACKEND_USERSPACE:
		if (!sock) {
			daemon_log(d, AGENTCONF_LOG_ERROR,
				   "backend userspace: no UAPI socket %s/%s.sock (start wireguard-go %s first)",
				   wguapi_dir(), ifname, ifname);
			return -ENOENT;
		}
		break;
	case AGENTCONF_BACKEND_KERNEL:
		if (sock) {
			daemon_log(d, AGENTCONF_LOG_ERROR,
				   "backend kernel, but a userspace daemon owns %s (%s/%s.sock)",
				   ifname, wguapi_dir(), ifname);
			return -EEXIST;
		}
		/* fall through */
	case AGENTCONF_BACKEND_AUTO:
		if (sock)
			break;
		r = wglink_create(ifname);
		if (r == -EOPNOTSUPP || r == -EPROTONOSUPPORT) {
			daemon_log(d, AGENTCONF_LOG_ERROR, "kernel WireGuard not available (creating %s)",
				   ifname);
			return r;
		}
		if (r == 0)
			daemon_log(d, AGENTCONF_LOG_INFO, "created WireGuard link %s", ifname);
		else if (r != -EEXIST) {
			daemon_log(d, AGENTCONF_LOG_ERROR, "cannot create %s: %s", ifname,
				   strerror(-r));
			return r;
		}
		break;
	}
	r = wgctl_open(ifname, &d->wg);
	if (r == 0)
		r = wgctl_get(d->wg, &probe); /* an existing link must be WireGuard */
	if (r < 0)
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot use %s: %s", ifname, wgctl_strerror(r));
	else
		daemon_log(d, AGENTCONF_LOG_INFO, "interface %s via %s, %zu peers on it", ifname,
			   wgctl_backend_name(wgctl_backend(d->wg)), probe->n_peers);
	wg_device_free(probe);
	return r;
}

int daemon_pool_index(const struct daemon *d, const struct wg_allowedip *addr)
{
	for (size_t i = 0; i < d->n_pools; i++) {
		enum ippool_state s;

		if (ippool_lookup(d->pools[i], addr, &s, NULL) == 0)
			return (int)i;
	}
	return -1;
}

static int pools_build(struct daemon *d, struct ippool *ret[static DAEMON_POOLS_MAX])
{
	struct ippool *pools[DAEMON_POOLS_MAX] = {NULL};
	const struct agent_config *cfg = d->cfg;
	struct wg_allowedip bad;
	int r = 0;

	for (size_t i = 0; i < cfg->n_pools; i++) {
		struct ippool_range *ranges = calloc(cfg->n_reserved + 1, sizeof(*ranges));
		struct ippool_config pc = {
			.prefix = cfg->pools[i],
			.server = &cfg->addresses[i],
			.quarantine_seconds = cfg->quarantine_sec,
		};
		size_t n = 0;

		if (!ranges) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t j = 0; j < cfg->n_reserved; j++) {
			const struct agentconf_range *a = &cfg->reserved[j];

			if (a->family != cfg->pools[i].family)
				continue;
			ranges[n].first.family = ranges[n].last.family = a->family;
			memcpy(&ranges[n].first.ip6, &a->first, sizeof(a->first));
			memcpy(&ranges[n].last.ip6, &a->last, sizeof(a->last));
			n++;
		}
		pc.reserved = ranges;
		pc.n_reserved = n;
		r = ippool_new(&pc, &pools[i]);
		free(ranges);
		if (r < 0)
			goto out;
	}
	r = state_pools_restore(d->st, pools, cfg->n_pools, &bad);
	if (r < 0) {
		char buf[WG_ALLOWEDIP_STRLEN];

		wg_allowedip_format(&bad, buf);
		daemon_log(d, AGENTCONF_LOG_ERROR,
			   "the state gives %s to a peer, but the configured pools %s it", buf,
			   r == -EADDRINUSE ? "reserve" : "do not contain");
		goto out;
	}
	for (size_t i = 0; i < DAEMON_POOLS_MAX; i++) {
		ret[i] = pools[i];
		pools[i] = NULL;
	}
out:
	for (size_t i = 0; i < DAEMON_POOLS_MAX; i++)
		ippool_free(pools[i]);
	return r;
}

int daemon_pools_rebuild(struct daemon *d)
{
	struct ippool *pools[DAEMON_POOLS_MAX];
	int r = pools_build(d, pools);

	if (r < 0)
		return r;
	for (size_t i = 0; i < DAEMON_POOLS_MAX; i++) {
		ippool_free(d->pools[i]);
		d->pools[i] = pools[i];
	}
	return 0;
}

static void device_failed(struct daemon *d, const char *what, const uint8_t key[WG_KEY_LEN], int r)
{
	char b64[WG_KEY_B64_LEN];

	wg_key_to_base64(b64, key);
	d->dirty = true;
	daemon_log(d, AGENTCONF_LOG_WARN, "cannot %s peer %s on %s: %s (recorded; reconcile retries)",
		   what, b64, d->cfg->interface, wgctl_strerror(r));
}

void daemon_device_peers_put(struct daemon *d, const struct state_peer *peers, size_t n)
{
	struct wg_device *dev = NULL;
	int r;

	r = wg_device_new(d->cfg->interface, &dev);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = reconcile_desired_peer(dev, &peers[i]);
	/* Each as recorded, so allowed IPs replace the device's; disabled peers are absent. */
	for (size_t i = 0; r == 0 && i < dev->n_peers; i++)
		dev->peers[i].flags |= WG_PEER_REPLACE_ALLOWEDIPS;
	/* One set for all: netlink chunks it as needed, UAPI sends one request. */
	if (r == 0 && dev->n_peers > 0)
		r = wgctl_set(d->wg, dev);
	if (r < 0 && n == 1) {
		device_failed(d, "add", peers[0].public_key, r);
	} else if (r < 0) {
		d->dirty = true;
		daemon_log(d, AGENTCONF_LOG_WARN,
		           "cannot add %zu peers on %s: %s (recorded; reconcile retries)", n,
		           d->cfg->interface, wgctl_strerror(r));
	}
	wg_device_free(dev);
}

void daemon_device_peer_put(struct daemon *d, const struct state_peer *p)
{
	daemon_device_peers_put(d, p, 1);
}

void daemon_device_peer_remove(struct daemon *d, const uint8_t public_key[static WG_KEY_LEN])
{
	struct wg_device *dev = NULL;
	struct wg_peer *peer;
	int r;

	r = wg_device_new(d->cfg->interface, &dev);
	if (r == 0)
		r = wg_device_add_peer(dev, public_key, &peer);
	if (r == 0) {
		peer->flags |= WG_PEER_REMOVE_ME;
		r = wgctl_set(d->wg, dev);
	}
	if (r < 0)
		device_failed(d, "remove", public_key, r);
	wg_device_free(dev);
}

/* The diff between actual and the record, applied; repairs counted into *rep. */
static int daemon_device_sync_from(struct daemon *d, const struct wg_device *actual,
				   struct reconcile_repairs *rep)
{
	struct wg_device *change = NULL;
	int r;

	/* Peer by peer against the record: no desired copy of the whole device. */
	r = reconcile_change(actual, state_model(d->st), &change);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot compute the changes for %s: %s",
			   d->cfg->interface, strerror(-r));
		goto out;
	}
	if (wgdiff_is_empty(change))
		goto out;
	r = wgctl_set(d->wg, change);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot apply %zu peer changes to %s: %s",
			   change->n_peers, d->cfg->interface, wgctl_strerror(r));
		goto out;
	}
	reconcile_classify(actual, change, rep);
	daemon_log(d, AGENTCONF_LOG_DEBUG, "applied %zu peer changes to %s", change->n_peers,
		   d->cfg->interface);
out:
	wg_device_free(change);
	return r;
}

int daemon_device_sync(struct daemon *d, struct reconcile_repairs *ret_rep)
{
	struct reconcile_repairs rep = {0};
	struct wg_device *actual = NULL;
	int r;

	r = wgctl_get(d->wg, &actual);
	if (r < 0) {
		d->dirty = true;
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot read %s: %s (reconcile retries)",
			   d->cfg->interface, wgctl_strerror(r));
		return r;
	}
	r = daemon_device_sync_from(d, actual, &rep);
	if (r < 0)
		d->dirty = true;
	else if (ret_rep)
		*ret_rep = rep;
	wg_device_free(actual);
	return r;
}

void daemon_fatal(struct daemon *d)
{
	__atomic_store_n(&d->fatal, 1, __ATOMIC_SEQ_CST);
	kill(getpid(), SIGTERM);
}

static int counters_save(struct daemon *d, const struct wg_device *actual, bool reset)
{
	struct state_counter_sample *s = calloc(actual->n_peers + 1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < actual->n_peers; i++) {
		memcpy(s[i].public_key, actual->peers[i].public_key, WG_KEY_LEN);
		s[i].rx_bytes = actual->peers[i].rx_bytes;
		s[i].tx_bytes = actual->peers[i].tx_bytes;
	}
	r = state_counters_update(d->st, s, actual->n_peers, reset);
	free(s);
	return r;
}

/* Read the device; on a dead handle (userspace daemon restarted) reopen once. */
static int device_read(struct daemon *d, struct wg_device **ret, bool *ret_reopened)
{
	int r = wgctl_get(d->wg, ret);

	*ret_reopened = false;
	if (r == 0)
		return 0;
	daemon_log(d, AGENTCONF_LOG_WARN, "cannot read %s: %s; reopening", d->cfg->interface,
		   wgctl_strerror(r));
	d->wg = wgctl_close(d->wg);
	r = device_open(d);
	if (r == 0)
		r = device_configure(d);
	if (r == 0)
		r = wgctl_get(d->wg, ret);
	if (r == 0)
		*ret_reopened = true;
	return r;
}

int daemon_reconcile_locked(struct daemon *d)
{
	struct wg_device *actual = NULL;
	struct reconcile_repairs rep = {0};
	bool reset, reopened;
	int r;

	d->reconcile_runs++;
	r = device_read(d, &actual, &reopened);
	if (r < 0)
		goto out;
	reset = reopened || reconcile_device_reset(d->dev_known, d->dev_ifindex, d->dev_listen_port,
						   actual, state_model(d->st));
	if (reset || !wg_key_equal(actual->public_key, d->public_key) ||
	    actual->listen_port != d->cfg->listen_port) {
		/* Recreated, or changed by hand: key, port, addresses, MTU, up again. */
		daemon_log(d, AGENTCONF_LOG_WARN, "%s was recreated or reconfigured; restoring it",
			   d->cfg->interface);
		reset = true;
		if (!reopened) {
			r = device_configure(d);
			if (r < 0)
				goto out;
		}
		wg_device_free(actual);
		actual = NULL;
		r = wgctl_get(d->wg, &actual);
		if (r < 0)
			goto out;
	}
	if (reset && d->dev_known) {
		d->rebases++;
		daemon_log(d, AGENTCONF_LOG_INFO, "counters of %s restarted: rebasing totals",
			   d->cfg->interface);
	}
	r = counters_save(d, actual, reset && d->dev_known);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot save traffic counters: %s", strerror(-r));
		goto out;
	}
	r = daemon_device_sync_from(d, actual, &rep);
	if (r < 0)
		goto out;
	d->repairs.readded += rep.readded;
	d->repairs.removed += rep.removed;
	d->repairs.fixed += rep.fixed;
	if (rep.readded + rep.removed + rep.fixed > 0)
		daemon_log(d, AGENTCONF_LOG_WARN,
			   "reconcile: re-added %llu, removed %llu stray, fixed %llu peers on %s",
			   (unsigned long long)rep.readded, (unsigned long long)rep.removed,
			   (unsigned long long)rep.fixed, d->cfg->interface);
	d->dev_known = true;
	d->dev_ifindex = actual->ifindex;
	d->dev_listen_port = actual->listen_port;
	d->dirty = false;
	if (state_compact_due(d->st)) {
		r = state_compact(d->st, daemon_now());
		if (r < 0) {
			daemon_log(d, AGENTCONF_LOG_ERROR, "cannot compact the journal: %s", strerror(-r));
			goto out;
		}
		daemon_log(d, AGENTCONF_LOG_INFO, "journal compacted");
	}
out:
	if (r < 0) {
		d->reconcile_errors++;
		if (r != -ENOMEM)
			d->dirty = true;
	}
	wg_device_free(actual);
	/*
	 * A pass over N peers holds a full copy of the device (two when the device lost
	 * everything and the change re-adds it all); glibc keeps those pages. Hand them back
	 * so the resident size follows the live state, not the last peak.
	 */
	malloc_trim(0);
	return r;
}

int daemon_reconcile(struct daemon *d)
{
	int r;

	pthread_mutex_lock(&d->lock);
	r = daemon_reconcile_locked(d);
	pthread_mutex_unlock(&d->lock);
	return r;
}

static int boot_id_init(struct daemon *d)
{
	uint8_t b[16];

	/* Any random source will do; libsodium's via a throwaway preshared key. */
	uint8_t k[WG_KEY_LEN];
	int r = wg_key_generate_preshared(k);

	if (r < 0)
		return r;
	memcpy(b, k, sizeof(b));
	wg_key_wipe(k, sizeof(k));
	b[6] = (b[6] & 0x0f) | 0x40; /* a version 4 UUID */
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(d->boot_id, sizeof(d->boot_id),
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return 0;
}

int daemon_start(struct daemon *d, const char *config_path)
{
	struct state_load_info info = {0};
	struct state_stats stats;
	char *token = NULL, err[512];
	int r;

	/*
	 * Buffers of 128 KiB and more (a PUT body, its parsed requests, journal frames, device
	 * copies, the model's dense arrays) get their own mappings and go back to the system
	 * when freed. glibc's default raises this threshold to the size of the largest such
	 * buffer freed, after which multi-megabyte buffers land in the heap among the record's
	 * small objects, where no trim can return them: 61 MB instead of 32 MB after a
	 * 50,000-peer PUT (docs/benchmarks.md). The cost, an mmap/munmap per large buffer,
	 * is only paid by bulk operations.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	d->config_path = config_path;
	r = load_config(d, config_path);
	if (r < 0)
		goto out;
	r = http_token_file_read(d->cfg->token_file, &token, err, sizeof(err));
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "%s", err);
		goto out;
	}
	r = wg_key_init();
	if (r == 0)
		r = boot_id_init(d);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot initialise libsodium: %s", strerror(-r));
		goto out;
	}
	r = state_open(d->cfg->state_dir, &info, &d->st);
	if (r < 0) {
		daemon_log(d, AGENTCONF_LOG_ERROR, "cannot open the state in %s: %s%s%s",
			   d->cfg->state_dir,
			   r == -EBUSY ? "another agent holds it" : strerror(-r),
			   info.message[0] ? ": " : "", info.message);
		goto out;
	}
	state_get_stats(d->st, &stats);
	if (info.torn_tail)
		daemon_log(d, AGENTCONF_LOG_WARN,
			   "state: dropped an unacknowledged torn last frame (%llu bytes)",
			   (unsigned long long)info.torn_bytes);
	daemon_log(d, AGENTCONF_LOG_INFO, "state %s: %zu peers, generation %llu%s",
		   d->cfg->state_dir, stats.peers, (unsigned long long)stats.generation,
		   info.created ? " (new)" : "");
	r = server_key_init(d);
	if (r < 0)
		goto out;
	d->n_pools = d->cfg->n_pools;
	r = pools_build(d, d->pools);
	if (r < 0) {
		if (r == -ENOMEM)
			daemon_log(d, AGENTCONF_LOG_ERROR, "cannot build the pools: %s", strerror(-r));
		goto out;
	}
	r = device_open(d);
	if (r == 0)
		r = device_configure(d);
	if (r < 0)
		goto out;
	/* Push the recorded peers: the same incremental diff as every later pass. */
	r = daemon_reconcile(d);
	if (r < 0)
		goto out;
	r = api_start(d, token);
	if (r < 0)
		goto out;
	{
		char pub[WG_KEY_B64_LEN], ep[WG_ENDPOINT_STRLEN];

		wg_key_to_base64(pub, d->public_key);
		wg_endpoint_format(&d->cfg->api_listen, ep);
		daemon_log(d, AGENTCONF_LOG_INFO,
			   "wgfleet-agent running: interface %s, public key %s, api %s, boot id %s",
			   d->cfg->interface, pub, ep, d->boot_id);
	}
out:
	http_token_free(token);
	return r;
}

void daemon_stop(struct daemon *d)
{
	d->http = http_server_stop(d->http);
	d->wg = wgctl_close(d->wg);
	for (size_t i = 0; i < DAEMON_POOLS_MAX; i++)
		d->pools[i] = ippool_free(d->pools[i]);
	d->st = state_close(d->st);
	d->cfg = agentconf_free(d->cfg);
	wg_key_wipe(d->public_key, sizeof(d->public_key));
	pthread_mutex_destroy(&d->lock);
}
