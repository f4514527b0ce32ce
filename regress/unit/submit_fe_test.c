/*
 * Unit tests for imapxd/submit.c: the SUBMIT command of seeds/004 and
 * SUBMIT CATENATE, driven in-process.  As in xexec_test.c a session is
 * built by hand over socketpairs, the test playing the client and the
 * backend; a third socketpair is installed as the submitd service channel
 * (fe_service_channel), and the test plays submitd on it with the
 * messages of common/imsg-types.h, checking the bytes it gets.
 * doc/submit.md is what the cases check.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

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

#include "chan.h"
#include "frontend.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"

#include "atf_lsan.h"

#define PEER_BUF	(4 * 1024 * 1024)
#define PUMP_ROUNDS	200
#define USER		"alice@example.test"
#define SENTBOX		"Sent"

struct peer {
	const char	*name;
	int		 fd;
	char		*buf;
	size_t		 len;
	int		 stalled;	/* the test does not read it now */
};

/* One message the fake submitd received. */
struct smsg {
	TAILQ_ENTRY(smsg) entry;
	uint32_t	 type;
	uint32_t	 id;
	pid_t		 pid;
	size_t		 len;
	char		 data[MAX_IMSGSIZE];
};

/* A whole message as submitd got it. */
struct got {
	uint32_t	 id;
	uint64_t	 size;		/* announced in START */
	char		*data;
	size_t		 len;
	size_t		 nchunks;
	size_t		 maxchunk;
	int		 piped;		/* it came through the pipe */
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
static char	*expect_injected(const char *);
static void	 quiet(struct peer *);
static const char *vis(const char *, size_t);
static char	*repeat(int, size_t);
static char	*pattern(size_t);
static void	 noop_ok(const char *);
static void	 select_mailbox(const char *, uint32_t);
static void	 sd_up(uint64_t, const char *);
static void	 sd_up_silent(void);
static void	 sd_hello(uint64_t, const char *);
static void	 sd_down(void);
static void	 sd_gone(void);
static void	 sd_pump(void);
static int	 sd_next(struct smsg *);
static void	 sd_expect(uint32_t, uint32_t, struct smsg *);
static void	 sd_quiet(void);
static void	 sd_send(uint32_t, uint32_t, int, const void *, size_t);
static void	 sd_credit(size_t);
static uint32_t	 sd_message(struct got *, int);
static void	 sd_done(uint32_t, int, const char *, const char *);
static void	 sd_done_save(uint32_t, const char *, size_t);
static void	 got_free(struct got *);
static void	 body_done(struct inject *, const char *, size_t);

static struct fe_conf		*conf;
static struct session		*sess;
static struct backend		 beconf;
static struct peer		 cli = { .name = "client", .fd = -1 };
static struct peer		 be = { .name = "backend", .fd = -1 };
static int			 closing_ok;	/* the case ends the session */
static struct imsgbuf		 sd;		/* the fake submitd's end */
static int			 sdfd = -1;
static int			 sd_stall;	/* it takes DATA, no credit */
static size_t			 sd_owed;	/* DATA bytes not credited */
static int			 sd_pfd = -1;	/* a piped message's pipe */
static char			*sd_pdata;	/* what came through it */
static size_t			 sd_plen;
static int			 sd_peof;	/* it ended */
static TAILQ_HEAD(, smsg)	 sd_q = TAILQ_HEAD_INITIALIZER(sd_q);

/* A logged-in session in S_PROXY, SUBMIT registered, submitd up. */
static void
start(void)
{
	struct limits		 limits = LIMITS_DEFAULT_INIT;
	struct sockaddr_in	*sin;
	int			 csv[2], bsv[2], i;

	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_MAIL);
	event_init();
	ATF_REQUIRE((cli.buf = malloc(PEER_BUF)) != NULL);
	ATF_REQUIRE((be.buf = malloc(PEER_BUF)) != NULL);

	ATF_REQUIRE((conf = calloc(1, sizeof(*conf))) != NULL);
	conf->refcnt = 2;
	conf->limits = limits;
	conf->services = 1 << PROC_SUBMITD;
	TAILQ_INIT(&conf->backends);
	ATF_REQUIRE((sess = calloc(1, sizeof(*sess))) != NULL);
	sess->id = 1;
	sess->conf = conf;
	ATF_REQUIRE((sess->user = strdup(USER)) != NULL);
	memset(&beconf, 0, sizeof(beconf));
	strlcpy(beconf.host, "127.0.0.1", sizeof(beconf.host));
	sin = (struct sockaddr_in *)&beconf.ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons(10143);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	beconf.sslen = sizeof(*sin);
	sess->be = &beconf;

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, csv) == 0);
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, bsv) == 0);
	for (i = 0; i < 2; i++) {
		ATF_REQUIRE(fcntl(csv[i], F_SETFL, O_NONBLOCK) == 0);
		ATF_REQUIRE(fcntl(bsv[i], F_SETFL, O_NONBLOCK) == 0);
	}
	cli.fd = csv[0];
	be.fd = bsv[0];
	cli.len = be.len = 0;
	cli.stalled = be.stalled = 0;
	conn_init(&sess->client, csv[1], NULL, sess);
	conn_init(&sess->backend, bsv[1], NULL, sess);
	evtimer_set(&sess->timer, timer_cb, sess);
	submit_register();
	proxy_start(sess);
	ATF_REQUIRE_EQ(sess->state, S_PROXY);
	sd_up(0, SENTBOX);
	pump();
}

static void
stop(void)
{
	int	i;

	for (i = 0; sess != NULL && sess->state == S_CLOSING && i < 10; i++) {
		event_loop(EVLOOP_ONCE);
		if (conf->refcnt == 1)
			sess = NULL;
	}
	if (sess != NULL) {
		proxy_free(sess);
		login_free(sess);
		evtimer_del(&sess->timer);
		conn_close(&sess->client);
		conn_close(&sess->backend);
		free(sess->user);
		free(sess->bcaps);
		free(sess->login);
		fe_conf_unref(sess->conf);
		free(sess);
		sess = NULL;
	}
	fe_conf_unref(conf);
	conf = NULL;
	close(cli.fd);
	close(be.fd);
	cli.fd = be.fd = -1;
	free(cli.buf);
	free(be.buf);
	sd_down();
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
	if (!cli.stalled)
		peer_read(&cli);
	if (!be.stalled)
		peer_read(&be);
}

static void
peer_read(struct peer *p)
{
	ssize_t	n;

	while (p->len < PEER_BUF) {
		n = read(p->fd, p->buf + p->len, PEER_BUF - p->len);
		if (n == -1 && errno == EAGAIN)
			return;
		ATF_REQUIRE_MSG(n != -1, "read from %s: %s", p->name,
		    strerror(errno));
		if (n == 0)
			return;
		p->len += n;
	}
}

static void
sendn(struct peer *p, const void *data, size_t len)
{
	const char	*d = data;
	ssize_t		 n;
	int		 tries = 0;

	while (len > 0) {
		n = write(p->fd, d, len);
		if (n == -1 && errno == EAGAIN) {
			ATF_REQUIRE_MSG(++tries < 10000, "%s stuck", p->name);
			pump();
			sd_pump();	/* submitd reads too */
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

/* The next bytes the peer receives are exactly these. */
static void
expectn(struct peer *p, const void *want, size_t len)
{
	size_t	n;
	int	i;

	for (i = 0; i < PUMP_ROUNDS; i++) {
		n = p->len < len ? p->len : len;
		if (memcmp(p->buf, want, n) != 0)
			atf_tc_fail("%s got '%s', wanted '%s'", p->name,
			    vis(p->buf, p->len), vis(want, len));
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

/*
 * The backend gets a command the front end injected: "<tag> <cmd>" with
 * a tag of the session's own namespace.  Returns the tag.
 */
static char *
expect_injected(const char *cmd)
{
	static char	 tag[64];
	size_t		 plen = strlen(sess->injprefix);
	char		*sp;
	int		 i;

	for (i = 0; i < PUMP_ROUNDS; i++) {
		if (be.len > plen && memchr(be.buf, ' ', be.len) != NULL)
			break;
		pump();
	}
	ATF_REQUIRE_MSG(be.len > plen && memcmp(be.buf, sess->injprefix,
	    plen) == 0, "backend got '%s', wanted an injected %s",
	    vis(be.buf, be.len), cmd);
	ATF_REQUIRE((sp = memchr(be.buf, ' ', be.len)) != NULL);
	ATF_REQUIRE((size_t)(sp - be.buf) < sizeof(tag));
	memcpy(tag, be.buf, sp - be.buf);
	tag[sp - be.buf] = '\0';
	expectn(&be, be.buf, sp + 1 - be.buf);
	expect(&be, cmd);
	return tag;
}

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

/* A message body whose bytes tell where they are: lines of "%08zu\r\n". */
static char *
pattern(size_t n)
{
	char	*p;
	size_t	 i, k, v;

	ATF_REQUIRE((p = malloc(n + 11)) != NULL);
	for (i = 0; i < n; i += 10) {
		for (k = 8, v = i; k > 0; k--, v /= 10)
			p[i + k - 1] = '0' + v % 10;
		p[i + 8] = '\r';
		p[i + 9] = '\n';
	}
	p[n] = '\0';
	return p;
}

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

/* The client selects a mailbox; the backend says its UIDVALIDITY. */
static void
select_mailbox(const char *box, uint32_t uidvalidity)
{
	char	line[256];

	(void)snprintf(line, sizeof(line), "s SELECT %s\r\n", box);
	csend(line);
	expect(&be, line);
	(void)snprintf(line, sizeof(line), "* 20 EXISTS\r\n"
	    "* OK [UIDVALIDITY %u] UIDs valid\r\ns OK [READ-WRITE] done\r\n",
	    uidvalidity);
	bsend(line);
	expect(&cli, line);
}

/* submitd (re)starts: a fresh channel, and its HELLO. */
static void
sd_up(uint64_t size_max, const char *sentbox)
{
	sd_up_silent();
	sd_hello(size_max, sentbox);
}

static void
sd_up_silent(void)
{
	int	sv[2];

	sd_down();		/* a restart: the old end is gone */
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	ATF_REQUIRE(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	ATF_REQUIRE(imsgbuf_init(&sd, sv[0]) == 0);
	imsgbuf_allow_fdpass(&sd);
	sdfd = sv[0];
	sd_stall = 0;
	sd_owed = 0;
	fe_service_channel(PROC_SUBMITD, sv[1]);
	ATF_REQUIRE(fe_service_up(PROC_SUBMITD));
}

static void
sd_hello(uint64_t size_max, const char *sentbox)
{
	struct imsg_submit_hello	h;

	memset(&h, 0, sizeof(h));
	h.size_max = size_max;
	strlcpy(h.sentbox, sentbox, sizeof(h.sentbox));
	sd_send(IMSG_SUBMIT_HELLO, 0, -1, &h, sizeof(h));
}

/* submitd's end closes. */
static void
sd_down(void)
{
	struct smsg	*m;

	while ((m = TAILQ_FIRST(&sd_q)) != NULL) {
		TAILQ_REMOVE(&sd_q, m, entry);
		free(m);
	}
	if (sdfd == -1)
		return;
	imsgbuf_clear(&sd);
	close(sdfd);
	sdfd = -1;
}

/* submitd dies and the front end notices. */
static void
sd_gone(void)
{
	int	i;

	sd_down();
	for (i = 0; i < 20 && fe_service_up(PROC_SUBMITD); i++)
		pump();
	ATF_REQUIRE(!fe_service_up(PROC_SUBMITD));
}

/*
 * submitd reads what has come, in order, into its queue; DATA is
 * credited back at once unless the test stalls submitd.
 */
static void
sd_pump(void)
{
	struct imsg	 imsg;
	struct ibuf	 ib;
	struct smsg	*m;
	ssize_t		 n;
	int		 fd;

	if (sdfd == -1)
		return;
	ATF_REQUIRE(imsgbuf_read(&sd) != -1 || errno == EAGAIN);
	while ((n = imsg_get(&sd, &imsg)) > 0) {
		ATF_REQUIRE((m = calloc(1, sizeof(*m))) != NULL);
		m->type = imsg_get_type(&imsg);
		m->id = imsg_get_id(&imsg);
		m->pid = imsg_get_pid(&imsg);
		m->len = imsg_get_len(&imsg);
		ATF_REQUIRE(m->len < sizeof(m->data));
		if (m->len > 0) {
			ATF_REQUIRE(imsg_get_ibuf(&imsg, &ib) == 0);
			memcpy(m->data, ibuf_data(&ib), m->len);
		}
		if ((fd = imsg_get_fd(&imsg)) != -1) {
			ATF_REQUIRE_EQ(m->type, IMSG_SUBMIT_START);
			ATF_REQUIRE(sd_pfd == -1);
			sd_pfd = fd;
			sd_plen = 0;
			sd_peof = 0;
		}
		imsg_free(&imsg);
		ATF_CHECK_MSG(m->type != IMSG_CREDIT, "submitd got credit");
		if (m->type == IMSG_SUBMIT_DATA) {
			ATF_CHECK_EQ(m->pid, CHAN_COUNTED);
			sd_owed += m->len;
		}
		TAILQ_INSERT_TAIL(&sd_q, m, entry);
	}
	ATF_REQUIRE(n != -1);
	if (!sd_stall)
		sd_credit(sd_owed);
	/* the pipe, as far as it goes now */
	while (!sd_stall && sd_pfd != -1) {
		ATF_REQUIRE((sd_pdata = realloc(sd_pdata, sd_plen + 65536 +
		    1)) != NULL);
		if ((n = read(sd_pfd, sd_pdata + sd_plen, 65536)) == -1) {
			ATF_REQUIRE(errno == EAGAIN);
			break;
		}
		sd_plen += n;
		sd_pdata[sd_plen] = '\0';
		if (n == 0) {
			close(sd_pfd);
			sd_pfd = -1;
			sd_peof = 1;
		}
	}
}

/* The next message submitd got. */
static int
sd_next(struct smsg *m)
{
	struct smsg	*q;
	int		 i;

	for (i = 0; i < PUMP_ROUNDS && TAILQ_EMPTY(&sd_q); i++) {
		pump();
		sd_pump();
	}
	if ((q = TAILQ_FIRST(&sd_q)) == NULL)
		return 0;
	TAILQ_REMOVE(&sd_q, q, entry);
	memcpy(m, q, sizeof(*m));
	free(q);
	return 1;
}

static void
sd_credit(size_t n)
{
	struct imsg_credit	cr;

	if (n == 0)
		return;
	cr.bytes = n;
	sd_owed -= n;
	ATF_REQUIRE(imsg_compose(&sd, IMSG_CREDIT, 0, 0, -1, &cr,
	    sizeof(cr)) != -1);
	ATF_REQUIRE(imsgbuf_write(&sd) != -1 || errno == EAGAIN);
}

static void
sd_expect(uint32_t type, uint32_t id, struct smsg *m)
{
	static struct smsg	 tmp;

	if (m == NULL)
		m = &tmp;
	if (!sd_next(m))
		atf_tc_fail("submitd got nothing, wanted imsg %u", type);
	if (m->type != type)
		atf_tc_fail("submitd got imsg %u (%s), wanted %u", m->type,
		    vis(m->data, m->len), type);
	if (id != 0)
		ATF_CHECK_EQ(m->id, id);
}

/* submitd gets nothing more. */
static void
sd_quiet(void)
{
	struct smsg	*m;
	int		 i;

	for (i = 0; i < 3; i++) {
		pump();
		sd_pump();
	}
	if ((m = TAILQ_FIRST(&sd_q)) != NULL)
		atf_tc_fail("submitd got imsg %u (%s)", m->type,
		    vis(m->data, m->len));
}

static void
sd_send(uint32_t type, uint32_t id, int fd, const void *data, size_t len)
{
	int	tries = 0;

	ATF_REQUIRE(imsg_compose(&sd, type, id, 0, fd, data, len) != -1);
	while (imsgbuf_queuelen(&sd) > 0) {
		ATF_REQUIRE(imsgbuf_write(&sd) != -1 || errno == EAGAIN);
		ATF_REQUIRE_MSG(++tries < 1000, "submitd stuck");
		pump();
	}
	pump();
}

/*
 * A submission as submitd sees it: START (with the user), the bytes in
 * DATA chunks, END (or, with cancel, CANCEL).
 */
static uint32_t
sd_message(struct got *g, int cancel)
{
	struct imsg_submit_start	 st;
	struct smsg			 m;

	memset(g, 0, sizeof(*g));
	sd_expect(IMSG_SUBMIT_START, 0, &m);
	ATF_REQUIRE_EQ(m.len, sizeof(st));
	memcpy(&st, m.data, sizeof(st));
	ATF_CHECK_STREQ(st.user, USER);
	ATF_CHECK(m.id != 0);
	g->id = m.id;
	g->size = st.size;
	g->piped = st.piped;
	for (;;) {
		if (!sd_next(&m))
			atf_tc_fail("submitd got no END");
		ATF_CHECK_EQ(m.id, g->id);
		if (m.type != IMSG_SUBMIT_DATA)
			break;
		ATF_REQUIRE(m.len > 0 && m.len <= IMAPX_CHUNK_MAX);
		ATF_REQUIRE((g->data = realloc(g->data, g->len + m.len + 1)) !=
		    NULL);
		memcpy(g->data + g->len, m.data, m.len);
		g->len += m.len;
		g->data[g->len] = '\0';
		g->nchunks++;
		if (m.len > g->maxchunk)
			g->maxchunk = m.len;
	}
	ATF_CHECK_EQ_MSG(m.type, cancel ? IMSG_SUBMIT_CANCEL :
	    IMSG_SUBMIT_END, "submitd got imsg %u", m.type);
	ATF_CHECK_EQ(m.len, 0);
	if (g->piped) {
		/* no DATA: the bytes came through the pipe, closed first */
		ATF_CHECK_EQ(g->nchunks, 0);
		sd_pump();
		ATF_CHECK(cancel || sd_peof);
		if (sd_pfd != -1)
			close(sd_pfd);
		sd_pfd = -1;
		g->data = sd_pdata;
		g->len = sd_plen;
		sd_pdata = NULL;
		sd_plen = 0;
	}
	return g->id;
}

static void
got_free(struct got *g)
{
	free(g->data);
	memset(g, 0, sizeof(*g));
}

static void
sd_done(uint32_t id, int status, const char *code, const char *text)
{
	struct imsg_submit_done	*d;

	ATF_REQUIRE((d = calloc(1, sizeof(*d))) != NULL);
	d->status = status;
	strlcpy(d->code, code, sizeof(d->code));
	strlcpy(d->text, text, sizeof(d->text));
	sd_send(IMSG_SUBMIT_DONE, id, -1, d, sizeof(*d));
	free(d);
}

/* Relayed; the message as relayed comes along for the Sent copy. */
static void
sd_done_save(uint32_t id, const char *msg, size_t len)
{
	struct imsg_submit_done	*d;
	char			 path[] = "sentcopy.XXXXXX";
	int			 fd;

	ATF_REQUIRE((fd = mkstemp(path)) != -1);
	ATF_REQUIRE(unlink(path) == 0);
	ATF_REQUIRE(write(fd, msg, len) == (ssize_t)len);
	ATF_REQUIRE((d = calloc(1, sizeof(*d))) != NULL);
	d->status = SUBMIT_OK;
	d->save = 1;
	d->size = len;
	sd_send(IMSG_SUBMIT_DONE, id, fd, d, sizeof(*d));
	free(d);
}

/* seeds/004's example, and the draft's two NO forms. */
ATF_TC_WITHOUT_HEAD(seed_004);
ATF_TC_BODY(seed_004, tc)
{
	static const char	msg[] =
	    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
	    "From: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
	    "Subject: afternoon meeting\r\n"
	    "To: mooch@owatagu.siam.edu,badUser@example.com,\r\n"
	    " unknownUser@example.com\r\n"
	    "Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
	    "\r\n"
	    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
	struct got	g;
	char		line[64];
	uint32_t	id;

	start();
	(void)snprintf(line, sizeof(line), "A003 SUBMIT {%zu}\r\n",
	    sizeof(msg) - 1);
	csend(line);
	expect(&cli, "+ Ready for literal data\r\n");
	csend(msg);
	csend("\r\n");
	id = sd_message(&g, 0);
	ATF_CHECK_EQ(g.size, sizeof(msg) - 1);
	ATF_CHECK_EQ(g.len, sizeof(msg) - 1);
	ATF_CHECK_STREQ(g.data, msg);
	got_free(&g);
	quiet(&cli);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "A003 OK SUBMIT completed\r\n");

	csend("A123 SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done(id, SUBMIT_NO, "", ",badUser@example.com,"
	    "unknownUser@example.com");
	expect(&cli, "A123 NO ,badUser@example.com,unknownUser@example.com"
	    "\r\n");

	csend("A445 SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done(id, SUBMIT_NO, "", "MX server not responding,");
	expect(&cli, "A445 NO MX server not responding,\r\n");

	/* nothing of it went to the backend; IMAP goes on */
	quiet(&be);
	noop_ok("A446");
	sd_quiet();
	quiet(&cli);
	stop();
}

/* Every status and code of DONE has its tagged answer. */
ATF_TC_WITHOUT_HEAD(done_answers);
ATF_TC_BODY(done_answers, tc)
{
	static const struct {
		int		 status;
		const char	*code;
		const char	*text;
		const char	*answer;
	} cases[] = {
		{ SUBMIT_OK, "", "ignored", "OK SUBMIT completed" },
		{ SUBMIT_NO, "TOOBIG", "Message too large for the relay,",
		    "NO [TOOBIG] Message too large for the relay," },
		{ SUBMIT_NO, "LIMIT", "Too many recipients,a@x,b@y",
		    "NO [LIMIT] Too many recipients,a@x,b@y" },
		{ SUBMIT_NO, "", ",bad@example.com", "NO ,bad@example.com" },
		{ SUBMIT_NO, "", "", "NO Message not sent" },
		{ SUBMIT_NO, "BAD]CODE", "odd code,", "NO odd code," },
		{ SUBMIT_NO, "", "two\r\nlines\n,x@y",
		    "NO two  lines ,x@y" },
		{ SUBMIT_BAD, "", "No From: field", "BAD No From: field" },
		{ SUBMIT_BAD, "", "", "BAD Not a message" },
		{ SUBMIT_UNKNOWN, "", "Relay did not answer after the data,",
		    "NO Relay did not answer after the data," },
		{ SUBMIT_UNKNOWN, "", "", "NO The message may not have been "
		    "sent" },
		{ 77, "", "what,", "NO what," },
	};
	struct got	 g;
	char		 line[256];
	uint32_t	 id;
	size_t		 i;

	start();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(line, sizeof(line), "t%zu SUBMIT {3+}\r\nabc"
		    "\r\n", i);
		csend(line);
		id = sd_message(&g, 0);
		ATF_CHECK_STREQ(g.data, "abc");
		got_free(&g);
		sd_done(id, cases[i].status, cases[i].code, cases[i].text);
		(void)snprintf(line, sizeof(line), "t%zu %s\r\n", i,
		    cases[i].answer);
		expect(&cli, line);
	}
	/* a DONE for no submission is dropped */
	sd_done(999, SUBMIT_OK, "", "");
	quiet(&cli);

	/* a command pipelined behind SUBMIT waits for its answer */
	csend("x SUBMIT {3+}\r\nabc\r\ny NOOP\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	quiet(&be);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "x OK SUBMIT completed\r\n");
	expect(&be, "y NOOP\r\n");
	bsend("y OK NOOP completed\r\n");
	expect(&cli, "y OK NOOP completed\r\n");
	noop_ok("z");
	stop();
}

/* The relay's text may be 8 KiB long: it reaches the client whole. */
ATF_TC_WITHOUT_HEAD(long_text);
ATF_TC_BODY(long_text, tc)
{
	struct got	 g;
	char		*text, *want;
	uint32_t	 id;
	size_t		 n;

	start();
	text = repeat('r', sizeof(((struct imsg_submit_done *)0)->text) - 1);
	for (n = 500; n < strlen(text); n += 500)
		text[n] = ',';
	csend("a SUBMIT {3+}\r\nabc\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done(id, SUBMIT_NO, "LIMIT", text);
	ATF_REQUIRE(asprintf(&want, "a NO [LIMIT] %s\r\n", text) > 0);
	expect(&cli, want);
	free(want);
	free(text);
	noop_ok("b");
	stop();
}

/*
 * A message larger than the window, from a plaintext client: through
 * the pipe, what came with the command and then what was spliced, byte
 * for byte.  (CATENATE's bytes go as DATA: catenate_backpressure.)
 */
ATF_TC_WITHOUT_HEAD(streamed);
ATF_TC_BODY(streamed, tc)
{
	struct got	 g;
	char		*msg, line[64];
	uint32_t	 id;
	size_t		 len = 3 * CHAN_WINDOW + 12345;

	start();
	msg = pattern(len);
	(void)snprintf(line, sizeof(line), "a SUBMIT {%zu}\r\n", len);
	csend(line);
	expect(&cli, "+ Ready for literal data\r\n");
	sendn(&cli, msg, len);
	csend("\r\n");
	id = sd_message(&g, 0);
	ATF_CHECK_EQ(g.size, len);
	ATF_REQUIRE_EQ(g.len, len);
	ATF_CHECK(memcmp(g.data, msg, len) == 0);
	/* a plaintext client's large literal: spliced into the pipe */
	ATF_CHECK(g.piped);
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "a OK SUBMIT completed\r\n");
	free(msg);
	noop_ok("b");
	stop();
}

/*
 * submitd reads slowly (here: not the pipe at all): the client is
 * paused, the front end holds no more than a read or two of it, and all
 * of it arrives in the end.
 */
ATF_TC_WITHOUT_HEAD(backpressure);
ATF_TC_BODY(backpressure, tc)
{
	struct got	 g;
	char		*msg, line[64];
	size_t		 len = 24 * 1024 * 1024, off = 0;
	ssize_t		 n;
	uint32_t	 id;
	int		 i;

	/*
	 * Far more than the pipe holds: its slots may each hold a socket's
	 * page fragment of up to 32 KiB when spliced, more than a page.
	 */
	start();
	msg = pattern(len);
	(void)snprintf(line, sizeof(line), "a SUBMIT {%zu+}\r\n", len);
	csend(line);
	sd_stall = 1;
	/* the client writes what its socket takes; submitd gives no credit */
	for (i = 0; i < 50; i++) {
		if ((n = write(cli.fd, msg + off, len - off)) > 0)
			off += n;
		pump();
		sd_pump();
	}
	ATF_CHECK_MSG(off < len, "all %zu bytes went", off);
	ATF_CHECK_MSG(sd_owed <= CHAN_WINDOW, "in flight %zu", sd_owed);
	ATF_CHECK_MSG(sess->client.in.len <= 2 * CONN_READ_CHUNK,
	    "held %zu", sess->client.in.len);
	ATF_REQUIRE(sess->local != NULL);
	ATF_CHECK(sess->local->paused);

	/* submitd catches up */
	sd_stall = 0;
	sendn(&cli, msg + off, len - off);
	csend("\r\n");
	id = sd_message(&g, 0);
	ATF_REQUIRE_EQ(g.len, len);
	ATF_CHECK(memcmp(g.data, msg, len) == 0);
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "a OK SUBMIT completed\r\n");
	free(msg);
	noop_ok("b");
	stop();
}

/* No channel, or no HELLO on it yet: NO [UNAVAILABLE], IMAP goes on. */
ATF_TC_WITHOUT_HEAD(hello);
ATF_TC_BODY(hello, tc)
{
	struct got	g;
	uint32_t	id;

	start();
	sd_gone();
	csend("a SUBMIT {5}\r\n");
	expect(&cli, "a NO [UNAVAILABLE] Service not available, try again "
	    "later\r\n");
	noop_ok("b");

	sd_up_silent();
	csend("c SUBMIT {5}\r\n");
	expect(&cli, "c NO [UNAVAILABLE] Service not available, try again "
	    "later\r\n");
	csend("d SUBMIT {5+}\r\nhello\r\n");
	expect(&cli, "d NO [UNAVAILABLE] Service not available, try again "
	    "later\r\n");
	noop_ok("e");
	sd_quiet();

	sd_hello(0, SENTBOX);
	csend("f SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	ATF_CHECK_STREQ(g.data, "hello");
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "f OK SUBMIT completed\r\n");
	quiet(&be);
	stop();
}

/*
 * Over submitd's limit: a synchronizing literal is refused before the
 * client sends it, a non-synchronizing one is read and dropped; CATENATE
 * counts the whole message.
 */
ATF_TC_WITHOUT_HEAD(toobig);
ATF_TC_BODY(toobig, tc)
{
	struct got	 g;
	char		*big;
	uint32_t	 id;

	start();
	sd_up(1000, SENTBOX);		/* a restarted submitd, a small limit */
	big = repeat('x', 1001);
	csend("a SUBMIT {1001}\r\n");
	expect(&cli, "a NO [TOOBIG] Literal too large\r\n");
	quiet(&cli);
	noop_ok("b");

	csend("c SUBMIT {1001+}\r\n");
	csend(big);
	csend("\r\n");
	expect(&cli, "c NO [TOOBIG] Literal too large\r\n");
	noop_ok("d");
	sd_quiet();

	/* at the limit is fine */
	big[1000] = '\0';
	csend("e SUBMIT {1000+}\r\n");
	csend(big);
	csend("\r\n");
	id = sd_message(&g, 0);
	ATF_CHECK_EQ(g.len, 1000);
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "e OK SUBMIT completed\r\n");

	/* two texts of 600: the second is refused, submitd drops the first */
	big[600] = '\0';
	csend("f SUBMIT CATENATE (TEXT {600+}\r\n");
	csend(big);
	csend(" TEXT {600+}\r\n");
	csend(big);
	csend(")\r\n");
	expect(&cli, "f NO [TOOBIG] Message too large (at most 1000 bytes)"
	    "\r\n");
	(void)sd_message(&g, 1);
	ATF_CHECK_EQ(g.len, 600);
	got_free(&g);
	noop_ok("g");
	sd_quiet();
	quiet(&be);
	free(big);
	stop();
}

/* A binary literal: any bytes, NUL included. */
ATF_TC_WITHOUT_HEAD(binary);
ATF_TC_BODY(binary, tc)
{
	struct got	g;
	uint32_t	id;

	start();
	csend("a SUBMIT ~{5}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	sendn(&cli, "x\0y\r\0", 5);
	csend("\r\n");
	id = sd_message(&g, 0);
	ATF_REQUIRE_EQ(g.len, 5);
	ATF_CHECK(memcmp(g.data, "x\0y\r\0", 5) == 0);
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "a OK SUBMIT completed\r\n");
	stop();
}

/* What is not a message literal or CATENATE gets a clear BAD. */
ATF_TC_WITHOUT_HEAD(syntax);
ATF_TC_BODY(syntax, tc)
{
	struct got	g;

	start();
	csend("a SUBMIT\r\n");
	expect(&cli, "a BAD SUBMIT takes a message literal or CATENATE (...)"
	    "\r\n");
	csend("b submit \"From: me\"\r\n");
	expect(&cli, "b BAD SUBMIT takes a message literal or CATENATE (...)"
	    "\r\n");
	csend("c SUBMIT {0}\r\n");
	expect(&cli, "c BAD Empty message\r\n");
	csend("d SUBMIT {0+}\r\n\r\n");
	expect(&cli, "d BAD Empty message\r\n");
	csend("e SUBMIT  {3+}\r\nabc\r\n");
	expect(&cli, "e BAD SUBMIT takes a message literal or CATENATE (...)"
	    "\r\n");
	csend("f SUBMIT CATENATE (TEXT \"abc\")\r\n");
	expect(&cli, "f BAD Syntax error in SUBMIT CATENATE\r\n");
	csend("g SUBMIT CATENATE ()\r\n");
	expect(&cli, "g BAD Syntax error in SUBMIT CATENATE\r\n");
	csend("h SUBMIT CATENATE (URL ~{3+}\r\n/;x)\r\n");
	expect(&cli, "h BAD Syntax error in SUBMIT CATENATE\r\n");
	noop_ok("i");
	sd_quiet();

	/* found out after some of it went to submitd: it is cancelled */
	csend("j SUBMIT {3+}\r\nabc extra\r\n");
	expect(&cli, "j BAD Unexpected text after the message literal\r\n");
	(void)sd_message(&g, 1);
	ATF_CHECK_STREQ(g.data, "abc");
	got_free(&g);
	csend("k SUBMIT CATENATE (TEXT {2+}\r\nab TEXT {1+}\r\nc\r\n");
	expect(&cli, "k BAD Syntax error in SUBMIT CATENATE\r\n");
	(void)sd_message(&g, 1);
	ATF_CHECK_STREQ(g.data, "abc");
	got_free(&g);
	csend("l SUBMIT CATENATE (TEXT {0+}\r\n)\r\n");
	expect(&cli, "l BAD Empty message\r\n");
	noop_ok("m");
	sd_quiet();
	quiet(&be);
	stop();
}

/* Before login SUBMIT is no command (login.c). */
ATF_TC_WITHOUT_HEAD(prelogin);
ATF_TC_BODY(prelogin, tc)
{
	char	*greeting;

	start();
	proxy_free(sess);
	free(sess->user);
	sess->user = NULL;
	closing_ok = 1;
	login_start(sess);
	pump();
	ATF_REQUIRE(cli.len > 0);
	ATF_REQUIRE((greeting = strndup(cli.buf, cli.len)) != NULL);
	ATF_CHECK_MSG(strstr(greeting, "CAN-SUBMIT") == NULL, "greeting '%s'",
	    greeting);
	free(greeting);
	cli.len = 0;
	/* refused before the client sends the message */
	csend("a SUBMIT {5}\r\n");
	expect(&cli, "a BAD Command unknown or not valid before login\r\n");
	csend("b SUBMIT {30000000}\r\n");
	expect(&cli, "b BAD Command unknown or not valid before login\r\n");
	csend("c SUBMIT CATENATE (TEXT {5}\r\n");
	expect(&cli, "c BAD Command unknown or not valid before login\r\n");
	/* a small non-synchronizing one is read first */
	csend("d SUBMIT {5+}\r\nhello\r\n");
	expect(&cli, "d BAD Command unknown or not valid before login\r\n");
	csend("e SUBMIT\r\n");
	expect(&cli, "e BAD Command unknown or not valid before login\r\n");
	quiet(&cli);
	sd_quiet();
	quiet(&be);
	stop();
}

/* submitd answers before the message is complete: the rest is dropped. */
ATF_TC_WITHOUT_HEAD(done_early);
ATF_TC_BODY(done_early, tc)
{
	struct smsg	 m;
	char		*part;
	uint32_t	 id;

	start();
	part = repeat('p', 500);
	csend("a SUBMIT {1000}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend(part);
	sd_expect(IMSG_SUBMIT_START, 0, &m);
	id = m.id;
	sd_expect(IMSG_SUBMIT_DATA, id, &m);
	sd_done(id, SUBMIT_NO, "TOOBIG", "The relay takes 400 bytes,");
	expect(&cli, "a NO [TOOBIG] The relay takes 400 bytes,\r\n");
	csend(part);
	csend("\r\n");
	noop_ok("b");
	sd_quiet();		/* no more DATA, no END, no CANCEL */
	free(part);
	stop();
}

/*
 * submitd goes away: a message not complete was not sent; one that was
 * complete may have been.  IMAP goes on; SUBMIT works once it is back.
 */
ATF_TC_WITHOUT_HEAD(submitd_dies);
ATF_TC_BODY(submitd_dies, tc)
{
	struct smsg	 m;
	struct got	 g;
	char		*part;
	uint32_t	 id;

	start();
	part = repeat('p', 50000);
	csend("a SUBMIT {100000}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend(part);
	sd_expect(IMSG_SUBMIT_START, 0, &m);
	sd_gone();
	expect(&cli, "a NO [UNAVAILABLE] Service went away, the message was "
	    "not sent\r\n");
	csend(part);
	csend("\r\n");
	noop_ok("b");

	sd_up(0, SENTBOX);
	csend("c SUBMIT {3+}\r\nabc\r\n");
	(void)sd_message(&g, 0);
	got_free(&g);
	sd_gone();
	expect(&cli, "c NO [UNAVAILABLE] Service went away, the message may "
	    "not have been sent\r\n");
	noop_ok("d");

	sd_up(0, SENTBOX);
	csend("e SUBMIT {3+}\r\nabc\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "e OK SUBMIT completed\r\n");
	quiet(&be);
	free(part);
	stop();
}

/* The client hangs up mid-literal: submitd is told to drop it. */
ATF_TC_WITHOUT_HEAD(client_gone);
ATF_TC_BODY(client_gone, tc)
{
	struct got	g;

	start();
	csend("a SUBMIT {1000}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend("half a message");
	closing_ok = 1;
	ATF_REQUIRE(shutdown(cli.fd, SHUT_WR) == 0);
	(void)sd_message(&g, 1);
	ATF_CHECK_STREQ(g.data, "half a message");
	got_free(&g);
	sd_quiet();
	stop();
}

/* The session ends while submitd relays: it is told too. */
ATF_TC_WITHOUT_HEAD(session_gone_waiting);
ATF_TC_BODY(session_gone_waiting, tc)
{
	struct got	g;
	uint32_t	id;

	start();
	csend("a SUBMIT {3+}\r\nabc\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	closing_ok = 1;
	ATF_REQUIRE(shutdown(be.fd, SHUT_WR) == 0);
	sd_expect(IMSG_SUBMIT_CANCEL, id, NULL);
	/* its last word finds no submission */
	sd_done(id, SUBMIT_OK, "", "");
	sd_quiet();
	stop();
}

/*
 * The Sent copy: appended over the user's session with a synchronizing
 * literal (the backend has no LITERAL+), its bytes from submitd's
 * descriptor, more than the backend queue holds; OK after the APPEND.
 */
ATF_TC_WITHOUT_HEAD(sent_copy);
ATF_TC_BODY(sent_copy, tc)
{
	struct got	 g;
	char		*copy, *tag, line[128];
	size_t		 len = 300007;
	uint32_t	 id;

	start();
	copy = pattern(len);
	csend("a SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, copy, len);
	(void)snprintf(line, sizeof(line), "APPEND \"Sent\" (\\Seen) {%zu}\r\n",
	    len);
	tag = expect_injected(line);
	quiet(&be);		/* not before the "+" */
	quiet(&cli);
	bsend("+ OK\r\n");
	expectn(&be, copy, len);
	expect(&be, "\r\n");
	quiet(&cli);		/* the "+" was ours */
	(void)snprintf(line, sizeof(line), "%s OK [APPENDUID 1 7] Append "
	    "completed\r\n", tag);
	bsend(line);
	expect(&cli, "a OK SUBMIT completed\r\n");
	noop_ok("b");

	/* LITERAL+: no waiting; a pipelined command goes after it all */
	sess->bflags |= BCAP_LITERALPLUS;
	csend("c SUBMIT {5+}\r\nhello\r\nc2 NOOP\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, copy, len);
	(void)snprintf(line, sizeof(line), "APPEND \"Sent\" (\\Seen) "
	    "{%zu+}\r\n", len);
	tag = expect_injected(line);
	expectn(&be, copy, len);
	expect(&be, "\r\n");
	quiet(&be);
	(void)snprintf(line, sizeof(line), "%s OK Append completed\r\n", tag);
	bsend(line);
	expect(&cli, "c OK SUBMIT completed\r\n");
	expect(&be, "c2 NOOP\r\n");
	bsend("c2 OK NOOP completed\r\n");
	expect(&cli, "c2 OK NOOP completed\r\n");
	noop_ok("d");
	quiet(&cli);
	quiet(&be);
	free(copy);
	stop();
}

/* No copy in Sent: still OK, the message went out, and the text says why. */
ATF_TC_WITHOUT_HEAD(sent_copy_fails);
ATF_TC_BODY(sent_copy_fails, tc)
{
	struct imsg_submit_done	*d;
	struct got		 g;
	char			*tag, line[128];
	uint32_t		 id;

	start();
	/* refused after the literal */
	csend("a SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, "Sent!", 5);
	tag = expect_injected("APPEND \"Sent\" (\\Seen) {5}\r\n");
	bsend("+ OK\r\n");
	expect(&be, "Sent!\r\n");
	(void)snprintf(line, sizeof(line), "%s NO [TRYCREATE] Mailbox doesn't "
	    "exist: Sent\r\n", tag);
	bsend(line);
	expect(&cli, "a OK SUBMIT completed (no copy in Sent: NO [TRYCREATE] "
	    "Mailbox doesn't exist: Sent)\r\n");
	noop_ok("b");

	/* refused before the "+": the bytes never go */
	csend("c SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, "Sent!", 5);
	tag = expect_injected("APPEND \"Sent\" (\\Seen) {5}\r\n");
	(void)snprintf(line, sizeof(line), "%s NO [OVERQUOTA] Quota "
	    "exceeded\r\n", tag);
	bsend(line);
	expect(&cli, "c OK SUBMIT completed (no copy in Sent: NO [OVERQUOTA] "
	    "Quota exceeded)\r\n");
	quiet(&be);
	noop_ok("d");

	/* a copy whose size is not what submitd says */
	csend("e SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	ATF_REQUIRE((d = calloc(1, sizeof(*d))) != NULL);
	d->status = SUBMIT_OK;
	d->save = 1;
	d->size = 99;
	sd_send(IMSG_SUBMIT_DONE, id, open("/dev/null", O_RDONLY), d,
	    sizeof(*d));
	expect(&cli, "e OK SUBMIT completed (no copy in Sent: the copy was "
	    "not usable)\r\n");
	free(d);
	quiet(&be);

	/* no Sent mailbox configured: no APPEND */
	sd_up(0, "");
	csend("f SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, "Sent!", 5);
	expect(&cli, "f OK SUBMIT completed\r\n");
	quiet(&be);
	noop_ok("g");
	stop();
}

/* submitd goes away while the copy is appended: it needs submitd no more. */
ATF_TC_WITHOUT_HEAD(sent_copy_submitd_gone);
ATF_TC_BODY(sent_copy_submitd_gone, tc)
{
	struct got	 g;
	char		*tag, line[128];
	uint32_t	 id;

	start();
	csend("a SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, "Sent!", 5);
	tag = expect_injected("APPEND \"Sent\" (\\Seen) {5}\r\n");
	sd_gone();
	quiet(&cli);
	bsend("+ OK\r\n");
	expect(&be, "Sent!\r\n");
	(void)snprintf(line, sizeof(line), "%s OK done\r\n", tag);
	bsend(line);
	expect(&cli, "a OK SUBMIT completed\r\n");
	stop();
}

/* The session ends while the copy is appended: nothing is left behind. */
ATF_TC_WITHOUT_HEAD(sent_copy_session_gone);
ATF_TC_BODY(sent_copy_session_gone, tc)
{
	struct got	 g;
	uint32_t	 id;

	start();
	csend("a SUBMIT {5+}\r\nhello\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, "Sent!", 5);
	(void)expect_injected("APPEND \"Sent\" (\\Seen) {5}\r\n");
	closing_ok = 1;
	ATF_REQUIRE(shutdown(be.fd, SHUT_WR) == 0);
	sd_quiet();		/* relayed: no CANCEL */
	stop();
}

/*
 * The Sent copy around IDLE.  A client that ends IDLE and pipelines
 * SUBMIT before the backend's "+": that "+" is the client's, ours comes
 * after its IDLE is over.
 */
ATF_TC_WITHOUT_HEAD(sent_copy_idle);
ATF_TC_BODY(sent_copy_idle, tc)
{
	struct got	 g;
	char		*tag, line[128];
	uint32_t	 id;

	start();
	csend("t IDLE\r\nDONE\r\na SUBMIT {5+}\r\nhello\r\n");
	expect(&be, "t IDLE\r\nDONE\r\n");
	id = sd_message(&g, 0);
	got_free(&g);
	sd_done_save(id, "Sent!", 5);
	tag = expect_injected("APPEND \"Sent\" (\\Seen) {5}\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	quiet(&be);
	bsend("t OK IDLE terminated\r\n+ OK\r\n");
	expect(&cli, "t OK IDLE terminated\r\n");
	expect(&be, "Sent!\r\n");
	(void)snprintf(line, sizeof(line), "%s OK done\r\n", tag);
	bsend(line);
	expect(&cli, "a OK SUBMIT completed\r\n");
	noop_ok("b");
	quiet(&cli);
	quiet(&be);
	stop();
}

static void
body_done(struct inject *inj, const char *p, size_t len)
{
	int	*done = inj->arg;

	*done = p != NULL && len > 0;
}

/*
 * An injected command with a literal body while the client idles: the
 * backend is taken out of IDLE, gets the command, the "+" and the bytes,
 * and goes back; a DONE of the client's meanwhile waits for the bytes.
 */
ATF_TC_WITHOUT_HEAD(inject_body_idle);
ATF_TC_BODY(inject_body_idle, tc)
{
	static char	 cmd[] = "APPEND \"Sent\" {5}\r\n";
	struct inject	 inj;
	char		 path[] = "body.XXXXXX", *tag, line[64];
	int		 fd, done = 0;

	start();
	ATF_REQUIRE((fd = mkstemp(path)) != -1);
	ATF_REQUIRE(unlink(path) == 0);
	ATF_REQUIRE(write(fd, "12345", 5) == 5);
	csend("t IDLE\r\n");
	expect(&be, "t IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");

	memset(&inj, 0, sizeof(inj));
	inj.cmd = cmd;
	inj.cmdlen = strlen(cmd);
	inj.done = body_done;
	inj.arg = &done;
	inj.body = 1;
	inj.bodyfd = fd;
	inj.bodylen = 5;
	ATF_REQUIRE_EQ(proxy_inject(sess, &inj), 0);
	expect(&be, "DONE\r\n");
	bsend("t OK IDLE terminated\r\n");
	tag = expect_injected("APPEND \"Sent\" {5}\r\n");
	quiet(&cli);
	bsend("+ OK\r\n");
	expect(&be, "12345\r\n");
	(void)snprintf(line, sizeof(line), "%s OK done\r\n", tag);
	bsend(line);
	expect(&be, "t IDLE\r\n");
	ATF_CHECK(done);
	bsend("+ idling again\r\n* 2 EXISTS\r\n");
	expect(&cli, "* 2 EXISTS\r\n");
	csend("DONE\r\n");
	expect(&be, "DONE\r\n");
	bsend("t OK IDLE terminated\r\n");
	expect(&cli, "t OK IDLE terminated\r\n");

	/* the client's DONE before the "+": it waits for the bytes */
	ATF_REQUIRE((fd = open("/dev/null", O_RDONLY)) != -1);
	csend("u IDLE\r\n");
	expect(&be, "u IDLE\r\n");
	bsend("+ idling\r\n");
	expect(&cli, "+ idling\r\n");
	memset(&inj, 0, sizeof(inj));
	inj.cmd = cmd;
	inj.cmdlen = strlen(cmd);
	inj.done = body_done;
	inj.arg = &done;
	inj.body = 1;
	inj.bodyfd = fd;	/* gives nothing: padded, then aborted */
	inj.bodylen = 5;
	done = 0;
	ATF_REQUIRE_EQ(proxy_inject(sess, &inj), 0);
	expect(&be, "DONE\r\n");
	bsend("u OK IDLE terminated\r\n");
	tag = expect_injected("APPEND \"Sent\" {5}\r\n");
	csend("DONE\r\n");
	quiet(&cli);
	bsend("+ OK\r\n");
	expect(&be, "      \x7f\r\n");
	expect(&cli, "u OK Idle completed\r\n");
	(void)snprintf(line, sizeof(line), "%s BAD Syntax error\r\n", tag);
	bsend(line);
	quiet(&be);
	ATF_CHECK(done);
	noop_ok("v");
	stop();
}

/*
 * CATENATE: text, a part of the selected mailbox, text; in that order,
 * each streamed as it comes.  The part is fetched with UID FETCH
 * BODY.PEEK; responses that are not its answer go to the client.
 */
ATF_TC_WITHOUT_HEAD(catenate);
ATF_TC_BODY(catenate, tc)
{
	struct got	 g;
	char		*tag, line[256];
	uint32_t	 id;

	start();
	select_mailbox("INBOX", 42);
	csend("a SUBMIT CATENATE (TEXT {7}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend("Hello,  URL \"/INBOX;UIDVALIDITY=42/;UID=20/;SECTION=1.2\" "
	    "TEXT {6}\r\n");
	tag = expect_injected("UID FETCH 20 (BODY.PEEK[1.2])\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend("!\r\nBye)\r\n");
	(void)snprintf(line, sizeof(line), "* 3 EXISTS\r\n"
	    "* 19 FETCH (FLAGS (\\Seen))\r\n"
	    "* 20 FETCH (UID 20 BODY[1.2] {9}\r\nthe part.)\r\n"
	    "%s OK Fetch completed\r\n", tag);
	bsend(line);
	expect(&cli, "* 3 EXISTS\r\n* 19 FETCH (FLAGS (\\Seen))\r\n");
	id = sd_message(&g, 0);
	ATF_CHECK_EQ(g.size, 0);
	ATF_CHECK_STREQ(g.data, "Hello, the part.!\r\nBye");
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "a OK SUBMIT completed\r\n");

	/* the whole message, a quoted answer, a URL as a literal */
	csend("b SUBMIT CATENATE (URL {27+}\r\n/INBOX/;UID=20/;PARTIAL=0.5 "
	    "URL \"/inbox/;UID=21\")\r\n");
	tag = expect_injected("UID FETCH 20 (BODY.PEEK[]<0.5>)\r\n");
	(void)snprintf(line, sizeof(line), "* 20 FETCH (UID 20 BODY[]<0> "
	    "\"Fr\\\"om\")\r\n%s OK done\r\n", tag);
	bsend(line);
	tag = expect_injected("UID FETCH 21 (BODY.PEEK[])\r\n");
	(void)snprintf(line, sizeof(line), "* 21 FETCH (UID 21 BODY[] {4}\r\n"
	    "\r\nxy FLAGS (\\Seen))\r\n%s OK done\r\n", tag);
	bsend(line);
	id = sd_message(&g, 0);
	ATF_CHECK_STREQ(g.data, "Fr\"om\r\nxy");
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "b OK SUBMIT completed\r\n");
	quiet(&cli);
	noop_ok("c");
	stop();
}

/*
 * A part of another mailbox: GENURLAUTH for the user's own access, then
 * URLFETCH, never a SELECT.  A URL that carries its own URLAUTH is
 * fetched as it is.
 */
ATF_TC_WITHOUT_HEAD(catenate_urlauth);
ATF_TC_BODY(catenate_urlauth, tc)
{
	static const char	url[] = "imap://alice%40example.test@"
	    "127.0.0.1:10143/Drafts;UIDVALIDITY=7/;UID=5/;SECTION=2;"
	    "URLAUTH=user+alice%40example.test";
	struct got		 g;
	char			*tag, line[512];
	uint32_t		 id;

	start();
	select_mailbox("INBOX", 42);
	csend("a SUBMIT CATENATE (URL \"/Drafts;UIDVALIDITY=7/;UID=5/;"
	    "SECTION=2\" TEXT {4+}\r\n-end)\r\n");
	(void)snprintf(line, sizeof(line), "GENURLAUTH \"%s\" INTERNAL\r\n",
	    url);
	tag = expect_injected(line);
	(void)snprintf(line, sizeof(line), "* GENURLAUTH \"%s:internal:"
	    "01ab\"\r\n%s OK GENURLAUTH completed\r\n", url, tag);
	bsend(line);
	(void)snprintf(line, sizeof(line), "URLFETCH \"%s:internal:01ab\""
	    "\r\n", url);
	tag = expect_injected(line);
	(void)snprintf(line, sizeof(line), "* URLFETCH \"%s:internal:01ab\" "
	    "{9}\r\nForwarded\r\n%s OK URLFETCH completed\r\n", url, tag);
	bsend(line);
	id = sd_message(&g, 0);
	ATF_CHECK_STREQ(g.data, "Forwarded-end");
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "a OK SUBMIT completed\r\n");

	/* the client's own URLAUTH URL */
	csend("b SUBMIT CATENATE (URL \"imap://bob@example.test/INBOX/;UID=3;"
	    "URLAUTH=anonymous:internal:99\")\r\n");
	tag = expect_injected("URLFETCH \"imap://bob@example.test/INBOX/;"
	    "UID=3;URLAUTH=anonymous:internal:99\"\r\n");
	(void)snprintf(line, sizeof(line), "* URLFETCH \"imap://"
	    "bob@example.test/INBOX/;UID=3;URLAUTH=anonymous:internal:99\" "
	    "\"shared\"\r\n%s OK done\r\n", tag);
	bsend(line);
	id = sd_message(&g, 0);
	ATF_CHECK_STREQ(g.data, "shared");
	got_free(&g);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "b OK SUBMIT completed\r\n");
	quiet(&cli);
	noop_ok("c");
	stop();
}

/*
 * URLs that do not resolve: NO [BADURL "url"], submitd drops what it
 * had, what the client still sends of the command is dropped.
 */
ATF_TC_WITHOUT_HEAD(badurl);
ATF_TC_BODY(badurl, tc)
{
	struct got	 g;
	char		*tag, line[512];

	start();
	select_mailbox("INBOX", 42);
	/* not a URL of a message */
	csend("a SUBMIT CATENATE (TEXT {2+}\r\nhi URL \"/INBOX;UID=x\")\r\n");
	expect(&cli, "a NO [BADURL \"/INBOX;UID=x\"] Not the IMAP URL of a "
	    "message or part\r\n");
	(void)sd_message(&g, 1);
	ATF_CHECK_STREQ(g.data, "hi");
	got_free(&g);
	quiet(&be);

	/* the mailbox changed since */
	csend("b SUBMIT CATENATE (URL \"/INBOX;UIDVALIDITY=41/;UID=20\" "
	    "TEXT {5}\r\n");
	expect(&cli, "b NO [BADURL \"/INBOX;UIDVALIDITY=41/;UID=20\"] "
	    "UIDVALIDITY is not the mailbox's\r\n");
	quiet(&be);
	sd_quiet();

	/* no such message: the client's literal is dropped after the NO */
	csend("c SUBMIT CATENATE (URL \"/INBOX/;UID=99\" TEXT {5}\r\n");
	tag = expect_injected("UID FETCH 99 (BODY.PEEK[])\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	(void)snprintf(line, sizeof(line), "%s OK Fetch completed\r\n", tag);
	bsend(line);
	expect(&cli, "c NO [BADURL \"/INBOX/;UID=99\"] No such message\r\n");
	csend("hello)\r\n");
	noop_ok("d");
	sd_quiet();		/* nothing was started */

	/* NIL */
	csend("e SUBMIT CATENATE (URL \"/INBOX/;UID=20/;SECTION=3\")\r\n");
	tag = expect_injected("UID FETCH 20 (BODY.PEEK[3])\r\n");
	(void)snprintf(line, sizeof(line), "* 20 FETCH (UID 20 BODY[3] NIL)"
	    "\r\n%s OK done\r\n", tag);
	bsend(line);
	expect(&cli, "e NO [BADURL \"/INBOX/;UID=20/;SECTION=3\"] No such "
	    "message part\r\n");

	/* the backend says no */
	csend("f SUBMIT CATENATE (URL \"/INBOX/;UID=20\")\r\n");
	tag = expect_injected("UID FETCH 20 (BODY.PEEK[])\r\n");
	(void)snprintf(line, sizeof(line), "%s NO Mailbox is locked\r\n",
	    tag);
	bsend(line);
	expect(&cli, "f NO [BADURL \"/INBOX/;UID=20\"] Cannot fetch it: NO "
	    "Mailbox is locked\r\n");
	csend("g SUBMIT CATENATE (URL \"/Drafts/;UID=9\")\r\n");
	tag = expect_injected("GENURLAUTH \"imap://alice%40example.test@"
	    "127.0.0.1:10143/Drafts/;UID=9;URLAUTH=user+alice%40example.test\" "
	    "INTERNAL\r\n");
	(void)snprintf(line, sizeof(line), "%s BAD Error in IMAP command "
	    "GENURLAUTH: Invalid URL: Message not found\r\n", tag);
	bsend(line);
	expect(&cli, "g NO [BADURL \"/Drafts/;UID=9\"] Cannot fetch it: BAD "
	    "Error in IMAP command GENURLAUTH: Invalid URL: Message not found"
	    "\r\n");
	quiet(&cli);
	noop_ok("h");
	sd_quiet();
	stop();
}

/*
 * A fetched part larger than submitd's window: the backend is not read
 * while the window is full, and every byte arrives in order.
 */
ATF_TC_WITHOUT_HEAD(catenate_backpressure);
ATF_TC_BODY(catenate_backpressure, tc)
{
	struct got	 g;
	char		*part, *tag, line[128];
	size_t		 len = 1500000, off = 0;
	ssize_t		 n;
	uint32_t	 id;
	int		 i;

	start();
	select_mailbox("INBOX", 42);
	part = pattern(len);
	csend("a SUBMIT CATENATE (URL \"/INBOX/;UID=20\" TEXT {3+}\r\nEnd)"
	    "\r\n");
	tag = expect_injected("UID FETCH 20 (BODY.PEEK[])\r\n");
	sd_stall = 1;
	(void)snprintf(line, sizeof(line), "* 1 FETCH (UID 20 BODY[] {%zu}\r\n",
	    len);
	bsend(line);
	for (i = 0; i < 50; i++) {
		if ((n = write(be.fd, part + off, len - off)) > 0)
			off += n;
		pump();
		sd_pump();
	}
	ATF_CHECK_MSG(off < len, "all %zu bytes went", off);
	ATF_CHECK(sess->bhold);
	ATF_CHECK_MSG(sd_owed <= CHAN_WINDOW, "in flight %zu", sd_owed);
	ATF_CHECK_MSG(sess->backend.in.len <= 2 * CONN_READ_CHUNK,
	    "held %zu", sess->backend.in.len);

	sd_stall = 0;
	sendn(&be, part + off, len - off);
	(void)snprintf(line, sizeof(line), ")\r\n%s OK done\r\n", tag);
	bsend(line);
	id = sd_message(&g, 0);
	ATF_REQUIRE_EQ(g.len, len + 3);
	ATF_CHECK(memcmp(g.data, part, len) == 0);
	ATF_CHECK(memcmp(g.data + len, "End", 3) == 0);
	got_free(&g);
	ATF_CHECK(!sess->bhold);
	sd_done(id, SUBMIT_OK, "", "");
	expect(&cli, "a OK SUBMIT completed\r\n");
	noop_ok("b");
	free(part);
	stop();
}

/* Refused while a part is being fetched: its answer is swallowed. */
ATF_TC_WITHOUT_HEAD(catenate_orphan);
ATF_TC_BODY(catenate_orphan, tc)
{
	struct got	 g;
	char		*tag, line[128];

	start();
	select_mailbox("INBOX", 42);
	sd_up(10, SENTBOX);
	csend("a SUBMIT CATENATE (URL \"/INBOX/;UID=20\")\r\n");
	tag = expect_injected("UID FETCH 20 (BODY.PEEK[])\r\n");
	(void)snprintf(line, sizeof(line), "* 1 FETCH (UID 20 BODY[] {20}\r\n"
	    "01234567890123456789)\r\n* 4 EXISTS\r\n%s OK done\r\n", tag);
	bsend(line);
	expect(&cli, "a NO [TOOBIG] Message too large (at most 10 bytes)\r\n"
	    "* 4 EXISTS\r\n");
	quiet(&cli);
	noop_ok("b");
	sd_quiet();		/* nothing got to submitd */

	/* the session ends while a part is fetched */
	csend("c SUBMIT CATENATE (TEXT {1+}\r\nx URL \"/INBOX/;UID=21\")\r\n");
	(void)expect_injected("UID FETCH 21 (BODY.PEEK[])\r\n");
	closing_ok = 1;
	ATF_REQUIRE(shutdown(be.fd, SHUT_WR) == 0);
	(void)sd_message(&g, 1);
	got_free(&g);
	stop();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, seed_004);
	ATF_TP_ADD_TC(tp, done_answers);
	ATF_TP_ADD_TC(tp, long_text);
	ATF_TP_ADD_TC(tp, streamed);
	ATF_TP_ADD_TC(tp, backpressure);
	ATF_TP_ADD_TC(tp, hello);
	ATF_TP_ADD_TC(tp, toobig);
	ATF_TP_ADD_TC(tp, binary);
	ATF_TP_ADD_TC(tp, syntax);
	ATF_TP_ADD_TC(tp, prelogin);
	ATF_TP_ADD_TC(tp, done_early);
	ATF_TP_ADD_TC(tp, submitd_dies);
	ATF_TP_ADD_TC(tp, client_gone);
	ATF_TP_ADD_TC(tp, session_gone_waiting);
	ATF_TP_ADD_TC(tp, sent_copy);
	ATF_TP_ADD_TC(tp, sent_copy_fails);
	ATF_TP_ADD_TC(tp, sent_copy_submitd_gone);
	ATF_TP_ADD_TC(tp, sent_copy_session_gone);
	ATF_TP_ADD_TC(tp, sent_copy_idle);
	ATF_TP_ADD_TC(tp, inject_body_idle);
	ATF_TP_ADD_TC(tp, catenate);
	ATF_TP_ADD_TC(tp, catenate_urlauth);
	ATF_TP_ADD_TC(tp, badurl);
	ATF_TP_ADD_TC(tp, catenate_backpressure);
	ATF_TP_ADD_TC(tp, catenate_orphan);
	return atf_no_error();
}
