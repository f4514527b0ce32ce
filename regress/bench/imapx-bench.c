/*
 * imapx-bench -- IMAP load generator for the imapx benchmarks.
 *
 * One subcommand per figure of regress/bench/bench.sh.  Every subcommand
 * talks to one IMAP server on a loopback address and prints its results
 * on stdout as "name value" lines; diagnostics go to stderr.  bench.sh
 * runs each subcommand against the backend directly and through imapxd
 * and compares the figures.
 *
 * Single-connection figures (latency, pipeline, fetch, append) use one
 * blocking socket, so that the client adds as little as possible to the
 * round trip; the many-connection figures (logins, idle) run a small
 * state machine per connection over poll(2).  The relay subcommand is
 * the cheapest possible proxy, a yardstick for what any proxy costs on
 * the machine at hand.  The xexec subcommands measure XEXEC through
 * imapxd and execd against a bare fork and exec of the module's program.
 * submit and smtp send the same messages through SUBMIT and by SMTP
 * straight to the MTA, one process per client with a blocking socket,
 * and give the CPU time the proxy and the MTA spent per message.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tls.h>

#ifndef __dead
#define __dead		__attribute__((__noreturn__))
#endif

#define SYNC_BUFSZ	(256 * 1024)	/* input buffer, one connection */
#define ASYNC_BUFSZ	4096		/* input buffer, each of many */
#define MAX_SAMPLES	(16 * 1024 * 1024)
#define MAIL_SAMPLES	65536		/* latencies kept, each mail client */
#define SMTP_CAP_SIZE	0x01		/* EHLO offered SIZE (RFC 1870) */
#define SMTP_CAP_PIPELINING 0x02	/* and PIPELINING (RFC 2920) */
#define MAIL_CMD_ROOM	64		/* before a mail's raw: its SUBMIT */
#define SMTP_CONN_MAILS	100		/* OpenSMTPD's max-mails default */
#define MAIL_GRACE	5		/* s after the window for the last */
#define MAIL_DELIVERY	120		/* s to wait for the deliveries */

enum {
	TLS_NONE,
	TLS_IMPLICIT,
	TLS_STARTTLS
};

enum {
	RESP_NONE = -1,		/* not the tagged response we wait for */
	RESP_OK,
	RESP_NO,
	RESP_BAD
};

/* States of one connection of the logins and idle subcommands. */
enum {
	A_FREE,
	A_CONNECT,
	A_TLS,
	A_GREETING,
	A_STARTTLS,
	A_STLS_HS,
	A_LOGIN,
	A_LOGOUT,
	A_IDLE,
	A_IDLING,
	A_XEXEC
};

/* What a connection of the state machine does once logged in. */
enum {
	M_LOGINS,		/* LOGOUT, and the caller starts again */
	M_IDLE,			/* IDLE, and stays */
	M_XEXEC			/* XEXEC, again and again */
};

/* How the submit and smtp subcommands send a message. */
enum {
	MAIL_SUBMIT,		/* SUBMIT on an IMAP session */
	MAIL_SMTP		/* SMTP to the MTA */
};

/* Whose CPU time submit and smtp count (cpu_group). */
enum {
	CPU_PROXY,		/* the server at -a, with its descendants */
	CPU_MTA,		/* the processes called o.mta */
	CPU_NGROUPS
};

/* What astep() tells its caller. */
enum {
	STEP_MORE = -1,		/* aline(): go on reading */
	STEP_WAIT,		/* blocked; poll for c->want */
	STEP_DONE,		/* logins: cycle complete; idle: now idling;
				   xexec: one run answered OK */
	STEP_ERR,		/* connection or protocol failure */
	STEP_REFUSED		/* LOGIN answered NO or BAD */
};

struct target {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 name[80];
};

struct conn {
	int			 fd;
	struct tls		*tls;
	int			 state;
	short			 want;
	int			 user;
	unsigned char		*in;
	size_t			 insz;
	size_t			 inlen;
	size_t			 inoff;
	size_t			 lit;		/* literal left */
	int			 cont;		/* after a literal */
	uint64_t		 litbytes;	/* literal bytes seen */
	int			 got;		/* xexec: the output line */
	char			 obuf[512];
	size_t			 olen;
	size_t			 ooff;
	double			 t0;		/* cycle start */
	double			 lat;		/* to LOGIN OK */
	double			 deadline;
};

struct opts {
	struct target		 target;
	struct target		 listen;
	struct target		 inbox;		/* -I: the INBOXes' server */
	int			 tls;
	const char		*user;
	const char		*pass;
	const char		*lprefix;
	int			 ldigits;
	int			 lfirst;
	int			 lusers;
	const char		*lpass;
	long long		 count;
	long long		 warmup;
	long long		 batch;
	long long		 clients;
	long long		 runs;
	long long		 size;
	long long		 uid;
	double			 secs;
	double			 settle;
	double			 hold;
	int			 timeout;
	int			 limit;
	int			 spin;
	int			 cpu;
	int			 userset;
	const char		*mailbox;
	const char		*pidfile;
	const char		*procname;
	const char		*mta;		/* the MTA's process name */
	const char		*program;
	const char		*domain;
	int			 permsg;
	pid_t			 pid;
};

struct proc {
	pid_t			 pid;
	pid_t			 ppid;
};

struct mem {
	long long		 pss;		/* KiB */
	long long		 rss;		/* KiB */
	int			 nprocs;
};

/* What one process had used of the CPUs at a snapshot (cpu_read). */
struct cpu {
	pid_t			 pid;
	unsigned long long	 start;		/* ticks after boot */
	unsigned long long	 ns;
};

/* The processes of one group at one moment (cpu_group). */
struct cpusnap {
	struct cpu		*p;
	int			 n;
};

/* One side of a relayed connection: 0 the client, 1 the target. */
struct half {
	int			 fd;
	char			*pend;		/* not yet written */
	size_t			 plen;
	size_t			 poff;
};

struct relay {
	struct half		 h[2];
};

struct fetchinfo {
	long long		 uid;
	long long		 size;
	long long		 messages;
};

/* A message of the submit and smtp subcommands (mail_make). */
struct mail {
	char			*raw;		/* the message, then CRLF; room
					   for the command before it */
	size_t			 rawlen;	/* without that CRLF */
	char			*wire;		/* dot-stuffed, then "." */
	size_t			 wirelen;
	size_t			 idoff;		/* of the Message-ID's counter */
	uint32_t		 seq;
	char			 addr[192];	/* From, To and the envelope */
};

/* What one mail client did, in memory it shares with the parent. */
struct mailstat {
	long long		 done;		/* accepted within the window */
	long long		 accepted;	/* at all, warm-up included */
	long long		 refused;
	size_t			 nlat;
	double			 lat[MAIL_SAMPLES];	/* ms, in the window */
};

static __dead void	 usage(void);
static double		 now(void);
static int		 parse_addr(const char *, struct target *);
static long long	 parse_num(const char *, const char *, long long,
			    long long);
static long long	 parse_size(const char *);
static double		 parse_secs(const char *, const char *);
static void		 raise_nofile(rlim_t);
static void		 quote(char *, size_t, const char *);
static void		 load_user(char *, size_t, int);
static int		 cmp_double(const void *, const void *);
static double		 percentile(double *, size_t, double);
static void		 tls_setup(void);
static int		 conn_socket(struct conn *, int);
static int		 conn_tls_start(struct conn *);
static void		 conn_close(struct conn *);
static ssize_t		 conn_read(struct conn *, void *, size_t);
static ssize_t		 conn_write(struct conn *, const void *, size_t);
static ssize_t		 conn_fill(struct conn *);
static int		 conn_getline(struct conn *, char **, size_t *);
static int		 resp_status(const char *, size_t, const char *);
static void		 sync_wait(struct conn *, double *);
static void		 sync_write(struct conn *, const void *, size_t);
static void		 sync_line(struct conn *, char **, size_t *);
static int		 sync_cmd(struct conn *, void (*)(char *, size_t,
			    void *), void *, const char *, ...)
			    __attribute__((__format__(__printf__, 4, 5)));
static void		 sync_open(struct conn *, size_t);
static void		 sync_handshake(struct conn *);
static void		 sync_login(struct conn *, const char *,
			    const char *);
static void		 sync_logout(struct conn *);
static void		 astart(struct conn *, int);
static void		 aqueue(struct conn *, const char *, ...)
			    __attribute__((__format__(__printf__, 2, 3)));
static int		 aline(struct conn *, char *, size_t, int);
static int		 astep(struct conn *, int);
static void		 axexec(struct conn *);
static int		 proc_table(struct proc **);
static int		 listen_inode(const struct target *, unsigned long *);
static int		 proc_named(const struct proc *, int, const char *,
			    pid_t *);
static int		 listen_holders(const struct target *, pid_t *, int);
static int		 find_roots(pid_t **);
static int		 proc_tree(const pid_t *, int, pid_t **);
static void		 mem_measure(const pid_t *, int, struct mem *);
static int		 read_first(const char *, unsigned long long *);
static int		 cpu_read(pid_t, struct cpu *);
static int		 cpu_group(int, struct cpusnap *);
static double		 cpu_used(const struct cpusnap *,
			    const struct cpusnap *);
static void		 cb_fetchinfo(char *, size_t, void *);
static void		 cb_status(char *, size_t, void *);
static void		 cb_uidnext(char *, size_t, void *);
static void		 fetch_info(struct conn *, struct fetchinfo *);
static void		 fill_lines(char *, char *);
static char		*make_message(long long);
static int		 cmd_probe(void);
static int		 cmd_latency(void);
static int		 cmd_pipeline(void);
static int		 cmd_append(void);
static int		 cmd_fetch(void);
static int		 cmd_logins(void);
static int		 cmd_idle(void);
static double		 spawn_once(void);
static void		 cb_xexec(char *, size_t, void *);
static int		 cmd_xexec(void);
static int		 cmd_xexecs(void);
static void		 mail_make(struct mail *, long long, const char *);
static void		 mail_next(struct mail *);
static int		 smtp_reply(struct conn *, int *);
static int		 smtp_cmd(struct conn *, int *, const char *, ...)
			    __attribute__((__format__(__printf__, 3, 4)));
static int		 smtp_connect(struct conn *);
static void		 smtp_quit(struct conn *);
static int		 smtp_mail(struct conn *, const struct mail *, int);
static int		 submit_mail(struct conn *, struct mail *, int);
static void		 cap_literalplus(char *, size_t, void *);
static __dead void	 mail_client(int, long long, struct mailstat *,
			    volatile double *, int, int);
static void		 inbox_open(struct conn *, long long, long long *,
			    long long *);
static int		 inbox_wait(struct conn *, const long long *,
			    const long long *, const struct mailstat *,
			    double *);
static int		 cmd_mail(int);
static int		 cmd_submit(void);
static int		 cmd_smtp(void);
static void		 on_signal(int);
static void		 relay_close(struct relay *);
static int		 relay_io(struct relay *, int, short);
static int		 cmd_relay(void);

static volatile sig_atomic_t quit;
static struct opts	 o;
static struct tls_config *tlscfg;
static unsigned int	 tagseq;
static char		 smtp_last[128];	/* the last SMTP reply line */

static const struct {
	const char	*name;
	int		(*fn)(void);
} cmds[] = {
	{ "probe",	cmd_probe },
	{ "latency",	cmd_latency },
	{ "pipeline",	cmd_pipeline },
	{ "append",	cmd_append },
	{ "fetch",	cmd_fetch },
	{ "logins",	cmd_logins },
	{ "idle",	cmd_idle },
	{ "xexec",	cmd_xexec },
	{ "xexecs",	cmd_xexecs },
	{ "submit",	cmd_submit },
	{ "smtp",	cmd_smtp },
	{ "relay",	cmd_relay },
};

static const struct option longopts[] = {
	{ "addr",	required_argument,	NULL,	'a' },
	{ "batch",	required_argument,	NULL,	'b' },
	{ "spin",	no_argument,		NULL,	'B' },
	{ "cpu",	required_argument,	NULL,	'C' },
	{ "clients",	required_argument,	NULL,	'c' },
	{ "digits",	required_argument,	NULL,	'D' },
	{ "domain",	required_argument,	NULL,	'e' },
	{ "first",	required_argument,	NULL,	'F' },
	{ "inbox",	required_argument,	NULL,	'I' },
	{ "hold",	required_argument,	NULL,	'H' },
	{ "pid",	required_argument,	NULL,	'k' },
	{ "limit",	required_argument,	NULL,	'L' },
	{ "listen",	required_argument,	NULL,	'l' },
	{ "mailbox",	required_argument,	NULL,	'm' },
	{ "mta",	required_argument,	NULL,	'X' },
	{ "count",	required_argument,	NULL,	'n' },
	{ "users",	required_argument,	NULL,	'N' },
	{ "pass",	required_argument,	NULL,	'p' },
	{ "per-message", no_argument,		NULL,	'M' },
	{ "load-pass",	required_argument,	NULL,	'P' },
	{ "pidfile",	required_argument,	NULL,	'f' },
	{ "program",	required_argument,	NULL,	'E' },
	{ "proc",	required_argument,	NULL,	'R' },
	{ "runs",	required_argument,	NULL,	'r' },
	{ "size",	required_argument,	NULL,	's' },
	{ "starttls",	no_argument,		NULL,	'S' },
	{ "time",	required_argument,	NULL,	't' },
	{ "tls",	no_argument,		NULL,	'T' },
	{ "user",	required_argument,	NULL,	'u' },
	{ "uid",	required_argument,	NULL,	'i' },
	{ "user-prefix", required_argument,	NULL,	'U' },
	{ "settle",	required_argument,	NULL,	'q' },
	{ "warmup",	required_argument,	NULL,	'w' },
	{ "timeout",	required_argument,	NULL,	'W' },
	{ NULL,		0,			NULL,	0 }
};

static __dead void
usage(void)
{
	fprintf(stderr,
	    "usage: imapx-bench command [-ST] [-a host:port] [-u user] "
	    "[-p pass] [options]\n"
	    "commands:\n"
	    "  probe     greeting (and LOGIN/LOGOUT with -u)\n"
	    "  latency   -n noops -w warmup: sequential NOOP round trips\n"
	    "  pipeline  -n batches -b size: NOOPs written a batch at once\n"
	    "  append    -m mailbox -s size: leave one message of that size\n"
	    "  fetch     -m mailbox -r runs -w warmup [-i uid]: "
	    "UID FETCH BODY.PEEK[]\n"
	    "  logins    -c clients -t secs: connect/LOGIN/LOGOUT cycles\n"
	    "  idle      -n conns -c parallel -q settle -H hold "
	    "[-f pidfile | -k pid | -R name]\n"
	    "  relay     -l listen -n max -t secs: trivial proxy to -a, "
	    "a yardstick\n"
	    "  xexec     -E program -n runs -w warmup: XEXEC echo x round "
	    "trips and\n"
	    "            fork+exec+wait of program x, alternately\n"
	    "  xexecs    -c clients -t secs: XEXEC echo x in a loop on "
	    "each of\n"
	    "            -c sessions, one load user each\n"
	    "  submit    -c clients -t secs -q warm-up -s size: SUBMIT {n} "
	    "in a loop on\n"
	    "            each of -c sessions, from and to its load user;\n"
	    "            [-f pidfile | -k pid | -R name] the proxy, as for "
	    "idle\n"
	    "  smtp      -c clients -t secs -q warm-up -s size [-M]: the same "
	    "messages\n"
	    "            by SMTP to the MTA at -a; -M: a connection for each\n"
	    "options:\n"
	    "  -a, --addr host:port     loopback address (127.0.0.1:10143)\n"
	    "  -T, --tls                implicit TLS, certificate not "
	    "verified\n"
	    "  -S, --starttls           STARTTLS after the greeting\n"
	    "  -u, --user, -p, --pass   account for single connections "
	    "(alice)\n"
	    "  -U, --user-prefix, -D, --digits, -F, --first, -N, --users,\n"
	    "  -P, --load-pass          load users: prefix%%0Nd, first..,"
	    " count (load0001..2000)\n"
	    "  -B, --spin               busy-poll reads (single-connection "
	    "commands)\n"
	    "  -e, --domain domain      the load users' mail domain "
	    "(example.test)\n"
	    "  -I, --inbox host:port    submit, smtp: wait until every "
	    "message is in its\n"
	    "                           INBOX on this IMAP server "
	    "(plaintext)\n"
	    "  -X, --mta name           submit, smtp: the MTA's process name, "
	    "for its CPU\n"
	    "                           time per message (smtpd)\n"
	    "  -C, --cpu n              run on CPU n only\n"
	    "  -W, --timeout secs       limit for one protocol step (30)\n"
	    "  -L, --limit secs         limit for the whole run (900)\n");
	exit(2);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * host:port or [v6]:port, numeric and loopback only: the benchmark must
 * never load anything but this machine.
 */
static int
parse_addr(const char *s, struct target *t)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&t->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&t->ss;
	char			 host[64];
	const char		*p, *errstr;
	size_t			 hl;
	int			 port;

	memset(t, 0, sizeof(*t));
	if (*s == '[') {
		if ((p = strstr(s, "]:")) == NULL)
			return -1;
		hl = p - s - 1;
		s++;
		p += 2;
	} else {
		if ((p = strrchr(s, ':')) == NULL)
			return -1;
		hl = p - s;
		p++;
	}
	if (hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	port = strtonum(p, 1, 65535, &errstr);
	if (errstr != NULL)
		return -1;
	if (strcmp(host, "localhost") == 0)
		strlcpy(host, "127.0.0.1", sizeof(host));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		t->sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		t->sslen = sizeof(*sin6);
	} else
		return -1;
	snprintf(t->name, sizeof(t->name), "%s:%d", host, port);
	return 0;
}

static long long
parse_num(const char *s, const char *what, long long min, long long max)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		errx(2, "%s %s: %s", what, s, errstr);
	return n;
}

/* Bytes, with an optional k or M suffix (KiB, MiB). */
static long long
parse_size(const char *s)
{
	char		 buf[32];
	size_t		 len;
	long long	 mul = 1;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf) ||
	    (len = strlen(buf)) == 0)
		errx(2, "bad size %s", s);
	switch (buf[len - 1]) {
	case 'k':
	case 'K':
		mul = 1024;
		buf[len - 1] = '\0';
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		buf[len - 1] = '\0';
		break;
	}
	return parse_num(buf, "size", 1, 1024LL * 1024 * 1024 / mul) * mul;
}

static double
parse_secs(const char *s, const char *what)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(d >= 0 && d <= 86400))
		errx(2, "bad %s %s", what, s);
	return d;
}

static void
raise_nofile(rlim_t want)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit");
	if (rl.rlim_cur >= want)
		return;
	if (rl.rlim_max < want) {
		/* Only root may raise the hard limit. */
		rl.rlim_cur = rl.rlim_max = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return;
		if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
			err(1, "getrlimit");
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "setrlimit");
	if (rl.rlim_cur < want)
		errx(1, "RLIMIT_NOFILE is %llu, %llu needed",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

/* An IMAP quoted string (RFC 3501 section 4.3). */
static void
quote(char *dst, size_t dsz, const char *src)
{
	size_t	i = 0;

	if (dsz < 3)
		errx(1, "quote: buffer too small");
	dst[i++] = '"';
	for (; *src != '\0'; src++) {
		if (*src == '\r' || *src == '\n')
			errx(2, "CR or LF in a user name or password");
		if (i + 4 >= dsz)
			errx(2, "user name or password too long");
		if (*src == '"' || *src == '\\')
			dst[i++] = '\\';
		dst[i++] = *src;
	}
	dst[i++] = '"';
	dst[i] = '\0';
}

/* Name of the n-th load user, n counted from 0. */
static void
load_user(char *dst, size_t dsz, int n)
{
	snprintf(dst, dsz, "%s%0*d", o.lprefix, o.ldigits,
	    o.lfirst + n % o.lusers);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v, which is sorted in place. */
static double
percentile(double *v, size_t n, double p)
{
	size_t	rank;

	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	rank = (size_t)ceil(p / 100.0 * n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static void
tls_setup(void)
{
	if (tlscfg != NULL)
		return;
	if (tls_init() == -1)
		errx(1, "tls_init failed");
	if ((tlscfg = tls_config_new()) == NULL)
		errx(1, "tls_config_new failed");
	/* The demo's certificate is self-signed; this only measures. */
	tls_config_insecure_noverifycert(tlscfg);
	tls_config_insecure_noverifyname(tlscfg);
	tls_config_insecure_noverifytime(tlscfg);
}

/*
 * Open a TCP connection to the target.  Returns 0 when connected, 1 when
 * the connection is in progress (nonblocking), -1 on failure.
 */
static int
conn_socket(struct conn *c, int nonblock)
{
	int	one = 1, fd;

	c->fd = -1;
	fd = socket(o.target.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd == -1)
		return -1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->tls = NULL;
	c->inlen = c->inoff = c->lit = 0;
	c->cont = 0;
	c->olen = c->ooff = 0;
	if (connect(fd, (struct sockaddr *)&o.target.ss, o.target.sslen) ==
	    0)
		return 0;
	if (errno == EINPROGRESS)
		return 1;
	close(fd);
	c->fd = -1;
	return -1;
}

static int
conn_tls_start(struct conn *c)
{
	if ((c->tls = tls_client()) == NULL)
		return -1;
	if (tls_configure(c->tls, tlscfg) == -1 ||
	    tls_connect_socket(c->tls, c->fd, "localhost") == -1) {
		warnx("tls: %s", tls_error(c->tls));
		return -1;
	}
	return 0;
}

static void
conn_close(struct conn *c)
{
	if (c->tls != NULL) {
		/* No close_notify: the connection is being dropped. */
		tls_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->state = A_FREE;
}

/* Returns bytes read, 0 at EOF, -1 on error, -2 when blocked (c->want). */
static ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	ssize_t	n;

	if (c->tls != NULL) {
		n = tls_read(c->tls, buf, len);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			c->want = n == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
			return -2;
		}
		if (n == -1)
			warnx("tls_read: %s", tls_error(c->tls));
		return n;
	}
	for (;;) {
		n = read(c->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->want = POLLIN;
			return -2;
		}
		return -1;
	}
}

static ssize_t
conn_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t	n;

	if (c->tls != NULL) {
		n = tls_write(c->tls, buf, len);
		if (n == TLS_WANT_POLLIN || n == TLS_WANT_POLLOUT) {
			c->want = n == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
			return -2;
		}
		if (n == -1)
			warnx("tls_write: %s", tls_error(c->tls));
		return n;
	}
	for (;;) {
		n = write(c->fd, buf, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			c->want = POLLOUT;
			return -2;
		}
		return -1;
	}
}

/* Read more input into c->in, making room first. */
static ssize_t
conn_fill(struct conn *c)
{
	ssize_t	n;

	if (c->inoff > 0) {
		memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
		c->inlen -= c->inoff;
		c->inoff = 0;
	}
	if (c->inlen == c->insz) {
		warnx("%s: response line longer than %zu bytes",
		    o.target.name, c->insz);
		return -1;
	}
	n = conn_read(c, c->in + c->inlen, c->insz - c->inlen);
	if (n > 0)
		c->inlen += n;
	return n;
}

/*
 * Next line of the input, without its CRLF and NUL-terminated in place.
 * Literals ({n} at the end of a line) are skipped and counted in
 * c->litbytes; what follows a literal comes back as a line of its own
 * with c->cont set, so it is never taken for a tagged response.
 * Returns 1 with a line, 0 when more input is needed.
 */
static int
conn_getline(struct conn *c, char **line, size_t *len)
{
	unsigned char	*p, *nl, *q;
	size_t		 avail, n;

	for (;;) {
		avail = c->inlen - c->inoff;
		if (c->lit > 0) {
			n = c->lit < avail ? c->lit : avail;
			c->lit -= n;
			c->litbytes += n;
			c->inoff += n;
			if (c->lit > 0)
				return 0;
			c->cont = 1;
			continue;
		}
		p = c->in + c->inoff;
		if ((nl = memchr(p, '\n', avail)) == NULL)
			return 0;
		c->inoff += nl - p + 1;
		if (nl > p && nl[-1] == '\r')
			nl--;
		*nl = '\0';
		*line = (char *)p;
		*len = nl - p;
		/* A literal announced at the end of the line? */
		if (*len >= 3 && nl[-1] == '}') {
			q = nl - 2;
			while (q > p && isdigit(*q))
				q--;
			if (*q == '{' && q < nl - 2)
				c->lit = strtoull((char *)q + 1, NULL, 10);
		}
		return 1;
	}
}

/* Is line the tagged response for tag?  Returns RESP_*. */
static int
resp_status(const char *line, size_t len, const char *tag)
{
	size_t	tl = strlen(tag);

	if (len <= tl || strncmp(line, tag, tl) != 0 || line[tl] != ' ')
		return RESP_NONE;
	line += tl + 1;
	if (strncasecmp(line, "OK", 2) == 0)
		return RESP_OK;
	if (strncasecmp(line, "NO", 2) == 0)
		return RESP_NO;
	return RESP_BAD;
}

/*
 * Blocking mode: wait for what the last read or write wanted.  With
 * --spin a read is retried at once instead: the client then never
 * sleeps, like a client on another host, and its own wake-up does not
 * count in a round trip.  *deadline is 0 on the first call of a wait.
 */
static void
sync_wait(struct conn *c, double *deadline)
{
	struct pollfd	pfd;
	double		t;
	int		r;

	if (o.spin && c->want == POLLIN) {
		t = now();
		if (*deadline == 0)
			*deadline = t + o.timeout;
		else if (t > *deadline)
			errx(1, "%s: no answer within %d s", o.target.name,
			    o.timeout);
		return;
	}
	pfd.fd = c->fd;
	pfd.events = c->want;
	for (;;) {
		r = poll(&pfd, 1, o.timeout * 1000);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			err(1, "poll");
		if (r == 0)
			errx(1, "%s: no answer within %d s", o.target.name,
			    o.timeout);
		return;
	}
}

static void
sync_write(struct conn *c, const void *buf, size_t len)
{
	const char	*p = buf;
	double		 deadline = 0;
	ssize_t		 n;

	while (len > 0) {
		n = conn_write(c, p, len);
		if (n == -2) {
			sync_wait(c, &deadline);
			continue;
		}
		if (n <= 0)
			err(1, "%s: write", o.target.name);
		p += n;
		len -= n;
	}
}

static void
sync_line(struct conn *c, char **line, size_t *len)
{
	double	deadline = 0;
	ssize_t	n;

	while (conn_getline(c, line, len) == 0) {
		n = conn_fill(c);
		if (n == -2)
			sync_wait(c, &deadline);
		else if (n == 0)
			errx(1, "%s: connection closed by the server",
			    o.target.name);
		else if (n < 0)
			err(1, "%s: read", o.target.name);
	}
}

/*
 * Send one tagged command and read up to its tagged response; cb, when
 * not NULL, sees every other line.  Returns RESP_OK, RESP_NO or RESP_BAD.
 */
static int
sync_cmd(struct conn *c, void (*cb)(char *, size_t, void *), void *arg,
    const char *fmt, ...)
{
	char	 cmd[1024], tag[16], *line;
	size_t	 len;
	va_list	 ap;
	int	 n, m, r;

	snprintf(tag, sizeof(tag), "x%u", ++tagseq);
	n = snprintf(cmd, sizeof(cmd), "%s ", tag);
	va_start(ap, fmt);
	m = vsnprintf(cmd + n, sizeof(cmd) - n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)n + m + 2 >= sizeof(cmd))
		errx(1, "command too long");
	n += m;
	cmd[n++] = '\r';
	cmd[n++] = '\n';
	sync_write(c, cmd, n);
	for (;;) {
		sync_line(c, &line, &len);
		if (c->cont) {
			c->cont = 0;
			if (cb != NULL)
				cb(line, len, arg);
			continue;
		}
		if ((r = resp_status(line, len, tag)) != RESP_NONE)
			return r;
		if (cb != NULL)
			cb(line, len, arg);
	}
}

/* Connect, TLS or STARTTLS as asked, read the greeting; blocking. */
static void
sync_open(struct conn *c, size_t bufsz)
{
	struct timeval	 tv;
	char		*line;
	size_t		 len;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if ((c->in = malloc(bufsz)) == NULL)
		err(1, NULL);
	c->insz = bufsz;
	if (conn_socket(c, 0) == -1)
		err(1, "connect %s", o.target.name);
	tv.tv_sec = o.timeout;
	tv.tv_usec = 0;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ==
	    -1 || setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)) == -1)
		err(1, "setsockopt");
	if (o.spin && fcntl(c->fd, F_SETFL, O_NONBLOCK) == -1)
		err(1, "fcntl");
	if (o.tls == TLS_IMPLICIT) {
		tls_setup();
		sync_handshake(c);
	}
	sync_line(c, &line, &len);
	if (strncasecmp(line, "* OK", 4) != 0)
		errx(1, "%s: unexpected greeting: %.100s", o.target.name, line);
	if (o.tls == TLS_STARTTLS) {
		tls_setup();
		if (sync_cmd(c, NULL, NULL, "STARTTLS") != RESP_OK)
			errx(1, "%s: STARTTLS refused", o.target.name);
		sync_handshake(c);
	}
}

static void
sync_handshake(struct conn *c)
{
	double	deadline = 0;
	int	r;

	if (conn_tls_start(c) == -1)
		errx(1, "%s: TLS set-up failed", o.target.name);
	while ((r = tls_handshake(c->tls)) != 0) {
		if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
			c->want = r == TLS_WANT_POLLIN ? POLLIN : POLLOUT;
			sync_wait(c, &deadline);
			continue;
		}
		errx(1, "%s: TLS handshake: %s", o.target.name,
		    tls_error(c->tls));
	}
}

static void
sync_login(struct conn *c, const char *user, const char *pass)
{
	char	qu[256], qp[256];

	quote(qu, sizeof(qu), user);
	quote(qp, sizeof(qp), pass);
	if (sync_cmd(c, NULL, NULL, "LOGIN %s %s", qu, qp) != RESP_OK)
		errx(1, "%s: LOGIN as %s refused", o.target.name, user);
}

static void
sync_logout(struct conn *c)
{
	(void)sync_cmd(c, NULL, NULL, "LOGOUT");
	if (c->tls != NULL)
		(void)tls_close(c->tls);
	conn_close(c);
	free(c->in);
	c->in = NULL;
}

static int
cmd_probe(void)
{
	struct conn	c;
	double		t0 = now();

	sync_open(&c, SYNC_BUFSZ);
	if (o.userset)
		sync_login(&c, o.user, o.pass);
	sync_logout(&c);
	printf("probe_ok 1\n");
	printf("probe_ms %.3f\n", (now() - t0) * 1e3);
	return 0;
}

/* Sequential NOOP round trips on one logged-in connection. */
static int
cmd_latency(void)
{
	struct conn	 c;
	double		*v, t0, sum = 0;
	long long	 i;
	size_t		 n;

	if ((v = calloc(o.count, sizeof(*v))) == NULL)
		err(1, NULL);
	sync_open(&c, SYNC_BUFSZ);
	sync_login(&c, o.user, o.pass);
	for (i = 0; i < o.warmup; i++)
		if (sync_cmd(&c, NULL, NULL, "NOOP") != RESP_OK)
			errx(1, "NOOP failed");
	for (i = 0; i < o.count; i++) {
		t0 = now();
		if (sync_cmd(&c, NULL, NULL, "NOOP") != RESP_OK)
			errx(1, "NOOP failed");
		v[i] = (now() - t0) * 1e6;
		sum += v[i];
	}
	sync_logout(&c);
	n = o.count;
	printf("noop_count %zu\n", n);
	printf("noop_mean_us %.1f\n", sum / n);
	printf("noop_p50_us %.1f\n", percentile(v, n, 50));
	printf("noop_p90_us %.1f\n", percentile(v, n, 90));
	printf("noop_p99_us %.1f\n", percentile(v, n, 99));
	printf("noop_min_us %.1f\n", v[0]);
	printf("noop_max_us %.1f\n", v[n - 1]);
	free(v);
	return 0;
}

/*
 * Batches of NOOPs written with one write each; a batch ends with the
 * last of its tagged responses.
 */
static int
cmd_pipeline(void)
{
	struct conn	 c;
	char		*out, *line, tag[16];
	double		*v, t0, tstart, total;
	size_t		 olen, len;
	long long	 i, j, got, first;
	int		 r;

	if ((v = calloc(o.count, sizeof(*v))) == NULL ||
	    (out = malloc(o.batch * 32)) == NULL)
		err(1, NULL);
	sync_open(&c, SYNC_BUFSZ);
	sync_login(&c, o.user, o.pass);
	tstart = now();
	for (i = 0; i < o.count; i++) {
		first = i * o.batch;
		olen = 0;
		for (j = 0; j < o.batch; j++)
			olen += snprintf(out + olen, 32, "p%lld NOOP\r\n",
			    first + j);
		t0 = now();
		sync_write(&c, out, olen);
		for (got = 0; got < o.batch; ) {
			sync_line(&c, &line, &len);
			if (c.cont) {
				c.cont = 0;
				continue;
			}
			if (line[0] == '*')
				continue;
			snprintf(tag, sizeof(tag), "p%lld", first + got);
			r = resp_status(line, len, tag);
			if (r == RESP_NONE)
				errx(1, "unexpected response: %.100s", line);
			if (r != RESP_OK)
				errx(1, "NOOP failed: %.100s", line);
			got++;
		}
		v[i] = (now() - t0) * 1e3;
	}
	total = now() - tstart;
	sync_logout(&c);
	printf("pipe_batches %lld\n", o.count);
	printf("pipe_batch_size %lld\n", o.batch);
	printf("pipe_ops_per_s %.0f\n", o.count * o.batch / total);
	printf("pipe_batch_p50_ms %.3f\n", percentile(v, o.count, 50));
	printf("pipe_batch_p99_ms %.3f\n", percentile(v, o.count, 99));
	printf("pipe_batch_max_ms %.3f\n", v[o.count - 1]);
	free(v);
	free(out);
	return 0;
}

/* "* n FETCH (UID u RFC822.SIZE s)": remember the largest message. */
static void
cb_fetchinfo(char *line, size_t len, void *arg)
{
	struct fetchinfo	*fi = arg;
	const char		*p;
	long long		 uid, size;

	(void)len;
	if (strncmp(line, "* ", 2) != 0 || strstr(line, " FETCH ") == NULL)
		return;
	if ((p = strstr(line, "UID ")) == NULL)
		return;
	uid = strtoll(p + 4, NULL, 10);
	if ((p = strstr(line, "RFC822.SIZE ")) == NULL)
		return;
	size = strtoll(p + 12, NULL, 10);
	fi->messages++;
	if (size > fi->size) {
		fi->size = size;
		fi->uid = uid;
	}
}

/* "* STATUS box (MESSAGES n)" */
static void
cb_status(char *line, size_t len, void *arg)
{
	long long	*messages = arg;
	const char	*p;

	(void)len;
	if (strncasecmp(line, "* STATUS ", 9) == 0 &&
	    (p = strstr(line, "MESSAGES ")) != NULL)
		*messages = strtoll(p + 9, NULL, 10);
}

/* "* STATUS box (... UIDNEXT n)" */
static void
cb_uidnext(char *line, size_t len, void *arg)
{
	long long	*uidnext = arg;
	const char	*p;

	(void)len;
	if (strncasecmp(line, "* STATUS ", 9) == 0 &&
	    (p = strstr(line, "UIDNEXT ")) != NULL)
		*uidnext = strtoll(p + 8, NULL, 10);
}

static void
fetch_info(struct conn *c, struct fetchinfo *fi)
{
	memset(fi, 0, sizeof(*fi));
	if (sync_cmd(c, cb_fetchinfo, fi, "UID FETCH 1:* (UID RFC822.SIZE)") !=
	    RESP_OK)
		errx(1, "UID FETCH RFC822.SIZE failed");
}

/*
 * Lines of (up to) 76 printable characters and CRLF from p up to end,
 * from a fixed pseudo-random sequence, so every run stores the same
 * bytes; end - p must be at least 2.
 */
static void
fill_lines(char *p, char *end)
{
	static const char	 alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	    " .,;:-_+=()/?!";
	uint64_t		 x = 0x9e3779b97f4a7c15ULL;
	int			 i, n;

	while (p < end) {
		n = end - p - 2;
		if (n > 76)
			n = 76;
		/* Never leave less than one CRLF for the last line. */
		if (end - p - 2 - n > 0 && end - p - 2 - n < 2)
			n--;
		for (i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			*p++ = alpha[x % (sizeof(alpha) - 1)];
		}
		*p++ = '\r';
		*p++ = '\n';
	}
}

/* A message of exactly size bytes: a few headers, then fill_lines(). */
static char *
make_message(long long size)
{
	char	*m;
	int	 hl;

	if ((m = malloc(size + 1)) == NULL)
		err(1, NULL);
	hl = snprintf(m, size + 1,
	    "From: load <load@example.test>\r\n"
	    "To: load <load@example.test>\r\n"
	    "Subject: imapx-bench %lld bytes\r\n"
	    "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
	    "Message-ID: <imapx-bench-%lld@example.test>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n", size, size);
	if (hl < 0 || hl + 2 > size)
		errx(1, "size %lld too small for a message", size);
	fill_lines(m + hl, m + size);
	m[size] = '\0';
	return m;
}

/*
 * Leave exactly one message of o.size bytes in o.mailbox, appending it
 * only when it is not there already.
 */
static int
cmd_append(void)
{
	struct conn		 c;
	struct fetchinfo	 fi;
	char			 qm[256], qa[300], *msg, *line;
	const char		*p;
	long long		 messages = -1, uid = 0;
	size_t			 len;
	int			 r, created = 0;

	quote(qm, sizeof(qm), o.mailbox);
	sync_open(&c, SYNC_BUFSZ);
	sync_login(&c, o.user, o.pass);
	r = sync_cmd(&c, cb_status, &messages, "STATUS %s (MESSAGES)", qm);
	if (r != RESP_OK) {
		if (sync_cmd(&c, NULL, NULL, "CREATE %s", qm) != RESP_OK)
			errx(1, "cannot create mailbox %s", o.mailbox);
		created = 1;
		messages = 0;
	}
	if (messages > 0) {
		if (sync_cmd(&c, NULL, NULL, "SELECT %s", qm) != RESP_OK)
			errx(1, "SELECT %s failed", o.mailbox);
		fetch_info(&c, &fi);
		if (fi.messages == 1 && fi.size == o.size) {
			printf("append_uid %lld\n", fi.uid);
			printf("append_bytes %lld\n", fi.size);
			printf("append_created 0\n");
			sync_logout(&c);
			return 0;
		}
		if (sync_cmd(&c, NULL, NULL,
		    "STORE 1:* +FLAGS.SILENT (\\Deleted)") != RESP_OK ||
		    sync_cmd(&c, NULL, NULL, "EXPUNGE") != RESP_OK ||
		    sync_cmd(&c, NULL, NULL, "CLOSE") != RESP_OK)
			errx(1, "cannot empty mailbox %s", o.mailbox);
	}
	msg = make_message(o.size);
	snprintf(qa, sizeof(qa), "%s (\\Seen) {%lld}", qm, o.size);
	/* A synchronizing literal: the server must say "+" first. */
	len = snprintf(c.obuf, sizeof(c.obuf), "a%u APPEND %s\r\n", ++tagseq,
	    qa);
	sync_write(&c, c.obuf, len);
	sync_line(&c, &line, &len);
	if (line[0] != '+')
		errx(1, "APPEND refused: %.100s", line);
	sync_write(&c, msg, o.size);
	sync_write(&c, "\r\n", 2);
	free(msg);
	snprintf(c.obuf, sizeof(c.obuf), "a%u", tagseq);
	for (;;) {
		sync_line(&c, &line, &len);
		if ((r = resp_status(line, len, c.obuf)) == RESP_NONE)
			continue;
		if (r != RESP_OK)
			errx(1, "APPEND failed: %.100s", line);
		/* UIDPLUS (RFC 4315): [APPENDUID validity uid] */
		if ((p = strstr(line, "APPENDUID ")) != NULL &&
		    (p = strchr(p + 10, ' ')) != NULL)
			uid = strtoll(p + 1, NULL, 10);
		break;
	}
	if (uid == 0) {
		if (sync_cmd(&c, NULL, NULL, "EXAMINE %s", qm) != RESP_OK)
			errx(1, "EXAMINE %s failed", o.mailbox);
		fetch_info(&c, &fi);
		uid = fi.uid;
	}
	printf("append_uid %lld\n", uid);
	printf("append_bytes %lld\n", o.size);
	printf("append_created %d\n", created);
	sync_logout(&c);
	return 0;
}

/* UID FETCH of the largest message in o.mailbox, o.runs times. */
static int
cmd_fetch(void)
{
	struct conn		 c;
	struct fetchinfo	 fi;
	char			 qm[256];
	double			*v, t0, best;
	uint64_t		 before;
	long long		 i, uid, size;

	if ((v = calloc(o.runs, sizeof(*v))) == NULL)
		err(1, NULL);
	quote(qm, sizeof(qm), o.mailbox);
	sync_open(&c, SYNC_BUFSZ);
	sync_login(&c, o.user, o.pass);
	if (sync_cmd(&c, NULL, NULL, "EXAMINE %s", qm) != RESP_OK)
		errx(1, "EXAMINE %s failed", o.mailbox);
	fetch_info(&c, &fi);
	if (fi.messages == 0)
		errx(1, "mailbox %s is empty: run append first", o.mailbox);
	uid = o.uid > 0 ? o.uid : fi.uid;
	size = fi.size;
	for (i = -o.warmup; i < o.runs; i++) {
		before = c.litbytes;
		t0 = now();
		if (sync_cmd(&c, NULL, NULL, "UID FETCH %lld BODY.PEEK[]",
		    uid) != RESP_OK)
			errx(1, "UID FETCH %lld failed", uid);
		if (i >= 0)
			v[i] = (c.litbytes - before) / (now() - t0) / 1e6;
		if (o.uid == 0 && (long long)(c.litbytes - before) != size)
			errx(1, "FETCH returned %llu bytes, RFC822.SIZE is "
			    "%lld", (unsigned long long)(c.litbytes - before),
			    size);
		size = c.litbytes - before;
	}
	sync_logout(&c);
	printf("fetch_uid %lld\n", uid);
	printf("fetch_bytes %lld\n", size);
	printf("fetch_runs %lld\n", o.runs);
	best = percentile(v, o.runs, 100);
	printf("fetch_median_mbps %.1f\n", percentile(v, o.runs, 50));
	printf("fetch_best_mbps %.1f\n", best);
	printf("fetch_worst_mbps %.1f\n", v[0]);
	free(v);
	return 0;
}

/* Start connection c (logins and idle): nonblocking connect. */
static void
astart(struct conn *c, int user)
{
	c->user = user;
	c->t0 = now();
	c->deadline = c->t0 + o.timeout;
	c->state = A_CONNECT;
	c->want = POLLOUT;
	if (conn_socket(c, 1) == -1) {
		/* Reported as an error on the first poll round. */
		c->deadline = 0;
	}
}

static void
aqueue(struct conn *c, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(c->obuf + c->olen, sizeof(c->obuf) - c->olen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(c->obuf) - c->olen)
		errx(1, "command too long");
	c->olen += n;
}

/* The next XEXEC of connection c, timed from now. */
static void
axexec(struct conn *c)
{
	c->t0 = now();
	c->deadline = c->t0 + o.timeout;
	c->got = 0;
	aqueue(c, "X XEXEC echo x\r\n");
	c->state = A_XEXEC;
}

/* One response line in the state machine of logins, idle and xexecs. */
static int
aline(struct conn *c, char *line, size_t len, int mode)
{
	char	user[64], qu[128], qp[256];
	int	r;

	if (c->cont) {
		c->cont = 0;
		return STEP_MORE;
	}
	switch (c->state) {
	case A_GREETING:
		if (strncasecmp(line, "* OK", 4) != 0)
			return STEP_ERR;
		if (o.tls == TLS_STARTTLS) {
			aqueue(c, "S STARTTLS\r\n");
			c->state = A_STARTTLS;
			break;
		}
		/* FALLTHROUGH */
	case A_STLS_HS:
		load_user(user, sizeof(user), c->user);
		quote(qu, sizeof(qu), user);
		quote(qp, sizeof(qp), o.lpass);
		aqueue(c, "L LOGIN %s %s\r\n", qu, qp);
		c->state = A_LOGIN;
		break;
	case A_STARTTLS:
		if ((r = resp_status(line, len, "S")) == RESP_NONE)
			break;
		if (r != RESP_OK || conn_tls_start(c) == -1)
			return STEP_ERR;
		c->inlen = c->inoff = 0;
		c->state = A_STLS_HS;
		break;
	case A_LOGIN:
		if ((r = resp_status(line, len, "L")) == RESP_NONE)
			break;
		if (r != RESP_OK)
			return STEP_REFUSED;
		if (mode == M_IDLE) {
			aqueue(c, "I IDLE\r\n");
			c->state = A_IDLE;
		} else if (mode == M_XEXEC) {
			axexec(c);
		} else {
			/* The login time: connect to tagged OK. */
			c->lat = now() - c->t0;
			aqueue(c, "O LOGOUT\r\n");
			c->state = A_LOGOUT;
		}
		break;
	case A_LOGOUT:
		if (resp_status(line, len, "O") != RESP_NONE)
			return STEP_DONE;
		break;
	case A_IDLE:
		if (line[0] == '+') {
			c->state = A_IDLING;
			return STEP_DONE;
		}
		if (resp_status(line, len, "I") != RESP_NONE)
			return STEP_ERR;
		break;
	case A_IDLING:
		/* "* OK Still here" and the like. */
		break;
	case A_XEXEC:
		if (strcmp(line, "* OK x") == 0) {
			c->got = 1;
			break;
		}
		if ((r = resp_status(line, len, "X")) == RESP_NONE)
			break;
		c->lat = now() - c->t0;
		if (r != RESP_OK)
			return STEP_REFUSED;
		return c->got ? STEP_DONE : STEP_ERR;
	default:
		return STEP_ERR;
	}
	return STEP_MORE;
}

/*
 * Move connection c on as far as it goes without blocking.  Called when
 * poll(2) reported what c->want asked for.
 */
static int
astep(struct conn *c, int mode)
{
	char		*line;
	size_t		 len;
	socklen_t	 sl;
	ssize_t		 n;
	int		 r, soerr;

	for (;;) {
		if (c->ooff < c->olen) {
			n = conn_write(c, c->obuf + c->ooff,
			    c->olen - c->ooff);
			if (n == -2)
				return STEP_WAIT;
			if (n <= 0)
				return STEP_ERR;
			c->ooff += n;
			if (c->ooff == c->olen)
				c->ooff = c->olen = 0;
			continue;
		}
		switch (c->state) {
		case A_CONNECT:
			if (c->fd == -1)
				return STEP_ERR;
			sl = sizeof(soerr);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &sl) == -1 || soerr != 0)
				return STEP_ERR;
			if (o.tls == TLS_IMPLICIT) {
				if (conn_tls_start(c) == -1)
					return STEP_ERR;
				c->state = A_TLS;
			} else
				c->state = A_GREETING;
			break;
		case A_TLS:
		case A_STLS_HS:
			r = tls_handshake(c->tls);
			if (r == TLS_WANT_POLLIN || r == TLS_WANT_POLLOUT) {
				c->want = r == TLS_WANT_POLLIN ? POLLIN :
				    POLLOUT;
				return STEP_WAIT;
			}
			if (r == -1)
				return STEP_ERR;
			if (c->state == A_TLS)
				c->state = A_GREETING;
			else if ((r = aline(c, NULL, 0, mode)) != STEP_MORE)
				return r;
			break;
		default:
			if (conn_getline(c, &line, &len) == 0) {
				n = conn_fill(c);
				if (n == -2)
					return STEP_WAIT;
				if (n <= 0)
					return STEP_ERR;
				break;
			}
			if ((r = aline(c, line, len, mode)) != STEP_MORE)
				return r;
			break;
		}
	}
}

/*
 * logins: o.clients connections at a time, each looping connect,
 * greeting, LOGIN, LOGOUT, close, for o.secs seconds.  A cycle counts
 * when its LOGOUT was answered before the end.
 */
static int
cmd_logins(void)
{
	struct conn	*cs;
	struct pollfd	*pfd;
	double		*lat = NULL, t, start, end;
	size_t		 nlat = 0, latsz = 0;
	long long	 done = 0, refused = 0, errors = 0, i;
	int		 next = 0, r, ms;

	raise_nofile(o.clients + 64);
	if ((cs = calloc(o.clients, sizeof(*cs))) == NULL ||
	    (pfd = calloc(o.clients, sizeof(*pfd))) == NULL)
		err(1, NULL);
	if (o.tls != TLS_NONE)
		tls_setup();
	start = now();
	end = start + o.secs;
	/* Spread the users: start where the last run would have ended. */
	next = (getpid() * 7919) % o.lusers;
	for (i = 0; i < o.clients; i++) {
		if ((cs[i].in = malloc(ASYNC_BUFSZ)) == NULL)
			err(1, NULL);
		cs[i].insz = ASYNC_BUFSZ;
		astart(&cs[i], next++ % o.lusers);
	}
	while ((t = now()) < end) {
		for (i = 0; i < o.clients; i++) {
			pfd[i].fd = cs[i].fd;
			pfd[i].events = cs[i].want;
			pfd[i].revents = 0;
		}
		ms = (end - t) * 1000 + 1;
		if (ms > 100)
			ms = 100;
		if (poll(pfd, o.clients, ms) == -1 && errno != EINTR)
			err(1, "poll");
		t = now();
		for (i = 0; i < o.clients; i++) {
			if (pfd[i].revents == 0 && cs[i].fd != -1 &&
			    t < cs[i].deadline)
				continue;
			if (cs[i].fd == -1 || t >= cs[i].deadline)
				r = STEP_ERR;
			else
				r = astep(&cs[i], M_LOGINS);
			if (r == STEP_WAIT)
				continue;
			t = now();
			if (r == STEP_DONE && t < end) {
				done++;
				if (nlat == latsz && latsz < MAX_SAMPLES) {
					latsz = latsz ? latsz * 2 : 4096;
					lat = reallocarray(lat, latsz,
					    sizeof(*lat));
					if (lat == NULL)
						err(1, NULL);
				}
				if (nlat < latsz)
					lat[nlat++] = cs[i].lat * 1e3;
			} else if (r == STEP_REFUSED)
				refused++;
			else if (r == STEP_ERR && t < end)
				errors++;
			conn_close(&cs[i]);
			if (t < end)
				astart(&cs[i], next++ % o.lusers);
		}
	}
	for (i = 0; i < o.clients; i++) {
		conn_close(&cs[i]);
		free(cs[i].in);
	}
	printf("logins_clients %lld\n", o.clients);
	printf("logins_secs %.1f\n", o.secs);
	printf("logins_done %lld\n", done);
	printf("logins_refused %lld\n", refused);
	printf("logins_errors %lld\n", errors);
	printf("logins_per_s %.1f\n", done / o.secs);
	printf("login_p50_ms %.2f\n", percentile(lat, nlat, 50));
	printf("login_p99_ms %.2f\n", percentile(lat, nlat, 99));
	free(lat);
	free(cs);
	free(pfd);
	if (refused > 0)
		warnx("%lld logins refused: are the load users there?",
		    refused);
	return done > 0 ? 0 : 1;
}

/* pid and parent pid of every process. */
static int
proc_table(struct proc **tab)
{
	DIR		*d;
	struct dirent	*de;
	FILE		*f;
	char		 path[64], buf[512], *p;
	struct proc	*t = NULL;
	size_t		 n = 0, sz = 0;
	int		 pid, ppid;

	if ((d = opendir("/proc")) == NULL)
		err(1, "/proc");
	while ((de = readdir(d)) != NULL) {
		if ((pid = strtonum(de->d_name, 1, INT_MAX, NULL)) == 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		/* "pid (comm) state ppid": comm may hold anything. */
		if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 1, " %*c %d", &ppid) != 1)
			continue;
		if (n == sz) {
			sz = sz ? sz * 2 : 512;
			if ((t = reallocarray(t, sz, sizeof(*t))) == NULL)
				err(1, NULL);
		}
		t[n].pid = pid;
		t[n].ppid = ppid;
		n++;
	}
	closedir(d);
	*tab = t;
	return n;
}

/* Socket inode of the listener on the target's address and port. */
static int
listen_inode(const struct target *tg, unsigned long *inode)
{
	const struct sockaddr_in	*sin = (const void *)&tg->ss;
	const struct sockaddr_in6	*sin6 = (const void *)&tg->ss;
	FILE				*f;
	char				 buf[512], la[40];
	char				 want[40], any[40];
	const char			*file;
	unsigned int			 port, lport, st;
	unsigned long			 ino;
	uint32_t			 w[4];
	int				 i;

	if (tg->ss.ss_family == AF_INET) {
		file = "/proc/net/tcp";
		snprintf(want, sizeof(want), "%08X",
		    (unsigned)sin->sin_addr.s_addr);
		strlcpy(any, "00000000", sizeof(any));
		port = ntohs(sin->sin_port);
	} else {
		file = "/proc/net/tcp6";
		memcpy(w, &sin6->sin6_addr, sizeof(w));
		want[0] = '\0';
		for (i = 0; i < 4; i++)
			snprintf(want + 8 * i, sizeof(want) - 8 * i, "%08X",
			    w[i]);
		memset(any, '0', 32);
		any[32] = '\0';
		port = ntohs(sin6->sin6_port);
	}
	if ((f = fopen(file, "r")) == NULL)
		return -1;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		if (sscanf(buf, " %*d: %39[0-9A-Fa-f]:%x %*s %x %*s %*s %*s "
		    "%*u %*d %lu", la, &lport, &st, &ino) != 4)
			continue;
		/* State 0A is LISTEN. */
		if (st != 0x0a || lport != port ||
		    (strcasecmp(la, want) != 0 && strcmp(la, any) != 0))
			continue;
		fclose(f);
		*inode = ino;
		return 0;
	}
	fclose(f);
	return -1;
}

/* The pids in tab, other than ours, of the processes called name. */
static int
proc_named(const struct proc *tab, int nt, const char *name, pid_t *out)
{
	FILE		*f;
	char		 path[64], comm[64];
	int		 i, n = 0;

	for (i = 0; i < nt; i++) {
		if (tab[i].pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", tab[i].pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL) {
			comm[strcspn(comm, "\n")] = '\0';
			if (strcmp(comm, name) == 0)
				out[n++] = tab[i].pid;
		}
		fclose(f);
	}
	return n;
}

/*
 * The pids, at most max, of the processes that hold the listening
 * socket of tg; -1 if there is no such listener.  Another user's
 * descriptors are seen by root only.
 */
static int
listen_holders(const struct target *tg, pid_t *out, int max)
{
	DIR		*d, *fdd;
	struct dirent	*de, *fe;
	char		 path[64], link[64], want[64];
	unsigned long	 inode;
	ssize_t		 l;
	int		 n = 0, pid;

	if (listen_inode(tg, &inode) == -1)
		return -1;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	if ((d = opendir("/proc")) == NULL)
		err(1, "/proc");
	while ((de = readdir(d)) != NULL && n < max) {
		if ((pid = strtonum(de->d_name, 1, INT_MAX, NULL)) == 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
		if ((fdd = opendir(path)) == NULL)
			continue;
		while ((fe = readdir(fdd)) != NULL) {
			l = readlinkat(dirfd(fdd), fe->d_name, link,
			    sizeof(link) - 1);
			if (l <= 0)
				continue;
			link[l] = '\0';
			if (strcmp(link, want) == 0) {
				out[n++] = pid;
				break;
			}
		}
		closedir(fdd);
	}
	closedir(d);
	return n;
}

/*
 * The server's processes, whose memory the idle figure sums and whose
 * CPU time submit counts for the proxy: the tops of the trees of
 * -f pidfile, -k pid, -R name (processes called so), or by default of
 * the processes that hold the target's listening socket.
 */
static int
find_roots(pid_t **rootsp)
{
	struct proc	*tab;
	pid_t		*hold = NULL, *roots;
	FILE		*f;
	int		 nt, nh = 0, nr = 0, i, j, pid;

	*rootsp = NULL;
	nt = proc_table(&tab);
	if ((hold = calloc(nt + 1, sizeof(*hold))) == NULL)
		err(1, NULL);
	if (o.pidfile != NULL) {
		if ((f = fopen(o.pidfile, "r")) == NULL)
			err(1, "%s", o.pidfile);
		if (fscanf(f, "%d", &pid) != 1 || pid <= 0)
			errx(1, "%s: no pid", o.pidfile);
		fclose(f);
		hold[nh++] = pid;
	} else if (o.pid > 0)
		hold[nh++] = o.pid;
	else if (o.procname != NULL)
		nh = proc_named(tab, nt, o.procname, hold);
	else if ((nh = listen_holders(&o.target, hold, nt)) == -1) {
		warnx("no listener on %s found", o.target.name);
		free(tab);
		free(hold);
		return 0;
	}
	/* Keep those whose parent is not in the set themselves. */
	if ((roots = calloc(nh + 1, sizeof(*roots))) == NULL)
		err(1, NULL);
	for (i = 0; i < nh; i++) {
		pid_t	ppid = -1;

		for (j = 0; j < nt; j++)
			if (tab[j].pid == hold[i])
				ppid = tab[j].ppid;
		for (j = 0; j < nh; j++)
			if (hold[j] == ppid)
				break;
		if (j == nh)
			roots[nr++] = hold[i];
	}
	free(tab);
	free(hold);
	*rootsp = roots;
	return nr;
}

/* The roots that still run and all their descendants. */
static int
proc_tree(const pid_t *roots, int nroots, pid_t **pidsp)
{
	struct proc	*tab;
	pid_t		*pids;
	char		*in;
	int		 nt, n = 0, i, j, changed;

	nt = proc_table(&tab);
	if ((in = calloc(nt + 1, 1)) == NULL ||
	    (pids = calloc(nt + 1, sizeof(*pids))) == NULL)
		err(1, NULL);
	for (i = 0; i < nt; i++)
		for (j = 0; j < nroots; j++)
			if (tab[i].pid == roots[j])
				in[i] = 1;
	do {
		changed = 0;
		for (i = 0; i < nt; i++) {
			if (in[i])
				continue;
			for (j = 0; j < nt; j++)
				if (in[j] && tab[j].pid == tab[i].ppid) {
					in[i] = changed = 1;
					break;
				}
		}
	} while (changed);
	for (i = 0; i < nt; i++)
		if (in[i])
			pids[n++] = tab[i].pid;
	free(in);
	free(tab);
	*pidsp = pids;
	return n;
}

/* Sum Pss and Rss over the roots and all their descendants. */
static void
mem_measure(const pid_t *roots, int nroots, struct mem *m)
{
	FILE		*f;
	pid_t		*pids;
	char		 path[64], buf[256];
	long long	 kb;
	int		 n, i;

	memset(m, 0, sizeof(*m));
	n = proc_tree(roots, nroots, &pids);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup",
		    pids[i]);
		if ((f = fopen(path, "r")) == NULL) {
			warn("%s", path);
			continue;
		}
		m->nprocs++;
		while (fgets(buf, sizeof(buf), f) != NULL) {
			if (sscanf(buf, "Rss: %lld kB", &kb) == 1)
				m->rss += kb;
			else if (sscanf(buf, "Pss: %lld kB", &kb) == 1)
				m->pss += kb;
		}
		fclose(f);
	}
	free(pids);
}

/* The first number in a file: 0, or -1 if there is none. */
static int
read_first(const char *path, unsigned long long *v)
{
	FILE	*f;
	int	 r;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	r = fscanf(f, "%llu", v) == 1 ? 0 : -1;
	fclose(f);
	return r;
}

/*
 * What process pid has used of the CPUs so far, in ns: the first field
 * of /proc/PID/schedstat, which is the main thread's alone, so summed
 * over /proc/PID/task/TID/schedstat when there are more threads; on a
 * kernel without schedstat, utime + stime of /proc/PID/stat, in clock
 * ticks.  Also its start time, which tells a pid reused in between from
 * the process seen before.  -1 if it is gone.
 */
static int
cpu_read(pid_t pid, struct cpu *c)
{
	static int		 schedstat = -1;
	static long		 hz;
	DIR			*d;
	struct dirent		*de;
	FILE			*f;
	char			 path[64], buf[1024], *p;
	unsigned long long	 utime, stime, ns;
	long			 nthr;
	int			 tid;

	if (schedstat == -1)
		schedstat = access("/proc/self/schedstat", R_OK) == 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* Fields 14, 15, 20 and 22: utime, stime, threads, start time. */
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %*d %*d %*d %*d %ld %*d %llu", &utime, &stime, &nthr,
	    &c->start) != 4)
		return -1;
	c->pid = pid;
	if (!schedstat) {
		if (hz == 0 && (hz = sysconf(_SC_CLK_TCK)) <= 0)
			hz = 100;
		c->ns = (double)(utime + stime) * 1e9 / hz;
		return 0;
	}
	if (nthr <= 1) {
		snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
		return read_first(path, &c->ns);
	}
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	c->ns = 0;
	while ((de = readdir(d)) != NULL) {
		if ((tid = strtonum(de->d_name, 1, INT_MAX, NULL)) == 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat",
		    pid, tid);
		if (read_first(path, &ns) == 0)
			c->ns += ns;
	}
	closedir(d);
	return 0;
}

/*
 * The CPU time so far of one group of processes: CPU_PROXY the server
 * at -a as find_roots() finds it (submit: imapxd's parent) and all its
 * descendants (the front ends, submitd), CPU_MTA every process called
 * o.mta (OpenSMTPD's are all smtpd).  -1 if the group has none.
 */
static int
cpu_group(int group, struct cpusnap *s)
{
	struct proc	*tab;
	pid_t		*roots, *pids = NULL;
	int		 nt, n = 0, i;

	if (group == CPU_PROXY) {
		if ((n = find_roots(&roots)) > 0)
			n = proc_tree(roots, n, &pids);
		free(roots);
	} else {
		nt = proc_table(&tab);
		if ((pids = calloc(nt + 1, sizeof(*pids))) == NULL)
			err(1, NULL);
		n = proc_named(tab, nt, o.mta, pids);
		free(tab);
	}
	if ((s->p = calloc(n + 1, sizeof(*s->p))) == NULL)
		err(1, NULL);
	s->n = 0;
	for (i = 0; i < n; i++)
		if (cpu_read(pids[i], &s->p[s->n]) == 0)
			s->n++;
	free(pids);
	return s->n > 0 ? 0 : -1;
}

/*
 * The CPU time in ms a group used from snapshot a to snapshot b: what
 * each process of b has used, less what it had in a if it was there.
 * A process of a gone from b counts as it was in a, so what it used in
 * between is missed, as is all of one that came and went between the
 * two: acceptable, the daemons measured keep their processes.
 */
static double
cpu_used(const struct cpusnap *a, const struct cpusnap *b)
{
	unsigned long long	 ns = 0;
	int			 i, j;

	for (i = 0; i < b->n; i++) {
		for (j = 0; j < a->n; j++)
			if (a->p[j].pid == b->p[i].pid &&
			    a->p[j].start == b->p[i].start)
				break;
		if (j == a->n)
			ns += b->p[i].ns;
		/* A thread that exits takes its time out of the sum. */
		else if (b->p[i].ns > a->p[j].ns)
			ns += b->p[i].ns - a->p[j].ns;
	}
	return ns / 1e6;
}

/*
 * idle: o.count connections, at most o.clients logging in at a time,
 * each as its own load user and left in IDLE; then the growth of the
 * server's resident memory per connection.
 */
static int
cmd_idle(void)
{
	struct conn	*cs;
	struct pollfd	*pfd;
	struct mem	 m0, mh, m1;
	pid_t		*roots;
	double		 t, start, setup, setup_end, phase_end;
	long long	 i, next = 0, inflight = 0, idling = 0, failed = 0;
	long long	 refused = 0, dropped = 0, established = 0;
	long long	 upto, half, idling_half = 0;
	int		 nroots, r, phase;

	raise_nofile(o.count + 64);
	if ((cs = calloc(o.count, sizeof(*cs))) == NULL ||
	    (pfd = calloc(o.count, sizeof(*pfd))) == NULL)
		err(1, NULL);
	if (o.tls != TLS_NONE)
		tls_setup();
	nroots = find_roots(&roots);
	if (nroots > 0)
		mem_measure(roots, nroots, &m0);
	/*
	 * Phases: 0 open the first half; 1 settle, measure; 2 open the
	 * rest; 3 settle, measure; 4 hold.  Set-up is bounded by o.secs.
	 * The growth over the second half alone shows what the first
	 * half hid: memory the server had freed before and reused.
	 */
	half = o.count / 2;
	start = now();
	setup_end = start + o.secs;
	setup = 0;
	phase = 0;
	phase_end = 0;
	for (;;) {
		t = now();
		upto = phase == 0 ? half : o.count;
		if ((phase == 0 || phase == 2) &&
		    (established + failed >= upto || t >= setup_end)) {
			setup += t - start;
			phase++;
			phase_end = t + o.settle;
		}
		if ((phase == 1 || phase == 3) && t >= phase_end) {
			if (nroots > 0)
				mem_measure(roots, nroots,
				    phase == 1 ? &mh : &m1);
			if (phase == 1)
				idling_half = idling;
			phase++;
			start = now();
			phase_end = start + o.hold;
		}
		if (phase == 4 && t >= phase_end)
			break;
		while ((phase == 0 || phase == 2) && inflight < o.clients &&
		    next < upto) {
			if ((cs[next].in = malloc(ASYNC_BUFSZ)) == NULL)
				err(1, NULL);
			cs[next].insz = ASYNC_BUFSZ;
			astart(&cs[next], next);
			next++;
			inflight++;
		}
		for (i = 0; i < next; i++) {
			pfd[i].fd = cs[i].fd;
			pfd[i].events = cs[i].fd == -1 ? 0 : cs[i].want;
			pfd[i].revents = 0;
		}
		if (poll(pfd, next, 50) == -1 && errno != EINTR)
			err(1, "poll");
		t = now();
		for (i = 0; i < next; i++) {
			if (cs[i].state == A_FREE)
				continue;
			if (cs[i].state == A_IDLING) {
				if (pfd[i].revents == 0)
					continue;
				if (astep(&cs[i], M_IDLE) == STEP_WAIT)
					continue;
				dropped++;
				idling--;
				conn_close(&cs[i]);
				continue;
			}
			if (pfd[i].revents == 0 && cs[i].fd != -1 &&
			    t < cs[i].deadline)
				continue;
			if (cs[i].fd == -1 || t >= cs[i].deadline)
				r = STEP_ERR;
			else
				r = astep(&cs[i], M_IDLE);
			if (r == STEP_WAIT)
				continue;
			inflight--;
			if (r == STEP_DONE) {
				established++;
				idling++;
				cs[i].want = POLLIN;
				continue;
			}
			if (r == STEP_REFUSED)
				refused++;
			failed++;
			conn_close(&cs[i]);
		}
	}
	for (i = 0; i < next; i++) {
		conn_close(&cs[i]);
		free(cs[i].in);
	}
	printf("idle_requested %lld\n", o.count);
	printf("idle_established %lld\n", established);
	printf("idle_open %lld\n", idling);
	printf("idle_failed %lld\n", failed);
	printf("idle_refused %lld\n", refused);
	printf("idle_dropped %lld\n", dropped);
	printf("idle_setup_secs %.1f\n", setup);
	if (nroots > 0 && idling > 0) {
		printf("idle_procs_before %d\n", m0.nprocs);
		printf("idle_procs_after %d\n", m1.nprocs);
		printf("mem_pss_before_kib %lld\n", m0.pss);
		printf("mem_pss_after_kib %lld\n", m1.pss);
		printf("mem_rss_before_kib %lld\n", m0.rss);
		printf("mem_rss_after_kib %lld\n", m1.rss);
		printf("idle_pss_kib_per_conn %.2f\n",
		    (double)(m1.pss - m0.pss) / idling);
		printf("idle_rss_kib_per_conn %.2f\n",
		    (double)(m1.rss - m0.rss) / idling);
		if (idling > idling_half && idling_half > 0) {
			printf("mem_pss_half_kib %lld\n", mh.pss);
			printf("idle_half_open %lld\n", idling_half);
			printf("idle_pss_kib_per_conn_2nd_half %.2f\n",
			    (double)(m1.pss - mh.pss) /
			    (idling - idling_half));
			printf("idle_rss_kib_per_conn_2nd_half %.2f\n",
			    (double)(m1.rss - mh.rss) /
			    (idling - idling_half));
		}
	} else
		warnx("memory not measured: no server processes found");
	free(roots);
	free(cs);
	free(pfd);
	return idling > 0 ? 0 : 1;
}

/*
 * relay: the cheapest proxy there is, as a yardstick for imapxd.  It
 * accepts on --listen and copies bytes both ways to the target: one
 * poll(2) loop, read and write, TCP_NODELAY, no parsing; a buffer is
 * held only while a write is short.  It stops after o.secs seconds.
 */
/*
 * One bare run of the echo module's program, as execd would start it but
 * with nothing of execd's sandbox: fork, execve with argv "echo x" and an
 * empty environment, read its output from a pipe to the end, wait.
 * Returns microseconds.
 */
static double
spawn_once(void)
{
	char	*argv[] = { "echo", "x", NULL }, *envp[] = { NULL };
	char	 buf[64];
	size_t	 got = 0;
	ssize_t	 n;
	pid_t	 pid;
	double	 t0;
	int	 p[2], status;

	t0 = now();
	if (pipe2(p, O_CLOEXEC) == -1)
		err(1, "pipe2");
	if ((pid = fork()) == -1)
		err(1, "fork");
	if (pid == 0) {
		if (dup2(p[1], 1) != -1 && dup2(p[1], 2) != -1)
			execve(o.program, argv, envp);
		_exit(127);
	}
	close(p[1]);
	while (got < sizeof(buf)) {
		n = read(p[0], buf + got, sizeof(buf) - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			err(1, "waitpid");
	t0 = (now() - t0) * 1e6;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got != 2 ||
	    memcmp(buf, "x\n", 2) != 0)
		errx(1, "%s x: not the output \"x\" and exit status 0",
		    o.program);
	return t0;
}

/* The one output line of XEXEC echo x. */
static void
cb_xexec(char *line, size_t len, void *arg)
{
	int	*got = arg;

	if (strcmp(line, "* OK x") == 0)
		(*got)++;
	else
		warnx("unexpected response to XEXEC: %.100s", line);
}

/*
 * XEXEC echo x round trips on one logged-in connection, from writing the
 * command to reading its tagged OK, and bare runs of the module's
 * program (spawn_once), taken in turn so that both see the same machine.
 */
static int
cmd_xexec(void)
{
	struct conn	 c;
	double		*vx, *vs, t0, sx = 0, ss = 0;
	long long	 i;
	size_t		 n = o.count;
	int		 got;

	if (o.program == NULL)
		errx(2, "xexec: the module's program (-E) is missing");
	if ((vx = calloc(n, sizeof(*vx))) == NULL ||
	    (vs = calloc(n, sizeof(*vs))) == NULL)
		err(1, NULL);
	sync_open(&c, SYNC_BUFSZ);
	sync_login(&c, o.user, o.pass);
	for (i = -o.warmup; i < o.count; i++) {
		t0 = spawn_once();
		if (i >= 0)
			ss += vs[i] = t0;
		got = 0;
		t0 = now();
		if (sync_cmd(&c, cb_xexec, &got, "XEXEC echo x") != RESP_OK ||
		    got != 1)
			errx(1, "%s: XEXEC echo x did not answer \"* OK x\" "
			    "and OK", o.target.name);
		if (i >= 0)
			sx += vx[i] = (now() - t0) * 1e6;
	}
	sync_logout(&c);
	printf("xexec_count %zu\n", n);
	printf("xexec_mean_us %.1f\n", sx / n);
	printf("xexec_p50_us %.1f\n", percentile(vx, n, 50));
	printf("xexec_p90_us %.1f\n", percentile(vx, n, 90));
	printf("xexec_p99_us %.1f\n", percentile(vx, n, 99));
	printf("spawn_mean_us %.1f\n", ss / n);
	printf("spawn_p50_us %.1f\n", percentile(vs, n, 50));
	printf("spawn_p90_us %.1f\n", percentile(vs, n, 90));
	printf("spawn_p99_us %.1f\n", percentile(vs, n, 99));
	free(vx);
	free(vs);
	return 0;
}

/*
 * xexecs: o.clients sessions, session i logged in as load user i, each
 * sending XEXEC echo x again as soon as the last one is answered.  The
 * o.secs seconds start once every session is logged in; a run counts
 * when its tagged OK arrives within them.
 */
static int
cmd_xexecs(void)
{
	struct conn	*cs, *c;
	struct pollfd	*pfd;
	double		*lat = NULL, t, start = 0, end = 0;
	size_t		 nlat = 0, latsz = 0;
	long long	 done = 0, refused = 0, errors = 0, i, ready;
	int		 r, ms;

	if (o.clients > o.lusers)
		errx(2, "xexecs: %lld clients, %d load users", o.clients,
		    o.lusers);
	raise_nofile(o.clients + 64);
	if ((cs = calloc(o.clients, sizeof(*cs))) == NULL ||
	    (pfd = calloc(o.clients, sizeof(*pfd))) == NULL)
		err(1, NULL);
	if (o.tls != TLS_NONE)
		tls_setup();
	for (i = 0; i < o.clients; i++) {
		if ((cs[i].in = malloc(ASYNC_BUFSZ)) == NULL)
			err(1, NULL);
		cs[i].insz = ASYNC_BUFSZ;
		astart(&cs[i], i);
	}
	t = now();
	while (start == 0 || t < end) {
		for (i = 0; i < o.clients; i++) {
			pfd[i].fd = cs[i].fd;
			pfd[i].events = cs[i].want;
			pfd[i].revents = 0;
		}
		ms = start == 0 ? 100 : (end - t) * 1000 + 1;
		if (ms > 100)
			ms = 100;
		if (poll(pfd, o.clients, ms) == -1 && errno != EINTR)
			err(1, "poll");
		for (i = 0; i < o.clients; i++) {
			c = &cs[i];
			t = now();
			if (pfd[i].revents == 0 && c->fd != -1 &&
			    t < c->deadline)
				continue;
			for (;;) {
				if (c->fd == -1 || t >= c->deadline)
					r = STEP_ERR;
				else
					r = astep(c, M_XEXEC);
				if (r == STEP_WAIT)
					break;
				if (r == STEP_REFUSED && c->state != A_XEXEC)
					errx(1, "%s: LOGIN refused: are the "
					    "load users there?", o.target.name);
				t = now();
				if (r == STEP_ERR) {
					if (start != 0 && t < end)
						errors++;
					conn_close(c);
					astart(c, i);
					break;
				}
				if (start != 0 && t < end && r == STEP_DONE) {
					done++;
					if (nlat == latsz &&
					    latsz < MAX_SAMPLES) {
						latsz = latsz ? latsz * 2 :
						    4096;
						lat = reallocarray(lat, latsz,
						    sizeof(*lat));
						if (lat == NULL)
							err(1, NULL);
					}
					if (nlat < latsz)
						lat[nlat++] = c->lat * 1e3;
				} else if (start != 0 && t < end)
					refused++;
				axexec(c);
			}
		}
		t = now();
		if (start == 0) {
			for (i = 0, ready = 0; i < o.clients; i++)
				ready += cs[i].state == A_XEXEC;
			if (ready == o.clients) {
				start = t;
				end = start + o.secs;
			}
		}
	}
	for (i = 0; i < o.clients; i++) {
		conn_close(&cs[i]);
		free(cs[i].in);
	}
	printf("xexecs_clients %lld\n", o.clients);
	printf("xexecs_secs %.1f\n", o.secs);
	printf("xexecs_runs %lld\n", done);
	printf("xexecs_refused %lld\n", refused);
	printf("xexecs_errors %lld\n", errors);
	printf("xexecs_runs_per_s %.1f\n", done / o.secs);
	printf("xexecs_p50_ms %.2f\n", percentile(lat, nlat, 50));
	printf("xexecs_p99_ms %.2f\n", percentile(lat, nlat, 99));
	free(lat);
	free(cs);
	free(pfd);
	if (refused > 0)
		warnx("%lld runs refused: is the echo module's rate or "
		    "concurrency limit lower than the load?", refused);
	return done > 0 ? 0 : 1;
}

/*
 * A message for submit and smtp, made once per client: raw is the RFC
 * 5322 message and the CRLF that ends SUBMIT's command after its
 * literal; wire is the same message dot-stuffed and ended by "." (RFC
 * 5321 4.5.2), what follows DATA, the bytes submitd sends the relay for
 * raw.  mail_next() gives each message a Message-ID of its own.
 */
static void
mail_make(struct mail *m, long long size, const char *addr)
{
	const char	*dom;
	char		 hdr[1024];
	size_t		 i;
	int		 hl, idl, bol = 1;

	memset(m, 0, sizeof(*m));
	if (strlcpy(m->addr, addr, sizeof(m->addr)) >= sizeof(m->addr) ||
	    (dom = strchr(addr, '@')) == NULL)
		errx(2, "bad address %s", addr);
	idl = snprintf(hdr, sizeof(hdr),
	    "From: %s\r\n"
	    "To: %s\r\n"
	    "Subject: imapx-bench %lld bytes\r\n"
	    "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
	    "Message-ID: <imapx-bench.%08x%08x.", addr, addr, size,
	    arc4random(), arc4random());
	hl = idl < 0 ? -1 : snprintf(hdr + idl, sizeof(hdr) - idl,
	    "%010u%s>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n", 0, dom);
	if (hl < 0 || (size_t)(idl + hl) >= sizeof(hdr))
		errx(2, "address %s too long", addr);
	hl += idl;
	if (hl + 2 > size)
		errx(2, "size %lld too small for a message", size);
	m->idoff = idl;
	m->rawlen = size;
	if ((m->raw = malloc(MAIL_CMD_ROOM + size + 2)) == NULL ||
	    (m->wire = malloc(2 * size + 3)) == NULL)
		err(1, NULL);
	m->raw += MAIL_CMD_ROOM;
	memcpy(m->raw, hdr, hl);
	fill_lines(m->raw + hl, m->raw + size);
	memcpy(m->raw + size, "\r\n", 2);
	/* No header line starts with ".": idoff is the same in wire. */
	for (i = 0; i < (size_t)size; i++) {
		if (bol && m->raw[i] == '.')
			m->wire[m->wirelen++] = '.';
		m->wire[m->wirelen++] = m->raw[i];
		bol = m->raw[i] == '\n';
	}
	memcpy(m->wire + m->wirelen, ".\r\n", 3);
	m->wirelen += 3;
}

static void
mail_next(struct mail *m)
{
	char	id[16];

	snprintf(id, sizeof(id), "%010u", ++m->seq);
	memcpy(m->raw + m->idoff, id, 10);
	memcpy(m->wire + m->idoff, id, 10);
}

/*
 * One SMTP reply: the code of its last line.  With caps, the EHLO
 * keywords that matter here are noted.
 */
static int
smtp_reply(struct conn *c, int *caps)
{
	char	*line;
	size_t	 len;

	for (;;) {
		sync_line(c, &line, &len);
		c->lit = 0;	/* a reply never announces a literal */
		if (len < 3 || !isdigit((unsigned char)line[0]) ||
		    !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) ||
		    (len > 3 && line[3] != ' ' && line[3] != '-'))
			errx(1, "%s: not an SMTP reply: %.100s",
			    o.target.name, line);
		if (caps != NULL && len >= 8 &&
		    strncasecmp(line + 4, "SIZE", 4) == 0 &&
		    (len == 8 || line[8] == ' '))
			*caps |= SMTP_CAP_SIZE;
		if (caps != NULL && len == 14 &&
		    strncasecmp(line + 4, "PIPELINING", 10) == 0)
			*caps |= SMTP_CAP_PIPELINING;
		if (len == 3 || line[3] == ' ') {
			strlcpy(smtp_last, line, sizeof(smtp_last));
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			    line[2] - '0';
		}
	}
}

static int
smtp_cmd(struct conn *c, int *caps, const char *fmt, ...)
{
	char	cmd[512];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(cmd, sizeof(cmd) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(cmd) - 2)
		errx(1, "command too long");
	memcpy(cmd + n, "\r\n", 2);
	sync_write(c, cmd, n + 2);
	return smtp_reply(c, caps);
}

/*
 * Connect to the MTA, read its greeting and say EHLO; c->in is the
 * caller's.  Returns the EHLO capabilities (SMTP_CAP_*).
 */
static int
smtp_connect(struct conn *c)
{
	struct timeval	tv;
	int		caps = 0;

	c->litbytes = 0;
	if (conn_socket(c, 0) == -1)
		err(1, "connect %s", o.target.name);
	tv.tv_sec = o.timeout;
	tv.tv_usec = 0;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ==
	    -1 || setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)) == -1)
		err(1, "setsockopt");
	if (smtp_reply(c, NULL) != 220)
		errx(1, "%s: greeting: %s", o.target.name, smtp_last);
	if (smtp_cmd(c, &caps, "EHLO imapx-bench.%s", o.domain) != 250)
		errx(1, "%s: EHLO: %s", o.target.name, smtp_last);
	return caps;
}

/*
 * QUIT, written and not waited for, then close: what submitd does
 * after the reply to its final ".".
 */
static void
smtp_quit(struct conn *c)
{
	sync_write(c, "QUIT\r\n", 6);
	close(c->fd);
	c->fd = -1;
}

/*
 * One transaction, envelope as submitd gives it: 1 accepted, 0 refused.
 * As submitd and other clients do, MAIL, RCPT and DATA go in one write
 * when the MTA offers PIPELINING, and their replies are read after it.
 */
static int
smtp_mail(struct conn *c, const struct mail *m, int caps)
{
	char	size[32] = "", cmd[512];
	int	code, n, mc, rc;

	if (caps & SMTP_CAP_PIPELINING) {
		if (caps & SMTP_CAP_SIZE)
			snprintf(size, sizeof(size), " SIZE=%zu", m->rawlen);
		n = snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>%s\r\n"
		    "RCPT TO:<%s>\r\nDATA\r\n", m->addr, size, m->addr);
		if (n < 0 || (size_t)n >= sizeof(cmd))
			errx(1, "command too long");
		sync_write(c, cmd, n);
		mc = smtp_reply(c, NULL);
		rc = smtp_reply(c, NULL);
		code = smtp_reply(c, NULL);
		if (code == 354 && (mc != 250 || (rc != 250 && rc != 251))) {
			/* DATA went on without the envelope: end it empty */
			sync_write(c, ".\r\n", 3);
			(void)smtp_reply(c, NULL);
			goto refused;
		}
		if (mc != 250 || (rc != 250 && rc != 251) || code != 354)
			goto refused;
		goto body;
	}
	if (caps & SMTP_CAP_SIZE)
		code = smtp_cmd(c, NULL, "MAIL FROM:<%s> SIZE=%zu", m->addr,
		    m->rawlen);
	else
		code = smtp_cmd(c, NULL, "MAIL FROM:<%s>", m->addr);
	if (code != 250)
		goto refused;
	if ((code = smtp_cmd(c, NULL, "RCPT TO:<%s>", m->addr)) != 250 &&
	    code != 251)
		goto refused;
	if (smtp_cmd(c, NULL, "DATA") != 354)
		goto refused;
 body:
	sync_write(c, m->wire, m->wirelen);
	if (smtp_reply(c, NULL) == 250)
		return 1;
	warnx("%s: message refused: %.100s", o.target.name, smtp_last);
	return 0;
 refused:
	warnx("%s: refused: %.100s", o.target.name, smtp_last);
	if (smtp_cmd(c, NULL, "RSET") != 250)
		errx(1, "%s: RSET: %s", o.target.name, smtp_last);
	return 0;
}

/*
 * SUBMIT and the message (doc/submit.md): 1 OK, 0 NO.  As a client
 * does where the server offers LITERAL+ (RFC 7888), {n+} and the
 * message in one write; otherwise {n}, and the message after the
 * continuation.
 */
static int
submit_mail(struct conn *c, struct mail *m, int litplus)
{
	char	 cmd[MAIL_CMD_ROOM], tag[16], *line;
	size_t	 len;
	int	 n, r;

	snprintf(tag, sizeof(tag), "s%u", ++tagseq);
	n = snprintf(cmd, sizeof(cmd), "%s SUBMIT {%zu%s}\r\n", tag,
	    m->rawlen, litplus ? "+" : "");
	if (n < 0 || (size_t)n >= sizeof(cmd))
		errx(1, "command too long");
	if (litplus) {
		memcpy(m->raw - n, cmd, n);
		sync_write(c, m->raw - n, n + m->rawlen + 2);
		goto answer;
	}
	sync_write(c, cmd, n);
	for (;;) {
		sync_line(c, &line, &len);
		if (line[0] == '+')
			break;
		if ((r = resp_status(line, len, tag)) == RESP_NONE)
			continue;
		if (r == RESP_NO) {
			warnx("%s: SUBMIT refused: %.100s", o.target.name,
			    line);
			return 0;
		}
		errx(1, "%s: SUBMIT: %.100s", o.target.name, line);
	}
	/* The literal and the command's CRLF in one write. */
	sync_write(c, m->raw, m->rawlen + 2);
 answer:
	for (;;) {
		sync_line(c, &line, &len);
		if (c->cont) {
			c->cont = 0;
			continue;
		}
		if ((r = resp_status(line, len, tag)) == RESP_NONE)
			continue;
		if (r == RESP_OK)
			return 1;
		if (r == RESP_NO) {
			warnx("%s: SUBMIT refused: %.100s", o.target.name,
			    line);
			return 0;
		}
		errx(1, "%s: SUBMIT: %.100s", o.target.name, line);
	}
}

/* Does the server offer LITERAL+ in this CAPABILITY response? */
static void
cap_literalplus(char *line, size_t len, void *arg)
{
	int	*litplus = arg;
	char	*p, *e = line + len;

	if (len < 13 || strncasecmp(line, "* CAPABILITY ", 13) != 0)
		return;
	for (p = line + 12; p + 9 <= e; p++)
		if (strncasecmp(p, " LITERAL+", 9) == 0 &&
		    (p + 9 == e || p[9] == ' '))
			*litplus = 1;
}

/*
 * Client i of submit and smtp, in a process of its own: log in or say
 * EHLO, tell the parent, wait for the start (and its turn), then send
 * messages one after the other until the window ends.  A message counts
 * when it is accepted within the window, which opens o.settle seconds
 * after the start: by then every client is sending.
 */
static __dead void
mail_client(int mode, long long i, struct mailstat *st,
    volatile double *start, int ready, int go)
{
	struct conn	 c;
	struct mail	 m;
	char		 user[64], addr[192], b;
	double		 t0, t1, wstart, wend;
	int		 caps = 0, ok, sent = 0, litplus = 0;

	load_user(user, sizeof(user), i);
	snprintf(addr, sizeof(addr), "%s@%s", user, o.domain);
	mail_make(&m, o.size, addr);
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	if (mode == MAIL_SUBMIT) {
		sync_open(&c, SYNC_BUFSZ);
		sync_login(&c, user, o.lpass);
		if (sync_cmd(&c, cap_literalplus, &litplus, "CAPABILITY") !=
		    RESP_OK)
			errx(1, "%s: CAPABILITY refused", o.target.name);
	} else {
		/* connected at the first message, in turn with the others */
		if ((c.in = malloc(SYNC_BUFSZ)) == NULL)
			err(1, NULL);
		c.insz = SYNC_BUFSZ;
	}
	if (write(ready, "", 1) != 1)
		err(1, "ready");
	close(ready);
	/* The parent closes go at the start. */
	while (read(go, &b, 1) == -1 && errno == EINTR)
		;
	close(go);
	wstart = *start + o.settle;
	wend = wstart + o.secs;
	/*
	 * The clients begin one after the other over the first half of
	 * the warm-up: all at once, they are a burst of connections that
	 * overflows a small listen queue (OpenSMTPD's is 5) on either path.
	 */
	if (o.clients > 1)
		usleep(o.settle / 2 * i / o.clients * 1e6);
	while ((t0 = now()) < wend) {
		mail_next(&m);
		if (mode == MAIL_SUBMIT)
			ok = submit_mail(&c, &m, litplus);
		else {
			/* OpenSMTPD takes 100 a session by default. */
			if (!o.permsg && sent == SMTP_CONN_MAILS) {
				smtp_quit(&c);
				sent = 0;
			}
			if (c.fd == -1)
				caps = smtp_connect(&c);
			ok = smtp_mail(&c, &m, caps);
			sent++;
			if (o.permsg)
				smtp_quit(&c);
		}
		t1 = now();
		if (!ok) {
			st->refused++;
			continue;
		}
		st->accepted++;
		if (t1 < wstart || t1 >= wend)
			continue;
		st->done++;
		if (st->nlat < MAIL_SAMPLES)
			st->lat[st->nlat++] = (t1 - t0) * 1e3;
	}
	if (mode == MAIL_SUBMIT)
		sync_logout(&c);
	else if (c.fd != -1)
		smtp_quit(&c);
	_exit(0);
}

/*
 * The INBOX of each client's load user on o.inbox, plaintext, logged in
 * for inbox_wait(); its message count and UIDNEXT now in counts and
 * uidnext.
 */
static void
inbox_open(struct conn *cs, long long n, long long *counts,
    long long *uidnext)
{
	struct target	 saved = o.target;
	char		 user[64];
	long long	 i;
	int		 tls = o.tls;

	o.target = o.inbox;
	o.tls = TLS_NONE;
	for (i = 0; i < n; i++) {
		load_user(user, sizeof(user), i);
		sync_open(&cs[i], SYNC_BUFSZ);
		sync_login(&cs[i], user, o.lpass);
		counts[i] = uidnext[i] = -1;
		if (sync_cmd(&cs[i], cb_status, &counts[i],
		    "STATUS INBOX (MESSAGES)") != RESP_OK || counts[i] < 0 ||
		    sync_cmd(&cs[i], cb_uidnext, &uidnext[i],
		    "STATUS INBOX (UIDNEXT)") != RESP_OK || uidnext[i] < 1)
			errx(1, "%s: STATUS INBOX failed", o.inbox.name);
	}
	o.target = saved;
	o.tls = tls;
}

/*
 * Wait until every message a client had accepted is in its INBOX, so
 * that the next figure does not pay for this one's deliveries, then
 * expunge them (the UIDs from uidnext on): repeated runs must not fill
 * the mail host.  Returns how many are missing after MAIL_DELIVERY
 * seconds (0: all there), the time it took in *secs.  Closes the
 * connections.
 */
static int
inbox_wait(struct conn *cs, const long long *before,
    const long long *uidnext, const struct mailstat *st, double *secs)
{
	struct target	 saved = o.target;
	double		 t0 = now();
	long long	 i, n, missing;

	o.target = o.inbox;
	for (;;) {
		missing = 0;
		for (i = 0; i < o.clients; i++) {
			n = -1;
			if (sync_cmd(&cs[i], cb_status, &n,
			    "STATUS INBOX (MESSAGES)") != RESP_OK || n < 0)
				errx(1, "%s: STATUS INBOX failed",
				    o.inbox.name);
			if (n - before[i] < st[i].accepted)
				missing += st[i].accepted - (n - before[i]);
		}
		*secs = now() - t0;
		if (missing == 0 || *secs > MAIL_DELIVERY)
			break;
		usleep(50000);
	}
	for (i = 0; i < o.clients; i++) {
		if (sync_cmd(&cs[i], NULL, NULL, "SELECT INBOX") != RESP_OK ||
		    sync_cmd(&cs[i], NULL, NULL, "UID STORE %lld:* "
		    "+FLAGS.SILENT (\\Deleted)", uidnext[i]) != RESP_OK ||
		    sync_cmd(&cs[i], NULL, NULL, "UID EXPUNGE %lld:*",
		    uidnext[i]) != RESP_OK)
			warnx("%s: cannot expunge the messages sent",
			    o.inbox.name);
		sync_logout(&cs[i]);
	}
	o.target = saved;
	return missing;
}

/*
 * submit and smtp: o.clients clients, client i as load user i, each
 * sending a message of o.size bytes from and to itself as soon as the
 * last one was accepted: through SUBMIT on a logged-in IMAP session, or
 * by SMTP to the MTA, on one connection or (-M) on a new one for each
 * message.  Messages accepted per second of the window, and how long
 * each took.
 */
static int
cmd_mail(int mode)
{
	struct mailstat	*st;
	volatile double	*start;
	const char	*p;
	double		*lat;
	size_t		 shsz, nlat = 0;
	struct conn	*ics = NULL;
	struct cpusnap	 cpu0[CPU_NGROUPS], cpu1[CPU_NGROUPS];
	static const char *cpuname[CPU_NGROUPS] = { "proxy", "mta" };
	pid_t		*pids, pid;
	long long	 i, done = 0, accepted = 0, refused = 0, errors = 0;
	long long	 ready_n = 0, left, stalled = 0, *before = NULL;
	long long	*uidnext = NULL;
	char		 buf[64];
	ssize_t		 n;
	double		 deadline, dsecs = 0, dsecs_all = 0;
	int		 missing = 0, g, cpuok[CPU_NGROUPS];
	int		 ready[2], go[2], status;

	if (mode == MAIL_SMTP && o.tls != TLS_NONE)
		errx(2, "smtp: no TLS");
	if (o.clients > o.lusers)
		errx(2, "%lld clients, %d load users", o.clients, o.lusers);
	p = mode == MAIL_SUBMIT ? "submit" : o.permsg ? "smtpconn" : "smtp";
	shsz = sizeof(double) + o.clients * sizeof(*st);
	if ((start = mmap(NULL, shsz, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		err(1, "mmap");
	st = (struct mailstat *)(start + 1);
	if ((pids = calloc(o.clients, sizeof(*pids))) == NULL)
		err(1, NULL);
	if (pipe2(ready, O_CLOEXEC) == -1 || pipe2(go, O_CLOEXEC) == -1)
		err(1, "pipe2");
	if (o.inbox.sslen != 0) {
		if ((ics = calloc(o.clients, sizeof(*ics))) == NULL ||
		    (before = calloc(o.clients, sizeof(*before))) == NULL ||
		    (uidnext = calloc(o.clients, sizeof(*uidnext))) == NULL)
			err(1, NULL);
		inbox_open(ics, o.clients, before, uidnext);
	}
	/*
	 * The CPU time of the proxy (submit) and of the MTA before the
	 * clients connect (-I's sessions are on the backend).
	 */
	memset(cpu0, 0, sizeof(cpu0));
	memset(cpu1, 0, sizeof(cpu1));
	cpuok[CPU_PROXY] = mode == MAIL_SUBMIT;
	cpuok[CPU_MTA] = 1;
	if (cpuok[CPU_PROXY] &&
	    cpu_group(CPU_PROXY, &cpu0[CPU_PROXY]) == -1) {
		warnx("no processes of %s found (not root?): no CPU figure "
		    "for the proxy", o.target.name);
		cpuok[CPU_PROXY] = 0;
	}
	if (cpu_group(CPU_MTA, &cpu0[CPU_MTA]) == -1) {
		warnx("no process called %s found: no CPU figure for the MTA",
		    o.mta);
		cpuok[CPU_MTA] = 0;
	}
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < o.clients; i++) {
		if ((pids[i] = fork()) == -1)
			err(1, "fork");
		if (pids[i] == 0) {
			close(ready[0]);
			close(go[1]);
			mail_client(mode, i, &st[i], start, ready[1], go[0]);
		}
	}
	close(ready[1]);
	close(go[0]);
	/* One byte from each client once it is ready; EOF if one died. */
	while (ready_n < o.clients) {
		n = read(ready[0], buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		ready_n += n;
	}
	close(ready[0]);
	if (ready_n < o.clients) {
		for (i = 0; i < o.clients; i++)
			kill(pids[i], SIGTERM);
		while (wait(NULL) != -1 || errno == EINTR)
			;
		errx(1, "%s: %lld of %lld clients could not start",
		    o.target.name, o.clients - ready_n, o.clients);
	}
	*start = now();
	close(go[1]);
	/*
	 * A client whose last message is not answered MAIL_GRACE seconds
	 * after the window is killed and counted as stalled: an OpenSMTPD
	 * greeting that never comes (its listen backlog is 5; with SYN
	 * cookies an ACK it drops leaves the client connected to nothing)
	 * would hold the run up for minutes.
	 */
	deadline = *start + o.settle + o.secs + MAIL_GRACE;
	for (left = o.clients; left > 0; ) {
		if ((pid = waitpid(-1, &status, WNOHANG)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "waitpid");
		}
		if (pid == 0) {
			if (now() >= deadline)
				break;
			usleep(10000);
			continue;
		}
		for (i = 0; i < o.clients; i++)
			if (pids[i] == pid)
				break;
		if (i == o.clients)
			continue;
		pids[i] = -1;
		left--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			errors++;
	}
	for (i = 0; i < o.clients; i++) {
		if (pids[i] == -1)
			continue;
		kill(pids[i], SIGKILL);
		while (waitpid(pids[i], &status, 0) == -1 && errno == EINTR)
			;
		stalled++;
	}
	/*
	 * And once the last client's last message is answered and the
	 * client gone (its LOGOUT or QUIT is in it), before the wait for
	 * the deliveries: those the MTA made by now are in its figure.
	 */
	for (g = 0; g < CPU_NGROUPS; g++) {
		if (cpuok[g] && cpu_group(g, &cpu1[g]) == -1) {
			warnx("no %s processes left at the end: no CPU figure "
			    "for it", cpuname[g]);
			cpuok[g] = 0;
		}
	}
	if (ics != NULL) {
		/* from the start until the last is delivered */
		dsecs_all = now() - *start;
		missing = inbox_wait(ics, before, uidnext, st, &dsecs);
		dsecs_all += dsecs;
	}
	for (i = 0; i < o.clients; i++) {
		done += st[i].done;
		accepted += st[i].accepted;
		refused += st[i].refused;
		nlat += st[i].nlat;
	}
	if ((lat = calloc(nlat + 1, sizeof(*lat))) == NULL)
		err(1, NULL);
	for (i = 0, nlat = 0; i < o.clients; i++) {
		memcpy(lat + nlat, st[i].lat, st[i].nlat * sizeof(*lat));
		nlat += st[i].nlat;
	}
	printf("%s_clients %lld\n", p, o.clients);
	printf("%s_size %lld\n", p, o.size);
	printf("%s_secs %.1f\n", p, o.secs);
	printf("%s_msgs %lld\n", p, done);
	printf("%s_msgs_per_s %.1f\n", p, done / o.secs);
	printf("%s_mb_per_s %.2f\n", p, done * o.size / o.secs / 1e6);
	printf("%s_p50_ms %.2f\n", p, percentile(lat, nlat, 50));
	printf("%s_p99_ms %.2f\n", p, percentile(lat, nlat, 99));
	printf("%s_accepted %lld\n", p, accepted);
	printf("%s_refused %lld\n", p, refused);
	printf("%s_errors %lld\n", p, errors);
	printf("%s_stalled %lld\n", p, stalled);
	for (g = 0; g < CPU_NGROUPS; g++) {
		if (cpuok[g] && accepted > 0)
			printf("%s_%s_cpu_ms_per_msg %.3f\n", p, cpuname[g],
			    cpu_used(&cpu0[g], &cpu1[g]) / accepted);
		free(cpu0[g].p);
		free(cpu1[g].p);
	}
	if (ics != NULL) {
		printf("%s_delivery_wait_s %.2f\n", p, dsecs);
		printf("%s_undelivered %d\n", p, missing);
		if (missing == 0 && dsecs_all > 0)
			printf("%s_delivered_per_s %.1f\n", p,
			    accepted / dsecs_all);
	}
	free(ics);
	free(before);
	free(uidnext);
	free(lat);
	free(pids);
	munmap((void *)start, shsz);
	if (refused > 0 && mode == MAIL_SUBMIT)
		warnx("%lld messages refused: NO [LIMIT] is submitd's "
		    "limit rate, NO [UNAVAILABLE] a submitd not (yet) "
		    "running", refused);
	else if (refused > 0)
		warnx("%lld messages refused", refused);
	if (stalled > 0)
		warnx("%lld clients killed, their last message not answered "
		    "%d s after the end", stalled, MAIL_GRACE);
	return done > 0 && errors == 0 ? 0 : 1;
}

static int
cmd_submit(void)
{
	return cmd_mail(MAIL_SUBMIT);
}

static int
cmd_smtp(void)
{
	return cmd_mail(MAIL_SMTP);
}

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static void
relay_close(struct relay *r)
{
	int	k;

	for (k = 0; k < 2; k++) {
		if (r->h[k].fd != -1)
			close(r->h[k].fd);
		r->h[k].fd = -1;
		free(r->h[k].pend);
		r->h[k].pend = NULL;
	}
}

/* Move what side k has to say to the other side; -1 to close. */
static int
relay_io(struct relay *r, int k, short revents)
{
	static char	 buf[65536];
	struct half	*from = &r->h[k], *to = &r->h[!k];
	ssize_t		 n, w;

	if (from->pend != NULL) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return 0;
		w = write(to->fd, from->pend + from->poff,
		    from->plen - from->poff);
		if (w == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		from->poff += w;
		if (from->poff < from->plen)
			return 0;
		free(from->pend);
		from->pend = NULL;
		return 0;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return 0;
	n = read(from->fd, buf, sizeof(buf));
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	w = write(to->fd, buf, n);
	if (w == -1 && errno != EAGAIN && errno != EINTR)
		return -1;
	if (w < 0)
		w = 0;
	if (w < n) {
		if ((from->pend = malloc(n - w)) == NULL)
			err(1, NULL);
		memcpy(from->pend, buf + w, n - w);
		from->plen = n - w;
		from->poff = 0;
	}
	return 0;
}

static int
cmd_relay(void)
{
	struct sigaction sa;
	struct relay	*rs;
	struct pollfd	*pfd;
	struct conn	 c;
	double		 end;
	long long	 i, hw = 0, accepted = 0;
	int		 l, fd, one = 1, k;

	if (o.listen.sslen == 0)
		errx(2, "relay needs --listen host:port");
	raise_nofile(2 * o.count + 64);
	if ((rs = calloc(o.count, sizeof(*rs))) == NULL ||
	    (pfd = calloc(2 * o.count + 1, sizeof(*pfd))) == NULL)
		err(1, NULL);
	for (i = 0; i < o.count; i++)
		rs[i].h[0].fd = rs[i].h[1].fd = -1;
	if ((l = socket(o.listen.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		err(1, "setsockopt");
	if (bind(l, (struct sockaddr *)&o.listen.ss, o.listen.sslen) == -1)
		err(1, "bind %s", o.listen.name);
	if (listen(l, 1024) == -1)
		err(1, "listen");
	/* SIGTERM ends the relay with its report, like its time limit. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		err(1, "sigaction");
	printf("relay_listening %s\n", o.listen.name);
	end = now() + o.secs;
	while (!quit && now() < end) {
		/* Poll only up to the highest pair in use. */
		while (hw > 0 && rs[hw - 1].h[0].fd == -1)
			hw--;
		pfd[0].fd = l;
		pfd[0].events = POLLIN;
		for (i = 0; i < hw; i++)
			for (k = 0; k < 2; k++) {
				pfd[1 + 2 * i + k].fd = rs[i].h[k].fd;
				pfd[1 + 2 * i + k].events =
				    (rs[i].h[k].pend == NULL ? POLLIN : 0) |
				    (rs[i].h[!k].pend != NULL ? POLLOUT : 0);
			}
		if (poll(pfd, 2 * hw + 1, 100) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "poll");
		}
		for (i = 0; i < hw; i++) {
			if (rs[i].h[0].fd == -1)
				continue;
			for (k = 0; k < 2; k++) {
				/* Writes to k wait for k's POLLOUT. */
				if (relay_io(&rs[i], k,
				    pfd[1 + 2 * i + k].revents |
				    (pfd[1 + 2 * i + !k].revents & POLLOUT ?
				    POLLOUT : 0)) == -1) {
					relay_close(&rs[i]);
					break;
				}
			}
		}
		if (!(pfd[0].revents & POLLIN))
			continue;
		while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) != -1) {
			for (i = 0; i < o.count; i++)
				if (rs[i].h[0].fd == -1)
					break;
			if (i == o.count ||
			    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one)) == -1) {
				close(fd);
				continue;
			}
			/* A blocking connect: the target is on loopback. */
			memset(&c, 0, sizeof(c));
			if (conn_socket(&c, 0) != 0 ||
			    fcntl(c.fd, F_SETFL, O_NONBLOCK) == -1) {
				warn("relay: connect %s", o.target.name);
				if (c.fd != -1)
					close(c.fd);
				close(fd);
				continue;
			}
			memset(&rs[i], 0, sizeof(rs[i]));
			rs[i].h[0].fd = fd;
			rs[i].h[1].fd = c.fd;
			if (i >= hw)
				hw = i + 1;
			accepted++;
		}
	}
	for (i = 0; i < o.count; i++)
		relay_close(&rs[i]);
	close(l);
	printf("relay_connections %lld\n", accepted);
	free(rs);
	free(pfd);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char	*cmd;
	size_t		 i;
	int		 ch;

	parse_addr("127.0.0.1:10143", &o.target);
	o.user = "alice";
	o.pass = "alice-secret";
	o.lprefix = "load";
	o.ldigits = 4;
	o.lfirst = 1;
	o.lusers = 2000;
	o.lpass = "load-secret";
	o.count = -1;
	o.warmup = -1;
	o.batch = 100;
	o.clients = 32;
	o.runs = 5;
	o.size = 20 * 1024 * 1024;
	o.secs = -1;
	o.settle = -1;
	o.domain = "example.test";
	o.mta = "smtpd";
	o.hold = 0;
	o.timeout = 30;
	o.limit = 900;
	o.mailbox = "bench";
	o.cpu = -1;

	while ((ch = getopt_long(argc, argv,
	    "a:Bb:C:c:D:e:E:f:F:H:i:I:k:L:l:Mm:n:N:p:P:q:r:R:s:St:Tu:U:w:W:X:",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (parse_addr(optarg, &o.target) == -1)
				errx(2, "bad or non-loopback address %s",
				    optarg);
			break;
		case 'B':
			o.spin = 1;
			break;
		case 'C':
			o.cpu = parse_num(optarg, "cpu", 0, CPU_SETSIZE - 1);
			break;
		case 'b':
			o.batch = parse_num(optarg, "batch", 1, 100000);
			break;
		case 'c':
			o.clients = parse_num(optarg, "clients", 1, 100000);
			break;
		case 'D':
			o.ldigits = parse_num(optarg, "digits", 0, 9);
			break;
		case 'e':
			o.domain = optarg;
			break;
		case 'E':
			o.program = optarg;
			break;
		case 'f':
			o.pidfile = optarg;
			break;
		case 'F':
			o.lfirst = parse_num(optarg, "first", 0, 99999999);
			break;
		case 'H':
			o.hold = parse_secs(optarg, "hold");
			break;
		case 'I':
			if (parse_addr(optarg, &o.inbox) == -1)
				errx(2, "bad or non-loopback address %s",
				    optarg);
			break;
		case 'i':
			o.uid = parse_num(optarg, "uid", 1, UINT32_MAX);
			break;
		case 'k':
			o.pid = parse_num(optarg, "pid", 1, INT_MAX);
			break;
		case 'L':
			o.limit = parse_num(optarg, "limit", 1, 86400);
			break;
		case 'l':
			if (parse_addr(optarg, &o.listen) == -1)
				errx(2, "bad or non-loopback address %s",
				    optarg);
			break;
		case 'M':
			o.permsg = 1;
			break;
		case 'm':
			o.mailbox = optarg;
			break;
		case 'n':
			o.count = parse_num(optarg, "count", 1, 100000000);
			break;
		case 'N':
			o.lusers = parse_num(optarg, "users", 1, 99999999);
			break;
		case 'p':
			o.pass = optarg;
			break;
		case 'P':
			o.lpass = optarg;
			break;
		case 'q':
			o.settle = parse_secs(optarg, "settle");
			break;
		case 'r':
			o.runs = parse_num(optarg, "runs", 1, 1000);
			break;
		case 'R':
			o.procname = optarg;
			break;
		case 's':
			o.size = parse_size(optarg);
			break;
		case 'S':
			o.tls = TLS_STARTTLS;
			break;
		case 't':
			o.secs = parse_secs(optarg, "time");
			break;
		case 'T':
			o.tls = TLS_IMPLICIT;
			break;
		case 'u':
			o.user = optarg;
			o.userset = 1;
			break;
		case 'U':
			o.lprefix = optarg;
			break;
		case 'w':
			o.warmup = parse_num(optarg, "warmup", 0, 100000000);
			break;
		case 'W':
			o.timeout = parse_num(optarg, "timeout", 1, 3600);
			break;
		case 'X':
			o.mta = optarg;
			break;
		default:
			usage();
		}
	}
	/* The command may come before or after the options. */
	if (optind != argc - 1)
		usage();
	cmd = argv[optind];

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0]))
		usage();

	/* Defaults that depend on the subcommand. */
	if (o.count == -1)
		o.count = strcmp(cmd, "latency") == 0 ? 20000 :
		    strcmp(cmd, "relay") == 0 ? 4096 : 2000;
	if (o.warmup == -1)
		o.warmup = strcmp(cmd, "latency") == 0 ? 1000 :
		    strcmp(cmd, "xexec") == 0 ? 50 : 1;
	if (o.secs < 0)
		o.secs = strcmp(cmd, "idle") == 0 ? 300 :
		    strcmp(cmd, "relay") == 0 ? 600 : 10;
	if (o.settle < 0)
		o.settle = strcmp(cmd, "submit") == 0 ||
		    strcmp(cmd, "smtp") == 0 ? 0.5 : 3;

	if (o.cpu != -1) {
		cpu_set_t	set;

		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) == -1)
			err(1, "sched_setaffinity %d", o.cpu);
	}

	/* Every loop is bounded; this bounds the whole run as well. */
	signal(SIGPIPE, SIG_IGN);
	alarm(o.limit);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmds[i].fn();
}
