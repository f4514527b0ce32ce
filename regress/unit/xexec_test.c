/*
 * Unit tests for imapxd/xexec.c: the XEXEC command of seeds/000 and
 * seeds/001, driven in-process.  As in proxy_test.c a session is built by
 * hand over socketpairs, the test playing the client and the backend; a
 * third socketpair is installed as the execd service channel
 * (fe_service_channel), and the test plays execd on it with the messages
 * of common/imsg-types.h.  doc/xexec.md is what the cases check.
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

#include "chan.h"
#include "frontend.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"

#include "atf_lsan.h"

#define PEER_BUF	(2 * 1024 * 1024)
#define PUMP_ROUNDS	100
#define USER		"marc@perkel.com"

struct peer {
	const char	*name;
	int		 fd;
	char		*buf;
	size_t		 len;
	int		 stalled;	/* the test does not read it now */
};

/* One message the fake execd received. */
struct xmsg {
	uint32_t	 type;
	uint32_t	 id;
	pid_t		 pid;
	size_t		 len;
	char		 data[MAX_IMSGSIZE];
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
static void	 noop_ok(const char *);
static void	 execd_up(void);
static void	 execd_down(void);
static int	 xd_next(struct xmsg *);
static void	 xd_expect(uint32_t, uint32_t, struct xmsg *);
static void	 xd_quiet(void);
static void	 xd_send(uint32_t, uint32_t, const void *, size_t);
static uint32_t	 xd_list(void);
static void	 xd_module(uint32_t, const char *, const char *, int);
static uint32_t	 xd_run(const char *, int, int, const char *const *);
static void	 xd_output(uint32_t, const char *);
static void	 xd_done(uint32_t, int, int, const char *);

static struct fe_conf		*conf;
static struct session		*sess;
static struct peer		 cli = { .name = "client", .fd = -1 };
static struct peer		 be = { .name = "backend", .fd = -1 };
static int			 closing_ok;	/* the case ends the session */
static struct imsgbuf		 xd;		/* the fake execd's end */
static int			 xdfd = -1;
static size_t			 credited;	/* IMSG_CREDIT bytes received */

/*
 * A logged-in session in S_PROXY, XEXEC registered, execd connected.
 * The test keeps a reference to the configuration: when it drops back
 * to one, the session has freed itself and must not be touched.
 */
static void
start(void)
{
	struct limits	limits = LIMITS_DEFAULT_INIT;
	int		csv[2], bsv[2], i;

	signal(SIGPIPE, SIG_IGN);
	log_init(1, LOG_MAIL);
	event_init();
	ATF_REQUIRE((cli.buf = malloc(PEER_BUF)) != NULL);
	ATF_REQUIRE((be.buf = malloc(PEER_BUF)) != NULL);

	ATF_REQUIRE((conf = calloc(1, sizeof(*conf))) != NULL);
	conf->refcnt = 2;
	conf->limits = limits;
	conf->services = 1 << PROC_EXECD;
	TAILQ_INIT(&conf->backends);
	ATF_REQUIRE((sess = calloc(1, sizeof(*sess))) != NULL);
	sess->id = 1;
	sess->conf = conf;
	ATF_REQUIRE((sess->user = strdup(USER)) != NULL);

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
	evtimer_set(&sess->timer, timer_cb, sess);
	xexec_register();
	execd_up();
	proxy_start(sess);
	ATF_REQUIRE_EQ(sess->state, S_PROXY);
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
	execd_down();
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

/* execd (re)starts: the worker gets a fresh channel, as from the parent. */
static void
execd_up(void)
{
	int	sv[2];

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	ATF_REQUIRE(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	ATF_REQUIRE(imsgbuf_init(&xd, sv[0]) == 0);
	xdfd = sv[0];
	credited = 0;
	fe_service_channel(PROC_EXECD, sv[1]);
	ATF_REQUIRE(fe_service_up(PROC_EXECD));
}

/* execd dies: its end of the channel closes. */
static void
execd_down(void)
{
	if (xdfd == -1)
		return;
	imsgbuf_clear(&xd);
	close(xdfd);
	xdfd = -1;
}

/* The next message execd gets (credit is counted, not returned). */
static int
xd_next(struct xmsg *m)
{
	struct imsg		 imsg;
	struct ibuf		 ib;
	struct imsg_credit	 cr;
	ssize_t			 n;
	int			 i;

	for (i = 0; i < PUMP_ROUNDS; i++) {
		ATF_REQUIRE((n = imsg_get(&xd, &imsg)) != -1);
		if (n == 0) {
			pump();
			ATF_REQUIRE(imsgbuf_read(&xd) != -1);
			usleep(1000);	/* let timers (the tick) come due */
			continue;
		}
		memset(m, 0, sizeof(*m));
		m->type = imsg_get_type(&imsg);
		m->id = imsg_get_id(&imsg);
		m->pid = imsg_get_pid(&imsg);
		m->len = imsg_get_len(&imsg);
		ATF_REQUIRE(m->len < sizeof(m->data));
		if (m->len > 0) {
			ATF_REQUIRE(imsg_get_ibuf(&imsg, &ib) == 0);
			memcpy(m->data, ibuf_data(&ib), m->len);
		}
		if (m->type == IMSG_CREDIT) {
			ATF_REQUIRE(imsg_get_data(&imsg, &cr, sizeof(cr)) == 0);
			credited += cr.bytes;
			imsg_free(&imsg);
			i = 0;
			continue;
		}
		imsg_free(&imsg);
		return 1;
	}
	return 0;
}

/* The next message is this one, for this run (0: any run). */
static void
xd_expect(uint32_t type, uint32_t id, struct xmsg *m)
{
	static struct xmsg	 tmp;

	if (m == NULL)
		m = &tmp;
	if (!xd_next(m))
		atf_tc_fail("execd got nothing, wanted imsg %u", type);
	if (m->type != type)
		atf_tc_fail("execd got imsg %u (%s), wanted %u", m->type,
		    vis(m->data, m->len), type);
	if (id != 0)
		ATF_CHECK_EQ(m->id, id);
}

/* execd gets nothing more. */
static void
xd_quiet(void)
{
	struct imsg		 imsg;
	struct imsg_credit	 cr;
	int			 i;
	ssize_t			 n;

	for (i = 0; i < 3; i++) {
		pump();
		ATF_REQUIRE(imsgbuf_read(&xd) != -1);
	}
	while ((n = imsg_get(&xd, &imsg)) > 0) {
		if (imsg_get_type(&imsg) != IMSG_CREDIT)
			atf_tc_fail("execd got imsg %u", imsg_get_type(&imsg));
		ATF_REQUIRE(imsg_get_data(&imsg, &cr, sizeof(cr)) == 0);
		credited += cr.bytes;
		imsg_free(&imsg);
	}
}

static void
xd_send(uint32_t type, uint32_t id, const void *data, size_t len)
{
	int	tries = 0;

	ATF_REQUIRE(imsg_compose(&xd, type, id, type == IMSG_XEXEC_OUTPUT ?
	    CHAN_COUNTED : 0, -1, data, len) != -1);
	while (imsgbuf_queuelen(&xd) > 0) {
		ATF_REQUIRE(imsgbuf_write(&xd) != -1 || errno == EAGAIN);
		ATF_REQUIRE_MSG(++tries < 1000, "execd stuck");
		pump();
	}
}

/* The front end asks which modules the user may run. */
static uint32_t
xd_list(void)
{
	struct xmsg		 m;
	struct imsg_xexec_user	 xu;

	xd_expect(IMSG_XEXEC_LIST, 0, &m);
	ATF_REQUIRE_EQ(m.len, sizeof(xu));
	memcpy(&xu, m.data, sizeof(xu));
	ATF_CHECK_STREQ(xu.user, USER);
	ATF_CHECK(m.id != 0);
	return m.id;
}

static void
xd_module(uint32_t id, const char *name, const char *descr, int interactive)
{
	struct imsg_xexec_module	m;

	memset(&m, 0, sizeof(m));
	strlcpy(m.name, name, sizeof(m.name));
	strlcpy(m.descr, descr, sizeof(m.descr));
	m.interactive = interactive;
	xd_send(IMSG_XEXEC_MODULE, id, &m, sizeof(m));
}

/*
 * A module starts: execd lists it (with a neighbour), then gets START,
 * the arguments as given (NUL-terminated strings here) and GO.
 */
static uint32_t
xd_run(const char *module, int interactive, int nargs,
    const char *const *args)
{
	struct imsg_xexec_start	 xs;
	struct xmsg		 m;
	uint32_t		 id;
	int			 i;

	id = xd_list();
	xd_module(id, "vacation", "Set an away message", 0);
	xd_module(id, module, "The module under test", interactive);
	xd_send(IMSG_XEXEC_LIST_END, id, NULL, 0);
	xd_expect(IMSG_XEXEC_START, id, &m);
	ATF_REQUIRE_EQ(m.len, sizeof(xs));
	memcpy(&xs, m.data, sizeof(xs));
	ATF_CHECK_STREQ(xs.user, USER);
	ATF_CHECK_STREQ(xs.module, module);
	ATF_REQUIRE_EQ(xs.nargs, (uint32_t)nargs);
	for (i = 0; i < nargs; i++) {
		xd_expect(IMSG_XEXEC_ARG, id, &m);
		ATF_CHECK_EQ(m.len, strlen(args[i]));
		ATF_CHECK_MSG(memcmp(m.data, args[i], m.len) == 0,
		    "argument %d is '%s'", i, vis(m.data, m.len));
	}
	xd_expect(IMSG_XEXEC_GO, id, NULL);
	return id;
}

static void
xd_output(uint32_t id, const char *s)
{
	xd_send(IMSG_XEXEC_OUTPUT, id, s, strlen(s));
}

static void
xd_done(uint32_t id, int end, int status, const char *reason)
{
	struct imsg_xexec_done	d;

	memset(&d, 0, sizeof(d));
	d.end = end;
	d.status = status;
	strlcpy(d.reason, reason, sizeof(d.reason));
	xd_send(IMSG_XEXEC_DONE, id, &d, sizeof(d));
}

/* seeds/000, byte for byte. */
ATF_TC_WITHOUT_HEAD(seed_000);
ATF_TC_BODY(seed_000, tc)
{
	static const char *const args[] = { "add", "joe@example.com" };
	static const char *const pw[] = { "MyNewPassword" };
	uint32_t	id;

	start();
	csend("002 xexec blacklist add joe@example.com\r\n");
	id = xd_run("blacklist", 0, 2, args);
	xd_output(id, "Adding joe@example.com to server side blacklist for "
	    "marc@perkel.com\n");
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "* OK Adding joe@example.com to server side blacklist "
	    "for marc@perkel.com\r\n"
	    "002 OK command exited successfully\r\n");

	csend("003 xexec changepassword MyNewPassword\r\n");
	id = xd_run("changepassword", 0, 1, pw);
	xd_output(id, "New Password set Sucessfully for marc@perkel.com\n");
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "* OK New Password set Sucessfully for marc@perkel.com"
	    "\r\n003 OK command exited successfully\r\n");

	/* nothing of it went to the backend; IMAP goes on */
	quiet(&be);
	noop_ok("004");
	xd_quiet();
	quiet(&cli);
	stop();
}

/* The command name and the module name are case-insensitive. */
ATF_TC_WITHOUT_HEAD(case_insensitive);
ATF_TC_BODY(case_insensitive, tc)
{
	static const char *const args[] = { "Add" };
	uint32_t	id;

	start();
	csend("a XeXeC BlackList Add\r\n");
	id = xd_run("blacklist", 0, 1, args);
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "a OK command exited successfully\r\n");
	stop();
}

/* Any other exit status: a tagged NO carrying it. */
ATF_TC_WITHOUT_HEAD(exit_status);
ATF_TC_BODY(exit_status, tc)
{
	uint32_t	id;

	start();
	csend("a XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_output(id, "no such entry\n");
	xd_done(id, XEXEC_EXITED, 3, "");
	expect(&cli, "* OK no such entry\r\n"
	    "a NO [XEXEC EXIT 3] command exited with status 3\r\n");

	csend("b XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_done(id, XEXEC_SIGNALED, 9, "");
	expect(&cli, "b NO [XEXEC SIGNAL 9] command killed by signal 9\r\n");
	noop_ok("c");
	stop();
}

/* Each way a run can end has its own NO. */
ATF_TC_WITHOUT_HEAD(ends);
ATF_TC_BODY(ends, tc)
{
	static const struct {
		int		 end;
		const char	*reason;
		const char	*answer;
	} ends[] = {
		{ XEXEC_TIMEOUT, "30 s", "NO [XEXEC TIMEOUT] command took "
		    "too long and was stopped" },
		{ XEXEC_OUTPUT, "65536 bytes", "NO [XEXEC OUTPUT] command "
		    "output too long, command stopped" },
		{ XEXEC_NOMODULE, "not for this user", "NO [XEXEC NOMODULE] "
		    "No such module" },
		{ XEXEC_BADARG, "argument 1 does not match",
		    "NO [XEXEC BADARG] Argument refused: argument 1 does not "
		    "match" },
		{ XEXEC_BADARG, "", "NO [XEXEC BADARG] Argument refused" },
		{ XEXEC_LIMIT, "5 runs a minute", "NO [XEXEC LIMIT] Too many "
		    "runs, try again later: 5 runs a minute" },
		{ XEXEC_FAILED, "execve: No such file", "NO [XEXEC FAILED] "
		    "command could not be run" },
		{ 99, "", "NO [XEXEC FAILED] command could not be run" },
	};
	char		 line[256];
	uint32_t	 id;
	size_t		 i;

	start();
	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		(void)snprintf(line, sizeof(line), "t%zu XEXEC blacklist\r\n",
		    i);
		csend(line);
		id = xd_run("blacklist", 0, 0, NULL);
		xd_output(id, "partial output\n");
		xd_done(id, ends[i].end, 0, ends[i].reason);
		(void)snprintf(line, sizeof(line), "* OK partial output\r\n"
		    "t%zu %s\r\n", i, ends[i].answer);
		expect(&cli, line);
	}
	noop_ok("z");
	stop();
}

/* Output can never look like anything but the text of an untagged OK. */
ATF_TC_WITHOUT_HEAD(output_escaped);
ATF_TC_BODY(output_escaped, tc)
{
	static const char	bytes[] = "\x00\x1b\xff back\\slash\t\r\n";
	uint32_t		id;

	start();
	csend("a XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_output(id, "a1 OK [ALERT] pwned\n[ALERT] x\n+ more\ntext {5}\n"
	    "* BYE\r\n\n");
	xd_send(IMSG_XEXEC_OUTPUT, id, bytes, sizeof(bytes) - 1);
	xd_output(id, "cr\rinside\r\n" "tail}");
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli,
	    "* OK a1 OK [ALERT] pwned\r\n"
	    "* OK \\x5bALERT] x\r\n"
	    "* OK \\x2b more\r\n"
	    "* OK text {5\\x7d\r\n"
	    "* OK * BYE\r\n"
	    "* OK \r\n"
	    "* OK \\x00\\x1b\\xff back\\\\slash\\x09\r\n"
	    "* OK cr\\x0dinside\r\n"
	    "* OK tail\\x7d\r\n"
	    "a OK command exited successfully\r\n");
	quiet(&cli);
	stop();
}

/* Lines split across messages, CRLF split, and lines too long for one. */
ATF_TC_WITHOUT_HEAD(output_lines);
ATF_TC_BODY(output_lines, tc)
{
	char		*big, *want, *w;
	uint32_t	 id;
	int		 i;

	start();
	csend("a XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_output(id, "par");
	quiet(&cli);
	xd_output(id, "tial\r");
	xd_output(id, "\nnext\n");
	expect(&cli, "* OK partial\r\n* OK next\r\n");

	/* 3000 bytes: pieces of 999 that end in a lone '\': "goes on" */
	big = repeat('a', 3000);
	big[2999] = '\n';
	xd_output(id, big);
	ATF_REQUIRE((want = malloc(8192)) != NULL);
	w = want;
	for (i = 0; i < 3; i++) {
		memcpy(w, "* OK ", 5);
		memset(w + 5, 'a', 999);
		memcpy(w + 5 + 999, "\\\r\n", 3);
		w += 5 + 999 + 3;
	}
	memcpy(w, "* OK aa\r\n", 10);
	expect(&cli, want);

	/* a line that never ends goes out in pieces, not all held */
	big[2999] = 'a';
	xd_output(id, big);
	xd_output(id, big);
	pump();
	ATF_CHECK(cli.len > 4000);
	xd_output(id, "}\n");
	xd_done(id, XEXEC_EXITED, 0, "");
	pump();
	pump();
	ATF_REQUIRE(cli.len > 41);
	ATF_CHECK_MSG(memcmp(cli.buf + cli.len - 41,
	    "a\\x7d\r\na OK command exited successfully\r\n", 41) == 0,
	    "client got '%s'", vis(cli.buf + cli.len - 41, 41));
	cli.len = 0;
	free(big);
	free(want);
	stop();
}

/* Literal arguments reach execd as they are: NUL, CR, LF and all. */
ATF_TC_WITHOUT_HEAD(literal_args);
ATF_TC_BODY(literal_args, tc)
{
	static const char	arg0[] = "a\0b\r\nc";
	struct xmsg		m;
	uint32_t		id;

	start();
	csend("a XEXEC blacklist {6}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	sendn(&cli, arg0, 6);
	csend(" {3+}\r\nx\ny \"q\\\"uo\\\\\" ~{2}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	sendn(&cli, "\0\x7f", 2);
	csend(" \"\" last\r\n");

	id = xd_list();
	xd_module(id, "blacklist", "", 0);
	xd_send(IMSG_XEXEC_LIST_END, id, NULL, 0);
	xd_expect(IMSG_XEXEC_START, id, &m);
	ATF_CHECK_EQ(((struct imsg_xexec_start *)m.data)->nargs, 6);
	xd_expect(IMSG_XEXEC_ARG, id, &m);
	ATF_CHECK(m.len == 6 && memcmp(m.data, arg0, 6) == 0);
	xd_expect(IMSG_XEXEC_ARG, id, &m);
	ATF_CHECK(m.len == 3 && memcmp(m.data, "x\ny", 3) == 0);
	xd_expect(IMSG_XEXEC_ARG, id, &m);
	ATF_CHECK(m.len == 5 && memcmp(m.data, "q\"uo\\", 5) == 0);
	xd_expect(IMSG_XEXEC_ARG, id, &m);
	ATF_CHECK(m.len == 2 && memcmp(m.data, "\0\x7f", 2) == 0);
	xd_expect(IMSG_XEXEC_ARG, id, &m);
	ATF_CHECK_EQ(m.len, 0);
	xd_expect(IMSG_XEXEC_ARG, id, &m);
	ATF_CHECK(m.len == 4 && memcmp(m.data, "last", 4) == 0);
	xd_expect(IMSG_XEXEC_GO, id, NULL);
	/* execd's policy refuses the control bytes */
	xd_done(id, XEXEC_BADARG, 0, "argument 1: control characters");
	expect(&cli, "a NO [XEXEC BADARG] Argument refused: argument 1: "
	    "control characters\r\n");

	/* the module name may come as a literal too */
	csend("b XEXEC {9+}\r\nblacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "b OK command exited successfully\r\n");
	quiet(&be);
	stop();
}

/* Arguments too large are refused here, before anything goes to execd. */
ATF_TC_WITHOUT_HEAD(refused_too_big);
ATF_TC_BODY(refused_too_big, tc)
{
	char	*big, *line;
	int	 i;

	start();
	/* a synchronizing literal: NO instead of "+", it is never sent */
	csend("a XEXEC blacklist add {100000}\r\n");
	expect(&cli, "a NO [XEXEC BADARG] Argument too long (at most 16304 "
	    "bytes)\r\n");
	noop_ok("a2");

	/* a non-synchronizing one is read and dropped */
	big = repeat('x', 100000);
	csend("b XEXEC blacklist add {100000+}\r\n");
	csend(big);
	csend(" more\r\n");
	expect(&cli, "b NO [XEXEC BADARG] Argument too long (at most 16304 "
	    "bytes)\r\n");
	noop_ok("b2");

	/* quoted */
	big[20000] = '\0';
	ATF_REQUIRE(asprintf(&line, "c XEXEC blacklist \"%s\"\r\n", big) > 0);
	csend(line);
	free(line);
	expect(&cli, "c NO [XEXEC BADARG] Argument too long (at most 16304 "
	    "bytes)\r\n");

	/* an atom longer than a command line may be */
	big[20000] = 'x';
	ATF_REQUIRE(asprintf(&line, "d XEXEC blacklist %s\r\n", big) > 0);
	csend(line);
	free(line);
	expect(&cli, "d BAD [TOOBIG] Command line too long\r\n");

	/* in all: five of 16000 bytes */
	csend("e XEXEC blacklist {16000+}\r\n");
	big[16000] = '\0';
	for (i = 0; i < 4; i++) {
		csend(big);
		csend(" {16000+}\r\n");
	}
	csend(big);
	csend("\r\n");
	expect(&cli, "e NO [XEXEC BADARG] Arguments too long (at most 65536 "
	    "bytes in all)\r\n");
	noop_ok("f");
	xd_quiet();
	quiet(&be);
	free(big);
	stop();
}

/* 1,000 arguments: refused, nothing sent to execd. */
ATF_TC_WITHOUT_HEAD(refused_too_many);
ATF_TC_BODY(refused_too_many, tc)
{
	char	line[4096];
	size_t	n;
	int	i;

	start();
	n = strlcpy(line, "a XEXEC blacklist", sizeof(line));
	for (i = 0; i < 1000; i++)
		n += snprintf(line + n, sizeof(line) - n, " a");
	strlcat(line, "\r\n", sizeof(line));
	csend(line);
	expect(&cli, "a NO [XEXEC BADARG] Too many arguments (at most 64)\r\n");

	/* 64 are fine */
	n = strlcpy(line, "b XEXEC blacklist", sizeof(line));
	for (i = 0; i < 64; i++)
		n += snprintf(line + n, sizeof(line) - n, " a");
	strlcat(line, "\r\n", sizeof(line));
	csend(line);
	ATF_CHECK(xd_list() != 0);
	xd_quiet();
	stop();
}

/* What is not an astring is a syntax error; shells are never involved. */
ATF_TC_WITHOUT_HEAD(refused_syntax);
ATF_TC_BODY(refused_syntax, tc)
{
	start();
	csend("a XEXEC blacklist add $(rm -rf /)\r\n");
	expect(&cli, "a BAD Syntax error in XEXEC arguments\r\n");
	csend("b XEXEC blacklist \"unterminated\r\n");
	expect(&cli, "b BAD Syntax error in XEXEC arguments\r\n");
	csend("c XEXEC blacklist a  b\r\n");
	expect(&cli, "c BAD Syntax error in XEXEC arguments\r\n");
	csend("d XEXEC \r\n");
	expect(&cli, "d BAD Syntax error in XEXEC arguments\r\n");
	csend("e XEXEC blacklist \"bad\\escape\"\r\n");
	expect(&cli, "e BAD Syntax error in XEXEC arguments\r\n");
	csend("f XEXEC blacklist a\"b\"\r\n");
	expect(&cli, "f BAD Syntax error in XEXEC arguments\r\n");
	/* a literal must follow a SP; the rest of it is dropped */
	csend("g XEXEC blacklist {3+}\r\nabc{2+}\r\nxy\r\n");
	expect(&cli, "g BAD Syntax error in XEXEC arguments\r\n");
	/* no module has such a name: nothing asked */
	csend("h XEXEC bl;ack\r\n");
	expect(&cli, "h NO [XEXEC NOMODULE] No such module\r\n");
	csend("i XEXEC ../bin/sh\r\n");
	expect(&cli, "i NO [XEXEC NOMODULE] No such module\r\n");
	csend("j XEXEC \"\"\r\n");
	expect(&cli, "j NO [XEXEC NOMODULE] No such module\r\n");
	csend("k XEXEC aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
	expect(&cli, "k NO [XEXEC NOMODULE] No such module\r\n");
	noop_ok("l");
	xd_quiet();
	quiet(&be);
	stop();
}

/*
 * Hostile arguments that are valid IMAP go to execd as they are, each
 * one argument; its policy refuses them.
 */
ATF_TC_WITHOUT_HEAD(hostile_args);
ATF_TC_BODY(hostile_args, tc)
{
	static const char *const args[] = { "--force", "../../etc/passwd",
	    "`id`", "a;b|c&d", "$HOME", "x y" };
	uint32_t	id;

	start();
	csend("a XEXEC blacklist --force ../../etc/passwd `id` a;b|c&d $HOME "
	    "\"x y\"\r\n");
	id = xd_run("blacklist", 0, 6, args);
	xd_done(id, XEXEC_BADARG, 0, "argument 1 starts with -");
	expect(&cli, "a NO [XEXEC BADARG] Argument refused: argument 1 "
	    "starts with -\r\n");
	noop_ok("b");
	stop();
}

/* Unknown and not allowed look the same. */
ATF_TC_WITHOUT_HEAD(nomodule);
ATF_TC_BODY(nomodule, tc)
{
	uint32_t	id;

	start();
	csend("a XEXEC secret arg\r\n");
	id = xd_list();
	xd_module(id, "blacklist", "Block senders", 0);
	xd_send(IMSG_XEXEC_LIST_END, id, NULL, 0);
	expect(&cli, "a NO [XEXEC NOMODULE] No such module\r\n");
	xd_quiet();		/* no START */

	/* listed, but execd says no when it comes to it */
	csend("b XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_done(id, XEXEC_NOMODULE, 0, "user not allowed");
	expect(&cli, "b NO [XEXEC NOMODULE] No such module\r\n");
	noop_ok("c");
	stop();
}

/* Bare XEXEC: the modules this user may run. */
ATF_TC_WITHOUT_HEAD(list_modules);
ATF_TC_BODY(list_modules, tc)
{
	uint32_t	id;

	start();
	csend("a XEXEC\r\n");
	id = xd_list();
	xd_module(id, "blacklist", "Add or remove senders you block", 0);
	xd_module(id, "calendar", "Your \"calendar\"", 1);
	xd_module(id, "vacation", "Abwesenheitsnotiz f\xc3\xbcr dich", 0);
	xd_module(id, "BAD NAME", "skipped", 0);
	xd_send(IMSG_XEXEC_LIST_END, id, NULL, 0);
	expect(&cli,
	    "* XEXEC blacklist () \"Add or remove senders you block\"\r\n"
	    "* XEXEC calendar (\\Interactive) \"Your \\\"calendar\\\"\"\r\n"
	    "* XEXEC vacation () {27}\r\n"
	    "Abwesenheitsnotiz f\xc3\xbcr dich\r\n"
	    "a OK XEXEC completed\r\n");
	quiet(&cli);

	/* none */
	csend("b xexec\r\n");
	id = xd_list();
	xd_send(IMSG_XEXEC_LIST_END, id, NULL, 0);
	expect(&cli, "b OK XEXEC completed\r\n");
	noop_ok("c");
	stop();
}

/* seeds/001: the calendar, framed as doc/xexec.md says. */
ATF_TC_WITHOUT_HEAD(interactive);
ATF_TC_BODY(interactive, tc)
{
	struct xmsg	 m;
	char		 in[256];
	size_t		 inlen = 0;
	uint32_t	 id;

	start();
	csend("100 XEXEC calendar\r\n");
	id = xd_run("calendar", 1, 0, NULL);
	expect(&cli, "+ Ready for input, send DONE to end\r\n");

	csend("list schedule today 8:00 10:00\r\n");
	xd_expect(IMSG_XEXEC_INPUT, id, &m);
	ATF_CHECK_EQ(m.pid, CHAN_COUNTED);
	ATF_CHECK_STREQ(m.data, "list schedule today 8:00 10:00\n");
	xd_output(id, "8:00 make coffee\n9:00 meeting with boss\n"
	    "9:30 Call Joe Blow at 415-555-1212\n");
	expect(&cli, "* OK 8:00 make coffee\r\n"
	    "* OK 9:00 meeting with boss\r\n"
	    "* OK 9:30 Call Joe Blow at 415-555-1212\r\n");

	/* "\DONE" is the line DONE; a literal carries any bytes */
	csend("\\DONE\r\n\\\\x\r\n\r\nbin {4}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend("a\r\n}");
	csend(" tail {0}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend("\r\n");
	while (inlen < 24) {
		xd_expect(IMSG_XEXEC_INPUT, id, &m);
		ATF_REQUIRE(inlen + m.len < sizeof(in));
		memcpy(in + inlen, m.data, m.len);
		inlen += m.len;
	}
	ATF_CHECK_EQ(inlen, 24);
	ATF_CHECK_MSG(memcmp(in, "DONE\n\\x\n\nbin a\r\n} tail \n", 24) == 0,
	    "module got '%s'", vis(in, inlen));

	/* DONE ends the input; the next command waits for the end */
	csend("done\r\n101 NOOP\r\n");
	xd_expect(IMSG_XEXEC_EOF, id, NULL);
	quiet(&be);
	xd_output(id, "bye\n");
	expect(&cli, "* OK bye\r\n");
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "100 OK command exited successfully\r\n");
	expect(&be, "101 NOOP\r\n");
	bsend("101 OK NOOP completed\r\n");
	expect(&cli, "101 OK NOOP completed\r\n");
	xd_quiet();
	stop();
}

/* The module ends first: the client still ends with DONE. */
ATF_TC_WITHOUT_HEAD(interactive_module_ends);
ATF_TC_BODY(interactive_module_ends, tc)
{
	struct xmsg	 m;
	uint32_t	 id;

	start();
	csend("100 XEXEC calendar\r\n");
	id = xd_run("calendar", 1, 0, NULL);
	expect(&cli, "+ Ready for input, send DONE to end\r\n");
	csend("quit\r\n");
	xd_expect(IMSG_XEXEC_INPUT, id, &m);
	ATF_CHECK_STREQ(m.data, "quit\n");
	xd_output(id, "ok");
	xd_done(id, XEXEC_EXITED, 2, "");
	expect(&cli, "* OK ok\r\n* OK [XEXEC ENDED] Module ended, send DONE"
	    "\r\n");
	/* a line in flight is dropped, never taken for a command */
	csend("a1 LOGOUT\r\n");
	quiet(&cli);
	csend("DONE\r\n");
	expect(&cli, "100 NO [XEXEC EXIT 2] command exited with status 2\r\n");
	xd_quiet();
	quiet(&be);
	noop_ok("101");
	stop();
}

/* Interactive input waits for the window; the client is paused meanwhile. */
ATF_TC_WITHOUT_HEAD(interactive_backpressure);
ATF_TC_BODY(interactive_backpressure, tc)
{
	struct xmsg	 m;
	char		*lit, hdr[64];
	size_t		 got = 0;
	uint32_t	 id;
	int		 i;

	start();
	csend("100 XEXEC calendar\r\n");
	id = xd_run("calendar", 1, 0, NULL);
	expect(&cli, "+ Ready for input, send DONE to end\r\n");
	/* 300 KB of stdin: more than the window */
	lit = repeat('z', 100000);
	for (i = 0; i < 3; i++) {
		(void)snprintf(hdr, sizeof(hdr), "{%d+}\r\n", 100000);
		csend(hdr);
		csend(lit);
		csend("\r\n");
	}
	csend("DONE\r\n");
	/* execd reads, then credits, as chan.c does */
	while (got < 300003) {
		xd_expect(IMSG_XEXEC_INPUT, id, &m);
		ATF_CHECK(m.len <= IMAPX_CHUNK_MAX);
		got += m.len;
		if (got % (64 * 1024) < m.len) {
			struct imsg_credit	cr = { 64 * 1024 };

			xd_send(IMSG_CREDIT, 0, &cr, sizeof(cr));
		}
	}
	ATF_CHECK_EQ(got, 300003);
	xd_expect(IMSG_XEXEC_EOF, id, NULL);
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "100 OK command exited successfully\r\n");
	free(lit);
	stop();
}

/* A slow client holds back some of execd's window, never all of it. */
ATF_TC_WITHOUT_HEAD(output_backpressure);
ATF_TC_BODY(output_backpressure, tc)
{
	char		*chunk;
	size_t		 sent = 0, total = 0;
	uint32_t	 id;
	int		 i;

	start();
	csend("a XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	chunk = repeat('o', 8000);
	chunk[7999] = '\n';
	cli.stalled = 1;
	for (i = 0; i < 128; i++) {
		xd_send(IMSG_XEXEC_OUTPUT, id, chunk, 8000);
		sent += 8000;
	}
	for (i = 0; i < 10; i++)
		xd_quiet();	/* the front end reads it all */
	ATF_CHECK(cli.len == 0);
	/* at most a run's share held, and a quarter window not batched */
	ATF_CHECK_MSG(sent - credited <= CHAN_WINDOW / 8 + CHAN_WINDOW / 4,
	    "sent %zu, credited %zu", sent, credited);

	/* the client reads: the rest of the credit comes back */
	cli.stalled = 0;
	for (i = 0; i < 20; i++) {
		pump();
		total += cli.len;
		cli.len = 0;
		usleep(60 * 1000);
	}
	xd_quiet();
	/* each line: 8 pieces "* OK " 999 "\\" CRLF and "* OK " 7 CRLF */
	ATF_CHECK_EQ(total, 128 * (8 * 1007 + 14));
	ATF_CHECK_MSG(sent - credited < CHAN_WINDOW / 4,
	    "sent %zu, credited %zu", sent, credited);
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "a OK command exited successfully\r\n");
	free(chunk);
	stop();
}

/* Our lines never land inside a backend response. */
ATF_TC_WITHOUT_HEAD(output_waits_for_backend);
ATF_TC_BODY(output_waits_for_backend, tc)
{
	uint32_t	id;

	start();
	csend("f FETCH 1 BODY[]\r\n");
	expect(&be, "f FETCH 1 BODY[]\r\n");
	bsend("* 1 FETCH (BODY[] {10}\r\nhel");
	expect(&cli, "* 1 FETCH (BODY[] {10}\r\nhel");
	csend("a XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_output(id, "line\n");
	xd_done(id, XEXEC_EXITED, 0, "");
	quiet(&cli);
	bsend("lo\r\nworl)\r\n");
	expect(&cli, "lo\r\nworl)\r\n* OK line\r\n"
	    "a OK command exited successfully\r\n");
	bsend("f OK done\r\n");
	expect(&cli, "f OK done\r\n");
	stop();
}

/*
 * execd goes away mid-run: NO [UNAVAILABLE], IMAP goes on, XEXEC works
 * again once it is back.
 */
ATF_TC_WITHOUT_HEAD(execd_restart);
ATF_TC_BODY(execd_restart, tc)
{
	static const char *const args[] = { "add", "x" };
	uint32_t	id;
	int		i;

	start();
	csend("a XEXEC blacklist add x\r\n");
	(void)xd_run("blacklist", 0, 2, args);
	execd_down();
	for (i = 0; i < 10 && fe_service_up(PROC_EXECD); i++)
		pump();
	ATF_REQUIRE(!fe_service_up(PROC_EXECD));
	/*
	 * frontend.c's service_closed() does this for every session in
	 * its tree; a session built by hand is not in it.
	 */
	lcmd_gone(sess);
	expect(&cli, "a NO [UNAVAILABLE] Service went away, try again "
	    "later\r\n");
	noop_ok("b");
	csend("c XEXEC blacklist\r\n");
	expect(&cli, "c NO [UNAVAILABLE] Service not available, try again "
	    "later\r\n");
	/* while a command waits for its list, too */
	execd_up();
	csend("d XEXEC\r\n");
	(void)xd_list();
	execd_down();
	for (i = 0; i < 10 && fe_service_up(PROC_EXECD); i++)
		pump();
	lcmd_gone(sess);
	expect(&cli, "d NO [UNAVAILABLE] Service went away, try again "
	    "later\r\n");

	execd_up();
	csend("e XEXEC blacklist add x\r\n");
	id = xd_run("blacklist", 0, 2, args);
	xd_done(id, XEXEC_EXITED, 0, "");
	expect(&cli, "e OK command exited successfully\r\n");
	quiet(&be);
	stop();
}

/*
 * execd goes away during an interactive session: it ends as when the
 * module ends, and NO [UNAVAILABLE] follows the client's DONE, so that
 * the lines the client is sending for the module are never taken for
 * commands.  A client that said DONE already is answered at once.
 */
ATF_TC_WITHOUT_HEAD(execd_gone_interactive);
ATF_TC_BODY(execd_gone_interactive, tc)
{
	uint32_t	id;
	int		i;

	start();
	csend("100 XEXEC calendar\r\n");
	id = xd_run("calendar", 1, 0, NULL);
	expect(&cli, "+ Ready for input, send DONE to end\r\n");
	xd_output(id, "half a line");
	execd_down();
	for (i = 0; i < 10 && fe_service_up(PROC_EXECD); i++)
		pump();
	ATF_REQUIRE(!fe_service_up(PROC_EXECD));
	lcmd_gone(sess);	/* as service_closed() */
	expect(&cli, "* OK half a line\r\n"
	    "* OK [XEXEC ENDED] Module ended, send DONE\r\n");
	/* lines in flight for the module: dropped, never commands */
	csend("add today 9:00 x\r\na1 CREATE pwned\r\nbin {3}\r\n");
	expect(&cli, "+ Ready for literal data\r\n");
	csend("a2 \r\n");
	quiet(&cli);
	quiet(&be);
	/* a second death changes nothing */
	lcmd_gone(sess);
	quiet(&cli);
	csend("DONE\r\n");
	expect(&cli, "100 NO [UNAVAILABLE] Service went away, try again "
	    "later\r\n");
	quiet(&be);
	noop_ok("101");

	/* DONE said, waiting for the module's end: answered at once */
	execd_up();
	csend("102 XEXEC calendar\r\n");
	id = xd_run("calendar", 1, 0, NULL);
	expect(&cli, "+ Ready for input, send DONE to end\r\n");
	csend("DONE\r\n103 NOOP\r\n");
	xd_expect(IMSG_XEXEC_EOF, id, NULL);
	execd_down();
	for (i = 0; i < 10 && fe_service_up(PROC_EXECD); i++)
		pump();
	lcmd_gone(sess);
	expect(&cli, "102 NO [UNAVAILABLE] Service went away, try again "
	    "later\r\n");
	expect(&be, "103 NOOP\r\n");
	bsend("103 OK NOOP completed\r\n");
	expect(&cli, "103 OK NOOP completed\r\n");
	stop();
}

/*
 * The session ends mid-run (here the backend goes away): the module is
 * cancelled.  (A client that hangs up while its XEXEC waits is not seen
 * before the answer: proxy.c does not read a client whose command waits.)
 */
ATF_TC_WITHOUT_HEAD(session_closes);
ATF_TC_BODY(session_closes, tc)
{
	uint32_t	id;

	start();
	csend("a XEXEC blacklist\r\n");
	id = xd_run("blacklist", 0, 0, NULL);
	xd_output(id, "working\n");
	expect(&cli, "* OK working\r\n");
	closing_ok = 1;
	ATF_REQUIRE(shutdown(be.fd, SHUT_WR) == 0);
	xd_expect(IMSG_XEXEC_CANCEL, id, NULL);
	/* its last words find no run */
	xd_output(id, "late\n");
	xd_done(id, XEXEC_SIGNALED, 15, "");
	xd_quiet();
	stop();
}

/* The client hangs up during an interactive session. */
ATF_TC_WITHOUT_HEAD(session_closes_interactive);
ATF_TC_BODY(session_closes_interactive, tc)
{
	uint32_t	id;

	start();
	csend("100 XEXEC calendar\r\n");
	id = xd_run("calendar", 1, 0, NULL);
	expect(&cli, "+ Ready for input, send DONE to end\r\n");
	closing_ok = 1;
	csend("half a li");
	ATF_REQUIRE(shutdown(cli.fd, SHUT_WR) == 0);
	xd_expect(IMSG_XEXEC_CANCEL, id, NULL);
	xd_quiet();
	stop();
}

/* Before login XEXEC is no command (login.c). */
ATF_TC_WITHOUT_HEAD(prelogin);
ATF_TC_BODY(prelogin, tc)
{
	char	*greeting;

	start();
	/* back to the start of a session: not logged in */
	proxy_free(sess);
	free(sess->user);
	sess->user = NULL;
	closing_ok = 1;
	login_start(sess);
	pump();
	ATF_REQUIRE(cli.len > 0);
	ATF_REQUIRE((greeting = strndup(cli.buf, cli.len)) != NULL);
	ATF_CHECK_MSG(strstr(greeting, "XEXEC") == NULL, "greeting '%s'",
	    greeting);
	free(greeting);
	cli.len = 0;
	csend("a XEXEC blacklist add joe@example.com\r\n");
	expect(&cli, "a BAD Command unknown or not valid before login\r\n");
	csend("b XEXEC\r\n");
	expect(&cli, "b BAD Command unknown or not valid before login\r\n");
	xd_quiet();
	quiet(&be);
	stop();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, seed_000);
	ATF_TP_ADD_TC(tp, case_insensitive);
	ATF_TP_ADD_TC(tp, exit_status);
	ATF_TP_ADD_TC(tp, ends);
	ATF_TP_ADD_TC(tp, output_escaped);
	ATF_TP_ADD_TC(tp, output_lines);
	ATF_TP_ADD_TC(tp, literal_args);
	ATF_TP_ADD_TC(tp, refused_too_big);
	ATF_TP_ADD_TC(tp, refused_too_many);
	ATF_TP_ADD_TC(tp, refused_syntax);
	ATF_TP_ADD_TC(tp, hostile_args);
	ATF_TP_ADD_TC(tp, nomodule);
	ATF_TP_ADD_TC(tp, list_modules);
	ATF_TP_ADD_TC(tp, interactive);
	ATF_TP_ADD_TC(tp, interactive_module_ends);
	ATF_TP_ADD_TC(tp, interactive_backpressure);
	ATF_TP_ADD_TC(tp, output_backpressure);
	ATF_TP_ADD_TC(tp, output_waits_for_backend);
	ATF_TP_ADD_TC(tp, execd_restart);
	ATF_TP_ADD_TC(tp, execd_gone_interactive);
	ATF_TP_ADD_TC(tp, session_closes);
	ATF_TP_ADD_TC(tp, session_closes_interactive);
	ATF_TP_ADD_TC(tp, prelogin);
	return atf_no_error();
}
