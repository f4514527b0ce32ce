/*
 * submitd: sends the messages that SUBMIT hands over (doc/submit.md,
 * submitd.8).  For each one it spools the bytes to a private file, checks
 * and fixes the message (message.c), relays it over SMTP (smtp.c) all or
 * nothing, and answers the frontend in the draft's form.  The relay gets
 * the message while it arrives (SUB_STREAM: MAIL at START, RCPT once the
 * header is checked, the body as it comes); one that cannot go that way
 * is relayed whole once it is complete (submitd.8, "Relaying while the
 * message arrives").
 *
 * imapxd's parent starts it as "submitd -f file [-d] [-v]" with its
 * channel on fd 3; on it arrive IMSG_PEER_CHANNEL messages, each with one
 * end of a socketpair to a frontend worker.  It runs as _submitd, chrooted
 * to its spool directory, with no file outside it, and the network only
 * to reach the relay.  -T fd runs it without a parent, with fd as its
 * only frontend channel (tests).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <tls.h>

#include "chan.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"
#include "message.h"
#include "msgio.h"
#include "privdrop.h"
#include "sandbox.h"
#include "smtp.h"
#include "submitd.h"
#include "svcchan.h"

#define ALLOWED_MAX	64	/* From addresses one user may use */
#define PIPE_READ	(256 * 1024)	/* bytes of a pipe at a time */

/* A channel to one frontend worker. */
struct fchan {
	TAILQ_ENTRY(fchan)	 entry;
	struct chan		 chan;
	uint32_t		 instance;
	TAILQ_HEAD(, sub)	 subs;
};

enum sub_state {
	SUB_RECV,		/* bytes arriving */
	SUB_STREAM,		/* bytes arriving, relayed as they come */
	SUB_QUEUED,		/* complete, waiting for a relay slot */
	SUB_RELAY		/* complete, talking to the relay */
};

/* One submission. */
struct sub {
	TAILQ_ENTRY(sub)	 entry;		/* on its channel */
	TAILQ_ENTRY(sub)	 qentry;	/* waiting for a slot */
	struct fchan		*fc;
	uint32_t		 id;
	enum sub_state		 state;
	char			 user[IMAPX_USER_MAX];
	int			 spool;		/* as received, until the
						   header is through */
	int			 out;		/* as prepared */
	int			 out7;		/* as converted to 7-bit */
	struct msg_wr		*wr;		/* into out, while it grows */
	struct msg_body		 body;
	uint64_t		 announced;	/* size in START, 0 unknown */
	uint64_t		 got;
	int			 lnlen;		/* the header's end: bytes on
						   this line (1: a lone CR,
						   2: more) */
	int			 hdrdone;	/* msg_header() made out */
	int			 mailflags;	/* of the streamed MAIL */
	int			 mailed;	/* smtp_begin() made */
	int			 rcpted;	/* smtp_rcpt() made */
	struct event		 pev;		/* stream_later() */
	int			 piped;		/* the bytes come by pipe */
	int			 pipe;		/* that pipe until its end, or
						   -1 */
	struct event		 pipev;
	int			 endseen;	/* END came before the pipe's
						   end */
	int			 later;		/* pev is active */
	struct imsg_submit_done	*answer;	/* decided before END */
	uint32_t		 refused;	/* SUBMIT_* to answer at END */
	char			 code[32];
	char			 reason[MSG_REASON_MAX];
	struct msg_info		 info;
	struct smtp_txn		*txn;
	struct timespec		 start;
};

/* Submissions of one user in the last minute. */
struct rate {
	TAILQ_ENTRY(rate)	 entry;
	char			 user[IMAPX_USER_MAX];
	time_t			*when;		/* ring of conf->rate */
	int			 n, head;
};

static __dead2 void	usage(void);
static void		frontend_open(int, uint32_t);
static __dead2 void	submitd_stop(void);
static struct tls_config *relay_tls_config(void);
static struct fchan	*fchan_open(int, uint32_t);
static void		fchan_closed(struct chan *);
static void		fchan_free(int, short, void *);
static void		dispatch_frontend(struct chan *, struct imsg *);
static struct sub	*sub_find(struct fchan *, uint32_t);
static void		sub_start(struct fchan *, struct imsg *);
static void		sub_data(struct sub *, const char *, size_t);
static void		sub_piped(int, short, void *);
static void		sub_end(struct sub *);
static void		sub_refuse(struct sub *, uint32_t, const char *,
			    const char *, ...)
			    __attribute__((__format__ (printf, 4, 5)));
static int		hdr_scan(struct sub *, const char *, size_t);
static void		sub_header(struct sub *);
static int		sub_flush(struct sub *);
static void		sub_relay(struct sub *);
static void		sub_ready(struct smtp_txn *, const struct smtp_caps *,
			    void *);
static void		sub_whole(struct sub *, struct smtp_txn *,
			    const struct smtp_caps *);
static void		sub_done(struct smtp_txn *, const struct smtp_result *,
			    void *);
static void		stream_begin(struct sub *);
static void		stream_push(struct sub *);
static int		stream_fits(const struct sub *, int);
static void		stream_later(struct sub *);
static void		stream_pushed(int, short, void *);
static void		stream_drop(struct sub *);
static void		stream_end(struct sub *);
static struct imsg_submit_done *answer_make(uint32_t, const char *,
			    const char *, const struct smtp_result *);
static void		answer_send(struct sub *, struct imsg_submit_done *);
static void		sub_answer(struct sub *, uint32_t, const char *,
			    const char *, const struct smtp_result *);
static void		sub_free(struct sub *);
static void		slots_run(void);
static int		rate_check(const char *);
static int		spool_file(void);
static size_t		draft_text(char *, size_t, const char *);

static struct submitd_conf	*conf;
static struct smtp_conf		 sconf;
static TAILQ_HEAD(, fchan)	 fchans = TAILQ_HEAD_INITIALIZER(fchans);
static TAILQ_HEAD(, sub)	 queue = TAILQ_HEAD_INITIALIZER(queue);
static TAILQ_HEAD(, rate)	 rates = TAILQ_HEAD_INITIALIZER(rates);
static int			 relaying;	/* SUB_RELAY now */

static __dead2 void
usage(void)
{
	fprintf(stderr,
	    "usage: submitd [-dnv] [-D macro=value] [-f file] [-T fd]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct passwd	*pw;
	struct stat	 st;
	const char	*conffile = SUBMITD_CONF, *errstr;
	int		 ch, debug = 0, verbose = 0, noaction = 0;
	int		 testfd = -1;

	while ((ch = getopt(argc, argv, "D:df:nT:v")) != -1) {
		switch (ch) {
		case 'D':
			if (submitd_cmdline_symset(optarg) < 0)
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
	log_procinit("submitd");
	if (sodium_init() == -1)
		errx(1, "sodium_init failed");
	if ((conf = submitd_parse_config(conffile)) == NULL)
		exit(1);
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	if (geteuid() != 0)
		errx(1, "need root privileges");
	if (testfd == -1 && fcntl(SVCCHAN_FD, F_GETFD) == -1)
		errx(1, "no channel to imapxd on fd %d (-T fd runs without)",
		    SVCCHAN_FD);
	if (testfd != -1 && fcntl(testfd, F_GETFD) == -1)
		err(1, "-T %d", testfd);
	if ((pw = getpwnam(conf->user)) == NULL)
		errx(1, "no user %s", conf->user);

	/* The spool is ours alone: made if missing, refused if shared. */
	if (mkdir(conf->spool, 0700) == -1 && errno != EEXIST)
		err(1, "mkdir %s", conf->spool);
	if (chown(conf->spool, pw->pw_uid, pw->pw_gid) == -1 ||
	    chmod(conf->spool, 0700) == -1 || stat(conf->spool, &st) == -1)
		err(1, "spool %s", conf->spool);

	/* Supervised by imapxd: never daemon(3), syslog unless -d. */
	log_init(debug, LOG_MAIL);
	log_info("starting, relay %s port %s, %s", conf->relay_host,
	    conf->relay_port, testfd == -1 ? "channel to imapxd on fd 3" :
	    "standalone");

	memcpy(&sconf.addr, &conf->relay_addr, conf->relay_addrlen);
	sconf.addrlen = conf->relay_addrlen;
	sconf.helo = conf->hostname;
	sconf.tls = conf->relay_tls;
	sconf.tlscfg = relay_tls_config();
	sconf.tlsname = conf->relay_name[0] != '\0' ? conf->relay_name :
	    conf->relay_host;
	sconf.auth_user = conf->auth_user[0] != '\0' ? conf->auth_user : NULL;
	sconf.auth_pass = conf->auth_pass;
	sconf.timeout = conf->timeout;

	event_init();
	signal(SIGPIPE, SIG_IGN);
	privdrop(pw, conf->spool);
	/* after privdrop(), which clears the parent-death signal */
	if (testfd == -1)
		svcchan_init(frontend_open, submitd_stop);
	if (sandbox_unveil("/", "rwc") == -1)
		fatal("sandbox_unveil");
	sandbox_enter("stdio rpath wpath cpath inet recvfd sendfd");

	if (testfd != -1) {
		svcchan_nonblock(testfd);
		(void)fchan_open(testfd, 0);
	}
	event_dispatch();
	return 0;
}

/* Everything libtls reads from files, read now. */
static struct tls_config *
relay_tls_config(void)
{
	struct tls_config	*tc;
	const char		*ca;

	if (conf->relay_tls == SMTP_TLS_NO)
		return NULL;
	if (tls_init() == -1 || (tc = tls_config_new()) == NULL)
		fatalx("tls_config_new failed");
	if (conf->relay_noverify) {
		tls_config_insecure_noverifycert(tc);
		tls_config_insecure_noverifyname(tc);
	} else {
		ca = conf->relay_ca[0] != '\0' ? conf->relay_ca :
		    tls_default_ca_cert_file();
		if (tls_config_set_ca_file(tc, ca) == -1)
			fatalx("%s: %s", ca, tls_config_error(tc));
	}
	return tc;
}

static void
frontend_open(int fd, uint32_t instance)
{
	(void)fchan_open(fd, instance);
}

/* imapxd is gone: what is under way ends with it, before its final ".". */
static __dead2 void
submitd_stop(void)
{
	exit(0);
}

/* A new frontend: it learns the limits first (IMSG_SUBMIT_HELLO). */
static struct fchan *
fchan_open(int fd, uint32_t instance)
{
	struct imsg_submit_hello	 h;
	struct fchan			*fc;

	if ((fc = calloc(1, sizeof(*fc))) == NULL)
		fatal("%s", __func__);
	TAILQ_INIT(&fc->subs);
	fc->instance = instance;
	if (chan_init(&fc->chan, fd, 1, dispatch_frontend, NULL,
	    fchan_closed, fc) == -1)
		fatal("chan_init");
	TAILQ_INSERT_TAIL(&fchans, fc, entry);
	memset(&h, 0, sizeof(h));
	h.size_max = conf->size_max;
	strlcpy(h.sentbox, conf->sentbox, sizeof(h.sentbox));
	if (chan_compose(&fc->chan, IMSG_SUBMIT_HELLO, 0, -1, &h,
	    sizeof(h)) == -1)
		fatal("chan_compose");
	log_debug("frontend %u: channel open", instance);
	return fc;
}

/*
 * The frontend is gone (or sent nonsense): its submissions end, those
 * still talking to the relay without their final ".".  The struct goes
 * later: chan.c is still looking at it.
 */
static void
fchan_closed(struct chan *c)
{
	struct fchan	*fc = c->arg;
	struct sub	*s;

	log_debug("frontend %u: channel closed", fc->instance);
	chan_close(&fc->chan);
	while ((s = TAILQ_FIRST(&fc->subs)) != NULL)
		sub_free(s);
	TAILQ_REMOVE(&fchans, fc, entry);
	event_once(-1, EV_TIMEOUT, fchan_free, fc, NULL);
	slots_run();
}

static void
fchan_free(int fd, short event, void *arg)
{
	free(arg);
}

static struct sub *
sub_find(struct fchan *fc, uint32_t id)
{
	struct sub	*s;

	TAILQ_FOREACH(s, &fc->subs, entry)
		if (s->id == id)
			return s;
	return NULL;
}

static void
dispatch_frontend(struct chan *c, struct imsg *imsg)
{
	struct fchan	*fc = c->arg;
	struct sub	*s = NULL;
	uint32_t	 type = imsg_get_type(imsg);

	if (type == IMSG_SUBMIT_START) {
		sub_start(fc, imsg);
		return;
	}
	if ((s = sub_find(fc, imsg_get_id(imsg))) == NULL) {
		/* a late message of a submission it cancelled */
		if (type == IMSG_SUBMIT_DATA || type == IMSG_SUBMIT_END ||
		    type == IMSG_SUBMIT_CANCEL)
			return;
		goto bad;
	}
	switch (type) {
	case IMSG_SUBMIT_DATA:
		if ((s->state != SUB_RECV && s->state != SUB_STREAM) ||
		    s->piped)
			goto bad;
		sub_data(s, imsg->data, imsg_get_len(imsg));
		return;
	case IMSG_SUBMIT_END:
		if ((s->state != SUB_RECV && s->state != SUB_STREAM) ||
		    imsg_get_len(imsg) != 0 || s->endseen)
			goto bad;
		if (s->pipe != -1)
			s->endseen = 1;	/* sub_piped() ends it */
		else
			sub_end(s);
		return;
	case IMSG_SUBMIT_CANCEL:
		log_info("%s: submission cancelled", s->user);
		sub_free(s);
		slots_run();
		return;
	}
 bad:
	log_warnx("frontend %u: unexpected imsg %u, closing its channel",
	    fc->instance, type);
	fchan_closed(c);
}

static void
sub_start(struct fchan *fc, struct imsg *imsg)
{
	struct imsg_submit_start	 st;
	struct sub			*s;
	int				 fd = imsg_get_fd(imsg);

	if (imsg_get_data(imsg, &st, sizeof(st)) == -1 ||
	    memchr(st.user, '\0', sizeof(st.user)) == NULL ||
	    st.user[0] == '\0' || sub_find(fc, imsg_get_id(imsg)) != NULL ||
	    (st.piped != 0) != (fd != -1)) {
		log_warnx("frontend %u: bad IMSG_SUBMIT_START, closing its "
		    "channel", fc->instance);
		if (fd != -1)
			close(fd);
		fchan_closed(&fc->chan);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s", __func__);
	s->fc = fc;
	s->id = imsg_get_id(imsg);
	s->state = SUB_RECV;
	s->spool = s->out = s->out7 = -1;
	evtimer_set(&s->pev, stream_pushed, s);
	s->piped = fd != -1;
	if ((s->pipe = fd) != -1) {
		event_set(&s->pipev, fd, EV_READ | EV_PERSIST, sub_piped, s);
		event_add(&s->pipev, NULL);
	}
	s->announced = st.size;
	strlcpy(s->user, st.user, sizeof(s->user));
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	TAILQ_INSERT_TAIL(&fc->subs, s, entry);

	if (st.size > conf->size_max)
		sub_refuse(s, SUBMIT_NO, "TOOBIG", "Message too large "
		    "(%llu bytes, at most %llu)", (unsigned long long)st.size,
		    (unsigned long long)conf->size_max);
	else if (rate_check(s->user) == -1)
		sub_refuse(s, SUBMIT_NO, "LIMIT", "Too many submissions, at "
		    "most %d a minute", conf->rate);
	else if ((s->spool = spool_file()) == -1)
		sub_refuse(s, SUBMIT_NO, "UNAVAILABLE", "Cannot spool the "
		    "message: %s", strerror(errno));
	else if (relaying < conf->concurrency)
		stream_begin(s);
}

/* Why it will be refused; the answer waits for the end of the bytes. */
static void
sub_refuse(struct sub *s, uint32_t status, const char *code,
    const char *fmt, ...)
{
	va_list	ap;

	if (s->refused)
		return;
	stream_end(s);
	s->refused = status;
	strlcpy(s->code, code, sizeof(s->code));
	va_start(ap, fmt);
	(void)vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

/*
 * Until the header is complete the bytes go to the spool as they are;
 * then the prepared message grows in out, and with a relay slot the
 * relay gets it as it grows.
 */
static void
sub_data(struct sub *s, const char *p, size_t len)
{
	ssize_t		 n;
	int		 end;

	s->got += len;
	if (s->refused || s->answer != NULL)
		return;
	if (s->got > conf->size_max) {
		sub_refuse(s, SUBMIT_NO, "TOOBIG", "Message too large (at "
		    "most %llu bytes)", (unsigned long long)conf->size_max);
		return;
	}
	if (s->hdrdone) {
		msg_body_put(&s->body, &s->info.flags, s->wr, p, len);
		stream_later(s);
		return;
	}
	end = hdr_scan(s, p, len);
	while (len > 0) {
		if ((n = write(s->spool, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("%s: spool write", s->user);
			sub_refuse(s, SUBMIT_NO, "UNAVAILABLE", "Cannot spool "
			    "the message: %s", strerror(errno));
			return;
		}
		p += n;
		len -= n;
	}
	/* a header without its end is refused by msg_header() */
	if (end || s->got > MSG_HEADER_MAX + MSG_LINE_MAX)
		sub_header(s);
}

/*
 * A large message from a plaintext client comes through a pipe, spliced
 * into it by the frontend: read as it comes, as DATA would be, up to
 * its end.  END may have come first; then this ends the message.
 */
static void
sub_piped(int fd, short event, void *arg)
{
	static char	 buf[PIPE_READ];
	struct sub	*s = arg;
	ssize_t		 n;

	if ((n = read(fd, buf, sizeof(buf))) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_warn("%s: pipe", s->user);
		sub_refuse(s, SUBMIT_NO, "UNAVAILABLE", "Cannot read the "
		    "message");
		n = 0;
	}
	if (n > 0) {
		sub_data(s, buf, n);
		return;
	}
	event_del(&s->pipev);
	close(s->pipe);
	s->pipe = -1;
	if (s->endseen)
		sub_end(s);
}

/*
 * Has the empty line that ends the header come, in these bytes?  It is
 * the first line with nothing before its LF but perhaps a CR, as
 * msg_rd_line() sees lines.
 */
static int
hdr_scan(struct sub *s, const char *p, size_t len)
{
	const char	*nl;
	size_t		 n;

	for (;;) {
		nl = memchr(p, '\n', len);
		n = nl != NULL ? (size_t)(nl - p) : len;
		if (n > 0)
			s->lnlen = s->lnlen == 0 && n == 1 && p[0] == '\r' ?
			    1 : 2;
		if (nl == NULL)
			return 0;
		if (s->lnlen < 2)
			return 1;
		s->lnlen = 0;
		p = nl + 1;
		len -= n + 1;
	}
}

/*
 * The header is all in the spool: check it and start the prepared
 * message in out with it and what came of the body so far.  The spool
 * is done with then.
 */
static void
sub_header(struct sub *s)
{
	struct msg_conf	 mc;
	const char	*allowed[ALLOWED_MAX];
	char		 reason[MSG_REASON_MAX], buf[MSGIO_BUF];
	off_t		 body, off;
	ssize_t		 n;

	memset(&mc, 0, sizeof(mc));
	mc.user = s->user;
	mc.nallowed = submitd_allowed(conf, s->user, allowed, ALLOWED_MAX);
	mc.allowed = allowed;
	mc.rcpt_max = conf->rcpt_max;
	mc.hostname = conf->hostname;
	if ((s->out = spool_file()) == -1 ||
	    (s->wr = malloc(sizeof(*s->wr))) == NULL) {
		sub_refuse(s, SUBMIT_NO, "UNAVAILABLE", "Cannot spool the "
		    "message: %s", strerror(errno));
		return;
	}
	msg_wr_init(s->wr, s->out);
	if (msg_header(s->spool, s->wr, &mc, &s->info, &body, reason,
	    sizeof(reason)) == -1) {
		sub_refuse(s, SUBMIT_NO, "", "%s", reason);
		return;
	}
	s->hdrdone = 1;
	msg_body_init(&s->body, s->wr);
	for (off = body; body != -1 && off < (off_t)s->got; off += n) {
		if ((n = pread(s->spool, buf, sizeof(buf), off)) <= 0) {
			if (n == -1 && errno == EINTR) {
				n = 0;
				continue;
			}
			sub_refuse(s, SUBMIT_NO, "UNAVAILABLE", "Cannot read "
			    "the spooled message");
			return;
		}
		msg_body_put(&s->body, &s->info.flags, s->wr, buf, n);
	}
	close(s->spool);
	s->spool = -1;
	stream_later(s);
}

/* What out holds so far into the file, for the relay to read. */
static int
sub_flush(struct sub *s)
{
	if (msg_wr_flush(s->wr) == 0)
		return 0;
	log_warn("%s: spool write", s->user);
	sub_refuse(s, SUBMIT_NO, "UNAVAILABLE", "Cannot spool the message");
	return -1;
}

static void
sub_end(struct sub *s)
{
	struct imsg_submit_done	*d;

	if (!s->refused && s->got == 0)
		sub_refuse(s, SUBMIT_BAD, "", "Empty message");
	if (!s->refused && s->answer == NULL && !s->hdrdone)
		sub_header(s);
	if (!s->refused && s->answer == NULL) {
		msg_body_end(&s->body, s->wr);
		if (sub_flush(s) == 0) {
			s->info.size = s->wr->total;
			free(s->wr);
			s->wr = NULL;
		}
	}
	if (s->refused) {
		log_info("%s: refused: %s", s->user, s->reason);
		sub_answer(s, s->refused, s->code, s->reason, NULL);
		return;
	}
	if ((d = s->answer) != NULL) {
		s->answer = NULL;
		answer_send(s, d);
		return;
	}
	if (s->state == SUB_STREAM) {
		/* it holds its relay slot */
		event_del(&s->pev);
		s->later = 0;
		s->state = SUB_RELAY;
		if (s->txn != NULL)
			stream_push(s);
		if (s->txn == NULL)
			sub_relay(s);
		return;
	}
	s->state = SUB_QUEUED;
	TAILQ_INSERT_TAIL(&queue, s, qentry);
	slots_run();
}

/* Relay what waits, up to the configured number at once. */
static void
slots_run(void)
{
	struct sub	*s;

	while (relaying < conf->concurrency &&
	    (s = TAILQ_FIRST(&queue)) != NULL) {
		TAILQ_REMOVE(&queue, s, qentry);
		s->state = SUB_RELAY;
		relaying++;
		sub_relay(s);
	}
}

/* The whole message is in out: a transaction with the relay for it. */
static void
sub_relay(struct sub *s)
{
	if ((s->txn = smtp_open(&sconf, sub_ready, sub_done, s)) == NULL)
		sub_answer(s, SUBMIT_NO, "UNAVAILABLE", "Cannot reach the "
		    "relay", NULL);
}

/*
 * The relay said what it offers.  While the bytes still arrive, MAIL
 * goes now and the rest as it comes (stream_push()).  MAIL says what
 * is known then: a message found later to need more (SMTPUTF8,
 * BODY=8BITMIME) or a 7-bit conversion is dropped from the stream and
 * sent whole at its end.
 */
static void
sub_ready(struct smtp_txn *txn, const struct smtp_caps *caps, void *arg)
{
	struct sub	*s = arg;
	off_t		 size;
	int		 flags = 0;

	if (s->state != SUB_STREAM) {
		sub_whole(s, txn, caps);
		return;
	}
	/* SIZE=: what the client announced, and room for our fields */
	size = s->announced > 0 ? (off_t)s->announced + 512 : 0;
	if ((s->info.flags & MSG_8BITHDR) && caps->smtputf8)
		flags |= SMTP_SMTPUTF8;
	if ((s->info.flags & MSG_8BITBODY) && caps->eightbitmime)
		flags |= SMTP_BODY_8BITMIME;
	/* near the relay's SIZE only the exact size, at the end, may say */
	if (!stream_fits(s, flags) ||
	    (caps->size > 0 && (uint64_t)size > caps->size)) {
		stream_drop(s);
		return;
	}
	s->mailflags = flags;
	s->mailed = 1;
	smtp_begin(txn, s->user, size, flags);
	stream_push(s);
}

/* The complete message, as the relay can take it. */
static void
sub_whole(struct sub *s, struct smtp_txn *txn, const struct smtp_caps *caps)
{
	char		 reason[MSG_REASON_MAX];
	struct stat	 st;
	int		 fd = s->out, flags = 0;

	if (s->info.flags & MSG_8BITHDR) {
		if (!caps->smtputf8) {
			smtp_abort(txn);
			s->txn = NULL;
			sub_answer(s, SUBMIT_NO, "", "The header has 8-bit "
			    "characters and the relay does not take them "
			    "(no SMTPUTF8)", NULL);
			return;
		}
		flags |= SMTP_SMTPUTF8;
	}
	if ((s->info.flags & MSG_BINARY) || ((s->info.flags & MSG_8BITBODY) &&
	    !caps->eightbitmime)) {
		if ((s->out7 = spool_file()) == -1 ||
		    msg_to7bit(s->out, s->out7, reason, sizeof(reason)) == -1) {
			smtp_abort(txn);
			s->txn = NULL;
			sub_answer(s, SUBMIT_NO, "", s->out7 == -1 ?
			    "Cannot spool the message" : reason, NULL);
			return;
		}
		fd = s->out7;
	} else if (s->info.flags & MSG_8BITBODY)
		flags |= SMTP_BODY_8BITMIME;
	if (fstat(fd, &st) == -1)
		fatal("fstat");
	smtp_send(txn, s->user, s->info.rcpt, s->info.nrcpt, fd, st.st_size,
	    flags);
	if (fd == s->out)
		smtp_plain(txn, s->body.plain, s->body.dots);
}

/* Relay the message as it arrives: a slot, and a transaction for it. */
static void
stream_begin(struct sub *s)
{
	s->state = SUB_STREAM;
	relaying++;
	s->txn = smtp_open(&sconf, sub_ready, sub_done, s);
}

/*
 * The streaming transaction learns what is new: the recipients once the
 * header is through, then how much of out it may send, and the end.
 */
static void
stream_push(struct sub *s)
{
	if (s->txn == NULL || !s->mailed || !s->hdrdone)
		return;
	if (!stream_fits(s, s->mailflags)) {
		stream_drop(s);
		return;
	}
	if (!s->rcpted) {
		s->rcpted = 1;
		smtp_rcpt(s->txn, s->info.rcpt, s->info.nrcpt, s->out);
	}
	smtp_plain(s->txn, s->body.plain, s->body.dots);
	if (s->state == SUB_RELAY)
		smtp_more(s->txn, (off_t)s->info.size, 1);
	else if (sub_flush(s) == 0)
		/* what it may read is in the file */
		smtp_more(s->txn, s->wr->total, 0);
}

/*
 * What came in this turn of the event loop goes to the relay at its
 * end, in one piece: the bytes of several DATA, or the last ones with
 * END and the final ".", which then share a write and the relay reads
 * them at once.
 */
static void
stream_later(struct sub *s)
{
	if (s->txn == NULL || s->later)
		return;
	s->later = 1;
	event_active(&s->pev, EV_TIMEOUT, 1);
}

static void
stream_pushed(int fd, short event, void *arg)
{
	struct sub	*s = arg;

	s->later = 0;
	if (s->state == SUB_STREAM)
		stream_push(s);
}

/*
 * Can the message, as far as it is known, go in a transaction whose
 * MAIL had these SMTP_* flags?  Not if it needs a 7-bit conversion.
 */
static int
stream_fits(const struct sub *s, int mailflags)
{
	int	f = s->info.flags;

	return !(f & MSG_BINARY) &&
	    (!(f & MSG_8BITHDR) || (mailflags & SMTP_SMTPUTF8)) &&
	    (!(f & MSG_8BITBODY) || (mailflags & SMTP_BODY_8BITMIME));
}

/*
 * The stream cannot go on (the message needs what its MAIL did not
 * say, or the relay went away): the relay drops what it got, the
 * connection closed before the final ".", and the message goes whole
 * at its end, in the slot it holds.
 */
static void
stream_drop(struct sub *s)
{
	if (s->txn != NULL)
		smtp_abort(s->txn);
	s->txn = NULL;
	s->mailed = s->rcpted = 0;
}

/* The message will not be relayed (refused): its slot is free. */
static void
stream_end(struct sub *s)
{
	stream_drop(s);
	if (s->state != SUB_STREAM)
		return;
	s->state = SUB_RECV;
	relaying--;
	slots_run();
}

static void
sub_done(struct smtp_txn *txn, const struct smtp_result *r, void *arg)
{
	struct sub	*s = arg;
	const char	*code = "", *why;
	uint32_t	 status = SUBMIT_NO;

	s->txn = NULL;		/* freed below, after its result is used */
	if ((s->state == SUB_STREAM || s->mailed) &&
	    r->status == SMTP_TEMPFAIL && r->code == 0 && !r->sent &&
	    r->nbad == 0) {
		/*
		 * The streamed transaction's connection failed before the
		 * ".": again, whole, at the end, or now if that has come.
		 */
		s->mailed = s->rcpted = 0;
		smtp_free(txn);
		if (s->state == SUB_RELAY)
			sub_relay(s);
		return;
	}
	if (r->status == SMTP_OK) {
		status = SUBMIT_OK;
		why = "";
	} else if (r->sent && r->code == 0) {
		status = SUBMIT_UNKNOWN;
		why = "The relay did not confirm the message after it was "
		    "sent: it may have been delivered";
	} else if (r->nbad > 0)
		why = r->status == SMTP_TEMPFAIL ? "Temporary failure: some "
		    "recipients were refused, try again later" : "";
	else {
		if (r->status == SMTP_TEMPFAIL && r->code == 0 && !r->sent)
			code = "UNAVAILABLE";
		why = r->status == SMTP_TEMPFAIL ? "Temporary failure" :
		    "Permanent failure";
	}
	if (s->state == SUB_STREAM) {
		/* refused while the bytes arrive: the answer waits for END */
		s->answer = answer_make(status, code, why, r);
		stream_end(s);
	} else
		sub_answer(s, status, code, why, r);
	smtp_free(txn);
}

static void
sub_answer(struct sub *s, uint32_t status, const char *code,
    const char *why, const struct smtp_result *r)
{
	answer_send(s, answer_make(status, code, why, r));
}

/*
 * The answer, in the draft's form: the error not tied to a recipient,
 * then ",rcpt" for each one the relay refused.  A SUBMIT_NO without
 * refused recipients ends in a comma, as the draft's "MX server not
 * responding,".
 */
static struct imsg_submit_done *
answer_make(uint32_t status, const char *code, const char *why,
    const struct smtp_result *r)
{
	struct imsg_submit_done	*d;
	char			 text[1024];
	size_t			 i, len;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("%s", __func__);
	d->status = status;
	strlcpy(d->code, code, sizeof(d->code));
	if (r != NULL && r->status != SMTP_OK && r->nbad == 0 &&
	    r->text[0] != '\0')
		snprintf(text, sizeof(text), "%s: %s", why, r->text);
	else
		strlcpy(text, why, sizeof(text));
	len = draft_text(d->text, sizeof(d->text), text);
	if (status == SUBMIT_NO || status == SUBMIT_UNKNOWN) {
		for (i = 0; r != NULL && i < r->nbad; i++) {
			if (len + strlen(r->bad[i].addr) + 2 >= sizeof(d->text))
				break;
			d->text[len++] = ',';
			len += draft_text(d->text + len, sizeof(d->text) - len,
			    r->bad[i].addr);
		}
		if (r == NULL || r->nbad == 0)
			strlcat(d->text, ",", sizeof(d->text));
	}
	return d;
}

/* The answer to the frontend, with the Sent copy if it is wanted. */
static void
answer_send(struct sub *s, struct imsg_submit_done *d)
{
	struct timespec	now;
	struct stat	st;
	int		fd = -1;
	double		secs;

	if (d->status == SUBMIT_OK && conf->sentbox[0] != '\0' &&
	    (fd = dup(s->out7 != -1 ? s->out7 : s->out)) != -1) {
		if (lseek(fd, 0, SEEK_SET) == 0 && fstat(fd, &st) == 0) {
			d->save = 1;
			d->size = st.st_size;
		} else {
			close(fd);
			fd = -1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - s->start.tv_sec) +
	    (now.tv_nsec - s->start.tv_nsec) / 1e9;
	if (d->status == SUBMIT_OK)
		log_info("%s: sent %lld bytes to %zu recipient%s, %s, %.3f s",
		    s->user, (long long)s->info.size, s->info.nrcpt,
		    s->info.nrcpt == 1 ? "" : "s", s->info.msgid, secs);
	else
		log_info("%s: not sent: %s%s%s, %.3f s", s->user,
		    d->code[0] != '\0' ? d->code : "",
		    d->code[0] != '\0' ? " " : "", d->text, secs);
	if (chan_compose(&s->fc->chan, IMSG_SUBMIT_DONE, s->id, fd, d,
	    sizeof(*d)) == -1 && fd != -1)
		close(fd);
	free(d);
	sub_free(s);
	slots_run();
}

/*
 * Text for the draft's form: no comma (it separates the parts) and
 * nothing that cannot go in an IMAP line.  Returns its length.
 */
static size_t
draft_text(char *dst, size_t dstsz, const char *src)
{
	size_t	n = 0;

	for (; *src != '\0' && n + 1 < dstsz; src++)
		dst[n++] = *src == ',' ? ';' :
		    (unsigned char)*src < ' ' || *src == 127 ? ' ' : *src;
	dst[n] = '\0';
	return n;
}

static void
sub_free(struct sub *s)
{
	if (s->txn != NULL)
		smtp_abort(s->txn);
	if (s->state == SUB_QUEUED)
		TAILQ_REMOVE(&queue, s, qentry);
	else if (s->state == SUB_RELAY || s->state == SUB_STREAM)
		relaying--;
	TAILQ_REMOVE(&s->fc->subs, s, entry);
	event_del(&s->pev);
	if (s->pipe != -1) {
		event_del(&s->pipev);
		close(s->pipe);
	}
	if (s->spool != -1)
		close(s->spool);
	if (s->out != -1)
		close(s->out);
	if (s->out7 != -1)
		close(s->out7);
	free(s->wr);
	free(s->answer);
	msg_info_free(&s->info);
	free(s);
}

/* A private file in the spool: it has no name, so no one else sees it. */
static int
spool_file(void)
{
	return open("/", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* At most conf->rate submissions per user in any 60 seconds. */
static int
rate_check(const char *user)
{
	struct rate	*r, *next;
	time_t		 now = time(NULL);

	if (conf->rate == 0)
		return 0;
	TAILQ_FOREACH_SAFE(r, &rates, entry, next) {
		/* forget users quiet for a minute */
		if (r->n > 0 && now - r->when[(r->head + r->n - 1) %
		    conf->rate] >= 60) {
			TAILQ_REMOVE(&rates, r, entry);
			free(r->when);
			free(r);
		}
	}
	TAILQ_FOREACH(r, &rates, entry)
		if (strcmp(r->user, user) == 0)
			break;
	if (r == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL ||
		    (r->when = calloc(conf->rate, sizeof(time_t))) == NULL)
			fatal("%s", __func__);
		strlcpy(r->user, user, sizeof(r->user));
		TAILQ_INSERT_TAIL(&rates, r, entry);
	}
	while (r->n > 0 && now - r->when[r->head] >= 60) {
		r->head = (r->head + 1) % conf->rate;
		r->n--;
	}
	if (r->n == conf->rate)
		return -1;
	r->when[(r->head + r->n) % conf->rate] = now;
	r->n++;
	return 0;
}
