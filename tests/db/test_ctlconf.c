// SPDX-License-Identifier: MIT
/* The controller's config file (controller/ctlconf.c): grammar, every key's values and
 * bounds, the defaults, the rules that span keys, the file's permissions, which database
 * URL wins, and that the shipped example and the docs name every key. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "wgfleet/macro.h"
#include "ctlconf.h"

static struct controller_config *parse_ok(const char *text)
{
	struct controller_config *cfg = NULL;
	struct ctlconf_error err = {0};
	int r = ctlconf_parse(text, strlen(text), &cfg, &err);

	if (r < 0)
		print_error("[%s]: line %u: %s\n", text, err.line, err.message);
	assert_int_equal(r, 0);
	return cfg;
}

static void parse_bad(const char *text, size_t len, unsigned line, const char *reason)
{
	struct controller_config *cfg = NULL;
	struct ctlconf_error err = {0};
	int r = ctlconf_parse(text, len, &cfg, &err);

	if (r != -EINVAL || err.line != line || !strstr(err.message, reason))
		print_error("[%s]: r=%d line %u '%s'; wanted line %u '%s'\n", text, r, err.line,
		            err.message, line, reason);
	assert_int_equal(r, -EINVAL);
	assert_null(cfg);
	assert_int_equal(err.line, line);
	assert_non_null(strstr(err.message, reason));
	/* never the password, nor a secret pasted into the wrong key */
	assert_null(strstr(err.message, "hunter2"));
}

static void bad(const char *text, unsigned line, const char *reason)
{
	parse_bad(text, strlen(text), line, reason);
}

static void test_parse(void **state)
{
	struct controller_config *cfg;

	cfg = parse_ok("");
	assert_null(cfg->database_url);
	cfg = ctlconf_free(cfg);
	cfg = parse_ok("# the controller\r\n\n  database_url =  mysql://w:p%23x@db:3306/wgfleet  "
	               "# a comment\r\n");
	assert_string_equal(cfg->database_url, "mysql://w:p%23x@db:3306/wgfleet");
	cfg = ctlconf_free(cfg);
	cfg = parse_ok("\tdatabase_url=mysql://w@/wgfleet?socket=/run/mysqld.sock");
	assert_string_equal(cfg->database_url, "mysql://w@/wgfleet?socket=/run/mysqld.sock");
	ctlconf_free(cfg);
	/* a '#' inside the value is not a comment: here it reaches the URL parser */
	parse_bad("database_url = mysql://u@h/d#x", 30, 1, "fragment");
	assert_null(ctlconf_free(NULL));

	parse_bad("database_url = mysql://u:hunter2@h/d?sslverify=1", 48, 1, "database_url:");
	parse_bad("\ndatabase_url = mysql://u:hunter2@h/", 36, 2, "names no database");
	parse_bad("database_url = mysql://u@h/a\ndatabase_url = mysql://u@h/b\n", 58, 2,
	          "set twice (first on line 1)");
	parse_bad("database_url =\n", 15, 1, "empty value");
	parse_bad("databaseurl = x\n", 16, 1, "unknown key 'databaseurl'");
	parse_bad("mysql://u:hunter2@h/d\n", 22, 1, "expected 'key = value'");
	parse_bad("Pass:hunter2 = 1\n", 16, 1, "unknown key");
	parse_bad("= x\n", 4, 1, "expected 'key = value'");
	parse_bad("\n\ndatabase_url = a\x01", 19, 3, "control character");
	parse_bad("# x\ndatabase_url = a\0b\n", 22, 2, "NUL byte");
	/* every scalar key: set twice is an error naming the first line */
	bad("workers = 4\n\nworkers = 4\n", 3, "workers: set twice (first on line 1)");
	bad("log_level = info\nlog_level = debug\n", 2, "log_level: set twice (first on line 1)");
	bad("webhook_url = http://a\nwebhook_url = http://b\n", 2, "set twice");
	bad("tls_cert = /c\ntls_key = /k\ntls_cert = /c\n", 3, "tls_cert: set twice");
	/* an empty list element */
	bad("dns = 1.1.1.1,\n", 1, "dns: empty element in list");
	bad("dns = , 1.1.1.1\n", 1, "dns: empty element in list");
	bad("client_allowed_ips = 10.0.0.0/8,,::/0\n", 1, "empty element in list");
	bad("client_allowed_ips = 10.0.0.0/8, ,::/0\n", 1, "empty element in list");
}

/* An empty file is every default (docs/controller-config.md). */
static void test_defaults(void **state)
{
	struct controller_config *cfg = parse_ok("# nothing but a comment\n");
	char ep[WG_ENDPOINT_STRLEN];

	assert_null(cfg->database_url);
	assert_string_equal(cfg->api_listen, "127.0.0.1:8000");
	wg_endpoint_format(&cfg->api_listen_addr, ep);
	assert_string_equal(ep, "127.0.0.1:8000");
	assert_null(cfg->tls_cert);
	assert_null(cfg->tls_key);
	assert_int_equal(cfg->n_tokens, 0);
	assert_null(cfg->master_key_file);
	assert_null(cfg->agent_ca_file);
	assert_int_equal(cfg->n_dns, 0);
	assert_int_equal(cfg->n_client_allowed_ips, 2);
	assert_string_equal(cfg->client_allowed_ips[0], "0.0.0.0/0");
	assert_string_equal(cfg->client_allowed_ips[1], "::/0");
	assert_int_equal(cfg->persistent_keepalive, 25);
	assert_int_equal(cfg->n_prices, 0);
	assert_null(ctlconf_price(cfg, PAYMENT_STARS, VPN_WIREGUARD, 1));
	assert_int_equal(cfg->trial_duration_s, 3 * 86400);
	assert_int_equal(cfg->workers, 4);
	assert_int_equal(cfg->job_max_attempts, 12);
	assert_int_equal(cfg->job_backoff_ms, 1000);
	assert_int_equal(cfg->job_backoff_max_ms, 300000);
	assert_int_equal(cfg->job_lease_ms, 60000);
	assert_int_equal(cfg->agent_timeout_ms, 10000);
	assert_int_equal(cfg->poll_interval_ms, 10000);
	assert_int_equal(cfg->unhealthy_after, 3);
	assert_int_equal(cfg->sweep_interval_ms, 60000);
	assert_null(cfg->webhook_url);
	assert_null(cfg->webhook_secret_file);
	assert_int_equal(cfg->expiry_notice_s, 3 * 86400);
	assert_int_equal(cfg->db_pool_size, 16);
	assert_int_equal(cfg->log_level, CTL_LOG_INFO);
	assert_string_equal(ctl_log_level_name(cfg->log_level), "info");
	ctlconf_free(cfg);
}

/* Every key set to a value other than its default. */
static void test_values(void **state)
{
	struct controller_config *cfg;
	const struct ctl_price *pr;
	char ep[WG_ENDPOINT_STRLEN];

	cfg = parse_ok("database_url = mysql://w:pw@db:3306/wgfleet\n"
	               "api_listen = [::1]:9443\n"
	               "tls_cert = /etc/wgfleet/tls/api.crt\n"
	               "tls_key = /etc/wgfleet/tls/api.key\n"
	               "token = bot /etc/wgfleet/bot.token\n"
	               "token = admin\t/etc/wgfleet/admin token\n"
	               "token = monitor /etc/wgfleet/monitor.token\n"
	               "master_key_file = /etc/wgfleet/master.key\n"
	               "agent_ca_file = /etc/wgfleet/agents-ca.pem\n"
	               "dns = 1.1.1.1, 2606:4700:4700:0:0:0:0:1111\n"
	               "dns = 9.9.9.9\n"
	               "client_allowed_ips = 10.8.0.0/16, FD42::/48\n"
	               "client_allowed_ips = 192.168.1.7\n"
	               "persistent_keepalive = 0\n"
	               "price = stars wireguard 1 150 XTR\n"
	               "price = stars wireguard 12 1500 XTR\n"
	               "price = qvapay wireguard 1 299 USD\n"
	               "price = qvapay outline 3 700 EUR\n"
	               "trial_duration = 36h\n"
	               "workers = 32\n"
	               "job_max_attempts = 1000\n"
	               "job_backoff = 250ms\n"
	               "job_backoff_max = 1h\n"
	               "job_lease = 2m\n"
	               "agent_timeout = 1500ms\n"
	               "poll_interval = 1m\n"
	               "unhealthy_after = 1\n"
	               "sweep_interval = 5s\n"
	               "webhook_url = https://bot.example.com:8443/hooks/wgfleet?v=1\n"
	               "webhook_secret_file = /etc/wgfleet/webhook.secret\n"
	               "expiry_notice = 0s\n"
	               "db_pool_size = 64\n"
	               "log_level = debug\n");
	assert_string_equal(cfg->database_url, "mysql://w:pw@db:3306/wgfleet");
	assert_string_equal(cfg->api_listen, "[::1]:9443");
	wg_endpoint_format(&cfg->api_listen_addr, ep);
	assert_string_equal(ep, "[::1]:9443");
	assert_string_equal(cfg->tls_cert, "/etc/wgfleet/tls/api.crt");
	assert_string_equal(cfg->tls_key, "/etc/wgfleet/tls/api.key");
	assert_int_equal(cfg->n_tokens, 3);
	assert_int_equal(cfg->tokens[0].role, CTL_ROLE_BOT);
	assert_string_equal(cfg->tokens[0].file, "/etc/wgfleet/bot.token");
	assert_int_equal(cfg->tokens[1].role, CTL_ROLE_ADMIN);
	assert_string_equal(cfg->tokens[1].file, "/etc/wgfleet/admin token");
	assert_int_equal(cfg->tokens[2].role, CTL_ROLE_MONITOR);
	assert_string_equal(ctl_role_name(cfg->tokens[2].role), "monitor");
	assert_string_equal(cfg->master_key_file, "/etc/wgfleet/master.key");
	assert_string_equal(cfg->agent_ca_file, "/etc/wgfleet/agents-ca.pem");
	assert_int_equal(cfg->n_dns, 3);
	assert_string_equal(cfg->dns[0], "1.1.1.1");
	assert_string_equal(cfg->dns[1], "2606:4700:4700::1111"); /* normalised */
	assert_string_equal(cfg->dns[2], "9.9.9.9");
	/* given: the default is gone, not added to */
	assert_int_equal(cfg->n_client_allowed_ips, 3);
	assert_string_equal(cfg->client_allowed_ips[0], "10.8.0.0/16");
	assert_string_equal(cfg->client_allowed_ips[1], "fd42::/48");
	assert_string_equal(cfg->client_allowed_ips[2], "192.168.1.7/32");
	assert_int_equal(cfg->persistent_keepalive, 0);
	assert_int_equal(cfg->n_prices, 4);
	pr = ctlconf_price(cfg, PAYMENT_STARS, VPN_WIREGUARD, 12);
	assert_non_null(pr);
	assert_int_equal(pr->amount, 1500);
	assert_string_equal(pr->currency, "XTR");
	pr = ctlconf_price(cfg, PAYMENT_QVAPAY, VPN_OUTLINE, 3);
	assert_non_null(pr);
	assert_int_equal(pr->amount, 700);
	assert_string_equal(pr->currency, "EUR");
	assert_int_equal(ctlconf_price(cfg, PAYMENT_QVAPAY, VPN_WIREGUARD, 1)->amount, 299);
	assert_null(ctlconf_price(cfg, PAYMENT_QVAPAY, VPN_WIREGUARD, 12));
	assert_null(ctlconf_price(cfg, PAYMENT_STARS, VPN_OUTLINE, 1));
	assert_null(ctlconf_price(NULL, PAYMENT_STARS, VPN_WIREGUARD, 1));
	assert_int_equal(cfg->trial_duration_s, 36 * 3600);
	assert_int_equal(cfg->workers, 32);
	assert_int_equal(cfg->job_max_attempts, 1000);
	assert_int_equal(cfg->job_backoff_ms, 250);
	assert_int_equal(cfg->job_backoff_max_ms, 3600000);
	assert_int_equal(cfg->job_lease_ms, 120000);
	assert_int_equal(cfg->agent_timeout_ms, 1500);
	assert_int_equal(cfg->poll_interval_ms, 60000);
	assert_int_equal(cfg->unhealthy_after, 1);
	assert_int_equal(cfg->sweep_interval_ms, 5000);
	assert_string_equal(cfg->webhook_url, "https://bot.example.com:8443/hooks/wgfleet?v=1");
	assert_string_equal(cfg->webhook_secret_file, "/etc/wgfleet/webhook.secret");
	assert_int_equal(cfg->expiry_notice_s, 0);
	assert_int_equal(cfg->db_pool_size, 64);
	assert_int_equal(cfg->log_level, CTL_LOG_DEBUG);
	ctlconf_free(cfg);

	/* the edges of each range, and the other spellings */
	cfg = parse_ok("api_listen = 0.0.0.0:65535\npersistent_keepalive = 65535\n"
	               "trial_duration = 1s\nworkers = 1\njob_max_attempts = 1\n"
	               "job_backoff = 10ms\njob_backoff_max = 10ms\njob_lease = 1s\n"
	               "agent_timeout = 100ms\npoll_interval = 100ms\nsweep_interval = 100ms\n"
	               "unhealthy_after = 1000\nexpiry_notice = 365d\ndb_pool_size = 4\n"
	               "log_level = error\nwebhook_url = http://[2001:db8::1]/x\n"
	               "price = stars outline 120 9223372036854775807 XTR\n"
	               "price = qvapay wireguard 1 1 ABCDEFGH\n"
	               "client_allowed_ips = ::/0\n");
	wg_endpoint_format(&cfg->api_listen_addr, ep);
	assert_string_equal(ep, "0.0.0.0:65535");
	assert_int_equal(cfg->persistent_keepalive, 65535);
	assert_int_equal(cfg->trial_duration_s, 1);
	assert_int_equal(cfg->job_backoff_ms, 10);
	assert_int_equal(cfg->job_backoff_max_ms, 10);
	assert_int_equal(cfg->job_lease_ms, 1000);
	assert_int_equal(cfg->agent_timeout_ms, 100);
	assert_int_equal(cfg->unhealthy_after, 1000);
	assert_int_equal(cfg->expiry_notice_s, 365 * 86400);
	assert_int_equal(cfg->db_pool_size, 4);
	assert_int_equal(cfg->log_level, CTL_LOG_ERROR);
	assert_int_equal(ctlconf_price(cfg, PAYMENT_STARS, VPN_OUTLINE, 120)->amount, INT64_MAX);
	assert_string_equal(ctlconf_price(cfg, PAYMENT_QVAPAY, VPN_WIREGUARD, 1)->currency,
	                    "ABCDEFGH");
	assert_int_equal(cfg->n_client_allowed_ips, 1);
	ctlconf_free(cfg);

	cfg = parse_ok("workers = 256\ndb_pool_size = 1024\njob_backoff = 1h\n"
	               "job_backoff_max = 1d\njob_lease = 1d\nagent_timeout = 10m\n"
	               "poll_interval = 1d\nsweep_interval = 86400s\ntrial_duration = 365d\n"
	               "log_level = warn\nwebhook_url = HTTP://h\n");
	assert_int_equal(cfg->workers, 256);
	assert_int_equal(cfg->db_pool_size, 1024);
	assert_int_equal(cfg->job_lease_ms, 86400000);
	assert_int_equal(cfg->agent_timeout_ms, 600000);
	assert_int_equal(cfg->sweep_interval_ms, 86400000);
	assert_int_equal(cfg->trial_duration_s, 365 * 86400);
	assert_int_equal(cfg->log_level, CTL_LOG_WARN);
	ctlconf_free(cfg);

	assert_null(ctl_role_name(0));
	assert_null(ctl_role_name(CTL_ROLE_ALL));
	assert_string_equal(ctl_role_name(CTL_ROLE_BOT), "bot");
	assert_string_equal(ctl_role_name(CTL_ROLE_ADMIN), "admin");
	assert_null(ctl_log_level_name(4));
}

/* Every key's bad values: the line, the reason, and nothing returned. */
static void test_bad_values(void **state)
{
	bad("\n\napi_listen = 127.0.0.1\n", 3, "api_listen: 127.0.0.1 is not IP:PORT");
	bad("api_listen = localhost:8000\n", 1, "is not IP:PORT or [IPv6]:PORT");
	bad("api_listen = 127.1:8000\n", 1, "is not IP:PORT");
	bad("api_listen = ::1:8000\n", 1, "is not IP:PORT");
	bad("api_listen = [::1]8000\n", 1, "is not IP:PORT");
	bad("api_listen = [::1:8000\n", 1, "is not IP:PORT");
	bad("api_listen = []:8000\n", 1, "is not IP:PORT");
	bad("api_listen = :8000\n", 1, "is not IP:PORT");
	bad("api_listen = [fe80::1%eth0]:8000\n", 1, "is not IP:PORT");
	bad("api_listen = 127.0.0.1:0\n", 1, "the port must be 1..65535");
	bad("api_listen = 127.0.0.1:65536\n", 1, "the port must be 1..65535");
	bad("api_listen = 127.0.0.1:80a\n", 1, "the port must be 1..65535");
	bad("api_listen = 127.0.0.1:\n", 1, "the port must be 1..65535");

	bad("tls_cert = cert.pem\n", 1, "tls_cert: must be an absolute path");
	bad("tls_key = hunter2\n", 1, "tls_key: must be an absolute path");
	bad("master_key_file = hunter2hunter2hunter2hunter2hunter2hunter2AA=\n", 1,
	    "master_key_file: must be an absolute path");
	bad("agent_ca_file = ca.pem\n", 1, "agent_ca_file: must be an absolute path");
	bad("webhook_secret_file = ./s\n", 1, "webhook_secret_file: must be an absolute path");

	/* the first word is echoed only if it looks like a role, never a pasted token */
	bad("token = /etc/bot.token\n", 1, "token: the first word is not a role");
	bad("token = 0123456789abcdef\n", 1, "token: the first word is not a role");
	bad("token = owner /t\n", 1, "token: owner is not a role (bot, admin or monitor");
	bad("token = Bot /t\n", 1, "the first word is not a role");
	bad("token = bot\n", 1, "token: the token file is missing");
	bad("token = bot   \t\n", 1, "token: the token file is missing");
	bad("token = bot hunter2\n", 1, "token: must be an absolute path");
	bad("token = bot /t\t/a\n", 1, "token: a tab inside the path");
	bad("tls_cert = /c\t.pem\n", 1, "tls_cert: a tab inside the path");
	bad("token = bot /t/a\n# x\ntoken = admin /t/a\n", 3,
	    "token: the same file again (first on line 1)");

	bad("dns = 1.1.1\n", 1, "dns: 1.1.1 is not an IP address");
	bad("dns = one.one.one.one\n", 1, "is not an IP address");
	bad("dns = 10.0.0.1/32\n", 1, "10.0.0.1/32 is not an IP address");
	bad("dns = 1.1.1.1\ndns = 9.9.9.9, 1.1.1.1\n", 2,
	    "dns: 1.1.1.1 is listed twice (first on line 1)");
	bad("dns = 2001:db8::1, 2001:DB8:0::1\n", 1, "2001:db8::1 is listed twice");

	bad("client_allowed_ips = 10.0.0.1/8\n", 1,
	    "client_allowed_ips: 10.0.0.1/8 has host bits set (the network is 10.0.0.0/8)");
	bad("client_allowed_ips = fd42::1/64\n", 1, "has host bits set (the network is fd42::/64)");
	bad("client_allowed_ips = 10.0.0.0/33\n", 1, "10.0.0.0/33 is not an address or prefix");
	bad("client_allowed_ips = 10.0.0.0/\n", 1, "is not an address or prefix");
	bad("client_allowed_ips = everything\n", 1, "is not an address or prefix");
	bad("client_allowed_ips = 0.0.0.0/0\nclient_allowed_ips = ::/0, 0.0.0.0/0\n", 2,
	    "0.0.0.0/0 is listed twice (first on line 1)");

	bad("persistent_keepalive = 65536\n", 1,
	    "persistent_keepalive: 65536 is out of range 0..65535");
	bad("persistent_keepalive = -1\n", 1, "-1 is not a whole number");
	bad("persistent_keepalive = 25s\n", 1, "25s is not a whole number");
	bad("persistent_keepalive = 99999999999999999999999\n", 1, "is out of range");

	bad("price = stars wireguard 1 150\n", 1, "price: expected 5 fields");
	bad("price = stars wireguard 1 150 XTR extra\n", 1, "price: expected 5 fields");
	bad("price = card wireguard 1 150 XTR\n", 1, "card is not a payment method");
	bad("price = stars openvpn 1 150 XTR\n", 1, "openvpn is not a VPN type");
	bad("price = stars wireguard 0 150 XTR\n", 1, "months 0 is not 1..120");
	bad("price = stars wireguard 121 150 XTR\n", 1, "months 121 is not 1..120");
	bad("price = stars wireguard 1 0 XTR\n", 1, "amount 0 is not a whole number above 0");
	bad("price = stars wireguard 1 -5 XTR\n", 1, "amount -5 is not");
	bad("price = qvapay wireguard 1 2.99 USD\n", 1, "amount 2.99 is not a whole number");
	bad("price = stars wireguard 1 9223372036854775808 XTR\n", 1, "is not a whole number");
	bad("price = qvapay wireguard 1 299 usd\n", 1, "currency usd is not 3 to 8 capital");
	bad("price = qvapay wireguard 1 299 US\n", 1, "currency US is not 3 to 8");
	bad("price = qvapay wireguard 1 299 ABCDEFGHI\n", 1, "is not 3 to 8 capital letters");
	bad("price = stars wireguard 1 150 USD\n", 1, "price: stars are priced in XTR, not USD");
	bad("price = stars wireguard 1 150 XTR\nprice = qvapay wireguard 1 2 USD\n"
	    "price = stars wireguard 1 200 XTR\n",
	    3, "price: stars wireguard 1 months has a price already (line 1)");

	bad("trial_duration = 0s\n", 1, "trial_duration: 0s is out of range 1s..365d");
	bad("trial_duration = 366d\n", 1, "is out of range 1s..365d");
	bad("trial_duration = 3\n", 1, "trial_duration: 3 is not a duration (an integer and s, m");
	bad("trial_duration = 500ms\n", 1, "500ms is not a duration");
	bad("trial_duration = 1w\n", 1, "1w is not a duration");
	bad("trial_duration = d\n", 1, "d is not a duration");
	bad("trial_duration = 1.5h\n", 1, "1.5h is not a duration");
	bad("trial_duration = 1 h\n", 1, "is not a duration");
	bad("trial_duration = 99999999999999999999999d\n", 1, "is out of range");

	bad("workers = 0\n", 1, "workers: 0 is out of range 1..256");
	bad("workers = 257\ndb_pool_size = 1024\n", 1, "workers: 257 is out of range 1..256");
	bad("workers = four\n", 1, "workers: four is not a whole number");
	bad("job_max_attempts = 0\n", 1, "job_max_attempts: 0 is out of range 1..1000");
	bad("job_max_attempts = 1001\n", 1, "1001 is out of range 1..1000");

	bad("job_backoff = 0ms\n", 1, "job_backoff: 0ms is out of range 10ms..1h");
	bad("job_backoff = 9ms\n", 1, "is out of range 10ms..1h");
	bad("job_backoff = 1000\n", 1, "job_backoff: 1000 is not a duration (an integer and ms");
	bad("job_backoff_max = 2d\n", 1, "job_backoff_max: 2d is out of range 10ms..1d");
	bad("job_lease = 999ms\n", 1, "job_lease: 999ms is out of range 1s..1d");
	bad("agent_timeout = 99ms\n", 1, "agent_timeout: 99ms is out of range 100ms..10m");
	bad("agent_timeout = 11m\n", 1, "is out of range 100ms..10m");
	bad("poll_interval = 0s\n", 1, "poll_interval: 0s is out of range 100ms..1d");
	bad("poll_interval = 25h\n", 1, "is out of range 100ms..1d");
	bad("sweep_interval = 50ms\n", 1, "sweep_interval: 50ms is out of range 100ms..1d");
	bad("unhealthy_after = 0\n", 1, "unhealthy_after: 0 is out of range 1..1000");
	bad("expiry_notice = 366d\n", 1, "expiry_notice: 366d is out of range 0s..365d");
	bad("expiry_notice = 1ms\n", 1, "expiry_notice: 1ms is not a duration");

	bad("webhook_url = bot.example.com/hook\n", 1,
	    "webhook_url: must start with http:// or https://");
	bad("webhook_url = ftp://hunter2@x/\n", 1, "must start with http:// or https://");
	bad("webhook_url = https://u:hunter2@bot.example.com/\n", 1,
	    "webhook_url: must not hold a user or password");
	bad("webhook_url = https://\n", 1, "the host is missing");
	bad("webhook_url = https:///x\n", 1, "the host is missing");
	bad("webhook_url = https://:80/x\n", 1, "the host is missing");
	bad("webhook_url = https://h:0/\n", 1, "the port must be 1..65535");
	bad("webhook_url = https://h:65536\n", 1, "the port must be 1..65535");
	bad("webhook_url = https://h:/x\n", 1, "the port must be 1..65535");
	bad("webhook_url = https://h:x8/\n", 1, "the port must be 1..65535");
	bad("webhook_url = https://[::1/x\n", 1, "needs its closing ']'");
	bad("webhook_url = https://[::1]x/\n", 1, "junk after the IPv6 host");
	bad("webhook_url = https://h/a#hunter2\n", 1, "a fragment ('#') means nothing");
	bad("webhook_url = https://h/a b\n", 1, "must be %-encoded");
	bad("webhook_url = https://h/\xc3\xa9\n", 1, "must be %-encoded");

	bad("db_pool_size = 0\n", 1, "db_pool_size: 0 is out of range 1..1024");
	bad("db_pool_size = 1025\n", 1, "is out of range 1..1024");
	bad("log_level = verbose\n", 1,
	    "log_level: verbose is not one of debug, info, warn, error");
	bad("log_level = INFO\n", 1, "INFO is not one of");
	/* a long run of base64 in a number's place is not echoed */
	bad("workers = hunter2hunter2hunter2hunter2hunter2\n", 1, "workers: the value is not");
}

/* The rules that span keys: reported at the line of the later key, defaults at line 0. */
static void test_cross(void **state)
{
	struct controller_config *cfg;

	bad("tls_cert = /c.pem\n", 1, "tls_cert: set without tls_key (both or neither)");
	bad("workers = 4\ntls_key = /k.pem\n", 2, "tls_key: set without tls_cert");

	bad("job_backoff = 10m\n", 1,
	    "job_backoff: job_backoff (10m) is above job_backoff_max (5m)");
	bad("job_backoff_max = 500ms\n", 1,
	    "job_backoff_max: job_backoff (1s) is above job_backoff_max (500ms)");
	bad("job_backoff_max = 1m\n\njob_backoff = 61s\n", 3, "job_backoff: job_backoff (61s)");
	bad("job_backoff = 61s\n\njob_backoff_max = 1m\n", 3, "job_backoff_max: job_backoff (61s)");
	cfg = parse_ok("job_backoff = 1m\njob_backoff_max = 60s\n");
	assert_int_equal(cfg->job_backoff_ms, cfg->job_backoff_max_ms);
	ctlconf_free(cfg);

	bad("job_lease = 10s\n", 1,
	    "job_lease: job_lease (10s) must be longer than agent_timeout (10s)");
	bad("agent_timeout = 2m\n", 1,
	    "agent_timeout: job_lease (1m) must be longer than "
	    "agent_timeout (2m)");
	bad("agent_timeout = 2s\njob_lease = 1500ms\n", 2, "job_lease: job_lease (1500ms)");
	ctlconf_free(parse_ok("agent_timeout = 2s\njob_lease = 2001ms\n"));

	bad("job_retention = 3d\n", 1,
	    "job_retention: job_retention (3d) must be longer than expiry_notice (3d)");
	bad("job_retention = 2d\n\nexpiry_notice = 5d\n", 3,
	    "expiry_notice: job_retention (2d) must be longer than expiry_notice (5d)");
	cfg = parse_ok("expiry_notice = 365d\n"); /* the default retention adapts */
	assert_int_equal(cfg->job_retention_s, 366 * 86400);
	ctlconf_free(cfg);
	cfg = parse_ok("job_retention = 0s\n");
	assert_int_equal(cfg->job_retention_s, 0);
	ctlconf_free(cfg);
	cfg = parse_ok("expiry_notice = 0s\njob_retention = 1s\n");
	assert_int_equal(cfg->job_retention_s, 1);
	ctlconf_free(cfg);

	bad("db_pool_size = 6\n", 1,
	    "db_pool_size: db_pool_size (6) must be at least workers (4) + 3");
	bad("db_pool_size = 20\nworkers = 18\n", 2, "workers: db_pool_size (20) must be at least");
	bad("workers = 32\n", 1, "workers: db_pool_size (16)");
	ctlconf_free(parse_ok("db_pool_size = 7\n"));
	ctlconf_free(parse_ok("workers = 13\n"));
}

static void test_precedence(void **state)
{
	struct controller_config cfg = {.database_url = "mysql://u@file/d"};
	const char *source = NULL;

	assert_string_equal(
	    ctlconf_database_url("mysql://u@opt/d", &cfg, "mysql://u@env/d", &source),
	    "mysql://u@opt/d");
	assert_string_equal(source, "--database-url");
	assert_string_equal(ctlconf_database_url(NULL, &cfg, "mysql://u@env/d", &source),
	                    "mysql://u@file/d");
	assert_string_equal(source, "config file");
	assert_string_equal(ctlconf_database_url("", NULL, "mysql://u@env/d", &source),
	                    "mysql://u@env/d");
	assert_string_equal(source, "DATABASE_URL");
	cfg.database_url = NULL;
	assert_null(ctlconf_database_url(NULL, &cfg, "", &source));
	assert_null(source);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_load(void **state)
{
	char dir[] = "/tmp/wgfleet-ctlconf-XXXXXX", path[64];
	struct controller_config *cfg = NULL;
	struct ctlconf_error err = {0};

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/controller.conf", dir);
	write_file(path, "database_url = mysql://w:hunter2@db/wgfleet\nworkers = 2\n", 0640);
	assert_int_equal(ctlconf_load(path, &cfg, &err), 0);
	assert_string_equal(cfg->database_url, "mysql://w:hunter2@db/wgfleet");
	assert_int_equal(cfg->workers, 2);
	assert_int_equal(cfg->db_pool_size, 16);
	cfg = ctlconf_free(cfg);
	/* a password readable by everyone is refused; without a password it is fine */
	write_file(path, "database_url = mysql://w:hunter2@db/wgfleet\n", 0644);
	assert_int_equal(ctlconf_load(path, &cfg, &err), -EACCES);
	assert_non_null(strstr(err.message, "readable by everyone"));
	assert_null(strstr(err.message, "hunter2"));
	write_file(path, "database_url = mysql://w@/wgfleet?socket=/run/mysqld/mysqld.sock\n",
	           0644);
	assert_int_equal(ctlconf_load(path, &cfg, &err), 0);
	cfg = ctlconf_free(cfg);
	write_file(path, "\nnope = 1\n", 0600);
	assert_int_equal(ctlconf_load(path, &cfg, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	write_file(path, "workers = 2\nworkers = 3\n", 0600);
	assert_int_equal(ctlconf_load(path, &cfg, &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_int_equal(ctlconf_load(dir, &cfg, &err), -EINVAL); /* a directory */
	unlink(path);
	assert_int_equal(ctlconf_load(path, &cfg, &err), -ENOENT);
	assert_null(cfg);
	rmdir(dir);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text;
	long n;

	if (!f)
		print_error("%s: %s\n", path, strerror(errno));
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

/*
 * The shipped example parses, sets every key of the table on a line of its own (so it is
 * a complete reference), and docs/controller-config.md names every key.
 */
static void test_example_and_docs(void **state)
{
	char *example = read_text(CTLCONF_EXAMPLE), *doc = read_text(CTLCONF_DOC);
	struct controller_config *cfg = parse_ok(example);
	char needle[64];
	size_t i;

	for (i = 0; ctlconf_key_name(i); i++) {
		const char *name = ctlconf_key_name(i);

		snprintf(needle, sizeof(needle), "\n%s = ", name);
		if (!strstr(example, needle))
			print_error("the example does not set %s\n", name);
		assert_non_null(strstr(example, needle));
		snprintf(needle, sizeof(needle), "| `%s` |", name);
		if (!strstr(doc, needle))
			print_error("docs/controller-config.md has no row for %s\n", name);
		assert_non_null(strstr(doc, needle));
	}
	assert_int_equal(i, 27);
	assert_non_null(cfg->database_url);
	assert_non_null(cfg->webhook_url);
	assert_true(cfg->n_tokens >= 3);
	assert_true(cfg->n_prices >= 1);
	ctlconf_free(cfg);
	free(example);
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),  cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values), cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_cross),  cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_load),   cmocka_unit_test(test_example_and_docs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
