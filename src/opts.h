/* opts.h - the one command-line flag parser: a table of rows parses argv and writes --help. */
#ifndef BMHGUARD_OPTS_H
#define BMHGUARD_OPTS_H

#include <stddef.h>
#include <stdio.h>

/*
 * Spellings accepted for a flag with a value: --name V, --name=V, -x V, -xV, -x=V (kubectl's
 * -nmetal3, -n=metal3, -ojson, -o=json). Booleans: --name, --name=true, --name=false, -x, and
 * short booleans run together (-Av). "--" ends the flags; "-" and everything not starting with
 * "-" is a positional argument, wherever it stands. A value is the next argument even when it
 * starts with "-". A flag given twice: the last one wins (OPTS_STRINGS keeps every one).
 */
enum opts_kind {
	OPTS_BOOL,	/* int *: 1, or 0 for =false */
	OPTS_STRING,	/* const char **: the value, borrowed from argv */
	OPTS_STRINGS,	/* struct opts_list *: every value in order; repeatable */
	OPTS_INT,	/* int *: a whole number in min..max */
	OPTS_SIZE,	/* size_t *: bytes in min..max; a bare number, or with KiB, MiB, GiB (Ki, Mi, Gi) */
	OPTS_DURATION,	/* long *: milliseconds in min..max; 500ms, 30s, 5m, 2h, 1m30s, 1.5s; a bare
			 * number is seconds */
	OPTS_CHOICE,	/* int *: the index of the value in choices[] */
	OPTS_FUNC,	/* set(dst, value, err, errlen) checks and stores; returns 0 or -1 with err */
	OPTS_HELP,	/* stop and make opts_parse return OPTS_HELP_SHOWN */
	OPTS_ARGS	/* no flag: documents the positional arguments in --help (arg, help) */
};

/* Repeatable values, in a caller-supplied array of max entries. The strings are argv's. */
struct opts_list {
	const char **v;
	size_t n, max;
};

/* One flag. Rows are the caller's (usually an automatic array pointing at its own variables). */
struct opts_row {
	const char *name;	/* long name without "--" ("namespace"); NULL only for OPTS_ARGS */
	char short_name;	/* 'n' for -n, or 0 */
	enum opts_kind kind;
	void *dst;		/* where the value goes, typed by kind (above) */
	const char *arg;	/* the value's name in --help ("NS", "DURATION"); for OPTS_BOOL an
				 * optional "true|false" shown as --name[=true|false] */
	const char *help;	/* "\n" starts a continuation line */
	long long min, max;	/* OPTS_INT, OPTS_SIZE (bytes), OPTS_DURATION (ms) */
	const char *const *choices;	/* OPTS_CHOICE: NULL-terminated */
	int (*set)(void *dst, const char *value, char *err, size_t errlen);	/* OPTS_FUNC */
	unsigned seen;		/* written by opts_parse: how many times the flag was given */
};

/* A titled section of a command's flags; a command's table is its groups, in --help order. */
struct opts_group {
	const char *title;	/* heading line(s) in --help, e.g. "selection:"; NULL: none */
	struct opts_row *rows;
	size_t nrows;
};

#define OPTS_NROWS(a) (sizeof(a) / sizeof((a)[0]))

enum {
	OPTS_OK = 0,
	OPTS_HELP_SHOWN = 1,	/* an OPTS_HELP flag was given: print the help, exit 0 */
	OPTS_ERROR = -1		/* err holds one line naming the flag and what it wants */
};

/*
 * Parse argv[1..argc-1] (argv[0] is the command) against every row of every group: resets each
 * row's seen, stores values, and collects positional arguments into pos (room for argc entries)
 * and *npos. pos NULL: the command takes none and one is an error. Returns OPTS_OK,
 * OPTS_HELP_SHOWN or OPTS_ERROR.
 */
int opts_parse(struct opts_group *groups, size_t ngroups, int argc, char **argv, char **pos,
    int *npos, char *err, size_t errlen);

/* How many times the flag with this long name was given in the last opts_parse (0 if unknown). */
unsigned opts_seen(const struct opts_group *groups, size_t ngroups, const char *name);

/* The flag section of --help, generated from the same rows: each group's title, then one entry
 * a row ("  -n, --namespace NS" and its help, aligned), a blank line after each group. */
void opts_help(FILE *f, const struct opts_group *groups, size_t ngroups);

/* The value parsers the kinds use, for callers and tests. 0, or -1 when s is not one. */
int opts_parse_size(const char *s, unsigned long long *bytes);
int opts_parse_duration(const char *s, long *ms);
int opts_parse_bool(const char *s, int *b);

#endif
