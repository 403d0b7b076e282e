/* opts.c - the one command-line flag parser: a table of rows parses argv and writes --help. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

/* Flag specs ("  -n, --namespace NS") longer than this get their help on the next line. */
#define OPTS_SPEC_MAX 26

#define KIB 1024ULL

static void opts_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
opts_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A value quoted in an error line: at most 64 bytes, control characters as '?', so the error
 * stays one line whatever was typed. */
static const char *
opts_quote(const char *s, char *out, size_t outlen)
{
	size_t i, n = 0;

	for (i = 0; s[i] != '\0' && n + 4 < outlen && i < 64; i++)
		out[n++] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	if (s[i] != '\0' && n + 4 < outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

int
opts_parse_bool(const char *s, int *b)
{
	if (strcmp(s, "true") == 0)
		*b = 1;
	else if (strcmp(s, "false") == 0)
		*b = 0;
	else
		return -1;
	return 0;
}

/* A whole decimal number with nothing after it but *rest (may be NULL: nothing). */
static int
opts_whole(const char *s, unsigned long long *v, const char **rest)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (rest != NULL)
		*rest = end;
	else if (*end != '\0')
		return -1;
	return 0;
}

int
opts_parse_size(const char *s, unsigned long long *bytes)
{
	static const struct { const char *unit; unsigned long long mult; } units[] = {
		{ "", 1 }, { "KiB", KIB }, { "Ki", KIB }, { "MiB", KIB * KIB }, { "Mi", KIB * KIB },
		{ "GiB", KIB * KIB * KIB }, { "Gi", KIB * KIB * KIB },
	};
	unsigned long long v;
	const char *rest;
	size_t i;

	if (opts_whole(s, &v, &rest) < 0)
		return -1;
	for (i = 0; i < OPTS_NROWS(units); i++) {
		if (strcmp(rest, units[i].unit) != 0)
			continue;
		if (v > ULLONG_MAX / units[i].mult)
			return -1;
		*bytes = v * units[i].mult;
		return 0;
	}
	return -1;
}

int
opts_parse_duration(const char *s, long *ms)
{
	static const struct { const char *unit; double mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	double total = 0;
	int parts = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		char *end;
		double v;
		size_t i, n = 0;

		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		v = strtod(s, &end);
		if (end == s || v < 0)
			return -1;
		s = end;
		if (*s == '\0' && parts == 0) {	/* a bare number: seconds */
			total = v * 1000;
			break;
		}
		/* units[] lists "ms" before "m", so the longer one that matches wins */
		for (i = 0; i < OPTS_NROWS(units); i++) {
			n = strlen(units[i].unit);
			if (strncmp(s, units[i].unit, n) == 0)
				break;
		}
		if (i == OPTS_NROWS(units))
			return -1;
		total += v * units[i].mult;
		s += n;
		parts++;
		if (total > (double)LONG_MAX / 2)
			return -1;
	}
	*ms = (long)total;
	return 0;
}

/* For range messages: 1073741824 -> "1GiB", 604800000 ms -> "168h". */
static const char *
opts_size_str(unsigned long long v, char *out, size_t outlen)
{
	if (v >= KIB * KIB * KIB && v % (KIB * KIB * KIB) == 0)
		snprintf(out, outlen, "%lluGiB", v / (KIB * KIB * KIB));
	else if (v >= KIB * KIB && v % (KIB * KIB) == 0)
		snprintf(out, outlen, "%lluMiB", v / (KIB * KIB));
	else if (v >= KIB && v % KIB == 0)
		snprintf(out, outlen, "%lluKiB", v / KIB);
	else
		snprintf(out, outlen, "%llu", v);
	return out;
}

static const char *
opts_duration_str(long long ms, char *out, size_t outlen)
{
	if (ms >= 3600000 && ms % 3600000 == 0)
		snprintf(out, outlen, "%lldh", ms / 3600000);
	else if (ms >= 60000 && ms % 60000 == 0)
		snprintf(out, outlen, "%lldm", ms / 60000);
	else if (ms >= 1000 && ms % 1000 == 0)
		snprintf(out, outlen, "%llds", ms / 1000);
	else
		snprintf(out, outlen, "%lldms", ms);
	return out;
}

/* "table, json or yaml" (sep ", ", last_sep " or "), "table|json|yaml" */
static void
opts_choices_str(const char *const *c, const char *sep_, const char *last_sep, char *out,
    size_t outlen)
{
	size_t n = 0, k;

	out[0] = '\0';
	for (k = 0; c[k] != NULL; k++) {
		const char *sep = k == 0 ? "" : c[k + 1] == NULL ? last_sep : sep_;
		int w = snprintf(out + n, outlen - n, "%s%s", sep, c[k]);

		if (w < 0 || (size_t)w >= outlen - n)
			return;
		n += (size_t)w;
	}
}

/* Store value (NULL: a boolean given bare) into row. */
static int
opts_store(struct opts_row *row, const char *value, char *err, size_t errlen)
{
	char q[80], lo[32], hi[32], list[256];
	unsigned long long u;
	long ms;
	size_t k;

	switch (row->kind) {
	case OPTS_BOOL: {
		int b = 1;

		if (value != NULL && opts_parse_bool(value, &b) < 0) {
			opts_err(err, errlen, "--%s wants true or false, not '%s'", row->name,
			    opts_quote(value, q, sizeof(q)));
			return -1;
		}
		*(int *)row->dst = b;
		return 0;
	}
	case OPTS_STRING:
		*(const char **)row->dst = value;
		return 0;
	case OPTS_STRINGS: {
		struct opts_list *l = row->dst;

		if (l->n >= l->max) {
			opts_err(err, errlen, "--%s: at most %zu of them", row->name, l->max);
			return -1;
		}
		l->v[l->n++] = value;
		return 0;
	}
	case OPTS_INT: {
		const char *d = *value == '-' ? value + 1 : value;
		char *end;
		long long v;

		errno = 0;
		v = isdigit((unsigned char)*d) ? strtoll(value, &end, 10) : 0;
		if (!isdigit((unsigned char)*d) || errno != 0 || *end != '\0' || v < row->min ||
		    v > row->max) {
			opts_err(err, errlen, "--%s: '%s' is not a number in %lld..%lld", row->name,
			    opts_quote(value, q, sizeof(q)), row->min, row->max);
			return -1;
		}
		*(int *)row->dst = (int)v;
		return 0;
	}
	case OPTS_SIZE:
		if (opts_parse_size(value, &u) < 0 || u < (unsigned long long)row->min ||
		    u > (unsigned long long)row->max) {
			opts_err(err, errlen, "--%s: '%s' is not a number of bytes in %s..%s (a bare "
			    "number, or with KiB, MiB or GiB: 512KiB, 8MiB)", row->name,
			    opts_quote(value, q, sizeof(q)),
			    opts_size_str((unsigned long long)row->min, lo, sizeof(lo)),
			    opts_size_str((unsigned long long)row->max, hi, sizeof(hi)));
			return -1;
		}
		*(size_t *)row->dst = (size_t)u;
		return 0;
	case OPTS_DURATION:
		if (opts_parse_duration(value, &ms) < 0 || ms < row->min || ms > row->max) {
			opts_err(err, errlen, "--%s: '%s' is not a duration in %s..%s (ms, s, m or h: "
			    "500ms, 30s, 1m30s; a bare number is seconds)", row->name,
			    opts_quote(value, q, sizeof(q)), opts_duration_str(row->min, lo, sizeof(lo)),
			    opts_duration_str(row->max, hi, sizeof(hi)));
			return -1;
		}
		*(long *)row->dst = ms;
		return 0;
	case OPTS_CHOICE:
		for (k = 0; row->choices[k] != NULL; k++) {
			if (strcmp(value, row->choices[k]) == 0) {
				*(int *)row->dst = (int)k;
				return 0;
			}
		}
		opts_choices_str(row->choices, ", ", " or ", list, sizeof(list));
		opts_err(err, errlen, "--%s wants %s, not '%s'", row->name, list,
		    opts_quote(value, q, sizeof(q)));
		return -1;
	case OPTS_FUNC:
		return row->set(row->dst, value, err, errlen) == 0 ? 0 : -1;
	case OPTS_HELP:
	case OPTS_ARGS:
		break;
	}
	opts_err(err, errlen, "--%s: not a flag that takes a value", row->name);
	return -1;
}

static struct opts_row *
opts_find(struct opts_group *g, size_t ng, const char *name, size_t len, char short_name)
{
	size_t i, k;

	for (i = 0; i < ng; i++) {
		for (k = 0; k < g[i].nrows; k++) {
			struct opts_row *r = &g[i].rows[k];

			if (r->name == NULL)
				continue;
			if (short_name != 0 ? r->short_name == short_name :
			    strlen(r->name) == len && strncmp(r->name, name, len) == 0)
				return r;
		}
	}
	return NULL;
}

static int
opts_takes_value(const struct opts_row *r)
{
	return r->kind != OPTS_BOOL && r->kind != OPTS_HELP;
}

/*
 * Apply row: inline is the value written into the same argument (after '=' or a short letter),
 * or NULL; a flag that needs one and has none takes the next argument. Returns OPTS_OK,
 * OPTS_HELP_SHOWN or OPTS_ERROR.
 */
static int
opts_apply(struct opts_row *r, const char *inline_value, int argc, char **argv, int *i,
    char *err, size_t errlen)
{
	r->seen++;
	if (r->kind == OPTS_HELP) {
		if (inline_value != NULL) {
			opts_err(err, errlen, "--%s takes no value", r->name);
			return OPTS_ERROR;
		}
		return OPTS_HELP_SHOWN;
	}
	if (opts_takes_value(r) && inline_value == NULL) {
		if (*i + 1 >= argc) {
			opts_err(err, errlen, "--%s needs a value (%s)", r->name, r->arg ? r->arg :
			    "see --help");
			return OPTS_ERROR;
		}
		inline_value = argv[++*i];
	}
	return opts_store(r, inline_value, err, errlen) == 0 ? OPTS_OK : OPTS_ERROR;
}

int
opts_parse(struct opts_group *groups, size_t ngroups, int argc, char **argv, char **pos,
    int *npos, char *err, size_t errlen)
{
	char q[80];
	size_t g, k;
	int i, flags_done = 0, rc;

	for (g = 0; g < ngroups; g++)
		for (k = 0; k < groups[g].nrows; k++)
			groups[g].rows[k].seen = 0;
	if (npos != NULL)
		*npos = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		struct opts_row *r;

		if (!flags_done && strcmp(a, "--") == 0) {
			flags_done = 1;
			continue;
		}
		if (flags_done || a[0] != '-' || a[1] == '\0') {
			if (pos == NULL) {
				opts_err(err, errlen, "unexpected argument '%s' (see --help)",
				    opts_quote(a, q, sizeof(q)));
				return OPTS_ERROR;
			}
			pos[(*npos)++] = argv[i];
			continue;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);

			if ((r = opts_find(groups, ngroups, name, len, 0)) == NULL) {
				char nm[80];

				snprintf(nm, sizeof(nm), "%.*s", (int)(len < 70 ? len : 70), name);
				opts_err(err, errlen, "unknown flag '--%s' (see --help)",
				    opts_quote(nm, q, sizeof(q)));
				return OPTS_ERROR;
			}
			rc = opts_apply(r, eq != NULL ? eq + 1 : NULL, argc, argv, &i, err, errlen);
			if (rc != OPTS_OK)
				return rc;
			continue;
		}
		/* short flags: -x V, -xV, -x=V, and booleans run together (-Av) */
		for (a++; *a != '\0'; a++) {
			const char *v = NULL;

			if ((r = opts_find(groups, ngroups, NULL, 0, *a)) == NULL) {
				opts_err(err, errlen, "unknown flag '-%c'%s%s%s (see --help)",
				    isprint((unsigned char)*a) ? *a : '?', argv[i][2] ? " in '" : "",
				    argv[i][2] ? opts_quote(argv[i], q, sizeof(q)) : "", argv[i][2] ? "'" : "");
				return OPTS_ERROR;
			}
			if (a[1] == '=')
				v = a + 2;
			else if (a[1] != '\0' && opts_takes_value(r))
				v = a + 1;
			rc = opts_apply(r, v, argc, argv, &i, err, errlen);
			if (rc != OPTS_OK)
				return rc;
			if (v != NULL || opts_takes_value(r))
				break;
		}
	}
	return OPTS_OK;
}

unsigned
opts_seen(const struct opts_group *groups, size_t ngroups, const char *name)
{
	size_t g, k;

	for (g = 0; g < ngroups; g++)
		for (k = 0; k < groups[g].nrows; k++)
			if (groups[g].rows[k].name != NULL && strcmp(groups[g].rows[k].name, name) == 0)
				return groups[g].rows[k].seen;
	return 0;
}

/* "  -n, --namespace NS" into out; returns its length. */
static size_t
opts_spec(const struct opts_row *r, char *out, size_t outlen)
{
	char list[256], shortname[8] = "";
	const char *arg = r->arg, *pre = " ", *post = "";

	if (r->kind == OPTS_ARGS) {
		snprintf(out, outlen, "  %s", r->arg);
		return strlen(out);
	}
	if (r->short_name != 0)
		snprintf(shortname, sizeof(shortname), "-%c, ", r->short_name);
	if (r->kind == OPTS_CHOICE && arg == NULL) {
		opts_choices_str(r->choices, "|", "|", list, sizeof(list));
		arg = list;
	}
	if (r->kind == OPTS_HELP) {
		arg = NULL;
	} else if (r->kind == OPTS_BOOL) {
		pre = "[=";
		post = "]";
	} else if (arg == NULL) {
		arg = "VALUE";
	}
	snprintf(out, outlen, "  %s--%s%s%s%s", shortname, r->name, arg ? pre : "", arg ? arg : "",
	    arg ? post : "");
	return strlen(out);
}

void
opts_help(FILE *f, const struct opts_group *groups, size_t ngroups)
{
	char spec[320];
	size_t g, k, len, col = 0;

	for (g = 0; g < ngroups; g++) {
		for (k = 0; k < groups[g].nrows; k++) {
			len = opts_spec(&groups[g].rows[k], spec, sizeof(spec));
			if (len <= OPTS_SPEC_MAX && len > col)
				col = len;
		}
	}
	col += 2;
	for (g = 0; g < ngroups; g++) {
		if (groups[g].title != NULL)
			fprintf(f, "%s\n", groups[g].title);
		for (k = 0; k < groups[g].nrows; k++) {
			const struct opts_row *r = &groups[g].rows[k];
			const char *h = r->help ? r->help : "", *nl;

			len = opts_spec(r, spec, sizeof(spec));
			if (len > OPTS_SPEC_MAX)
				fprintf(f, "%s\n%*s", spec, (int)col, "");
			else
				fprintf(f, "%-*s", (int)col, spec);
			while ((nl = strchr(h, '\n')) != NULL) {
				fprintf(f, "%.*s\n%*s", (int)(nl - h), h, (int)col, "");
				h = nl + 1;
			}
			fprintf(f, "%s\n", h);
		}
		fputc('\n', f);
	}
}
