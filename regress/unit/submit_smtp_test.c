/*
 * submitd's SMTP client (submitd/smtp.c) against fakerelay.py: what the
 * relay receives (its command log and the messages it keeps) and what
 * done() reports, for each way a relay can answer.  No case measures
 * time: the stalls end by a timeout of 1 s or by a release file, and
 * the checks are on outcomes and their order only.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <atf-c.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tls.h>
#include <unistd.h>

#include "atf_lsan.h"
#include "smtp.h"

#define MAXRELAYS	4
#define MAXARGS		32
#define GUARD_SECS	120	/* a hung test fails instead of waiting */

struct relay {
	pid_t		 pid;
	int		 port;
	char		 name[32];
	char		 log[PATH_MAX];
	char		 spool[PATH_MAX];
	char		 release[PATH_MAX];
};

struct outcome {
	/* what to send from ready() */
	const char		*from;
	const char		*rcpt[256];
	size_t			 nrcpt;
	int			 fd;
	off_t			 size;
	int			 flags;
	int			 nosend;	/* only note ready() */
	off_t			 plain;		/* smtp_plain() after smtp_send() */
	off_t			 dots;		/* and its dots; 0: plain */
	int			 stepwise;	/* only smtp_begin() from
						   ready(), size for SIZE= */

	struct smtp_txn		*txn;
	int			 ready;
	struct smtp_caps	 caps;
	int			 done;		/* the order it ended in, 1.. */
	struct smtp_result	 res;
	struct smtp_badrcpt	 bad[8];
};

static struct relay	 relays[MAXRELAYS];
static int		 nrelays;
static int		 ndone;
static struct event	 guard;
static int		 guard_secs;
static struct tls_config *tlscfg;

static void
fmt(char *out, size_t len, const char *f, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, f);
	n = vsnprintf(out, len, f, ap);
	va_end(ap);
	ATF_REQUIRE(n >= 0 && (size_t)n < len);
}

static void
guard_cb(int fd, short ev, void *arg)
{
	atf_tc_fail("no outcome within %d s: the client hangs", guard_secs);
}

/* The test fails if it is still running secs seconds from now. */
static void
guard_arm(int secs)
{
	struct timeval	tv = { secs, 0 };

	guard_secs = secs;
	evtimer_add(&guard, &tv);
}

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	event_init();
	evtimer_set(&guard, guard_cb, NULL);
	guard_arm(GUARD_SECS);
	ATF_REQUIRE(tls_init() == 0);
	nrelays = 0;
	ndone = 0;
}

static void
teardown(void)
{
	int	i, status;

	for (i = 0; i < nrelays; i++) {
		kill(relays[i].pid, SIGTERM);
		(void)waitpid(relays[i].pid, &status, 0);
	}
	nrelays = 0;
	evtimer_del(&guard);
	if (tlscfg != NULL) {
		tls_config_free(tlscfg);
		tlscfg = NULL;
	}
}

static const char *
fakerelay_path(const atf_tc_t *tc)
{
	static char	 path[PATH_MAX];
	const char	*src = atf_tc_get_config_var(tc, "srcdir");

	fmt(path, sizeof(path), "%s/fakerelay.py", src);
	if (access(path, R_OK) == 0)
		return path;
	fmt(path, sizeof(path), "%s/../../../regress/integration/fakerelay.py",
	    src);
	ATF_REQUIRE_MSG(access(path, R_OK) == 0, "fakerelay.py not found "
	    "near %s", src);
	return path;
}

static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*fp;
	char	*buf;
	long	 len;

	if ((fp = fopen(path, "rb")) == NULL) {
		if (lenp != NULL)
			*lenp = 0;
		return NULL;
	}
	ATF_REQUIRE(fseek(fp, 0, SEEK_END) == 0);
	ATF_REQUIRE((len = ftell(fp)) >= 0);
	rewind(fp);
	ATF_REQUIRE((buf = malloc(len + 1)) != NULL);
	ATF_REQUIRE(fread(buf, 1, len, fp) == (size_t)len);
	buf[len] = '\0';
	fclose(fp);
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

/*
 * Start fakerelay.py with the options given (NULL-terminated) and wait
 * until it listens.  It dies with the test process, whatever happens.
 */
static struct relay *
relay_start(const atf_tc_t *tc, const char *opt, ...)
{
	struct relay	*r;
	const char	*argv[MAXARGS];
	char		 portfile[PATH_MAX], *s;
	va_list		 ap;
	int		 argc = 0, i, status;
	pid_t		 pid;

	ATF_REQUIRE(nrelays < MAXRELAYS);
	r = &relays[nrelays];
	memset(r, 0, sizeof(*r));
	fmt(r->name, sizeof(r->name), "relay%d", nrelays);
	ATF_REQUIRE(mkdir(r->name, 0700) == 0);
	fmt(r->log, sizeof(r->log), "%s/log", r->name);
	fmt(r->spool, sizeof(r->spool), "%s/spool", r->name);
	fmt(r->release, sizeof(r->release), "%s/release", r->name);
	fmt(portfile, sizeof(portfile), "%s/port", r->name);
	ATF_REQUIRE(mkdir(r->spool, 0700) == 0);

	argv[argc++] = "python3";
	argv[argc++] = fakerelay_path(tc);
	argv[argc++] = "--port-file";
	argv[argc++] = portfile;
	argv[argc++] = "--log";
	argv[argc++] = r->log;
	argv[argc++] = "--spool";
	argv[argc++] = r->spool;
	argv[argc++] = "--release";
	argv[argc++] = r->release;
	va_start(ap, opt);
	for (; opt != NULL; opt = va_arg(ap, const char *)) {
		ATF_REQUIRE(argc < MAXARGS - 1);
		argv[argc++] = opt;
	}
	va_end(ap);
	argv[argc] = NULL;

	fflush(NULL);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		i = open("/dev/null", O_WRONLY);
		dup2(i, STDOUT_FILENO);
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	r->pid = pid;
	nrelays++;
	/* until it listens: a bound on tries, not a timed expectation */
	for (i = 0; i < 6000; i++) {
		if ((s = slurp(portfile, NULL)) != NULL) {
			r->port = atoi(s);
			free(s);
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			nrelays--;
			atf_tc_fail("fakerelay.py exited (status %#x): see "
			    "stderr", status);
		}
		usleep(10000);
	}
	ATF_REQUIRE_MSG(r->port > 0, "fakerelay.py did not start");
	return r;
}

static void
relay_release(struct relay *r)
{
	int	fd;

	ATF_REQUIRE((fd = open(r->release, O_WRONLY | O_CREAT, 0600)) != -1);
	close(fd);
}

static int
log_has(struct relay *r, const char *what)
{
	char	*log;
	int	 found;

	if ((log = slurp(r->log, NULL)) == NULL)
		return 0;
	found = strstr(log, what) != NULL;
	free(log);
	return found;
}

/* Wait for an event the relay logs after the client is gone. */
static void
log_wait(struct relay *r, const char *what, const char *what2)
{
	int	i;

	for (i = 0; i < 6000; i++) {
		if (log_has(r, what) || (what2 != NULL && log_has(r, what2)))
			return;
		usleep(10000);
	}
	atf_tc_fail("the relay never logged \"%s\"", what);
}

/* The messages the relay kept. */
static int
spool_count(struct relay *r)
{
	char	path[PATH_MAX];
	int	k;

	for (k = 0;; k++) {
		fmt(path, sizeof(path), "%s/%d.eml", r->spool, k + 1);
		if (access(path, F_OK) == -1)
			return k;
	}
}

static char *
spool_file(struct relay *r, int k, const char *ext, size_t *len)
{
	char	path[PATH_MAX];

	fmt(path, sizeof(path), "%s/%d.%s", r->spool, k, ext);
	return slurp(path, len);
}

static int
msg_file(const void *data, size_t len)
{
	char	name[] = "msg.XXXXXX";
	int	fd;

	ATF_REQUIRE((fd = mkstemp(name)) != -1);
	ATF_REQUIRE(write(fd, data, len) == (ssize_t)len);
	return fd;
}

static void
conf_init(struct smtp_conf *conf, struct relay *r)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&conf->addr;

	memset(conf, 0, sizeof(*conf));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(r != NULL ? r->port : 0);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	conf->addrlen = sizeof(*sin);
	conf->helo = "client.test";
	conf->tls = SMTP_TLS_NO;
	conf->timeout = 30;
}

static void
on_ready(struct smtp_txn *txn, const struct smtp_caps *caps, void *arg)
{
	struct outcome	*o = arg;

	ATF_CHECK(!o->ready && !o->done);
	o->ready = 1;
	o->caps = *caps;
	if (o->stepwise)
		smtp_begin(txn, o->from, o->size, o->flags);
	else if (!o->nosend) {
		smtp_send(txn, o->from, (char *const *)o->rcpt, o->nrcpt,
		    o->fd, o->size, o->flags);
		if (o->plain > 0)
			smtp_plain(txn, o->plain, o->dots > 0 ? o->dots :
			    o->plain);
	}
}

static void
on_done(struct smtp_txn *txn, const struct smtp_result *res, void *arg)
{
	struct outcome	*o = arg;
	size_t		 i;

	ATF_CHECK(!o->done);
	ATF_CHECK(txn == o->txn);
	o->done = ++ndone;
	o->res = *res;
	ATF_CHECK(res->nbad <= 8);
	for (i = 0; i < res->nbad && i < 8; i++)
		o->bad[i] = res->bad[i];
	o->res.bad = NULL;
	/* the text is one line of printable ASCII */
	for (i = 0; res->text[i] != '\0'; i++)
		ATF_CHECK(res->text[i] >= 0x20 && res->text[i] < 0x7f);
	smtp_free(txn);
}

/* An outcome that sends msg (size bytes) from alice to the recipients. */
static void
outcome_init(struct outcome *o, const char *msg, size_t size, ...)
{
	const char	*rcpt;
	va_list		 ap;

	memset(o, 0, sizeof(*o));
	o->from = "alice@example.test";
	va_start(ap, size);
	while ((rcpt = va_arg(ap, const char *)) != NULL)
		o->rcpt[o->nrcpt++] = rcpt;
	va_end(ap);
	if (o->nrcpt == 0)
		o->rcpt[o->nrcpt++] = "bob@example.test";
	o->fd = msg_file(msg, size);
	o->size = size;
}

static void
start(struct outcome *o, const struct smtp_conf *conf)
{
	ATF_REQUIRE((o->txn = smtp_open(conf, on_ready, on_done, o)) != NULL);
}

static void
run_until_done(struct outcome *o)
{
	while (!o->done)
		event_loop(EVLOOP_ONCE);
	if (o->fd > 0) {
		close(o->fd);
		o->fd = -1;
	}
}

/* One whole transaction. */
static void
transact(struct outcome *o, const struct smtp_conf *conf)
{
	start(o, conf);
	run_until_done(o);
}

static void
check_text(const struct outcome *o, const char *want)
{
	ATF_CHECK_MSG(strstr(o->res.text, want) != NULL,
	    "text \"%s\" lacks \"%s\"", o->res.text, want);
}

static void
check_ok(const struct outcome *o)
{
	ATF_CHECK_EQ_MSG(o->res.status, SMTP_OK, "status %d: %s",
	    o->res.status, o->res.text);
	ATF_CHECK_EQ(o->res.code, 250);
	ATF_CHECK_EQ(o->res.sent, 1);
	ATF_CHECK_EQ(o->res.nbad, 0);
	check_text(o, "relay: 250 2.0.0 ok: queued as");
}

static void
check_fail(const struct outcome *o, enum smtp_status status, int code,
    const char *text)
{
	ATF_CHECK_EQ_MSG(o->res.status, status, "status %d, want %d: %s",
	    o->res.status, status, o->res.text);
	ATF_CHECK_EQ_MSG(o->res.code, code, "code %d, want %d: %s",
	    o->res.code, code, o->res.text);
	check_text(o, text);
}

/* The relay kept message k, byte for byte what it should be. */
static void
check_kept(struct relay *r, int k, const char *want, size_t wantlen)
{
	char	*got;
	size_t	 len;

	got = spool_file(r, k, "eml", &len);
	ATF_REQUIRE_MSG(got != NULL, "the relay kept no message %d", k);
	ATF_CHECK_EQ_MSG(len, wantlen, "%zu bytes, want %zu", len, wantlen);
	ATF_CHECK(len == wantlen && memcmp(got, want, len) == 0);
	free(got);
}

static const char MSG[] =
    "From: alice@example.test\r\n"
    "To: bob@example.test\r\n"
    "Subject: dots\r\n"
    "\r\n"
    ".a line that starts with a dot\r\n"
    "..two dots\r\n"
    ".\r\n"
    "a dot . in the middle\r\n"
    ".\r\n"
    "\r\n"
    "the end\r\n";

/* Parsing, without a relay. */

ATF_TC_WITHOUT_HEAD(reply_line);
ATF_TC_BODY(reply_line, tc)
{
	const char	*text;
	int		 code, more;

	ATF_CHECK(smtp_reply_line("250-PIPELINING", 14, &code, &more,
	    &text) == 0);
	ATF_CHECK(code == 250 && more == 1 && strcmp(text, "PIPELINING") ==
	    0);
	ATF_CHECK(smtp_reply_line("354 go", 6, &code, &more, &text) == 0);
	ATF_CHECK(code == 354 && more == 0 && strcmp(text, "go") == 0);
	ATF_CHECK(smtp_reply_line("221", 3, &code, &more, &text) == 0);
	ATF_CHECK(code == 221 && more == 0 && *text == '\0');
	ATF_CHECK(smtp_reply_line("25", 2, &code, &more, &text) == -1);
	ATF_CHECK(smtp_reply_line("250x", 4, &code, &more, &text) == -1);
	ATF_CHECK(smtp_reply_line("150 no", 6, &code, &more, &text) == -1);
	ATF_CHECK(smtp_reply_line("260 no", 6, &code, &more, &text) == -1);
	ATF_CHECK(smtp_reply_line("2a0 no", 6, &code, &more, &text) == -1);
	ATF_CHECK(smtp_reply_line("250 a\rb", 7, &code, &more, &text) == -1);
	ATF_CHECK(smtp_reply_line("250 a\0b", 7, &code, &more, &text) == -1);
}

ATF_TC_WITHOUT_HEAD(ehlo_keywords);
ATF_TC_BODY(ehlo_keywords, tc)
{
	struct smtp_caps	c;
	const char		*lines[] = { "8bitmime", "SMTPUTF8",
				    "PIPELINING", "STARTTLS",
				    "AUTH LOGIN PLAIN", "SIZE 1000" };
	size_t			 i;

	memset(&c, 0, sizeof(c));
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		ATF_CHECK(smtp_ehlo_line(&c, lines[i], strlen(lines[i])) ==
		    1);
	ATF_CHECK(c.eightbitmime && c.smtputf8 && c.pipelining &&
	    c.starttls && c.auth_plain && c.size == 1000);

	memset(&c, 0, sizeof(c));
	ATF_CHECK(smtp_ehlo_line(&c, "AUTH=PLAIN", 10) == 1);
	ATF_CHECK(c.auth_plain);
	memset(&c, 0, sizeof(c));
	ATF_CHECK(smtp_ehlo_line(&c, "AUTH LOGIN PLAINX", 17) == 1);
	ATF_CHECK(!c.auth_plain);
	ATF_CHECK(smtp_ehlo_line(&c, "8BITMIMEX", 9) == 0);
	ATF_CHECK(!c.eightbitmime);
	ATF_CHECK(smtp_ehlo_line(&c, "SIZE", 4) == 1);
	ATF_CHECK(c.size == 0);
	ATF_CHECK(smtp_ehlo_line(&c, "SIZE 99999999999999999999999", 28) ==
	    1);
	ATF_CHECK(c.size == 0);
	ATF_CHECK(smtp_ehlo_line(&c, "SIZE 12x", 8) == 1);
	ATF_CHECK(c.size == 0);
	ATF_CHECK(smtp_ehlo_line(&c, "DSN", 3) == 0);
}

/* A plain relay: the message arrives byte-exact, the envelope too. */
ATF_TC_WITHOUT_HEAD(plain_ok);
ATF_TC_BODY(plain_ok, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			*env;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "bob@example.test",
	    "carol@example.test", NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(o.caps.esmtp && !o.caps.pipelining && !o.caps.tls &&
	    !o.caps.eightbitmime && o.caps.size == 0);
	ATF_CHECK_EQ(spool_count(r), 1);
	check_kept(r, 1, MSG, sizeof(MSG) - 1);
	ATF_REQUIRE((env = spool_file(r, 1, "env", NULL)) != NULL);
	ATF_CHECK_STREQ(env, "from alice@example.test\n"
	    "rcpt bob@example.test\nrcpt carol@example.test\n");
	free(env);
	ATF_CHECK(log_has(r, "C: EHLO client.test"));
	ATF_CHECK(!log_has(r, "* bare line end"));
	teardown();
}

/*
 * What the spool holds is sent with CRLF line ends whatever it has, and
 * ends in CRLF before the final dot; an empty message is just the dot.
 */
ATF_TC_WITHOUT_HEAD(line_ends);
ATF_TC_BODY(line_ends, tc)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "a\r\nb", "a\r\nb\r\n" },
		{ "a\nb\n", "a\r\nb\r\n" },
		{ "a\rb\r", "a\r\nb\r\n" },
		{ "a\n.\n", "a\r\n.\r\n" },
		{ ".", ".\r\n" },
		{ "", "" },
	};
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	size_t			 i;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		outcome_init(&o, cases[i].in, strlen(cases[i].in), NULL);
		transact(&o, &conf);
		check_ok(&o);
		check_kept(r, i + 1, cases[i].out, strlen(cases[i].out));
	}
	ATF_CHECK(!log_has(r, "* bare line end"));
	teardown();
}

/* A message larger than the buffers, many dots: still byte-exact. */
ATF_TC_WITHOUT_HEAD(large_message);
ATF_TC_BODY(large_message, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			*msg, *p;
	size_t			 len = 3 * 1024 * 1024 + 17, i;

	setup();
	r = relay_start(tc, "--pipelining", "--size", "100000000", NULL);
	conf_init(&conf, r);
	ATF_REQUIRE((msg = malloc(len)) != NULL);
	for (i = 0, p = msg; i < len; i++)
		*p++ = "..x\r\n.\r\nline\r\n"[i % 15];
	memcpy(msg + len - 2, "\r\n", 2);
	outcome_init(&o, msg, len, NULL);
	transact(&o, &conf);
	check_ok(&o);
	check_kept(r, 1, msg, len);
	ATF_CHECK(o.caps.size == 100000000);
	ATF_CHECK(log_has(r, "SIZE=3145745"));
	free(msg);
	teardown();
}

/*
 * Plain lines (smtp_plain()) go in pieces between the doubling dots,
 * the final "." with the last of them, as many writes as the socket
 * takes: byte-exact whether all of the message is plain or only its
 * start, small (read) or large (mapped), its dots anywhere, or only
 * before where the caller says the last one is.
 */
ATF_TC_WITHOUT_HEAD(plain_dots);
ATF_TC_BODY(plain_dots, tc)
{
	static const char	 pat[] = "..x\r\n.\r\nline\r\n";
	static const char	 small[] = ".one\r\ntwo\r\n.\r\n";
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			*msg;
	size_t			 len = 14 * 224687, i, k;
	const off_t		 plain[] = { 0, 5, 14 * 1000, 14 * 100000 };

	setup();
	r = relay_start(tc, "--pipelining", "--size", "100000000", NULL);
	conf_init(&conf, r);
	ATF_REQUIRE((msg = malloc(len)) != NULL);
	for (i = 0; i < len; i++)
		msg[i] = pat[i % (sizeof(pat) - 1)];
	for (k = 0; k < sizeof(plain) / sizeof(plain[0]); k++) {
		outcome_init(&o, msg, len, NULL);
		o.plain = plain[k] > 0 ? plain[k] : (off_t)len;
		transact(&o, &conf);
		check_ok(&o);
		check_kept(r, k + 1, msg, len);
	}
	/* dots only in the first 1000 patterns, and said so */
	for (i = 14 * 1000; i < len; i++)
		msg[i] = "xline\r\nyline\r\n"[i % 14];
	outcome_init(&o, msg, len, NULL);
	o.plain = len;
	o.dots = 14 * 999 + 6;
	transact(&o, &conf);
	check_ok(&o);
	check_kept(r, ++k, msg, len);
	/* a small message, plain to its end and to its first line */
	for (i = 0; i < 2; i++) {
		outcome_init(&o, small, sizeof(small) - 1, NULL);
		o.plain = i == 0 ? (off_t)sizeof(small) - 1 : 6;
		transact(&o, &conf);
		check_ok(&o);
		check_kept(r, k + 1 + i, small, sizeof(small) - 1);
	}
	ATF_CHECK(!log_has(r, "* bare line end"));
	free(msg);
	teardown();
}

/* RFC 2920: MAIL and every RCPT in one write when offered, else not. */
ATF_TC_WITHOUT_HEAD(pipelining_on);
ATF_TC_BODY(pipelining_on, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--pipelining", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "a@example.test",
	    "b@example.test", "c@example.test", NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(o.caps.pipelining);
	ATF_CHECK(log_has(r, "* pipelined"));
	check_kept(r, 1, MSG, sizeof(MSG) - 1);
	teardown();
}

ATF_TC_WITHOUT_HEAD(pipelining_off);
ATF_TC_BODY(pipelining_off, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			*env;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "a@example.test",
	    "b@example.test", "c@example.test", NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(!o.caps.pipelining);
	ATF_CHECK(!log_has(r, "* pipelined"));
	ATF_REQUIRE((env = spool_file(r, 1, "env", NULL)) != NULL);
	ATF_CHECK_STREQ(env, "from alice@example.test\nrcpt a@example.test\n"
	    "rcpt b@example.test\nrcpt c@example.test\n");
	free(env);
	teardown();
}

/* Many recipients pipelined: the replies are matched in order. */
ATF_TC_WITHOUT_HEAD(many_recipients);
ATF_TC_BODY(many_recipients, tc)
{
	static char		 addrs[200][32];
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	size_t			 i;

	setup();
	r = relay_start(tc, "--pipelining", "--refuse",
	    "u77@example.test=550:5.1.1 no u77", "--refuse",
	    "u150@example.test=450:4.2.1 try u150 later", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	o.nrcpt = 0;
	for (i = 0; i < 200; i++) {
		fmt(addrs[i], sizeof(addrs[i]), "u%zu@example.test", i);
		o.rcpt[o.nrcpt++] = addrs[i];
	}
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 550, "relay refused 2 of 200 "
	    "recipients (550 5.1.1 no u77)");
	ATF_REQUIRE_EQ(o.res.nbad, 2);
	ATF_CHECK_STREQ(o.bad[0].addr, "u77@example.test");
	ATF_CHECK_EQ(o.bad[0].code, 550);
	ATF_CHECK_STREQ(o.bad[0].text, "5.1.1 no u77");
	ATF_CHECK_STREQ(o.bad[1].addr, "u150@example.test");
	ATF_CHECK_EQ(o.bad[1].code, 450);
	ATF_CHECK_STREQ(o.bad[1].text, "4.2.1 try u150 later");
	ATF_CHECK(!log_has(r, "C: DATA"));
	teardown();
}

/* All or nothing: one refused recipient, RSET, no DATA, nobody gets it. */
static void
one_refused(const atf_tc_t *tc, int pipelining)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--refuse", "bad@example.test=550:5.1.1 no such "
	    "user", pipelining ? "--pipelining" : NULL, NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "good@example.test",
	    "bad@example.test", "other@example.test", NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 550, "relay refused 1 of 3 recipients");
	ATF_CHECK_EQ(o.res.sent, 0);
	ATF_REQUIRE_EQ(o.res.nbad, 1);
	ATF_CHECK_STREQ(o.bad[0].addr, "bad@example.test");
	ATF_CHECK_EQ(o.bad[0].code, 550);
	ATF_CHECK_STREQ(o.bad[0].text, "5.1.1 no such user");
	/* every RCPT was asked, then RSET, never DATA */
	ATF_CHECK(log_has(r, "C: RCPT TO:<other@example.test>"));
	ATF_CHECK(log_has(r, "C: RSET"));
	ATF_CHECK(!log_has(r, "C: DATA"));
	ATF_CHECK_EQ(spool_count(r), 0);
	teardown();
}

ATF_TC_WITHOUT_HEAD(rcpt_refused);
ATF_TC_BODY(rcpt_refused, tc)
{
	one_refused(tc, 0);
}

ATF_TC_WITHOUT_HEAD(rcpt_refused_pipelined);
ATF_TC_BODY(rcpt_refused_pipelined, tc)
{
	one_refused(tc, 1);
}

/* Every recipient refused, all temporarily: TEMPFAIL. */
ATF_TC_WITHOUT_HEAD(rcpt_all_temp);
ATF_TC_BODY(rcpt_all_temp, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--pipelining", "--refuse", "x@example.test=451",
	    "--refuse", "y@example.test=450:4.2.2 mailbox full", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "x@example.test",
	    "y@example.test", NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 451, "relay refused 2 of 2 recipients");
	ATF_REQUIRE_EQ(o.res.nbad, 2);
	ATF_CHECK_STREQ(o.bad[0].addr, "x@example.test");
	ATF_CHECK_EQ(o.bad[0].code, 451);
	ATF_CHECK_STREQ(o.bad[1].addr, "y@example.test");
	ATF_CHECK_EQ(o.bad[1].code, 450);
	ATF_CHECK_STREQ(o.bad[1].text, "4.2.2 mailbox full");
	ATF_CHECK(log_has(r, "C: RSET"));
	ATF_CHECK(!log_has(r, "C: DATA"));
	teardown();
}

/* A temporary and a permanent refusal: PERMFAIL, with the 5xx code. */
ATF_TC_WITHOUT_HEAD(rcpt_temp_and_perm);
ATF_TC_BODY(rcpt_temp_and_perm, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--refuse", "x@example.test=451", "--refuse",
	    "y@example.test=553", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "x@example.test",
	    "ok@example.test", "y@example.test", NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 553, "relay refused 2 of 3 recipients "
	    "(553 5.0.0 fakerelay says no to RCPT y@example.test)");
	ATF_REQUIRE_EQ(o.res.nbad, 2);
	ATF_CHECK_STREQ(o.bad[0].addr, "x@example.test");
	ATF_CHECK_STREQ(o.bad[1].addr, "y@example.test");
	ATF_CHECK(!log_has(r, "C: DATA"));
	teardown();
}

/* The sender refused: its reply, nothing more sent but QUIT. */
ATF_TC_WITHOUT_HEAD(mail_refused);
ATF_TC_BODY(mail_refused, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--pipelining", "--fail",
	    "mail=553:5.7.1 sender not allowed", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "a@example.test",
	    "b@example.test", NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 553,
	    "relay refused the sender: 553 5.7.1 sender not allowed");
	ATF_CHECK_EQ(o.res.nbad, 0);
	ATF_CHECK_EQ(o.res.sent, 0);
	ATF_CHECK(!log_has(r, "C: DATA"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(mail_tempfail);
ATF_TC_BODY(mail_tempfail, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--fail", "mail=452:4.3.1 Insufficient system "
	    "storage", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 452,
	    "relay refused the sender: 452 4.3.1 Insufficient system storage");
	ATF_CHECK(!log_has(r, "C: RCPT"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(data_refused);
ATF_TC_BODY(data_refused, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--fail", "data=554:5.5.0 no data today", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 554,
	    "relay refused DATA: 554 5.5.0 no data today");
	ATF_CHECK_EQ(o.res.sent, 0);
	ATF_CHECK_EQ(spool_count(r), 0);
	teardown();
}

/* Refused after the final dot: sent, and the relay's word. */
ATF_TC_WITHOUT_HEAD(dot_refused);
ATF_TC_BODY(dot_refused, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--fail", "dot=452:4.3.1 Insufficient system "
	    "storage", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 452, "relay refused the message: "
	    "452 4.3.1 Insufficient system storage");
	ATF_CHECK_EQ(o.res.sent, 1);
	ATF_CHECK(log_has(r, "* data"));
	ATF_CHECK_EQ(spool_count(r), 0);
	teardown();
}

ATF_TC_WITHOUT_HEAD(dot_refused_perm);
ATF_TC_BODY(dot_refused_perm, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--fail", "dot=554:5.7.1 spam", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 554, "554 5.7.1 spam");
	ATF_CHECK_EQ(o.res.sent, 1);
	teardown();
}

ATF_TC_WITHOUT_HEAD(greeting_refused);
ATF_TC_BODY(greeting_refused, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--fail", "greeting=554:no service for you",
	    NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 554, "554 no service for you");
	ATF_CHECK(!o.ready);
	ATF_CHECK(!log_has(r, "C: EHLO"));
	teardown();
}

/* EHLO refused with 5xx: HELO, and no extensions. */
ATF_TC_WITHOUT_HEAD(helo_fallback);
ATF_TC_BODY(helo_fallback, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--fail", "ehlo=502:5.5.2 what", "--pipelining",
	    "--8bitmime", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	o.flags = SMTP_BODY_8BITMIME;
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(!o.caps.esmtp && !o.caps.pipelining &&
	    !o.caps.eightbitmime);
	ATF_CHECK(log_has(r, "C: HELO client.test"));
	ATF_CHECK(!log_has(r, "BODY="));
	teardown();
}

ATF_TC_WITHOUT_HEAD(connect_refused);
ATF_TC_BODY(connect_refused, tc)
{
	struct smtp_conf	 conf;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct outcome		 o;
	int			 s;

	setup();
	/* a port that was free a moment ago and has no listener */
	ATF_REQUIRE((s = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ATF_REQUIRE(bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	ATF_REQUIRE(getsockname(s, (struct sockaddr *)&sin, &len) == 0);
	conf_init(&conf, NULL);
	((struct sockaddr_in *)&conf.addr)->sin_port = sin.sin_port;
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	close(s);
	check_fail(&o, SMTP_TEMPFAIL, 0,
	    "cannot connect to relay: Connection refused");
	ATF_CHECK(!o.ready);
	ATF_CHECK_EQ(o.res.sent, 0);
	teardown();
}

/* The relay hangs up in the middle: TEMPFAIL, nothing kept. */
ATF_TC_WITHOUT_HEAD(relay_closes);
ATF_TC_BODY(relay_closes, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--close", "rcpt", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 0, "relay closed the connection");
	ATF_CHECK_EQ(o.res.sent, 0);
	ATF_CHECK(!log_has(r, "C: DATA"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(relay_closes_in_body);
ATF_TC_BODY(relay_closes_in_body, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			*msg;
	size_t			 len = 4 * 1024 * 1024 - 1, i;

	setup();
	r = relay_start(tc, "--close", "body", NULL);
	conf_init(&conf, r);
	ATF_REQUIRE((msg = malloc(len)) != NULL);
	for (i = 0; i < len; i++)
		msg[i] = "x\r\n"[i % 3];
	outcome_init(&o, msg, len, NULL);
	transact(&o, &conf);
	ATF_CHECK_EQ_MSG(o.res.status, SMTP_TEMPFAIL, "%s", o.res.text);
	ATF_CHECK_MSG(strstr(o.res.text, "relay closed the connection") !=
	    NULL || strstr(o.res.text, "connection to relay failed") !=
	    NULL, "%s", o.res.text);
	ATF_CHECK_EQ(spool_count(r), 0);
	free(msg);
	teardown();
}

/* A stalled relay: each reply has conf->timeout seconds. */
ATF_TC_WITHOUT_HEAD(stall_timeout);
ATF_TC_BODY(stall_timeout, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--stall", "data", NULL);
	conf_init(&conf, r);
	conf.timeout = 1;
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 0, "relay did not answer within 1 s");
	ATF_CHECK_EQ(o.res.sent, 0);
	teardown();
}

/* No reply to the final dot: sent, outcome unknown, TEMPFAIL. */
ATF_TC_WITHOUT_HEAD(stall_after_dot);
ATF_TC_BODY(stall_after_dot, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--stall", "dot", NULL);
	conf_init(&conf, r);
	conf.timeout = 1;
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 0, "relay did not answer within 1 s");
	ATF_CHECK_EQ(o.res.sent, 1);
	teardown();
}

/* A reply line longer than the client takes: a protocol error. */
ATF_TC_WITHOUT_HEAD(long_reply_line);
ATF_TC_BODY(long_reply_line, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			 opt[6000];

	setup();
	memset(opt, 'x', sizeof(opt) - 1);
	opt[sizeof(opt) - 1] = '\0';
	memcpy(opt, "greeting=220:", 13);
	r = relay_start(tc, "--fail", opt, NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 0, "relay protocol error");
	ATF_CHECK(!o.ready);
	teardown();
}

/* SIZE: a message over the relay's limit is not even offered. */
ATF_TC_WITHOUT_HEAD(size_exceeded);
ATF_TC_BODY(size_exceeded, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			 want[64];

	setup();
	r = relay_start(tc, "--size", "100", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	ATF_CHECK(o.ready && o.caps.size == 100);
	check_fail(&o, SMTP_PERMFAIL, 0, "message too large for the relay");
	fmt(want, sizeof(want), "(%zu > 100)", sizeof(MSG) - 1);
	check_text(&o, want);
	ATF_CHECK(!log_has(r, "C: MAIL"));
	teardown();
}

/* BODY=8BITMIME only when asked for and offered. */
ATF_TC_WITHOUT_HEAD(body_8bitmime);
ATF_TC_BODY(body_8bitmime, tc)
{
	struct relay		*r, *plain;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--8bitmime", NULL);
	plain = relay_start(tc, NULL);

	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(o.caps.eightbitmime);
	ATF_CHECK(!log_has(r, "BODY=8BITMIME"));

	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	o.flags = SMTP_BODY_8BITMIME;
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(log_has(r, "C: MAIL FROM:<alice@example.test> "
	    "BODY=8BITMIME"));

	conf_init(&conf, plain);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	o.flags = SMTP_BODY_8BITMIME;
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(!o.caps.eightbitmime);
	ATF_CHECK(!log_has(plain, "BODY="));
	teardown();
}

/* SMTPUTF8 asked for: sent when offered, a refusal of ours when not. */
ATF_TC_WITHOUT_HEAD(smtputf8);
ATF_TC_BODY(smtputf8, tc)
{
	struct relay		*r, *plain;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--smtputf8", "--8bitmime", NULL);
	plain = relay_start(tc, "--8bitmime", NULL);

	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "j\xc3\xb6rg@example.test",
	    NULL);
	o.flags = SMTP_SMTPUTF8 | SMTP_BODY_8BITMIME;
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(log_has(r, "BODY=8BITMIME SMTPUTF8"));

	conf_init(&conf, plain);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	o.flags = SMTP_SMTPUTF8;
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 0, "relay does not offer SMTPUTF8");
	ATF_CHECK(!log_has(plain, "C: MAIL"));
	teardown();
}

/* Addresses that would break the command line never go out. */
ATF_TC_WITHOUT_HEAD(bad_address);
ATF_TC_BODY(bad_address, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "bob@example.test>\r\nDATA",
	    NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 0, "invalid recipient address");
	ATF_CHECK(!log_has(r, "C: MAIL"));
	teardown();
}

/* Certificates for the TLS cases: self-signed, for "localhost". */
static void
make_cert(void)
{
	ATF_REQUIRE_EQ(system("openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out "
	    "cert.pem -days 2 -subj /CN=localhost -addext "
	    "subjectAltName=DNS:localhost >/dev/null 2>&1"), 0);
}

static struct tls_config *
tls_noverify(void)
{
	ATF_REQUIRE((tlscfg = tls_config_new()) != NULL);
	tls_config_insecure_noverifycert(tlscfg);
	tls_config_insecure_noverifyname(tlscfg);
	return tlscfg;
}

/* STARTTLS when offered, then EHLO again and AUTH over TLS. */
ATF_TC_WITHOUT_HEAD(starttls);
ATF_TC_BODY(starttls, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	make_cert();
	r = relay_start(tc, "--starttls", "cert.pem", "key.pem",
	    "--require-tls", "--pipelining", "--auth", "u@example.test:s3cret",
	    NULL);
	conf_init(&conf, r);
	conf.tls = SMTP_TLS_STARTTLS;
	conf.tlscfg = tls_noverify();
	conf.auth_user = "u@example.test";
	conf.auth_pass = "s3cret";
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(o.caps.tls && !o.caps.starttls && o.caps.pipelining &&
	    o.caps.auth_plain);
	ATF_CHECK(log_has(r, "C: STARTTLS"));
	ATF_CHECK(log_has(r, "* tls\n1 C: EHLO client.test"));
	ATF_CHECK(log_has(r, "* auth ok"));
	ATF_CHECK(!log_has(r, "* injection"));
	check_kept(r, 1, MSG, sizeof(MSG) - 1);
	teardown();
}

/* STARTTLS (not REQUIRE) and a relay without it: plain text. */
ATF_TC_WITHOUT_HEAD(starttls_not_offered);
ATF_TC_BODY(starttls_not_offered, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	conf.tls = SMTP_TLS_STARTTLS;
	conf.tlscfg = tls_noverify();
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(!o.caps.tls);
	ATF_CHECK(!log_has(r, "C: STARTTLS"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(require_tls_not_offered);
ATF_TC_BODY(require_tls_not_offered, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--auth", "u:p", NULL);
	conf_init(&conf, r);
	conf.tls = SMTP_TLS_REQUIRE;
	conf.tlscfg = tls_noverify();
	conf.auth_user = "u";
	conf.auth_pass = "p";
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 0, "relay does not offer STARTTLS");
	ATF_CHECK(!o.ready);
	ATF_CHECK(!log_has(r, "C: AUTH"));
	ATF_CHECK(!log_has(r, "C: MAIL"));
	teardown();
}

/* STARTTLS refused by the relay: REQUIRE fails, STARTTLS goes on. */
ATF_TC_WITHOUT_HEAD(starttls_refused);
ATF_TC_BODY(starttls_refused, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	make_cert();
	r = relay_start(tc, "--starttls", "cert.pem", "key.pem", "--fail",
	    "starttls=454:4.7.0 TLS not available", NULL);
	conf_init(&conf, r);
	conf.tls = SMTP_TLS_STARTTLS;
	conf.tlscfg = tls_noverify();
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(!o.caps.tls);

	conf.tls = SMTP_TLS_REQUIRE;
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 454,
	    "relay refused STARTTLS: 454 4.7.0 TLS not available");
	teardown();
}

/* The certificate checks are tlscfg's: a CA file and a name. */
ATF_TC_WITHOUT_HEAD(tls_verify);
ATF_TC_BODY(tls_verify, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	make_cert();
	r = relay_start(tc, "--starttls", "cert.pem", "key.pem", NULL);
	ATF_REQUIRE((tlscfg = tls_config_new()) != NULL);
	ATF_REQUIRE(tls_config_set_ca_file(tlscfg, "cert.pem") == 0);
	conf_init(&conf, r);
	conf.tls = SMTP_TLS_REQUIRE;
	conf.tlscfg = tlscfg;
	conf.tlsname = "localhost";
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(o.caps.tls);

	conf.tlsname = "wrong.example.test";
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 0, "TLS handshake with relay failed");
	ATF_CHECK(!o.ready);
	ATF_CHECK_EQ(spool_count(r), 1);
	teardown();
}

ATF_TC_WITHOUT_HEAD(smtps);
ATF_TC_BODY(smtps, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	make_cert();
	r = relay_start(tc, "--smtps", "cert.pem", "key.pem", "--pipelining",
	    NULL);
	conf_init(&conf, r);
	conf.tls = SMTP_TLS_SMTPS;
	conf.tlscfg = tls_noverify();
	outcome_init(&o, MSG, sizeof(MSG) - 1, "a@example.test",
	    "b@example.test", NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(o.caps.tls && o.caps.pipelining);
	ATF_CHECK(!log_has(r, "C: STARTTLS"));
	check_kept(r, 1, MSG, sizeof(MSG) - 1);
	teardown();
}

ATF_TC_WITHOUT_HEAD(auth_plain);
ATF_TC_BODY(auth_plain, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--auth", "relayuser:pa ss:word", NULL);
	conf_init(&conf, r);
	conf.auth_user = "relayuser";
	conf.auth_pass = "pa ss:word";
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(o.caps.auth_plain);
	ATF_CHECK(log_has(r, "* auth ok"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(auth_refused);
ATF_TC_BODY(auth_refused, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--auth", "relayuser:right", NULL);
	conf_init(&conf, r);
	conf.auth_user = "relayuser";
	conf.auth_pass = "wrong";
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 535, "relay refused authentication: "
	    "535 5.7.8");
	ATF_CHECK(!o.ready);
	ATF_CHECK(log_has(r, "* auth failed"));
	ATF_CHECK(!log_has(r, "C: MAIL"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(auth_not_offered);
ATF_TC_BODY(auth_not_offered, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	conf.auth_user = "relayuser";
	conf.auth_pass = "secret";
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_PERMFAIL, 0, "relay does not offer AUTH PLAIN");
	ATF_CHECK(!log_has(r, "C: AUTH"));
	teardown();
}

/*
 * Abort in the middle of the message: the connection closes without the
 * final dot and the relay keeps nothing.  The relay stops reading once
 * the message has begun, so the client is certainly inside DATA, with
 * far more left than the socket buffers hold.
 */
ATF_TC_WITHOUT_HEAD(abort_mid_data);
ATF_TC_BODY(abort_mid_data, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			*msg;
	size_t			 len = 48 * 1024 * 1024, i;

	setup();
	r = relay_start(tc, "--stall", "body", NULL);
	conf_init(&conf, r);
	conf.timeout = 600;
	ATF_REQUIRE((msg = malloc(len)) != NULL);
	for (i = 0; i < len; i++)
		msg[i] = "line of text\r\n"[i % 14];
	outcome_init(&o, msg, len, NULL);
	free(msg);
	start(&o, &conf);
	while (!log_has(r, "* stall body")) {
		ATF_REQUIRE(!o.done);
		event_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ATF_REQUIRE(!o.done);
	smtp_abort(o.txn);
	relay_release(r);
	/* the relay reads on and finds the end without a dot */
	log_wait(r, "* eof in data", "* error");
	ATF_CHECK(!log_has(r, "* data "));
	ATF_CHECK_EQ(spool_count(r), 0);
	/* no callback after the abort */
	event_loop(EVLOOP_NONBLOCK);
	ATF_CHECK(!o.done);
	close(o.fd);
	teardown();
}

/* Abort before anything happened: no callback, nothing left behind. */
ATF_TC_WITHOUT_HEAD(abort_early);
ATF_TC_BODY(abort_early, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o, o2;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	start(&o, &conf);
	smtp_abort(o.txn);

	/* and one waiting for smtp_send() */
	outcome_init(&o2, MSG, sizeof(MSG) - 1, NULL);
	o2.nosend = 1;
	start(&o2, &conf);
	while (!o2.ready)
		event_loop(EVLOOP_ONCE);
	smtp_abort(o2.txn);
	event_loop(EVLOOP_NONBLOCK);
	ATF_CHECK(!o.ready && !o.done && !o2.done);
	close(o.fd);
	close(o2.fd);
	teardown();
}

/*
 * Two transactions in one process: one relay stalls, the other's
 * transaction completes meanwhile; the stalled one completes when let
 * go.
 */
ATF_TC_WITHOUT_HEAD(concurrent);
ATF_TC_BODY(concurrent, tc)
{
	struct relay		*slow, *fast;
	struct smtp_conf	 cslow, cfast;
	struct outcome		 os, of;

	setup();
	slow = relay_start(tc, "--stall", "mail", NULL);
	fast = relay_start(tc, "--pipelining", NULL);
	conf_init(&cslow, slow);
	conf_init(&cfast, fast);
	cslow.timeout = 600;
	outcome_init(&os, MSG, sizeof(MSG) - 1, NULL);
	outcome_init(&of, MSG, sizeof(MSG) - 1, NULL);
	start(&os, &cslow);
	/* the slow one is stuck before the fast one starts */
	while (!log_has(slow, "* stall mail")) {
		event_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	start(&of, &cfast);
	run_until_done(&of);
	check_ok(&of);
	ATF_CHECK(!os.done);
	relay_release(slow);
	run_until_done(&os);
	check_ok(&os);
	ATF_CHECK(of.done < os.done);
	check_kept(slow, 1, MSG, sizeof(MSG) - 1);
	check_kept(fast, 1, MSG, sizeof(MSG) - 1);
	teardown();
}

/*
 * The stepwise API, for a message relayed while it arrives: MAIL from
 * smtp_begin() in ready(), the recipients (smtp_rcpt()) and the message
 * (written to its file, announced by smtp_more()) when the test says.
 * With --data-progress the relay logs "* got N" when it holds N bytes
 * of the message and waits for more: the test waits for that before it
 * writes the next piece.
 */

/*
 * A message in pieces: a CRLF split across the first boundary, dots at
 * the start of the lines on both sides of the second.
 */
static const char *const PIECES[] = {
	"From: alice@example.test\r\n"
	"To: bob@example.test\r\n"
	"Subject: pieces\r\n"
	"\r\n"
	"the first line ends in the next piece\r",
	"\n"
	".a dot after the split line end\r\n"
	"..two dots\r\n",
	".the last piece starts with a dot\r\n"
	".\r\n"
	"the end\r\n"
};

/* An outcome in steps, with an empty message file; size for SIZE=. */
static void
stepwise_init(struct outcome *o, off_t size)
{
	outcome_init(o, "", 0, NULL);
	o->stepwise = 1;
	o->size = size;
}

/* Run the loop until the relay logged `what`, the transaction going on. */
static void
loop_until_log(struct outcome *o, struct relay *r, const char *what)
{
	while (!log_has(r, what)) {
		ATF_REQUIRE_MSG(!o->done, "done before the relay logged "
		    "\"%.*s\": %s", (int)strcspn(what, "\n"), what,
		    o->res.text);
		event_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* Until the relay holds the first n bytes of the message, and waits. */
static void
loop_until_got(struct outcome *o, struct relay *r, size_t n)
{
	char	what[64];

	fmt(what, sizeof(what), "* got %zu\n", n);
	loop_until_log(o, r, what);
}

static void
pause_cb(int fd, short ev, void *arg)
{
	*(int *)arg = 1;
}

/* Run the loop for secs seconds: the transaction waits for the test. */
static void
loop_for(struct outcome *o, int secs)
{
	struct event	ev;
	struct timeval	tv = { secs, 0 };
	int		over = 0;

	evtimer_set(&ev, pause_cb, &over);
	evtimer_add(&ev, &tv);
	while (!over && !o->done)
		event_loop(EVLOOP_ONCE);
	evtimer_del(&ev);
	ATF_REQUIRE_MSG(!o->done, "done while it waited for the caller: %s",
	    o->res.text);
}

static void
give_rcpt(struct outcome *o)
{
	smtp_rcpt(o->txn, (char *const *)o->rcpt, o->nrcpt, o->fd);
}

/* Write p at the end of the message file; smtp_more() with all of it. */
static void
feed(struct outcome *o, const char *p, int complete)
{
	size_t	len = strlen(p);
	off_t	end;

	ATF_REQUIRE(write(o->fd, p, len) == (ssize_t)len);
	ATF_REQUIRE((end = lseek(o->fd, 0, SEEK_CUR)) != -1);
	smtp_more(o->txn, end, complete);
}

static size_t
pieces_whole(char *buf, size_t len)
{
	fmt(buf, len, "%s%s%s", PIECES[0], PIECES[1], PIECES[2]);
	return strlen(buf);
}

/*
 * smtp_begin() sends MAIL alone; RCPT and DATA go once the recipients
 * come, before any byte of the message; each piece is on the wire
 * before the next is written, and the final dot only after the last.
 * The relay keeps exactly the whole message, dot-stuffing undone and
 * the line end split between two pieces whole.
 */
ATF_TC_WITHOUT_HEAD(stream_pieces);
ATF_TC_BODY(stream_pieces, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			 whole[512], *env;
	size_t			 len;

	setup();
	r = relay_start(tc, "--data-progress", NULL);
	conf_init(&conf, r);
	stepwise_init(&o, 0);
	start(&o, &conf);
	loop_until_log(&o, r, "S: 250 2.1.0 sender ok");
	ATF_CHECK(!log_has(r, "C: RCPT"));
	give_rcpt(&o);
	/* the file is still empty */
	loop_until_log(&o, r, "S: 354 ");
	feed(&o, PIECES[0], 0);
	/* the relay has the complete lines; the lone CR waits */
	loop_until_got(&o, r, strrchr(PIECES[0], '\n') - PIECES[0] + 1);
	feed(&o, PIECES[1], 0);
	loop_until_got(&o, r, strlen(PIECES[0]) + strlen(PIECES[1]));
	ATF_CHECK(!log_has(r, "* data "));
	feed(&o, PIECES[2], 1);
	run_until_done(&o);
	check_ok(&o);
	ATF_CHECK_EQ(o.res.sent, 1);
	len = pieces_whole(whole, sizeof(whole));
	ATF_CHECK_EQ(spool_count(r), 1);
	check_kept(r, 1, whole, len);
	ATF_REQUIRE((env = spool_file(r, 1, "env", NULL)) != NULL);
	ATF_CHECK_STREQ(env, "from alice@example.test\n"
	    "rcpt bob@example.test\n");
	free(env);
	ATF_CHECK(!log_has(r, "* bare line end"));
	teardown();
}

/*
 * The recipients and the whole message come while MAIL waits for its
 * reply: with PIPELINING the RCPTs go behind MAIL together, without it
 * one by one after its reply; the message arrives whole either way.
 */
static void
rcpt_early(const atf_tc_t *tc, int pipelining)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			*env;

	setup();
	r = relay_start(tc, "--stall", "mail", pipelining ? "--pipelining" :
	    NULL, NULL);
	conf_init(&conf, r);
	stepwise_init(&o, 0);
	o.rcpt[o.nrcpt++] = "carol@example.test";
	start(&o, &conf);
	loop_until_log(&o, r, "* stall mail");
	give_rcpt(&o);
	feed(&o, MSG, 1);
	relay_release(r);
	run_until_done(&o);
	check_ok(&o);
	check_kept(r, 1, MSG, sizeof(MSG) - 1);
	ATF_REQUIRE((env = spool_file(r, 1, "env", NULL)) != NULL);
	ATF_CHECK_STREQ(env, "from alice@example.test\n"
	    "rcpt bob@example.test\nrcpt carol@example.test\n");
	free(env);
	ATF_CHECK_EQ(log_has(r, "* pipelined"), pipelining);
	teardown();
}

ATF_TC_WITHOUT_HEAD(stream_rcpt_early);
ATF_TC_BODY(stream_rcpt_early, tc)
{
	rcpt_early(tc, 0);
}

ATF_TC_WITHOUT_HEAD(stream_rcpt_early_pipelined);
ATF_TC_BODY(stream_rcpt_early_pipelined, tc)
{
	rcpt_early(tc, 1);
}

/* SIZE= is smtp_begin()'s estimate; none at all for 0. */
ATF_TC_WITHOUT_HEAD(stream_size);
ATF_TC_BODY(stream_size, tc)
{
	static const off_t	 sizes[] = { 0, 777 };
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	size_t			 i;

	setup();
	r = relay_start(tc, "--size", "100000", NULL);
	conf_init(&conf, r);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		stepwise_init(&o, sizes[i]);
		start(&o, &conf);
		while (!o.ready)
			event_loop(EVLOOP_ONCE);
		give_rcpt(&o);
		feed(&o, MSG, 1);
		run_until_done(&o);
		check_ok(&o);
		ATF_CHECK(o.caps.size == 100000);
		check_kept(r, i + 1, MSG, sizeof(MSG) - 1);
	}
	ATF_CHECK(log_has(r, "C: MAIL FROM:<alice@example.test>\n"));
	ATF_CHECK(log_has(r, "C: MAIL FROM:<alice@example.test> SIZE=777\n"));
	ATF_CHECK(!log_has(r, "SIZE=0"));
	teardown();
}

/*
 * No clock runs while the transaction waits for the test: with a
 * timeout of 1 s, it waits 2 s for its recipients and 2 s in the
 * middle of the message, and still succeeds.
 */
ATF_TC_WITHOUT_HEAD(stream_untimed);
ATF_TC_BODY(stream_untimed, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	char			 whole[512];
	size_t			 len;

	setup();
	r = relay_start(tc, "--data-progress", NULL);
	conf_init(&conf, r);
	conf.timeout = 1;
	stepwise_init(&o, 0);
	start(&o, &conf);
	loop_until_log(&o, r, "S: 250 2.1.0 sender ok");
	loop_for(&o, 2);
	give_rcpt(&o);
	feed(&o, PIECES[0], 0);
	loop_until_got(&o, r, strrchr(PIECES[0], '\n') - PIECES[0] + 1);
	loop_for(&o, 2);
	feed(&o, PIECES[1], 0);
	feed(&o, PIECES[2], 1);
	run_until_done(&o);
	check_ok(&o);
	len = pieces_whole(whole, sizeof(whole));
	check_kept(r, 1, whole, len);
	teardown();
}

/*
 * Abort while the transaction waits for more of the message: the
 * relay holds what smtp_more() allowed (not the rest of the file), then
 * sees the connection end without the final dot and keeps nothing.
 */
ATF_TC_WITHOUT_HEAD(stream_abort_starved);
ATF_TC_BODY(stream_abort_starved, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	size_t			 avail;

	setup();
	r = relay_start(tc, "--data-progress", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	o.stepwise = 1;
	start(&o, &conf);
	loop_until_log(&o, r, "S: 250 2.1.0 sender ok");
	give_rcpt(&o);
	/* the header and its empty line */
	avail = strstr(MSG, "\r\n\r\n") - MSG + 4;
	smtp_more(o.txn, avail, 0);
	loop_until_got(&o, r, avail);
	smtp_abort(o.txn);
	log_wait(r, "* eof in data", "* error");
	ATF_CHECK(!log_has(r, "* data "));
	ATF_CHECK_EQ(spool_count(r), 0);
	/* no callback after the abort */
	event_loop(EVLOOP_NONBLOCK);
	ATF_CHECK(!o.done);
	close(o.fd);
	teardown();
}

/*
 * The relay gives up while the transaction waits for its recipients
 * (MAIL taken): it hangs up, or says 421 and hangs up, once the client
 * has had a second to take the reply to MAIL and wait.  done() comes
 * by itself, TEMPFAIL with no code and nothing sent.
 */
static void
envelope_lost(const atf_tc_t *tc, const char *opt, const char *text)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, opt, "mail", NULL);
	conf_init(&conf, r);
	stepwise_init(&o, 0);
	start(&o, &conf);
	loop_until_log(&o, r, "* stall after mail");
	loop_for(&o, 1);
	relay_release(r);
	run_until_done(&o);
	ATF_CHECK(o.ready);
	check_fail(&o, SMTP_TEMPFAIL, 0, text);
	ATF_CHECK_EQ(o.res.sent, 0);
	ATF_CHECK_EQ(o.res.nbad, 0);
	ATF_CHECK(log_has(r, "S: 250 2.1.0 sender ok"));
	ATF_CHECK(!log_has(r, "C: RCPT"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(stream_closed_envelope);
ATF_TC_BODY(stream_closed_envelope, tc)
{
	envelope_lost(tc, "--close-after", "relay closed the connection");
}

ATF_TC_WITHOUT_HEAD(stream_bye_envelope);
ATF_TC_BODY(stream_bye_envelope, tc)
{
	envelope_lost(tc, "--bye-after", "relay ended the transaction: 421 "
	    "4.4.2 fakerelay gives up after mail");
}

/*
 * The relay hangs up inside DATA while the transaction waits for more
 * of the message: done() comes by itself, as for a relay that gives up
 * between the commands (smtp.h), TEMPFAIL with no code and nothing
 * sent; the caller never has to write more to learn it.  A client
 * that looks at the connection sees the end at once; one that does not
 * would wait for ever, so the guard is short.
 */
ATF_TC_WITHOUT_HEAD(stream_closed_starved);
ATF_TC_BODY(stream_closed_starved, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--close", "body", NULL);
	conf_init(&conf, r);
	stepwise_init(&o, 0);
	start(&o, &conf);
	loop_until_log(&o, r, "S: 250 2.1.0 sender ok");
	give_rcpt(&o);
	loop_until_log(&o, r, "S: 354 ");
	feed(&o, PIECES[0], 0);
	loop_until_log(&o, r, "* close body");
	guard_arm(20);
	run_until_done(&o);
	check_fail(&o, SMTP_TEMPFAIL, 0, "relay closed the connection");
	ATF_CHECK_EQ(o.res.sent, 0);
	ATF_CHECK_EQ(spool_count(r), 0);
	teardown();
}

/*
 * Connection reuse.  The relay's log names the connection first ("2 C:
 * EHLO" is the second connection's EHLO).
 */

/* One connection for messages in a row: one EHLO, no QUIT between. */
ATF_TC_WITHOUT_HEAD(reuse);
ATF_TC_BODY(reuse, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	int			 i;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	for (i = 0; i < 3; i++) {
		outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
		transact(&o, &conf);
		check_ok(&o);
		check_kept(r, i + 1, MSG, sizeof(MSG) - 1);
	}
	ATF_CHECK(log_has(r, "1 C: EHLO client.test"));
	ATF_CHECK(!log_has(r, "2 C: EHLO"));
	ATF_CHECK(!log_has(r, "1 C: QUIT"));
	teardown();
}

/* After refused recipients and the RSET, the connection serves on. */
ATF_TC_WITHOUT_HEAD(reuse_after_rset);
ATF_TC_BODY(reuse_after_rset, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--refuse", "nobody@example.test=550:5.1.1 no",
	    NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, "bob@example.test",
	    "nobody@example.test", NULL);
	transact(&o, &conf);
	ATF_CHECK_EQ(o.res.status, SMTP_PERMFAIL);
	ATF_CHECK_EQ(o.res.nbad, 1);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	check_kept(r, 1, MSG, sizeof(MSG) - 1);
	ATF_CHECK(log_has(r, "1 C: RSET"));
	ATF_CHECK(!log_has(r, "2 C: EHLO"));
	teardown();
}

/* A failed transaction's connection is not kept: QUIT, then a new one. */
ATF_TC_WITHOUT_HEAD(reuse_not_after_failure);
ATF_TC_BODY(reuse_not_after_failure, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;

	setup();
	r = relay_start(tc, "--fail", "mail=451:4.3.0 try later", NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 451, "try later");
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_fail(&o, SMTP_TEMPFAIL, 451, "try later");
	log_wait(r, "1 C: QUIT", NULL);
	ATF_CHECK(log_has(r, "2 C: EHLO"));
	teardown();
}

/* At most SMTP_REUSE_MAX transactions on one connection. */
ATF_TC_WITHOUT_HEAD(reuse_limit);
ATF_TC_BODY(reuse_limit, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	int			 i;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	for (i = 0; i < SMTP_REUSE_MAX + 1; i++) {
		outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
		transact(&o, &conf);
		check_ok(&o);
	}
	ATF_CHECK_EQ(spool_count(r), SMTP_REUSE_MAX + 1);
	log_wait(r, "1 C: QUIT", NULL);
	ATF_CHECK(log_has(r, "2 C: EHLO"));
	ATF_CHECK(!log_has(r, "3 C: EHLO"));
	teardown();
}

/*
 * A kept connection the relay ends when the next transaction begins,
 * with a 421 to MAIL or by hanging up: the transaction goes on a new
 * connection, and the relay keeps the message once.
 */
static void
reuse_lost(const atf_tc_t *tc, const char *opt)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	int			 i;

	setup();
	r = relay_start(tc, opt, "1", NULL);
	conf_init(&conf, r);
	for (i = 0; i < 3; i++) {
		outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
		transact(&o, &conf);
		check_ok(&o);
		check_kept(r, i + 1, MSG, sizeof(MSG) - 1);
	}
	ATF_CHECK_EQ(spool_count(r), 3);
	ATF_CHECK(log_has(r, "1 * session end"));
	ATF_CHECK(log_has(r, "3 C: EHLO"));
	teardown();
}

ATF_TC_WITHOUT_HEAD(reuse_421);
ATF_TC_BODY(reuse_421, tc)
{
	reuse_lost(tc, "--session-mails");
}

ATF_TC_WITHOUT_HEAD(reuse_hangup);
ATF_TC_BODY(reuse_hangup, tc)
{
	reuse_lost(tc, "--hangup-mails");
}

/* The relay hangs up after each message, while the connection is idle. */
ATF_TC_WITHOUT_HEAD(reuse_closed_idle);
ATF_TC_BODY(reuse_closed_idle, tc)
{
	reuse_lost(tc, "--hangup-after");
}

/* An idle connection is closed, with QUIT, after SMTP_IDLE_SECS. */
ATF_TC_WITHOUT_HEAD(reuse_idle_timeout);
ATF_TC_BODY(reuse_idle_timeout, tc)
{
	struct relay		*r;
	struct smtp_conf	 conf;
	struct outcome		 o;
	int			 i;

	setup();
	r = relay_start(tc, NULL);
	conf_init(&conf, r);
	outcome_init(&o, MSG, sizeof(MSG) - 1, NULL);
	transact(&o, &conf);
	check_ok(&o);
	ATF_CHECK(!log_has(r, "1 C: QUIT"));
	/* a bound on tries: the loop must run for the timer to fire */
	for (i = 0; i < 6000 && !log_has(r, "1 C: QUIT"); i++) {
		event_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(10000);
	}
	ATF_CHECK(log_has(r, "1 C: QUIT"));
	teardown();
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, reply_line);
	ATF_TP_ADD_TC(tp, ehlo_keywords);
	ATF_TP_ADD_TC(tp, plain_ok);
	ATF_TP_ADD_TC(tp, plain_dots);
	ATF_TP_ADD_TC(tp, line_ends);
	ATF_TP_ADD_TC(tp, large_message);
	ATF_TP_ADD_TC(tp, pipelining_on);
	ATF_TP_ADD_TC(tp, pipelining_off);
	ATF_TP_ADD_TC(tp, many_recipients);
	ATF_TP_ADD_TC(tp, rcpt_refused);
	ATF_TP_ADD_TC(tp, rcpt_refused_pipelined);
	ATF_TP_ADD_TC(tp, rcpt_all_temp);
	ATF_TP_ADD_TC(tp, rcpt_temp_and_perm);
	ATF_TP_ADD_TC(tp, mail_refused);
	ATF_TP_ADD_TC(tp, mail_tempfail);
	ATF_TP_ADD_TC(tp, data_refused);
	ATF_TP_ADD_TC(tp, dot_refused);
	ATF_TP_ADD_TC(tp, dot_refused_perm);
	ATF_TP_ADD_TC(tp, greeting_refused);
	ATF_TP_ADD_TC(tp, helo_fallback);
	ATF_TP_ADD_TC(tp, connect_refused);
	ATF_TP_ADD_TC(tp, relay_closes);
	ATF_TP_ADD_TC(tp, relay_closes_in_body);
	ATF_TP_ADD_TC(tp, stall_timeout);
	ATF_TP_ADD_TC(tp, stall_after_dot);
	ATF_TP_ADD_TC(tp, long_reply_line);
	ATF_TP_ADD_TC(tp, size_exceeded);
	ATF_TP_ADD_TC(tp, body_8bitmime);
	ATF_TP_ADD_TC(tp, smtputf8);
	ATF_TP_ADD_TC(tp, bad_address);
	ATF_TP_ADD_TC(tp, starttls);
	ATF_TP_ADD_TC(tp, starttls_not_offered);
	ATF_TP_ADD_TC(tp, require_tls_not_offered);
	ATF_TP_ADD_TC(tp, starttls_refused);
	ATF_TP_ADD_TC(tp, tls_verify);
	ATF_TP_ADD_TC(tp, smtps);
	ATF_TP_ADD_TC(tp, auth_plain);
	ATF_TP_ADD_TC(tp, auth_refused);
	ATF_TP_ADD_TC(tp, auth_not_offered);
	ATF_TP_ADD_TC(tp, abort_mid_data);
	ATF_TP_ADD_TC(tp, abort_early);
	ATF_TP_ADD_TC(tp, concurrent);
	ATF_TP_ADD_TC(tp, stream_pieces);
	ATF_TP_ADD_TC(tp, stream_rcpt_early);
	ATF_TP_ADD_TC(tp, stream_rcpt_early_pipelined);
	ATF_TP_ADD_TC(tp, stream_size);
	ATF_TP_ADD_TC(tp, stream_untimed);
	ATF_TP_ADD_TC(tp, stream_abort_starved);
	ATF_TP_ADD_TC(tp, stream_closed_envelope);
	ATF_TP_ADD_TC(tp, stream_bye_envelope);
	ATF_TP_ADD_TC(tp, stream_closed_starved);
	ATF_TP_ADD_TC(tp, reuse);
	ATF_TP_ADD_TC(tp, reuse_after_rset);
	ATF_TP_ADD_TC(tp, reuse_not_after_failure);
	ATF_TP_ADD_TC(tp, reuse_limit);
	ATF_TP_ADD_TC(tp, reuse_421);
	ATF_TP_ADD_TC(tp, reuse_hangup);
	ATF_TP_ADD_TC(tp, reuse_closed_idle);
	ATF_TP_ADD_TC(tp, reuse_idle_timeout);
	return atf_no_error();
}
