/*
 * imsg: framed messages over a stream socket, with descriptor passing.
 * The API and wire format are those of OpenBSD libutil (see imsg.h for
 * where we differ); the code is our own.
 *
 * Writing: every composed message is one ibuf (two for
 * imsg_compose_ibuf()) on a write queue.  imsgbuf_write() hands as much of
 * the queue as fits in one sendmsg(2) to the kernel and keeps the rest,
 * including the unsent tail of a message cut by a partial write.  A
 * descriptor travels with the first byte of its message: a buffer that
 * carries one always starts a new sendmsg().
 *
 * Reading: imsgbuf_read() reads what the socket has into a raw buffer and
 * cuts it into messages as soon as their bytes are there; complete ones
 * wait on a read queue for imsg_get().  Nothing the peer sends is trusted:
 * a header is checked before any memory is sized from it, a bad header
 * stops the stream for good, and at most one received descriptor waits
 * for the header that claims it, so a peer cannot pile up descriptors.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

#define IMSG_ALLOW_FDPASS	0x01

#ifndef IOV_MAX
#define IOV_MAX			1024
#endif

/* received descriptors must not leak into programs we exec */
#ifdef MSG_CMSG_CLOEXEC
#define IMSG_RECV_FLAGS		MSG_CMSG_CLOEXEC
#else
#define IMSG_RECV_FLAGS		0
#endif

/* a peer that went away is an error, not a SIGPIPE */
#ifdef MSG_NOSIGNAL
#define IMSG_SEND_FLAGS		MSG_NOSIGNAL
#else
#define IMSG_SEND_FLAGS		0
#endif

struct msgbuf {
	TAILQ_HEAD(, ibuf)	 wq;		/* to write */
	uint32_t		 wcount;
	size_t			 wbytes;
	TAILQ_HEAD(, ibuf)	 rq;		/* read, for imsg_get() */
	struct ibuf		*rmsg;		/* being read */
	int			 rfd;		/* received, not yet claimed */
	int			 rerr;		/* errno: the stream broke */
	size_t			 rlen;
	unsigned char		 rbuf[IBUF_READ_SIZE];
};

static int	 ibuf_grow(struct ibuf *, size_t);
static struct msgbuf *msgbuf_new(void);
static void	 msgbuf_free(struct msgbuf *);
static void	 msgbuf_drain(struct msgbuf *, size_t);
static int	 msgbuf_send(struct imsgbuf *);
static void	 msgbuf_recv_fds(struct msgbuf *, struct msghdr *);
static int	 msgbuf_parse(struct imsgbuf *);

/*
 * ibuf
 */

struct ibuf *
ibuf_open(size_t len)
{
	struct ibuf	*buf;

	if (len == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return NULL;
	if ((buf->buf = calloc(len, 1)) == NULL) {
		free(buf);
		return NULL;
	}
	buf->size = buf->max = len;
	buf->fd = -1;
	return buf;
}

struct ibuf *
ibuf_dynamic(size_t len, size_t max)
{
	struct ibuf	*buf;

	if (max == 0 || max < len) {
		errno = EINVAL;
		return NULL;
	}
	if ((buf = calloc(1, sizeof(*buf))) == NULL)
		return NULL;
	/* never a NULL buffer: no arithmetic on a null pointer later */
	buf->size = len > 0 ? len : 1;
	if ((buf->buf = calloc(buf->size, 1)) == NULL) {
		free(buf);
		return NULL;
	}
	buf->max = max;
	buf->fd = -1;
	return buf;
}

/* Make room for len more bytes at wpos, within the buffer's limit. */
static int
ibuf_grow(struct ibuf *buf, size_t len)
{
	unsigned char	*p;
	size_t		 need, size;

	if (len > SIZE_MAX - buf->wpos || buf->wpos + len > buf->max) {
		errno = ERANGE;
		return -1;
	}
	need = buf->wpos + len;
	if (need <= buf->size)
		return 0;
	size = buf->size < buf->max / 2 ? buf->size * 2 : buf->max;
	if (size < need)
		size = need;
	/* recallocarray clears the old memory: payloads may be secrets */
	if ((p = recallocarray(buf->buf, buf->size, size, 1)) == NULL)
		return -1;
	buf->buf = p;
	buf->size = size;
	return 0;
}

void *
ibuf_reserve(struct ibuf *buf, size_t len)
{
	void	*p;

	if (ibuf_grow(buf, len) == -1)
		return NULL;
	p = buf->buf + buf->wpos;
	buf->wpos += len;
	return p;
}

int
ibuf_add(struct ibuf *buf, const void *data, size_t len)
{
	void	*p;

	if (len == 0)
		return 0;
	if ((p = ibuf_reserve(buf, len)) == NULL)
		return -1;
	memcpy(p, data, len);
	return 0;
}

int
ibuf_add_ibuf(struct ibuf *buf, const struct ibuf *from)
{
	return ibuf_add(buf, ibuf_data(from), ibuf_size(from));
}

int
ibuf_add_buf(struct ibuf *buf, const struct ibuf *from)
{
	return ibuf_add_ibuf(buf, from);
}

int
ibuf_add_zero(struct ibuf *buf, size_t len)
{
	void	*p;

	if (len == 0)
		return 0;
	if ((p = ibuf_reserve(buf, len)) == NULL)
		return -1;
	memset(p, 0, len);
	return 0;
}

int
ibuf_add_n8(struct ibuf *buf, uint64_t value)
{
	uint8_t	v;

	if (value > UINT8_MAX) {
		errno = EINVAL;
		return -1;
	}
	v = value;
	return ibuf_add(buf, &v, sizeof(v));
}

int
ibuf_add_n16(struct ibuf *buf, uint64_t value)
{
	uint16_t	v;

	if (value > UINT16_MAX) {
		errno = EINVAL;
		return -1;
	}
	v = htobe16(value);
	return ibuf_add(buf, &v, sizeof(v));
}

int
ibuf_add_n32(struct ibuf *buf, uint64_t value)
{
	uint32_t	v;

	if (value > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	v = htobe32(value);
	return ibuf_add(buf, &v, sizeof(v));
}

int
ibuf_add_n64(struct ibuf *buf, uint64_t value)
{
	uint64_t	v;

	v = htobe64(value);
	return ibuf_add(buf, &v, sizeof(v));
}

/* The len bytes at offset pos from the read position, if all are there. */
void *
ibuf_seek(struct ibuf *buf, size_t pos, size_t len)
{
	if (pos > ibuf_size(buf) || len > ibuf_size(buf) - pos) {
		errno = ERANGE;
		return NULL;
	}
	return buf->buf + buf->rpos + pos;
}

int
ibuf_set(struct ibuf *buf, size_t pos, const void *data, size_t len)
{
	void	*p;

	if ((p = ibuf_seek(buf, pos, len)) == NULL)
		return -1;
	if (len > 0)
		memcpy(p, data, len);
	return 0;
}

void *
ibuf_data(const struct ibuf *buf)
{
	if (buf->buf == NULL)
		return NULL;
	return buf->buf + buf->rpos;
}

size_t
ibuf_size(const struct ibuf *buf)
{
	return buf->wpos - buf->rpos;
}

size_t
ibuf_left(const struct ibuf *buf)
{
	if (buf->max == 0)
		return 0;
	return buf->max - buf->wpos;
}

int
ibuf_truncate(struct ibuf *buf, size_t len)
{
	if (ibuf_size(buf) >= len) {
		buf->wpos = buf->rpos + len;
		return 0;
	}
	return ibuf_add_zero(buf, len - ibuf_size(buf));
}

void
ibuf_rewind(struct ibuf *buf)
{
	buf->rpos = 0;
}

void
ibuf_close(struct msgbuf *msgbuf, struct ibuf *buf)
{
	TAILQ_INSERT_TAIL(&msgbuf->wq, buf, entry);
	msgbuf->wcount++;
	msgbuf->wbytes += ibuf_size(buf);
}

/* A read-only view of memory owned by someone else: never ibuf_free it. */
void
ibuf_from_buffer(struct ibuf *buf, void *data, size_t len)
{
	memset(buf, 0, sizeof(*buf));
	buf->buf = data;
	buf->size = buf->wpos = len;
	buf->fd = -1;
}

void
ibuf_from_ibuf(struct ibuf *buf, const struct ibuf *from)
{
	ibuf_from_buffer(buf, ibuf_data(from), ibuf_size(from));
}

int
ibuf_get(struct ibuf *buf, void *data, size_t len)
{
	if (ibuf_size(buf) < len) {
		errno = EBADMSG;
		return -1;
	}
	if (len > 0)
		memcpy(data, ibuf_data(buf), len);
	buf->rpos += len;
	return 0;
}

int
ibuf_get_ibuf(struct ibuf *buf, size_t len, struct ibuf *new)
{
	if (ibuf_size(buf) < len) {
		errno = EBADMSG;
		return -1;
	}
	ibuf_from_buffer(new, ibuf_data(buf), len);
	buf->rpos += len;
	return 0;
}

int
ibuf_get_n8(struct ibuf *buf, uint8_t *value)
{
	return ibuf_get(buf, value, sizeof(*value));
}

int
ibuf_get_n16(struct ibuf *buf, uint16_t *value)
{
	uint16_t	v;

	if (ibuf_get(buf, &v, sizeof(v)) == -1)
		return -1;
	*value = be16toh(v);
	return 0;
}

int
ibuf_get_n32(struct ibuf *buf, uint32_t *value)
{
	uint32_t	v;

	if (ibuf_get(buf, &v, sizeof(v)) == -1)
		return -1;
	*value = be32toh(v);
	return 0;
}

int
ibuf_get_n64(struct ibuf *buf, uint64_t *value)
{
	uint64_t	v;

	if (ibuf_get(buf, &v, sizeof(v)) == -1)
		return -1;
	*value = be64toh(v);
	return 0;
}

/* The next len bytes as a new string; a NUL among them ends it early. */
char *
ibuf_get_string(struct ibuf *buf, size_t len)
{
	char	*str;

	if (ibuf_size(buf) < len) {
		errno = EBADMSG;
		return NULL;
	}
	if ((str = strndup(ibuf_data(buf), len)) == NULL)
		return NULL;
	buf->rpos += len;
	return str;
}

/* Exactly len bytes into str, which must end in a NUL. */
int
ibuf_get_strbuf(struct ibuf *buf, char *str, size_t len)
{
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (ibuf_get(buf, str, len) == -1)
		return -1;
	if (str[len - 1] != '\0') {
		str[len - 1] = '\0';
		errno = EOVERFLOW;
		return -1;
	}
	return 0;
}

int
ibuf_skip(struct ibuf *buf, size_t len)
{
	if (ibuf_size(buf) < len) {
		errno = EBADMSG;
		return -1;
	}
	buf->rpos += len;
	return 0;
}

void
ibuf_free(struct ibuf *buf)
{
	int	saved_errno = errno;

	if (buf == NULL)
		return;
	if (buf->fd != -1)
		close(buf->fd);
	if (buf->max != 0)
		freezero(buf->buf, buf->size);
	free(buf);
	errno = saved_errno;
}

int
ibuf_fd_avail(struct ibuf *buf)
{
	return buf->fd != -1;
}

int
ibuf_fd_get(struct ibuf *buf)
{
	int	fd;

	fd = buf->fd;
	buf->fd = -1;
	return fd;
}

void
ibuf_fd_set(struct ibuf *buf, int fd)
{
	if (buf->fd != -1)
		close(buf->fd);
	buf->fd = fd;
}

/*
 * msgbuf: the write queue and the read state of one imsgbuf
 */

static struct msgbuf *
msgbuf_new(void)
{
	struct msgbuf	*mb;

	if ((mb = calloc(1, sizeof(*mb))) == NULL)
		return NULL;
	TAILQ_INIT(&mb->wq);
	TAILQ_INIT(&mb->rq);
	mb->rfd = -1;
	return mb;
}

static void
msgbuf_free(struct msgbuf *mb)
{
	struct ibuf	*buf;

	if (mb == NULL)
		return;
	while ((buf = TAILQ_FIRST(&mb->wq)) != NULL) {
		TAILQ_REMOVE(&mb->wq, buf, entry);
		ibuf_free(buf);
	}
	while ((buf = TAILQ_FIRST(&mb->rq)) != NULL) {
		TAILQ_REMOVE(&mb->rq, buf, entry);
		ibuf_free(buf);
	}
	ibuf_free(mb->rmsg);
	if (mb->rfd != -1)
		close(mb->rfd);
	freezero(mb, sizeof(*mb));
}

/* Forget the n bytes the kernel took from the head of the write queue. */
static void
msgbuf_drain(struct msgbuf *mb, size_t n)
{
	struct ibuf	*buf;

	while ((buf = TAILQ_FIRST(&mb->wq)) != NULL) {
		if (n < ibuf_size(buf)) {
			buf->rpos += n;
			mb->wbytes -= n;
			return;
		}
		n -= ibuf_size(buf);
		mb->wbytes -= ibuf_size(buf);
		mb->wcount--;
		TAILQ_REMOVE(&mb->wq, buf, entry);
		ibuf_free(buf);
	}
}

/*
 * One sendmsg(2) of the head of the write queue.  Returns 1 when it made
 * progress or had nothing to do, 0 when the socket is full, -1 on error.
 */
static int
msgbuf_send(struct imsgbuf *imsgbuf)
{
	struct msgbuf	*mb = imsgbuf->w;
	struct iovec	 iov[IOV_MAX];
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct ibuf	*buf, *first;
	ssize_t		 n;
	int		 i = 0, fdpass;

	if ((first = TAILQ_FIRST(&mb->wq)) == NULL)
		return 1;
	fdpass = (imsgbuf->flags & IMSG_ALLOW_FDPASS) != 0;
	TAILQ_FOREACH(buf, &mb->wq, entry) {
		if (i == IOV_MAX || (fdpass && i > 0 && buf->fd != -1))
			break;
		iov[i].iov_base = ibuf_data(buf);
		iov[i].iov_len = ibuf_size(buf);
		i++;
	}

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = i;
	if (fdpass && first->fd != -1) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), &first->fd, sizeof(int));
	}

	while ((n = sendmsg(imsgbuf->fd, &msg, IMSG_SEND_FLAGS)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			return 0;
		return -1;
	}
	/* the descriptor went with the first byte: never send it twice */
	if (msg.msg_control != NULL) {
		close(first->fd);
		first->fd = -1;
	}
	msgbuf_drain(mb, n);
	return 1;
}

/*
 * Keep the first descriptor that came in; close any extra ones.  A new
 * descriptor replaces one that no header claimed: a sender that follows
 * the protocol never leaves one behind.
 */
static void
msgbuf_recv_fds(struct msgbuf *mb, struct msghdr *msg)
{
	struct cmsghdr	*cmsg;
	size_t		 i, nfds;
	int		 fd, kept = 0;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0))
			continue;
		nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (kept) {
				close(fd);
				continue;
			}
			if (mb->rfd != -1)
				close(mb->rfd);
			mb->rfd = fd;
			kept = 1;
		}
	}
}

/*
 * Cut the raw bytes into messages.  Returns -1 only when out of memory;
 * a bad header is remembered in rerr for imsg_get() to report.
 */
static int
msgbuf_parse(struct imsgbuf *imsgbuf)
{
	struct msgbuf	*mb = imsgbuf->w;
	struct imsg_hdr	 hdr;
	size_t		 off = 0, n;
	uint32_t	 len;
	int		 rv = 0;

	while (off < mb->rlen && mb->rerr == 0) {
		if (mb->rmsg == NULL) {
			if (mb->rlen - off < IMSG_HEADER_SIZE)
				break;
			memcpy(&hdr, mb->rbuf + off, sizeof(hdr));
			len = hdr.len & ~IMSG_FD_MARK;
			if (len < IMSG_HEADER_SIZE || len > imsgbuf->maxsize) {
				mb->rerr = ERANGE;
				break;
			}
			if ((hdr.len & IMSG_FD_MARK) &&
			    (imsgbuf->flags & IMSG_ALLOW_FDPASS) == 0) {
				mb->rerr = EBADMSG;
				break;
			}
			if ((mb->rmsg = ibuf_open(len)) == NULL) {
				rv = -1;
				break;
			}
			if (hdr.len & IMSG_FD_MARK) {
				mb->rmsg->fd = mb->rfd;
				mb->rfd = -1;
			}
		}
		n = mb->rlen - off;
		if (n > ibuf_left(mb->rmsg))
			n = ibuf_left(mb->rmsg);
		if (ibuf_add(mb->rmsg, mb->rbuf + off, n) == -1) {
			rv = -1;
			break;
		}
		off += n;
		if (ibuf_left(mb->rmsg) == 0) {
			TAILQ_INSERT_TAIL(&mb->rq, mb->rmsg, entry);
			mb->rmsg = NULL;
		}
	}

	/* after a bad header nothing more can be framed: drop it all */
	if (mb->rerr != 0)
		off = mb->rlen;
	memmove(mb->rbuf, mb->rbuf + off, mb->rlen - off);
	mb->rlen -= off;
	return rv;
}

/*
 * imsgbuf
 */

int
imsgbuf_init(struct imsgbuf *imsgbuf, int fd)
{
	if ((imsgbuf->w = msgbuf_new()) == NULL)
		return -1;
	imsgbuf->pid = getpid();
	imsgbuf->maxsize = MAX_IMSGSIZE;
	imsgbuf->fd = fd;
	imsgbuf->flags = 0;
	return 0;
}

/* Descriptor passing, both ways; off unless asked for. */
void
imsgbuf_allow_fdpass(struct imsgbuf *imsgbuf)
{
	imsgbuf->flags |= IMSG_ALLOW_FDPASS;
}

/* The largest payload, header not included, as in libutil. */
int
imsgbuf_set_maxsize(struct imsgbuf *imsgbuf, uint32_t max)
{
	if (max > UINT32_MAX - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		return -1;
	}
	max += IMSG_HEADER_SIZE;
	if (max & IMSG_FD_MARK) {
		errno = EINVAL;
		return -1;
	}
	imsgbuf->maxsize = max;
	return 0;
}

/* Returns 1 when all went well (also on EAGAIN), 0 on EOF, -1 on error. */
int
imsgbuf_read(struct imsgbuf *imsgbuf)
{
	struct msgbuf	*mb = imsgbuf->w;
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	ssize_t		 n;

	if (mb->rerr != 0) {
		errno = mb->rerr;
		return -1;
	}
	/* bytes left over when memory ran out last time come first */
	if (mb->rlen >= IMSG_HEADER_SIZE && msgbuf_parse(imsgbuf) == -1)
		return -1;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = mb->rbuf + mb->rlen;
	iov.iov_len = sizeof(mb->rbuf) - mb->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	/* without a control buffer the kernel closes what the peer sent */
	if (imsgbuf->flags & IMSG_ALLOW_FDPASS) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = sizeof(cmsgbuf.buf);
	}

	while ((n = recvmsg(imsgbuf->fd, &msg, IMSG_RECV_FLAGS)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 1;
		return -1;
	}
	if (msg.msg_control != NULL)
		msgbuf_recv_fds(mb, &msg);
	if (n == 0)
		return 0;

	mb->rlen += n;
	if (msgbuf_parse(imsgbuf) == -1)
		return -1;
	return 1;
}

/* Returns 0 when all went well (also when the socket is full), -1 on error. */
int
imsgbuf_write(struct imsgbuf *imsgbuf)
{
	if (msgbuf_send(imsgbuf) == -1)
		return -1;
	return 0;
}

/* Write the whole queue, waiting for the socket if it is non-blocking. */
int
imsgbuf_flush(struct imsgbuf *imsgbuf)
{
	struct pollfd	 pfd;

	while (imsgbuf_queuelen(imsgbuf) > 0) {
		switch (msgbuf_send(imsgbuf)) {
		case -1:
			return -1;
		case 0:
			pfd.fd = imsgbuf->fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				return -1;
			break;
		}
	}
	return 0;
}

/* Free both queues and close every descriptor they hold; not imsgbuf->fd. */
void
imsgbuf_clear(struct imsgbuf *imsgbuf)
{
	msgbuf_free(imsgbuf->w);
	imsgbuf->w = NULL;
}

uint32_t
imsgbuf_queuelen(struct imsgbuf *imsgbuf)
{
	return imsgbuf->w->wcount;
}

/* Bytes not yet written: for senders that bound their queue. */
size_t
imsgbuf_queued_bytes(struct imsgbuf *imsgbuf)
{
	return imsgbuf->w->wbytes;
}

int
imsgbuf_get(struct imsgbuf *imsgbuf, struct imsg *imsg)
{
	ssize_t	n;

	if ((n = imsg_get(imsgbuf, imsg)) > 0)
		return 1;
	return n;
}

/*
 * imsg
 */

/* Returns the message's size with its header, 0 if none, -1 on error. */
ssize_t
imsg_get(struct imsgbuf *imsgbuf, struct imsg *imsg)
{
	struct msgbuf	*mb = imsgbuf->w;
	struct imsg	 m;
	struct ibuf	*buf;

	if ((buf = TAILQ_FIRST(&mb->rq)) == NULL) {
		if (mb->rerr != 0) {
			errno = mb->rerr;
			return -1;
		}
		return 0;
	}
	TAILQ_REMOVE(&mb->rq, buf, entry);
	if (ibuf_get(buf, &m.hdr, sizeof(m.hdr)) == -1) {
		ibuf_free(buf);
		return -1;
	}
	m.hdr.len &= ~IMSG_FD_MARK;
	m.data = ibuf_size(buf) > 0 ? ibuf_data(buf) : NULL;
	m.buf = buf;
	*imsg = m;
	return m.hdr.len;
}

/* A view of the payload, valid until imsg_free(). */
int
imsg_get_ibuf(struct imsg *imsg, struct ibuf *ibuf)
{
	if (ibuf_size(imsg->buf) == 0) {
		errno = EBADMSG;
		return -1;
	}
	return ibuf_get_ibuf(imsg->buf, ibuf_size(imsg->buf), ibuf);
}

/* The payload, which must be exactly len bytes. */
int
imsg_get_data(struct imsg *imsg, void *data, size_t len)
{
	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	if (ibuf_size(imsg->buf) != len) {
		errno = EBADMSG;
		return -1;
	}
	return ibuf_get(imsg->buf, data, len);
}

/* The next len bytes of the payload. */
int
imsg_get_buf(struct imsg *imsg, void *data, size_t len)
{
	return ibuf_get(imsg->buf, data, len);
}

int
imsg_get_strbuf(struct imsg *imsg, char *str, size_t len)
{
	return ibuf_get_strbuf(imsg->buf, str, len);
}

/* The caller owns the descriptor from now on. */
int
imsg_get_fd(struct imsg *imsg)
{
	return ibuf_fd_get(imsg->buf);
}

uint32_t
imsg_get_id(struct imsg *imsg)
{
	return imsg->hdr.peerid;
}

size_t
imsg_get_len(struct imsg *imsg)
{
	return ibuf_size(imsg->buf);
}

pid_t
imsg_get_pid(struct imsg *imsg)
{
	return imsg->hdr.pid;
}

uint32_t
imsg_get_type(struct imsg *imsg)
{
	return imsg->hdr.type;
}

/* Queue a copy of msg's header and whole payload; never its descriptor. */
int
imsg_forward(struct imsgbuf *imsgbuf, struct imsg *msg)
{
	struct ibuf	*wbuf;
	size_t		 len;

	ibuf_rewind(msg->buf);
	if (ibuf_skip(msg->buf, sizeof(msg->hdr)) == -1)
		return -1;
	len = ibuf_size(msg->buf);
	if ((wbuf = imsg_create(imsgbuf, msg->hdr.type, msg->hdr.peerid,
	    msg->hdr.pid, len)) == NULL)
		return -1;
	if (imsg_add(wbuf, ibuf_data(msg->buf), len) == -1)
		return -1;
	imsg_close(imsgbuf, wbuf);
	return 1;
}

/*
 * On success the imsgbuf owns fd and closes it once sent; on failure the
 * caller still does.
 */
int
imsg_compose(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const void *data, size_t datalen)
{
	struct iovec	iov;

	iov.iov_base = (void *)data;
	iov.iov_len = datalen;
	return imsg_composev(imsgbuf, type, id, pid, fd, &iov, 1);
}

int
imsg_composev(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    int fd, const struct iovec *iov, int iovcnt)
{
	struct ibuf	*wbuf;
	size_t		 datalen = 0;
	int		 i;

	if (iovcnt < 0 || (fd != -1 &&
	    (imsgbuf->flags & IMSG_ALLOW_FDPASS) == 0)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > imsgbuf->maxsize - datalen) {
			errno = ERANGE;
			return -1;
		}
		datalen += iov[i].iov_len;
	}
	if ((wbuf = imsg_create(imsgbuf, type, id, pid, datalen)) == NULL)
		return -1;
	for (i = 0; i < iovcnt; i++)
		if (imsg_add(wbuf, iov[i].iov_base, iov[i].iov_len) == -1)
			return -1;
	wbuf->fd = fd;
	imsg_close(imsgbuf, wbuf);
	return 1;
}

/*
 * Queue a header and buf, which the imsgbuf owns from now on, failure
 * included.  A descriptor set on buf travels with the message.
 */
int
imsg_compose_ibuf(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id,
    pid_t pid, struct ibuf *buf)
{
	struct ibuf	*hdrbuf;
	struct imsg_hdr	 hdr;
	int		 saved_errno;

	if (ibuf_size(buf) > imsgbuf->maxsize - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		goto fail;
	}
	if (buf->fd != -1 && (imsgbuf->flags & IMSG_ALLOW_FDPASS) == 0) {
		errno = EINVAL;
		goto fail;
	}
	hdr.type = type;
	hdr.len = ibuf_size(buf) + IMSG_HEADER_SIZE;
	hdr.peerid = id;
	hdr.pid = pid != 0 ? (uint32_t)pid : (uint32_t)imsgbuf->pid;
	if (buf->fd != -1)
		hdr.len |= IMSG_FD_MARK;
	if ((hdrbuf = ibuf_open(IMSG_HEADER_SIZE)) == NULL)
		goto fail;
	if (ibuf_add(hdrbuf, &hdr, sizeof(hdr)) == -1) {
		ibuf_free(hdrbuf);
		goto fail;
	}
	/* the descriptor must go with the header, the first byte */
	hdrbuf->fd = ibuf_fd_get(buf);
	ibuf_close(imsgbuf->w, hdrbuf);
	if (ibuf_size(buf) > 0)
		ibuf_close(imsgbuf->w, buf);
	else
		ibuf_free(buf);
	return 1;

 fail:
	saved_errno = errno;
	ibuf_free(buf);
	errno = saved_errno;
	return -1;
}

struct ibuf *
imsg_create(struct imsgbuf *imsgbuf, uint32_t type, uint32_t id, pid_t pid,
    size_t datalen)
{
	struct ibuf	*wbuf;
	struct imsg_hdr	 hdr;

	if (datalen > imsgbuf->maxsize - IMSG_HEADER_SIZE) {
		errno = ERANGE;
		return NULL;
	}
	hdr.type = type;
	hdr.len = 0;		/* set by imsg_close() */
	hdr.peerid = id;
	hdr.pid = pid != 0 ? (uint32_t)pid : (uint32_t)imsgbuf->pid;
	if ((wbuf = ibuf_dynamic(datalen + IMSG_HEADER_SIZE,
	    imsgbuf->maxsize)) == NULL)
		return NULL;
	if (ibuf_add(wbuf, &hdr, sizeof(hdr)) == -1) {
		ibuf_free(wbuf);
		return NULL;
	}
	return wbuf;
}

/* Returns datalen; on failure frees msg, as in libutil. */
int
imsg_add(struct ibuf *msg, const void *data, size_t datalen)
{
	if (datalen > 0 && ibuf_add(msg, data, datalen) == -1) {
		ibuf_free(msg);
		return -1;
	}
	return datalen;
}

void
imsg_close(struct imsgbuf *imsgbuf, struct ibuf *msg)
{
	uint32_t	len;

	len = ibuf_size(msg);
	if (ibuf_fd_avail(msg))
		len |= IMSG_FD_MARK;
	(void)ibuf_set(msg, offsetof(struct imsg_hdr, len), &len, sizeof(len));
	ibuf_close(imsgbuf->w, msg);
}

void
imsg_free(struct imsg *imsg)
{
	ibuf_free(imsg->buf);
	imsg->buf = NULL;
	imsg->data = NULL;
}
