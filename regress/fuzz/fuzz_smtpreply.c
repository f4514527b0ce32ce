/*
 * Fuzz what submitd's SMTP client (smtp.c) reads from a relay: the
 * reply line parser and the EHLO keyword parser on every line of the
 * input, then a whole transaction against a relay whose every byte is
 * the input.
 *
 * Input: byte 0 holds the P_* parameters, the rest is what the relay
 * says, written at once before its end of the connection is shut: the
 * client sees every byte and then the end, so each transaction ends by
 * itself, without timeouts.  The relay is an abstract AF_UNIX socket.
 *
 * Checked: no crash or sanitizer report; the line parser's results are
 * consistent with the line; exactly one done() (or none, after an
 * abort), with a result that holds together: printable one-line text,
 * no more refusals than recipients, OK only with a 2xx after the dot;
 * all or nothing on the wire: no DATA after a refused recipient, and
 * the end of the data ("\r\n.\r\n") written exactly when the result
 * says sent.  LeakSanitizer sees the rest.
 */
#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp.h"

#define P_AUTH		0x01	/* AUTH PLAIN configured */
#define P_8BIT		0x02	/* SMTP_BODY_8BITMIME */
#define P_UTF8		0x04	/* SMTP_SMTPUTF8 */
#define P_ABORT		0x08	/* smtp_abort() in ready() */
#define P_MANY		0x10	/* three recipients, not one */
#define P_EMPTY		0x20	/* an empty message */

#define OUTMAX		(256 * 1024)

struct state {
	int			 par;
	int			 ready, done, aborted;
	struct smtp_result	 res;
	size_t			 nbad;
	int			 badok;
};

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 once(void);
static void	 lines(const char *, size_t);
static void	 session(int, const char *, size_t);
static void	 on_ready(struct smtp_txn *, const struct smtp_caps *, void *);
static void	 on_done(struct smtp_txn *, const struct smtp_result *,
		    void *);

static const char	 msg[] = "Subject: dots\r\n\r\n.\r\n..two\r\nend";
static char *const	 rcpts[] = { "a@example.test", "b@example.test",
			    "c@example.test" };
static struct event_base *base;
static int		 lfd = -1, mfd = -1;
static struct sockaddr_un sun;
static socklen_t	 sunlen;

static void
once(void)
{
	if (base != NULL)
		return;
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_init()) == NULL)
		abort();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	/* abstract: no file to clean up, one name per process */
	sunlen = offsetof(struct sockaddr_un, sun_path) + 1 +
	    snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
	    "imapx-fuzz-smtp-%d", (int)getpid());
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sunlen) == -1 ||
	    listen(lfd, 4) == -1)
		abort();
	if ((mfd = memfd_create("msg", MFD_CLOEXEC)) == -1 ||
	    write(mfd, msg, sizeof(msg) - 1) != sizeof(msg) - 1)
		abort();
}

/* Each line on its own, as the client splits them. */
static void
lines(const char *p, size_t len)
{
	struct smtp_caps	 caps;
	const char		*text, *end = p + len, *lf;
	size_t			 n;
	int			 code, more;

	memset(&caps, 0, sizeof(caps));
	while (p < end) {
		lf = memchr(p, '\n', end - p);
		n = (lf == NULL ? end : lf) - p;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (smtp_reply_line(p, n, &code, &more, &text) == 0) {
			if (code < 200 || code > 559 || (more != 0 &&
			    more != 1) || n < 3 || code != (p[0] - '0') *
			    100 + (p[1] - '0') * 10 + (p[2] - '0'))
				abort();
			if (n == 3 ? text != p + 3 : (text != p + 4 ||
			    (p[3] == '-') != more))
				abort();
			if (memchr(p, '\r', n) != NULL ||
			    memchr(p, '\0', n) != NULL)
				abort();
			(void)smtp_ehlo_line(&caps, text, n - (text - p));
		}
		if (lf == NULL)
			break;
		p = lf + 1;
	}
	if ((caps.eightbitmime | caps.smtputf8 | caps.pipelining |
	    caps.starttls | caps.auth_plain | caps.esmtp | caps.tls) & ~1)
		abort();
}

static void
on_ready(struct smtp_txn *txn, const struct smtp_caps *caps, void *arg)
{
	struct state	*st = arg;
	int		 flags = 0;

	if (st->ready || st->done)
		abort();
	st->ready = 1;
	if (st->par & P_ABORT) {
		st->aborted = 1;
		smtp_abort(txn);
		return;
	}
	if (st->par & P_8BIT)
		flags |= SMTP_BODY_8BITMIME;
	if (st->par & P_UTF8)
		flags |= SMTP_SMTPUTF8;
	smtp_send(txn, "sender@example.test", rcpts, st->par & P_MANY ? 3 : 1,
	    mfd, st->par & P_EMPTY ? 0 : sizeof(msg) - 1, flags);
}

static void
on_done(struct smtp_txn *txn, const struct smtp_result *res, void *arg)
{
	struct state	*st = arg;
	size_t		 i, j, nrcpt = st->par & P_MANY ? 3 : 1;

	if (st->done)
		abort();
	st->done = 1;
	st->res = *res;
	if (memchr(res->text, '\0', sizeof(res->text)) == NULL)
		abort();
	for (i = 0; res->text[i] != '\0'; i++)
		if (res->text[i] < 0x20 || res->text[i] > 0x7e)
			abort();
	if (res->nbad > nrcpt || (res->nbad > 0 && res->status == SMTP_OK))
		abort();
	if (res->status == SMTP_OK && (res->code / 100 != 2 || !res->sent ||
	    !st->ready))
		abort();
	for (i = 0; i < res->nbad; i++) {
		for (j = 0; j < nrcpt; j++)
			if (strcmp(res->bad[i].addr, rcpts[j]) == 0)
				break;
		if (j == nrcpt || res->bad[i].code < 200 ||
		    res->bad[i].code > 559 ||
		    memchr(res->bad[i].text, '\0',
		    sizeof(res->bad[i].text)) == NULL)
			abort();
	}
	/*
	 * Not smtp_free(), which keeps a connection the relay took a
	 * message on for the next transaction: each input is a relay of
	 * its own, and session() reads what the client wrote up to its
	 * close.
	 */
	smtp_abort(txn);
}

static int
contains(const char *hay, size_t len, const char *needle)
{
	return memmem(hay, len, needle, strlen(needle)) != NULL;
}

static void
session(int par, const char *script, size_t len)
{
	struct smtp_conf	 conf;
	struct smtp_txn		*txn;
	struct state		 st;
	static char		 out[OUTMAX];
	size_t			 outlen = 0;
	ssize_t			 n;
	int			 rfd;

	memset(&st, 0, sizeof(st));
	st.par = par;
	memset(&conf, 0, sizeof(conf));
	memcpy(&conf.addr, &sun, sizeof(sun));
	conf.addrlen = sunlen;
	conf.helo = "client.test";
	conf.tls = SMTP_TLS_NO;
	conf.timeout = 600;	/* never reached: every input ends */
	if (par & P_AUTH) {
		conf.auth_user = "user";
		conf.auth_pass = "pass";
	}
	if ((txn = smtp_open(&conf, on_ready, on_done, &st)) == NULL)
		abort();
	/*
	 * AF_UNIX connects at once: the connection is in the backlog, or
	 * the client failed before connecting and says so in done().
	 */
	if ((rfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN)
			abort();
		while (!st.done)
			event_loop(EVLOOP_ONCE);
		if (st.ready)
			abort();
		return;
	}
	while (len > 0) {
		if ((n = write(rfd, script, len)) == -1)
			abort();
		script += n;
		len -= n;
	}
	if (shutdown(rfd, SHUT_WR) == -1)
		abort();
	while (!st.done && !st.aborted)
		event_loop(EVLOOP_ONCE);

	/* what the client wrote, up to its close */
	while (outlen < sizeof(out) && (n = read(rfd, out + outlen,
	    sizeof(out) - outlen)) > 0)
		outlen += n;
	close(rfd);
	if (st.aborted)
		return;
	if (st.res.nbad > 0 && contains(out, outlen, "\r\nDATA\r\n"))
		abort();
	if (contains(out, outlen, "\r\n.\r\n") != (st.res.sent != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	once();
	lines((const char *)data, size);
	if (size > 0)
		session(data[0], (const char *)data + 1, size - 1);
	return 0;
}
