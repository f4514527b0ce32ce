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
#include "svcchan.h"

static __dead2 void	usage(void);
static void		frontend_open(int, uint32_t);

static struct execd_conf	*conf;

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
	/* execd keeps its uid: the parent-death signal stays set */
	if (testfd == -1)
		svcchan_init(frontend_open, execd_stop);
	execd_sandbox(conf);

	if (testfd != -1) {
		svcchan_nonblock(testfd);
		xc = fchan_open(testfd, 0);
		xc->lifeline = 1;
	}
	event_dispatch();
	execd_stop();
}

static void
frontend_open(int fd, uint32_t instance)
{
	(void)fchan_open(fd, instance);
}
