/* buf.h - a growable byte buffer whose cap is set at creation: every body read or written. */
#ifndef BMHGUARD_BUF_H
#define BMHGUARD_BUF_H

#include <stddef.h>

enum buf_rc {
	BUF_OK = 0,
	BUF_NOMEM = -1,		/* malloc failed */
	BUF_TOOBIG = -2		/* the bytes would pass the cap */
};

/* The buffer owns data until buf_take() hands it over; buf_free() releases it. data is NULL until
 * something is added, then always NUL-terminated (the NUL counts neither in len nor against max).
 * The first failed add is sticky: later adds do nothing and return the same code, so a writer
 * can check once at the end. Read the fields; change them only through these functions. */
struct buf {
	char *data;
	size_t len;		/* bytes held */
	size_t alloc;		/* bytes allocated, NUL included */
	size_t max;		/* len never passes this */
	enum buf_rc rc;		/* BUF_OK, or the first failure */
};

/* An empty buffer that will never hold more than max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Allocate room for n more bytes now (clamped to the cap), so adds up to that size do not
 * reallocate. A hint: on failure b is unchanged and still usable. */
enum buf_rc buf_reserve(struct buf *b, size_t n);

/* Append n bytes (may include NULs) / a C string. BUF_TOOBIG leaves the bytes held so far. */
enum buf_rc buf_add(struct buf *b, const void *p, size_t n);
enum buf_rc buf_addstr(struct buf *b, const char *s);

/* Empty the buffer and clear a failure; the allocation and the cap stay. */
void buf_reset(struct buf *b);

/* The bytes (NUL-terminated, "" when empty), now the caller's to free(), and their count in *len
 * (len may be NULL); NULL when an add failed or memory ran out. b is empty afterwards either way,
 * with the same cap. */
char *buf_take(struct buf *b, size_t *len);

void buf_free(struct buf *b);

#endif
