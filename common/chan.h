/*
 * A flow-controlled imsg channel between two processes.
 *
 * Each side may have at most `window` payload bytes of data messages on
 * the wire that the other side has not yet consumed; the receiver gives
 * credit back (IMSG_CREDIT) as it consumes them.  A producer that finds no
 * room waits for its `writable` callback, so a 25 MiB message or a module
 * that floods output never piles up in any process.  Control messages
 * (chan_compose) are small and not counted.
 */
#ifndef IMAPX_CHAN_H
#define IMAPX_CHAN_H

#include <sys/types.h>

#include <event.h>
#include <stddef.h>
#include <stdint.h>

#include "imsg.h"

#define CHAN_WINDOW	(256 * 1024)
#define CHAN_COUNTED	1	/* imsg pid field of a data message */

struct chan;
typedef void (*chan_dispatch_cb)(struct chan *, struct imsg *);
typedef void (*chan_event_cb)(struct chan *);

struct chan {
	struct imsgbuf		 ibuf;
	struct event		 ev;
	struct event		 fev;		/* chan_later() */
	int			 later;		/* fev is active */
	int			 open;
	size_t			 window;
	size_t			 inflight;	/* sent, not credited yet */
	size_t			 unacked;	/* received, not credited yet */
	size_t			 held;		/* of the current message */
	int			 holding;
	int			 dispatching;	/* writes wait for the end */
	chan_dispatch_cb	 dispatch;
	chan_event_cb		 writable;	/* room again after credit */
	chan_event_cb		 closed;	/* EOF, error, bad message */
	void			*arg;
};

int	chan_init(struct chan *, int, int, chan_dispatch_cb, chan_event_cb,
	    chan_event_cb, void *);
void	chan_close(struct chan *);
size_t	chan_room(struct chan *);
int	chan_send(struct chan *, uint32_t, uint32_t, int, const void *,
	    size_t);
int	chan_compose(struct chan *, uint32_t, uint32_t, int, const void *,
	    size_t);
void	chan_hold(struct chan *);
void	chan_consumed(struct chan *, size_t);
void	chan_flush(struct chan *);

#endif
