/* buf.c - a growable byte buffer whose cap is set at creation: every body read or written. */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation: small texts (a log line, a patch) fit without growing. */
#define BUF_FIRST 256

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->alloc = 0;
	/* alloc holds max + 1 bytes, and doubling must not overflow */
	b->max = max < SIZE_MAX / 4 ? max : SIZE_MAX / 4;
	b->rc = BUF_OK;
}

/* Make alloc at least need (<= max + 1): double, so n adds cost O(n) copies, but never past the
 * cap, so a capped body costs at most its cap. */
static enum buf_rc
grow(struct buf *b, size_t need)
{
	size_t a = b->alloc ? b->alloc : BUF_FIRST;
	char *p;

	while (a < need)
		a *= 2;
	if (a > b->max + 1)
		a = b->max + 1;
	if ((p = realloc(b->data, a)) == NULL)
		return BUF_NOMEM;
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->alloc = a;
	return BUF_OK;
}

enum buf_rc
buf_reserve(struct buf *b, size_t n)
{
	if (b->rc != BUF_OK)
		return b->rc;
	if (n > b->max - b->len)
		n = b->max - b->len;
	if (b->len + n + 1 <= b->alloc)
		return BUF_OK;
	return grow(b, b->len + n + 1);
}

enum buf_rc
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->rc != BUF_OK)
		return b->rc;
	if (n > b->max - b->len)
		return b->rc = BUF_TOOBIG;
	if (b->len + n + 1 > b->alloc && (b->rc = grow(b, b->len + n + 1)) != BUF_OK)
		return b->rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return BUF_OK;
}

enum buf_rc
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
	b->rc = BUF_OK;
}

char *
buf_take(struct buf *b, size_t *len)
{
	char *out = NULL;

	if (b->rc == BUF_OK) {
		if (b->data == NULL)
			b->data = calloc(1, 1);	/* "" for an empty buffer, as for any other */
		out = b->data;
		b->data = NULL;
	}
	if (len != NULL)
		*len = out != NULL ? b->len : 0;
	buf_free(b);
	return out;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}
