/* check.h - minimal TAP-style assertions for the unit tests (tests/run.sh counts the lines). */
#ifndef BMHGUARD_CHECK_H
#define BMHGUARD_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

/* Report one case; returns cond so callers can stop on a failed precondition. */
#define CHECK(cond, ...) check_report(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

static inline int
check_report(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#include <stdarg.h>
static inline int
check_report(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!ok) {
		printf("# %s:%d: %s\n", file, line, expr);
		check_failures++;
	}
	return ok;
}

#define CHECK_STR(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	int eq_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0); \
	if (!CHECK(eq_, __VA_ARGS__)) \
		printf("#   got  %s\n#   want %s\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

#define CHECK_DONE() (check_failures ? 1 : 0)

#endif
