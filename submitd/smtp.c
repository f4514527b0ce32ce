/*
 * submitd's SMTP client (see smtp.h).  One transaction at a time on a
 * connection, driven by one state machine on libevent; nothing here
 * ever blocks.
 *
 * Each transaction has a read and a write event for its socket, a timer
 * for the relay's replies, and a zero timer through which ready() and
 * done() are called: callbacks always come from the event loop, never
 * from inside a call of the API, and nothing touches the
 * transaction once a callback has been made.
 *
 * All or nothing (seeds/004: "A NO response indicates that no message
 * was sent to any recipient"): DATA goes out only when the relay
 * accepted every RCPT; the final "." is written only once the whole
 * message has been read from the spool, so a failure or an abort in the
 * middle closes the connection without it and the relay drops the
 * message (RFC 5321 4.1.1.4).
 *
 * A connection outlives its transaction when the relay has just taken
 * the message (or the RSET after refused recipients): smtp_free() keeps
 * it, idle, for the next smtp_open() to the same relay, at most
 * SMTP_IDLE_MAX of them and each for SMTP_IDLE_SECS, and at most
 * SMTP_REUSE_MAX transactions on one.  Without that, every message cost
 * the relay a session (accept, its DNS lookups, greeting, EHLO, TLS,
 * AUTH), and messages finishing together made bursts of connections
 * that overflow a small listen queue (OpenSMTPD's is 5): a dropped SYN
 * waits a second, and with SYN cookies a dropped ACK leaves a
 * connection nobody greets.  Anything the relay says on an idle
 * connection (421, or closing it) ends it.  One that turns out to be
 * gone when its next transaction begins, before the relay answered
 * MAIL, hands that transaction to a new connection: the relay cannot
 * have taken anything of it.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tls.h>
#include <unistd.h>

#include <sodium.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "log.h"
#include "smtp.h"

#define SMTP_LINE_MAX		4096	/* a reply line with its CRLF */
#define SMTP_REPLY_LINES	100	/* lines of one reply */
#define SMTP_TEXT_MAX		256	/* of a reply's text that is kept */
#define SMTP_CMD_MAX		1024	/* a command line we send */
#define SMTP_AUTH_MAX		512	/* user and password, together */
#define SMTP_CHUNK		8192	/* message bytes stuffed at a time */
#define SMTP_CHUNKS_TURN	8	/* chunks written per wakeup */
#define SMTP_PLAIN_MAX		(256 * 1024)	/* plain bytes at a time */
#define SMTP_PLAIN_IOV		64	/* pieces of one writev(2) */
#define SMTP_MAP		(4 * 1024 * 1024)	/* file mapped at once */
#define SMTP_SMALL		(64 * 1024)	/* a message read, not mapped */
#define SMTP_TIMEOUT		300	/* seconds, when conf->timeout is 0 */

enum smtp_state {
	S_CONNECT,		/* connect(2) in progress */
	S_HANDSHAKE,		/* TLS handshake */
	S_GREETING,		/* waiting for 220 */
	S_EHLO,
	S_HELO,
	S_STARTTLS,
	S_AUTH,
	S_READY,		/* ready() made, waiting for smtp_begin() */
	S_MAIL,
	S_ENVELOPE,		/* MAIL taken, waiting for smtp_rcpt() */
	S_RCPT,			/* replies to RCPT, one per recipient */
	S_RSET,
	S_DATA,
	S_BODY,			/* writing the message */
	S_DOT,			/* the final "." went out: the reply */
	S_DONE			/* done() made or on its way */
};

struct smtp_txn {
	TAILQ_ENTRY(smtp_txn)	 entry;		/* on the idle list */
	struct smtp_conf	 conf;
	smtp_ready_cb		 ready;
	smtp_done_cb		 done;
	void			*arg;

	enum smtp_state		 state;
	int			 fd;
	struct tls		*tls;
	struct event		 rev, wev;	/* the socket */
	struct event		 tev;		/* reply timeout */
	struct event		 dev;		/* deferred callbacks */
	short			 rwant, wwant;	/* what a read/write waits for */
	short			 hswant;	/* what the handshake waits for */
	int			 eof;
	int			 greeted;	/* the 220 came */
	int			 notls;		/* STARTTLS was refused */
	int			 authed;
	int			 announced;	/* ready() was made */
	struct smtp_caps	 caps;
	int			 idle;		/* kept, on the idle list */
	int			 keep;		/* done; may serve another */
	int			 reused;	/* came from the idle list */
	int			 answered;	/* the relay answered MAIL */
	int			 ntxn;		/* begun on this connection */

	char			 in[SMTP_LINE_MAX];
	size_t			 inoff, inlen;
	int			 rcode;		/* of the reply being read */
	size_t			 rlines;
	char			 rtext[SMTP_TEXT_MAX];	/* its first line */

	char			*out;
	size_t			 outoff, outlen, outcap;
	int			 secret;	/* out holds a password */

	char			*from;		/* copy, for MAIL again */
	int			 flags;		/* of smtp_send() */
	char			**rcpt;		/* copies, for RCPT and bad */
	size_t			 nrcpt, nreplied;
	struct smtp_badrcpt	*bad;
	size_t			 nbad;

	int			 msgfd;		/* -1 until smtp_rcpt() */
	const unsigned char	*map;		/* a window of it, or NULL */
	off_t			 mapoff;	/* where the window begins */
	off_t			 msgseen;	/* bytes seen in the file */
	int			 nomap;		/* mmap(2) failed: read */
	off_t			 msgsize;	/* for SIZE=, 0 if not known */
	off_t			 msgoff;	/* the next byte to send */
	off_t			 msgend;	/* bytes in the file so far */
	int			 complete;	/* msgend is the end */
	int			 starved;	/* sent up to msgend, waiting */
	off_t			 plain;		/* bytes that go as they are */
	off_t			 dots;		/* no line of them that begins
						   with "." begins here or
						   after */
	int			 bol;		/* at the start of a line */
	int			 cr;		/* a CR waits for its LF */
	int			 dotq;		/* the final "." is queued */

	struct smtp_result	 res;
};

static void	 smtp_event(int, short, void *);
static void	 smtp_bind(struct smtp_txn *, const struct smtp_conf *,
		    smtp_ready_cb, smtp_done_cb, void *);
static void	 smtp_connect(struct smtp_txn *);
static void	 smtp_mail(struct smtp_txn *);
static int	 smtp_rcpt_check(struct smtp_txn *, char *const *, size_t);
static void	 smtp_retry(struct smtp_txn *);
static int	 smtp_reusable(const struct smtp_txn *);
static struct smtp_txn *smtp_idle_take(const struct smtp_conf *);
static int	 smtp_idle_put(struct smtp_txn *);
static void	 smtp_idle_end(struct smtp_txn *);
static int	 smtp_conf_same(const struct smtp_conf *,
		    const struct smtp_conf *);
static void	 smtp_destroy(struct smtp_txn *);
static void	 smtp_forget(struct smtp_txn *);
static void	 smtp_timeout(int, short, void *);
static void	 smtp_deliver(int, short, void *);
static void	 smtp_run(struct smtp_txn *);
static void	 smtp_update(struct smtp_txn *);
static void	 smtp_arm(struct smtp_txn *);
static int	 smtp_waiting(const struct smtp_txn *);
static void	 smtp_connected(struct smtp_txn *);
static void	 smtp_starttls(struct smtp_txn *);
static int	 smtp_handshake(struct smtp_txn *);
static int	 smtp_converse(struct smtp_txn *);
static int	 smtp_body(struct smtp_txn *);
static int	 smtp_fill(struct smtp_txn *);
static int	 smtp_plainv(struct smtp_txn *);
static const unsigned char *smtp_window(struct smtp_txn *, size_t *);
static const unsigned char *dotline(const unsigned char *,
		    const unsigned char *);
static void	 smtp_unmap(struct smtp_txn *);
static int	 smtp_gone(struct smtp_txn *);
static int	 smtp_read(struct smtp_txn *);
static int	 smtp_flush(struct smtp_txn *);
static void	 smtp_line(struct smtp_txn *, const char *, size_t);
static void	 smtp_reply(struct smtp_txn *);
static void	 smtp_rcpt_reply(struct smtp_txn *);
static void	 smtp_rcpt_failed(struct smtp_txn *);
static void	 smtp_next(struct smtp_txn *);
static void	 smtp_ehlo(struct smtp_txn *);
static void	 smtp_auth(struct smtp_txn *);
static void	 smtp_refused(struct smtp_txn *, const char *, const char *);
static void	 smtp_lost(struct smtp_txn *, int);
static void	 smtp_finish(struct smtp_txn *, int, enum smtp_status, int,
		    const char *, ...)
		    __attribute__((__format__ (printf, 5, 6)));
static void	 smtp_cmd(struct smtp_txn *, enum smtp_state, const char *,
		    ...)
		    __attribute__((__format__ (printf, 3, 4)));
static int	 smtp_queue(struct smtp_txn *, const void *, size_t);
static int	 smtp_reserve(struct smtp_txn *, size_t);
static void	 smtp_close(struct smtp_txn *);
static void	 smtp_clean(char *, size_t, const char *, size_t);
static int	 smtp_addr_ok(const char *, int);
static enum smtp_status smtp_status_of(int);

static TAILQ_HEAD(, smtp_txn)	 idle = TAILQ_HEAD_INITIALIZER(idle);
static int			 nidle;

/*
 * Reply lines (RFC 5321 4.2): three digits, then "-" on every line but
 * the last, a space (or nothing) on the last, then text.  The line comes
 * without its CRLF; a CR, LF or NUL inside it is not a reply.
 */
int
smtp_reply_line(const char *line, size_t len, int *code, int *more,
    const char **text)
{
	const unsigned char	*p = (const unsigned char *)line;

	if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' ||
	    p[1] > '5' || p[2] < '0' || p[2] > '9')
		return -1;
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) !=
	    NULL || memchr(line, '\n', len) != NULL)
		return -1;
	if (len > 3 && p[3] != ' ' && p[3] != '-')
		return -1;
	*code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	*more = len > 3 && p[3] == '-';
	*text = len > 3 ? line + 4 : line + 3;
	return 0;
}

/* Is the keyword at p (n bytes, up to a space, "=" or the end) kw? */
static int
ehlo_kw(const char *p, size_t n, const char *kw, size_t *kwlen)
{
	size_t	l = strlen(kw);

	if (n < l || strncasecmp(p, kw, l) != 0)
		return 0;
	if (n > l && p[l] != ' ' && p[l] != '=')
		return 0;
	*kwlen = l;
	return 1;
}

/*
 * One line of an EHLO reply after the first (RFC 5321 4.1.1.1): a
 * keyword and its parameters.  "AUTH=PLAIN" is the form of old servers.
 */
int
smtp_ehlo_line(struct smtp_caps *caps, const char *text, size_t len)
{
	const char	*p, *end = text + len;
	size_t		 kl, tl;
	uint64_t	 n;

	if (ehlo_kw(text, len, "8BITMIME", &kl))
		caps->eightbitmime = 1;
	else if (ehlo_kw(text, len, "SMTPUTF8", &kl))
		caps->smtputf8 = 1;
	else if (ehlo_kw(text, len, "PIPELINING", &kl))
		caps->pipelining = 1;
	else if (ehlo_kw(text, len, "STARTTLS", &kl))
		caps->starttls = 1;
	else if (ehlo_kw(text, len, "AUTH", &kl)) {
		for (p = text + kl; p < end; p += tl) {
			while (p < end && (*p == ' ' || *p == '='))
				p++;
			for (tl = 0; p + tl < end && p[tl] != ' '; tl++)
				;
			if (tl == 5 && strncasecmp(p, "PLAIN", 5) == 0)
				caps->auth_plain = 1;
		}
	} else if (ehlo_kw(text, len, "SIZE", &kl)) {
		/* RFC 1870: no number, or 0, is no fixed limit */
		p = text + kl;
		while (p < end && *p == ' ')
			p++;
		for (n = 0; p < end && *p >= '0' && *p <= '9'; p++) {
			if (n > (UINT64_MAX - 9) / 10)
				break;
			n = n * 10 + (*p - '0');
		}
		caps->size = (p == end) ? n : 0;
	} else
		return 0;
	return 1;
}

struct smtp_txn *
smtp_open(const struct smtp_conf *conf, smtp_ready_cb ready,
    smtp_done_cb done, void *arg)
{
	struct smtp_txn		*t;
	struct timeval		 tv = { 0, 0 };

	if ((t = smtp_idle_take(conf)) != NULL) {
		smtp_bind(t, conf, ready, done, arg);
		evtimer_add(&t->dev, &tv);	/* ready(), from the loop */
		return t;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	smtp_bind(t, conf, ready, done, arg);
	t->fd = -1;
	t->msgfd = -1;
	evtimer_set(&t->tev, smtp_timeout, t);
	evtimer_set(&t->dev, smtp_deliver, t);

	/* a domain or an address literal (RFC 5321 4.1.1.1) */
	if (!smtp_addr_ok(t->conf.helo, 0) || strlen(t->conf.helo) > 255 ||
	    strchr(t->conf.helo, ' ') != NULL) {
		smtp_finish(t, 0, SMTP_PERMFAIL, 0, "invalid HELO name");
		return t;
	}
	smtp_connect(t);
	return t;
}

/* The transaction's configuration and callbacks, on a new or kept t. */
static void
smtp_bind(struct smtp_txn *t, const struct smtp_conf *conf,
    smtp_ready_cb ready, smtp_done_cb done, void *arg)
{
	t->conf = *conf;
	if (t->conf.helo == NULL)
		t->conf.helo = "localhost";
	if (t->conf.timeout <= 0)
		t->conf.timeout = SMTP_TIMEOUT;
	t->ready = ready;
	t->done = done;
	t->arg = arg;
}

/* A new connection to the relay, for t. */
static void
smtp_connect(struct smtp_txn *t)
{
	const struct sockaddr	*sa = (const struct sockaddr *)&t->conf.addr;
	int			 one = 1;

	t->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (t->fd == -1) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "cannot connect to relay: %s", strerror(errno));
		return;
	}
	(void)setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* kept while replies are due, not added and removed for each */
	event_set(&t->rev, t->fd, EV_READ | EV_PERSIST, smtp_event, t);
	event_set(&t->wev, t->fd, EV_WRITE, smtp_event, t);
	if (connect(t->fd, sa, t->conf.addrlen) == -1 &&
	    errno != EINPROGRESS) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "cannot connect to relay: %s", strerror(errno));
		return;
	}
	/* even an immediate success is seen on the write event */
	t->state = S_CONNECT;
	smtp_arm(t);
	smtp_update(t);
}

void
smtp_send(struct smtp_txn *t, const char *from, char *const *rcpt,
    size_t nrcpt, int fd, off_t size, int flags)
{
	if (size < 0)
		fatalx("%s: negative size", __func__);
	/* nothing goes to the relay for an envelope that cannot be sent */
	if (t->state == S_READY && smtp_rcpt_check(t, rcpt, nrcpt) == -1)
		return;
	smtp_begin(t, from, size, flags);
	smtp_rcpt(t, rcpt, nrcpt, fd);
	smtp_more(t, size, 1);
}

void
smtp_begin(struct smtp_txn *t, const char *from, off_t size, int flags)
{
	if (t->state != S_READY || t->from != NULL)
		fatalx("%s: the transaction is not ready", __func__);
	t->msgsize = size > 0 ? size : 0;
	if (!smtp_addr_ok(from, 1)) {
		smtp_finish(t, 1, SMTP_PERMFAIL, 0, "invalid sender address");
		return;
	}
	if ((t->from = strdup(from)) == NULL) {
		smtp_finish(t, 1, SMTP_TEMPFAIL, 0, "out of memory");
		return;
	}
	t->flags = flags;
	smtp_mail(t);
}

void
smtp_rcpt(struct smtp_txn *t, char *const *rcpt, size_t nrcpt, int fd)
{
	size_t	i;

	if (t->state == S_DONE)
		return;
	if (t->from == NULL || t->rcpt != NULL || fd == -1)
		fatalx("%s: out of order", __func__);
	t->msgfd = fd;
	if (smtp_rcpt_check(t, rcpt, nrcpt) == -1)
		return;
	if ((t->rcpt = calloc(nrcpt, sizeof(*t->rcpt))) == NULL) {
		smtp_finish(t, 1, SMTP_TEMPFAIL, 0, "out of memory");
		return;
	}
	for (i = 0; i < nrcpt; i++) {
		if ((t->rcpt[i] = strdup(rcpt[i])) == NULL) {
			smtp_finish(t, 1, SMTP_TEMPFAIL, 0, "out of memory");
			return;
		}
		t->nrcpt++;
	}
	if (t->state == S_ENVELOPE) {
		/* MAIL was taken already: the recipients now */
		smtp_cmd(t, S_RCPT, "RCPT TO:<%s>", t->rcpt[0]);
		if (t->caps.pipelining)
			for (i = 1; i < t->nrcpt; i++)
				smtp_cmd(t, S_RCPT, "RCPT TO:<%s>",
				    t->rcpt[i]);
	} else if (t->state == S_MAIL && t->caps.pipelining)
		/* RFC 2920: behind MAIL, the replies are read in order */
		for (i = 0; i < t->nrcpt; i++)
			smtp_cmd(t, S_MAIL, "RCPT TO:<%s>", t->rcpt[i]);
	smtp_update(t);
}

/* -1 (and done() on its way) if the recipients cannot be sent. */
static int
smtp_rcpt_check(struct smtp_txn *t, char *const *rcpt, size_t nrcpt)
{
	size_t	i;

	if (nrcpt == 0) {
		smtp_finish(t, 1, SMTP_PERMFAIL, 0, "no recipients");
		return -1;
	}
	for (i = 0; i < nrcpt; i++)
		if (!smtp_addr_ok(rcpt[i], 0)) {
			smtp_finish(t, 1, SMTP_PERMFAIL, 0,
			    "invalid recipient address");
			return -1;
		}
	return 0;
}

void
smtp_plain(struct smtp_txn *t, off_t upto, off_t dots)
{
	if (t->state == S_DONE || upto <= t->plain)
		return;
	t->plain = upto;
	t->dots = dots;
}

void
smtp_more(struct smtp_txn *t, off_t avail, int complete)
{
	if (t->state == S_DONE)
		return;
	if (avail < t->msgend || t->complete)
		fatalx("%s: the message cannot shrink or grow after its end",
		    __func__);
	t->msgend = avail;
	t->complete = complete;
	if (t->state == S_BODY && t->starved) {
		t->starved = 0;
		smtp_arm(t);
		smtp_run(t);
	}
}

/* The envelope: MAIL FROM, and every RCPT TO when pipelining. */
static void
smtp_mail(struct smtp_txn *t)
{
	char	params[64] = "";
	size_t	i;

	/* checked again: a new connection after a retry may offer less */
	if (t->caps.size > 0 && (uint64_t)t->msgsize > t->caps.size) {
		smtp_finish(t, 1, SMTP_PERMFAIL, 0,
		    "message too large for the relay (%lld > %llu)",
		    (long long)t->msgsize, (unsigned long long)t->caps.size);
		return;
	}
	if ((t->flags & SMTP_SMTPUTF8) && !t->caps.smtputf8) {
		smtp_finish(t, 1, SMTP_PERMFAIL, 0,
		    "relay does not offer SMTPUTF8");
		return;
	}
	/* RFC 1870, RFC 6152, RFC 6531 */
	if (t->caps.size > 0 && t->msgsize > 0)
		(void)snprintf(params, sizeof(params), " SIZE=%lld",
		    (long long)t->msgsize);
	if ((t->flags & SMTP_BODY_8BITMIME) && t->caps.eightbitmime)
		(void)strlcat(params, " BODY=8BITMIME", sizeof(params));
	if (t->flags & SMTP_SMTPUTF8)
		(void)strlcat(params, " SMTPUTF8", sizeof(params));
	t->ntxn++;
	t->answered = 0;
	smtp_cmd(t, S_MAIL, "MAIL FROM:<%s>%s", t->from, params);
	/* RFC 2920: the envelope in one go, the replies read in order */
	if (t->caps.pipelining && t->rcpt != NULL)
		for (i = 0; i < t->nrcpt; i++)
			smtp_cmd(t, S_MAIL, "RCPT TO:<%s>", t->rcpt[i]);
	smtp_update(t);
}

void
smtp_abort(struct smtp_txn *t)
{
	if (t != NULL)
		t->keep = 0;
	smtp_destroy(t);
}

/* After done(): keep the connection for another transaction, or close. */
void
smtp_free(struct smtp_txn *t)
{
	if (t == NULL)
		return;
	if (t->keep && smtp_idle_put(t))
		return;
	if (t->keep && t->fd != -1 && smtp_queue(t, "QUIT\r\n", 6) == 0)
		(void)smtp_flush(t);
	smtp_destroy(t);
}

static void
smtp_destroy(struct smtp_txn *t)
{
	if (t == NULL)
		return;
	smtp_close(t);
	evtimer_del(&t->tev);
	evtimer_del(&t->dev);
	smtp_forget(t);
	free(t);
}

/* What the transaction allocated: its sender, recipients, refusals. */
static void
smtp_forget(struct smtp_txn *t)
{
	size_t	i;

	for (i = 0; i < t->nrcpt; i++)
		free(t->rcpt[i]);
	free(t->rcpt);
	free(t->bad);
	free(t->from);
	t->rcpt = NULL;
	t->bad = NULL;
	t->from = NULL;
	t->nrcpt = t->nreplied = t->nbad = 0;
	smtp_unmap(t);
}

/* May the connection serve another transaction once this one is done? */
static int
smtp_reusable(const struct smtp_txn *t)
{
	return t->fd != -1 && !t->eof && t->outlen == 0 && t->inlen == 0 &&
	    t->ntxn < SMTP_REUSE_MAX;
}

static int
smtp_conf_same(const struct smtp_conf *a, const struct smtp_conf *b)
{
	return a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0 &&
	    a->tls == b->tls && a->tlscfg == b->tlscfg &&
	    (a->tlsname == NULL) == (b->tlsname == NULL) &&
	    (a->tlsname == NULL || strcmp(a->tlsname, b->tlsname) == 0) &&
	    (a->auth_user == NULL) == (b->auth_user == NULL) &&
	    (a->auth_user == NULL ||
	    (strcmp(a->auth_user, b->auth_user) == 0 &&
	    (a->auth_pass == NULL) == (b->auth_pass == NULL) &&
	    (a->auth_pass == NULL ||
	    strcmp(a->auth_pass, b->auth_pass) == 0))) &&
	    (a->helo == NULL) == (b->helo == NULL) &&
	    (a->helo == NULL || strcmp(a->helo, b->helo) == 0);
}

/* The last connection kept for this relay, ready for a transaction. */
static struct smtp_txn *
smtp_idle_take(const struct smtp_conf *conf)
{
	struct smtp_conf	 c = *conf;
	struct smtp_txn		*t;

	if (c.helo == NULL)
		c.helo = "localhost";
	TAILQ_FOREACH(t, &idle, entry)
		if (smtp_conf_same(&t->conf, &c))
			break;
	if (t == NULL)
		return NULL;
	TAILQ_REMOVE(&idle, t, entry);
	nidle--;
	t->idle = 0;
	t->reused = 1;
	event_del(&t->rev);
	evtimer_del(&t->tev);
	return t;
}

/*
 * A transaction is over and the connection is clean: forget the
 * transaction, keep the connection.  0 when there is no room.
 */
static int
smtp_idle_put(struct smtp_txn *t)
{
	struct timeval	tv = { SMTP_IDLE_SECS, 0 };

	if (nidle >= SMTP_IDLE_MAX || !smtp_reusable(t))
		return 0;
	smtp_forget(t);
	t->flags = 0;
	t->msgfd = -1;
	t->msgsize = t->msgoff = t->msgend = 0;
	t->complete = t->starved = 0;
	t->plain = t->dots = 0;
	t->bol = t->cr = t->dotq = 0;
	t->rlines = 0;
	memset(&t->res, 0, sizeof(t->res));
	t->keep = t->reused = t->answered = t->announced = 0;
	t->ready = NULL;
	t->done = NULL;
	t->arg = NULL;
	evtimer_del(&t->dev);
	event_del(&t->wev);
	t->state = S_READY;
	t->idle = 1;
	TAILQ_INSERT_HEAD(&idle, t, entry);
	nidle++;
	/* whatever the relay says now ends it */
	event_add(&t->rev, NULL);
	evtimer_add(&t->tev, &tv);
	return 1;
}

/* An idle connection's time is up, or the relay spoke or closed it. */
static void
smtp_idle_end(struct smtp_txn *t)
{
	TAILQ_REMOVE(&idle, t, entry);
	nidle--;
	t->idle = 0;
	t->keep = 0;
	if (t->fd != -1 && smtp_queue(t, "QUIT\r\n", 6) == 0)
		(void)smtp_flush(t);
	smtp_destroy(t);
}

/*
 * The kept connection was gone before the relay answered this
 * transaction's MAIL: nothing of it was taken, so it starts again on a
 * connection of its own (once).
 */
static void
smtp_retry(struct smtp_txn *t)
{
	log_debug("%s: kept connection to the relay lost, a new one",
	    __func__);
	smtp_close(t);
	evtimer_del(&t->tev);
	t->reused = 0;
	t->eof = 0;
	t->greeted = t->notls = t->authed = 0;
	t->ntxn = 0;
	t->rlines = 0;
	t->nreplied = 0;
	memset(&t->caps, 0, sizeof(t->caps));
	smtp_connect(t);
}

/* Tear the connection down: events, TLS, socket, buffers. */
static void
smtp_close(struct smtp_txn *t)
{
	if (t->fd != -1) {
		event_del(&t->rev);
		event_del(&t->wev);
		if (t->tls != NULL)
			(void)tls_close(t->tls);	/* once, best effort */
		close(t->fd);
		t->fd = -1;
	}
	if (t->tls != NULL) {
		tls_free(t->tls);
		t->tls = NULL;
	}
	if (t->out != NULL)
		freezero(t->out, t->outcap);
	t->out = NULL;
	t->outcap = t->outoff = t->outlen = 0;
	t->inoff = t->inlen = 0;
}

/*
 * The end, one way or the other.  With quit the relay has just answered
 * and waits for a command: it gets a QUIT, written once without waiting
 * for the reply.  Otherwise (a lost connection, a timeout, the middle of
 * the message) the socket is simply closed.  done() follows from the
 * event loop.
 */
static void
smtp_finish(struct smtp_txn *t, int quit, enum smtp_status status, int code,
    const char *fmt, ...)
{
	struct timeval	 tv = { 0, 0 };
	char		 text[sizeof(t->res.text)];
	va_list		 ap;

	if (t->state == S_DONE)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	smtp_clean(t->res.text, sizeof(t->res.text), text, strlen(text));
	t->res.status = status;
	t->res.code = code;
	t->res.bad = t->bad;
	t->res.nbad = t->nbad;
	t->state = S_DONE;	/* a failing QUIT reports nothing more */

	if (t->keep) {
		/* for the next transaction: smtp_free() decides */
		event_del(&t->rev);
		event_del(&t->wev);
	} else {
		/* not after a partly written command: it would end in "QUIT" */
		if (quit && t->fd != -1 && !t->eof && t->outlen == 0 &&
		    smtp_queue(t, "QUIT\r\n", 6) == 0)
			(void)smtp_flush(t);
		smtp_close(t);
	}
	evtimer_del(&t->tev);
	evtimer_add(&t->dev, &tv);
}

/* The callbacks, from the event loop; the last use of t. */
static void
smtp_deliver(int fd, short event, void *arg)
{
	struct smtp_txn	*t = arg;

	if (t->state == S_DONE)
		t->done(t, &t->res, t->arg);
	else if (t->state == S_READY && !t->announced) {
		t->announced = 1;
		t->ready(t, &t->caps, t->arg);
	}
}

static void
smtp_timeout(int fd, short event, void *arg)
{
	struct smtp_txn	*t = arg;
	int		 s = t->conf.timeout;

	if (t->idle) {
		smtp_idle_end(t);
		return;
	}
	switch (t->state) {
	case S_CONNECT:
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "cannot connect to relay: no answer within %d s", s);
		break;
	case S_HANDSHAKE:
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "TLS handshake with relay: no answer within %d s", s);
		break;
	case S_BODY:
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "relay did not take the message within %d s", s);
		break;
	case S_READY:
	case S_DONE:
		break;
	default:
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "relay did not answer within %d s", s);
		break;
	}
}

/* (Re)start the clock: each reply gets conf->timeout seconds. */
static void
smtp_arm(struct smtp_txn *t)
{
	struct timeval	tv = { t->conf.timeout, 0 };

	evtimer_add(&t->tev, &tv);
}

static int
smtp_waiting(const struct smtp_txn *t)
{
	switch (t->state) {
	case S_GREETING:
	case S_EHLO:
	case S_HELO:
	case S_STARTTLS:
	case S_AUTH:
	case S_MAIL:
	case S_RCPT:
	case S_RSET:
	case S_DATA:
	case S_DOT:
		return 1;
	default:
		return 0;
	}
}

/* Arm exactly the events the state needs. */
static void
smtp_update(struct smtp_txn *t)
{
	short	ev = 0;

	if (t->fd == -1)
		return;
	switch (t->state) {
	case S_CONNECT:
		ev = EV_WRITE;
		break;
	case S_HANDSHAKE:
		ev = t->hswant;
		break;
	case S_READY:
	case S_DONE:
		break;
	default:
		if (t->outlen > 0 || (t->state == S_BODY && !t->starved))
			ev |= t->wwant ? t->wwant : EV_WRITE;
		/* in S_ENVELOPE and S_BODY only to see the relay give up */
		if (smtp_waiting(t) || t->state == S_ENVELOPE ||
		    (t->state == S_BODY && t->tls == NULL))
			ev |= t->rwant ? t->rwant : EV_READ;
		break;
	}
	if (ev & EV_READ) {
		if (!event_pending(&t->rev, EV_READ, NULL))
			event_add(&t->rev, NULL);
	} else
		event_del(&t->rev);
	if (ev & EV_WRITE) {
		if (!event_pending(&t->wev, EV_WRITE, NULL))
			event_add(&t->wev, NULL);
	} else
		event_del(&t->wev);
}

static void
smtp_event(int fd, short event, void *arg)
{
	struct smtp_txn	*t = arg;

	if (t->idle) {
		smtp_idle_end(t);
		return;
	}
	/* whatever the last operation waited for may have come */
	t->rwant = t->wwant = 0;
	if (t->state == S_CONNECT)
		smtp_connected(t);
	else if (t->state == S_BODY && (event & EV_READ) && t->tls == NULL &&
	    smtp_gone(t))
		return;
	smtp_run(t);
}

/*
 * In the middle of DATA the relay has nothing to say: if it speaks or
 * closes the connection, it gave up on the message before its ".".  1
 * when it did (done() is on its way, with code 0 and sent 0).  Over
 * TLS only the end of the connection counts: what the relay's TLS
 * sends on its own may be there too.
 */
static int
smtp_gone(struct smtp_txn *t)
{
	char	c;
	ssize_t	n;

	while ((n = recv(t->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n == 1 && t->tls != NULL)
		return 0;
	if (n == 1)
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "relay spoke in the "
		    "middle of the message");
	else
		smtp_lost(t, n == 0 ? 0 : errno);
	return 1;
}

/* Go on while something moves; then wait for the events that are due. */
static void
smtp_run(struct smtp_txn *t)
{
	int	more;

	do {
		switch (t->state) {
		case S_HANDSHAKE:
			more = smtp_handshake(t);
			break;
		case S_BODY:
			more = smtp_body(t);
			break;
		case S_CONNECT:
		case S_READY:
		case S_DONE:
			more = 0;
			break;
		default:
			more = smtp_converse(t);
			break;
		}
	} while (more);
	smtp_update(t);
}

/* A non-blocking connect(2) finished, one way or the other. */
static void
smtp_connected(struct smtp_txn *t)
{
	int		err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "cannot connect to relay: %s", strerror(err));
		return;
	}
	if (t->conf.tls == SMTP_TLS_SMTPS)
		smtp_starttls(t);
	else {
		t->state = S_GREETING;
		smtp_arm(t);
	}
}

/* TLS over the socket: from the start (SMTPS) or after "220" to STARTTLS. */
static void
smtp_starttls(struct smtp_txn *t)
{
	/*
	 * Anything that came in the clear after the 220 must not be taken
	 * as if it came over TLS (RFC 3207 section 6, command injection).
	 */
	t->inoff = t->inlen = 0;
	if ((t->tls = tls_client()) == NULL) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "TLS: out of memory");
		return;
	}
	if (tls_configure(t->tls, t->conf.tlscfg) == -1 ||
	    tls_connect_socket(t->tls, t->fd, t->conf.tlsname) == -1) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "TLS with relay: %s",
		    tls_error(t->tls));
		return;
	}
	t->state = S_HANDSHAKE;
	t->hswant = 0;
	smtp_arm(t);
}

static int
smtp_handshake(struct smtp_txn *t)
{
	int	rv;

	rv = tls_handshake(t->tls);
	if (rv == TLS_WANT_POLLIN) {
		t->hswant = EV_READ;
		return 0;
	}
	if (rv == TLS_WANT_POLLOUT) {
		t->hswant = EV_WRITE;
		return 0;
	}
	if (rv == -1) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "TLS handshake with relay failed: %s", tls_error(t->tls));
		return 0;
	}
	t->caps.tls = 1;
	if (!t->greeted) {	/* SMTPS: TLS first, then the greeting */
		t->state = S_GREETING;
		smtp_arm(t);
	} else
		smtp_ehlo(t);	/* RFC 3207 4.2: forget what was said */
	return 1;
}

/*
 * The command phase: write what is queued, then take one reply line if
 * one is buffered, else read.  1 when something moved.
 */
static int
smtp_converse(struct smtp_txn *t)
{
	char	*line, *lf;
	size_t	 len;
	int	 rv;

	if (t->outlen > 0 && t->wwant == 0) {
		if (smtp_flush(t) == -1)
			return 0;
		/*
		 * A command just went: its reply cannot be here yet, so no
		 * read(2) that would only fail; the read event says when.
		 * Not over TLS, where libtls may hold what was read already.
		 */
		if (t->outlen == 0 && t->inlen == 0 && t->tls == NULL &&
		    smtp_waiting(t)) {
			t->rwant = EV_READ;
			return 0;
		}
	}
	if (!smtp_waiting(t) && t->state != S_ENVELOPE)
		return 0;
	line = t->in + t->inoff;
	if ((lf = memchr(line, '\n', t->inlen)) != NULL) {
		len = lf - line;
		t->inoff += len + 1;
		t->inlen -= len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		smtp_line(t, line, len);
		return 1;
	}
	if (t->inlen == sizeof(t->in)) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "relay protocol error: "
		    "a reply line longer than %d bytes", SMTP_LINE_MAX);
		return 0;
	}
	if (t->rwant != 0)
		return 0;
	rv = smtp_read(t);
	return rv == 1;
}

/* Read into in[]: 1 data came, 0 nothing yet, -1 the end (reported). */
static int
smtp_read(struct smtp_txn *t)
{
	ssize_t	n;
	size_t	room;

	if (t->inoff > 0) {
		memmove(t->in, t->in + t->inoff, t->inlen);
		t->inoff = 0;
	}
	room = sizeof(t->in) - t->inlen;
	if (t->tls != NULL) {
		n = tls_read(t->tls, t->in + t->inlen, room);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			t->rwant = n == TLS_WANT_POLLIN ? EV_READ : EV_WRITE;
			return 0;
		}
		if (n == -1) {
			smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
			    "TLS with relay failed: %s", tls_error(t->tls));
			return -1;
		}
	} else {
		n = recv(t->fd, t->in + t->inlen, room, 0);
		if (n == -1) {
			if (errno == EINTR)
				return 1;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				t->rwant = EV_READ;
				return 0;
			}
			smtp_lost(t, errno);
			return -1;
		}
	}
	if (n == 0) {
		t->eof = 1;
		smtp_lost(t, 0);
		return -1;
	}
	t->inlen += n;
	return 1;
}

/* Write what is queued: 0 (all of it, or the socket is full), -1 lost. */
static int
smtp_flush(struct smtp_txn *t)
{
	ssize_t	n;

	while (t->outlen > 0) {
		if (t->tls != NULL) {
			n = tls_write(t->tls, t->out + t->outoff, t->outlen);
			if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
				t->wwant = n == TLS_WANT_POLLIN ? EV_READ :
				    EV_WRITE;
				return 0;
			}
			if (n == -1) {
				if (t->state != S_DONE)
					smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
					    "TLS with relay failed: %s",
					    tls_error(t->tls));
				return -1;
			}
		} else {
			/* a relay that went away is an error, not SIGPIPE */
			n = send(t->fd, t->out + t->outoff, t->outlen,
			    MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					t->wwant = EV_WRITE;
					return 0;
				}
				if (t->state != S_DONE)
					smtp_lost(t, errno);
				return -1;
			}
		}
		if (t->secret)
			explicit_bzero(t->out + t->outoff, n);
		t->outoff += n;
		t->outlen -= n;
	}
	t->outoff = 0;
	t->secret = 0;
	return 0;
}

/* The connection ended under us. */
static void
smtp_lost(struct smtp_txn *t, int err)
{
	if (t->reused && t->state == S_MAIL && !t->answered) {
		smtp_retry(t);
		return;
	}
	if (err == 0 || err == ECONNRESET || err == EPIPE)
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "relay closed the connection");
	else
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "connection to relay failed: %s", strerror(err));
}

static void
smtp_line(struct smtp_txn *t, const char *line, size_t len)
{
	const char	*text;
	int		 code, more;

	if (smtp_reply_line(line, len, &code, &more, &text) == -1) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
		    "relay protocol error: not a reply line");
		return;
	}
	if (t->rlines++ == 0) {
		t->rcode = code;
		smtp_clean(t->rtext, sizeof(t->rtext), text,
		    len - (text - line));
	} else if (code != t->rcode) {
		/* RFC 5321 4.2.1: one code on every line of a reply */
		smtp_finish(t, 0, SMTP_TEMPFAIL, code,
		    "relay protocol error: reply codes %d and %d in one reply",
		    t->rcode, code);
		return;
	} else if (t->state == S_EHLO)
		(void)smtp_ehlo_line(&t->caps, text, len - (text - line));
	if (t->rlines > SMTP_REPLY_LINES) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, code, "relay protocol error: "
		    "more than %d lines in a reply", SMTP_REPLY_LINES);
		return;
	}
	if (more)
		return;
	t->rlines = 0;
	smtp_reply(t);
	if (smtp_waiting(t))
		smtp_arm(t);
}

/* A complete reply, in t->rcode and t->rtext. */
static void
smtp_reply(struct smtp_txn *t)
{
	int	code = t->rcode;

	switch (t->state) {
	case S_GREETING:
		if (code == 220) {
			t->greeted = 1;
			smtp_ehlo(t);
		} else
			smtp_refused(t, "the greeting", "relay refused service");
		break;
	case S_EHLO:
		if (code == 250) {
			t->caps.esmtp = 1;
			smtp_next(t);
			break;
		}
		memset(&t->caps, 0, sizeof(t->caps));
		t->caps.tls = t->tls != NULL;
		/* RFC 5321 3.2: a server that knows no EHLO gets HELO */
		if (code / 100 == 5)
			smtp_cmd(t, S_HELO, "HELO %s", t->conf.helo);
		else
			smtp_refused(t, "EHLO", "relay refused EHLO");
		break;
	case S_HELO:
		if (code == 250)
			smtp_next(t);
		else
			smtp_refused(t, "HELO", "relay refused HELO");
		break;
	case S_STARTTLS:
		if (code == 220)
			smtp_starttls(t);
		else if (t->conf.tls == SMTP_TLS_REQUIRE)
			smtp_refused(t, "STARTTLS", "relay refused STARTTLS");
		else {
			log_debug("relay refused STARTTLS (%d %s), going on "
			    "in plain text", code, t->rtext);
			t->notls = 1;
			smtp_next(t);
		}
		break;
	case S_AUTH:
		if (code == 235) {
			t->authed = 1;
			smtp_next(t);
		} else
			smtp_refused(t, "AUTH",
			    "relay refused authentication");
		break;
	case S_MAIL:
		/* a kept connection the relay is closing (RFC 5321 3.8) */
		if (code == 421 && t->reused && !t->answered) {
			smtp_retry(t);
			break;
		}
		t->answered = 1;
		if (code != 250) {
			smtp_refused(t, "MAIL", "relay refused the sender");
			break;
		}
		if (t->rcpt == NULL) {
			/* the caller's recipients come later: no clock */
			t->state = S_ENVELOPE;
			evtimer_del(&t->tev);
			break;
		}
		t->state = S_RCPT;
		if (!t->caps.pipelining)
			smtp_cmd(t, S_RCPT, "RCPT TO:<%s>", t->rcpt[0]);
		break;
	case S_ENVELOPE:
		/* the relay gave up waiting (421): nothing was taken */
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "relay ended the "
		    "transaction: %d %s", code, t->rtext);
		break;
	case S_RCPT:
		smtp_rcpt_reply(t);
		break;
	case S_RSET:
		smtp_rcpt_failed(t);
		break;
	case S_DATA:
		if (code != 354) {
			smtp_refused(t, "DATA", "relay refused DATA");
			break;
		}
		t->state = S_BODY;
		t->bol = 1;
		smtp_arm(t);
		break;
	case S_DOT:
		if (code / 100 == 2) {
			t->keep = smtp_reusable(t);
			smtp_finish(t, 1, SMTP_OK, code, "relay: %d %s", code,
			    t->rtext);
		} else
			smtp_refused(t, "the message",
			    "relay refused the message");
		break;
	default:
		fatalx("%s: reply in state %d", __func__, t->state);
	}
}

/*
 * Every RCPT gets its reply, whatever came before (all or nothing: the
 * caller names each refused recipient).  Then RSET if any was refused,
 * DATA if none.
 */
static void
smtp_rcpt_reply(struct smtp_txn *t)
{
	struct smtp_badrcpt	*b;
	size_t			 i = t->nreplied++;
	int			 code = t->rcode;

	if (code != 250 && code != 251) {
		if (t->bad == NULL &&
		    (t->bad = calloc(t->nrcpt, sizeof(*t->bad))) == NULL) {
			smtp_finish(t, 1, SMTP_TEMPFAIL, 0, "out of memory");
			return;
		}
		b = &t->bad[t->nbad++];
		(void)strlcpy(b->addr, t->rcpt[i], sizeof(b->addr));
		b->code = code;
		(void)strlcpy(b->text, t->rtext, sizeof(b->text));
	}
	if (t->nreplied < t->nrcpt) {
		if (!t->caps.pipelining)
			smtp_cmd(t, S_RCPT, "RCPT TO:<%s>",
			    t->rcpt[t->nreplied]);
		return;
	}
	if (t->nbad == 0) {
		smtp_cmd(t, S_DATA, "DATA");
		return;
	}
	smtp_cmd(t, S_RSET, "RSET");
}

/*
 * Some recipients were refused and the transaction reset: temporary
 * only if every refusal was (4xx); the code is that of the first
 * refusal that decides.
 */
static void
smtp_rcpt_failed(struct smtp_txn *t)
{
	struct smtp_badrcpt	*b;
	size_t			 i;

	for (i = 0; i < t->nbad; i++)
		if (t->bad[i].code / 100 != 4)
			break;
	b = &t->bad[i < t->nbad ? i : 0];
	/* the RSET went through: the connection is as good as new */
	t->keep = t->rcode == 250 && smtp_reusable(t);
	smtp_finish(t, 1, i < t->nbad ? SMTP_PERMFAIL : SMTP_TEMPFAIL,
	    b->code, "relay refused %zu of %zu recipients (%d %s)", t->nbad,
	    t->nrcpt, b->code, b->text);
}

/* After EHLO or HELO, STARTTLS or AUTH: what is left before ready(). */
static void
smtp_next(struct smtp_txn *t)
{
	struct timeval	tv = { 0, 0 };

	if (t->tls == NULL && !t->notls && (t->conf.tls ==
	    SMTP_TLS_STARTTLS || t->conf.tls == SMTP_TLS_REQUIRE)) {
		if (t->caps.starttls) {
			smtp_cmd(t, S_STARTTLS, "STARTTLS");
			return;
		}
		if (t->conf.tls == SMTP_TLS_REQUIRE) {
			smtp_finish(t, 1, SMTP_PERMFAIL, 0,
			    "relay does not offer STARTTLS");
			return;
		}
	}
	if (t->conf.auth_user != NULL && !t->authed) {
		if (!t->caps.auth_plain) {
			smtp_finish(t, 1, SMTP_PERMFAIL, 0,
			    "relay does not offer AUTH PLAIN");
			return;
		}
		smtp_auth(t);
		return;
	}
	t->state = S_READY;
	evtimer_del(&t->tev);
	if (t->from != NULL) {
		/* a retry: smtp_send() was made already */
		smtp_mail(t);
		return;
	}
	evtimer_add(&t->dev, &tv);
}

static void
smtp_ehlo(struct smtp_txn *t)
{
	memset(&t->caps, 0, sizeof(t->caps));
	t->caps.tls = t->tls != NULL;
	smtp_cmd(t, S_EHLO, "EHLO %s", t->conf.helo);
}

/*
 * AUTH PLAIN with an initial response (RFC 4954, RFC 4616): base64 of
 * "\0user\0password".  Every copy of the secret is wiped: the two
 * buffers here at once, the output buffer as it is written.
 */
static void
smtp_auth(struct smtp_txn *t)
{
	char	plain[SMTP_AUTH_MAX + 2];
	char	line[sizeof("AUTH PLAIN \r\n") +
		    sodium_base64_ENCODED_LEN(sizeof(plain),
		    sodium_base64_VARIANT_ORIGINAL)];
	size_t	ul, pl, n;

	ul = strlen(t->conf.auth_user);
	pl = t->conf.auth_pass == NULL ? 0 : strlen(t->conf.auth_pass);
	if (ul + pl > SMTP_AUTH_MAX) {
		smtp_finish(t, 1, SMTP_PERMFAIL, 0,
		    "relay user name and password too long");
		return;
	}
	plain[0] = '\0';
	memcpy(plain + 1, t->conf.auth_user, ul);
	plain[1 + ul] = '\0';
	if (pl > 0)
		memcpy(plain + 2 + ul, t->conf.auth_pass, pl);
	memcpy(line, "AUTH PLAIN ", 11);
	(void)sodium_bin2base64(line + 11, sizeof(line) - 11,
	    (unsigned char *)plain, 2 + ul + pl,
	    sodium_base64_VARIANT_ORIGINAL);
	n = strlen(line);
	memcpy(line + n, "\r\n", 2);
	n += 2;
	/* the output buffer is empty here: the relay has just answered */
	t->secret = 1;
	if (smtp_queue(t, line, n) == -1)
		smtp_finish(t, 1, SMTP_TEMPFAIL, 0, "out of memory");
	else {
		t->state = S_AUTH;
		smtp_arm(t);
	}
	sodium_memzero(plain, sizeof(plain));
	sodium_memzero(line, sizeof(line));
}

/* A reply that is not the one wanted: 4xx temporary, the rest not. */
static void
smtp_refused(struct smtp_txn *t, const char *what, const char *refused)
{
	int	code = t->rcode;

	if (code / 100 == 4 || code / 100 == 5)
		smtp_finish(t, 1, smtp_status_of(code), code, "%s: %d %s",
		    refused, code, t->rtext);
	else
		smtp_finish(t, 1, SMTP_TEMPFAIL, code,
		    "relay protocol error: unexpected reply to %s: %d %s",
		    what, code, t->rtext);
}

static enum smtp_status
smtp_status_of(int code)
{
	if (code / 100 == 2)
		return SMTP_OK;
	if (code / 100 == 5)
		return SMTP_PERMFAIL;
	return SMTP_TEMPFAIL;
}

/*
 * The message, read through a window of the file mapped into memory:
 * plain lines (smtp_plain()) go from it to the socket as they are; the
 * rest a chunk at a time, dot-stuffed (RFC 5321 4.5.2) into the output
 * buffer, written as the socket takes it.  A few chunks per wakeup, so
 * one large message does not hold up the other transactions of the
 * process.
 */
static int
smtp_body(struct smtp_txn *t)
{
	size_t	before;
	int	i;

	for (i = 0; i < SMTP_CHUNKS_TURN; i++) {
		if (t->outlen > 0) {
			if (t->wwant != 0)
				return 0;
			before = t->outlen;
			if (smtp_flush(t) == -1)
				return 0;
			if (t->outlen < before)
				smtp_arm(t);	/* the relay takes it */
			if (t->outlen > 0)
				return 0;
		}
		if (t->dotq) {
			t->res.sent = 1;
			t->state = S_DOT;
			smtp_arm(t);
			return 1;
		}
		if (t->tls == NULL && !t->cr && t->msgoff < t->plain &&
		    t->msgoff < t->msgend) {
			if (smtp_plainv(t) == -1)
				return 0;
			continue;
		}
		if (smtp_fill(t) == -1)
			return 0;
	}
	return 0;
}

/*
 * Plain lines from the window to the socket in one writev, not through
 * the output buffer; not over TLS, which libtls encrypts here.  The
 * "." that doubles one at the start of a line is a piece of its own,
 * between the pieces of the file; the "." that ends the data goes with
 * the last of them, so that the relay reads them together.  -1: stop
 * for now (the socket is full, or the transaction ended).
 */
static int
smtp_plainv(struct smtp_txn *t)
{
	static char		 dot[] = ".", end[] = ".\r\n";
	struct iovec		 iov[SMTP_PLAIN_IOV];
	struct msghdr		 msg;
	const unsigned char	*p, *q, *e, *se, *nl;
	size_t			 len, k;
	ssize_t			 n;
	int			 i, niov = 0, stuff;

	if ((p = smtp_window(t, &len)) == NULL)
		return -1;
	if ((off_t)len > t->plain - t->msgoff)
		len = t->plain - t->msgoff;
	if (len > SMTP_PLAIN_MAX)
		len = SMTP_PLAIN_MAX;
	e = p + len;
	/* lines that begin with "." are only before dots */
	se = t->dots <= t->msgoff ? p : t->dots - t->msgoff < (off_t)len ?
	    p + (t->dots - t->msgoff) : e;
	stuff = t->bol && *p == '.';
	for (q = p; q < e && niov + 3 <= SMTP_PLAIN_IOV; q += k) {
		if (stuff) {
			iov[niov].iov_base = dot;
			iov[niov++].iov_len = 1;
		}
		/* up to the next line that begins with "." */
		nl = q < se ? dotline(q, se) : NULL;
		k = (nl != NULL ? nl + 1 : e) - q;
		iov[niov].iov_base = (void *)q;
		iov[niov++].iov_len = k;
		stuff = 1;
	}
	if (t->complete && t->msgoff + (q - p) == t->msgend) {
		/* not a "." into a connection the relay has closed */
		if (smtp_gone(t))
			return -1;
		iov[niov].iov_base = end;
		iov[niov++].iov_len = sizeof(end) - 1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = niov;
	/* a relay that went away is an error, not SIGPIPE */
	if ((n = sendmsg(t->fd, &msg, MSG_NOSIGNAL)) == -1) {
		if (errno == EINTR)
			return 0;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			t->wwant = EV_WRITE;
			return -1;
		}
		smtp_lost(t, errno);
		return -1;
	}
	/* what went: the file's bytes move msgoff, a "." stuffs its line */
	for (i = 0; i < niov && n > 0; i++) {
		k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
		n -= k;
		if (iov[i].iov_base == dot)
			t->bol = 0;
		else if (iov[i].iov_base == end) {
			/* the rest of it, if any, goes from out */
			smtp_queue(t, end + k, iov[i].iov_len - k);
			t->dotq = 1;
		} else {
			t->msgoff += k;
			t->bol = ((const unsigned char *)
			    iov[i].iov_base)[k - 1] == '\n';
		}
	}
	smtp_arm(t);		/* the relay takes it */
	return 0;
}

/*
 * The first LF in [p, e) followed by a "." there, or NULL: sixteen
 * bytes at a time where SSE2 is (every x86-64), since plain text may be
 * all of a large message; elsewhere, and for the last bytes, one by one.
 */
static const unsigned char *
dotline(const unsigned char *p, const unsigned char *e)
{
#ifdef __SSE2__
	const __m128i	 lf = _mm_set1_epi8('\n'), dot = _mm_set1_epi8('.');
	__m128i		 a, b;
	int		 m;

	for (; e - p > 16; p += 16) {
		a = _mm_loadu_si128((const __m128i *)p);
		b = _mm_loadu_si128((const __m128i *)(p + 1));
		m = _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, lf),
		    _mm_cmpeq_epi8(b, dot)));
		if (m != 0)
			return p + __builtin_ctz(m);
	}
#endif
	for (; e - p > 1; p++)
		if (p[0] == '\n' && p[1] == '.')
			return p;
	return NULL;
}

/*
 * The file from msgoff on, as far as msgend and the window reach: a
 * small message read into a buffer, a larger one mapped, the window
 * moving in steps of SMTP_MAP (read too if it cannot be mapped).
 * Bytes past msgend are never read, and a file shorter than msgend is
 * an error, not a SIGBUS.  NULL: it cannot be read (done() is on its
 * way).  What it gives is good until the next call.
 */
static const unsigned char *
smtp_window(struct smtp_txn *t, size_t *len)
{
	static unsigned char	 buf[SMTP_SMALL];
	struct stat		 st;
	off_t			 base = t->msgoff - t->msgoff % SMTP_MAP;
	ssize_t			 n;
	void			*m;

	/* a small message is read: mapping and unmapping cost more */
	if (t->map == NULL && (t->nomap ||
	    (t->msgsize > 0 && t->msgsize <= SMTP_SMALL)))
		goto read;
	if (t->msgend > t->msgseen) {
		if (fstat(t->msgfd, &st) == -1)
			goto fail;
		if (st.st_size < t->msgend)
			goto shrunk;
		t->msgseen = st.st_size;
	}
	if (t->map == NULL || t->mapoff != base) {
		smtp_unmap(t);
		if ((m = mmap(NULL, SMTP_MAP, PROT_READ, MAP_SHARED,
		    t->msgfd, base)) == MAP_FAILED) {
			/* no room for a window: read, as for a small one */
			log_warn("%s: mmap", __func__);
			t->nomap = 1;
			goto read;
		}
		t->map = m;
		t->mapoff = base;
	}
	*len = (t->msgend < base + SMTP_MAP ? t->msgend : base + SMTP_MAP) -
	    t->msgoff;
	return t->map + (t->msgoff - base);

 read:
	*len = t->msgend - t->msgoff < SMTP_SMALL ?
	    (size_t)(t->msgend - t->msgoff) : SMTP_SMALL;
	while ((n = pread(t->msgfd, buf, *len, t->msgoff)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1)
		goto fail;
	if (n == 0)
		goto shrunk;
	*len = n;
	return buf;

 fail:
	smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "cannot read the message: %s",
	    strerror(errno));
	return NULL;
 shrunk:
	smtp_finish(t, 0, SMTP_TEMPFAIL, 0,
	    "the message is shorter than its size");
	return NULL;
}

static void
smtp_unmap(struct smtp_txn *t)
{
	if (t->map != NULL)
		(void)munmap((void *)t->map, SMTP_MAP);
	t->map = NULL;
	t->msgseen = 0;
	t->nomap = 0;
}

/*
 * The next chunk of the message into the output buffer.  Lines end in
 * CRLF on the wire whatever the spool holds: a bare CR or LF becomes
 * CRLF, so no relay can see a line end (or the end of the data) where
 * we saw none.  At the end: CRLF if the last line lacks one, then ".".
 */
static int
smtp_fill(struct smtp_txn *t)
{
	const unsigned char *buf = NULL, *e;
	char		*o;
	size_t		 n, i, end;

	if (t->msgoff == t->msgend && !t->complete) {
		/* all there is so far went: smtp_more() goes on */
		t->starved = 1;
		evtimer_del(&t->tev);
		return -1;
	}
	n = 0;
	if (t->msgoff < t->msgend) {
		if ((buf = smtp_window(t, &n)) == NULL)
			return -1;
		if (n > SMTP_CHUNK)
			n = SMTP_CHUNK;
	}
	if (smtp_reserve(t, 2 * n + 8) == -1) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "out of memory");
		return -1;
	}
	o = t->out + t->outoff + t->outlen;
	for (i = 0; i < n; ) {
		if (t->cr) {
			*o++ = '\r';
			*o++ = '\n';
			t->cr = 0;
			t->bol = 1;
			if (buf[i] == '\n') {
				i++;
				continue;
			}
		}
		if (buf[i] == '\r') {
			t->cr = 1;
			i++;
			continue;
		}
		if (buf[i] == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			t->bol = 1;
			i++;
			continue;
		}
		if (t->bol && buf[i] == '.')
			*o++ = '.';
		/* the rest of the line's text goes as it is, up to CR or LF */
		e = memchr(buf + i, '\n', n - i);
		end = e != NULL ? (size_t)(e - buf) : n;
		if ((e = memchr(buf + i, '\r', end - i)) != NULL)
			end = e - buf;
		memcpy(o, buf + i, end - i);
		o += end - i;
		i = end;
		t->bol = 0;
	}
	t->msgoff += n;
	if (t->complete && t->msgoff == t->msgend) {
		/* not a "." into a connection the relay has closed */
		if (smtp_gone(t))
			return -1;
		if (t->cr || !t->bol) {
			*o++ = '\r';
			*o++ = '\n';
		}
		*o++ = '.';
		*o++ = '\r';
		*o++ = '\n';
		t->cr = 0;
		t->dotq = 1;
	}
	t->outlen = o - (t->out + t->outoff);
	return 0;
}

static void
smtp_cmd(struct smtp_txn *t, enum smtp_state state, const char *fmt, ...)
{
	char	line[SMTP_CMD_MAX];
	va_list	ap;
	int	n;

	if (t->state == S_DONE)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		fatalx("%s: command too long", __func__);
	memcpy(line + n, "\r\n", 2);
	if (smtp_queue(t, line, n + 2) == -1) {
		smtp_finish(t, 0, SMTP_TEMPFAIL, 0, "out of memory");
		return;
	}
	t->state = state;
	smtp_arm(t);
}

static int
smtp_queue(struct smtp_txn *t, const void *data, size_t len)
{
	if (smtp_reserve(t, len) == -1)
		return -1;
	memcpy(t->out + t->outoff + t->outlen, data, len);
	t->outlen += len;
	return 0;
}

/*
 * Room for len more bytes at the end of the output.  A new buffer and a
 * wiped old one rather than realloc(3): the old may have held the AUTH
 * secret.
 */
static int
smtp_reserve(struct smtp_txn *t, size_t len)
{
	size_t	 cap;
	char	*p;

	if (t->outoff > 0 && t->outcap - t->outoff - t->outlen < len) {
		memmove(t->out, t->out + t->outoff, t->outlen);
		t->outoff = 0;
	}
	if (t->outcap - t->outoff - t->outlen >= len)
		return 0;
	cap = t->outcap == 0 ? 2 * SMTP_CHUNK + 64 : t->outcap;
	while (cap - t->outlen < len)
		cap *= 2;
	if ((p = malloc(cap)) == NULL)
		return -1;
	if (t->out != NULL) {
		memcpy(p, t->out + t->outoff, t->outlen);
		freezero(t->out, t->outcap);
	}
	t->out = p;
	t->outcap = cap;
	t->outoff = 0;
	return 0;
}

/* Relay text for a result: one line of printable ASCII. */
static void
smtp_clean(char *dst, size_t dstlen, const char *src, size_t len)
{
	size_t	i, n = 0;

	for (i = 0; i < len && n + 1 < dstlen; i++) {
		if (src[i] == '\t')
			dst[n++] = ' ';
		else if ((unsigned char)src[i] < 0x20 ||
		    (unsigned char)src[i] > 0x7e)
			dst[n++] = '?';
		else
			dst[n++] = src[i];
	}
	while (n > 0 && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

/*
 * An address that can go between "<" and ">" as it is: no controls that
 * would end or split the command, no brackets, not too long.  Bytes
 * over 127 are the caller's business (SMTPUTF8).
 */
static int
smtp_addr_ok(const char *addr, int empty)
{
	const unsigned char	*p;
	size_t			 len = strlen(addr);

	if (len == 0)
		return empty;
	if (len >= sizeof(((struct smtp_badrcpt *)NULL)->addr))
		return 0;
	for (p = (const unsigned char *)addr; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
	return 1;
}
