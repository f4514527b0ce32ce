/*
 * execd: runs the modules that XEXEC names, as the policy in execd.conf
 * says (execd.8).  The one imapx child that keeps the power to change
 * uids: it runs as root, is not chrooted, and has a seccomp filter of its
 * own (execd_sandbox() in run.c); each module gets its own sandbox after
 * fork (run.c).
 *
 * imapxd's parent starts it as "execd -f file [-d] [-v]" with its
 * channel on fd 3; on it arrive IMSG_PEER_CHANNEL messages, each with one
 * end of a socketpair to a frontend worker.  When the parent closes fd 3,
 * execd kills every run and exits.  -T fd runs it without a parent, with
 * fd as its only frontend channel (tests).
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "execd.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"
#include "policy.h"

static __dead2 void	usage(void);
static void		parent_channel(void);
static void		dispatch_parent(int, short, void *);
static void		parent_imsg(struct imsg *);
static void		parent_update(void);
static void		set_nonblock_cloexec(int);

static struct execd_conf	*conf;
static struct imsgbuf		 parent_ibuf;
static struct event		 parent_ev;

static __dead2 void
usage(void)
{
	fprintf(stderr,
	    "usage: execd [-dnv] [-D macro=value] [-f file] [-T fd]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct xchan	*xc;
	const char	*conffile = EXECD_CONF, *errstr;
	int		 ch, debug = 0, verbose = 0, noaction = 0;
	int		 testfd = -1;

	while ((ch = getopt(argc, argv, "D:df:nT:v")) != -1) {
		switch (ch) {
		case 'D':
			if (execd_cmdline_symset(optarg) < 0)
				errx(1, "could not parse macro definition %s",
				    optarg);
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			conffile = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'T':
			testfd = strtonum(optarg, 3, INT_MAX, &errstr);
			if (errstr != NULL)
				errx(1, "channel descriptor %s is %s", optarg,
				    errstr);
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	if (argc > 0)
		usage();

	log_init(1, LOG_MAIL);
	log_setverbose(verbose);
	log_procinit("execd");
	if ((conf = execd_parse_config(conffile)) == NULL)
		exit(1);
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	if (geteuid() != 0)
		errx(1, "need root privileges");
	if (testfd == -1 && fcntl(EXECD_PARENT_FD, F_GETFD) == -1)
		errx(1, "no channel to imapxd on fd %d (-T fd runs without)",
		    EXECD_PARENT_FD);
	if (testfd != -1 && fcntl(testfd, F_GETFD) == -1)
		err(1, "-T %d", testfd);

	/* Supervised by imapxd: never daemon(3), syslog unless -d. */
	log_init(debug, LOG_MAIL);
	log_info("starting, %s", testfd == -1 ? "channel to imapxd on fd 3" :
	    "standalone");

	event_init();
	execd_init(conf, 0);
	fchan_init(conf);
	if (testfd == -1)
		parent_channel();
	execd_sandbox(conf);

	if (testfd != -1) {
		set_nonblock_cloexec(testfd);
		xc = fchan_open(testfd, 0);
		xc->lifeline = 1;
	}
	event_dispatch();
	execd_stop();
}

/*
 * The parent's channel: plain imsg, descriptors allowed.  execd dies
 * with the parent (PR_SET_PDEATHSIG; it keeps its uid, so the setting
 * stays) and also when the channel closes.
 */
static void
parent_channel(void)
{
	set_nonblock_cloexec(EXECD_PARENT_FD);
	if (imsgbuf_init(&parent_ibuf, EXECD_PARENT_FD) == -1)
		fatal("imsgbuf_init");
	imsgbuf_allow_fdpass(&parent_ibuf);
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() == 1)
		fatalx("parent went away");
	event_set(&parent_ev, EXECD_PARENT_FD, EV_READ | EV_PERSIST,
	    dispatch_parent, NULL);
	event_add(&parent_ev, NULL);
}

static void
set_nonblock_cloexec(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl %d", fd);
}

static void
dispatch_parent(int fd, short event, void *arg)
{
	struct imsg	imsg;
	ssize_t		n;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(&parent_ibuf)) == -1)
			fatal("imsgbuf_read");
		if (n == 0) {
			log_info("imapxd closed the channel, stopping");
			execd_stop();
		}
	}
	if ((event & EV_WRITE) && imsgbuf_write(&parent_ibuf) == -1 &&
	    errno != EAGAIN)
		fatal("imsgbuf_write");
	for (;;) {
		if ((n = imsg_get(&parent_ibuf, &imsg)) == -1)
			fatal("imsg_get");
		if (n == 0)
			break;
		parent_imsg(&imsg);
		imsg_free(&imsg);
	}
	parent_update();
}

static void
parent_update(void)
{
	short	events = EV_READ | EV_PERSIST;

	if (imsgbuf_queuelen(&parent_ibuf) > 0)
		events |= EV_WRITE;
	if (event_get_events(&parent_ev) == events)
		return;
	event_del(&parent_ev);
	event_set(&parent_ev, EXECD_PARENT_FD, events, dispatch_parent, NULL);
	event_add(&parent_ev, NULL);
}

static void
parent_imsg(struct imsg *imsg)
{
	struct imsg_peer	peer;
	int			fd;

	switch (imsg_get_type(imsg)) {
	case IMSG_PEER_CHANNEL:
		if (imsg_get_data(imsg, &peer, sizeof(peer)) == -1 ||
		    (fd = imsg_get_fd(imsg)) == -1)
			fatalx("bad IMSG_PEER_CHANNEL");
		if (peer.proc != PROC_FRONTEND) {
			log_warnx("channel to process kind %u refused",
			    peer.proc);
			close(fd);
			break;
		}
		set_nonblock_cloexec(fd);
		(void)fchan_open(fd, peer.instance);
		break;
	default:
		log_warnx("%s: unexpected imsg %u", __func__,
		    imsg_get_type(imsg));
		break;
	}
}
