/* cmd_rewrite.c - `bmhguard rewrite`: show what the rewrite rules do to each URL given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "opts.h"
#include "policy.h"

static void
rewrite_usage(FILE *f, const struct opts_group *g, size_t ng)
{
	fprintf(f,
	    "usage: bmhguard rewrite [flags] URL...\n\n"
	    "Prints each URL and its rewrite (\"URL -> NEW\"), or why it is left unchanged\n"
	    "(\"URL unchanged: REASON\"). Nothing is contacted. \"--\" before a URL that starts\n"
	    "with a dash.\n\n");
	opts_help(f, g, ng);
}

int
cmd_rewrite(int argc, char **argv)
{
	struct policy *p = policy_new();
	struct opts_row help_rows[] = {
		{ .name = "help", .short_name = 'h', .kind = OPTS_HELP, .help = "this help" },
	};
	struct opts_group g[2];
	char err[256], *out, **urls = NULL;
	enum policy_verdict v;
	int i, rc = EXIT_USAGE, nurls = 0;

	if (p == NULL || (urls = calloc((size_t)argc, sizeof(*urls))) == NULL) {
		fprintf(stderr, "bmhguard rewrite: out of memory\n");
		rc = EXIT_FAILED;
		goto out;
	}
	g[0] = policy_opts(p);
	g[1] = (struct opts_group){ NULL, help_rows, OPTS_NROWS(help_rows) };
	switch (opts_parse(g, OPTS_NROWS(g), argc, argv, urls, &nurls, err, sizeof(err))) {
	case OPTS_HELP_SHOWN:
		rewrite_usage(stdout, g, OPTS_NROWS(g));
		rc = EXIT_OK;
		goto out;
	case OPTS_ERROR:
		fprintf(stderr, "bmhguard rewrite: %s\n", err);
		goto out;
	}
	if (nurls == 0) {
		fprintf(stderr, "bmhguard rewrite: no URL given (see --help)\n");
		goto out;
	}
	for (i = 0; i < nurls; i++) {
		if (policy_rewrite(p, urls[i], &out, &v) != 0) {
			fprintf(stderr, "bmhguard rewrite: out of memory\n");
			rc = EXIT_FAILED;
			goto out;
		}
		if (v == POLICY_REWRITE)
			printf("%s -> %s\n", urls[i], out);
		else
			printf("%s unchanged: %s\n", urls[i], policy_verdict_str(v));
		free(out);
	}
	rc = EXIT_OK;
out:
	free(urls);
	policy_free(p);
	return rc;
}
