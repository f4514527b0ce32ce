/*
 * Fuzz the imsg reader.  The input is what a hostile peer writes on its
 * end of the socketpair, in chunks of varying size; the other end reads
 * it with imsgbuf_read() and imsg_get() until EOF or an error, once
 * without and once with descriptor passing allowed.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "imsg.h"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 drain(struct imsgbuf *, struct imsgbuf *);
static void	 feed(const uint8_t *, size_t, int);

/* Take every complete message; returns 0 at EOF or on an error. */
static int
drain(struct imsgbuf *ib, struct imsgbuf *sink)
{
	struct imsg	 imsg;
	uint32_t	 word;
	ssize_t		 n;
	int		 r, fd;

	if ((r = imsgbuf_read(ib)) != 1)
		return 0;
	while ((n = imsg_get(ib, &imsg)) > 0) {
		if ((size_t)n != imsg_get_len(&imsg) + IMSG_HEADER_SIZE)
			abort();
		if ((fd = imsg_get_fd(&imsg)) != -1)
			close(fd);
		if (imsg_get_type(&imsg) % 2 == 0)
			(void)imsg_get_data(&imsg, &word, sizeof(word));
		else
			(void)imsg_forward(sink, &imsg);
		imsg_free(&imsg);
	}
	return n == 0;
}

static void
feed(const uint8_t *data, size_t size, int fdpass)
{
	struct imsgbuf	 ib, sink;
	size_t		 off = 0, chunk;
	ssize_t		 n;
	uint32_t	 lcg = size;
	int		 sv[2], alive = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1 ||
	    imsgbuf_init(&ib, sv[1]) == -1 || imsgbuf_init(&sink, -1) == -1)
		abort();
	if (fdpass)
		imsgbuf_allow_fdpass(&ib);

	while (alive && off < size) {
		lcg = lcg * 1103515245 + 12345;
		chunk = 1 + (lcg >> 16) % (lcg & 0x100 ? 32 : 2048);
		if (chunk > size - off)
			chunk = size - off;
		if ((n = write(sv[0], data + off, chunk)) == -1 &&
		    errno != EAGAIN)
			abort();
		if (n > 0)
			off += n;
		alive = drain(&ib, &sink);
	}
	shutdown(sv[0], SHUT_WR);
	while (alive)
		alive = drain(&ib, &sink);

	close(sv[0]);
	close(sv[1]);
	imsgbuf_clear(&ib);
	imsgbuf_clear(&sink);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	feed(data, size, 0);
	feed(data, size, 1);
	return 0;
}
