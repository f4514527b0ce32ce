/*
 * Fuzz the pre-login state machine (login.c) in-process: a session as
 * session_new() and login_start() make it, on a socketpair, with no TLS
 * context and no backend, so a LOGIN or AUTHENTICATE that gets as far
 * as the backend fails at backend_for() without network I/O (and
 * ibuf_parent, needed only after a backend login, is never used).
 *
 * Input: byte 0 is a separator, byte 1 holds the P_* parameters, the
 * rest is the client's bytes in chunks split at the separator.  Each
 * chunk is written on its own and the event loop pumped after it.
 *
 * Checked: no crash or sanitizer report; the session never gets past
 * the pre-login states; every line it sends ends in CRLF; once the
 * client end is closed the session frees itself and its socket
 * (LeakSanitizer sees the rest).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "frontend.h"
#include "log.h"

#define P_LISTEN	0xfe	/* these two values: a TLS or IMSP listener */
#define P_INET6		0x01	/* the client came over IPv6 */
#define P_TIMEOUT	0x02	/* the session is closed as a timeout does */

#define MAXCHUNKS	512
#define PUMP_ROUNDS	4
#define CLOSE_ROUNDS	64
#define SEND_TRIES	64

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 once(void);
static void	 begin(int);
static void	 finish(int);
static void	 alive(void);
static void	 pump(void);
static void	 drain(void);
static void	 check_replies(void);
static void	 sendn(const char *, size_t);
static void	 timer_cb(int, short, void *);

static struct event_base	*base;
static struct fe_conf		*conf;
static struct session		*sess;
static int			 cfd = -1;	/* the test's end */
static int			 sfd;		/* the session's end */
static struct buf		 replies;	/* not yet checked */

static void
once(void)
{
	if (base != NULL)
		return;
	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_MAIL);
#if defined(__GLIBC__) && !defined(IMAPX_SANITIZE)
	/* freed memory is overwritten: a use after free shows in the bytes */
	mallopt(M_PERTURB, 0xa5);
#endif
	if ((base = event_init()) == NULL)
		abort();
}

/*
 * A session as session_accounted() hands it to login_start(), not
 * counted by a parent; small limits, to reach them with small inputs.
 */
static void
begin(int par)
{
	struct limits		 limits = LIMITS_DEFAULT_INIT;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	int			 sv[2], i;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		abort();
	conf->refcnt = 2;	/* ours and the session's */
	limits.login_line_max = 256;
	limits.login_literal_max = 128;
	limits.login_cmds = 16;
	conf->limits = limits;
	strlcpy(conf->domain, "example.org", sizeof(conf->domain));
	TAILQ_INIT(&conf->backends);
	if ((sess = calloc(1, sizeof(*sess))) == NULL)
		abort();
	sess->id = 1;
	sess->conf = conf;
	sess->accounted = 0;
	if (par == P_LISTEN)
		sess->lflags = LISTEN_TLS;
	else if (par == P_LISTEN + 1)
		sess->lflags = LISTEN_IMSP;
	if (par & P_INET6) {
		sin6 = (struct sockaddr_in6 *)&sess->addr;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(50000);
		strlcpy(sess->addrstr, "::1", sizeof(sess->addrstr));
	} else {
		sin = (struct sockaddr_in *)&sess->addr;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(0xc0000201);	/* 192.0.2.1 */
		sin->sin_port = htons(50000);
		strlcpy(sess->addrstr, "192.0.2.1", sizeof(sess->addrstr));
	}
	sess->port = 50000;
	memcpy(&sess->laddr, &sess->addr, sizeof(sess->laddr));

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	for (i = 0; i < 2; i++)
		if (fcntl(sv[i], F_SETFL, O_NONBLOCK) == -1)
			abort();
	cfd = sv[0];
	sfd = sv[1];
	conn_init(&sess->client, sv[1], NULL, sess);
	conn_init(&sess->backend, -1, NULL, sess);
	evtimer_set(&sess->timer, timer_cb, sess);
	sess->state = S_ACCOUNT;
	login_start(sess);
	pump();
}

/* Close the client's end; the session must free itself and its socket. */
static void
finish(int par)
{
	int	i;

	if ((par & P_TIMEOUT) && par < P_LISTEN && sess != NULL)
		session_close(sess, "Login timeout");
	pump();
	check_replies();
	close(cfd);
	cfd = -1;
	for (i = 0; sess != NULL && i < CLOSE_ROUNDS; i++) {
		event_loop(EVLOOP_NONBLOCK);
		alive();
	}
	if (sess != NULL) {
		fprintf(stderr, "fuzz_prelogin: the session outlived its "
		    "client (state %d)\n", sess->state);
		abort();
	}
	if (fcntl(sfd, F_GETFD) != -1 || errno != EBADF) {
		fprintf(stderr, "fuzz_prelogin: session socket left open\n");
		abort();
	}
	fe_conf_unref(conf);
	conf = NULL;
	buf_free(&replies, 0);
}

/* When our reference is the last, the session has freed itself. */
static void
alive(void)
{
	if (sess == NULL)
		return;
	if (conf->refcnt == 1) {
		sess = NULL;
		return;
	}
	switch (sess->state) {
	case S_PRELOGIN:
	case S_AUTHCONT:
	case S_CLOSING:
		break;
	default:
		/* no backend: nothing may get past backend_for() */
		fprintf(stderr, "fuzz_prelogin: session in state %d\n",
		    sess->state);
		abort();
	}
}

static void
pump(void)
{
	int	i;

	for (i = 0; i < PUMP_ROUNDS && sess != NULL; i++) {
		event_loop(EVLOOP_NONBLOCK);
		alive();
	}
	drain();
}

static void
drain(void)
{
	char	buf[16384];
	ssize_t	n;

	if (cfd == -1)
		return;
	while ((n = read(cfd, buf, sizeof(buf))) > 0)
		if (buf_append(&replies, buf, n) == -1)
			abort();
	if (n == -1 && errno != EAGAIN && errno != ECONNRESET)
		abort();
	check_replies();
}

/* Lines end in CRLF and fit conn_queuef(): it cut none short. */
static void
check_replies(void)
{
	const char	*p, *nl;
	size_t		 n;

	if (replies.len == 0)
		return;
	p = replies.data + replies.off;
	while (replies.len > 0 &&
	    (nl = memchr(p, '\n', replies.len)) != NULL) {
		n = nl - p + 1;
		if (n < 2 || p[n - 2] != '\r' || n >= 1024) {
			fprintf(stderr, "fuzz_prelogin: bad reply line: "
			    "\"%.*s\"\n", (int)(n > 200 ? 200 : n), p);
			abort();
		}
		p += n;
		replies.off += n;
		replies.len -= n;
	}
	if (replies.len >= 1024) {
		fprintf(stderr, "fuzz_prelogin: reply line over 1K\n");
		abort();
	}
}

/* Write it all unless the session stops reading or has gone. */
static void
sendn(const char *p, size_t len)
{
	ssize_t	n;
	int	tries = 0;

	while (len > 0 && cfd != -1) {
		if ((n = write(cfd, p, len)) == -1) {
			if (errno == EAGAIN && ++tries < SEND_TRIES) {
				pump();
				continue;
			}
			if (errno != EAGAIN && errno != EPIPE &&
			    errno != ECONNRESET)
				abort();
			return;
		}
		p += n;
		len -= n;
	}
}

static void
timer_cb(int fd, short event, void *arg)
{
	fprintf(stderr, "fuzz_prelogin: the session timer fired\n");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p, *end, *q;
	int		 sep, par, n;

	if (size < 2)
		return 0;
	once();
	sep = data[0];
	par = data[1];
	begin(par);
	p = (const char *)data + 2;
	end = (const char *)data + size;
	for (n = 0; ; n++) {
		q = n < MAXCHUNKS ? memchr(p, sep, end - p) : NULL;
		sendn(p, (size_t)((q != NULL ? q : end) - p));
		pump();
		if (q == NULL)
			break;
		p = q + 1;
	}
	finish(par);
	return 0;
}
