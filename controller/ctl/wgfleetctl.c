// SPDX-License-Identifier: MIT
/*
 * wgfleetctl: the admin CLI over the controller's HTTP API (docs/api.md, "Controller").
 * Each command is one request; the answer is shown as a table (ctlfmt.h) or, with --json,
 * as the API's JSON. Commands come from a {words, arguments, options, function} table.
 *
 * Exit status: 0 done, 1 the API answered with an error or could not be reached (the
 * API's error code and message are printed), 2 bad usage (nothing was sent).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctlfmt.h"
#include "http.h"
#include "httpc.h"
#include "wgfleet/macro.h"

#define EXIT_API 1
#define EXIT_USAGE 2
#define DEFAULT_URL "http://127.0.0.1:8000"

enum {
	OPT_AGENT_TOKEN_FILE = 1U << 0,
	OPT_STATE = 1U << 1,
	OPT_LIMIT = 1U << 2,
};

struct ctl {
	const char *url, *token_file, *ca_file;
	char *token;
	bool json;
	struct httpc *http;
	/* Command options, with the bit of each that was given. */
	uint32_t given;
	const char *agent_token_file, *state, *limit;
};

struct command {
	const char *words; /* "nodes add" */
	const char *usage; /* what follows the words in the synopsis */
	size_t n_args;
	uint32_t opts;
	int (*run)(struct ctl *c, char **args);
	const char *summary;
	const char *help;
};

/* ---- talking to the API ---- */

static void print_api_error(const char *method, const char *path, long status, const json_t *j)
{
	const json_t *e = json_object_get(j, "error");
	char *code = NULL, *msg = NULL;

	if (json_is_string(json_object_get(e, "code")) &&
	    ctlfmt_value(json_object_get(e, "code"), &code) == 0 &&
	    ctlfmt_value(json_object_get(e, "message"), &msg) == 0)
		fprintf(stderr, "wgfleetctl: %s (HTTP %ld): %s\n", code, status, msg);
	else
		fprintf(stderr, "wgfleetctl: %s %s: HTTP %ld without an API error\n", method, path,
		        status);
	free(code);
	free(msg);
}

static void print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

/*
 * One request. Returns 0 with the answer's JSON object in *ret, or the exit status after
 * printing why: EXIT_API for a transport error, an error status or an answer that is not
 * a JSON object (with --json an error body is also printed to stdout, as received).
 */
static int api(struct ctl *c, const char *method, const char *path, const char *body, size_t len,
               json_t **ret)
{
	static const char *const headers[] = {"Accept: application/json", NULL};
	struct httpc_response resp = {0};
	char *url = NULL, err[256] = "";
	size_t n = strlen(c->url);
	json_t *j = NULL;
	int r, rc = EXIT_API;

	while (n && c->url[n - 1] == '/')
		n--;
	if (asprintf(&url, "%.*s%s", (int)n, c->url, path) < 0) {
		fprintf(stderr, "wgfleetctl: out of memory\n");
		return EXIT_API;
	}
	r = httpc_request(c->http, method, url, c->token, headers, body, len,
	                  body ? "application/json" : NULL, 0, &resp, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "wgfleetctl: %s %s: %s\n", method, url, err);
		goto out;
	}
	j = json_loadb(resp.body, resp.len, 0, NULL);
	if (resp.status < 200 || resp.status > 299) {
		if (c->json && j)
			print_json(j);
		print_api_error(method, path, resp.status, j);
		goto out;
	}
	if (!json_is_object(j)) {
		fprintf(stderr, "wgfleetctl: %s %s: the answer is not a JSON object\n", method,
		        path);
		goto out;
	}
	*ret = j;
	j = NULL;
	rc = 0;
out:
	json_decref(j);
	httpc_response_done(&resp);
	free(url);
	return rc;
}

/* The answer as JSON (--json), else through fmt. */
static int show(struct ctl *c, const json_t *j, int (*fmt)(const json_t *j))
{
	int r;

	if (c->json) {
		print_json(j);
		return 0;
	}
	r = fmt(j);
	if (r == -EINVAL) {
		fprintf(stderr, "wgfleetctl: the answer does not have the documented shape\n");
		return EXIT_API;
	}
	if (r < 0) {
		fprintf(stderr, "wgfleetctl: cannot print the answer: %s\n", strerror(-r));
		return EXIT_API;
	}
	return 0;
}

static int get_and_show(struct ctl *c, const char *path, int (*fmt)(const json_t *j))
{
	json_t *j = NULL;
	int rc = api(c, "GET", path, NULL, 0, &j);

	if (rc == 0)
		rc = show(c, j, fmt);
	json_decref(j);
	return rc;
}

/* ---- argument checks ---- */

/* A decimal ID: digits only, 1..2^64-1. */
static bool id_valid(const char *s)
{
	unsigned long long v;
	char *end;

	if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 20)
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && v > 0;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wgfleetctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return EXIT_USAGE;
}

static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

/* ---- formatters ---- */

static const struct ctlfmt_column user_fields[] = {
    {"TELEGRAM ID", "telegram_id", 0}, {"USERNAME", "username", 0}, {"FIRST NAME", "first_name", 0},
    {"LAST NAME", "last_name", 0},     {"STATUS", "status", 0},     {"ROLES", "roles", 0},
    {"CREATED", "created_at", 0},
};

static const struct ctlfmt_column vpn_fields[] = {
    {"ID", "id", 0},
    {"TELEGRAM ID", "telegram_id", 0},
    {"NAME", "name", 0},
    {"TYPE", "type", 0},
    {"STATUS", "status", 0},
    {"TRIAL", "trial", 0},
    {"NODE", "node", 0},
    {"ADDRESSES", "addresses", 0},
    {"PUBLIC KEY", "public_key", 0},
    {"BANDWIDTH", "bandwidth_bytes", 0},
    {"CREATED", "created_at", 0},
    {"ACTIVATED", "activated_at", 0},
    {"EXPIRES", "expires_at", 0},
    {"REVOKED", "revoked_at", 0},
    {"JOB", "job.id", 0},
    {"JOB STATE", "job.state", 0},
};

static const struct ctlfmt_column vpn_cols[] = {
    {"ID", "id", 0},
    {"NAME", "name", 24},
    {"TYPE", "type", 0},
    {"STATUS", "status", 0},
    {"TRIAL", "trial", 0},
    {"NODE", "node", 0},
    {"ADDRESSES", "addresses", 0},
    {"EXPIRES", "expires_at", 0},
};

static const struct ctlfmt_column node_fields[] = {
    {"ID", "id", 0},
    {"NAME", "name", 0},
    {"AGENT URL", "agent_url", 0},
    {"ENDPOINT", "endpoint", 0},
    {"PUBLIC KEY", "public_key", 0},
    {"POOLS", "pools", 0},
    {"STATE", "state", 0},
    {"HEALTH", "health", 0},
    {"BOOT ID", "boot_id", 0},
    {"LAST SEEN", "last_seen_at", 0},
    {"LAST ERROR", "last_error", 0},
    {"FREE", "free_addresses", 0},
    {"PEERS", "peers", 0},
};

static const struct ctlfmt_column node_cols[] = {
    {"ID", "id", 0},
    {"NAME", "name", 20},
    {"STATE", "state", 0},
    {"HEALTH", "health", 0},
    {"PEERS", "peers", 0},
    {"FREE", "free_addresses", 0},
    {"ENDPOINT", "endpoint", 0},
    {"LAST SEEN", "last_seen_at", 0},
    {"LAST ERROR", "last_error", 40},
};

static const struct ctlfmt_column job_cols[] = {
    {"ID", "id", 0},
    {"KIND", "kind", 0},
    {"STATE", "state", 0},
    {"NODE", "node", 0},
    {"VPN", "vpn_id", 0},
    {"ATTEMPTS", "attempts", 0},
    {"NEXT ATTEMPT", "next_attempt_at", 0},
    {"CREATED", "created_at", 0},
    {"LAST ERROR", "last_error", 40},
};

static int fmt_status(const json_t *j)
{
	return ctlfmt_status(stdout, j);
}

static int fmt_user(const json_t *j)
{
	return ctlfmt_object(stdout, j, user_fields, ARRAY_SIZE(user_fields));
}

static int fmt_vpn(const json_t *j)
{
	return ctlfmt_object(stdout, j, vpn_fields, ARRAY_SIZE(vpn_fields));
}

static int fmt_vpns(const json_t *j)
{
	return ctlfmt_table(stdout, json_object_get(j, "vpns"), vpn_cols, ARRAY_SIZE(vpn_cols), 0);
}

static int fmt_node(const json_t *j)
{
	return ctlfmt_object(stdout, j, node_fields, ARRAY_SIZE(node_fields));
}

static int fmt_nodes(const json_t *j)
{
	return ctlfmt_table(stdout, json_object_get(j, "nodes"), node_cols, ARRAY_SIZE(node_cols),
	                    0);
}

static int fmt_job(const json_t *j)
{
	return ctlfmt_object(stdout, j, job_cols, ARRAY_SIZE(job_cols));
}

static int fmt_jobs(const json_t *j)
{
	return ctlfmt_table(stdout, json_object_get(j, "jobs"), job_cols, ARRAY_SIZE(job_cols), 0);
}

/* ---- commands ---- */

static int cmd_status(struct ctl *c, char **args)
{
	return get_and_show(c, "/v1/status", fmt_status);
}

static int cmd_users_show(struct ctl *c, char **args)
{
	char path[64];

	if (!id_valid(args[0]))
		return usage_error("TELEGRAM_ID must be a positive decimal number, not '%s'",
		                   args[0]);
	snprintf(path, sizeof(path), "/v1/users/%s", args[0]);
	return get_and_show(c, path, fmt_user);
}

static int cmd_vpns_list(struct ctl *c, char **args)
{
	char path[64];

	if (!id_valid(args[0]))
		return usage_error("TELEGRAM_ID must be a positive decimal number, not '%s'",
		                   args[0]);
	snprintf(path, sizeof(path), "/v1/users/%s/vpns", args[0]);
	return get_and_show(c, path, fmt_vpns);
}

static int cmd_vpns_show(struct ctl *c, char **args)
{
	char path[64];

	if (!id_valid(args[0]))
		return usage_error("ID must be a positive decimal number, not '%s'", args[0]);
	snprintf(path, sizeof(path), "/v1/vpns/%s", args[0]);
	return get_and_show(c, path, fmt_vpn);
}

static int cmd_nodes_list(struct ctl *c, char **args)
{
	return get_and_show(c, "/v1/nodes", fmt_nodes);
}

/* A JSON string literal of s; NULL if s is not UTF-8 (or no memory). */
static char *json_quote(const char *s)
{
	json_t *v = json_string(s);
	char *q = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;

	json_decref(v);
	return q;
}

/*
 * head (a JSON object's opening and fields, with a trailing comma if any) followed by
 * "token":"<token>"}: the agent's token goes into the body built by hand in one buffer
 * that the caller wipes (a jansson tree would keep unwiped copies). The token is printable
 * ASCII, so only '"' and backslash need escaping. *ret_cap is what to wipe.
 */
static int token_body(const char *head, const char *token, char **ret, size_t *ret_len,
                      size_t *ret_cap)
{
	size_t cap = strlen(head) + strlen("\"token\":\"\"}") + 2 * strlen(token) + 1, off;
	char *body = malloc(cap);

	if (!body)
		return -ENOMEM;
	off = (size_t)sprintf(body, "%s\"token\":\"", head);
	for (const char *t = token; *t; t++) {
		if (*t == '"' || *t == '\\')
			body[off++] = '\\';
		body[off++] = *t;
	}
	off += (size_t)sprintf(body + off, "\"}");
	*ret = body;
	*ret_len = off;
	*ret_cap = cap;
	return 0;
}

/* PATH's node with the token of --agent-token-file and head's other fields. */
static int send_with_token(struct ctl *c, const char *method, const char *path, const char *head,
                           int (*fmt)(const json_t *j))
{
	char *token = NULL, *body = NULL, err[256];
	size_t len = 0, cap = 0;
	json_t *j = NULL;
	int rc;

	if (http_token_file_read(c->agent_token_file, &token, err, sizeof(err)) < 0)
		return usage_error("%s", err);
	if (token_body(head, token, &body, &len, &cap) < 0) {
		fprintf(stderr, "wgfleetctl: out of memory\n");
		rc = EXIT_API;
		goto out;
	}
	rc = api(c, method, path, body, len, &j);
	if (rc == 0)
		rc = show(c, j, fmt);
out:
	if (body) {
		sodium_memzero(body, cap);
		free(body);
	}
	http_token_free(token);
	json_decref(j);
	return rc;
}

static int cmd_nodes_add(struct ctl *c, char **args)
{
	char *name = NULL, *url = NULL, *head = NULL;
	int rc = EXIT_USAGE;

	if (!(c->given & OPT_AGENT_TOKEN_FILE))
		return usage_error("%s needs --agent-token-file FILE", "nodes add");
	name = json_quote(args[0]);
	url = json_quote(args[1]);
	if (!name || !url) {
		usage_error("%s must be UTF-8", !name ? "NAME" : "AGENT_URL");
		goto out;
	}
	if (strncasecmp(args[1], "http://", 7) && strncasecmp(args[1], "https://", 8)) {
		usage_error("AGENT_URL must start with http:// or https://, not '%s'", args[1]);
		goto out;
	}
	if (asprintf(&head, "{\"name\":%s,\"agent_url\":%s,", name, url) < 0) {
		head = NULL;
		fprintf(stderr, "wgfleetctl: out of memory\n");
		rc = EXIT_API;
		goto out;
	}
	rc = send_with_token(c, "POST", "/v1/nodes", head, fmt_node);
out:
	free(head);
	free(name);
	free(url);
	return rc;
}

static int cmd_nodes_set_token(struct ctl *c, char **args)
{
	char path[64];

	if (!id_valid(args[0]))
		return usage_error("ID must be a positive decimal number, not '%s'", args[0]);
	if (!(c->given & OPT_AGENT_TOKEN_FILE))
		return usage_error("%s needs --agent-token-file FILE", "nodes set-token");
	snprintf(path, sizeof(path), "/v1/nodes/%s", args[0]);
	return send_with_token(c, "PATCH", path, "{", fmt_node);
}

static int cmd_nodes_set_state(struct ctl *c, char **args)
{
	static const char *const states[] = {"active", "draining", "disabled", NULL};
	char path[64], body[64];
	json_t *j = NULL;
	int rc;

	if (!id_valid(args[0]))
		return usage_error("ID must be a positive decimal number, not '%s'", args[0]);
	if (!one_of(args[1], states))
		return usage_error("STATE must be active, draining or disabled, not '%s'", args[1]);
	snprintf(path, sizeof(path), "/v1/nodes/%s", args[0]);
	snprintf(body, sizeof(body), "{\"state\":\"%s\"}", args[1]);
	rc = api(c, "PATCH", path, body, strlen(body), &j);
	if (rc == 0)
		rc = show(c, j, fmt_node);
	json_decref(j);
	return rc;
}

static int cmd_jobs(struct ctl *c, char **args)
{
	static const char *const states[] = {"pending", "running", "done", "failed", NULL};
	char path[96] = "/v1/jobs";

	if (c->state && !one_of(c->state, states))
		return usage_error("--state must be pending, running, done or failed, not '%s'",
		                   c->state);
	if (c->limit) {
		/* 1..1000, digits only: the API's range, checked before anything is sent. */
		if (!id_valid(c->limit) || strlen(c->limit) > 4 || atoi(c->limit) > 1000)
			return usage_error("--limit must be 1..1000, not '%s'", c->limit);
	}
	if (c->state)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "?state=%s", c->state);
	if (c->limit)
		snprintf(path + strlen(path), sizeof(path) - strlen(path), "%climit=%s",
		         c->state ? '&' : '?', c->limit);
	return get_and_show(c, path, fmt_jobs);
}

static int cmd_jobs_retry(struct ctl *c, char **args)
{
	char path[64];
	json_t *j = NULL;
	int rc;

	if (!id_valid(args[0]))
		return usage_error("ID must be a positive decimal number, not '%s'", args[0]);
	snprintf(path, sizeof(path), "/v1/jobs/%s/retry", args[0]);
	rc = api(c, "POST", path, NULL, 0, &j);
	if (rc == 0)
		rc = show(c, j, fmt_job);
	json_decref(j);
	return rc;
}

static const struct command commands[] = {
    {"status", "", 0, 0, cmd_status, "users, VPNs, payments, jobs and nodes at a glance",
     "Counts of users, VPNs and payments by status, jobs by state, and every node's\n"
     "state, health, peers and free addresses (GET /v1/status; admin or monitor)."},
    {"users show", "TELEGRAM_ID", 1, 0, cmd_users_show, "one user",
     "The user with this Telegram ID (GET /v1/users/{telegram_id}; admin)."},
    {"vpns list", "TELEGRAM_ID", 1, 0, cmd_vpns_list, "a user's VPNs",
     "The VPNs of the user with this Telegram ID (GET /v1/users/{telegram_id}/vpns; admin)."},
    {"vpns show", "ID", 1, 0, cmd_vpns_show, "one VPN",
     "One VPN by its ID (GET /v1/vpns/{id}; admin)."},
    {"nodes list", "", 0, 0, cmd_nodes_list, "the nodes and their health",
     "Every node with its state, health, peers and free addresses (GET /v1/nodes; admin or\n"
     "monitor)."},
    {"nodes add", "NAME AGENT_URL --agent-token-file FILE", 2, OPT_AGENT_TOKEN_FILE, cmd_nodes_add,
     "register a node",
     "Register a node whose agent answers at AGENT_URL with the token in FILE (a file only\n"
     "its owner may read). The controller calls the agent's /v1/info first; an agent that\n"
     "cannot be reached or refuses the token is an error and nothing is recorded\n"
     "(POST /v1/nodes; admin)."},
    {"nodes set-token", "ID --agent-token-file FILE", 1, OPT_AGENT_TOKEN_FILE,
     cmd_nodes_set_token, "give the controller a node's new agent token",
     "After the agent was restarted with a new token: the controller checks it against the\n"
     "agent's /v1/info (with the node's server key) before it stores it; a wrong token\n"
     "changes nothing (PATCH /v1/nodes/{id}; admin)."},
    {"nodes set-state", "ID active|draining|disabled", 2, 0, cmd_nodes_set_state,
     "activate, drain or disable a node",
     "active: takes new VPNs; draining: keeps its VPNs, takes no new ones; disabled: out of\n"
     "service (PATCH /v1/nodes/{id}; admin)."},
    /* Before "jobs": the first command whose words match wins. */
    {"jobs retry", "ID", 1, 0, cmd_jobs_retry, "run a failed job again",
     "A failed job becomes pending again with a fresh attempt budget, once its cause is\n"
     "fixed (POST /v1/jobs/{id}/retry; admin)."},
    {"jobs", "[--state pending|running|done|failed] [--limit N]", 0, OPT_STATE | OPT_LIMIT,
     cmd_jobs, "the job queue",
     "Jobs, newest first, optionally of one state; --limit 1..1000 (default 100)\n"
     "(GET /v1/jobs; admin or monitor)."},
};

static const char global_options[] =
    "Options:\n"
    "  --url URL          the controller's API (else $WGFLEET_URL, else " DEFAULT_URL ")\n"
    "  --token-file FILE  an admin or monitor token, in a file only its owner may read\n"
    "                     (else $WGFLEET_TOKEN_FILE)\n"
    "  --ca-file FILE     CA bundle for an https URL (else $WGFLEET_CA_FILE, else the\n"
    "                     system's)\n"
    "  --json             print the API's JSON instead of tables\n"
    "  -h, --help         this text; with a command, that command's help\n"
    "\n"
    "Exit status: 0 done, 1 the API refused or could not be reached, 2 bad usage.\n";

static void usage(FILE *out)
{
	fprintf(out, "usage: wgfleetctl [OPTIONS] COMMAND [ARGS]\n\n"
	             "The admin CLI of the wgfleet controller.\n\nCommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		char synopsis[96];

		snprintf(synopsis, sizeof(synopsis), "%s%s%s", commands[i].words,
		         *commands[i].usage ? " " : "", commands[i].usage);
		if (strlen(synopsis) > 38)
			fprintf(out, "  %s\n  %-38s  %s\n", synopsis, "", commands[i].summary);
		else
			fprintf(out, "  %-38s  %s\n", synopsis, commands[i].summary);
	}
	fprintf(out, "\n%s", global_options);
}

static void synopsis(FILE *out, const struct command *cmd, const char *prefix)
{
	fprintf(out, "%s: wgfleetctl [OPTIONS] %s%s%s\n", prefix, cmd->words,
	        *cmd->usage ? " " : "", cmd->usage);
}

static void command_help(const struct command *cmd)
{
	synopsis(stdout, cmd, "usage");
	printf("\n%s\n\n%s", cmd->help, global_options);
}

/* How many positional words a command's name has, if they match. */
static size_t words_match(const char *words, char **pos, size_t n)
{
	size_t i = 0;
	const char *w = words;

	while (*w) {
		size_t len = strcspn(w, " ");

		if (i >= n || strlen(pos[i]) != len || strncmp(pos[i], w, len) != 0)
			return 0;
		i++;
		w += len;
		w += *w == ' ';
	}
	return i;
}

static const struct command *command_find(char **pos, size_t n, size_t *ret_words)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		size_t w = words_match(commands[i].words, pos, n);

		if (w) {
			*ret_words = w;
			return &commands[i];
		}
	}
	return NULL;
}

static const char *option_name(uint32_t bit)
{
	return bit == OPT_AGENT_TOKEN_FILE ? "--agent-token-file"
	       : bit == OPT_STATE          ? "--state"
	                                   : "--limit";
}

int main(int argc, char **argv)
{
	enum { O_URL = 256, O_TOKEN_FILE, O_CA_FILE, O_JSON, O_AGENT_TOKEN_FILE, O_STATE, O_LIMIT };
	static const struct option options[] = {
	    {"url", required_argument, NULL, O_URL},
	    {"token-file", required_argument, NULL, O_TOKEN_FILE},
	    {"ca-file", required_argument, NULL, O_CA_FILE},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {"agent-token-file", required_argument, NULL, O_AGENT_TOKEN_FILE},
	    {"state", required_argument, NULL, O_STATE},
	    {"limit", required_argument, NULL, O_LIMIT},
	    {0},
	};
	struct ctl c = {0};
	const struct command *cmd;
	bool help = false;
	size_t n_pos, words = 0;
	char **pos, err[256];
	int opt, r, rc = EXIT_USAGE;

	/* GNU getopt permutes: options may come before or after the command's words. */
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case O_URL:
			c.url = optarg;
			break;
		case O_TOKEN_FILE:
			c.token_file = optarg;
			break;
		case O_CA_FILE:
			c.ca_file = optarg;
			break;
		case O_JSON:
			c.json = true;
			break;
		case 'h':
			help = true;
			break;
		case O_AGENT_TOKEN_FILE:
			c.agent_token_file = optarg;
			c.given |= OPT_AGENT_TOKEN_FILE;
			break;
		case O_STATE:
			c.state = optarg;
			c.given |= OPT_STATE;
			break;
		case O_LIMIT:
			c.limit = optarg;
			c.given |= OPT_LIMIT;
			break;
		default:
			fprintf(stderr, "wgfleetctl --help lists the commands and options\n");
			return EXIT_USAGE;
		}
	}
	pos = argv + optind;
	n_pos = (size_t)(argc - optind);
	cmd = command_find(pos, n_pos, &words);
	if (help) {
		if (cmd)
			command_help(cmd);
		else
			usage(stdout);
		return 0;
	}
	if (!n_pos) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!cmd) {
		bool group = false;

		/* "nodes" alone, or "nodes frobnicate": show what "nodes" can do. */
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
			size_t fw = strcspn(commands[i].words, " ");

			if (commands[i].words[fw] == ' ' && strlen(pos[0]) == fw &&
			    !strncmp(commands[i].words, pos[0], fw)) {
				synopsis(stderr, &commands[i], group ? "   or" : "usage");
				group = true;
			}
		}
		if (!group)
			fprintf(stderr,
			        "wgfleetctl: unknown command '%s' (wgfleetctl --help lists them)\n",
			        pos[0]);
		return EXIT_USAGE;
	}
	if (n_pos - words != cmd->n_args) {
		synopsis(stderr, cmd, "usage");
		return EXIT_USAGE;
	}
	for (uint32_t bit = 1; bit <= OPT_LIMIT; bit <<= 1) {
		if ((c.given & bit) && !(cmd->opts & bit)) {
			fprintf(stderr, "wgfleetctl: %s does not take %s\n", cmd->words,
			        option_name(bit));
			return EXIT_USAGE;
		}
	}
	if (!c.url)
		c.url = getenv("WGFLEET_URL") && *getenv("WGFLEET_URL") ? getenv("WGFLEET_URL")
		                                                        : DEFAULT_URL;
	if (strncasecmp(c.url, "http://", 7) && strncasecmp(c.url, "https://", 8))
		return usage_error("the URL must start with http:// or https://, not '%s'", c.url);
	if (!c.token_file)
		c.token_file = getenv("WGFLEET_TOKEN_FILE");
	if (!c.token_file || !*c.token_file)
		return usage_error("%s", "no token: use --token-file FILE or WGFLEET_TOKEN_FILE");
	if (!c.ca_file && getenv("WGFLEET_CA_FILE") && *getenv("WGFLEET_CA_FILE"))
		c.ca_file = getenv("WGFLEET_CA_FILE");

	r = http_token_file_read(c.token_file, &c.token, err, sizeof(err));
	if (r < 0)
		return usage_error("%s", err);
	r = httpc_global_init();
	if (r == 0) {
		struct httpc_options ho = {.ca_file = c.ca_file};

		r = httpc_new(&ho, &c.http);
		if (r == -EINVAL) {
			usage_error("cannot read the CA file %s", c.ca_file);
			goto out;
		}
	}
	if (r < 0) {
		fprintf(stderr, "wgfleetctl: cannot start the HTTP client: %s\n", strerror(-r));
		rc = EXIT_API;
		goto out;
	}
	rc = cmd->run(&c, pos + words);
out:
	httpc_free(c.http);
	http_token_free(c.token);
	return rc;
}
