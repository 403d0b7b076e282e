/* simd.h - simdjson behind a C API: validate a JSON document and replay it as events. */
#ifndef BMHGUARD_SIMD_H
#define BMHGUARD_SIMD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What an event handler returns. */
enum simd_next {
	SIMD_STOP = 0,		/* end the walk: simd_read returns SIMD_STOPPED */
	SIMD_GO = 1,
	SIMD_SKIP = 2		/* from open: leave the container unvisited (no close follows) */
};

/* What a document's walk reports, in document order; each returns an enum simd_next. Strings and
 * keys are decoded (escapes resolved), may hold NULs, are not NUL-terminated and are borrowed for
 * the call only. A skipped container costs nothing: simdjson has validated it already. */
struct simd_events {
	int (*open)(void *ctx, int is_object);
	int (*close)(void *ctx);
	int (*key)(void *ctx, const char *key, size_t len);
	int (*string)(void *ctx, const char *s, size_t len);
	int (*scalar)(void *ctx);	/* a number, true, false or null */
};

enum simd_status {
	SIMD_OK = 0,
	SIMD_STOPPED,		/* an event handler returned 0 */
	SIMD_INVALID,		/* not JSON (grammar, UTF-8, trailing data, unescaped control byte) */
	SIMD_OUT_OF_RANGE,	/* a number or a \u escape simdjson will not hold: an integer past 64
				 * bits, a number past double range, a lone UTF-16 surrogate; or a
				 * malformed number or escape (simdjson does not tell these apart) */
	SIMD_TOO_DEEP,		/* containers nested deeper than max_depth */
	SIMD_NOMEM
};

/* Parse exactly len bytes (simdjson copies them into a padded buffer of its own) with containers
 * nested at most max_depth deep, then walk the whole document through ev. Safe from many threads
 * at once: each thread reuses a parser of its own for small texts, and texts above 64 KiB are
 * parsed one at a time (see simd.cc), so a handler must not call simd_read itself. On a status other than SIMD_OK and SIMD_STOPPED, *why is simdjson's reason
 * (static). */
enum simd_status simd_read(const char *text, size_t len, size_t max_depth,
    const struct simd_events *ev, void *ctx, const char **why);

#ifdef __cplusplus
}
#endif

#endif
