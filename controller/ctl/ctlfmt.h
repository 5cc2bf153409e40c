/* SPDX-License-Identifier: MIT */
/*
 * wgfleetctl's output: the controller's JSON objects as aligned tables and "key  value"
 * listings. Pure: it reads jansson values and writes to a FILE, nothing else.
 *
 * Whatever the API sends is shown safely on a terminal: control characters (C0, DEL and
 * C1, which could move the cursor or retitle the window) become '?'. Widths count UTF-8
 * code points, so accented names keep the columns straight (wide CJK characters do not).
 * A cell is null or absent: "-"; true/false: "yes"/"no"; an array of scalars: its items
 * joined with ","; an object: compact JSON.
 *
 * Errors: 0 or -errno (-ENOMEM, -EIO when writing fails, -EINVAL for a value of the wrong
 * shape, e.g. a table of something that is not an array).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

struct ctlfmt_column {
	const char *header; /* "LAST SEEN" */
	const char *path;   /* the field, dotted for nested objects: "job.state" */
	unsigned max_width; /* longer cells are cut, ending in "..."; 0: no limit */
};

/* The value at a dotted path of an object; NULL if any step is missing. */
const json_t *ctlfmt_get(const json_t *obj, const char *path);

/* The cell text of v (NULL: "-"), sanitized; the caller frees *ret. */
int ctlfmt_value(const json_t *v, char **ret);

/*
 * A table: a header row, then one row per element of arr (objects), each line indented by
 * indent spaces. Columns are two spaces apart; a column of integers (and nulls) is right-aligned;
 * the last column is not padded. An empty arr prints the header and "(none)".
 */
int ctlfmt_table(FILE *out, const json_t *arr, const struct ctlfmt_column *cols, size_t n,
                 unsigned indent);

/* One "HEADER  value" line per column for obj, headers padded to the longest. */
int ctlfmt_object(FILE *out, const json_t *obj, const struct ctlfmt_column *cols, size_t n);

/*
 * GET /v1/status: the sections users, vpns, payments and jobs (objects of counts, printed
 * "  name  count" in the API's order), then nodes as a table. Sections absent from the
 * answer are skipped; sections it has that we do not know are printed the same way.
 */
int ctlfmt_status(FILE *out, const json_t *status);
