/* test_opts.c - the flag parser: every kind, every spelling, every error, and the generated help. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "opts.h"

static const char *const colours[] = { "red", "green", "blue", NULL };

/* One table with a row of every kind, its variables reset for each parse. */
struct vars {
	int verbose, all, count, colour;
	const char *name, *ns;
	const char *tags_v[3];
	struct opts_list tags;
	size_t size;
	long wait;
	const char *funced;
	char *pos[16];
	int npos;
	struct opts_row rows[9];
	struct opts_group g[2];
	char err[256];
};

static int
set_upper(void *dst, const char *v, char *err, size_t errlen)
{
	if (v[0] < 'A' || v[0] > 'Z') {
		snprintf(err, errlen, "--func: '%s' must start upper-case", v);
		return -1;
	}
	*(const char **)dst = v;
	return 0;
}

static void
vars_init(struct vars *v)
{
	struct opts_row rows[] = {
		{ .name = "verbose", .short_name = 'v', .kind = OPTS_BOOL, .dst = &v->verbose,
		  .help = "say more" },
		{ .name = "all", .short_name = 'A', .kind = OPTS_BOOL, .dst = &v->all,
		  .arg = "true|false", .help = "everything" },
		{ .name = "name", .kind = OPTS_STRING, .dst = &v->name, .arg = "NAME",
		  .help = "a name" },
		{ .name = "namespace", .short_name = 'n', .kind = OPTS_STRING, .dst = &v->ns,
		  .arg = "NS", .help = "a namespace\nsecond line" },
		{ .name = "tag", .short_name = 't', .kind = OPTS_STRINGS, .dst = &v->tags,
		  .arg = "TAG", .help = "repeatable" },
		{ .name = "count", .short_name = 'c', .kind = OPTS_INT, .dst = &v->count, .arg = "N",
		  .min = -5, .max = 10, .help = "a number" },
		{ .name = "max-size", .kind = OPTS_SIZE, .dst = &v->size, .arg = "SIZE", .min = 1024,
		  .max = 1LL << 30, .help = "a size" },
		{ .name = "wait", .short_name = 'w', .kind = OPTS_DURATION, .dst = &v->wait,
		  .arg = "DURATION", .min = 1, .max = 3600000, .help = "a duration" },
		{ .name = "colour", .short_name = 'o', .kind = OPTS_CHOICE, .dst = &v->colour,
		  .choices = colours, .help = "a choice" },
	};
	static struct opts_row more[] = {
		{ .name = "func", .kind = OPTS_FUNC, .set = set_upper, .arg = "UPPER",
		  .help = "checked by a function" },
		{ .kind = OPTS_ARGS, .arg = "FILE...", .help = "positional" },
		{ .name = "a-very-long-flag-name-here", .kind = OPTS_STRING, .arg = "VALUE",
		  .help = "help on the next line" },
		{ .name = "help", .short_name = 'h', .kind = OPTS_HELP, .help = "this help" },
	};

	memset(v, 0, sizeof(*v));
	v->size = 42;
	v->tags = (struct opts_list){ v->tags_v, 0, 3 };
	memcpy(v->rows, rows, sizeof(rows));
	more[0].dst = &v->funced;
	more[2].dst = &v->name;
	v->g[0] = (struct opts_group){ "first:", v->rows, OPTS_NROWS(rows) };
	v->g[1] = (struct opts_group){ NULL, more, OPTS_NROWS(more) };
}

/* Parse a NULL-terminated argument list (after the command name). */
static int
parse(struct vars *v, const char *const *args)
{
	char *argv[32];
	int argc = 1;

	vars_init(v);
	argv[0] = "cmd";
	while (*args != NULL && argc < 31)
		argv[argc++] = (char *)(uintptr_t)*args++;
	argv[argc] = NULL;
	return opts_parse(v->g, 2, argc, argv, v->pos, &v->npos, v->err, sizeof(v->err));
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
test_spellings(void)
{
	const char *const *const ns_forms[] = {
		ARGS("--namespace", "metal3"), ARGS("--namespace=metal3"), ARGS("-n", "metal3"),
		ARGS("-nmetal3"), ARGS("-n=metal3"),
	};
	struct vars v;
	size_t i;

	for (i = 0; i < OPTS_NROWS(ns_forms); i++) {
		CHECK(parse(&v, ns_forms[i]) == OPTS_OK && v.ns && strcmp(v.ns, "metal3") == 0 &&
		    v.npos == 0, "string spelling %zu (%s%s%s) stores metal3", i, ns_forms[i][0],
		    ns_forms[i][1] ? " " : "", ns_forms[i][1] ? ns_forms[i][1] : "");
	}
	CHECK(parse(&v, ARGS("-ojson")) == OPTS_ERROR && strstr(v.err, "--colour") &&
	    strstr(v.err, "red, green or blue") && strstr(v.err, "'json'"),
	    "-ojson: a choice outside the list names the flag and the choices: %s", v.err);
	CHECK(parse(&v, ARGS("-ogreen")) == OPTS_OK && v.colour == 1, "-ogreen: choice index 1");
	CHECK(parse(&v, ARGS("-o=blue")) == OPTS_OK && v.colour == 2, "-o=blue: choice index 2");
	CHECK(parse(&v, ARGS("--colour", "red")) == OPTS_OK && v.colour == 0, "--colour red");
	CHECK(parse(&v, ARGS("--name=")) == OPTS_OK && v.name && *v.name == '\0',
	    "--name= stores the empty string");
	CHECK(parse(&v, ARGS("--name", "-x")) == OPTS_OK && v.name && strcmp(v.name, "-x") == 0,
	    "a value is the next argument even when it starts with '-'");
	CHECK(parse(&v, ARGS("--name=a=b")) == OPTS_OK && strcmp(v.name, "a=b") == 0,
	    "--name=a=b: only the first '=' splits");
	CHECK(parse(&v, ARGS("--name", "a", "--name", "b")) == OPTS_OK && strcmp(v.name, "b") == 0 &&
	    opts_seen(v.g, 2, "name") == 2, "given twice: the last wins, seen counts 2");
	CHECK(opts_seen(v.g, 2, "namespace") == 0 && opts_seen(v.g, 2, "nonesuch") == 0,
	    "opts_seen: 0 for a flag not given and for an unknown name");
}

static void
test_bools(void)
{
	struct vars v;

	CHECK(parse(&v, ARGS("--verbose")) == OPTS_OK && v.verbose == 1, "--verbose sets 1");
	CHECK(parse(&v, ARGS("--verbose=true")) == OPTS_OK && v.verbose == 1, "--verbose=true");
	CHECK(parse(&v, ARGS("--verbose", "--verbose=false")) == OPTS_OK && v.verbose == 0,
	    "--verbose=false sets 0 (and the last wins)");
	CHECK(parse(&v, ARGS("-v")) == OPTS_OK && v.verbose == 1, "-v");
	CHECK(parse(&v, ARGS("-A=false")) == OPTS_OK && v.all == 0 &&
	    opts_seen(v.g, 2, "all") == 1, "-A=false: given, and false");
	CHECK(parse(&v, ARGS("-Av")) == OPTS_OK && v.all == 1 && v.verbose == 1,
	    "-Av: short booleans run together");
	CHECK(parse(&v, ARGS("-vnmetal3")) == OPTS_OK && v.verbose == 1 && strcmp(v.ns, "metal3") == 0,
	    "-vnmetal3: a boolean, then a flag with its value attached");
	CHECK(parse(&v, ARGS("--verbose", "true")) == OPTS_OK && v.verbose == 1 && v.npos == 1 &&
	    strcmp(v.pos[0], "true") == 0, "a boolean never takes the next argument");
	CHECK(parse(&v, ARGS("--verbose=yes")) == OPTS_ERROR && strstr(v.err, "--verbose") &&
	    strstr(v.err, "true or false"), "--verbose=yes refused: %s", v.err);
	CHECK(parse(&v, ARGS("-A=maybe")) == OPTS_ERROR && strstr(v.err, "--all"),
	    "-A=maybe refused, naming --all: %s", v.err);
}

static void
test_numbers(void)
{
	struct vars v;

	CHECK(parse(&v, ARGS("--count", "7")) == OPTS_OK && v.count == 7, "int: --count 7");
	CHECK(parse(&v, ARGS("-c-5")) == OPTS_OK && v.count == -5, "int: -c-5 (the minimum)");
	CHECK(parse(&v, ARGS("-c", "10")) == OPTS_OK && v.count == 10, "int: the maximum");
	CHECK(parse(&v, ARGS("-c", "11")) == OPTS_ERROR && strstr(v.err, "--count") &&
	    strstr(v.err, "-5..10"), "int above the range: %s", v.err);
	CHECK(parse(&v, ARGS("-c", "-6")) == OPTS_ERROR, "int below the range");
	CHECK(parse(&v, ARGS("-c", "3x")) == OPTS_ERROR && strstr(v.err, "not a number"),
	    "int with trailing garbage: %s", v.err);
	CHECK(parse(&v, ARGS("-c", " 3")) == OPTS_ERROR, "int with a leading space");
	CHECK(parse(&v, ARGS("-c", "+3")) == OPTS_ERROR, "int with a plus sign");
	CHECK(parse(&v, ARGS("-c", "99999999999999999999")) == OPTS_ERROR, "int overflow");

	CHECK(parse(&v, ARGS("--max-size", "8MiB")) == OPTS_OK && v.size == 8u << 20, "size 8MiB");
	CHECK(parse(&v, ARGS("--max-size=512KiB")) == OPTS_OK && v.size == 512u << 10,
	    "size 512KiB");
	CHECK(parse(&v, ARGS("--max-size", "1GiB")) == OPTS_OK && v.size == 1u << 30, "size 1GiB");
	CHECK(parse(&v, ARGS("--max-size", "4Mi")) == OPTS_OK && v.size == 4u << 20,
	    "size 4Mi (Kubernetes' spelling)");
	CHECK(parse(&v, ARGS("--max-size", "100000")) == OPTS_OK && v.size == 100000,
	    "size: a bare number is bytes");
	CHECK(parse(&v, ARGS("--max-size", "8MB")) == OPTS_ERROR && strstr(v.err, "--max-size") &&
	    strstr(v.err, "not a number"), "size 8MB refused (decimal units are ambiguous): %s",
	    v.err);
	CHECK(parse(&v, ARGS("--max-size", "1000")) == OPTS_ERROR && strstr(v.err, "1KiB..1GiB"),
	    "size below the minimum names the range: %s", v.err);
	CHECK(parse(&v, ARGS("--max-size", "2GiB")) == OPTS_ERROR, "size above the maximum");
	CHECK(parse(&v, ARGS("--max-size", "-1")) == OPTS_ERROR, "size negative");
	CHECK(parse(&v, ARGS("--max-size", "99999999999GiB")) == OPTS_ERROR, "size overflow");

	CHECK(parse(&v, ARGS("--wait", "500ms")) == OPTS_OK && v.wait == 500, "duration 500ms");
	CHECK(parse(&v, ARGS("-w30s")) == OPTS_OK && v.wait == 30000, "duration -w30s");
	CHECK(parse(&v, ARGS("-w=1m30s")) == OPTS_OK && v.wait == 90000, "duration 1m30s");
	CHECK(parse(&v, ARGS("--wait=1h")) == OPTS_OK && v.wait == 3600000, "duration 1h (max)");
	CHECK(parse(&v, ARGS("--wait", "1.5s")) == OPTS_OK && v.wait == 1500, "duration 1.5s");
	CHECK(parse(&v, ARGS("--wait", "20")) == OPTS_OK && v.wait == 20000,
	    "duration: a bare number is seconds");
	CHECK(parse(&v, ARGS("--wait", "1m5")) == OPTS_ERROR, "duration: a unitless part after a "
	    "unit");
	CHECK(parse(&v, ARGS("--wait", "0")) == OPTS_ERROR && strstr(v.err, "1ms..1h"),
	    "duration below the minimum names the range: %s", v.err);
	CHECK(parse(&v, ARGS("--wait", "2h")) == OPTS_ERROR, "duration above the maximum");
	CHECK(parse(&v, ARGS("--wait", "soon")) == OPTS_ERROR && strstr(v.err, "--wait") &&
	    strstr(v.err, "duration"), "duration 'soon' refused: %s", v.err);
	CHECK(parse(&v, ARGS("--wait", "5d")) == OPTS_ERROR, "duration: unknown unit d");
}

static void
test_lists_and_positionals(void)
{
	struct vars v;

	CHECK(parse(&v, ARGS("-t", "a", "--tag=b", "-tc")) == OPTS_OK && v.tags.n == 3 &&
	    strcmp(v.tags.v[0], "a") == 0 && strcmp(v.tags.v[2], "c") == 0,
	    "repeatable: every value kept in order");
	CHECK(parse(&v, ARGS("-t", "a", "-t", "b", "-t", "c", "-t", "d")) == OPTS_ERROR &&
	    strstr(v.err, "--tag") && strstr(v.err, "at most 3"), "repeatable: past its room: %s",
	    v.err);
	CHECK(parse(&v, ARGS("x", "-v", "y", "-", "--", "-n", "--tag")) == OPTS_OK && v.npos == 5 &&
	    strcmp(v.pos[0], "x") == 0 && strcmp(v.pos[2], "-") == 0 &&
	    strcmp(v.pos[3], "-n") == 0 && strcmp(v.pos[4], "--tag") == 0 && v.verbose && !v.ns,
	    "positionals anywhere; '-' is one; '--' ends the flags");
	CHECK(parse(&v, ARGS("--func", "Abc")) == OPTS_OK && strcmp(v.funced, "Abc") == 0,
	    "func: the setter stores");
	CHECK(parse(&v, ARGS("--func=abc")) == OPTS_ERROR && strcmp(v.err,
	    "--func: 'abc' must start upper-case") == 0, "func: the setter's error as it is");
}

static void
test_errors(void)
{
	char *argv[] = { "cmd", "file.json" }, err[256];
	struct vars v;

	CHECK(parse(&v, ARGS("--bogus")) == OPTS_ERROR &&
	    strcmp(v.err, "unknown flag '--bogus' (see --help)") == 0, "unknown long flag: %s", v.err);
	CHECK(parse(&v, ARGS("--bogus=1")) == OPTS_ERROR && strstr(v.err, "'--bogus'"),
	    "unknown long flag with a value names the flag only: %s", v.err);
	CHECK(parse(&v, ARGS("-x")) == OPTS_ERROR && strstr(v.err, "'-x'"), "unknown short: %s",
	    v.err);
	CHECK(parse(&v, ARGS("-vz")) == OPTS_ERROR && strstr(v.err, "'-z'") &&
	    strstr(v.err, "-vz"), "unknown short in a run: %s", v.err);
	CHECK(parse(&v, ARGS("--names", "x")) == OPTS_ERROR, "no prefix matching (--names)");
	CHECK(parse(&v, ARGS("--nam")) == OPTS_ERROR, "no prefix matching (--nam)");
	CHECK(parse(&v, ARGS("--namespace")) == OPTS_ERROR &&
	    strcmp(v.err, "--namespace needs a value (NS)") == 0, "missing value: %s", v.err);
	CHECK(parse(&v, ARGS("-n")) == OPTS_ERROR && strstr(v.err, "--namespace needs a value"),
	    "missing value after a short flag: %s", v.err);
	CHECK(parse(&v, ARGS("--help=1")) == OPTS_ERROR && strstr(v.err, "--help"),
	    "--help=1: takes no value");
	CHECK(parse(&v, ARGS("--bogus\nsecond line")) == OPTS_ERROR && !strchr(v.err, '\n'),
	    "a control character in what was typed keeps the error one line: %s", v.err);
	CHECK(parse(&v, ARGS("-c", "1", "--help", "--bogus")) == OPTS_HELP_SHOWN && v.count == 1,
	    "--help stops parsing and asks for the help");
	CHECK(parse(&v, ARGS("-h")) == OPTS_HELP_SHOWN, "-h asks for the help");
	vars_init(&v);
	CHECK(opts_parse(v.g, 2, 2, argv, NULL, NULL, err, sizeof(err)) == OPTS_ERROR &&
	    strstr(err, "unexpected argument 'file.json'"),
	    "a positional where the command takes none: %s", err);
}

static void
test_help(void)
{
	struct vars v;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	vars_init(&v);
	if (!CHECK(f != NULL, "open_memstream"))
		return;
	opts_help(f, v.g, 2);
	fclose(f);
	CHECK(strncmp(text, "first:\n", 7) == 0, "a group's title first");
	CHECK(strstr(text, "\n  -v, --verbose           say more\n") != NULL,
	    "short and long, help in the column (the widest spec + 2)");
	CHECK(strstr(text, "\n  -A, --all[=true|false]  everything\n") != NULL,
	    "a boolean's optional value shown");
	CHECK(strstr(text, "\n  --name NAME             a name\n") != NULL, "long only");
	CHECK(strstr(text, "  -n, --namespace NS      a namespace\n"
	    "                          second line\n") != NULL, "a continuation line aligned");
	CHECK(strstr(text, "\n  -o, --colour red|green|blue\n                          a choice\n"),
	    "a choice lists its values; a long spec puts the help on the next line");
	CHECK(strstr(text, "\n  FILE...                 positional\n") != NULL,
	    "the positional arguments documented");
	CHECK(strstr(text, "\n  -h, --help              this help\n") != NULL, "help row");
	CHECK(strstr(text, "blue\n                          a choice\n\n  --func") != NULL,
	    "a blank line between groups");
	free(text);
}

static void
test_value_parsers(void)
{
	unsigned long long b;
	long ms;
	int t;

	CHECK(opts_parse_size("0", &b) == 0 && b == 0, "size 0 parses (ranges are the rows')");
	CHECK(opts_parse_size("", &b) < 0 && opts_parse_size("KiB", &b) < 0 &&
	    opts_parse_size("1 KiB", &b) < 0 && opts_parse_size("1kib", &b) < 0,
	    "size: empty, unit alone, a space, wrong case refused");
	CHECK(opts_parse_duration("2h30m", &ms) == 0 && ms == 9000000, "duration 2h30m");
	CHECK(opts_parse_duration("", &ms) < 0 && opts_parse_duration("-1s", &ms) < 0 &&
	    opts_parse_duration("1s ", &ms) < 0, "duration: empty, negative, trailing space refused");
	CHECK(opts_parse_bool("true", &t) == 0 && t == 1 && opts_parse_bool("false", &t) == 0 &&
	    t == 0 && opts_parse_bool("1", &t) < 0 && opts_parse_bool("True", &t) < 0,
	    "bool: exactly true or false");
}

int
main(void)
{
	test_spellings();
	test_bools();
	test_numbers();
	test_lists_and_positionals();
	test_errors();
	test_help();
	test_value_parsers();
	return CHECK_DONE();
}
