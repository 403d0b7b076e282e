/* io.h - whole-buffer I/O: write every byte to a descriptor, read a stream to its end under a cap. */
#ifndef BMHGUARD_IO_H
#define BMHGUARD_IO_H

#include <stddef.h>
#include <stdio.h>

#include "buf.h"

/* Write all n bytes of p to fd, retrying short writes and EINTR. Returns 0, or -1 with errno. */
int io_write_all(int fd, const void *p, size_t n);

/* Append what f holds up to its end to b. Returns 0, or -1 with errno: EFBIG when b's cap is
 * reached before the end, ENOMEM, or what reading failed with. b keeps what was read either
 * way and stays the caller's. */
int io_read_all(FILE *f, struct buf *b);

#endif
