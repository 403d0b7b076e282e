/* cmd_repair.c - `bmhguard repair`: the runbook's image-URL repair for every affected host, dry run by default. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "commands.h"
#include "kube.h"
#include "kubeconfig.h"
#include "policy.h"
#include "repair.h"
#include "statusann.h"

#define PROGRESS_MIN_HOSTS 500

static void
repair_usage(FILE *f)
{
	fprintf(f,
	    "usage: bmhguard repair [flags] [HOST...]\n\n"
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
	    "connection (first that applies: --server, --kubeconfig, $KUBECONFIG, ~/.kube/config,\n"
	    "in-cluster service account):\n"
	    "  --server URL               plain API endpoint without credentials, e.g. the runbook's\n"
	    "                             'kubectl proxy' at http://127.0.0.1:8001\n"
	    "  --kubeconfig FILE          kubeconfig to read ($KUBECONFIG may list several)\n"
	    "  --context NAME             kubeconfig context (default: its current-context)\n"
	    "  --timeout DURATION         per API request (default 30s); 429, 5xx, timeouts and\n"
	    "                             connection errors are retried with backoff (6 tries)\n\n"
	    "selection:\n"
	    "  -n, --namespace NS         hosts in NS (default: the context's namespace, else default)\n"
	    "  -A, --all-namespaces       hosts in every namespace\n"
	    "  -l, --selector SELECTOR    label selector, e.g. role=worker\n"
	    "  HOST...                    only these hosts (in the namespace)\n\n"
	    "action:\n"
	    "  --apply                    make the changes (default: dry run)\n"
	    "  --verify-url               HEAD each new image url (and checksum url) first; hosts\n"
	    "                             whose new url does not answer 200 are not repaired (the\n"
	    "                             target host must resolve where bmhguard runs)\n"
	    "  --wait DURATION            after repairing, watch hosts that had a 'provisioned\n"
	    "                             registration error' until the operator clears it (e.g. 5m)\n"
	    "  --concurrency N            hosts worked on at once, one connection each (default 4)\n"
	    "  --repair-paused-by VALUE   a pause (baremetalhost.metal3.io/paused: VALUE) you own and\n"
	    "                             hand over: repair works under it and leaves it in place;\n"
	    "                             repeatable (e.g. the runbook's 'true')\n"
	    "  --host-deadline DURATION   keep re-reading and re-planning a host that others keep\n"
	    "                             writing (409 Conflict), with backoff, this long (default 60s)\n"
	    "  --events[=true|false]      post a Kubernetes Event on every host acted on or left alone\n"
	    "                             (default: true with --apply, false for a dry run)\n\n"
	    "output:\n"
	    "  -o, --output table|json    table (default) or one JSON document for scripts\n\n"
	    "%s"
	    "  -h, --help                 this help\n\n"
	    "DURATION: a number with unit ms, s, m or h (e.g. 500ms, 30s, 1m30s); a bare number is seconds.\n"
	    "RESULT: ok, planned (dry run), repaired, patched, resumed, skipped (try later), held (paused\n"
	    "by someone else), failed, needs-human (our pause kept where removing it could wipe).\n"
	    "Exit status: 0 everything planned succeeded; 1 some host failed, is held by another\n"
	    "owner's pause, needs a human, or stays in error after --wait; 2 usage, configuration,\n"
	    "connection or permission error (permissions are checked before the first write).\n",
	    policy_flags_help());
}

/* "1m30s", "500ms", "30" (seconds). Returns milliseconds or -1. */
static long
parse_duration(const char *s)
{
	long total = 0;
	int any = 0;

	if (s == NULL || *s == '\0')
		return -1;
	while (*s != '\0') {
		char *end;
		double v;
		long mult;

		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		v = strtod(s, &end);
		if (end == s || v < 0)
			return -1;
		s = end;
		if (strncmp(s, "ms", 2) == 0) {
			mult = 1;
			s += 2;
		} else if (*s == 's') {
			mult = 1000;
			s++;
		} else if (*s == 'm') {
			mult = 60000;
			s++;
		} else if (*s == 'h') {
			mult = 3600000;
			s++;
		} else if (*s == '\0' && !any) {
			mult = 1000;
		} else {
			return -1;
		}
		if (v * (double)mult > 7 * 24 * 3600000.0)
			return -1;
		total += (long)(v * (double)mult);
		any = 1;
	}
	return total;
}

struct out_state {
	int json;
	int apply;
	int first;
	int progress;		/* stderr is a terminal */
	int progress_shown;
};

static void
report_json(const struct repair_result *r, struct out_state *st)
{
	struct json_object *o = json_object_new_object(), *calls;
	size_t i;

	json_object_object_add(o, "phase", json_object_new_string(r->waiting ? "wait" : "repair"));
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
				json_object_object_add(c, "body",
				    json_tokener_parse(r->calls[i].body));
			json_object_array_add(calls, c);
		}
		json_object_object_add(o, "calls", calls);
	}
	printf("%s\n    %s", st->first ? "" : ",", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	st->first = 0;
	json_object_put(o);
}

static const char *
dash(const char *s)
{
	return s != NULL && *s != '\0' ? s : "-";
}

static void
report_table(const struct repair_result *r, struct out_state *st)
{
	size_t i;

	if (st->first) {
		printf("%-12s %-28s %-26s %-30s %-10s %s\n", "NAMESPACE", "NAME", "STATE", "ERROR",
		    "ACTION", "RESULT");
		st->first = 0;
	}
	if (r->ncalls > 0)
		printf("%-12s %-28s %-26s %-30s %-10s would make %zu API %s:\n", dash(r->ns),
		    dash(r->name), dash(r->state), dash(r->error), r->action, r->ncalls,
		    r->ncalls == 1 ? "call" : "calls");
	else
		printf("%-12s %-28s %-26s %-30s %-10s %s%s%s\n", dash(r->ns), dash(r->name),
		    dash(r->state), dash(r->error), r->action, r->result, *r->detail ? ": " : "",
		    r->detail);
	for (i = 0; i < r->ncalls; i++)
		printf("    %s %s%s%s\n", r->calls[i].method, r->calls[i].path,
		    r->calls[i].body ? " " : "", r->calls[i].body ? r->calls[i].body : "");
	if (*r->detail && r->ncalls > 0)
		printf("    note: %s\n", r->detail);
}

static void
on_report(const struct repair_result *r, void *ud)
{
	struct out_state *st = ud;

	if (st->progress_shown) {
		fputs("\r\033[K", stderr);
		st->progress_shown = 0;
	}
	if (st->json)
		report_json(r, st);
	else
		report_table(r, st);
}

static void
on_progress(unsigned long done, unsigned long seen, long total, void *ud)
{
	struct out_state *st = ud;

	if (!st->progress || done % 100 != 0)
		return;
	if ((total >= 0 ? (unsigned long)total : seen) < PROGRESS_MIN_HOSTS)
		return;
	fflush(stdout);
	if (total >= 0)
		fprintf(stderr, "\rrepair: %lu/%ld hosts", done, total);
	else
		fprintf(stderr, "\rrepair: %lu hosts done", done);
	st->progress_shown = 1;
}

/* "--flag VALUE" or "--flag=VALUE"; returns the value or NULL when argv[*i] is not this flag. */
static const char *
flag_value(int argc, char **argv, int *i, const char *s, const char *l, int *missing)
{
	const char *a = argv[*i];
	size_t ll = l ? strlen(l) : 0;

	if ((s && strcmp(a, s) == 0) || (l && strcmp(a, l) == 0)) {
		if (*i + 1 >= argc) {
			*missing = 1;
			return NULL;
		}
		return argv[++*i];
	}
	if (l && strncmp(a, l, ll) == 0 && a[ll] == '=')
		return a + ll + 1;
	return NULL;
}

struct args {
	struct kubeconfig_opts kc;
	const char *ns, *selector, *output;
	int all_ns, apply, verify, concurrency, nnames, events, nhanded;
	long wait_ms, timeout_ms, host_deadline_ms;
	char **names;
	const char **handed;
};

/* "--events", "--events=true", "--events=false": kubectl's boolean flags. -1 not this flag. */
static int
bool_flag(const char *arg, const char *name, int *out)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) != 0)
		return -1;
	if (arg[n] == '\0' || strcmp(arg + n, "=true") == 0)
		*out = 1;
	else if (strcmp(arg + n, "=false") == 0)
		*out = 0;
	else
		return arg[n] == '=' ? -2 : -1;
	return 0;
}

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

/* Returns -1 usage error, 0 ok, 1 help shown. */
static int
parse_args(int argc, char **argv, struct args *a, struct policy *p)
{
	char err[256];
	int i, missing = 0, r;
	const char *v;

	a->concurrency = 4;
	a->timeout_ms = 30000;
	a->host_deadline_ms = REPAIR_DEFAULT_HOST_DEADLINE_MS;
	a->events = -1;
	a->output = "table";
	if ((a->names = calloc((size_t)argc, sizeof(char *))) == NULL ||
	    (a->handed = calloc((size_t)argc, sizeof(char *))) == NULL)
		return -1;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			repair_usage(stdout);
			return 1;
		}
		if (strcmp(arg, "--") == 0) {
			for (i++; i < argc; i++)
				a->names[a->nnames++] = argv[i];
			break;
		}
		if (arg[0] != '-') {
			a->names[a->nnames++] = argv[i];
			continue;
		}
#define VAL(s, l) ((v = flag_value(argc, argv, &i, s, l, &missing)) != NULL)
		if (VAL(NULL, "--server"))
			a->kc.server = v;
		else if (VAL(NULL, "--kubeconfig"))
			a->kc.path = v;
		else if (VAL(NULL, "--context"))
			a->kc.context = v;
		else if (VAL("-n", "--namespace"))
			a->ns = v;
		else if (VAL("-l", "--selector"))
			a->selector = v;
		else if (VAL("-o", "--output"))
			a->output = v;
		else if (VAL(NULL, "--concurrency")) {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end != '\0' || n < 1 || n > 256) {
				fprintf(stderr, "bmhguard repair: --concurrency wants 1..256, not '%s'\n", v);
				return -1;
			}
			a->concurrency = (int)n;
		} else if (VAL(NULL, "--timeout")) {
			if ((a->timeout_ms = parse_duration(v)) <= 0) {
				fprintf(stderr, "bmhguard repair: bad --timeout '%s' (e.g. 30s)\n", v);
				return -1;
			}
		} else if (VAL(NULL, "--wait")) {
			if ((a->wait_ms = parse_duration(v)) <= 0) {
				fprintf(stderr, "bmhguard repair: bad --wait '%s' (e.g. 5m)\n", v);
				return -1;
			}
		} else if (VAL(NULL, "--host-deadline")) {
			if ((a->host_deadline_ms = parse_duration(v)) <= 0) {
				fprintf(stderr, "bmhguard repair: bad --host-deadline '%s' (e.g. 60s)\n", v);
				return -1;
			}
		} else if (VAL(NULL, "--repair-paused-by")) {
			if (strcmp(v, REPAIR_PAUSE_VALUE) == 0) {
				fprintf(stderr, "bmhguard repair: --repair-paused-by wants another owner's "
				    "pause value, not '%s'\n", v);
				return -1;
			}
			a->handed[a->nhanded++] = v;
		} else if ((r = bool_flag(arg, "--events", &a->events)) != -1) {
			if (r == -2) {
				fprintf(stderr, "bmhguard repair: --events wants true or false, not '%s'\n",
				    arg + 9);
				return -1;
			}
		} else if (strcmp(arg, "-A") == 0 || strcmp(arg, "--all-namespaces") == 0)
			a->all_ns = 1;
		else if (strcmp(arg, "--apply") == 0)
			a->apply = 1;
		else if (strcmp(arg, "--verify-url") == 0)
			a->verify = 1;
		else if (missing) {
			fprintf(stderr, "bmhguard repair: %s needs a value\n", arg);
			return -1;
		} else {
			r = policy_parse_flag(p, argc, argv, &i, err, sizeof(err));
			if (r < 0) {
				fprintf(stderr, "bmhguard repair: %s\n", err);
				return -1;
			}
			if (r == 0) {
				fprintf(stderr, "bmhguard repair: unknown flag '%s' (see --help)\n", arg);
				return -1;
			}
			i--;	/* policy_parse_flag leaves *i past what it used */
		}
		if (missing) {
			fprintf(stderr, "bmhguard repair: %s needs a value\n", arg);
			return -1;
		}
#undef VAL
	}
	if (a->ns != NULL && !name_ok(a->ns)) {
		fprintf(stderr, "bmhguard repair: '%s' is not a valid namespace name\n", a->ns);
		return -1;
	}
	for (i = 0; i < a->nnames; i++) {
		if (!name_ok(a->names[i])) {
			fprintf(stderr, "bmhguard repair: '%s' is not a valid host name\n", a->names[i]);
			return -1;
		}
	}
	if (strcmp(a->output, "table") != 0 && strcmp(a->output, "json") != 0) {
		fprintf(stderr, "bmhguard repair: -o wants table or json, not '%s'\n", a->output);
		return -1;
	}
	if (a->all_ns && a->ns != NULL) {
		fprintf(stderr, "bmhguard repair: give -n or -A, not both\n");
		return -1;
	}
	if (a->all_ns && a->nnames > 0) {
		fprintf(stderr, "bmhguard repair: host names need one namespace (-n), not -A\n");
		return -1;
	}
	if (a->nnames > 0 && a->selector != NULL) {
		fprintf(stderr, "bmhguard repair: give host names or -l, not both\n");
		return -1;
	}
	if (a->kc.server != NULL && (a->kc.path != NULL || a->kc.context != NULL)) {
		fprintf(stderr, "bmhguard repair: --server excludes --kubeconfig and --context\n");
		return -1;
	}
	if (a->events < 0)
		a->events = a->apply;
	if (policy_mode(p) == POLICY_WARN && a->apply) {
		fprintf(stderr, "bmhguard repair: --mode warn never changes anything; drop --apply\n");
		return -1;
	}
	return 0;
}

static const char *
plural(unsigned long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* The summary line's parts, one row per outcome the table can show; rows with 0 are omitted. */
static void
print_summary(const struct repair_summary *s, int apply, int json, long wait_ms)
{
	static const struct { enum repair_outcome o; const char *json, *text; int apply, dry; } rows[] = {
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
	size_t i;
	int any = 0;

	if (json) {
		printf("\n  ],\n  \"summary\": {\"dryRun\": %s, \"hosts\": %lu", apply ? "false" :
		    "true", s->hosts);
		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
			printf(", \"%s\": %lu", rows[i].json, s->outcome[rows[i].o]);
		printf(", \"underOtherPause\": %lu, \"apiCalls\": %lu, \"writes\": %lu, "
		    "\"conflicts\": %lu, \"events\": %lu, \"eventsFailed\": %lu, \"waitCleared\": %lu, "
		    "\"waitPending\": %lu, \"listRestarts\": %lu}\n}\n", s->under_other_pause,
		    s->calls, s->writes, s->conflicts, s->events, s->events_failed, s->wait_cleared,
		    s->wait_pending, s->list_restarts);
		return;
	}
	printf("\nsummary%s: %lu %s: ", apply ? "" : " (dry run, nothing changed; add --apply)",
	    s->hosts, plural(s->hosts, "host", "hosts"));
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (!(apply ? rows[i].apply : rows[i].dry) || (s->outcome[rows[i].o] == 0 &&
		    rows[i].o != REPAIR_OUT_FAILED))
			continue;
		printf("%s%lu %s", any++ ? ", " : "", s->outcome[rows[i].o], rows[i].text);
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

static int
run_failed(const struct repair_summary *s)
{
	int i;

	for (i = 0; i < REPAIR_OUT_COUNT; i++)
		if (s->outcome[i] > 0 && repair_outcome_info((enum repair_outcome)i)->exit_failed)
			return 1;
	return s->wait_pending > 0;
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
	char err[1024], instance[128] = "";
	int rc = EXIT_USAGE, r;

	memset(&a, 0, sizeof(a));
	memset(&ro, 0, sizeof(ro));
	memset(&st, 0, sizeof(st));
	if (p == NULL) {
		fprintf(stderr, "bmhguard repair: out of memory\n");
		return EXIT_FAILED;
	}
	r = parse_args(argc, argv, &a, p);
	if (r != 0) {
		rc = r > 0 ? EXIT_OK : EXIT_USAGE;
		goto out;
	}
	if (kubeconfig_load(&a.kc, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "bmhguard repair: %s\n", err);
		goto out;
	}
	ko.timeout_ms = a.timeout_ms;
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
	ro.rules.nhanded = (size_t)a.nhanded;
	ro.events = a.events;
	ro.host_deadline_ms = a.host_deadline_ms;
	if (gethostname(instance, sizeof(instance) - 1) == 0 && instance[0] != '\0')
		ro.instance = instance;
	ro.ns = a.all_ns ? NULL : a.ns ? a.ns : cfg->namespace ? cfg->namespace : "default";
	ro.selector = a.selector;
	ro.names = a.names;
	ro.nnames = a.nnames;
	ro.apply = a.apply;
	ro.verify_url = a.verify;
	ro.wait_ms = a.wait_ms;
	ro.concurrency = a.concurrency;
	ro.report = on_report;
	ro.progress = on_progress;
	ro.report_ud = &st;
	st.json = strcmp(a.output, "json") == 0;
	st.apply = a.apply;
	st.first = 1;
	st.progress = isatty(STDERR_FILENO);
	if (st.json)
		printf("{\n  \"apiVersion\": \"bmhguard/v1\",\n  \"kind\": \"RepairReport\",\n"
		    "  \"dryRun\": %s,\n  \"hosts\": [", a.apply ? "false" : "true");
	if (repair_run(k, &ro, &sum, err, sizeof(err)) < 0) {
		if (st.progress_shown)
			fputs("\n", stderr);
		if (st.json)
			print_summary(&sum, a.apply, 1, a.wait_ms);
		fflush(stdout);
		fprintf(stderr, "bmhguard repair: %s (using %s)\n", err, cfg->source);
		rc = EXIT_USAGE;
		goto out;
	}
	if (st.progress_shown)
		fputs("\r\033[K", stderr);
	if (!st.json && st.first)
		printf("no BareMetalHosts selected\n");
	print_summary(&sum, a.apply, st.json, a.wait_ms);
	rc = run_failed(&sum) ? EXIT_FAILED : EXIT_OK;
out:
	fflush(stdout);
	kube_client_free(k);
	kubeconfig_free(cfg);
	free(a.names);
	free(a.handed);
	policy_free(p);
	return rc;
}
