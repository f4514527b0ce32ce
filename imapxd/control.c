/*
 * imapxd parent: the control socket for imapxctl(8).  A unix socket,
 * mode 0600 and owned by root, so only the operator reaches it; requests
 * are small imsgs checked like any other peer's.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"

#define CONTROL_MAX_CLIENTS	8

struct ctl_client {
	TAILQ_ENTRY(ctl_client)	 entry;
	struct imsgbuf		 ibuf;
	struct event		 ev;
};

static TAILQ_HEAD(, ctl_client)	 clients = TAILQ_HEAD_INITIALIZER(clients);
static struct event		 ctl_ev;
static int			 ctl_fd = -1;
static int			 nclients;
static char			 ctl_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static const struct control_ops	*ops;

static void	control_accept(int, short, void *);
static void	control_dispatch(int, short, void *);
static void	control_close(struct ctl_client *);
static void	control_update(struct ctl_client *);

int
control_init(const char *path, const struct control_ops *o)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd;

	ops = o;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		log_warnx("control socket %s: name too long", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("control socket");
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("unlink %s", path);
		close(fd);
		return -1;
	}
	old = umask(S_IRWXG | S_IRWXO);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("bind %s", path);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, S_IRUSR | S_IWUSR) == -1 || listen(fd, 5) == -1) {
		log_warn("control socket %s", path);
		unlink(path);
		close(fd);
		return -1;
	}
	strlcpy(ctl_path, path, sizeof(ctl_path));
	ctl_fd = fd;
	event_set(&ctl_ev, fd, EV_READ | EV_PERSIST, control_accept, NULL);
	event_add(&ctl_ev, NULL);
	return 0;
}

void
control_cleanup(void)
{
	if (ctl_fd == -1)
		return;
	event_del(&ctl_ev);
	close(ctl_fd);
	ctl_fd = -1;
	(void)unlink(ctl_path);
}

static void
control_accept(int fd, short event, void *arg)
{
	struct ctl_client	*c;
	int			 cfd;

	if ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("control accept");
		return;
	}
	if (nclients >= CONTROL_MAX_CLIENTS || (c = calloc(1,
	    sizeof(*c))) == NULL) {
		close(cfd);
		return;
	}
	if (imsgbuf_init(&c->ibuf, cfd) == -1) {
		close(cfd);
		free(c);
		return;
	}
	nclients++;
	TAILQ_INSERT_TAIL(&clients, c, entry);
	event_set(&c->ev, cfd, EV_READ | EV_PERSIST, control_dispatch, c);
	event_add(&c->ev, NULL);
}

static void
control_close(struct ctl_client *c)
{
	TAILQ_REMOVE(&clients, c, entry);
	event_del(&c->ev);
	imsgbuf_clear(&c->ibuf);
	close(c->ibuf.fd);
	free(c);
	nclients--;
}

static void
control_update(struct ctl_client *c)
{
	short	events = EV_READ | EV_PERSIST;

	if (imsgbuf_write(&c->ibuf) == -1 && errno != EAGAIN) {
		control_close(c);
		return;
	}
	if (imsgbuf_queuelen(&c->ibuf) > 0)
		events |= EV_WRITE;
	if (event_get_events(&c->ev) == events)
		return;
	event_del(&c->ev);
	event_set(&c->ev, c->ibuf.fd, events, control_dispatch, c);
	event_add(&c->ev, NULL);
}

/* Callbacks use this to answer the client that asked. */
void
control_reply(void *client, uint32_t type, const void *data, size_t len)
{
	struct ctl_client	*c = client;

	if (imsg_compose(&c->ibuf, type, 0, 0, -1, data, len) == -1)
		log_warn("%s", __func__);
}

static void
control_dispatch(int fd, short event, void *arg)
{
	struct ctl_client	*c = arg;
	struct imsg		 imsg;
	struct imsg_ctl_fail	 fail;
	ssize_t			 n;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(&c->ibuf)) == -1 || n == 0) {
			control_close(c);
			return;
		}
	}
	if ((event & EV_WRITE) && imsgbuf_write(&c->ibuf) == -1 &&
	    errno != EAGAIN) {
		control_close(c);
		return;
	}
	for (;;) {
		if ((n = imsg_get(&c->ibuf, &imsg)) == -1) {
			control_close(c);
			return;
		}
		if (n == 0)
			break;
		switch (imsg_get_type(&imsg)) {
		case IMSG_CTL_STATUS:
			ops->status(c);
			control_reply(c, IMSG_CTL_END, NULL, 0);
			break;
		case IMSG_CTL_RELOAD:
			memset(&fail, 0, sizeof(fail));
			if (ops->reload(fail.reason, sizeof(fail.reason)) == 0)
				control_reply(c, IMSG_CTL_OK, NULL, 0);
			else
				control_reply(c, IMSG_CTL_FAIL, &fail,
				    sizeof(fail));
			break;
		default:
			log_warnx("control: unknown request %u",
			    imsg_get_type(&imsg));
			imsg_free(&imsg);
			control_close(c);
			return;
		}
		imsg_free(&imsg);
	}
	control_update(c);
}
