/* main.c - the bmhguard tool: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "commands.h"

#ifndef BMHGUARD_VERSION
#define BMHGUARD_VERSION "0.0.0-dev"
#endif

static const struct command {
	const char *name;
	int (*run)(int, char **);
	const char *summary;
} commands[] = {
	{ "serve",   cmd_serve,   "run the TLS mutating admission webhook" },
	{ "repair",  cmd_repair,  "repair hosts that already carry literal-IP image URLs (runbook, automated)" },
	{ "certs",   cmd_certs,   "make or check the webhook's serving certificate" },
	{ "rewrite", cmd_rewrite, "show how URLs would be rewritten (offline)" },
	{ "review",  cmd_review,  "answer an AdmissionReview read from stdin (offline, same code as serve)" },
};

/* Installed as kubectl-bmhguard, kubectl runs it as a plugin ("kubectl bmhguard repair -A")
 * with the same arguments; only the name the help shows differs. */
static const char *
prog_name(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	base = base ? base + 1 : argv0;
	return strcmp(base, "kubectl-bmhguard") == 0 ? "kubectl bmhguard" : "bmhguard";
}

static void
usage(FILE *f, const char *prog)
{
	size_t i;

	fprintf(f,
	    "usage: %s COMMAND [flags]\n"
	    "       %s COMMAND --help\n"
	    "       %s --version\n\n"
	    "Keeps Metal3 BareMetalHost image URLs on a stable service name instead of a literal IP.\n\n"
	    "commands:\n", prog, prog, prog);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nexit codes: 0 ok, 1 some work failed, 2 usage or input error\n");
}

int
main(int argc, char **argv)
{
	size_t i;
	int rc;

	if (argc < 2) {
		usage(stderr, prog_name(argv[0]));
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout, prog_name(argv[0]));
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("bmhguard %s\n", BMHGUARD_VERSION);
		return EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		/* before any thread starts: libcurl's global state is not thread-safe to set up */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fprintf(stderr, "bmhguard: cannot initialise libcurl\n");
			return EXIT_FAILED;
		}
		rc = commands[i].run(argc - 1, argv + 1);
		curl_global_cleanup();
		return rc;
	}
	fprintf(stderr, "bmhguard: unknown command '%s' (see bmhguard --help)\n", argv[1]);
	return EXIT_USAGE;
}
