/*
 * Fuzz the parsed proxy (proxy.c, local.c) in-process, the way
 * regress/unit/proxy_test.c drives it: a session in S_PROXY between two
 * socketpairs, the harness playing both the client and the backend.
 *
 * Input: byte 0 is a separator, byte 1 holds the P_* parameters, and the
 * rest is chunks split at the separator, taking turns: client, backend,
 * client, ...  (an empty chunk lets one side write twice in a row).  In
 * any chunk "$T" stands for the tag of the command the harness injects,
 * which neither side could know otherwise, and "$L" for a run of 64K
 * bytes, more than an input holds.  Each chunk is written on its own
 * and the event loop pumped after it; whatever reaches the two test ends
 * is read (by the client, with P_SLOW, only at the end).  The harness
 * injects one STATUS command before the chunk the parameters name, and
 * registers a local command, XFUZZ.
 *
 * Checked: no crash or sanitizer report; the session frees itself once
 * both ends are closed (its sockets closed, its configuration reference
 * dropped; LeakSanitizer sees the rest); the injected command is done
 * exactly once, with its own tag; output the proxy queued always has a
 * write armed after the loop ran, also when a local command is answered
 * from outside the session's own callbacks, as a service does; and
 * every line the backend receives is bytes the client sent, or one of
 * the proxy's own lines (doc/proxy.md): the injected command, "DONE",
 * "<tag> IDLE" with a tag the client used, or client bytes ended by the
 * abort bytes.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "frontend.h"
#include "imsg-types.h"
#include "log.h"

#define P_INJAT		0x07	/* inject before this chunk */
#define P_SLOW		0x08	/* the client reads nothing until the end */
#define P_SERVICES	0x10	/* services on: capabilities gain theirs */
#define P_PAUSE		0x20	/* XFUZZ pauses the client, answers later */
#define P_BEFIRST	0x40	/* at the end the backend closes first */
#define P_TIMEOUT	0x80	/* the session is closed as a timeout does */

#define MAXCHUNKS	512
#define LONGRUN		(64 * 1024 + 16)
#define PUMP_ROUNDS	4
#define CLOSE_ROUNDS	64
#define SEND_TRIES	64
#define SOCKBUF		(16 * 1024)	/* the proxy's writes fill it */
#define XFUZZ_LITMAX	2048
#define INJ_CMD		"STATUS INBOX (MESSAGES)\r\n"
#define ABORT_BYTES	" \x7f\r\n"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 once(void);
static void	 begin(int);
static void	 finish(int);
static void	 alive(void);
static void	 pump(void);
static void	 service(void);
static void	 answer(void);
static void	 check_queues(void);
static int	 stuck(struct conn *);
static void	 drain(int, struct buf *);
static void	 chunk(int, const char *, size_t);
static void	 sendn(int, const char *, size_t, struct buf *);
static void	 inject(void);
static void	 check_backend(void);
static int	 line_ok(const char *, size_t, int);
static int	 from_client(const char *, size_t);
static void	 fail(const char *, const char *, size_t);
static void	 timer_cb(int, short, void *);
static int	 inj_match(struct inject *, const char *, size_t);
static void	 inj_data(struct inject *, int, const char *, size_t);
static void	 inj_done(struct inject *, const char *, size_t);
static int	 xfuzz_begin(struct session *, struct lcmd *, const char *,
		    size_t);
static int	 xfuzz_literal(struct session *, struct lcmd *, uint64_t,
		    int);
static int	 xfuzz_data(struct session *, struct lcmd *, int,
		    const char *, size_t);
static void	 xfuzz_end(struct session *, struct lcmd *);
static void	 xfuzz_cancel(struct session *, struct lcmd *);

static const struct lcmd_ops	 xfuzz_ops = {
	.name = "XFUZZ",
	.service = PROC_PARENT,
	.begin = xfuzz_begin,
	.literal = xfuzz_literal,
	.data = xfuzz_data,
	.end = xfuzz_end,
	.cancel = xfuzz_cancel,
};

static struct event_base	*base;
static struct fe_conf		*conf;
static struct session		*sess;
static int			 cfd = -1, bfd = -1;	/* the test ends */
static int			 sfd[2];		/* the session's ends */
static struct buf		 csent;		/* what the client wrote */
static struct buf		 brecv;		/* what the backend got */
static char			 longrun[LONGRUN];
static char			 injtag[sizeof(((struct inject *)0)->tag)];
static char			 injline[64];
static struct inject		 inj;
static int			 injected, injdone, pausing, slow;
static struct lcmd		*deferred;	/* XFUZZ to answer later */

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
	lcmd_register(&xfuzz_ops);
	memset(longrun, 'a', sizeof(longrun));
}

/* A session in S_PROXY as login_done() leaves it (see proxy_test.c). */
static void
begin(int par)
{
	struct limits	limits = LIMITS_DEFAULT_INIT;
	int		csv[2], bsv[2], i, sndbuf = SOCKBUF;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		abort();
	conf->refcnt = 2;	/* ours and the session's */
	limits.line_max = 1024;
	limits.literal_max = 4096;
	conf->limits = limits;
	if (par & P_SERVICES)
		conf->services = 1 << PROC_EXECD | 1 << PROC_SUBMITD |
		    1 << PROC_NOTIFYD;
	TAILQ_INIT(&conf->backends);
	if ((sess = calloc(1, sizeof(*sess))) == NULL)
		abort();
	sess->id = 1;
	sess->conf = conf;
	sess->accounted = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, csv) == -1 ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, bsv) == -1)
		abort();
	for (i = 0; i < 2; i++)
		if (fcntl(csv[i], F_SETFL, O_NONBLOCK) == -1 ||
		    fcntl(bsv[i], F_SETFL, O_NONBLOCK) == -1)
			abort();
	/* small socket buffers: the proxy's output queues and drains */
	if (setsockopt(csv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf)) == -1 || setsockopt(bsv[1], SOL_SOCKET,
	    SO_SNDBUF, &sndbuf, sizeof(sndbuf)) == -1)
		abort();
	cfd = csv[0];
	bfd = bsv[0];
	sfd[0] = csv[1];
	sfd[1] = bsv[1];
	conn_init(&sess->client, csv[1], NULL, sess);
	conn_init(&sess->backend, bsv[1], NULL, sess);
	evtimer_set(&sess->timer, timer_cb, sess);
	pausing = (par & P_PAUSE) != 0;
	slow = (par & P_SLOW) != 0;
	injected = injdone = 0;
	deferred = NULL;
	proxy_start(sess);
	if (sess->state != S_PROXY)
		abort();
	(void)snprintf(injtag, sizeof(injtag), "%s1", sess->injprefix);
	(void)snprintf(injline, sizeof(injline), "%s %s", injtag, INJ_CMD);
}

/* Close both ends; the session must free itself and its sockets. */
static void
finish(int par)
{
	int	i;

	answer();
	/* a slow client reads at last: the proxy drains and resumes */
	slow = 0;
	for (i = 0; i < 8; i++)
		pump();
	if ((par & P_TIMEOUT) && sess != NULL)
		session_close(sess, "Autologout; idle for too long");
	pump();
	if (par & P_BEFIRST) {
		close(bfd);
		bfd = -1;
		pump();
	}
	close(cfd);
	cfd = -1;
	if (bfd != -1) {
		close(bfd);
		bfd = -1;
	}
	for (i = 0; sess != NULL && i < CLOSE_ROUNDS; i++) {
		event_loop(EVLOOP_NONBLOCK);
		alive();
		service();
	}
	if (sess != NULL) {
		fprintf(stderr, "fuzz_proxy: the session outlived its peers "
		    "(state %d, cs %d, rs %d)\n", sess->state, sess->cs,
		    sess->rs);
		abort();
	}
	for (i = 0; i < 2; i++)
		if (fcntl(sfd[i], F_GETFD) != -1 || errno != EBADF) {
			fprintf(stderr, "fuzz_proxy: session socket %d left "
			    "open\n", i);
			abort();
		}
	if (deferred != NULL)
		abort();
	if (injdone != injected) {
		fprintf(stderr, "fuzz_proxy: injected %d, done %d\n",
		    injected, injdone);
		abort();
	}
	check_backend();
	fe_conf_unref(conf);
	conf = NULL;
	buf_free(&csent, 0);
	buf_free(&brecv, 0);
}

/* When our reference is the last, the session has freed itself. */
static void
alive(void)
{
	if (sess != NULL && conf->refcnt == 1)
		sess = NULL;
}

static void
pump(void)
{
	int	i;

	for (i = 0; i < PUMP_ROUNDS && sess != NULL; i++) {
		event_loop(EVLOOP_NONBLOCK);
		alive();
		service();
	}
	check_queues();
	if (!slow)
		drain(cfd, NULL);
	drain(bfd, &brecv);
}

/* What a service behind XFUZZ does from its channel when it has room. */
static void
service(void)
{
	if (sess != NULL)
		lcmd_resume(sess);
}

/*
 * The service answers a command it had been waiting on.  Then, with
 * nothing new from either side, the event loop must send all the proxy
 * queued meanwhile.
 */
static void
answer(void)
{
	if (deferred == NULL)
		return;
	if (sess == NULL || sess->local != deferred ||
	    sess->cs != CS_LOCAL_WAIT)
		abort();
	deferred = NULL;
	lcmd_done(sess, "OK XFUZZ done later");
	pump();
}

/* Output the proxy queued goes out from the loop: a write is armed. */
static int
stuck(struct conn *c)
{
	/* a failed write closes the session from the loop instead */
	return c->out.len > 0 && !(c->flags & CONN_ERROR) &&
	    !event_pending(&c->wev, EV_WRITE, NULL);
}

static void
check_queues(void)
{
	if (sess == NULL || sess->state != S_PROXY)
		return;
	if (stuck(&sess->client) || stuck(&sess->backend)) {
		fprintf(stderr, "fuzz_proxy: output queued with no write "
		    "armed: client %zu bytes, backend %zu bytes\n",
		    sess->client.out.len, sess->backend.out.len);
		abort();
	}
}

static void
drain(int fd, struct buf *keep)
{
	char	buf[16384];
	ssize_t	n;

	if (fd == -1)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (keep != NULL && buf_append(keep, buf, n) == -1)
			abort();
	if (n == -1 && errno != EAGAIN && errno != ECONNRESET)
		abort();
}

/*
 * One chunk from the client or the backend, "$T" made the injected tag
 * and "$L" a run of LONGRUN bytes (a response line long enough to be
 * streamed, a literal body over the limit).
 */
static void
chunk(int backend, const char *p, size_t len)
{
	struct buf	 out;
	const char	*q;
	size_t		 n;

	answer();
	memset(&out, 0, sizeof(out));
	while (len > 0) {
		q = memchr(p, '$', len);
		n = q != NULL ? (size_t)(q - p) : len;
		if (n > 0 && buf_append(&out, p, n) == -1)
			abort();
		p += n;
		len -= n;
		if (len == 0)
			break;
		if (len >= 2 && p[1] == 'T') {
			if (buf_append(&out, injtag, strlen(injtag)) == -1)
				abort();
			n = 2;
		} else if (len >= 2 && p[1] == 'L') {
			if (buf_append(&out, longrun, sizeof(longrun)) == -1)
				abort();
			n = 2;
		} else {
			if (buf_append(&out, p, 1) == -1)
				abort();
			n = 1;
		}
		p += n;
		len -= n;
	}
	if (backend)
		sendn(bfd, out.data, out.len, NULL);
	else
		sendn(cfd, out.data, out.len, &csent);
	buf_free(&out, 0);
	pump();
}

/* Write it all unless the proxy stops reading or has gone. */
static void
sendn(int fd, const char *p, size_t len, struct buf *keep)
{
	ssize_t	n;
	int	tries = 0;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EAGAIN && ++tries < SEND_TRIES) {
				pump();
				continue;
			}
			if (errno != EAGAIN && errno != EPIPE &&
			    errno != ECONNRESET)
				abort();
			return;
		}
		if (keep != NULL && buf_append(keep, p, n) == -1)
			abort();
		p += n;
		len -= n;
	}
}

static void
inject(void)
{
	static char	cmd[] = INJ_CMD;

	if (sess == NULL || injected)
		return;
	memset(&inj, 0, sizeof(inj));
	inj.cmd = cmd;
	inj.cmdlen = strlen(cmd);
	inj.match = inj_match;
	inj.data = inj_data;
	inj.done = inj_done;
	if (proxy_inject(sess, &inj) == -1) {
		if (sess->state == S_PROXY)
			abort();
		return;
	}
	if (strcmp(inj.tag, injtag) != 0)
		abort();
	injected = 1;
	pump();
}

/* Every line the backend got came from the client or is the proxy's. */
static void
check_backend(void)
{
	const char	*p, *nl;
	size_t		 len = brecv.len, n;
	int		 ninj = 0;

	if (len == 0)
		return;
	p = brecv.data + brecv.off;
	while (len > 0) {
		nl = memchr(p, '\n', len);
		n = nl != NULL ? (size_t)(nl - p) + 1 : len;
		if (!line_ok(p, n, nl != NULL))
			fail("a line the client did not send", p, n);
		if (n == strlen(injline) && memcmp(p, injline, n) == 0 &&
		    !from_client(p, n) && ++ninj > 1)
			fail("the injected command twice", p, n);
		p += n;
		len -= n;
	}
}

static int
line_ok(const char *p, size_t n, int complete)
{
	static const char	 done[] = "DONE\r\n";
	size_t			 alen = sizeof(ABORT_BYTES) - 1;

	if (from_client(p, n))
		return 1;
	if (!complete)		/* all read: only a prefix of ours */
		return (n <= strlen(injline) && memcmp(p, injline, n) == 0) ||
		    (n <= 6 && memcmp(p, done, n) == 0);
	if ((n == strlen(injline) && memcmp(p, injline, n) == 0) ||
	    (n == 6 && memcmp(p, done, 6) == 0))
		return 1;
	/* our IDLE again, with the tag of the client's IDLE */
	if (n > 7 && memcmp(p + n - 7, " IDLE\r\n", 7) == 0 &&
	    from_client(p, n - 6))
		return 1;
	/* client bytes, then what ends a refused command with a BAD */
	if (n >= alen && memcmp(p + n - alen, ABORT_BYTES, alen) == 0 &&
	    from_client(p, n - alen))
		return 1;
	return 0;
}

static int
from_client(const char *p, size_t n)
{
	return n == 0 || (csent.len > 0 &&
	    memmem(csent.data + csent.off, csent.len, p, n) != NULL);
}

static void
fail(const char *what, const char *p, size_t n)
{
	size_t	i;

	fprintf(stderr, "fuzz_proxy: backend got %s: \"", what);
	for (i = 0; i < n && i < 200; i++)
		fprintf(stderr, (unsigned char)p[i] < 0x20 ||
		    (unsigned char)p[i] >= 0x7f ? "\\x%02x" : "%c",
		    (unsigned char)p[i]);
	fprintf(stderr, "\"\n");
	abort();
}

static void
timer_cb(int fd, short event, void *arg)
{
	fprintf(stderr, "fuzz_proxy: the session timer fired\n");
	abort();
}

static int
inj_match(struct inject *i, const char *p, size_t len)
{
	if (i != &inj || !i->sent)
		abort();
	return len >= 8 && strncmp(p, "* STATUS", 8) == 0;
}

static void
inj_data(struct inject *i, int kind, const char *p, size_t len)
{
	if (i != &inj || (kind != INJ_LINE && kind != INJ_LITERAL))
		abort();
}

/* Its tagged answer, or NULL when the session ends first: once. */
static void
inj_done(struct inject *i, const char *p, size_t len)
{
	size_t	tl = strlen(injtag);

	if (i != &inj || !injected || ++injdone > 1)
		abort();
	if (p != NULL && (len <= tl || memcmp(p, injtag, tl) != 0 ||
	    p[tl] != ' '))
		abort();
}

/* "XFUZZ NO ..." is refused at once; anything else waits for its end. */
static int
xfuzz_begin(struct session *s, struct lcmd *lc, const char *p, size_t len)
{
	if (s != sess || s->local != lc)
		abort();
	if (len >= 3 && strncasecmp(p, " NO", 3) == 0) {
		lcmd_done(s, "NO XFUZZ refused");
		return -1;
	}
	return 0;
}

static int
xfuzz_literal(struct session *s, struct lcmd *lc, uint64_t len, int lit)
{
	if (s->local != lc || len > s->conf->limits.literal_max)
		abort();
	return len > XFUZZ_LITMAX ? -1 : 0;
}

/* Data starting with "!" answers early; P_PAUSE pauses the client. */
static int
xfuzz_data(struct session *s, struct lcmd *lc, int kind, const char *p,
    size_t len)
{
	if (s->local != lc || (kind != INJ_LINE && kind != INJ_LITERAL))
		abort();
	if (len > 0 && p[0] == '!') {
		lcmd_done(s, "NO XFUZZ stopped early");
		return 0;	/* lc is gone */
	}
	return pausing;
}

/* Answer now, or with P_PAUSE before the next chunk (answer()). */
static void
xfuzz_end(struct session *s, struct lcmd *lc)
{
	if (s->local != lc || deferred != NULL)
		abort();
	if (pausing)
		deferred = lc;
	else
		lcmd_done(s, "OK XFUZZ done");
}

static void
xfuzz_cancel(struct session *s, struct lcmd *lc)
{
	if (s->local != lc || (deferred != NULL && deferred != lc))
		abort();
	deferred = NULL;
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
		if (n == (par & P_INJAT))
			inject();
		chunk(n % 2, p, (size_t)((q != NULL ? q : end) - p));
		if (q == NULL)
			break;
		p = q + 1;
	}
	inject();
	finish(par);
	return 0;
}
