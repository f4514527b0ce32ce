/*
 * A service daemon's channel to imapxd's parent: see svcchan.h.
 */
#include <sys/types.h>
#include <sys/prctl.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "imsg.h"
#include "imsg-types.h"
#include "log.h"
#include "svcchan.h"

static void	svcchan_dispatch(int, short, void *);
static void	svcchan_update(void);

static struct imsgbuf	  ibuf;
static struct event	  ev;
static void		(*peer_cb)(int, uint32_t);
static void		(*gone_cb)(void);

void
svcchan_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl %d", fd);
}

void
svcchan_init(void (*peer)(int, uint32_t), void (*gone)(void))
{
	peer_cb = peer;
	gone_cb = gone;
	svcchan_nonblock(SVCCHAN_FD);
	if (imsgbuf_init(&ibuf, SVCCHAN_FD) == -1)
		fatal("imsgbuf_init");
	imsgbuf_allow_fdpass(&ibuf);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() == 1)
		fatalx("parent went away");
	event_set(&ev, SVCCHAN_FD, EV_READ | EV_PERSIST, svcchan_dispatch,
	    NULL);
	event_add(&ev, NULL);
}

static void
svcchan_dispatch(int fd, short event, void *arg)
{
	struct imsg		imsg;
	struct imsg_peer	peer;
	ssize_t			n;
	int			cfd;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(&ibuf)) == -1)
			fatal("imsgbuf_read");
		if (n == 0) {
			log_info("imapxd closed the channel, stopping");
			gone_cb();
		}
	}
	if ((event & EV_WRITE) && imsgbuf_write(&ibuf) == -1 &&
	    errno != EAGAIN)
		fatal("imsgbuf_write");
	for (;;) {
		if ((n = imsg_get(&ibuf, &imsg)) == -1)
			fatal("imsg_get");
		if (n == 0)
			break;
		switch (imsg_get_type(&imsg)) {
		case IMSG_PEER_CHANNEL:
			if (imsg_get_data(&imsg, &peer, sizeof(peer)) == -1 ||
			    (cfd = imsg_get_fd(&imsg)) == -1)
				fatalx("bad IMSG_PEER_CHANNEL");
			if (peer.proc != PROC_FRONTEND) {
				log_warnx("channel to process kind %u refused",
				    peer.proc);
				close(cfd);
				break;
			}
			svcchan_nonblock(cfd);
			peer_cb(cfd, peer.instance);
			break;
		default:
			log_warnx("%s: unexpected imsg %u", __func__,
			    imsg_get_type(&imsg));
			break;
		}
		imsg_free(&imsg);
	}
	svcchan_update();
}

static void
svcchan_update(void)
{
	short	events = EV_READ | EV_PERSIST;

	if (imsgbuf_queuelen(&ibuf) > 0)
		events |= EV_WRITE;
	if (event_get_events(&ev) == events)
		return;
	event_del(&ev);
	event_set(&ev, SVCCHAN_FD, events, svcchan_dispatch, NULL);
	event_add(&ev, NULL);
}
