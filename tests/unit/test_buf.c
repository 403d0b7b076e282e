/* test_buf.c - the capped buffer in src/buf.c and whole-buffer I/O in src/io.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "io.h"

static void
test_empty(void)
{
	struct buf b;
	size_t len = 99;
	char *s;

	buf_init(&b, 10);
	CHECK(b.data == NULL && b.len == 0 && b.alloc == 0 && b.max == 10 && b.rc == BUF_OK,
	    "init allocates nothing");
	s = buf_take(&b, &len);
	CHECK(s != NULL && *s == '\0' && len == 0, "take of an empty buffer is \"\", 0 bytes");
	free(s);
	CHECK(b.data == NULL && b.len == 0 && b.max == 10, "take leaves the buffer empty, cap kept");
	buf_free(&b);
	buf_free(&b);
	CHECK(b.data == NULL, "free twice is harmless");
}

static void
test_cap(void)
{
	struct buf b;
	size_t len;
	char *s;

	buf_init(&b, 8);
	CHECK(buf_add(&b, "abcd", 4) == BUF_OK && b.len == 4 && strcmp(b.data, "abcd") == 0,
	    "4 bytes of 8: %s", b.data ? b.data : "(null)");
	CHECK(buf_add(&b, "efgh", 4) == BUF_OK && b.len == 8 && b.data[8] == '\0',
	    "exactly the cap fits, NUL after it");
	CHECK(b.alloc <= b.max + 1, "never allocates past the cap and its NUL: %zu", b.alloc);
	CHECK(buf_add(&b, "i", 1) == BUF_TOOBIG, "one byte past the cap: BUF_TOOBIG");
	CHECK(b.len == 8 && strcmp(b.data, "abcdefgh") == 0, "what was held stays, unchanged");
	CHECK(buf_add(&b, "", 0) == BUF_TOOBIG && buf_addstr(&b, "x") == BUF_TOOBIG,
	    "the failure is sticky: later adds return it");
	s = buf_take(&b, &len);
	CHECK(s == NULL && len == 0, "take after a failure gives NULL");
	CHECK(b.data == NULL && b.rc == BUF_OK && b.max == 8, "and leaves an empty, usable buffer");
	CHECK(buf_addstr(&b, "again") == BUF_OK && strcmp(b.data, "again") == 0,
	    "usable again after take");
	buf_free(&b);

	buf_init(&b, 0);
	CHECK(buf_add(&b, "", 0) == BUF_OK && b.data != NULL && *b.data == '\0',
	    "cap 0 takes nothing but is still a string");
	CHECK(buf_add(&b, "a", 1) == BUF_TOOBIG, "cap 0 refuses a byte");
	buf_free(&b);

	buf_init(&b, 4);
	CHECK(buf_add(&b, "abcdefgh", 8) == BUF_TOOBIG && b.len == 0,
	    "one add larger than the cap is refused whole");
	buf_free(&b);

	buf_init(&b, SIZE_MAX);
	CHECK(b.max < SIZE_MAX / 2, "a cap of SIZE_MAX is clamped so growth cannot overflow");
	CHECK(buf_add(&b, "x", SIZE_MAX - 1) == BUF_TOOBIG, "an add near SIZE_MAX is refused");
	buf_free(&b);
}

static void
test_growth(void)
{
	struct buf b;
	char chunk[1000];
	size_t i, reallocs = 0, last = 0;
	int intact = 1;

	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)('a' + i % 26);
	buf_init(&b, 1 << 20);
	for (i = 0; i < 1000; i++) {
		if (buf_add(&b, chunk, sizeof(chunk)) != BUF_OK)
			break;
		if (b.alloc != last) {
			reallocs++;
			last = b.alloc;
		}
	}
	CHECK(i == 1000 && b.len == 1000000, "a million bytes in 1000 adds: %zu", b.len);
	CHECK(reallocs <= 20, "growth doubles: %zu allocations for 1000 adds", reallocs);
	for (i = 0; i < b.len; i++)
		if (b.data[i] != (char)('a' + (i % 1000) % 26)) {
			intact = 0;
			break;
		}
	CHECK(intact && b.data[b.len] == '\0', "the bytes survive every reallocation, NUL-terminated");
	CHECK(b.alloc <= b.max + 1, "growth stops at the cap: alloc %zu, cap %zu", b.alloc, b.max);
	buf_free(&b);

	buf_init(&b, 100);
	CHECK(buf_add(&b, "a\0b", 3) == BUF_OK && b.len == 3 && memcmp(b.data, "a\0b", 4) == 0,
	    "embedded NULs are bytes like any other");
	buf_free(&b);
}

static void
test_reserve_reset(void)
{
	struct buf b;
	char *before;

	buf_init(&b, 100000);
	CHECK(buf_reserve(&b, 65536) == BUF_OK && b.alloc >= 65537 && b.len == 0,
	    "reserve allocates ahead without adding: alloc %zu", b.alloc);
	before = b.data;
	buf_add(&b, "x", 1);
	CHECK(b.data == before, "an add inside the reservation does not reallocate");
	buf_free(&b);

	buf_init(&b, 10);
	CHECK(buf_reserve(&b, 1 << 30) == BUF_OK && b.alloc == 11,
	    "reserve is clamped to the cap: alloc %zu", b.alloc);
	buf_addstr(&b, "0123456789");
	buf_addstr(&b, "!");
	CHECK(b.rc == BUF_TOOBIG, "failed on purpose");
	before = b.data;
	buf_reset(&b);
	CHECK(b.rc == BUF_OK && b.len == 0 && b.data == before && *b.data == '\0' && b.max == 10,
	    "reset empties, clears the failure, keeps the allocation and the cap");
	CHECK(buf_addstr(&b, "ok") == BUF_OK && strcmp(b.data, "ok") == 0, "usable after reset");
	buf_free(&b);
}

static void
test_io(void)
{
	struct buf b;
	FILE *f;
	char big[5000], back[5000];
	int fds[2];
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)i;
	f = tmpfile();
	if (!CHECK(f != NULL, "tmpfile"))
		return;
	fwrite(big, 1, sizeof(big), f);
	rewind(f);
	buf_init(&b, sizeof(big));
	CHECK(io_read_all(f, &b) == 0 && b.len == sizeof(big) && memcmp(b.data, big, b.len) == 0,
	    "read a stream of exactly the cap: %zu bytes", b.len);
	buf_free(&b);

	rewind(f);
	buf_init(&b, sizeof(big) - 1);
	errno = 0;
	CHECK(io_read_all(f, &b) == -1 && errno == EFBIG, "a byte over the cap: EFBIG (errno %d)",
	    errno);
	buf_free(&b);
	fclose(f);

	if (!CHECK(pipe(fds) == 0, "pipe"))
		return;
	CHECK(io_write_all(fds[1], big, sizeof(big)) == 0, "write_all to a pipe");
	close(fds[1]);
	CHECK(read(fds[0], back, sizeof(back)) == (ssize_t)sizeof(back) &&
	    memcmp(back, big, sizeof(big)) == 0, "every byte arrives");
	close(fds[0]);
	errno = 0;
	CHECK(io_write_all(-1, "x", 1) == -1 && errno == EBADF, "a bad descriptor: -1, EBADF");
}

int
main(void)
{
	test_empty();
	test_cap();
	test_growth();
	test_reserve_reset();
	test_io();
	return CHECK_DONE();
}
