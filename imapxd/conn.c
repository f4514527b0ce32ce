/*
 * The front end's buffer layer (see conn.h).  One read event that stays
 * armed while the owner wants input, one write event armed only while
 * output is queued, and the two TLS crossings: a read that wants POLLOUT
 * and a write that wants POLLIN.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tls.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"

static void	conn_readcb(int, short, void *);
static void	conn_writecb(int, short, void *);
static void	conn_do_read(struct conn *);
static void	conn_do_write(struct conn *);
static void	conn_update(struct conn *);
static void	conn_connected(struct conn *);
static int	buf_reserve(struct buf *, size_t);

void
conn_setnodelay(int fd)
{
	int	one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void
buf_free(struct buf *b, int wipe)
{
	if (b->data != NULL) {
		if (wipe)
			freezero(b->data, b->cap);
		else
			free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

/* Make room for n more bytes after the data, compacting first. */
static int
buf_reserve(struct buf *b, size_t n)
{
	size_t	 ncap;
	char	*p;

	if (b->off > 0 && b->cap - b->off - b->len < n) {
		memmove(b->data, b->data + b->off, b->len);
		b->off = 0;
	}
	if (b->cap - b->off - b->len >= n)
		return 0;
	ncap = b->cap == 0 ? 4096 : b->cap;
	while (ncap - b->len < n)
		ncap *= 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	if (buf_reserve(b, len) == -1)
		return -1;
	memcpy(b->data + b->off + b->len, data, len);
	b->len += len;
	return 0;
}

void
conn_init(struct conn *c, int fd, struct tls *tls, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->tls = tls;
	c->arg = arg;
	event_set(&c->rev, fd, EV_READ | EV_PERSIST, conn_readcb, c);
	event_set(&c->wev, fd, EV_WRITE, conn_writecb, c);
}

void
conn_start(struct conn *c)
{
	conn_update(c);
	/*
	 * A TLS client speaks first (ClientHello): try a read now, which
	 * runs the handshake, instead of waiting for a server that waits.
	 */
	if (c->tls != NULL && c->fd != -1)
		event_active(&c->rev, EV_READ, 1);
}

void
conn_close(struct conn *c)
{
	int	wipe = c->flags & CONN_SECRET;

	if (c->fd == -1)
		return;
	event_del(&c->rev);
	event_del(&c->wev);
	if (c->tls != NULL) {
		(void)tls_close(c->tls);
		tls_free(c->tls);
		c->tls = NULL;
	}
	close(c->fd);
	c->fd = -1;
	buf_free(&c->in, wipe);
	buf_free(&c->out, wipe);
}

/* Arm exactly the events the current state needs. */
static void
conn_update(struct conn *c)
{
	int	wantr, wantw;

	if (c->fd == -1)
		return;
	/*
	 * EOF and errors keep the read event armed until the owner, which
	 * always closes on them, has been told (conn_readcb).
	 */
	wantr = !(c->flags & (CONN_PAUSED | CONN_CONNECTING)) ||
	    (c->flags & (CONN_WWANTR | CONN_SERVERFIRST));
	wantw = (c->flags & CONN_RWANTW) ||
	    ((c->flags & CONN_CONNECTING) && !(c->flags & CONN_SERVERFIRST)) ||
	    (c->out.len > 0 && !(c->flags & (CONN_WWANTR | CONN_ERROR)));
	if (wantr) {
		if (!event_pending(&c->rev, EV_READ, NULL))
			event_add(&c->rev, NULL);
	} else
		event_del(&c->rev);
	if (wantw) {
		if (!event_pending(&c->wev, EV_WRITE, NULL))
			event_add(&c->wev, NULL);
	} else
		event_del(&c->wev);
}

void
conn_pause(struct conn *c, int pause)
{
	if (pause)
		c->flags |= CONN_PAUSED;
	else
		c->flags &= ~CONN_PAUSED;
	conn_update(c);
	/*
	 * Input already buffered must not wait for the socket to speak; it
	 * is served from the event loop, never from inside the caller.
	 */
	if (!pause && c->fd != -1 &&
	    (c->in.len > 0 || (c->flags & (CONN_EOF | CONN_ERROR))))
		event_active(&c->rev, EV_READ, 1);
}

size_t
conn_outlen(struct conn *c)
{
	return c->out.len;
}

void
conn_consume(struct conn *c, size_t n)
{
	if (n > c->in.len)
		fatalx("%s: consumed %zu of %zu", __func__, n, c->in.len);
	if (c->flags & CONN_SECRET)
		explicit_bzero(c->in.data + c->in.off, n);
	c->in.off += n;
	c->in.len -= n;
	if (c->in.len == 0)
		buf_free(&c->in, c->flags & CONN_SECRET);
}

/*
 * Queue output.  Large chunks (literal bodies) are written straight from
 * the caller's memory when nothing is queued before them, so bulk data is
 * not copied; small ones are collected and written once per loop turn by
 * conn_flush().
 */
void
conn_queue(struct conn *c, const void *data, size_t len)
{
	ssize_t	n;

	if (c->fd == -1 || (c->flags & CONN_ERROR) || len == 0)
		return;
	if (c->out.len == 0 && len >= 16384 && c->tls == NULL &&
	    !(c->flags & CONN_CONNECTING)) {
		n = write(c->fd, data, len);
		if (n == -1 && errno != EAGAIN && errno != EINTR) {
			c->flags |= CONN_ERROR;
			return;
		}
		if (n > 0) {
			data = (const char *)data + n;
			len -= n;
		}
		if (len == 0)
			return;
	}
	if (buf_append(&c->out, data, len) == -1) {
		log_warn("%s", __func__);
		c->flags |= CONN_ERROR;
	}
}

void
conn_queuef(struct conn *c, const char *fmt, ...)
{
	va_list	 ap;
	char	 line[1024];
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	conn_queue(c, line, n);
}

void
conn_flush(struct conn *c)
{
	if (c->fd == -1)
		return;
	if (c->out.len > 0 && !(c->flags & (CONN_CONNECTING | CONN_WWANTR)))
		conn_do_write(c);
	conn_update(c);
	/* a failed write arms no event: tell the owner from the loop */
	if (c->flags & CONN_ERROR)
		event_active(&c->rev, EV_READ, 1);
}

static void
conn_do_write(struct conn *c)
{
	ssize_t	n;
	int	wipe = c->flags & CONN_SECRET;

	while (c->out.len > 0) {
		if (c->tls != NULL) {
			n = tls_write(c->tls, c->out.data + c->out.off,
			    c->out.len);
			if (n == TLS_WANT_POLLOUT)
				break;
			if (n == TLS_WANT_POLLIN) {
				c->flags |= CONN_WWANTR;
				break;
			}
			if (n == -1) {
				c->tlserr = tls_error(c->tls);
				c->flags |= CONN_ERROR;
				break;
			}
		} else {
			n = write(c->fd, c->out.data + c->out.off, c->out.len);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				c->flags |= CONN_ERROR;
				break;
			}
		}
		c->flags &= ~CONN_WWANTR;
		if (wipe)
			explicit_bzero(c->out.data + c->out.off, n);
		c->out.off += n;
		c->out.len -= n;
	}
	if (c->out.len == 0) {
		buf_free(&c->out, wipe);
		if (c->on_drain != NULL)
			c->on_drain(c, c->arg);
	}
}

static void
conn_do_read(struct conn *c)
{
	ssize_t	n;
	size_t	total = 0;

	for (;;) {
		if (buf_reserve(&c->in, CONN_READ_CHUNK) == -1) {
			log_warn("%s", __func__);
			c->flags |= CONN_ERROR;
			break;
		}
		if (c->tls != NULL) {
			n = tls_read(c->tls, c->in.data + c->in.off + c->in.len,
			    CONN_READ_CHUNK);
			if (n == TLS_WANT_POLLIN)
				break;
			if (n == TLS_WANT_POLLOUT) {
				c->flags |= CONN_RWANTW;
				break;
			}
			if (n == -1) {
				c->tlserr = tls_error(c->tls);
				c->flags |= CONN_ERROR;
				break;
			}
		} else {
			n = read(c->fd, c->in.data + c->in.off + c->in.len,
			    CONN_READ_CHUNK);
			if (n == -1) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				c->flags |= CONN_ERROR;
				break;
			}
		}
		c->flags &= ~CONN_RWANTW;
		if (n == 0) {
			c->flags |= CONN_EOF;
			break;
		}
		c->in.len += n;
		total += n;
		/* Plaintext: one read a turn; TLS may hold decrypted data. */
		if (c->tls == NULL || total >= CONN_READ_CHUNK)
			break;
	}
	if (c->in.len == 0 && c->in.data != NULL)
		buf_free(&c->in, c->flags & CONN_SECRET);
}

static void
conn_readcb(int fd, short event, void *arg)
{
	struct conn	*c = arg;

	/*
	 * A server that speaks first: its first bytes (or the error) also
	 * say the connect finished, one wakeup instead of two.
	 */
	if (c->flags & CONN_CONNECTING) {
		conn_connected(c);
		if (c->fd == -1 || (c->flags & CONN_ERROR))
			return;
	}
	if (c->flags & CONN_WWANTR) {
		conn_do_write(c);
		conn_update(c);
		if (c->flags & CONN_PAUSED)
			return;
	}
	if (c->flags & CONN_PAUSED)
		return;
	if (!(c->flags & (CONN_EOF | CONN_ERROR)))
		conn_do_read(c);
	conn_update(c);
	if (c->on_read != NULL && (c->in.len > 0 ||
	    (c->flags & (CONN_EOF | CONN_ERROR))))
		c->on_read(c, c->arg);
}

/* A non-blocking connect(2) finished, one way or the other. */
static void
conn_connected(struct conn *c)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	c->flags &= ~(CONN_CONNECTING | CONN_SERVERFIRST);
	if (err != 0) {
		errno = err;
		c->flags |= CONN_ERROR;
	}
	conn_update(c);
	if (c->on_connect != NULL)
		c->on_connect(c, c->arg);
}

static void
conn_writecb(int fd, short event, void *arg)
{
	struct conn	*c = arg;

	if (c->flags & CONN_CONNECTING) {
		conn_connected(c);
		return;
	}
	if (c->flags & CONN_RWANTW) {
		c->flags &= ~CONN_RWANTW;
		conn_readcb(fd, EV_READ, c);
		return;
	}
	conn_do_write(c);
	conn_update(c);
	if ((c->flags & CONN_ERROR) && c->on_read != NULL)
		c->on_read(c, c->arg);
}

/*
 * Switch a plaintext conn to TLS (STARTTLS).  Input that arrived after
 * the command is dropped: it was sent in the clear and must not be taken
 * as if it came over TLS (RFC 3501 section 6.2.1, the STARTTLS injection
 * attacks).
 */
int
conn_starttls(struct conn *c, struct tls *tls)
{
	buf_free(&c->in, 0);
	c->tls = tls;
	conn_update(c);
	return 0;
}

/*
 * Connect without blocking; on_connect runs when it is done.  With
 * serverfirst (a plaintext IMAP server greets first) completion is seen
 * on the read event, together with the greeting.
 */
int
conn_connect(struct conn *c, const struct sockaddr *sa, socklen_t len,
    int serverfirst)
{
	int	fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	conn_setnodelay(fd);
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	/* Even an immediate success is reported from the write event. */
	c->fd = fd;
	c->flags = CONN_CONNECTING | (serverfirst ? CONN_SERVERFIRST : 0);
	event_set(&c->rev, fd, EV_READ | EV_PERSIST, conn_readcb, c);
	event_set(&c->wev, fd, EV_WRITE, conn_writecb, c);
	conn_update(c);
	return 0;
}
