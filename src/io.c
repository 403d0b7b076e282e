/* io.c - whole-buffer I/O: write every byte to a descriptor, read a stream to its end under a cap. */
#include "io.h"

#include <errno.h>
#include <unistd.h>

int
io_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;	/* write(2) wrote nothing and said nothing: do not spin */
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
io_read_all(FILE *f, struct buf *b)
{
	char chunk[65536];
	size_t n;

	do {
		n = fread(chunk, 1, sizeof(chunk), f);
		if (n > 0 && buf_add(b, chunk, n) != BUF_OK) {
			errno = b->rc == BUF_TOOBIG ? EFBIG : ENOMEM;
			return -1;
		}
	} while (n == sizeof(chunk));
	if (ferror(f)) {
		if (errno == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}
