// SPDX-License-Identifier: MIT
/*
 * wgfleetctl's tables (see ctlfmt.h). Every cell is rendered to a string first, so widths
 * are known before the first line is written.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctlfmt.h"
#include "wgfleet/macro.h"

const json_t *ctlfmt_get(const json_t *obj, const char *path)
{
	const char *p = path;

	while (obj && p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (!json_is_object(obj))
			return NULL;
		obj = json_object_getn(obj, p, n);
		p = dot ? dot + 1 : NULL;
	}
	return obj;
}

/* Code points of a UTF-8 string (jansson hands out valid UTF-8 only). */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* A copy with C0 controls, DEL and C1 controls (U+0080..U+009F) as '?'. */
static char *sanitize(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	while (*s) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f) {
			*o++ = '?';
			s++;
		} else if (c == 0xc2 && (unsigned char)s[1] >= 0x80 &&
		           (unsigned char)s[1] <= 0x9f) {
			*o++ = '?';
			s += 2;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

/* Cut s to max code points, the last three being "..." (max 0: no limit). */
static int truncate_to(char **s, unsigned max)
{
	size_t keep = max > 3 ? max - 3 : 0, seen = 0;
	char *p, *t;

	if (!max || width(*s) <= max)
		return 0;
	/* p stops at the first byte of code point number keep (0-based). */
	for (p = *s; *p; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (seen++ == keep)
			break;
	}
	t = malloc((size_t)(p - *s) + 4);
	if (!t)
		return -ENOMEM;
	memcpy(t, *s, (size_t)(p - *s));
	memcpy(t + (p - *s), "...", 4);
	free(*s);
	*s = t;
	return 0;
}

static char *scalar_text(const json_t *v)
{
	char buf[64], *dump, *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return sanitize(json_string_value(v));
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
		return strdup(buf);
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
		return strdup(buf);
	case JSON_TRUE:
		return strdup("yes");
	case JSON_FALSE:
		return strdup("no");
	case JSON_NULL:
		return strdup("-");
	default:
		dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!dump)
			return NULL;
		s = sanitize(dump);
		free(dump);
		return s;
	}
}

int ctlfmt_value(const json_t *v, char **ret)
{
	char *s = NULL;
	size_t len = 0;

	if (!v || json_is_null(v)) {
		s = strdup("-");
	} else if (json_is_array(v) && json_array_size(v) == 0) {
		s = strdup("-");
	} else if (json_is_array(v)) {
		const json_t *item;
		size_t i;

		json_array_foreach(v, i, item)
		{
			char *t = scalar_text(item), *n;

			if (!t)
				goto nomem;
			n = realloc(s, len + strlen(t) + 2);
			if (!n) {
				free(t);
				goto nomem;
			}
			s = n;
			len += (size_t)sprintf(s + len, "%s%s", i ? "," : "", t);
			free(t);
		}
	} else {
		s = scalar_text(v);
	}
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
nomem:
	free(s);
	return -ENOMEM;
}

static void pad(FILE *out, size_t n)
{
	while (n--)
		fputc(' ', out);
}

static int finish(FILE *out)
{
	return ferror(out) ? -EIO : 0;
}

int ctlfmt_table(FILE *out, const json_t *arr, const struct ctlfmt_column *cols, size_t n,
                 unsigned indent)
{
	size_t rows, *w = NULL;
	char **cell = NULL;
	bool *right = NULL;
	int r = 0;

	if (!json_is_array(arr) || !n)
		return -EINVAL;
	rows = json_array_size(arr) + 1;
	cell = calloc(rows * n, sizeof(*cell));
	w = calloc(n, sizeof(*w));
	right = calloc(n, sizeof(*right));
	if (!cell || !w || !right) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t c = 0; c < n; c++) {
		bool numbers = true, any = false;

		cell[c] = sanitize(cols[c].header);
		if (!cell[c]) {
			r = -ENOMEM;
			goto out;
		}
		w[c] = width(cell[c]);
		for (size_t i = 1; i < rows; i++) {
			const json_t *obj = json_array_get(arr, i - 1);
			const json_t *v = ctlfmt_get(obj, cols[c].path);

			if (!json_is_object(obj)) {
				r = -EINVAL;
				goto out;
			}
			/* Right-aligned: integers and nulls only, and at least one integer. */
			numbers &= !v || json_is_null(v) || json_is_integer(v);
			any |= json_is_integer(v);
			r = ctlfmt_value(v, &cell[i * n + c]);
			if (r == 0)
				r = truncate_to(&cell[i * n + c], cols[c].max_width);
			if (r < 0)
				goto out;
			if (width(cell[i * n + c]) > w[c])
				w[c] = width(cell[i * n + c]);
		}
		right[c] = numbers && any;
	}
	for (size_t i = 0; i < rows; i++) {
		pad(out, indent);
		for (size_t c = 0; c < n; c++) {
			const char *s = cell[i * n + c];
			size_t gap = w[c] - width(s);

			if (c)
				fputs("  ", out);
			if (right[c])
				pad(out, gap);
			fputs(s, out);
			if (!right[c] && c + 1 < n)
				pad(out, gap);
		}
		fputc('\n', out);
	}
	if (rows == 1) {
		pad(out, indent);
		fputs("(none)\n", out);
	}
	r = finish(out);
out:
	for (size_t i = 0; cell && i < rows * n; i++)
		free(cell[i]);
	free(cell);
	free(w);
	free(right);
	return r;
}

int ctlfmt_object(FILE *out, const json_t *obj, const struct ctlfmt_column *cols, size_t n)
{
	size_t hw = 0;

	if (!json_is_object(obj))
		return -EINVAL;
	for (size_t c = 0; c < n; c++)
		if (width(cols[c].header) > hw)
			hw = width(cols[c].header);
	for (size_t c = 0; c < n; c++) {
		char *v = NULL;
		int r = ctlfmt_value(ctlfmt_get(obj, cols[c].path), &v);

		if (r == 0)
			r = truncate_to(&v, cols[c].max_width);
		if (r < 0) {
			free(v);
			return r;
		}
		fputs(cols[c].header, out);
		pad(out, hw - width(cols[c].header) + 2);
		fputs(v, out);
		fputc('\n', out);
		free(v);
	}
	return finish(out);
}

/* "name  count" lines of one section, names padded, counts right-aligned. */
static int counts(FILE *out, const char *title, const json_t *obj)
{
	const char *key;
	const json_t *v;
	size_t kw = 0, vw = 0, i = 0, n = json_object_size(obj);
	char **vals = calloc(n + 1, sizeof(*vals)), *t;
	int r = 0;

	if (!vals)
		return -ENOMEM;
	json_object_foreach((json_t *)obj, key, v)
	{
		r = ctlfmt_value(v, &vals[i]);
		if (r < 0)
			goto out;
		if (width(key) > kw)
			kw = width(key);
		if (width(vals[i]) > vw)
			vw = width(vals[i]);
		i++;
	}
	t = sanitize(title);
	if (!t) {
		r = -ENOMEM;
		goto out;
	}
	fprintf(out, "%s\n", t);
	free(t);
	if (!n)
		fputs("  (none)\n", out);
	i = 0;
	json_object_foreach((json_t *)obj, key, v)
	{
		t = sanitize(key);
		if (!t) {
			r = -ENOMEM;
			goto out;
		}
		fprintf(out, "  %s", t);
		pad(out, kw - width(key) + 2 + vw - width(vals[i]));
		fprintf(out, "%s\n", vals[i]);
		free(t);
		i++;
	}
	r = finish(out);
out:
	for (size_t k = 0; k < n; k++)
		free(vals[k]);
	free(vals);
	return r;
}

int ctlfmt_status(FILE *out, const json_t *status)
{
	static const struct ctlfmt_column node_cols[] = {
	    {"NAME", "name", 0},   {"STATE", "state", 0},         {"HEALTH", "health", 0},
	    {"PEERS", "peers", 0}, {"FREE", "free_addresses", 0},
	};
	const json_t *v, *nodes = NULL;
	const char *key;
	bool first = true;
	int r = 0;

	if (!json_is_object(status))
		return -EINVAL;
	json_object_foreach((json_t *)status, key, v)
	{
		if (!strcmp(key, "nodes") && json_is_array(v)) {
			nodes = v;
			continue;
		}
		if (!first)
			fputc('\n', out);
		first = false;
		if (json_is_object(v)) {
			r = counts(out, key, v);
		} else {
			char *s = NULL, *k = sanitize(key);

			r = k ? ctlfmt_value(v, &s) : -ENOMEM;
			if (r == 0)
				fprintf(out, "%s  %s\n", k, s);
			free(s);
			free(k);
		}
		if (r < 0)
			return r;
	}
	if (nodes) {
		if (!first)
			fputc('\n', out);
		fputs("nodes\n", out);
		r = ctlfmt_table(out, nodes, node_cols, ARRAY_SIZE(node_cols), 2);
	}
	return r < 0 ? r : finish(out);
}
