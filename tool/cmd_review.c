/* cmd_review.c - `bmhguard review`: answer one AdmissionReview from stdin, exactly as serve does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "commands.h"
#include "opts.h"
#include "io.h"
#include "policy.h"
#include "review.h"

static void
review_usage(FILE *f, const struct opts_group *g, size_t ng)
{
	fprintf(f,
	    "usage: bmhguard review [flags] < review.json\n\n"
	    "Reads one AdmissionReview (admission.k8s.io/v1) on stdin and prints the response review\n"
	    "the webhook would send, through the same code path as `bmhguard serve`. Input that is not\n"
	    "a valid review: one line on stderr, exit 2.\n\n");
	opts_help(f, g, ng);
}

/* Read all of f, refusing more than b's cap. Returns 0, or -1 with one line in err. */
static int
read_input(FILE *f, struct buf *b, char *err, size_t errlen)
{
	if (io_read_all(f, b) == 0)
		return 0;
	if (errno == EFBIG)
		snprintf(err, errlen, "input larger than %zu bytes (see --max-body)", b->max);
	else if (errno == ENOMEM)
		snprintf(err, errlen, "out of memory");
	else
		snprintf(err, errlen, "reading input: %s", strerror(errno));
	return -1;
}

int
cmd_review(int argc, char **argv)
{
	struct policy *p = policy_new();
	struct review_result res;
	struct buf body;
	size_t limit = REVIEW_DEFAULT_MAX_BODY, k;
	char err[512];
	int rc = EXIT_USAGE, verbose = 0;
	struct opts_row rows[] = {
		{ .name = "max-body", .kind = OPTS_SIZE, .dst = &limit, .arg = "SIZE",
		  .min = 1, .max = 1LL << 40, .help = "largest input accepted, in bytes or with KiB,\n"
		  "MiB or GiB (default 8MiB)" },
		{ .name = "verbose", .short_name = 'v', .kind = OPTS_BOOL, .dst = &verbose,
		  .help = "also list each rewrite, would-rewrite and withhold on stderr" },
		{ .name = "help", .short_name = 'h', .kind = OPTS_HELP, .help = "this help" },
	};
	struct opts_group g[2];

	_Static_assert(REVIEW_DEFAULT_MAX_BODY == 8 << 20, "the help says 8MiB");
	memset(&res, 0, sizeof(res));
	buf_init(&body, 0);
	if (p == NULL) {
		fprintf(stderr, "bmhguard review: out of memory\n");
		return EXIT_FAILED;
	}
	g[0] = policy_opts(p);
	g[1] = (struct opts_group){ NULL, rows, OPTS_NROWS(rows) };
	switch (opts_parse(g, OPTS_NROWS(g), argc, argv, NULL, NULL, err, sizeof(err))) {
	case OPTS_HELP_SHOWN:
		review_usage(stdout, g, OPTS_NROWS(g));
		rc = EXIT_OK;
		goto out;
	case OPTS_ERROR:
		fprintf(stderr, "bmhguard review: %s\n", err);
		goto out;
	}
	buf_init(&body, limit);
	if (read_input(stdin, &body, err, sizeof(err)) != 0 ||
	    review_handle(p, body.data ? body.data : "", body.len, &res, err, sizeof(err)) != 0) {
		fprintf(stderr, "bmhguard review: %s\n", err);
		goto out;
	}
	if (verbose) {
		for (k = 0; k < res.nchanges; k++)
			fprintf(stderr, "%s %s: %s -> %s\n", review_action_str(res.changes[k].action),
			    review_field_str(res.changes[k].field), res.changes[k].from,
			    res.changes[k].to);
		fprintf(stderr, "outcome: %s\n", review_outcome_str(res.outcome));
	}
	fwrite(res.response, 1, res.response_len, stdout);
	fputc('\n', stdout);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
out:
	review_result_free(&res);
	buf_free(&body);
	policy_free(p);
	return rc;
}
