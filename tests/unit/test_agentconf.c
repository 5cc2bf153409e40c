// SPDX-License-Identifier: MIT
/*
 * agentconf_parse: the example file, defaults, every key's bad values with their line
 * and reason, file-level and cross-key errors, and that nothing is returned on error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "agentconf.h"

/* The five required keys, one per line: a key added after them is on line 6. */
#define BASE                                                                                \
	"interface = wg0\n"                                                                 \
	"endpoint = vpn.example.com:51820\n"                                                \
	"pool = 10.8.0.0/24\n"                                                              \
	"api_listen = 127.0.0.1:8443\n"                                                     \
	"token_file = /etc/wgfleet/agent.token\n"

static struct agent_config *parse_ok(const char *text)
{
	struct agent_config *cfg = NULL;
	struct agentconf_error err = {};
	int r = agentconf_parse(text, strlen(text), "test.conf", &cfg, &err);

	if (r < 0)
		fail_msg("unexpected error %d at line %u: %s\n--- input:\n%s", r, err.line,
			 err.message, text);
	assert_non_null(cfg);
	return cfg;
}

/* Expect a rejection at line with want in the message, and nothing returned. */
static void parse_bad(const char *text, unsigned line, const char *want)
{
	struct agent_config *sentinel = (struct agent_config *)&line, *cfg = sentinel;
	struct agentconf_error err = {};
	int r = agentconf_parse(text, strlen(text), "test.conf", &cfg, &err);

	if (r >= 0 || err.line != line || !strstr(err.message, want))
		fail_msg("want error at line %u containing \"%s\", got r=%d line %u \"%s\"\n"
			 "--- input:\n%s",
			 line, want, r, err.line, err.message, text);
	assert_int_equal(r, -EINVAL);
	assert_ptr_equal(cfg, sentinel);
	assert_string_equal(err.filename, "test.conf");
}

/* BASE plus one line (line 6) that must fail with want. */
static void bad_line(const char *line, const char *want)
{
	char text[1024];

	snprintf(text, sizeof(text), BASE "%s\n", line);
	parse_bad(text, 6, want);
}

/* BASE plus extra lines that must parse. */
static struct agent_config *with(const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text), BASE "%s", extra);
	return parse_ok(text);
}

static void assert_prefix(const struct wg_allowedip *ip, const char *want)
{
	char buf[WG_ALLOWEDIP_STRLEN];

	wg_allowedip_format(ip, buf);
	assert_string_equal(buf, want);
}

static void assert_range(const struct agentconf_range *r, const char *first, const char *last)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];

	assert_non_null(inet_ntop(r->family, &r->first, a, sizeof(a)));
	assert_non_null(inet_ntop(r->family, &r->last, b, sizeof(b)));
	assert_string_equal(a, first);
	assert_string_equal(b, last);
}

static void test_example(void **state)
{
	/* tests/unit/ -> agent/: the compiler is given this file's absolute path. */
	char path[4096], ep[WG_ENDPOINT_STRLEN];
	const char *slash = strrchr(__FILE__, '/');
	struct agent_config *cfg;
	char *text;
	size_t len;
	FILE *f;

	assert_non_null(slash);
	snprintf(path, sizeof(path), "%.*s/../../agent/agent.conf.example",
		 (int)(slash - __FILE__), __FILE__);
	f = fopen(path, "re");
	if (!f)
		fail_msg("cannot open %s", path);
	text = calloc(1, 65536);
	assert_non_null(text);
	len = fread(text, 1, 65535, f);
	fclose(f);
	assert_true(len > 0 && len < 65535);
	cfg = parse_ok(text);

	assert_string_equal(cfg->interface, "wg0");
	assert_int_equal(cfg->listen_port, 51820);
	assert_string_equal(cfg->endpoint.host, "vpn-fra1.example.com");
	assert_int_equal(cfg->endpoint.port, 51820);
	assert_int_equal(cfg->n_pools, 2);
	assert_prefix(&cfg->pools[0], "10.8.0.0/22");
	assert_prefix(&cfg->pools[1], "fd42:8:0:1::/64");
	assert_int_equal(cfg->n_addresses, 2);
	assert_prefix(&cfg->addresses[0], "10.8.0.1/22");
	assert_prefix(&cfg->addresses[1], "fd42:8:0:1::1/64");
	assert_int_equal(cfg->n_reserved, 3);
	assert_range(&cfg->reserved[0], "10.8.0.2", "10.8.0.9");
	assert_range(&cfg->reserved[1], "10.8.3.0", "10.8.3.255");
	assert_range(&cfg->reserved[2], "fd42:8:0:1::2", "fd42:8:0:1::2");
	wg_endpoint_format(&cfg->api_listen, ep);
	assert_string_equal(ep, "127.0.0.1:8443");
	assert_string_equal(cfg->token_file, "/etc/wgfleet/agent.token");
	assert_string_equal(cfg->tls_cert, "/etc/wgfleet/tls/agent.crt");
	assert_string_equal(cfg->tls_key, "/etc/wgfleet/tls/agent.key");
	assert_int_equal(cfg->quarantine_sec, 3600);
	assert_int_equal(cfg->reconcile_interval_sec, 30);
	agentconf_free(cfg);
	free(text);
}

static void test_defaults(void **state)
{
	struct agent_config *cfg = parse_ok(BASE);

	assert_string_equal(cfg->interface, "wg0");
	assert_int_equal(cfg->listen_port, 51820);
	assert_string_equal(cfg->endpoint.text, "vpn.example.com:51820");
	assert_int_equal(cfg->n_pools, 1);
	assert_int_equal(cfg->n_addresses, 1);
	assert_prefix(&cfg->addresses[0], "10.8.0.1/24");
	assert_int_equal(cfg->n_reserved, 0);
	assert_null(cfg->tls_cert);
	assert_null(cfg->tls_key);
	assert_string_equal(cfg->state_dir, "/var/lib/wgfleet-agent");
	assert_int_equal(cfg->reconcile_interval_sec, 30);
	assert_int_equal(cfg->quarantine_sec, 3600);
	assert_int_equal(cfg->log_level, AGENTCONF_LOG_INFO);
	assert_int_equal(cfg->mtu, 1420);
	assert_int_equal(cfg->backend, AGENTCONF_BACKEND_AUTO);
	agentconf_free(cfg);

	assert_null(agentconf_free(NULL));
}

static void test_values(void **state)
{
	struct agent_config *cfg;
	char ep[WG_ENDPOINT_STRLEN];

	cfg = with("listen_port = 1\nmtu = 9000\nlog_level = debug\nbackend = userspace\n"
		   "reconcile_interval = 1h\nquarantine = 30d\nstate_dir = /srv/wgf\n");
	assert_int_equal(cfg->listen_port, 1);
	assert_int_equal(cfg->mtu, 9000);
	assert_int_equal(cfg->log_level, AGENTCONF_LOG_DEBUG);
	assert_int_equal(cfg->backend, AGENTCONF_BACKEND_USERSPACE);
	assert_int_equal(cfg->reconcile_interval_sec, 3600);
	assert_int_equal(cfg->quarantine_sec, 30 * 86400);
	assert_string_equal(cfg->state_dir, "/srv/wgf");
	agentconf_free(cfg);

	cfg = with("listen_port = 65535\nmtu = 1280\nlog_level = error\nbackend = kernel\n"
		   "reconcile_interval = 1\nquarantine = 0\n");
	assert_int_equal(cfg->listen_port, 65535);
	assert_int_equal(cfg->mtu, 1280);
	assert_int_equal(cfg->log_level, AGENTCONF_LOG_ERROR);
	assert_int_equal(cfg->backend, AGENTCONF_BACKEND_KERNEL);
	assert_int_equal(cfg->reconcile_interval_sec, 1);
	assert_int_equal(cfg->quarantine_sec, 0);
	agentconf_free(cfg);

	cfg = with("reconcile_interval = 5m\nquarantine = 90s\nlog_level = warn\n");
	assert_int_equal(cfg->reconcile_interval_sec, 300);
	assert_int_equal(cfg->quarantine_sec, 90);
	assert_int_equal(cfg->log_level, AGENTCONF_LOG_WARN);
	assert_string_equal(agentconf_log_level_name(cfg->log_level), "warn");
	assert_string_equal(agentconf_backend_name(cfg->backend), "auto");
	agentconf_free(cfg);

	/* Endpoints: names, IPv4, bracketed IPv6. */
	cfg = parse_ok("interface = wg0\nendpoint = [2001:db8::7]:443\npool = 10.8.0.0/24\n"
		       "api_listen = [::1]:9000\ntoken_file = /t\n");
	assert_string_equal(cfg->endpoint.host, "2001:db8::7");
	assert_int_equal(cfg->endpoint.port, 443);
	assert_string_equal(cfg->endpoint.text, "[2001:db8::7]:443");
	wg_endpoint_format(&cfg->api_listen, ep);
	assert_string_equal(ep, "[::1]:9000");
	agentconf_free(cfg);
	cfg = parse_ok("interface = wg0\nendpoint = 203.0.113.7:51820\npool = 10.8.0.0/24\n"
		       "api_listen = 0.0.0.0:8443\ntoken_file = /t\n");
	assert_string_equal(cfg->endpoint.host, "203.0.113.7");
	agentconf_free(cfg);
	cfg = parse_ok("interface = wg0\nendpoint = localhost:1\npool = 10.8.0.0/24\n"
		       "api_listen = 10.0.0.1:1\ntoken_file = /t\n");
	assert_string_equal(cfg->endpoint.host, "localhost");
	agentconf_free(cfg);

	/* TLS: both. */
	cfg = with("tls_cert = /c.pem\ntls_key = /k.pem\n");
	assert_string_equal(cfg->tls_cert, "/c.pem");
	assert_string_equal(cfg->tls_key, "/k.pem");
	agentconf_free(cfg);
}

static void test_pools_and_addresses(void **state)
{
	struct agent_config *cfg;

	/* Addresses come back in pool order, with the pool's prefix length. */
	cfg = parse_ok("interface = wg0\nendpoint = e.example:1\napi_listen = 127.0.0.1:1\n"
		       "token_file = /t\n"
		       "address = fd42:8::2\n"
		       "pool = 10.8.0.0/30, fd42:8::/126\n"
		       "address = 10.8.0.2/30\n");
	assert_int_equal(cfg->n_pools, 2);
	assert_prefix(&cfg->pools[0], "10.8.0.0/30");
	assert_prefix(&cfg->pools[1], "fd42:8::/126");
	assert_int_equal(cfg->n_addresses, 2);
	assert_prefix(&cfg->addresses[0], "10.8.0.2/30");
	assert_prefix(&cfg->addresses[1], "fd42:8::2/126");
	agentconf_free(cfg);
}

static void test_pool_bounds(void **state)
{
	struct agent_config *cfg;

	cfg = with("pool = fd42::/64\n");
	assert_int_equal(cfg->n_pools, 2);
	assert_prefix(&cfg->addresses[1], "fd42::1/64");
	agentconf_free(cfg);
	agentconf_free(parse_ok("interface = wg0\nendpoint = e.example:1\napi_listen = 127.0.0.1:1\n"
				"token_file = /t\npool = 10.0.0.0/8\n"));
	cfg = parse_ok("interface = wg0\nendpoint = e.example:1\napi_listen = 127.0.0.1:1\n"
		       "token_file = /t\npool = fd00::/64\n");
	assert_int_equal(cfg->n_pools, 1);
	assert_int_equal(cfg->pools[0].family, AF_INET6);
	agentconf_free(cfg);
}

static void test_reserved(void **state)
{
	struct agent_config *cfg;

	cfg = with("reserved = 10.8.0.10\n"
		   "reserved = 10.8.0.20 - 10.8.0.29, 10.8.0.128/25\n"
		   "reserved = 10.8.0.0-10.8.0.255\n");
	assert_int_equal(cfg->n_reserved, 4);
	assert_range(&cfg->reserved[0], "10.8.0.10", "10.8.0.10");
	assert_range(&cfg->reserved[1], "10.8.0.20", "10.8.0.29");
	assert_range(&cfg->reserved[2], "10.8.0.128", "10.8.0.255");
	assert_range(&cfg->reserved[3], "10.8.0.0", "10.8.0.255");
	agentconf_free(cfg);
}

/* Each key's bad values, each reported at its line with a reason naming the key. */
static void test_bad_values(void **state)
{
	bad_line("listen_port = 0", "listen_port: 0 is out of range 1..65535");
	bad_line("listen_port = 65536", "listen_port: 65536 is out of range 1..65535");
	bad_line("listen_port = 99999999999999999999999", "out of range 1..65535");
	bad_line("listen_port = -1", "listen_port: -1 is not a whole number");
	bad_line("listen_port = 51820x", "not a whole number");
	bad_line("listen_port = 0x10", "not a whole number");
	bad_line("mtu = 1279", "mtu: 1279 is out of range 1280..9000");
	bad_line("mtu = 9001", "mtu: 9001 is out of range 1280..9000");
	bad_line("mtu = 1500 bytes", "mtu: the value is not a whole number");
	bad_line("reconcile_interval = 0", "reconcile_interval: 0 is out of range 1s..1h");
	bad_line("reconcile_interval = 61m", "reconcile_interval: 61m is out of range 1s..1h");
	bad_line("reconcile_interval = 2h", "out of range 1s..1h");
	bad_line("reconcile_interval = 5 m", "not a duration");
	bad_line("reconcile_interval = 5min", "reconcile_interval: 5min is not a duration");
	bad_line("reconcile_interval = m", "not a duration");
	bad_line("reconcile_interval = 1.5h", "not a duration");
	bad_line("quarantine = 31d", "quarantine: 31d is out of range 0..30d");
	bad_line("quarantine = 2592001", "out of range 0..30d");
	bad_line("quarantine = 99999999999999999999999999d", "out of range 0..30d");
	bad_line("log_level = verbose", "log_level: verbose is not one of error|warn|info|debug");
	bad_line("log_level = INFO", "is not one of");
	bad_line("backend = wireguard-go", "backend: wireguard-go is not one of auto|kernel|userspace");
	bad_line("state_dir = var/lib/x", "state_dir: must be an absolute path");
	bad_line("tls_cert = cert.pem", "tls_cert: must be an absolute path");
	bad_line("address = 10.8.0.1/0", "address: 10.8.0.1/0: the prefix length must be the pool's");
	bad_line("address = 10.8.0.256", "address: 10.8.0.256 is not an address or prefix");
	bad_line("reserved = 10.8.0.9-10.8.0.1", "reserved: 10.8.0.9-10.8.0.1: the range ends before it starts");
	bad_line("reserved = 10.8.0.1-fd00::1", "mixes IPv4 and IPv6");
	bad_line("reserved = 10.8.0.17/28", "reserved: 10.8.0.17/28 has host bits set");
	bad_line("reserved = 10.8.0.1/24-10.8.0.5", "is not an address, range A-B or prefix");
	bad_line("reserved = nope", "reserved: nope is not an address, range A-B or prefix");
	bad_line("reserved = 10.8.0.1,", "reserved: empty element in list");
	bad_line("reserved = 10.8.0.1,,10.8.0.2", "empty element in list");
	bad_line("reserved = , 10.8.0.1", "empty element in list");
	bad_line("reserved = 10.8.0.1, ", "empty element in list");

	/* Keys of the base replaced: their line is where they are. */
	parse_bad("interface = wg0-fleet-north-01\n", 1,
		  "interface: wg0-fleet-north-01 is not a valid interface name");
	parse_bad("interface = wg 0\n", 1, "is not a valid interface name");
	parse_bad("interface = a/b\n", 1, "is not a valid interface name");
	parse_bad("interface = ..\n", 1, "is not a valid interface name");
#define EP(v, want) parse_bad("interface = wg0\nendpoint = " v "\n", 2, want)
	EP("vpn.example.com", "endpoint: vpn.example.com: port missing (expected HOST:PORT)");
	EP("vpn.example.com:", "port must be a number 1..65535");
	EP("vpn.example.com:0", "port must be a number 1..65535");
	EP("vpn.example.com:65536", "port must be a number 1..65535");
	EP("vpn.example.com:https", "port must be a number 1..65535");
	EP(":51820", "host missing");
	EP("2001:db8::1:51820", "an IPv6 address needs brackets");
	EP("[2001:db8::1]", "port missing (expected [IPv6]:PORT)");
	EP("[2001:db8::1:51820", "missing ']'");
	EP("[10.0.0.1]:51820", "endpoint: 10.0.0.1 is not an IPv6 address");
	EP("[fe80::1%eth0]:51820", "fe80::1%eth0 is not an IPv6 address");
	EP("300.1.2.3:51820", "300.1.2.3 is not an IPv4 address");
	EP("1234:51820", "1234 is not an IPv4 address");
	EP("-vpn.example.com:51820", "-vpn.example.com is not a valid host name");
	EP("vpn-.example.com:51820", "is not a valid host name");
	EP("vpn..example.com:51820", "is not a valid host name");
	EP("vpn.example.com.:51820", "is not a valid host name");
	EP("vpn_1.example.com:51820", "is not a valid host name");
#undef EP
#define POOL(v, want) parse_bad("interface = wg0\nendpoint = e.example:1\npool = " v "\n", 3, want)
	POOL("10.8.0.1/24", "pool: 10.8.0.1/24 has host bits set (the network is 10.8.0.0/24)");
	POOL("fd42:8::1/64", "fd42:8::1/64 has host bits set (the network is fd42:8::/64)");
	POOL("10.8.0.0", "10.8.0.0 needs a prefix length");
	POOL("10.8.0.0/31", "an IPv4 pool must be /8../30");
	POOL("10.8.0.0/32", "an IPv4 pool must be /8../30");
	POOL("10.0.0.0/7", "an IPv4 pool must be /8../30");
	POOL("0.0.0.0/0", "an IPv4 pool must be /8../30");
	POOL("fd42::/63", "an IPv6 pool must be /64../126");
	POOL("fd42::/127", "an IPv6 pool must be /64../126");
	POOL("fd42::/128", "an IPv6 pool must be /64../126");
	POOL("127.0.0.0/8", "pool: 127.0.0.0/8 overlaps 127.0.0.0/8 (loopback)");
	POOL("0.0.0.0/24", "overlaps 0.0.0.0/8");
	POOL("169.254.8.0/24", "overlaps 169.254.0.0/16 (link-local)");
	POOL("224.0.0.0/24", "overlaps 224.0.0.0/3 (multicast and reserved)");
	POOL("255.255.255.0/24", "overlaps 224.0.0.0/3");
	POOL("::/126", "overlaps ::/8");
	POOL("::ffff:10.8.0.0/120", "overlaps ::/8");
	POOL("fe80::/64", "overlaps fe80::/10 (link-local)");
	POOL("ff02::/64", "overlaps ff00::/8 (multicast)");
	POOL("10.8.0.0/33", "10.8.0.0/33 is not an address or prefix");
	POOL("10.8.0.0/24 10.9.0.0/24", "pool: the value is not an address or prefix");
	POOL("10.8.0.0/24,", "empty element in list");
#undef POOL
#define API(v, want) parse_bad("interface = wg0\nendpoint = e.example:1\npool = 10.8.0.0/24\n" \
			       "api_listen = " v "\n", 4, want)
	API("localhost:8443", "api_listen: localhost:8443 is not IP:PORT or [IPv6]:PORT");
	API("127.0.0.1", "port missing");
	API("127.0.0.1:0", "port must be a number 1..65535");
	API("::1:8443", "needs brackets");
	API("[::1%lo]:8443", "is not IP:PORT or [IPv6]:PORT");
	API("[127.0.0.1]:8443", "is not IP:PORT or [IPv6]:PORT");
#undef API
	parse_bad("interface = wg0\nendpoint = e.example:1\npool = 10.8.0.0/24\n"
		  "api_listen = [::1]:8443\ntoken_file = ./token\n",
		  5, "token_file: must be an absolute path");
}

static void test_syntax(void **state)
{
	bad_line("listen_port", "expected 'key = value'");
	bad_line("= 5", "expected 'key = value'");
	bad_line("listen_port =", "listen_port: empty value");
	bad_line("listen_port = # nothing", "listen_port: empty value");
	bad_line("Listen_Port = 1", "unknown key");
	bad_line("listenport = 1", "unknown key 'listenport'");
	bad_line("[Interface]", "expected 'key = value'");
	bad_line("log_level = info\x01", "control character");
	bad_line("log_level = info\x7f", "control character");
	bad_line("log_level = in\rfo", "control character");

	/* Duplicates: a scalar may be set once; lists accumulate. */
	parse_bad(BASE "mtu = 1420\n\nmtu = 1420\n", 8, "mtu: set twice (first on line 6)");
	parse_bad("interface = wg0\ninterface = wg1\n", 2, "interface: set twice (first on line 1)");

	/* NUL bytes are errors at their line. */
	{
		static const char text[] = BASE "mtu = 14\0" "20\n";
		struct agent_config *cfg = NULL;
		struct agentconf_error err = {};

		assert_int_equal(agentconf_parse(text, sizeof(text) - 1, "n.conf", &cfg, &err),
				 -EINVAL);
		assert_null(cfg);
		assert_int_equal(err.line, 6);
		assert_non_null(strstr(err.message, "NUL byte"));
	}
}

static void test_missing_required(void **state)
{
	parse_bad("", 0, "missing required key 'interface'");
	parse_bad("# only a comment\n\n", 0, "missing required key 'interface'");
	parse_bad("interface = wg0\n", 0, "missing required key 'endpoint'");
	parse_bad("interface = wg0\nendpoint = e.example:1\n", 0, "missing required key 'pool'");
	parse_bad("interface = wg0\nendpoint = e.example:1\npool = 10.8.0.0/24\n", 0,
		  "missing required key 'api_listen'");
	parse_bad("interface = wg0\nendpoint = e.example:1\npool = 10.8.0.0/24\n"
		  "api_listen = 127.0.0.1:1\n",
		  0, "missing required key 'token_file'");
}

static void test_cross_field(void **state)
{
	bad_line("address = 10.9.0.1", "address: 10.9.0.1 is not inside any pool");
	bad_line("address = fd00::1", "address: fd00::1 is not inside any pool");
	bad_line("address = 10.8.0.1/16", "address: 10.8.0.1/16: the prefix length must be the pool's (/24)");
	bad_line("address = 10.8.0.0", "address: 10.8.0.0 is the pool's network address");
	bad_line("address = 10.8.0.255/24", "address: 10.8.0.255 is the pool's broadcast address");
	bad_line("reserved = 10.9.0.1", "reserved: 10.9.0.1 is not inside a pool");
	bad_line("reserved = 10.8.0.200-10.8.1.5", "reserved: 10.8.0.200-10.8.1.5 is not inside a pool");
	bad_line("reserved = 10.8.0.0/23", "reserved: 10.8.0.0-10.8.1.255 is not inside a pool");
	bad_line("tls_cert = /c.pem", "tls_cert: set without tls_key (both or neither)");
	bad_line("tls_key = /k.pem", "tls_key: set without tls_cert (both or neither)");
	bad_line("pool = 10.9.0.0/24", "pool: a second IPv4 pool (one per family; the first is on line 3)");

	/* The error points at the offending line even when the pool comes later. */
	parse_bad(BASE "address = 10.8.0.1\naddress = 10.8.0.2\n", 7,
		  "address: a second address in one pool (one per pool; the first is on line 6)");
	parse_bad("address = fd42::\npool = fd42::/64\n" BASE, 1,
		  "address: fd42:: is the pool's subnet-router anycast address");
	parse_bad(BASE "pool = fd42::/64, fd43::/64\n", 6, "a second IPv6 pool");
}

static void test_crlf_and_whitespace(void **state)
{
	struct agent_config *cfg;

	cfg = parse_ok("  # comment\r\n"
		       "\tinterface\t=\twg0\t\r\n"
		       "\r\n"
		       "endpoint=vpn.example.com:51820   # trailing comment\r\n"
		       "pool    =    10.8.0.0/24\r\n"
		       "api_listen = 127.0.0.1:8443\r\n"
		       "token_file = /etc/wg#fleet/token # the '#' above is part of the path\r\n"
		       "state_dir = /var/lib/wg fleet\r\n"
		       "mtu = 1400"); /* no final newline */
	assert_string_equal(cfg->interface, "wg0");
	assert_string_equal(cfg->endpoint.text, "vpn.example.com:51820");
	assert_string_equal(cfg->token_file, "/etc/wg#fleet/token");
	assert_string_equal(cfg->state_dir, "/var/lib/wg fleet");
	assert_int_equal(cfg->mtu, 1400);
	agentconf_free(cfg);

	/* Line numbers count CRLF lines once. */
	parse_bad("interface = wg0\r\n\r\nmtu = 1\r\n", 3, "mtu: 1 is out of range");
	/* A lone CR in the middle of a line is not a line end. */
	parse_bad("interface = wg0\rmtu = 1\n", 1, "control character");
}

static void test_interface_name_length(void **state)
{
	struct agent_config *cfg;

	cfg = parse_ok("interface = wgfleet-fra1-01\n" /* 15 characters */
		       "endpoint = e.example:1\npool = 10.8.0.0/24\napi_listen = 127.0.0.1:1\n"
		       "token_file = /t\n");
	assert_string_equal(cfg->interface, "wgfleet-fra1-01");
	agentconf_free(cfg);
	parse_bad("interface = wgfleet-fra1-001\n", 1,
		  "interface: wgfleet-fra1-001 is not a valid interface name (1-15 characters");
}

/* A token pasted where it does not belong is never copied into the message. */
static void test_no_secret_in_message(void **state)
{
	static const char *const secret = "Zm9vYmFyYmF6cXV4c2VjcmV0dG9rZW4xMjM0NTY3ODkw";
	/* The secret goes between before[i] and after[i]. */
	static const char *const before[] = {
		"token = ", "token_file = ", "", "", "interface = ",
		"log_level = ", "endpoint = ", "reserved = ", "mtu = ",
	};
	static const char *const after[] = {"", "", "", " = 1", "", "", "", "", ""};
	char line[256], text[1024];
	struct agentconf_error err = {};
	struct agent_config *cfg = NULL;

	for (size_t i = 0; i < sizeof(before) / sizeof(before[0]); i++) {
		snprintf(line, sizeof(line), "%s%s%s", before[i], secret, after[i]);
		snprintf(text, sizeof(text), "%s\n%s", line, BASE);
		assert_int_equal(agentconf_parse(text, strlen(text), "s.conf", &cfg, &err), -EINVAL);
		assert_null(cfg);
		if (strstr(err.message, "Zm9v") || strstr(err.message, "MjM0"))
			fail_msg("secret echoed for \"%s\": %s", line, err.message);
	}
}

static void test_error_format_and_describe(void **state)
{
	struct agentconf_error err = {.filename = "/etc/wgfleet/agent.conf", .line = 7};
	struct agentconf_keydoc d;
	char buf[300];
	size_t n;

	snprintf(err.message, sizeof(err.message), "mtu: 1 is out of range 1280..9000");
	agentconf_error_format(&err, buf, sizeof(buf));
	assert_string_equal(buf, "/etc/wgfleet/agent.conf:7: mtu: 1 is out of range 1280..9000");
	err.line = 0;
	snprintf(err.message, sizeof(err.message), "missing required key 'pool'");
	agentconf_error_format(&err, buf, sizeof(buf));
	assert_string_equal(buf, "/etc/wgfleet/agent.conf: missing required key 'pool'");

	for (n = 0; agentconf_describe(n, &d) == 0; n++) {
		assert_non_null(d.name);
		assert_non_null(d.type);
		assert_true(d.description && *d.description);
		assert_true(d.required || d.default_value || !strncmp(d.name, "tls_", 4) ||
			    !strcmp(d.name, "reserved"));
		if (!strcmp(d.name, "quarantine"))
			assert_string_equal(d.bounds, "0..30d");
		if (!strcmp(d.name, "log_level"))
			assert_string_equal(d.bounds, "error|warn|info|debug");
		if (!strcmp(d.name, "listen_port"))
			assert_string_equal(d.bounds, "1..65535");
	}
	assert_int_equal(n, 16);
	assert_int_equal(agentconf_describe(n, &d), -ENOENT);
}

/* Not NUL-terminated input: only len bytes are read. */
static void test_length_bounded(void **state)
{
	const char text[] = BASE "mtu = 1400\nmtu = 1";
	struct agent_config *cfg = NULL;
	struct agentconf_error err = {};

	/* Cut before the duplicate: parses. */
	assert_int_equal(agentconf_parse(text, strlen(BASE) + 11, "l.conf", &cfg, &err), 0);
	assert_int_equal(cfg->mtu, 1400);
	agentconf_free(cfg);
	/* A NULL error pointer is allowed. */
	cfg = NULL;
	assert_int_equal(agentconf_parse(text, strlen(text), "l.conf", &cfg, NULL), -EINVAL);
	assert_null(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_pools_and_addresses),
		cmocka_unit_test(test_pool_bounds),
		cmocka_unit_test(test_reserved),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_cross_field),
		cmocka_unit_test(test_crlf_and_whitespace),
		cmocka_unit_test(test_interface_name_length),
		cmocka_unit_test(test_no_secret_in_message),
		cmocka_unit_test(test_error_format_and_describe),
		cmocka_unit_test(test_length_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
