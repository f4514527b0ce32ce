/*
 * Unit tests for imapxd/proxy.c: the parsed proxy a session becomes after
 * login, driven in-process.  A session is built by hand with two
 * socketpairs; the test plays the client on one and the backend IMAP
 * server on the other, and pumps the event loop in between.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <atf-c.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "frontend.h"
#include "imsg-types.h"
#include "log.h"

#include "atf_lsan.h"

#define PEER_BUF	(512 * 1024)
#define PUMP_ROUNDS	100

struct peer {
	const char	*name;
	int		 fd;
	char		 buf[PEER_BUF];
	size_t		 len;
};

/* What an injected command saw. */
struct injrec {
	struct inject	 inj;
	int		 ndone;
	char		 done[256];
	char		 data[1024];
	size_t		 datalen;
};

static void	 start(void);
static void	 stop(void);
static void	 timer_cb(int, short, void *);
static void	 pump(void);
static void	 peer_read(struct peer *);
static void	 sendn(struct peer *, const void *, size_t);
static void	 csend(const char *);
static void	 bsend(const char *);
static void	 expectn(struct peer *, const void *, size_t);
static void	 expect(struct peer *, const char *);
static void	 quiet(struct peer *);
static const char *vis(const char *, size_t);
static char	*repeat(int, size_t);
static int	 inj_match(struct inject *, const char *, size_t);
static void	 inj_data(struct inject *, int, const char *, size_t);
static void	 inj_done(struct inject *, const char *, size_t);
static void	 inj_init(struct injrec *);
static void	 noop_ok(const char *);
static int	 xtest_begin(struct session *, struct lcmd *, const char *,
		    size_t);
static int	 xtest_data(struct session *, struct lcmd *, int,
		    const char *, size_t);
static void	 xtest_end(struct session *, struct lcmd *);

static struct event_base	*base;
static struct fe_conf		*conf;
static struct session		*sess;
static struct peer		 cli = { .name = "client", .fd = -1 };
static struct peer		 be = { .name = "backend", .fd = -1 };
static int			 closing_ok;	/* the case ends the session */

/* A local command of the test's own, served in the front end. */
static const struct lcmd_ops	 xtest_ops = {
	.name = "XTEST",
	.service = PROC_PARENT,
	.begin = xtest_begin,
	.data = xtest_data,
	.end = xtest_end,
};
static struct {
	char	args[256];
	char	data[1024];
	size_t	datalen;
	int	ended;
} xtest;

/*
 * A session in S_PROXY as login_done() leaves it.  The test keeps a
 * reference to the configuration: when it drops back to one, the
 * session has freed itself (session_free_cb) and must not be touched.
 */
static void
start(void)
{
	struct limits	limits = LIMITS_DEFAULT_INIT;
	int		csv[2], bsv[2], i;

	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_MAIL);
#if defined(__GLIBC__) && !defined(IMAPX_SANITIZE)
	/* freed memory is overwritten: a use after free shows in the bytes */
	mallopt(M_PERTURB, 0xa5);
#endif
	base = event_init();

	ATF_REQUIRE((conf = calloc(1, sizeof(*conf))) != NULL);
	conf->refcnt = 2;
	conf->limits = limits;
	TAILQ_INIT(&conf->backends);
	ATF_REQUIRE((sess = calloc(1, sizeof(*sess))) != NULL);
	sess->id = 1;
	sess->conf = conf;
	sess->accounted = 0;

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, csv) == 0);
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, bsv) == 0);
	for (i = 0; i < 2; i++) {
		ATF_REQUIRE(fcntl(csv[i], F_SETFL, O_NONBLOCK) == 0);
		ATF_REQUIRE(fcntl(bsv[i], F_SETFL, O_NONBLOCK) == 0);
	}
	cli.fd = csv[0];
	be.fd = bsv[0];
	cli.len = be.len = 0;
	conn_init(&sess->client, csv[1], NULL, sess);
	conn_init(&sess->backend, bsv[1], NULL, sess);
	/* session_timeout() is frontend.c's own; an idle timeout fails here */
	evtimer_set(&sess->timer, timer_cb, sess);
	proxy_start(sess);
	ATF_REQUIRE_EQ(sess->state, S_PROXY);
	pump();
}

static void
stop(void)
{
	int	i;

	/* a closing session frees itself from the loop */
	for (i = 0; sess != NULL && sess->state == S_CLOSING && i < 10; i++) {
		event_loop(EVLOOP_ONCE);
		if (conf->refcnt == 1)
			sess = NULL;
	}
	if (sess != NULL) {
		proxy_free(sess);
		evtimer_del(&sess->timer);
		conn_close(&sess->client);
		conn_close(&sess->backend);
		free(sess->user);
		free(sess->bcaps);
		fe_conf_unref(sess->conf);
		free(sess);
		sess = NULL;
	}
	fe_conf_unref(conf);
	conf = NULL;
	close(cli.fd);
	close(be.fd);
	cli.fd = be.fd = -1;
	event_base_free(base);
	base = NULL;
}

static void
timer_cb(int fd, short event, void *arg)
{
	atf_tc_fail("session timer fired");
}

static void
pump(void)
{
	int	i;

	for (i = 0; i < 4; i++) {
		if (sess == NULL)
			break;
		event_loop(EVLOOP_NONBLOCK);
		if (conf->refcnt == 1)
			sess = NULL;
		else if (sess->state != S_PROXY && !closing_ok)
			atf_tc_fail("the session closed");
	}
	peer_read(&cli);
	peer_read(&be);
}

static void
peer_read(struct peer *p)
{
	ssize_t	n;

	while (p->len < sizeof(p->buf)) {
		n = read(p->fd, p->buf + p->len, sizeof(p->buf) - p->len);
		if (n == -1 && errno == EAGAIN)
			return;
		ATF_REQUIRE_MSG(n != -1, "read from %s: %s", p->name,
		    strerror(errno));
		if (n == 0)
			return;
		p->len += n;
	}
}

/* Write all of it, letting the proxy drain the other end meanwhile. */
static void
sendn(struct peer *p, const void *data, size_t len)
{
	const char	*d = data;
	ssize_t		 n;
	int		 tries = 0;

	while (len > 0) {
		n = write(p->fd, d, len);
		if (n == -1 && errno == EAGAIN) {
			ATF_REQUIRE_MSG(++tries < 1000, "%s stuck", p->name);
			pump();
			continue;
		}
		ATF_REQUIRE_MSG(n > 0, "write to %s: %s", p->name,
		    strerror(errno));
		d += n;
		len -= n;
	}
}

static void
csend(const char *s)
{
	sendn(&cli, s, strlen(s));
}

static void
bsend(const char *s)
{
	sendn(&be, s, strlen(s));
}

/*
 * The next bytes the peer receives are exactly these.  Wrong bytes fail
 * at once; missing ones after the loop has had its chances.
 */
static void
expectn(struct peer *p, const void *want, size_t len)
{
	size_t	n;
	int	i;

	for (i = 0; i < PUMP_ROUNDS; i++) {
		n = p->len < len ? p->len : len;
		if (memcmp(p->buf, want, n) != 0)
			atf_tc_fail("%s got '%s'", p->name, vis(p->buf,
			    p->len));
		if (p->len >= len)
			break;
		pump();
	}
	if (p->len < len)
		atf_tc_fail("%s got '%s', wanted '%s'", p->name,
		    vis(p->buf, p->len), vis(want, len));
	memmove(p->buf, p->buf + len, p->len - len);
	p->len -= len;
}

static void
expect(struct peer *p, const char *want)
{
	expectn(p, want, strlen(want));
}

/* Nothing more arrives. */
static void
quiet(struct peer *p)
{
	int	i;

	for (i = 0; i < 3; i++)
		pump();
	ATF_CHECK_MSG(p->len == 0, "%s got '%s'", p->name,
	    vis(p->buf, p->len));
	p->len = 0;
}

/* A printable copy for messages, cut short. */
static const char *
vis(const char *p, size_t len)
{
	static char	out[4][512];
	static int	k;
	char		*o = out[k++ % 4];
	size_t		 i, n = 0;

	for (i = 0; i < len && n < sizeof(out[0]) - 8; i++) {
		if (p[i] == '\r') {
			o[n++] = '\\';
			o[n++] = 'r';
		} else if (p[i] == '\n') {
			o[n++] = '\\';
			o[n++] = 'n';
		} else if ((unsigned char)p[i] < 0x20 ||
		    (unsigned char)p[i] >= 0x7f)
			n += snprintf(o + n, 5, "\\x%02x", (unsigned char)p[i]);
		else
			o[n++] = p[i];
	}
	if (i < len) {
		memcpy(o + n, "...", 3);
		n += 3;
	}
	o[n] = '\0';
	return o;
}

static char *
repeat(int c, size_t n)
{
	char	*p;

	ATF_REQUIRE((p = malloc(n + 1)) != NULL);
	memset(p, c, n);
	p[n] = '\0';
	return p;
}

static int
inj_match(struct inject *inj, const char *p, size_t len)
{
	return len >= 8 && strncmp(p, "* STATUS", 8) == 0;
}

static void
inj_data(struct inject *inj, int kind, const char *p, size_t len)
{
	struct injrec	*r = inj->arg;

	ATF_REQUIRE(r->datalen + len < sizeof(r->data));
	memcpy(r->data + r->datalen, p, len);
	r->datalen += len;
	r->data[r->datalen] = '\0';
}

static void
inj_done(struct inject *inj, const char *p, size_t len)
{
	struct injrec	*r = inj->arg;

	r->ndone++;
	if (p == NULL)
		strlcpy(r->done, "(dropped)", sizeof(r->done));
	else
		(void)snprintf(r->done, sizeof(r->done), "%.*s", (int)len, p);
}

static void
inj_init(struct injrec *r)
{
	static char	noop[] = "NOOP\r\n";

	memset(r, 0, sizeof(*r));
	r->inj.cmd = noop;
	r->inj.cmdlen = strlen(noop);
	r->inj.match = inj_match;
	r->inj.data = inj_data;
	r->inj.done = inj_done;
	r->inj.arg = r;
}

/* The session still works: a NOOP goes through and back. */
static void
noop_ok(const char *tag)
{
	char	line[64];

	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", tag);
	csend(line);
	expect(&be, line);
	(void)snprintf(line, sizeof(line), "%s OK NOOP completed\r\n", tag);
	bsend(line);
	expect(&cli, line);
}

static int
xtest_begin(struct session *s, struct lcmd *lc, const char *p, size_t len)
{
	(void)snprintf(xtest.args, sizeof(xtest.args), "%.*s", (int)len, p);
	return 0;
}

static int
xtest_data(struct session *s, struct lcmd *lc, int kind, const char *p,
    size_t len)
{
	ATF_REQUIRE(xtest.datalen + len < sizeof(xtest.data));
	memcpy(xtest.data + xtest.datalen, p, len);
	xtest.datalen += len;
	xtest.data[xtest.datalen] = '\0';
	return 0;
}

static void
xtest_end(struct session *s, struct lcmd *lc)
{
	xtest.ended++;
	lcmd_done(s, "OK XTEST done");
}

/* (a) */
ATF_TC_WITHOUT_HEAD(noop);
ATF_TC_BODY(noop, tc)
{
	start();
	csend("a1 NOOP\r\n");
	expect(&be, "a1 NOOP\r\n");
	quiet(&cli);
	bsend("* 3 EXISTS\r\na1 OK NOOP completed\r\n");
	expect(&cli, "* 3 EXISTS\r\na1 OK NOOP completed\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	/* empty lines between commands are dropped */
	csend("\r\n\na2 noop\r\n");
	expect(&be, "a2 noop\r\n");
	bsend("a2 OK done\r\n");
	expect(&cli, "a2 OK done\r\n");
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (b) */
ATF_TC_WITHOUT_HEAD(pipelined);
ATF_TC_BODY(pipelined, tc)
{
	static const char	cmds[] = "a1 NOOP\r\na2 SELECT INBOX\r\n"
	    "a3 FETCH 1 (FLAGS)\r\na4 UID STORE 1 +FLAGS (\\Seen)\r\n";
	static const char	resp[] = "a1 OK done\r\n* 1 EXISTS\r\n"
	    "* OK [UIDVALIDITY 1] x\r\na2 OK [READ-WRITE] selected\r\n"
	    "* 1 FETCH (FLAGS ())\r\na3 OK done\r\n"
	    "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\na4 OK done\r\n";
	struct cmd		*c;
	int			 n = 0;

	start();
	csend(cmds);
	expect(&be, cmds);
	TAILQ_FOREACH(c, &sess->cmds, entry)
		n++;
	ATF_CHECK_EQ(n, 4);
	ATF_CHECK_STREQ(TAILQ_LAST(&sess->cmds, cmdlist)->name, "UID STORE");
	bsend(resp);
	expect(&cli, resp);
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	ATF_REQUIRE(sess->mailbox != NULL);
	ATF_CHECK_STREQ(sess->mailbox, "INBOX");
	ATF_CHECK_EQ(sess->uidvalidity, 1);

	/* the selected mailbox's UIDVALIDITY, for SUBMIT CATENATE */
	csend("s1 EXAMINE Drafts\r\n");
	expect(&be, "s1 EXAMINE Drafts\r\n");
	bsend("* OK [UIDVALIDITY 4294967295] UIDs valid\r\n"
	    "s1 OK [READ-ONLY] done\r\n");
	expect(&cli, "* OK [UIDVALIDITY 4294967295] UIDs valid\r\n"
	    "s1 OK [READ-ONLY] done\r\n");
	ATF_CHECK_STREQ(sess->mailbox, "Drafts");
	ATF_CHECK_EQ(sess->uidvalidity, 4294967295U);
	csend("s2 SELECT Trash\r\n");
	expect(&be, "s2 SELECT Trash\r\n");
	bsend("* OK [UIDVALIDITY 4294967296] too big\r\ns2 OK done\r\n");
	expect(&cli, "* OK [UIDVALIDITY 4294967296] too big\r\ns2 OK done\r\n");
	ATF_CHECK_EQ(sess->uidvalidity, 0);
	csend("s3 SELECT INBOX\r\n");
	expect(&be, "s3 SELECT INBOX\r\n");
	bsend("* OK [UIDVALIDITY 7] x\r\ns3 NO no such mailbox\r\n");
	expect(&cli, "* OK [UIDVALIDITY 7] x\r\ns3 NO no such mailbox\r\n");
	ATF_CHECK(sess->mailbox == NULL);
	ATF_CHECK_EQ(sess->uidvalidity, 0);

	/* answers out of order are passed as they come */
	csend("b1 NOOP\r\nb2 NOOP\r\n");
	expect(&be, "b1 NOOP\r\nb2 NOOP\r\n");
	bsend("b2 OK two\r\nb1 OK one\r\n");
	expect(&cli, "b2 OK two\r\nb1 OK one\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (c) a synchronizing literal waits for the backend's continuation */
ATF_TC_WITHOUT_HEAD(append_sync);
ATF_TC_BODY(append_sync, tc)
{
	/* a literal whose bytes look like commands and literals */
	static const char	body[] = "x LOGOUT\r\n{5}\r\ny COMPRESS DEFLATE";

	start();
	csend("a APPEND INBOX (\\Seen) {34}\r\n");
	expect(&be, "a APPEND INBOX (\\Seen) {34}\r\n");
	quiet(&cli);		/* no continuation of our own */
	bsend("+ Ready for literal data\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend(body);
	csend("\r\n");
	expect(&be, body);
	expect(&be, "\r\n");
	bsend("a OK [APPENDUID 1 7] APPEND completed\r\n");
	expect(&cli, "a OK [APPENDUID 1 7] APPEND completed\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	noop_ok("b");
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (c) {n+}, ~{n}, several literals, one byte at a time */
ATF_TC_WITHOUT_HEAD(append_nonsync_binary);
ATF_TC_BODY(append_nonsync_binary, tc)
{
	static const char	multi[] = "c APPEND INBOX {3+}\r\nabc "
	    "(\\Seen) {4+}\r\nd\r\nf\r\n";
	static const char	bin[] = "\0\1\r\n\377";
	const char		*p;

	start();
	csend("a APPEND INBOX {11+}\r\nhello\r\nb OK\r\n");
	expect(&be, "a APPEND INBOX {11+}\r\nhello\r\nb OK\r\n");
	ATF_CHECK_EQ(sess->cs, CS_CMD);
	bsend("a OK done\r\n");
	expect(&cli, "a OK done\r\n");

	/* a binary literal with NUL, CR, LF and 8-bit bytes */
	csend("b APPEND INBOX ~{5}\r\n");
	expect(&be, "b APPEND INBOX ~{5}\r\n");
	bsend("+ go ahead\r\n");
	expect(&cli, "+ go ahead\r\n");
	sendn(&cli, bin, 5);
	csend("\r\n");
	expectn(&be, bin, 5);
	expect(&be, "\r\n");
	bsend("b OK done\r\n");
	expect(&cli, "b OK done\r\n");

	/* MULTIAPPEND, the client's bytes arriving one at a time */
	for (p = multi; *p != '\0'; p++) {
		sendn(&cli, p, 1);
		pump();
	}
	expect(&be, multi);
	bsend("c OK done\r\n");
	expect(&cli, "c OK done\r\n");

	/* an empty literal, ~{n+} */
	csend("d APPEND INBOX {0}\r\n\r\ne APPEND INBOX ~{2+}\r\n\0\0\r\n");
	expect(&be, "d APPEND INBOX {0}\r\n\r\ne APPEND INBOX ~{2+}\r\n");
	quiet(&be);		/* csend() stopped at the NUL */
	sendn(&cli, "\0\0\r\n", 4);
	expectn(&be, "\0\0\r\n", 4);
	bsend("d OK\r\ne OK\r\n");
	expect(&cli, "d OK\r\ne OK\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	noop_ok("f");
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (d) */
ATF_TC_WITHOUT_HEAD(response_literal);
ATF_TC_BODY(response_literal, tc)
{
	/* the second literal holds what looks like g's tagged answer */
	static const char	resp[] = "* 1 FETCH (BODY[] {5}\r\nhello)\r\n"
	    "* 2 FETCH (BODY[HEADER] {13}\r\ng OK done\r\n\r\n"
	    " BODY[TEXT] ~{2}\r\n\0\n)\r\nf OK FETCH completed\r\n";
	static const size_t	head = sizeof(resp) - 1 - 22;
	size_t			 i;

	start();
	csend("f FETCH 1:2 BODY[]\r\n");
	expect(&be, "f FETCH 1:2 BODY[]\r\n");
	sendn(&be, resp, sizeof(resp) - 1);
	expectn(&cli, resp, sizeof(resp) - 1);
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));

	csend("g FETCH 1:2 BODY[]\r\n");
	expect(&be, "g FETCH 1:2 BODY[]\r\n");
	for (i = 0; i < sizeof(resp) - 1; i++) {
		if (strncmp(resp + i, "f OK FETCH", 10) == 0)
			sendn(&be, "g", 1);
		else
			sendn(&be, resp + i, 1);
		pump();
		/* "g OK" inside a literal does not end g */
		if (i == head - 1)
			ATF_CHECK(!TAILQ_EMPTY(&sess->cmds));
	}
	expectn(&cli, resp, head);
	expect(&cli, "g OK FETCH completed\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (e) */
ATF_TC_WITHOUT_HEAD(capability_filtered);
ATF_TC_BODY(capability_filtered, tc)
{
	start();
	csend("c CAPABILITY\r\n");
	expect(&be, "c CAPABILITY\r\n");
	bsend("* CAPABILITY IMAP4rev1 COMPRESS=DEFLATE IDLE\r\n"
	    "c OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] done\r\n");
	expect(&cli, "* CAPABILITY IMAP4rev1 IDLE\r\n"
	    "c OK [CAPABILITY IMAP4rev1 IDLE] done\r\n");

	/* an untagged OK with the code, case and odd lists */
	csend("d NOOP\r\n");
	expect(&be, "d NOOP\r\n");
	bsend("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN X-FOO SORT] hi\r\n"
	    "* capability imap4rev1 starttls\r\n"
	    "d OK [ALERT] no caps here\r\n");
	expect(&cli, "* OK [CAPABILITY IMAP4rev1 SORT] hi\r\n"
	    "* capability imap4rev1\r\n"
	    "d OK [ALERT] no caps here\r\n");
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (e) our own capabilities are added once */
ATF_TC_WITHOUT_HEAD(capability_extra);
ATF_TC_BODY(capability_extra, tc)
{
	start();
	conf->services = (1 << PROC_EXECD) | (1 << PROC_NOTIFYD);
	csend("c CAPABILITY\r\n");
	expect(&be, "c CAPABILITY\r\n");
	bsend("* CAPABILITY IMAP4rev1 NOTIFY COMPRESS=DEFLATE IDLE\r\n"
	    "c OK done\r\n");
	expect(&cli, "* CAPABILITY IMAP4rev1 IDLE XEXEC NOTIFY\r\n"
	    "c OK done\r\n");
	quiet(&cli);
	stop();
}

/* (f) */
ATF_TC_WITHOUT_HEAD(idle);
ATF_TC_BODY(idle, tc)
{
	start();
	csend("t IDLE\r\n");
	expect(&be, "t IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	ATF_CHECK_EQ(sess->idle, IDLE_ON);
	bsend("* 4 EXISTS\r\n* 1 RECENT\r\n");
	expect(&cli, "* 4 EXISTS\r\n* 1 RECENT\r\n");
	csend("DONE\r\n");
	expect(&be, "DONE\r\n");
	quiet(&cli);
	bsend("t OK IDLE terminated\r\n");
	expect(&cli, "t OK IDLE terminated\r\n");
	ATF_CHECK_EQ(sess->idle, IDLE_NONE);
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	noop_ok("u");

	/* DONE in lower case, before the continuation */
	csend("v idle\r\ndone\r\n");
	expect(&be, "v idle\r\ndone\r\n");
	bsend("+ idling\r\nv OK done\r\n");
	expect(&cli, "+ idling\r\nv OK done\r\n");
	noop_ok("w");
	quiet(&be);
	quiet(&cli);
	stop();
}

/*
 * After DONE, the next line is a command again (RFC 2177 section 3):
 * a client may pipeline one behind DONE, and the proxy must parse it.
 */
ATF_TC_WITHOUT_HEAD(idle_pipelined_after_done);
ATF_TC_BODY(idle_pipelined_after_done, tc)
{
	start();
	csend("t IDLE\r\n");
	expect(&be, "t IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	csend("DONE\r\nx COMPRESS DEFLATE\r\ny NO");
	expect(&be, "DONE\r\n");
	expect(&cli, "x NO [CANNOT] COMPRESS is not available through this "
	    "server\r\n");
	quiet(&be);
	stop();
}

/* (g) */
ATF_TC_WITHOUT_HEAD(inject_idle_client);
ATF_TC_BODY(inject_idle_client, tc)
{
	struct injrec	r;
	char		line[128];

	start();
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	ATF_CHECK(strncmp(r.inj.tag, sess->injprefix,
	    strlen(sess->injprefix)) == 0);
	ATF_CHECK(strlen(r.inj.tag) > strlen(sess->injprefix));
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	expect(&be, line);

	(void)snprintf(line, sizeof(line), "* STATUS INBOX (MESSAGES 1)\r\n"
	    "%s OK NOOP completed\r\n", r.inj.tag);
	bsend(line);
	quiet(&cli);
	ATF_CHECK_EQ(r.ndone, 1);
	(void)snprintf(line, sizeof(line), "%s OK NOOP completed", r.inj.tag);
	ATF_CHECK_STREQ(r.done, line);
	ATF_CHECK_STREQ(r.data, "* STATUS INBOX (MESSAGES 1)\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->injects));
	noop_ok("a");
	quiet(&be);
	stop();
}

/* (g) the client's and our responses interleave; only its own reach it */
ATF_TC_WITHOUT_HEAD(inject_interleaved);
ATF_TC_BODY(inject_interleaved, tc)
{
	struct injrec	r;
	char		line[256];

	start();
	csend("a NOOP\r\n");
	expect(&be, "a NOOP\r\n");
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	expect(&be, line);
	/* a STATUS with a literal mailbox name is claimed whole */
	(void)snprintf(line, sizeof(line), "* 5 EXISTS\r\n"
	    "* STATUS {5}\r\nINBOX (MESSAGES 5)\r\n%s OK done\r\n"
	    "a OK NOOP completed\r\n", r.inj.tag);
	bsend(line);
	expect(&cli, "* 5 EXISTS\r\na OK NOOP completed\r\n");
	ATF_CHECK_EQ(r.ndone, 1);
	ATF_CHECK_STREQ(r.data, "* STATUS {5}\r\nINBOX (MESSAGES 5)\r\n");

	/* a client tag in our namespace is refused */
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	csend(line);
	(void)snprintf(line, sizeof(line), "%s BAD Tag already in use\r\n",
	    r.inj.tag);
	expect(&cli, line);
	quiet(&be);
	stop();
}

/* (g) an injection waits for the client's command to be complete */
ATF_TC_WITHOUT_HEAD(inject_after_literal);
ATF_TC_BODY(inject_after_literal, tc)
{
	struct injrec	r1, r2;
	char		line[128];

	start();
	/* half of a {n+} literal is through */
	csend("a APPEND INBOX {10+}\r\nhello");
	expect(&be, "a APPEND INBOX {10+}\r\nhello");
	inj_init(&r1);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r1.inj), 0);
	quiet(&be);
	csend("world");
	expect(&be, "world");
	quiet(&be);		/* the command line goes on after a literal */
	csend(" {2+}\r\n!!\r\n");
	(void)snprintf(line, sizeof(line), " {2+}\r\n!!\r\n%s NOOP\r\n",
	    r1.inj.tag);
	expect(&be, line);

	/* a synchronizing literal: nothing before the client sent it */
	csend("b APPEND INBOX {5}\r\n");
	expect(&be, "b APPEND INBOX {5}\r\n");
	inj_init(&r2);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r2.inj), 0);
	ATF_CHECK(strcmp(r1.inj.tag, r2.inj.tag) != 0);
	quiet(&be);
	(void)snprintf(line, sizeof(line), "a OK done\r\n%s OK done\r\n"
	    "+ go\r\n", r1.inj.tag);
	bsend(line);
	expect(&cli, "a OK done\r\n+ go\r\n");
	quiet(&be);
	csend("hello\r\n");
	(void)snprintf(line, sizeof(line), "hello\r\n%s NOOP\r\n", r2.inj.tag);
	expect(&be, line);
	(void)snprintf(line, sizeof(line), "%s OK done\r\nb OK done\r\n",
	    r2.inj.tag);
	bsend(line);
	expect(&cli, "b OK done\r\n");
	ATF_CHECK_EQ(r1.ndone, 1);
	ATF_CHECK_EQ(r2.ndone, 1);
	quiet(&cli);
	stop();
}

/*
 * (g) while the client idles, the backend is taken out of IDLE for the
 * injected command and put back; the client sees one IDLE throughout.
 */
ATF_TC_WITHOUT_HEAD(inject_during_idle);
ATF_TC_BODY(inject_during_idle, tc)
{
	struct injrec	r;
	char		line[128];

	start();
	csend("t IDLE\r\n");
	expect(&be, "t IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	expect(&be, "DONE\r\n");
	bsend("t OK IDLE terminated\r\n");
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	expect(&be, line);
	quiet(&cli);
	(void)snprintf(line, sizeof(line), "* STATUS INBOX (MESSAGES 2)\r\n"
	    "%s OK NOOP completed\r\n", r.inj.tag);
	bsend(line);
	expect(&be, "t IDLE\r\n");
	ATF_CHECK_EQ(r.ndone, 1);
	bsend("+ idling again\r\n* 2 EXISTS\r\n");
	expect(&cli, "* 2 EXISTS\r\n");
	csend("DONE\r\n");
	expect(&be, "DONE\r\n");
	bsend("t OK IDLE terminated\r\n");
	expect(&cli, "t OK IDLE terminated\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	ATF_CHECK_EQ(sess->idle, IDLE_NONE);
	noop_ok("u");
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (g) the client's DONE at each point of that detour */
ATF_TC_WITHOUT_HEAD(inject_during_idle_done);
ATF_TC_BODY(inject_during_idle_done, tc)
{
	struct injrec	r;
	char		line[128];

	start();
	/* DONE before the backend answered our DONE: its OK is the client's */
	csend("t IDLE\r\n");
	expect(&be, "t IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	expect(&be, "DONE\r\n");
	csend("DONE\r\n");
	quiet(&be);
	bsend("t OK IDLE terminated\r\n");
	expect(&cli, "t OK IDLE terminated\r\n");
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	expect(&be, line);
	(void)snprintf(line, sizeof(line), "%s OK done\r\n", r.inj.tag);
	bsend(line);
	quiet(&be);
	quiet(&cli);
	ATF_CHECK_EQ(r.ndone, 1);

	/* DONE while our command runs: answered here, no IDLE again */
	csend("u IDLE\r\n");
	expect(&be, "u IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	expect(&be, "DONE\r\n");
	bsend("u OK IDLE terminated\r\n");
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	expect(&be, line);
	csend("DONE\r\n");
	expect(&cli, "u OK Idle completed\r\n");
	(void)snprintf(line, sizeof(line), "%s OK done\r\n", r.inj.tag);
	bsend(line);
	quiet(&be);
	ATF_CHECK_EQ(r.ndone, 1);
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));

	/* DONE while the backend re-enters IDLE: ended after its "+" */
	csend("v IDLE\r\n");
	expect(&be, "v IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	expect(&be, "DONE\r\n");
	bsend("v OK IDLE terminated\r\n");
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	expect(&be, line);
	(void)snprintf(line, sizeof(line), "%s OK done\r\n", r.inj.tag);
	bsend(line);
	expect(&be, "v IDLE\r\n");
	csend("DONE\r\n");
	quiet(&be);
	bsend("+ idling\r\n");
	expect(&be, "DONE\r\n");
	bsend("v OK IDLE terminated\r\n");
	expect(&cli, "v OK IDLE terminated\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	noop_ok("w");
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (g) queued after the client's IDLE, before the backend's "+" */
ATF_TC_WITHOUT_HEAD(inject_before_idle_ack);
ATF_TC_BODY(inject_before_idle_ack, tc)
{
	struct injrec	r;

	start();
	csend("t IDLE\r\n");
	expect(&be, "t IDLE\r\n");
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	quiet(&be);
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	expect(&be, "DONE\r\n");
	stop();
}

/* (g) an injection still in flight when the session ends is told so */
ATF_TC_WITHOUT_HEAD(inject_dropped);
ATF_TC_BODY(inject_dropped, tc)
{
	struct injrec	r;
	char		line[128];

	start();
	inj_init(&r);
	ATF_REQUIRE_EQ(proxy_inject(sess, &r.inj), 0);
	(void)snprintf(line, sizeof(line), "%s NOOP\r\n", r.inj.tag);
	expect(&be, line);
	ATF_CHECK_EQ(r.ndone, 0);
	stop();
	ATF_CHECK_EQ(r.ndone, 1);
	ATF_CHECK_STREQ(r.done, "(dropped)");
}

/* (h) a line that grows past line_max before its end arrives */
ATF_TC_WITHOUT_HEAD(line_too_long);
ATF_TC_BODY(line_too_long, tc)
{
	char	*x;

	start();
	conf->limits.line_max = 1024;
	x = repeat('x', 1500);
	csend("a SEARCH TEXT ");
	csend(x);
	expect(&cli, "a BAD [TOOBIG] Command line too long\r\n");
	csend(x);
	csend("\r\n");
	quiet(&be);
	quiet(&cli);
	noop_ok("b");

	/* the same after a literal: the backend gets a line it refuses */
	csend("c APPEND INBOX {3+}\r\nabc");
	expect(&be, "c APPEND INBOX {3+}\r\nabc");
	csend(x);
	expect(&be, " \x7f\r\n");
	quiet(&cli);
	csend(x);
	csend("\r\nd NOOP\r\n");
	expect(&be, "d NOOP\r\n");
	bsend("c BAD Invalid characters\r\nd OK done\r\n");
	expect(&cli, "c BAD [TOOBIG] Command line too long\r\nd OK done\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	free(x);
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (h) a line longer than line_max that arrives whole */
ATF_TC_WITHOUT_HEAD(line_too_long_whole);
ATF_TC_BODY(line_too_long_whole, tc)
{
	char	*x;

	start();
	x = repeat('x', 100 * 1024);
	csend("a SEARCH TEXT ");
	csend(x);
	csend("\r\n");
	free(x);
	expect(&cli, "a BAD [TOOBIG] Command line too long\r\n");
	stop();
}

/* (i) a synchronizing literal over literal_max: no continuation */
ATF_TC_WITHOUT_HEAD(literal_too_large_sync);
ATF_TC_BODY(literal_too_large_sync, tc)
{
	start();
	conf->limits.literal_max = 100;
	csend("a APPEND INBOX {101}\r\n");
	expect(&cli, "a NO [TOOBIG] Literal too large\r\n");
	quiet(&be);
	csend("b APPEND INBOX ~{99999999999999999999}\r\n");
	expect(&cli, "b NO [TOOBIG] Literal too large\r\n");
	quiet(&be);
	/* exactly the limit is fine */
	csend("c APPEND INBOX {100}\r\n");
	expect(&be, "c APPEND INBOX {100}\r\n");
	bsend("c NO no room\r\n");
	expect(&cli, "c NO no room\r\n");
	noop_ok("d");
	quiet(&cli);
	stop();
}

/* (i) a {n+} literal over literal_max is read and dropped */
ATF_TC_WITHOUT_HEAD(literal_too_large_nonsync);
ATF_TC_BODY(literal_too_large_nonsync, tc)
{
	char	*x;

	start();
	conf->limits.literal_max = 100;
	/* the body holds lines that must not be taken as commands */
	x = repeat('x', 101);
	memcpy(x, "\r\nz NOOP\r\n", 10);
	memcpy(x + 50, "y LOGOUT\r\n", 10);
	csend("a APPEND INBOX {101+}\r\n");
	csend(x);
	csend(" rest of the line\r\nb NOOP\r\n");
	expect(&cli, "a NO [TOOBIG] Literal too large\r\n");
	expect(&be, "b NOOP\r\n");
	bsend("b OK done\r\n");
	expect(&cli, "b OK done\r\n");

	/* a second literal over the limit: the first part went through */
	csend("c APPEND INBOX {3+}\r\nabc {101+}\r\n");
	csend(x);
	csend("\r\nd NOOP\r\n");
	expect(&be, "c APPEND INBOX {3+}\r\nabc \x7f\r\nd NOOP\r\n");
	bsend("c BAD junk\r\nd OK done\r\n");
	expect(&cli, "c NO [TOOBIG] Literal too large\r\nd OK done\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	free(x);
	quiet(&be);
	quiet(&cli);
	stop();
}

/* (j) */
ATF_TC_WITHOUT_HEAD(compress_refused);
ATF_TC_BODY(compress_refused, tc)
{
	start();
	csend("x COMPRESS DEFLATE\r\n");
	expect(&cli, "x NO [CANNOT] COMPRESS is not available through this "
	    "server\r\n");
	csend("y compress deflate\r\n");
	expect(&cli, "y NO [CANNOT] COMPRESS is not available through this "
	    "server\r\n");
	csend("z STARTTLS\r\nw LOGIN a b\r\nv AUTHENTICATE PLAIN\r\n");
	expect(&cli, "z BAD Already authenticated\r\n"
	    "w BAD Already authenticated\r\n"
	    "v BAD Already authenticated\r\n");
	/* a refused command's synchronizing literal is never sent */
	csend("u LOGIN {5}\r\n");
	expect(&cli, "u BAD Already authenticated\r\n");
	quiet(&be);
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	noop_ok("t");
	quiet(&cli);
	stop();
}

/* (k) */
ATF_TC_WITHOUT_HEAD(tag_in_use);
ATF_TC_BODY(tag_in_use, tc)
{
	char	line[128];

	start();
	/* a tag of our injected namespace is refused */
	(void)snprintf(line, sizeof(line), "%s1 NOOP\r\n", sess->injprefix);
	csend(line);
	(void)snprintf(line, sizeof(line), "%s1 BAD Tag already in use\r\n",
	    sess->injprefix);
	expect(&cli, line);
	quiet(&be);
	/* a client's own reused tag is the backend's business */
	csend("a NOOP\r\n");
	expect(&be, "a NOOP\r\n");
	csend("a NOOP\r\n");
	expect(&be, "a NOOP\r\n");
	bsend("a OK one\r\na OK two\r\n");
	expect(&cli, "a OK one\r\na OK two\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	noop_ok("a");
	quiet(&be);
	quiet(&cli);
	stop();
}

ATF_TC_WITHOUT_HEAD(syntax_errors);
ATF_TC_BODY(syntax_errors, tc)
{
	start();
	csend("a\r\n");
	expect(&cli, "a BAD Syntax error in command\r\n");
	csend("+x NOOP\r\n");
	expect(&cli, "* BAD Syntax error in command\r\n");
	csend("b (NOOP)\r\n");
	expect(&cli, "b BAD Syntax error in command\r\n");
	/* with a {n+} literal, which is read and dropped */
	csend("c( APPEND {3+}\r\nabc\r\n");
	expect(&cli, "* BAD Syntax error in command\r\n");
	quiet(&be);
	noop_ok("d");
	quiet(&cli);
	stop();
}

/* A command the front end serves itself never reaches the backend. */
ATF_TC_WITHOUT_HEAD(local_command);
ATF_TC_BODY(local_command, tc)
{
	start();
	lcmd_register(&xtest_ops);
	csend("a XTEST one \"two\"\r\n");
	expect(&cli, "a OK XTEST done\r\n");
	ATF_CHECK_STREQ(xtest.args, " one \"two\"");
	ATF_CHECK_EQ(xtest.ended, 1);

	/* literals go to the handler; "c NO" keeps the input buffer alive */
	csend("b xtest {5+}\r\nhello world\r\nc NO");
	expect(&cli, "b OK XTEST done\r\n");
	ATF_CHECK_STREQ(xtest.args, " ");
	ATF_CHECK_STREQ(xtest.data, "hello world\r\n");
	csend("OP\r\n");
	expect(&be, "c NOOP\r\n");
	bsend("c OK done\r\n");
	expect(&cli, "c OK done\r\n");

	/* a synchronizing literal gets our continuation */
	xtest.datalen = 0;
	csend("d XTEST {3}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend("abc\r\ne NO");
	expect(&cli, "d OK XTEST done\r\n");
	ATF_CHECK_STREQ(xtest.data, "abc\r\n");
	ATF_CHECK_EQ(xtest.ended, 3);
	csend("OP\r\n");
	expect(&be, "e NOOP\r\n");
	bsend("e OK done\r\n");
	expect(&cli, "e OK done\r\n");
	ATF_CHECK(TAILQ_EMPTY(&sess->cmds));
	quiet(&be);
	quiet(&cli);
	stop();
}

/* The same when the command's last bytes are the last ones buffered. */
ATF_TC_WITHOUT_HEAD(local_command_last_bytes);
ATF_TC_BODY(local_command_last_bytes, tc)
{
	start();
	lcmd_register(&xtest_ops);
	csend("a XTEST {3+}\r\nxyz");
	pump();
	csend("\r\n");
	expect(&cli, "a OK XTEST done\r\n");
	ATF_CHECK_STREQ(xtest.data, "xyz\r\n");
	quiet(&be);
	stop();
}

/* Our lines wait while a backend response is being passed on. */
ATF_TC_WITHOUT_HEAD(local_answer_waits);
ATF_TC_BODY(local_answer_waits, tc)
{
	start();
	csend("f FETCH 1 BODY[]\r\n");
	expect(&be, "f FETCH 1 BODY[]\r\n");
	bsend("* 1 FETCH (BODY[] {10}\r\nhel");
	expect(&cli, "* 1 FETCH (BODY[] {10}\r\nhel");
	csend("x COMPRESS DEFLATE\r\n");
	quiet(&cli);
	bsend("lo\r\nworl)\r\n");
	expect(&cli, "lo\r\nworl)\r\nx NO [CANNOT] COMPRESS is not "
	    "available through this server\r\n");
	bsend("f OK done\r\n");
	expect(&cli, "f OK done\r\n");
	quiet(&be);
	quiet(&cli);
	stop();
}

/* The backend goes away: the client is told, the session ends. */
ATF_TC_WITHOUT_HEAD(backend_eof);
ATF_TC_BODY(backend_eof, tc)
{
	start();
	csend("a NOOP\r\n");
	expect(&be, "a NOOP\r\n");
	closing_ok = 1;
	ATF_REQUIRE(shutdown(be.fd, SHUT_WR) == 0);
	expect(&cli, "* BYE Backend server closed the connection\r\n");
	stop();
}

/* A literal size no server would announce ends the session. */
ATF_TC_WITHOUT_HEAD(backend_bad_literal);
ATF_TC_BODY(backend_bad_literal, tc)
{
	start();
	csend("a FETCH 1 BODY[]\r\n");
	expect(&be, "a FETCH 1 BODY[]\r\n");
	closing_ok = 1;
	bsend("* 1 FETCH (BODY[] {99999999999999999999}\r\n");
	expect(&cli, "* BYE Backend protocol error\r\n");
	stop();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, noop);
	ATF_TP_ADD_TC(tp, pipelined);
	ATF_TP_ADD_TC(tp, append_sync);
	ATF_TP_ADD_TC(tp, append_nonsync_binary);
	ATF_TP_ADD_TC(tp, response_literal);
	ATF_TP_ADD_TC(tp, capability_filtered);
	ATF_TP_ADD_TC(tp, capability_extra);
	ATF_TP_ADD_TC(tp, idle);
	ATF_TP_ADD_TC(tp, idle_pipelined_after_done);
	ATF_TP_ADD_TC(tp, inject_idle_client);
	ATF_TP_ADD_TC(tp, inject_interleaved);
	ATF_TP_ADD_TC(tp, inject_after_literal);
	ATF_TP_ADD_TC(tp, inject_during_idle);
	ATF_TP_ADD_TC(tp, inject_during_idle_done);
	ATF_TP_ADD_TC(tp, inject_before_idle_ack);
	ATF_TP_ADD_TC(tp, inject_dropped);
	ATF_TP_ADD_TC(tp, line_too_long);
	ATF_TP_ADD_TC(tp, line_too_long_whole);
	ATF_TP_ADD_TC(tp, literal_too_large_sync);
	ATF_TP_ADD_TC(tp, literal_too_large_nonsync);
	ATF_TP_ADD_TC(tp, compress_refused);
	ATF_TP_ADD_TC(tp, tag_in_use);
	ATF_TP_ADD_TC(tp, syntax_errors);
	ATF_TP_ADD_TC(tp, local_command);
	ATF_TP_ADD_TC(tp, local_command_last_bytes);
	ATF_TP_ADD_TC(tp, local_answer_waits);
	ATF_TP_ADD_TC(tp, backend_eof);
	ATF_TP_ADD_TC(tp, backend_bad_literal);
	return atf_no_error();
}
