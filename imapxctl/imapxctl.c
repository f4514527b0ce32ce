/*
 * imapxctl: the operator's tool.  Talks imsg to imapxd's parent over its
 * control socket.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "imsg.h"
#include "imsg-types.h"

static const char *procnames[PROC_MAX] = {
	[PROC_PARENT] = "parent",
	[PROC_FRONTEND] = "frontend",
	[PROC_EXECD] = "execd",
	[PROC_SUBMITD] = "submitd",
	[PROC_NOTIFYD] = "notifyd",
};

static __dead2 void
usage(void)
{
	fprintf(stderr, "usage: imapxctl [-s socket] status | reload\n");
	exit(1);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		errx(1, "%s: name too long", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		err(1, "connect %s", path);
	return fd;
}

/* Read replies until END, OK or FAIL; returns the exit status. */
static int
ctl_replies(struct imsgbuf *ibuf)
{
	struct imsg		imsg;
	struct imsg_ctl_proc	p;
	struct imsg_ctl_fail	fail;
	ssize_t			n;

	for (;;) {
		if ((n = imsgbuf_read(ibuf)) == -1)
			err(1, "read");
		if (n == 0)
			errx(1, "imapxd closed the connection");
		while ((n = imsg_get(ibuf, &imsg)) > 0) {
			switch (imsg_get_type(&imsg)) {
			case IMSG_CTL_PROC:
				if (imsg_get_data(&imsg, &p, sizeof(p)) == -1 ||
				    p.proc >= PROC_MAX)
					errx(1, "bad reply");
				printf("%-9s %3u  pid %-7d restarts %-4u "
				    "sessions %u\n", procnames[p.proc],
				    p.instance, (int)p.pid, p.restarts,
				    p.sessions);
				break;
			case IMSG_CTL_END:
			case IMSG_CTL_OK:
				imsg_free(&imsg);
				return 0;
			case IMSG_CTL_FAIL:
				if (imsg_get_data(&imsg, &fail,
				    sizeof(fail)) == -1)
					errx(1, "bad reply");
				fail.reason[sizeof(fail.reason) - 1] = '\0';
				imsg_free(&imsg);
				warnx("%s", fail.reason);
				return 1;
			default:
				errx(1, "unexpected reply %u",
				    imsg_get_type(&imsg));
			}
			imsg_free(&imsg);
		}
		if (n == -1)
			err(1, "imsg_get");
	}
}

int
main(int argc, char *argv[])
{
	struct imsgbuf	 ibuf;
	const char	*sock = IMAPXD_CTLSOCK;
	uint32_t	 type;
	int		 ch;

	while ((ch = getopt(argc, argv, "s:")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1)
		usage();
	if (strcmp(argv[0], "status") == 0)
		type = IMSG_CTL_STATUS;
	else if (strcmp(argv[0], "reload") == 0)
		type = IMSG_CTL_RELOAD;
	else
		usage();

	if (imsgbuf_init(&ibuf, ctl_connect(sock)) == -1)
		err(1, "imsgbuf_init");
	if (imsg_compose(&ibuf, type, 0, 0, -1, NULL, 0) == -1 ||
	    imsgbuf_flush(&ibuf) == -1)
		err(1, "write");
	return ctl_replies(&ibuf);
}
