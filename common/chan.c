/*
 * Flow-controlled imsg channels (see chan.h).
 *
 * Credit is counted in payload bytes of data messages (chan_send), which
 * carry CHAN_COUNTED in the header's pid field so the receiver can tell
 * them from control messages.  The
 * receiver credits a message back when its dispatch callback returns,
 * unless the callback called chan_hold(): then the bytes are credited
 * when the consumer later calls chan_consumed(), for example once a
 * chunk has reached the client's socket.  Credit goes back in batches of
 * a quarter window to keep the messages few.
 *
 * What the dispatch callbacks send while a batch of received messages is
 * dispatched goes out in one write once the batch is done (an answer of
 * several messages is one wake-up for the peer).  What other callbacks
 * send goes out in one write after them, in the same turn of the event
 * loop (chan_later): SUBMIT's START, DATA and END from one read of the
 * client are one wake-up of submitd, not three.  chan_flush() writes at
 * once.
 */
#include <sys/types.h>

#include <errno.h>
#include <event.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "imsg-types.h"
#include "log.h"

static void	chan_event(int, short, void *);
static void	chan_later(struct chan *);
static void	chan_flushed(int, short, void *);
static void	chan_update(struct chan *);
static void	chan_fail(struct chan *);

int
chan_init(struct chan *c, int fd, int fdpass, chan_dispatch_cb dispatch,
    chan_event_cb writable, chan_event_cb closed, void *arg)
{
	memset(c, 0, sizeof(*c));
	if (imsgbuf_init(&c->ibuf, fd) == -1)
		return -1;
	if (fdpass)
		imsgbuf_allow_fdpass(&c->ibuf);
	c->open = 1;
	c->window = CHAN_WINDOW;
	c->dispatch = dispatch;
	c->writable = writable;
	c->closed = closed;
	c->arg = arg;
	event_set(&c->ev, fd, EV_READ | EV_PERSIST, chan_event, c);
	event_add(&c->ev, NULL);
	evtimer_set(&c->fev, chan_flushed, c);
	return 0;
}

void
chan_close(struct chan *c)
{
	if (!c->open)
		return;
	c->open = 0;
	event_del(&c->ev);
	event_del(&c->fev);
	c->later = 0;
	imsgbuf_clear(&c->ibuf);
	close(c->ibuf.fd);
	c->ibuf.fd = -1;
}

size_t
chan_room(struct chan *c)
{
	if (!c->open || c->inflight >= c->window)
		return 0;
	return c->window - c->inflight;
}

/* A data message: counted against the window; -1/EAGAIN when full. */
int
chan_send(struct chan *c, uint32_t type, uint32_t id, int fd,
    const void *data, size_t len)
{
	if (!c->open) {
		errno = EPIPE;
		return -1;
	}
	if (len > chan_room(c)) {
		errno = EAGAIN;
		return -1;
	}
	if (imsg_compose(&c->ibuf, type, id, CHAN_COUNTED, fd, data,
	    len) == -1)
		return -1;
	c->inflight += len;
	if (!c->dispatching)
		chan_later(c);
	return 0;
}

/* A control message: not counted. */
int
chan_compose(struct chan *c, uint32_t type, uint32_t id, int fd,
    const void *data, size_t len)
{
	if (!c->open) {
		errno = EPIPE;
		return -1;
	}
	if (imsg_compose(&c->ibuf, type, id, 0, fd, data, len) == -1)
		return -1;
	if (!c->dispatching)
		chan_later(c);
	return 0;
}

void
chan_hold(struct chan *c)
{
	c->holding = 1;
}

void
chan_consumed(struct chan *c, size_t n)
{
	struct imsg_credit	cr;

	if (!c->open)
		return;
	c->unacked += n;
	if (c->unacked < c->window / 4)
		return;
	cr.bytes = c->unacked;
	c->unacked = 0;
	if (imsg_compose(&c->ibuf, IMSG_CREDIT, 0, 0, -1, &cr,
	    sizeof(cr)) == -1) {
		chan_fail(c);
		return;
	}
	if (!c->dispatching)
		chan_later(c);
}

void
chan_flush(struct chan *c)
{
	chan_update(c);
}

/*
 * Write what is queued once the callbacks of this turn of the event loop
 * have run: an active event, no system call.
 */
static void
chan_later(struct chan *c)
{
	if (c->later)
		return;
	c->later = 1;
	event_active(&c->fev, EV_TIMEOUT, 1);
}

static void
chan_flushed(int fd, short event, void *arg)
{
	struct chan	*c = arg;

	c->later = 0;
	chan_update(c);
}

static void
chan_update(struct chan *c)
{
	short	events = EV_READ | EV_PERSIST;

	if (!c->open)
		return;
	if (imsgbuf_write(&c->ibuf) == -1) {
		if (errno != EAGAIN) {
			chan_fail(c);
			return;
		}
	}
	if (imsgbuf_queuelen(&c->ibuf) > 0)
		events |= EV_WRITE;
	if (event_get_events(&c->ev) == events)
		return;
	event_del(&c->ev);
	event_set(&c->ev, c->ibuf.fd, events, chan_event, c);
	event_add(&c->ev, NULL);
}

static void
chan_fail(struct chan *c)
{
	chan_close(c);
	if (c->closed != NULL)
		c->closed(c);
}

static void
chan_event(int fd, short event, void *arg)
{
	struct chan		*c = arg;
	struct imsg		 imsg;
	struct imsg_credit	 cr;
	ssize_t			 n;
	size_t			 len;
	int			 credited = 0;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(&c->ibuf)) == -1 || n == 0) {
			chan_fail(c);
			return;
		}
	}
	if ((event & EV_WRITE) && imsgbuf_write(&c->ibuf) == -1 &&
	    errno != EAGAIN) {
		chan_fail(c);
		return;
	}
	c->dispatching = 1;
	while (c->open) {
		if ((n = imsg_get(&c->ibuf, &imsg)) == -1) {
			log_warnx("%s: bad message on channel", __func__);
			chan_fail(c);
			return;
		}
		if (n == 0)
			break;
		if (imsg_get_type(&imsg) == IMSG_CREDIT) {
			if (imsg_get_data(&imsg, &cr, sizeof(cr)) == -1 ||
			    cr.bytes > c->inflight) {
				log_warnx("%s: bad credit", __func__);
				imsg_free(&imsg);
				chan_fail(c);
				return;
			}
			c->inflight -= cr.bytes;
			credited = 1;
			imsg_free(&imsg);
			continue;
		}
		len = imsg_get_pid(&imsg) == CHAN_COUNTED ?
		    imsg_get_len(&imsg) : 0;
		c->holding = 0;
		c->dispatch(c, &imsg);
		imsg_free(&imsg);
		if (!c->open)
			return;
		if (!c->holding && len > 0)
			chan_consumed(c, len);
	}
	c->dispatching = 0;
	chan_update(c);
	if (credited && c->open && c->writable != NULL && chan_room(c) > 0)
		c->writable(c);
}
