/* cmd_repair.c - `bmhguard repair`: the runbook's image-URL repair for every affected host, dry run by default. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <yaml.h>

#include "commands.h"
#include "kube.h"
#include "kinds.h"
#include "kubeconfig.h"
#include "opts.h"
#include "policy.h"
#include "repair.h"
#include "statusann.h"

#define PROGRESS_MIN_HOSTS 500

/* -o: the index is the row's choice. */
enum out_format { OUT_TABLE, OUT_JSON, OUT_YAML, OUT_WIDE, OUT_NAME };
static const char *const out_formats[] = { "table", "json", "yaml", "wide", "name", NULL };

static void
repair_usage(FILE *f, const struct opts_group *g, size_t ng)
{
	fprintf(f,
	    "usage: bmhguard repair [flags] [NAME...]\n"
	    "       kubectl bmhguard repair [flags] [NAME...]   (installed as a kubectl plugin)\n\n"
	    "Finds BareMetalHosts whose image url (spec.image or status.provisioning.image) names a\n"
	    "literal IP and moves them onto the stable host, in the runbook's safe order: pause the\n"
	    "host (annotation baremetalhost.metal3.io/paused: " REPAIR_PAUSE_VALUE "), patch /status,\n"
	    "patch spec, read back and check spec url == status url, then remove our pause.\n"
	    "Without --apply nothing is changed: the plan and the API calls it would make are printed.\n"
	    "The annotation " STATUSANN_KEY " (the status a move restores) is rewritten\n"
	    "in the same patch as spec, so a host moved later is not wiped on the other cluster.\n"
	    "Safe to interrupt and run again: a host found paused by " REPAIR_PAUSE_VALUE " is resumed.\n"
	    "Left untouched (reported): hosts in a transient state (registering, inspecting, preparing,\n"
	    "provisioning, deprovisioning, powering off before delete, deleting), hosts whose spec\n"
	    "and status urls differ by more than the rewritten host, and hosts paused by anyone else\n"
	    "(CAPM3, a move, maintenance, the runbook's 'true'): those are 'held' and not written.\n\n"
	    "The other objects that carry image urls are repaired first, each kind the cluster serves:\n"
	    "Metal3MachineTemplate and Metal3Machine (where new hosts' images come from) by one merge\n"
	    "patch, held while annotated cluster.x-k8s.io/paused; a DataImage only while no literal\n"
	    "url is attached (else needs-human: a new url would re-attach the media); a\n"
	    "HostFirmwareComponents' updates: a component applied from the literal gets status.updates,\n"
	    "then spec.updates, with its host paused in between, so nothing is flashed again. Those two\n"
	    "are held while their host (same name) is paused by someone else. Rows of other kinds show\n"
	    "NAME as kind/name.\n\n");
	opts_help(f, g, ng);
	fprintf(f,
	    "DURATION: a number with unit ms, s, m or h (e.g. 500ms, 30s, 1m30s); a bare number is seconds.\n"
	    "Rows are sorted by namespace, then name (--wait's rows after the repair's), whatever order\n"
	    "the hosts finished in: the same fleet prints the same bytes.\n"
	    "RESULT: ok, planned (dry run), repaired, patched, resumed (only our pause left to remove),\n"
	    "skipped (try later), held (paused by someone else), failed, needs-human (our pause kept\n"
	    "where removing it could wipe).\n"
	    "Exit status: 0 everything planned succeeded; 1 some host failed, is held by another\n"
	    "owner's pause, needs a human, or stays in error after --wait; 2 usage, configuration,\n"
	    "connection or permission error (permissions are checked before the first write).\n");
}

/* One report row, kept until the run ends so the rows print sorted. Only what the chosen output
 * prints is kept; every string lives in the same allocation as the row (one free). */
struct row_call {
	const char *method, *path, *body;	/* body NULL for GET */
};

struct row {
	const struct kinds_row *kind;
	int waiting, failed;
	unsigned long calls_made;
	const char *ns, *name, *state, *error, *action, *result, *detail;
	const struct row_call *calls;	/* dry run: the calls it would make */
	size_t ncalls;
};

struct out_state {
	enum out_format format;
	int progress;		/* stderr is a terminal */
	int progress_shown;
	int oom;		/* a row could not be kept: the report is incomplete */
	struct row **rows;
	size_t nrows, caprows;
};

/* Copy s into the block at *next. */
static const char *
pack(char **next, const char *s)
{
	size_t n = strlen(s ? s : "") + 1;
	char *out = memcpy(*next, s ? s : "", n);

	*next += n;
	return out;
}

static size_t
packed_len(const char *s)
{
	return strlen(s ? s : "") + 1;
}

/* full 0: only what -o name prints (namespace and name). */
static struct row *
row_new(const struct repair_result *r, int full)
{
	const char *none = "";
	size_t ncalls = full ? r->ncalls : 0, need, i;
	struct row_call *calls;
	struct row *row;
	char *next;

	need = packed_len(r->ns) + packed_len(r->name);
	if (full)
		need += packed_len(r->state) + packed_len(r->error) + packed_len(r->action) +
		    packed_len(r->result) + packed_len(r->detail);
	for (i = 0; i < ncalls; i++)
		need += packed_len(r->calls[i].method) + packed_len(r->calls[i].path) +
		    (r->calls[i].body ? packed_len(r->calls[i].body) : 0);
	if ((row = malloc(sizeof(*row) + ncalls * sizeof(*calls) + need)) == NULL)
		return NULL;
	calls = (struct row_call *)(row + 1);
	next = (char *)(calls + ncalls);
	row->kind = r->kind;
	row->waiting = r->waiting;
	row->failed = r->failed;
	row->calls_made = r->calls_made;
	row->ns = pack(&next, r->ns);
	row->name = pack(&next, r->name);
	row->state = full ? pack(&next, r->state) : none;
	row->error = full ? pack(&next, r->error) : none;
	row->action = full ? pack(&next, r->action) : none;
	row->result = full ? pack(&next, r->result) : none;
	row->detail = full ? pack(&next, r->detail) : none;
	for (i = 0; i < ncalls; i++) {
		calls[i].method = pack(&next, r->calls[i].method);
		calls[i].path = pack(&next, r->calls[i].path);
		calls[i].body = r->calls[i].body ? pack(&next, r->calls[i].body) : NULL;
	}
	row->calls = calls;
	row->ncalls = ncalls;
	return row;
}

static void
on_report(const struct repair_result *r, void *ud)
{
	struct out_state *st = ud;
	struct row *row;

	if (st->oom)
		return;
	/* -o name prints one line a host: the --wait rows add nothing to it */
	if (st->format == OUT_NAME && r->waiting)
		return;
	if (st->nrows == st->caprows) {
		size_t ncap = st->caprows ? st->caprows * 2 : 256;
		struct row **n = realloc(st->rows, ncap * sizeof(*n));

		if (n == NULL) {
			st->oom = 1;
			return;
		}
		st->rows = n;
		st->caprows = ncap;
	}
	if ((row = row_new(r, st->format != OUT_NAME)) == NULL) {
		st->oom = 1;
		return;
	}
	st->rows[st->nrows++] = row;
}

static void
on_progress(unsigned long done, unsigned long seen, long total, void *ud)
{
	struct out_state *st = ud;

	if (!st->progress || done % 100 != 0)
		return;
	if ((total >= 0 ? (unsigned long)total : seen) < PROGRESS_MIN_HOSTS)
		return;
	if (total >= 0)
		fprintf(stderr, "\rrepair: %lu/%ld hosts", done, total);
	else
		fprintf(stderr, "\rrepair: %lu hosts done", done);
	st->progress_shown = 1;
}

/* Hosts first, then the other kinds in their table's order. */
static int
kind_rank(const struct kinds_row *k)
{
	size_t n;
	const struct kinds_row *rows = kinds_rows(&n);

	if (k == NULL || strcmp(k->kind, "BareMetalHost") == 0)
		return 0;
	return 1 + (int)(k - rows);
}

/* What NAME shows: a host's name alone, as ever; another kind's as kubectl shows a mixed list,
 * "metal3machine/NAME". */
static void
display_name(const struct row *r, char *out, size_t outlen)
{
	size_t i, n;

	if (kind_rank(r->kind) == 0) {
		snprintf(out, outlen, "%s", r->name);
		return;
	}
	n = (size_t)snprintf(out, outlen, "%s/%s", r->kind->kind, r->name);
	for (i = 0; i < n && i < outlen && out[i] != '/'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

/* The repair's rows first, then --wait's; each by namespace, then name; the other fields only
 * break ties (a host named twice), so the order never depends on which worker finished first. */
static int
row_cmp(const void *pa, const void *pb)
{
	const struct row *a = *(const struct row *const *)pa, *b = *(const struct row *const *)pb;
	int c;

	if (a->waiting != b->waiting)
		return a->waiting - b->waiting;
	if (kind_rank(a->kind) != kind_rank(b->kind))
		return kind_rank(a->kind) - kind_rank(b->kind);
	if ((c = strcmp(a->ns, b->ns)) != 0 || (c = strcmp(a->name, b->name)) != 0 ||
	    (c = strcmp(a->result, b->result)) != 0 || (c = strcmp(a->action, b->action)) != 0 ||
	    (c = strcmp(a->detail, b->detail)) != 0 || (c = strcmp(a->state, b->state)) != 0)
		return c;
	return (a->calls_made > b->calls_made) - (a->calls_made < b->calls_made);
}

static const char *
plural(unsigned long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

static const char *
dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

/* ---------------------------------------------------------------- table and wide */

enum { COL_NS, COL_NAME, COL_STATE, COL_ERROR, COL_ACTION, COL_RESULT, COL_CALLS, COL_DETAIL,
	COL_COUNT };

/* The row's cells; the last column is never padded. calls holds COL_CALLS' digits. */
static void
row_cells(const struct row *r, int wide, const char *cells[COL_COUNT], char *calls, size_t callslen,
    char *result, size_t resultlen, char *name, size_t namelen)
{
	display_name(r, name, namelen);
	cells[COL_NS] = dash(r->ns);
	cells[COL_NAME] = dash(name);
	cells[COL_STATE] = dash(r->state);
	cells[COL_ERROR] = dash(r->error);
	cells[COL_ACTION] = r->action;
	if (wide) {
		snprintf(calls, callslen, "%lu", r->ncalls > 0 ? (unsigned long)r->ncalls :
		    r->calls_made);
		cells[COL_RESULT] = r->result;
		cells[COL_CALLS] = calls;
		cells[COL_DETAIL] = dash(r->detail);
		return;
	}
	if (r->ncalls > 0)
		snprintf(result, resultlen, "would make %zu API %s:", r->ncalls,
		    plural(r->ncalls, "call", "calls"));
	else
		snprintf(result, resultlen, "%s%s%s", r->result, *r->detail ? ": " : "", r->detail);
	cells[COL_RESULT] = result;
	cells[COL_CALLS] = cells[COL_DETAIL] = NULL;
}

/* kubectl's layout: every column as wide as its widest cell, three spaces apart. */
static void
print_table(const struct out_state *st, int wide, int headers)
{
	static const char *const head[COL_COUNT] = { "NAMESPACE", "NAME", "STATE", "ERROR", "ACTION",
		"RESULT", "API-CALLS", "DETAIL" };
	const char *cells[COL_COUNT];
	char calls[32], result[1200], name[400];
	size_t width[COL_COUNT], i, c, ncols = wide ? COL_COUNT : COL_RESULT + 1;

	for (c = 0; c < COL_COUNT; c++)
		width[c] = headers ? strlen(head[c]) : 0;
	for (i = 0; i < st->nrows; i++) {
		row_cells(st->rows[i], wide, cells, calls, sizeof(calls), result, sizeof(result), name,
		    sizeof(name));
		for (c = 0; c < ncols; c++)
			if (strlen(cells[c]) > width[c])
				width[c] = strlen(cells[c]);
	}
	if (headers)
		for (c = 0; c < ncols; c++)
			printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, head[c],
			    c + 1 < ncols ? "   " : "\n");
	for (i = 0; i < st->nrows; i++) {
		const struct row *r = st->rows[i];

		row_cells(r, wide, cells, calls, sizeof(calls), result, sizeof(result), name,
		    sizeof(name));
		for (c = 0; c < ncols; c++)
			printf("%-*s%s", c + 1 < ncols ? (int)width[c] : 0, cells[c],
			    c + 1 < ncols ? "   " : "\n");
		for (c = 0; c < r->ncalls; c++)
			printf("    %s %s%s%s\n", r->calls[c].method, r->calls[c].path,
			    r->calls[c].body ? " " : "", r->calls[c].body ? r->calls[c].body : "");
		if (!wide && *r->detail && r->ncalls > 0)
			printf("    note: %s\n", r->detail);
	}
}

/* The summary line's parts, one row per outcome the table can show; rows with 0 are omitted. */
static const struct summary_part {
	enum repair_outcome o;
	const char *json, *text;
	int apply, dry;
} summary_parts[] = {
	{ REPAIR_OUT_PLANNED, "planned", "to change", 0, 1 },
	{ REPAIR_OUT_REPAIRED, "repaired", "repaired", 1, 0 },
	{ REPAIR_OUT_PATCHED, "patched", "patched", 1, 0 },
	{ REPAIR_OUT_RESUMED, "resumed", "resumed", 1, 0 },
	{ REPAIR_OUT_SKIPPED, "skipped", "skipped", 1, 1 },
	{ REPAIR_OUT_HELD, "held", "held by another owner's pause", 1, 1 },
	{ REPAIR_OUT_FAILED, "failed", "failed", 1, 1 },
	{ REPAIR_OUT_NEEDS_HUMAN, "needsHuman", "needing a human", 1, 1 },
	{ REPAIR_OUT_OK, "nothingToDo", "nothing to do", 1, 1 },
};

static void
print_summary_text(const struct repair_summary *s, int apply, long wait_ms)
{
	size_t i;
	int any = 0;

	printf("\nsummary%s: %lu %s", apply ? "" : " (dry run, nothing changed; add --apply)",
	    s->hosts, plural(s->hosts, "host", "hosts"));
	if (s->objects > 0)
		printf(", %lu other %s", s->objects, plural(s->objects, "object", "objects"));
	printf(": ");
	for (i = 0; i < OPTS_NROWS(summary_parts); i++) {
		const struct summary_part *p = &summary_parts[i];

		if (!(apply ? p->apply : p->dry) || (s->outcome[p->o] == 0 &&
		    p->o != REPAIR_OUT_FAILED))
			continue;
		printf("%s%lu %s", any++ ? ", " : "", s->outcome[p->o], p->text);
	}
	if (s->under_other_pause > 0)
		printf("; %lu changed under another owner's pause (left in place)",
		    s->under_other_pause);
	printf("; %lu API %s", s->calls, plural(s->calls, "call", "calls"));
	if (s->events > 0 || s->events_failed > 0)
		printf(", %lu %s posted", s->events, plural(s->events, "Event", "Events"));
	if (s->events_failed > 0)
		printf(" (%lu could not be)", s->events_failed);
	if (wait_ms > 0)
		printf("; errors cleared %lu, still set %lu", s->wait_cleared, s->wait_pending);
	if (s->list_restarts > 0)
		printf("; list restarted %lu %s (continue token expired)", s->list_restarts,
		    plural(s->list_restarts, "time", "times"));
	printf("\n");
}

/* ---------------------------------------------------------------- json and yaml: one document */

static struct json_object *
row_json(const struct row *r)
{
	struct json_object *o = json_object_new_object(), *calls;
	size_t i;

	json_object_object_add(o, "phase", json_object_new_string(r->waiting ? "wait" : "repair"));
	json_object_object_add(o, "kind", json_object_new_string(r->kind ? r->kind->kind :
	    "BareMetalHost"));
	json_object_object_add(o, "namespace", json_object_new_string(r->ns));
	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "state", json_object_new_string(r->state));
	json_object_object_add(o, "error", json_object_new_string(r->error));
	json_object_object_add(o, "action", json_object_new_string(r->action));
	json_object_object_add(o, "result", json_object_new_string(r->result));
	json_object_object_add(o, "detail", json_object_new_string(r->detail));
	json_object_object_add(o, "failed", json_object_new_boolean(r->failed));
	json_object_object_add(o, "apiCalls", json_object_new_int64((int64_t)r->calls_made));
	if (r->ncalls > 0) {
		calls = json_object_new_array();
		for (i = 0; i < r->ncalls; i++) {
			struct json_object *c = json_object_new_object();

			json_object_object_add(c, "method", json_object_new_string(r->calls[i].method));
			json_object_object_add(c, "path", json_object_new_string(r->calls[i].path));
			if (r->calls[i].body != NULL)
				json_object_object_add(c, "body", json_tokener_parse(r->calls[i].body));
			json_object_array_add(calls, c);
		}
		json_object_object_add(o, "calls", calls);
	}
	return o;
}

static struct json_object *
summary_json(const struct repair_summary *s, int apply)
{
	struct json_object *o = json_object_new_object();
	size_t i;

#define ADD_N(k, v) json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))
	json_object_object_add(o, "dryRun", json_object_new_boolean(!apply));
	ADD_N("hosts", s->hosts);
	ADD_N("objects", s->objects);
	ADD_N("kindsNotServed", s->kinds_not_served);
	for (i = 0; i < OPTS_NROWS(summary_parts); i++)
		ADD_N(summary_parts[i].json, s->outcome[summary_parts[i].o]);
	ADD_N("underOtherPause", s->under_other_pause);
	ADD_N("apiCalls", s->calls);
	ADD_N("writes", s->writes);
	ADD_N("conflicts", s->conflicts);
	ADD_N("events", s->events);
	ADD_N("eventsFailed", s->events_failed);
	ADD_N("waitCleared", s->wait_cleared);
	ADD_N("waitPending", s->wait_pending);
	ADD_N("listRestarts", s->list_restarts);
#undef ADD_N
	return o;
}

static const char *
json_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

static void
print_json(const struct out_state *st, const struct repair_summary *s, int apply)
{
	struct json_object *o;
	size_t i;

	printf("{\n  \"apiVersion\": \"bmhguard/v1\",\n  \"kind\": \"RepairReport\",\n"
	    "  \"dryRun\": %s,\n  \"hosts\": [", apply ? "false" : "true");
	for (i = 0; i < st->nrows; i++) {
		o = row_json(st->rows[i]);
		printf("%s\n    %s", i ? "," : "", json_text(o));
		json_object_put(o);
	}
	o = summary_json(s, apply);
	printf("\n  ],\n  \"summary\": %s\n}\n", json_text(o));
	json_object_put(o);
}

/* A string YAML 1.1 would read as something else (a number, a bool, null, a date, a merge key)
 * is quoted; the emitter quotes whatever else plain style cannot hold. */
static int
yaml_needs_quotes(const char *s)
{
	static const char *const words[] = { "null", "true", "false", "yes", "no", "on", "off", "y",
		"n" };
	size_t i;

	if (*s == '\0' || strchr("0123456789+-.~=<", *s) != NULL)
		return 1;
	for (i = 0; i < OPTS_NROWS(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return 1;
	return 0;
}

static int
yaml_scalar(yaml_emitter_t *em, const char *s, int quote)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, (int)strlen(s),
	    !quote, 1, quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
	return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

/* A json-c value as YAML events: objects in their key order. */
static int
yaml_json(yaml_emitter_t *em, struct json_object *o)
{
	yaml_event_t ev;
	char num[64];
	size_t i;

	switch (json_object_get_type(o)) {
	case json_type_object:
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return -1;
		json_object_object_foreach(o, k, v) {
			if (yaml_scalar(em, k, yaml_needs_quotes(k)) < 0 || yaml_json(em, v) < 0)
				return -1;
		}
		yaml_mapping_end_event_initialize(&ev);
		break;
	case json_type_array:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
		if (!yaml_emitter_emit(em, &ev))
			return -1;
		for (i = 0; i < json_object_array_length(o); i++)
			if (yaml_json(em, json_object_array_get_idx(o, i)) < 0)
				return -1;
		yaml_sequence_end_event_initialize(&ev);
		break;
	case json_type_string:
		return yaml_scalar(em, json_object_get_string(o),
		    yaml_needs_quotes(json_object_get_string(o)));
	case json_type_int:
		snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(o));
		return yaml_scalar(em, num, 0);
	case json_type_double:
		snprintf(num, sizeof(num), "%.17g", json_object_get_double(o));
		return yaml_scalar(em, num, 0);
	case json_type_boolean:
		return yaml_scalar(em, json_object_get_boolean(o) ? "true" : "false", 0);
	case json_type_null:
	default:
		return yaml_scalar(em, "null", 0);
	}
	return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int
yaml_write(void *ud, unsigned char *buf, size_t n)
{
	return fwrite(buf, 1, n, ud) == n;
}

/* The JSON document's content as YAML, streamed a host at a time. Returns 0, or -1 with err. */
static int
print_yaml(const struct out_state *st, const struct repair_summary *s, int apply, char *err,
    size_t errlen)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	struct json_object *o;
	size_t i;
	int rc = -1;

#define EMIT(init) do { init; if (!yaml_emitter_emit(&em, &ev)) goto out; } while (0)
	if (!yaml_emitter_initialize(&em)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	yaml_emitter_set_output(&em, yaml_write, stdout);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	EMIT(yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
	EMIT(yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
	EMIT(yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
	if (yaml_scalar(&em, "apiVersion", 0) < 0 || yaml_scalar(&em, "bmhguard/v1", 0) < 0 ||
	    yaml_scalar(&em, "kind", 0) < 0 || yaml_scalar(&em, "RepairReport", 0) < 0 ||
	    yaml_scalar(&em, "dryRun", 0) < 0 || yaml_scalar(&em, apply ? "false" : "true", 0) < 0 ||
	    yaml_scalar(&em, "hosts", 0) < 0)
		goto out;
	EMIT(yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
	for (i = 0; i < st->nrows; i++) {
		o = row_json(st->rows[i]);
		if (yaml_json(&em, o) < 0) {
			json_object_put(o);
			goto out;
		}
		json_object_put(o);
	}
	EMIT(yaml_sequence_end_event_initialize(&ev));
	if (yaml_scalar(&em, "summary", 0) < 0)
		goto out;
	o = summary_json(s, apply);
	if (yaml_json(&em, o) < 0) {
		json_object_put(o);
		goto out;
	}
	json_object_put(o);
	EMIT(yaml_mapping_end_event_initialize(&ev));
	EMIT(yaml_document_end_event_initialize(&ev, 1));
	EMIT(yaml_stream_end_event_initialize(&ev));
#undef EMIT
	rc = 0;
out:
	if (rc < 0)
		snprintf(err, errlen, "writing YAML: %s", em.problem ? em.problem : "out of memory");
	yaml_emitter_delete(&em);
	return rc;
}

/* ---------------------------------------------------------------- flags */

struct args {
	struct kubeconfig_opts kc;
	const char *ns, *selector;
	int all_ns, apply, dry_run, verify, concurrency, nnames, events, no_headers, format;
	long wait_ms, timeout_ms, host_deadline_ms;
	size_t max_response;
	char **names;
	const char **handed;
	struct opts_list handedl;
	const struct kinds_row *kinds[8];	/* --kinds; nkinds 0: every kind served */
	size_t nkinds;
};

/* Kubernetes object names and namespaces (DNS-1123 subdomain): they go into URL paths. */
static int
name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 253 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
		    s[i] == '.'))
			return 0;
	return 1;
}

static int
repair_opt_handed(void *dst, const char *v, char *err, size_t errlen)
{
	struct opts_list *l = dst;

	if (strcmp(v, REPAIR_PAUSE_VALUE) == 0) {
		snprintf(err, errlen, "--repair-paused-by wants another owner's pause value, not '%s'",
		    v);
		return -1;
	}
	l->v[l->n++] = v;	/* room for every argument */
	return 0;
}

/* --kinds: a comma list of kinds, plurals or short names (as kubectl takes them), or "all". */
static int
repair_opt_kinds(void *dst, const char *v, char *err, size_t errlen)
{
	struct args *a = dst;
	char buf[256], *save = NULL, *t;
	size_t i;

	a->nkinds = 0;
	if (strcmp(v, "all") == 0)
		return 0;
	if (snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "--kinds: list too long");
		return -1;
	}
	for (t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		const struct kinds_row *k = kinds_by_name(t);

		if (k == NULL) {
			snprintf(err, errlen, "--kinds: unknown kind '%s' (baremetalhosts, "
			    "metal3machinetemplates, metal3machines, dataimages, hostfirmwarecomponents, "
			    "or all)", t);
			return -1;
		}
		for (i = 0; i < a->nkinds && a->kinds[i] != k; i++)
			;
		if (i == a->nkinds && a->nkinds < OPTS_NROWS(a->kinds))
			a->kinds[a->nkinds++] = k;
	}
	if (a->nkinds == 0) {
		snprintf(err, errlen, "--kinds: empty list");
		return -1;
	}
	return 0;
}

/* The checks between flags, after parsing. Returns 0, or -1 with err. */
static int
check_args(struct args *a, struct opts_group *g, size_t ng, const struct policy *p, char *err,
    size_t errlen)
{
	int i, dry = opts_seen(g, ng, "dry-run") > 0, events = opts_seen(g, ng, "events") > 0;

	if (a->ns != NULL && !name_ok(a->ns))
		return snprintf(err, errlen, "'%s' is not a valid namespace name", a->ns), -1;
	for (i = 0; i < a->nnames; i++)
		if (!name_ok(a->names[i]))
			return snprintf(err, errlen, "'%s' is not a valid host name", a->names[i]), -1;
	if (a->all_ns && a->ns != NULL)
		return snprintf(err, errlen, "give -n or -A, not both"), -1;
	if (a->all_ns && a->nnames > 0)
		return snprintf(err, errlen, "host names need one namespace (-n), not -A"), -1;
	if (a->nnames > 0 && a->selector != NULL)
		return snprintf(err, errlen, "give host names or -l, not both"), -1;
	if (a->kc.server != NULL && (a->kc.path != NULL || a->kc.context != NULL))
		return snprintf(err, errlen, "--server excludes --kubeconfig and --context"), -1;
	if (dry && a->dry_run && a->apply)
		return snprintf(err, errlen, "--dry-run and --apply exclude each other"), -1;
	if (dry && !a->dry_run && !a->apply)
		return snprintf(err, errlen, "--dry-run=false changes nothing by itself; give "
		    "--apply"), -1;
	if (a->no_headers && a->format != OUT_TABLE && a->format != OUT_WIDE)
		return snprintf(err, errlen, "--no-headers goes with -o table or wide, not -o %s",
		    out_formats[a->format]), -1;
	if (policy_mode(p) == POLICY_WARN && a->apply)
		return snprintf(err, errlen, "--mode warn never changes anything; drop --apply"), -1;
	if (!events)
		a->events = a->apply;
	/* names without --kinds name hosts, as they always have */
	if (a->nnames > 0 && opts_seen(g, ng, "kinds") == 0) {
		a->kinds[0] = kinds_by_name("BareMetalHost");
		a->nkinds = 1;
	}
	return 0;
}

/* Returns OPTS_OK, OPTS_HELP_SHOWN (help printed) or OPTS_ERROR (reported). */
static int
parse_args(int argc, char **argv, struct args *a, struct policy *p)
{
	struct opts_row conn[] = {
		{ .name = "server", .kind = OPTS_STRING, .dst = &a->kc.server, .arg = "URL",
		  .help = "plain API endpoint without credentials, e.g. the runbook's\n"
		  "'kubectl proxy' at http://127.0.0.1:8001" },
		{ .name = "kubeconfig", .kind = OPTS_STRING, .dst = &a->kc.path, .arg = "FILE",
		  .help = "kubeconfig to read ($KUBECONFIG may list several)" },
		{ .name = "context", .kind = OPTS_STRING, .dst = &a->kc.context, .arg = "NAME",
		  .help = "kubeconfig context (default: its current-context)" },
		{ .name = "timeout", .kind = OPTS_DURATION, .dst = &a->timeout_ms, .arg = "DURATION",
		  .min = 1, .max = 7 * 24 * 3600 * 1000L,
		  .help = "per API request (default 30s); 429, 5xx, timeouts and\n"
		  "connection errors are retried with backoff (6 tries)" },
		{ .name = "max-response", .kind = OPTS_SIZE, .dst = &a->max_response, .arg = "SIZE",
		  .min = 64 << 10, .max = (long long)4 << 30,
		  .help = "largest API response read (default 64MiB); a larger one is an\n"
		  "error, never unbounded memory (a page is 500 hosts, ~4 MiB)" },
	};
	struct opts_row sel[] = {
		{ .name = "namespace", .short_name = 'n', .kind = OPTS_STRING, .dst = &a->ns,
		  .arg = "NS", .help = "hosts in NS (default: the context's namespace, else default)" },
		{ .name = "all-namespaces", .short_name = 'A', .kind = OPTS_BOOL, .dst = &a->all_ns,
		  .help = "hosts in every namespace" },
		{ .name = "selector", .short_name = 'l', .kind = OPTS_STRING, .dst = &a->selector,
		  .arg = "SELECTOR", .help = "label selector, e.g. role=worker" },
		{ .name = "kinds", .kind = OPTS_FUNC, .dst = a, .set = repair_opt_kinds,
		  .arg = "LIST", .help = "comma list of baremetalhosts, metal3machinetemplates,\n"
		  "metal3machines, dataimages, hostfirmwarecomponents (or\n"
		  "bmh, m3mt, m3m, hfc), or all: the default, every kind the\n"
		  "cluster serves (one not served is noted and skipped; one\n"
		  "named here and not served is an error)" },
		{ .kind = OPTS_ARGS, .arg = "NAME...", .help = "only these objects (in the namespace): hosts, or\n"
		  "with --kinds objects of those kinds" },
	};
	struct opts_row act[] = {
		{ .name = "apply", .kind = OPTS_BOOL, .dst = &a->apply,
		  .help = "make the changes (default: dry run)" },
		{ .name = "dry-run", .kind = OPTS_BOOL, .dst = &a->dry_run,
		  .help = "plan only, change nothing: the default, said explicitly" },
		{ .name = "verify-url", .kind = OPTS_BOOL, .dst = &a->verify,
		  .help = "HEAD each new image url (and checksum url) first; hosts\n"
		  "whose new url does not answer 200 are not repaired (the\n"
		  "target host must resolve where bmhguard runs)" },
		{ .name = "wait", .kind = OPTS_DURATION, .dst = &a->wait_ms, .arg = "DURATION",
		  .min = 1, .max = 7 * 24 * 3600 * 1000L,
		  .help = "after repairing, watch hosts that had a 'provisioned\n"
		  "registration error' until the operator clears it (e.g. 5m)" },
		{ .name = "concurrency", .kind = OPTS_INT, .dst = &a->concurrency, .arg = "N",
		  .min = 1, .max = 256,
		  .help = "hosts worked on at once, one connection each (default 4)" },
		{ .name = "repair-paused-by", .kind = OPTS_FUNC, .dst = &a->handedl,
		  .set = repair_opt_handed, .arg = "VALUE",
		  .help = "a pause (baremetalhost.metal3.io/paused: VALUE) you own and\n"
		  "hand over: repair works under it and leaves it in place;\n"
		  "repeatable (e.g. the runbook's 'true')" },
		{ .name = "host-deadline", .kind = OPTS_DURATION, .dst = &a->host_deadline_ms,
		  .arg = "DURATION", .min = 1, .max = 7 * 24 * 3600 * 1000L,
		  .help = "keep re-reading and re-planning a host that others keep\n"
		  "writing (409 Conflict), with backoff, this long (default 60s)" },
		{ .name = "events", .kind = OPTS_BOOL, .dst = &a->events, .arg = "true|false",
		  .help = "post a Kubernetes Event on every host acted on or left alone\n"
		  "(default: true with --apply, false for a dry run)" },
	};
	struct opts_row out[] = {
		{ .name = "output", .short_name = 'o', .kind = OPTS_CHOICE, .dst = &a->format,
		  .choices = out_formats, .arg = "FORMAT",
		  .help = "table (default); wide: the table with API-CALLS and DETAIL\n"
		  "columns; json, or yaml: one document for scripts; name:\n"
		  "baremetalhost.metal3.io/NAME, one line a host" },
		{ .name = "no-headers", .kind = OPTS_BOOL, .dst = &a->no_headers,
		  .help = "table and wide without the header line" },
	};
	struct opts_row help[] = {
		{ .name = "help", .short_name = 'h', .kind = OPTS_HELP, .help = "this help" },
	};
	struct opts_group g[] = {
		{ "connection (first that applies: --server, --kubeconfig, $KUBECONFIG, ~/.kube/config,\n"
		  "in-cluster service account):", conn, OPTS_NROWS(conn) },
		{ "selection:", sel, OPTS_NROWS(sel) },
		{ "action:", act, OPTS_NROWS(act) },
		{ "output:", out, OPTS_NROWS(out) },
		policy_opts(p),
		{ NULL, help, OPTS_NROWS(help) },
	};
	char err[512];
	int r;

	a->concurrency = 4;
	a->timeout_ms = 30000;
	a->max_response = KUBE_DEFAULT_MAX_RESPONSE;
	a->host_deadline_ms = REPAIR_DEFAULT_HOST_DEADLINE_MS;
	a->format = OUT_TABLE;
	if ((a->names = calloc((size_t)argc, sizeof(char *))) == NULL ||
	    (a->handed = calloc((size_t)argc, sizeof(char *))) == NULL) {
		fprintf(stderr, "bmhguard repair: out of memory\n");
		return OPTS_ERROR;
	}
	a->handedl = (struct opts_list){ a->handed, 0, (size_t)argc };
	r = opts_parse(g, OPTS_NROWS(g), argc, argv, a->names, &a->nnames, err, sizeof(err));
	if (r == OPTS_HELP_SHOWN) {
		repair_usage(stdout, g, OPTS_NROWS(g));
		return r;
	}
	if (r == OPTS_OK && check_args(a, g, OPTS_NROWS(g), p, err, sizeof(err)) < 0)
		r = OPTS_ERROR;
	if (r == OPTS_ERROR)
		fprintf(stderr, "bmhguard repair: %s\n", err);
	return r;
}

static int
run_failed(const struct repair_summary *s)
{
	int i;

	for (i = 0; i < REPAIR_OUT_COUNT; i++)
		if (s->outcome[i] > 0 && repair_outcome_info((enum repair_outcome)i)->exit_failed)
			return 1;
	return s->wait_pending > 0;
}

/* Everything collected, sorted, in the chosen format. When the run broke off (run_ok 0) the
 * table gets no summary line, but a document (json, yaml) stays whole. Returns 0, or -1 with
 * err. */
static int
print_report(struct out_state *st, const struct repair_summary *sum, const struct args *a,
    int run_ok, char *err, size_t errlen)
{
	size_t i;

	if (st->progress_shown)
		fputs(run_ok ? "\r\033[K" : "\n", stderr);
	if (st->nrows > 0)	/* qsort of NULL is undefined even for no rows */
		qsort(st->rows, st->nrows, sizeof(*st->rows), row_cmp);
	switch ((enum out_format)a->format) {
	case OUT_JSON:
		print_json(st, sum, a->apply);
		break;
	case OUT_YAML:
		return print_yaml(st, sum, a->apply, err, errlen);
	case OUT_NAME:
		for (i = 0; i < st->nrows; i++) {
			const struct kinds_row *k = st->rows[i]->kind;
			const char *c;

			for (c = k ? k->kind : "BareMetalHost"; *c; c++)
				putchar(tolower((unsigned char)*c));
			printf(".%s/%s\n", k ? k->group : "metal3.io", st->rows[i]->name);
		}
		break;
	case OUT_TABLE:
	case OUT_WIDE:
		if (st->nrows > 0)
			print_table(st, a->format == OUT_WIDE, !a->no_headers);
		else if (run_ok)
			printf("no %s%s selected\n", a->nkinds == 1 ? a->kinds[0]->kind : "objects",
			    a->nkinds == 1 && a->kinds[0]->kind[strlen(a->kinds[0]->kind) - 1] != 's' ?
			    "s" : "");
		if (run_ok)
			print_summary_text(sum, a->apply, a->wait_ms);
		break;
	}
	return 0;
}

int
cmd_repair(int argc, char **argv)
{
	struct policy *p = policy_new();
	struct args a;
	struct kubeconfig *cfg = NULL;
	struct kube_client *k = NULL;
	struct kube_client_opts ko = { 0 };
	struct repair_opts ro;
	struct repair_summary sum;
	struct out_state st;
	char err[1024], perr[256], instance[128] = "";
	size_t i;
	int rc = EXIT_USAGE, r;

	memset(&a, 0, sizeof(a));
	memset(&ro, 0, sizeof(ro));
	memset(&st, 0, sizeof(st));
	memset(&sum, 0, sizeof(sum));
	if (p == NULL) {
		fprintf(stderr, "bmhguard repair: out of memory\n");
		return EXIT_FAILED;
	}
	r = parse_args(argc, argv, &a, p);
	if (r != OPTS_OK) {
		rc = r == OPTS_HELP_SHOWN ? EXIT_OK : EXIT_USAGE;
		goto out;
	}
	if (kubeconfig_load(&a.kc, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "bmhguard repair: %s\n", err);
		goto out;
	}
	ko.timeout_ms = a.timeout_ms;
	ko.max_response = a.max_response;
	if ((k = kube_client_new(cfg, &ko, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bmhguard repair: %s\n", err);
		goto out;
	}
	if (!a.all_ns && a.ns == NULL && cfg->namespace != NULL && !name_ok(cfg->namespace)) {
		fprintf(stderr, "bmhguard repair: namespace '%s' from %s is not valid\n",
		    cfg->namespace, cfg->source);
		goto out;
	}
	ro.rules.policy = p;
	ro.rules.handed = a.handed;
	ro.rules.nhanded = a.handedl.n;
	ro.events = a.events;
	ro.host_deadline_ms = a.host_deadline_ms;
	if (gethostname(instance, sizeof(instance) - 1) == 0 && instance[0] != '\0')
		ro.instance = instance;
	ro.ns = a.all_ns ? NULL : a.ns ? a.ns : cfg->namespace ? cfg->namespace : "default";
	ro.selector = a.selector;
	ro.names = a.names;
	ro.nnames = a.nnames;
	ro.kinds = a.nkinds > 0 ? a.kinds : NULL;
	ro.nkinds = a.nkinds;
	ro.apply = a.apply;
	ro.verify_url = a.verify;
	ro.wait_ms = a.wait_ms;
	ro.concurrency = a.concurrency;
	ro.report = on_report;
	ro.progress = on_progress;
	ro.report_ud = &st;
	st.format = (enum out_format)a.format;
	st.progress = isatty(STDERR_FILENO);
	r = repair_run(k, &ro, &sum, err, sizeof(err));
	if (print_report(&st, &sum, &a, r == 0, perr, sizeof(perr)) < 0) {
		fflush(stdout);
		fprintf(stderr, "bmhguard repair: %s\n", perr);
		rc = EXIT_FAILED;
		goto out;
	}
	if (r < 0) {
		fflush(stdout);
		fprintf(stderr, "bmhguard repair: %s (using %s)\n", err, cfg->source);
		rc = EXIT_USAGE;
		goto out;
	}
	if (st.oom) {
		fflush(stdout);
		fprintf(stderr, "bmhguard repair: out of memory: the report above lacks some hosts\n");
		rc = EXIT_FAILED;
		goto out;
	}
	rc = run_failed(&sum) ? EXIT_FAILED : EXIT_OK;
out:
	if (fflush(stdout) != 0 && rc == EXIT_OK)
		rc = EXIT_FAILED;
	for (i = 0; i < st.nrows; i++)
		free(st.rows[i]);
	free(st.rows);
	kube_client_free(k);
	kubeconfig_free(cfg);
	free(a.names);
	free(a.handed);
	policy_free(p);
	return rc;
}
