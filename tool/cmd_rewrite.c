/* cmd_rewrite.c - `bmhguard rewrite`: show what the rewrite rules do to each URL given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "policy.h"

static void
rewrite_usage(FILE *f)
{
	fprintf(f,
	    "usage: bmhguard rewrite [flags] URL...\n\n"
	    "Prints each URL and its rewrite (\"URL -> NEW\"), or why it is left unchanged\n"
	    "(\"URL unchanged: REASON\"). Nothing is contacted.\n\n"
	    "%s"
	    "  -h, --help                 this help\n", policy_flags_help());
}

int
cmd_rewrite(int argc, char **argv)
{
	struct policy *p = policy_new();
	char err[256], *out;
	enum policy_verdict v;
	int i = 1, rc = EXIT_USAGE, nurls = 0, r;

	if (p == NULL) {
		fprintf(stderr, "bmhguard rewrite: out of memory\n");
		return EXIT_FAILED;
	}
	/* flags first, then URLs; "--" ends flags so a URL may start with "-" */
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			rewrite_usage(stdout);
			rc = EXIT_OK;
			goto out;
		}
		r = policy_parse_flag(p, argc, argv, &i, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "bmhguard rewrite: %s\n", err);
			goto out;
		}
		if (r == 0) {
			fprintf(stderr, "bmhguard rewrite: unknown flag '%s' (see --help)\n", argv[i]);
			goto out;
		}
	}
	for (; i < argc; i++, nurls++) {
		if (policy_rewrite(p, argv[i], &out, &v) != 0) {
			fprintf(stderr, "bmhguard rewrite: out of memory\n");
			rc = EXIT_FAILED;
			goto out;
		}
		if (v == POLICY_REWRITE)
			printf("%s -> %s\n", argv[i], out);
		else
			printf("%s unchanged: %s\n", argv[i], policy_verdict_str(v));
		free(out);
	}
	if (nurls == 0) {
		fprintf(stderr, "bmhguard rewrite: no URL given (see --help)\n");
		goto out;
	}
	rc = EXIT_OK;
out:
	policy_free(p);
	return rc;
}
