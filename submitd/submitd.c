/*
 * submitd: sends the messages that SUBMIT hands over (doc/submit.md,
 * submitd.8).  For each one it spools the bytes to a private file, checks
 * and fixes the message (message.c), relays it over SMTP (smtp.c) all or
 * nothing, and answers the frontend in the draft's form.
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
#include "privdrop.h"
#include "sandbox.h"
#include "smtp.h"
#include "submitd.h"
#include "svcchan.h"

#define ALLOWED_MAX	64	/* From addresses one user may use */

/* A channel to one frontend worker. */
struct fchan {
	TAILQ_ENTRY(fchan)	 entry;
	struct chan		 chan;
	uint32_t		 instance;
	TAILQ_HEAD(, sub)	 subs;
};

enum sub_state {
	SUB_RECV,		/* bytes arriving */
	SUB_QUEUED,		/* complete, waiting for a relay slot */
	SUB_RELAY		/* talking to the relay */
};

/* One submission. */
struct sub {
	TAILQ_ENTRY(sub)	 entry;		/* on its channel */
	TAILQ_ENTRY(sub)	 qentry;	/* waiting for a slot */
	struct fchan		*fc;
	uint32_t		 id;
	enum sub_state		 state;
	char			 user[IMAPX_USER_MAX];
	int			 spool;		/* as received */
	int			 out;		/* as prepared */
	int			 out7;		/* as converted to 7-bit */
	uint64_t		 got;
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
static void		sub_data(struct sub *, struct imsg *);
static void		sub_end(struct sub *);
static void		sub_refuse(struct sub *, uint32_t, const char *,
			    const char *, ...)
			    __attribute__((__format__ (printf, 4, 5)));
static void		sub_relay(struct sub *);
static void		sub_ready(struct smtp_txn *, const struct smtp_caps *,
			    void *);
static void		sub_done(struct smtp_txn *, const struct smtp_result *,
			    void *);
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
		if (s->state != SUB_RECV)
			goto bad;
		sub_data(s, imsg);
		return;
	case IMSG_SUBMIT_END:
		if (s->state != SUB_RECV || imsg_get_len(imsg) != 0)
			goto bad;
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

	if (imsg_get_data(imsg, &st, sizeof(st)) == -1 ||
	    memchr(st.user, '\0', sizeof(st.user)) == NULL ||
	    st.user[0] == '\0' || sub_find(fc, imsg_get_id(imsg)) != NULL) {
		log_warnx("frontend %u: bad IMSG_SUBMIT_START, closing its "
		    "channel", fc->instance);
		fchan_closed(&fc->chan);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("%s", __func__);
	s->fc = fc;
	s->id = imsg_get_id(imsg);
	s->state = SUB_RECV;
	s->spool = s->out = s->out7 = -1;
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
}

/* Why it will be refused; the answer waits for the end of the bytes. */
static void
sub_refuse(struct sub *s, uint32_t status, const char *code,
    const char *fmt, ...)
{
	va_list	ap;

	if (s->refused)
		return;
	s->refused = status;
	strlcpy(s->code, code, sizeof(s->code));
	va_start(ap, fmt);
	(void)vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
}

static void
sub_data(struct sub *s, struct imsg *imsg)
{
	const char	*p = imsg->data;
	size_t		 len = imsg_get_len(imsg);
	ssize_t		 n;

	s->got += len;
	if (s->refused)
		return;
	if (s->got > conf->size_max) {
		sub_refuse(s, SUBMIT_NO, "TOOBIG", "Message too large (at "
		    "most %llu bytes)", (unsigned long long)conf->size_max);
		return;
	}
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
}

static void
sub_end(struct sub *s)
{
	if (!s->refused && s->got == 0)
		sub_refuse(s, SUBMIT_BAD, "", "Empty message");
	if (s->refused) {
		log_info("%s: refused: %s", s->user, s->reason);
		sub_answer(s, s->refused, s->code, s->reason, NULL);
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

/* Check and fix it, then open the transaction with the relay. */
static void
sub_relay(struct sub *s)
{
	struct msg_conf	 mc;
	const char	*allowed[ALLOWED_MAX];
	char		 reason[MSG_REASON_MAX];

	memset(&mc, 0, sizeof(mc));
	mc.user = s->user;
	mc.nallowed = submitd_allowed(conf, s->user, allowed, ALLOWED_MAX);
	mc.allowed = allowed;
	mc.rcpt_max = conf->rcpt_max;
	mc.hostname = conf->hostname;
	if ((s->out = spool_file()) == -1) {
		sub_answer(s, SUBMIT_NO, "UNAVAILABLE", "Cannot spool the "
		    "message", NULL);
		return;
	}
	if (msg_prepare(s->spool, s->out, &mc, &s->info, reason,
	    sizeof(reason)) == -1) {
		log_info("%s: refused: %s", s->user, reason);
		sub_answer(s, SUBMIT_NO, "", reason, NULL);
		return;
	}
	close(s->spool);
	s->spool = -1;
	if ((s->txn = smtp_open(&sconf, sub_ready, sub_done, s)) == NULL) {
		sub_answer(s, SUBMIT_NO, "UNAVAILABLE", "Cannot reach the "
		    "relay", NULL);
		return;
	}
}

/* The relay said what it offers: send the message as it can take it. */
static void
sub_ready(struct smtp_txn *txn, const struct smtp_caps *caps, void *arg)
{
	struct sub	*s = arg;
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
}

static void
sub_done(struct smtp_txn *txn, const struct smtp_result *r, void *arg)
{
	struct sub	*s = arg;

	s->txn = NULL;		/* freed below, after its result is used */
	if (r->status == SMTP_OK)
		sub_answer(s, SUBMIT_OK, "", "", r);
	else if (r->sent && r->code == 0)
		sub_answer(s, SUBMIT_UNKNOWN, "", "The relay did not confirm "
		    "the message after it was sent: it may have been "
		    "delivered", r);
	else if (r->nbad > 0)
		sub_answer(s, SUBMIT_NO, "", r->status == SMTP_TEMPFAIL ?
		    "Temporary failure: some recipients were refused, "
		    "try again later" : "", r);
	else
		sub_answer(s, SUBMIT_NO, r->status == SMTP_TEMPFAIL &&
		    r->code == 0 && !r->sent ? "UNAVAILABLE" : "",
		    r->status == SMTP_TEMPFAIL ? "Temporary failure" :
		    "Permanent failure", r);
	smtp_free(txn);
}

/*
 * The answer, in the draft's form: the error not tied to a recipient,
 * then ",rcpt" for each one the relay refused.  A SUBMIT_NO without
 * refused recipients ends in a comma, as the draft's "MX server not
 * responding,".
 */
static void
sub_answer(struct sub *s, uint32_t status, const char *code,
    const char *why, const struct smtp_result *r)
{
	struct imsg_submit_done	*d;
	struct timespec		 now;
	char			 text[1024];
	size_t			 i, len;
	int			 fd = -1;
	double			 secs;

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
	if (status == SUBMIT_OK && conf->sentbox[0] != '\0') {
		fd = dup(s->out7 != -1 ? s->out7 : s->out);
		if (fd != -1 && lseek(fd, 0, SEEK_SET) == -1) {
			close(fd);
			fd = -1;
		}
		if (fd != -1) {
			struct stat	st;

			if (fstat(fd, &st) == 0) {
				d->save = 1;
				d->size = st.st_size;
			} else {
				close(fd);
				fd = -1;
			}
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (now.tv_sec - s->start.tv_sec) +
	    (now.tv_nsec - s->start.tv_nsec) / 1e9;
	if (status == SUBMIT_OK)
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
	else if (s->state == SUB_RELAY)
		relaying--;
	TAILQ_REMOVE(&s->fc->subs, s, entry);
	if (s->spool != -1)
		close(s->spool);
	if (s->out != -1)
		close(s->out);
	if (s->out7 != -1)
		close(s->out7);
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
