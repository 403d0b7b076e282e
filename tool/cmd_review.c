/* cmd_review.c - `bmhguard review`: answer one AdmissionReview from stdin, exactly as serve does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "commands.h"
#include "io.h"
#include "policy.h"
#include "review.h"

static void
review_usage(FILE *f)
{
	fprintf(f,
	    "usage: bmhguard review [flags] < review.json\n\n"
	    "Reads one AdmissionReview (admission.k8s.io/v1) on stdin and prints the response review\n"
	    "the webhook would send, through the same code path as `bmhguard serve`. Input that is not\n"
	    "a valid review: one line on stderr, exit 2.\n\n"
	    "%s"
	    "  --max-body BYTES           largest input accepted (default %zu)\n"
	    "  -v, --verbose              also list each rewrite, would-rewrite and withhold on stderr\n"
	    "  -h, --help                 this help\n", policy_flags_help(), REVIEW_DEFAULT_MAX_BODY);
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

static int
parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

int
cmd_review(int argc, char **argv)
{
	struct policy *p = policy_new();
	struct review_result res;
	struct buf body;
	size_t limit = REVIEW_DEFAULT_MAX_BODY, k;
	char err[512];
	int i = 1, rc = EXIT_USAGE, verbose = 0, r;

	memset(&res, 0, sizeof(res));
	buf_init(&body, 0);
	if (p == NULL) {
		fprintf(stderr, "bmhguard review: out of memory\n");
		return EXIT_FAILED;
	}
	while (i < argc) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			review_usage(stdout);
			rc = EXIT_OK;
			goto out;
		} else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
			verbose = 1;
			i++;
		} else if (strncmp(argv[i], "--max-body", 10) == 0 &&
		    (argv[i][10] == '\0' || argv[i][10] == '=')) {
			/* "--max-body N" or "--max-body=N", like the rewrite flags */
			const char *v = argv[i][10] == '=' ? argv[i] + 11 :
			    i + 1 < argc ? argv[i + 1] : NULL;

			if (parse_size(v, &limit) != 0) {
				fprintf(stderr, "bmhguard review: --max-body needs a positive byte count\n");
				goto out;
			}
			i += argv[i][10] == '=' ? 1 : 2;
		} else if ((r = policy_parse_flag(p, argc, argv, &i, err, sizeof(err))) != 1) {
			if (r == 0)
				fprintf(stderr, "bmhguard review: unknown argument '%s' (see --help)\n",
				    argv[i]);
			else
				fprintf(stderr, "bmhguard review: %s\n", err);
			goto out;
		}
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
