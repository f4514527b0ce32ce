#include "atf_lsan.h"

/*
 * execd end to end, as root: a policy built by hand (or, for the
 * program's own tests, an execd.conf), execd's event loop in a child
 * process with its own filter, and the test speaking the XEXEC imsg
 * protocol over socketpairs as a frontend worker would.  Modules are
 * /usr/bin programs and small scripts in the test's work directory; they
 * run as nobody.
 */
#include <sys/types.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "execd.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"
#include "policy.h"

#define USER		"alice@example.test"
#define WAIT_MS		20000

/* execd under test: its pid and two frontend channels. */
struct ex {
	pid_t		 pid;
	struct imsgbuf	 ib;		/* execd exits when this closes */
	struct imsgbuf	 ib2;		/* an ordinary frontend channel */
	int		 credit;	/* give OUTPUT credit back */
};

struct out {
	char		*buf;
	size_t		 len;
	int		 msgs;
};

static struct execd_conf	 conf;
static char			 tdir[PATH_MAX];	/* the test's files */
static uid_t			 nobody_uid;
static gid_t			 nobody_gid;

static void	fmt(char *, size_t, const char *, ...)
		    __attribute__((__format__ (printf, 3, 4)));

/* snprintf that fails the test rather than truncate */
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
setup(void)
{
	struct passwd	*pw;
	char		 cwd[PATH_MAX];

	memset(&conf, 0, sizeof(conf));
	TAILQ_INIT(&conf.modules);
	conf.conc_total = 100;
	strlcpy(conf.domain, "example.test", sizeof(conf.domain));
	ATF_REQUIRE((pw = getpwnam("nobody")) != NULL);
	nobody_uid = pw->pw_uid;
	nobody_gid = pw->pw_gid;
	/* the work directory: every module (uid nobody) must reach it */
	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	fmt(tdir, sizeof(tdir), "%s/t", cwd);
	ATF_REQUIRE(mkdir(tdir, 0755) == 0 || errno == EEXIST);
	ATF_REQUIRE(chmod(cwd, 0755) == 0);
	ATF_REQUIRE(chmod(tdir, 0755) == 0);
}

/* A module as execd_parse_config() would make it, with room to spare. */
static struct module *
mod_new(const char *name, const char *program)
{
	struct module	*m;
	const char	*base;

	ATF_REQUIRE((m = calloc(1, sizeof(*m))) != NULL);
	strlcpy(m->name, name, sizeof(m->name));
	fmt(m->descr, sizeof(m->descr), "the %s module", name);
	strlcpy(m->program, program, sizeof(m->program));
	base = strrchr(program, '/') + 1;
	m->argv[0] = strdup(base);
	m->argv[1] = strdup("%a");
	m->argc = 2;
	strlcpy(m->runas_user, "nobody", sizeof(m->runas_user));
	m->uid = nobody_uid;
	m->gid = nobody_gid;
	m->who[0].kind = WHO_ANY;
	m->nwho = 1;
	m->args_min = 0;
	m->args_max = 8;
	m->arg_maxlen = 256;
	m->timeout = 20;
	m->kill_grace = 1;
	m->cpu = 20;
	m->memory = 1024 * 1024 * 1024;
	m->nofile = 64;
	m->nproc = 10000;
	m->fsize = 1024 * 1024;
	m->output_max = 1024 * 1024;
	m->lines_max = 100000;
	m->rate = 1000;
	m->conc_user = 100;
	m->conc_module = 100;
	m->env[0] = strdup("PATH=/usr/bin:/bin");
	m->nenv = 1;
	TAILQ_INSERT_TAIL(&conf.modules, m, entry);
	return m;
}

static void
mod_argv(struct module *m, const char *w0, const char *w1, const char *w2)
{
	int	i;

	for (i = 0; i < m->argc; i++)
		free(m->argv[i]);
	m->argc = 0;
	if (w0 != NULL)
		m->argv[m->argc++] = strdup(w0);
	if (w1 != NULL)
		m->argv[m->argc++] = strdup(w1);
	if (w2 != NULL)
		m->argv[m->argc++] = strdup(w2);
	m->argv[m->argc] = NULL;
}

static void
mod_path(struct module *m, const char *path, int perms)
{
	strlcpy(m->paths[m->npaths].path, path, PATH_MAX);
	m->paths[m->npaths++].perms = perms;
}

/* An executable file in the test's directory; its path in out. */
static void
script(const char *name, const char *text, char *out, size_t len)
{
	FILE	*fp;

	fmt(out, len, "%s/%s", tdir, name);
	ATF_REQUIRE((fp = fopen(out, "w")) != NULL);
	fputs(text, fp);
	ATF_REQUIRE(fclose(fp) == 0);
	ATF_REQUIRE(chmod(out, 0755) == 0);
}

/* A script module; like an operator's, it may run what is in /usr/bin. */
static struct module *
smod_new(const char *name, const char *text)
{
	struct module	*m;
	char		 prog[PATH_MAX];

	script(name, text, prog, sizeof(prog));
	m = mod_new(name, prog);
	mod_path(m, "/usr/bin", PATH_READ);
	return m;
}

/* A directory below the test's, owned by nobody. */
static void
nobody_dir(const char *name, char *out, size_t len)
{
	fmt(out, len, "%s/%s", tdir, name);
	ATF_REQUIRE(mkdir(out, 0700) == 0 || errno == EEXIST);
	ATF_REQUIRE(chown(out, nobody_uid, nobody_gid) == 0);
}

/*
 * execd in a child: what main() does after reading the policy, with the
 * policy built above.  Its filter is on, as in production.
 */
static void
ex_start(struct ex *ex, int flags)
{
	struct xchan	*xc;
	int		 a[2], b[2];

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    a) == 0);
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    b) == 0);
	fflush(NULL);
	ATF_REQUIRE((ex->pid = fork()) != -1);
	if (ex->pid == 0) {
		close(a[0]);
		close(b[0]);
		log_init(1, LOG_MAIL);
		log_procinit("execd");
		event_init();
		execd_init(&conf, flags);
		fchan_init(&conf);
		execd_sandbox(&conf);
		if (fcntl(a[1], F_SETFL, O_NONBLOCK) == -1 ||
		    fcntl(b[1], F_SETFL, O_NONBLOCK) == -1)
			_exit(3);
		xc = fchan_open(a[1], 0);
		xc->lifeline = 1;
		(void)fchan_open(b[1], 1);
		event_dispatch();
		_exit(2);
	}
	close(a[1]);
	close(b[1]);
	ATF_REQUIRE(imsgbuf_init(&ex->ib, a[0]) == 0);
	ATF_REQUIRE(imsgbuf_init(&ex->ib2, b[0]) == 0);
	ex->credit = 1;
}

/* Wait for a child, SIGKILL after ms; its wait status. */
static int
wait_child(pid_t pid, int ms)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	int		status, i;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return status;
}

/* Close both channels: execd must kill everything and exit 0. */
static void
ex_stop(struct ex *ex)
{
	int	status;

	if (ex->ib2.fd != -1) {
		close(ex->ib2.fd);
		imsgbuf_clear(&ex->ib2);
	}
	close(ex->ib.fd);
	imsgbuf_clear(&ex->ib);
	status = wait_child(ex->pid, 10000);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "execd ended with status %#x", status);
}

static void
ex_send(struct imsgbuf *ib, uint32_t type, uint32_t id, pid_t pid,
    const void *data, size_t len)
{
	ATF_REQUIRE(imsg_compose(ib, type, id, pid, -1, data, len) != -1);
	ATF_REQUIRE(imsgbuf_flush(ib) != -1);
}

static void
ex_credit(struct imsgbuf *ib, size_t n)
{
	struct imsg_credit	cr;

	cr.bytes = n;
	ex_send(ib, IMSG_CREDIT, 0, 0, &cr, sizeof(cr));
}

/* START, one ARG per argument (lens NULL: strings), GO. */
static void
ex_run(struct imsgbuf *ib, uint32_t id, const char *module, int nargs,
    const char **args, const size_t *lens)
{
	struct imsg_xexec_start	st;
	int			i;

	memset(&st, 0, sizeof(st));
	strlcpy(st.user, USER, sizeof(st.user));
	strlcpy(st.module, module, sizeof(st.module));
	st.nargs = nargs;
	ex_send(ib, IMSG_XEXEC_START, id, 0, &st, sizeof(st));
	for (i = 0; i < nargs; i++)
		ex_send(ib, IMSG_XEXEC_ARG, id, 0, args[i],
		    lens != NULL ? lens[i] : strlen(args[i]));
	ex_send(ib, IMSG_XEXEC_GO, id, 0, NULL, 0);
}

/*
 * The next message other than credit: 1, 0 after ms without one, -1 when
 * the channel closed.  OUTPUT is credited back if ex->credit.
 */
static int
ex_next(struct ex *ex, struct imsgbuf *ib, struct imsg *imsg, int ms)
{
	struct pollfd	pfd;
	ssize_t		n;

	for (;;) {
		ATF_REQUIRE((n = imsg_get(ib, imsg)) != -1);
		if (n > 0) {
			if (imsg_get_type(imsg) == IMSG_CREDIT) {
				imsg_free(imsg);
				continue;
			}
			if (imsg_get_type(imsg) == IMSG_XEXEC_OUTPUT &&
			    ex->credit)
				ex_credit(ib, imsg_get_len(imsg));
			return 1;
		}
		pfd.fd = ib->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) == 0)
			return 0;
		if ((n = imsgbuf_read(ib)) == 0)
			return -1;
		ATF_REQUIRE(n > 0);
	}
}

static void
out_add(struct out *o, struct imsg *imsg)
{
	size_t	len = imsg_get_len(imsg);

	ATF_REQUIRE((o->buf = realloc(o->buf, o->len + len + 1)) != NULL);
	ATF_REQUIRE(imsg_get_buf(imsg, o->buf + o->len, len) == 0);
	o->len += len;
	o->buf[o->len] = '\0';
	o->msgs++;
}

/* A run's output until its DONE. */
static void
ex_wait(struct ex *ex, struct imsgbuf *ib, uint32_t id, struct out *o,
    struct imsg_xexec_done *d)
{
	struct imsg	imsg;

	memset(o, 0, sizeof(*o));
	ATF_REQUIRE((o->buf = strdup("")) != NULL);
	for (;;) {
		ATF_REQUIRE_MSG(ex_next(ex, ib, &imsg, WAIT_MS) == 1,
		    "no DONE for run %u", id);
		ATF_REQUIRE_EQ(imsg_get_id(&imsg), id);
		switch (imsg_get_type(&imsg)) {
		case IMSG_XEXEC_OUTPUT:
			out_add(o, &imsg);
			break;
		case IMSG_XEXEC_DONE:
			ATF_REQUIRE(imsg_get_data(&imsg, d, sizeof(*d)) == 0);
			d->reason[sizeof(d->reason) - 1] = '\0';
			imsg_free(&imsg);
			return;
		default:
			atf_tc_fail("unexpected imsg %u",
			    imsg_get_type(&imsg));
		}
		imsg_free(&imsg);
	}
}

/* Run a module to its end with the given arguments. */
static void
run1(struct ex *ex, uint32_t id, const char *module, int nargs,
    const char **args, struct out *o, struct imsg_xexec_done *d)
{
	ex_run(&ex->ib, id, module, nargs, args, NULL);
	ex_wait(ex, &ex->ib, id, o, d);
}

/* The first line of output, a pid the module printed. */
static pid_t
first_pid(struct ex *ex, struct imsgbuf *ib, uint32_t id, struct out *o)
{
	struct imsg	imsg;

	memset(o, 0, sizeof(*o));
	while (o->buf == NULL || strchr(o->buf, '\n') == NULL) {
		ATF_REQUIRE(ex_next(ex, ib, &imsg, WAIT_MS) == 1);
		ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_XEXEC_OUTPUT);
		out_add(o, &imsg);
		imsg_free(&imsg);
	}
	return atoi(o->buf);
}

static char
proc_state(pid_t pid)
{
	char	path[64], buf[512], *s;
	FILE	*fp;
	size_t	n;

	fmt(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((s = strrchr(buf, ')')) == NULL)
		return 0;
	return s[2];
}

/*
 * After a DONE nothing of pid runs (dead, perhaps not reaped yet); within
 * a moment it is gone altogether.  Without a DONE (cancel, a closed
 * channel), only the latter.
 */
static void
check_gone(pid_t pid, int done)
{
	struct timespec	ts = { 0, 10 * 1000 * 1000 };
	char		st;
	int		i;

	ATF_REQUIRE(pid > 1);
	st = proc_state(pid);
	ATF_CHECK_MSG(!done || st == 0 || st == 'Z' || st == 'X',
	    "pid %d still there after DONE, state %c", (int)pid, st);
	for (i = 0; i < 200 && proc_state(pid) != 0; i++)
		nanosleep(&ts, NULL);
	ATF_CHECK_MSG(proc_state(pid) == 0, "pid %d never went away",
	    (int)pid);
}

static long
rss_kb(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*fp;
	long	 kb = -1;

	fmt(path, sizeof(path), "/proc/%d/status", (int)pid);
	ATF_REQUIRE((fp = fopen(path, "r")) != NULL);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	fclose(fp);
	return kb;
}

/* execd's children right now (CONFIG_PROC_CHILDREN); -1 if unknown. */
static int
nchildren(pid_t pid)
{
	char	 path[64], buf[4096];
	FILE	*fp;
	size_t	 n;
	int	 count = 0;
	char	*s;

	fmt(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
	    (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	for (s = strtok(buf, " \n"); s != NULL; s = strtok(NULL, " \n"))
		count++;
	return count;
}

/*
 * Where execd (a child of ours, so in our cgroup) makes its cgroups;
 * 0 with the path, -1 when this host has no cgroup v2.
 */
static int
cgroup_base(pid_t pid, char *out, size_t len)
{
	FILE	*fp;
	char	 line[1024], mnt[PATH_MAX] = "", own[PATH_MAX] = "";
	char	*sep, *f;
	int	 i;

	ATF_REQUIRE((fp = fopen("/proc/self/mountinfo", "r")) != NULL);
	while (mnt[0] == '\0' && fgets(line, sizeof(line), fp) != NULL) {
		if ((sep = strstr(line, " - ")) == NULL ||
		    strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		f = strtok(line, " ");
		for (i = 0; i < 4 && f != NULL; i++)
			f = strtok(NULL, " ");
		if (f != NULL)
			strlcpy(mnt, f, sizeof(mnt));
	}
	fclose(fp);
	ATF_REQUIRE((fp = fopen("/proc/self/cgroup", "r")) != NULL);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			strlcpy(own, strcmp(line + 3, "/") == 0 ? "" :
			    line + 3, sizeof(own));
		}
	fclose(fp);
	if (mnt[0] == '\0')
		return -1;
	fmt(out, len, "%s%s/imapx-execd.%d", mnt, own, (int)pid);
	return 0;
}

/*
 * How many of execd's run cgroups hold a process now (empty ones stay for
 * later runs); -1 without its cgroup.
 */
static int
run_cgroups(pid_t pid)
{
	char		 base[PATH_MAX], path[PATH_MAX + 300], buf[256];
	DIR		*d;
	struct dirent	*de;
	FILE		*fp;
	int		 n = 0;
	size_t		 len;

	if (cgroup_base(pid, base, sizeof(base)) == -1 ||
	    (d = opendir(base)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "run.", 4) != 0)
			continue;
		fmt(path, sizeof(path), "%s/%s/cgroup.events", base,
		    de->d_name);
		ATF_REQUIRE((fp = fopen(path, "r")) != NULL);
		len = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[len] = '\0';
		if (strstr(buf, "populated 1") != NULL)
			n++;
	}
	closedir(d);
	return n;
}

static void
check_done(struct imsg_xexec_done *d, int end, int status)
{
	ATF_CHECK_MSG(d->end == (uint32_t)end && d->status == status,
	    "DONE end %u status %d (%s), want end %d status %d", d->end,
	    d->status, d->reason, end, status);
}

/* Output then DONE EXITED 0; the run's cgroup is gone with it. */
ATF_TC(echo_ok);
ATF_TC_HEAD(echo_ok, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(echo_ok, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	const char		*args[] = { "hello", "wide world" };

	setup();
	mod_new("echo", "/usr/bin/echo");
	ex_start(&ex, 0);
	run1(&ex, 1, "echo", 2, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK_STREQ(o.buf, "hello wide world\n");
	/* on this host: cgroup v2, and no process of the run left in it */
	if (run_cgroups(ex.pid) == -1)
		atf_tc_expect_fail("no cgroup v2 here: the fallback ran");
	ATF_CHECK_EQ(run_cgroups(ex.pid), 0);
	ATF_CHECK_EQ(nchildren(ex.pid), 0);
	free(o.buf);
	ex_stop(&ex);
}

ATF_TC(exit_status);
ATF_TC_HEAD(exit_status, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(exit_status, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	char			 prog[PATH_MAX];

	setup();
	script("exit3", "#!/bin/sh\necho out\necho err >&2\nexit 3\n", prog,
	    sizeof(prog));
	mod_new("exit3", prog);
	ex_start(&ex, 0);
	run1(&ex, 7, "exit3", 0, NULL, &o, &d);
	check_done(&d, XEXEC_EXITED, 3);
	/* stderr is merged into the output, in the order written */
	ATF_CHECK_STREQ(o.buf, "out\nerr\n");
	free(o.buf);
	ex_stop(&ex);
}

/* Past its timeout: TERM, and its tree is gone before DONE. */
static void
timeout_case(const char *text, int flags, int min_ms)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct timespec		 t0, t1;
	struct module		*m;
	pid_t			 pid;
	long			 ms;

	setup();
	m = smod_new("sleeper", text);
	m->timeout = 1;
	m->kill_grace = 1;
	ex_start(&ex, flags);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ex_run(&ex.ib, 3, "sleeper", 0, NULL, NULL);
	pid = first_pid(&ex, &ex.ib, 3, &o);
	free(o.buf);
	ex_wait(&ex, &ex.ib, 3, &o, &d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) /
	    1000000;
	ATF_CHECK_EQ(d.end, XEXEC_TIMEOUT);
	ATF_CHECK_MSG(ms >= min_ms && ms < 8000, "took %ld ms", ms);
	check_gone(pid, 1);
	free(o.buf);
	ex_stop(&ex);
}

ATF_TC(timeout);
ATF_TC_HEAD(timeout, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(timeout, tc)
{
	timeout_case("#!/bin/sh\necho $$\nexec sleep 30\n", 0, 900);
}

/* SIGTERM ignored (also by sleep, which inherits that): SIGKILL later. */
ATF_TC(timeout_kill_grace);
ATF_TC_HEAD(timeout_kill_grace, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(timeout_kill_grace, tc)
{
	timeout_case("#!/bin/sh\ntrap '' TERM\necho $$\n"
	    "while :; do sleep 1; done\n", 0, 1900);
}

ATF_TC(timeout_fallback);
ATF_TC_HEAD(timeout_fallback, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(timeout_fallback, tc)
{
	timeout_case("#!/bin/sh\ntrap '' TERM\necho $$\n"
	    "while :; do sleep 1; done\n", EXECD_NOCGROUP, 1900);
}

/*
 * A module that floods: while the frontend gives no credit, execd holds
 * at most a window and stops reading (the module blocks); with credit,
 * the output limit ends it with exactly output_max bytes.
 */
ATF_TC(output_flood);
ATF_TC_HEAD(output_flood, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(output_flood, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct imsg		 imsg;
	struct module		*m;
	size_t			 got = 0;
	long			 rss0, rss1;
	pid_t			 pid;
	int			 n;

	setup();
	m = smod_new("flood", "#!/bin/sh\necho $$\n"
	    "exec yes 0123456789012345678901234567890123456789\n");
	m->output_max = 8 * 1024 * 1024;
	m->lines_max = 0;
	ex_start(&ex, 0);
	ex.credit = 0;
	ex_run(&ex.ib, 9, "flood", 0, NULL, NULL);
	pid = first_pid(&ex, &ex.ib, 9, &o);
	got = o.len;
	free(o.buf);
	sleep(1);
	rss0 = rss_kb(ex.pid);
	/* two seconds without credit: yes(1) would write gigabytes */
	while ((n = ex_next(&ex, &ex.ib, &imsg, 2000)) == 1) {
		ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_XEXEC_OUTPUT);
		got += imsg_get_len(&imsg);
		imsg_free(&imsg);
	}
	ATF_REQUIRE(n == 0);
	rss1 = rss_kb(ex.pid);
	ATF_CHECK_MSG(got <= CHAN_WINDOW, "%zu bytes without credit", got);
	ATF_CHECK_MSG(rss1 - rss0 < 2048, "execd grew from %ld to %ld KiB",
	    rss0, rss1);
	ATF_CHECK_EQ(proc_state(pid) != 0, 1);	/* blocked, not dead */
	ex_credit(&ex.ib, got);
	ex.credit = 1;
	ex_wait(&ex, &ex.ib, 9, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_OUTPUT);
	ATF_CHECK_EQ(got + o.len, m->output_max);
	check_gone(pid, 1);
	free(o.buf);
	ex_stop(&ex);
}

ATF_TC(output_lines);
ATF_TC_HEAD(output_lines, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(output_lines, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct module		*m;
	const char		*args[] = { "100000" };

	setup();
	m = mod_new("seq", "/usr/bin/seq");
	m->lines_max = 5;
	ex_start(&ex, 0);
	run1(&ex, 2, "seq", 1, args, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_OUTPUT);
	ATF_CHECK_STREQ(o.buf, "1\n2\n3\n4\n5\n");
	free(o.buf);
	ex_stop(&ex);
}

/*
 * A module that leaves a grandchild behind in a session of its own (a
 * double fork: its parent is gone before the module ends): when the run
 * ends, nothing of it remains.
 */
static void
grandchild_case(int flags)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	pid_t			 pid;

	setup();
	smod_new("daemonize", "#!/bin/sh\n"
	    "( setsid sh -c 'echo $$; exec sleep 1000' & )\n"
	    "sleep 1\nexit 0\n");
	ex_start(&ex, flags);
	run1(&ex, 4, "daemonize", 0, NULL, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	pid = atoi(o.buf);
	check_gone(pid, 1);
	if (!(flags & EXECD_NOCGROUP) && run_cgroups(ex.pid) != -1)
		ATF_CHECK_EQ(run_cgroups(ex.pid), 0);
	ATF_CHECK_EQ(nchildren(ex.pid), 0);
	free(o.buf);
	ex_stop(&ex);
}

ATF_TC(grandchild);
ATF_TC_HEAD(grandchild, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(grandchild, tc)
{
	grandchild_case(0);
}

ATF_TC(grandchild_fallback);
ATF_TC_HEAD(grandchild_fallback, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(grandchild_fallback, tc)
{
	grandchild_case(EXECD_NOCGROUP);
}

/* Landlock: its write path (with %l) works, the rest is EACCES. */
ATF_TC(write_paths);
ATF_TC_HEAD(write_paths, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(write_paths, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct module		*m;
	char			 prog[PATH_MAX], w[PATH_MAX], x[PATH_MAX];
	char			 text[4 * PATH_MAX], path[PATH_MAX + 16];

	setup();
	nobody_dir("w", w, sizeof(w));
	nobody_dir("w/alice", w, sizeof(w));
	nobody_dir("x", x, sizeof(x));
	fmt(text, sizeof(text), "#!/bin/sh\n"
	    "echo in > %s/file && echo wrote-inside\n"
	    "echo out > %s/file || echo denied-outside\n"
	    "read l < /etc/hostname || echo denied-read\n", w, x);
	script("writer", text, prog, sizeof(prog));
	m = mod_new("writer", prog);
	fmt(path, sizeof(path), "%s/w/%%l", tdir);
	mod_path(m, path, PATH_WRITE);
	ex_start(&ex, 0);
	run1(&ex, 5, "writer", 0, NULL, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK(strstr(o.buf, "wrote-inside\n") != NULL);
	ATF_CHECK(strstr(o.buf, "Permission denied") != NULL);
	ATF_CHECK(strstr(o.buf, "denied-outside\n") != NULL);
	ATF_CHECK(strstr(o.buf, "denied-read\n") != NULL);
	fmt(path, sizeof(path), "%s/file", w);
	ATF_CHECK(access(path, F_OK) == 0);
	fmt(path, sizeof(path), "%s/file", x);
	ATF_CHECK(access(path, F_OK) == -1);
	free(o.buf);
	ex_stop(&ex);
}

/* A user whose name would leave its directory: refused, not run. */
ATF_TC(path_expansion);
ATF_TC_HEAD(path_expansion, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(path_expansion, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct imsg_xexec_start	 st;
	struct module		*m;
	char			 path[PATH_MAX];

	setup();
	m = mod_new("echo", "/usr/bin/echo");
	fmt(path, sizeof(path), "%s/%%l", tdir);
	mod_path(m, path, PATH_WRITE);
	ex_start(&ex, 0);
	memset(&st, 0, sizeof(st));
	strlcpy(st.user, "a..b@example.test", sizeof(st.user));
	strlcpy(st.module, "echo", sizeof(st.module));
	ex_send(&ex.ib, IMSG_XEXEC_START, 1, 0, &st, sizeof(st));
	ex_send(&ex.ib, IMSG_XEXEC_GO, 1, 0, NULL, 0);
	ex_wait(&ex, &ex.ib, 1, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_FAILED);
	ATF_CHECK_EQ(o.len, 0);
	free(o.buf);
	ex_stop(&ex);
}

/*
 * network none: a unix socket is EACCES, an inet socket kills (seccomp);
 * network allow: it works.
 */
ATF_TC(network);
ATF_TC_HEAD(network, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(network, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct module		*m;
	char			 prog[PATH_MAX];

	setup();
	script("sock", "#!/usr/bin/perl\n$| = 1;\n"
	    "socket(my $u, 1, 1, 0) or print \"unix: $!\\n\";\n"
	    "socket(my $i, 2, 1, 0) or print \"inet: $!\\n\";\n"
	    "print \"alive\\n\";\n", prog, sizeof(prog));
	mod_argv(mod_new("nonet", prog), "sock", NULL, NULL);
	m = mod_new("net", prog);
	mod_argv(m, "sock", NULL, NULL);
	m->network = 1;
	ex_start(&ex, 0);
	/* network none: every socket() fails, the module lives */
	run1(&ex, 1, "nonet", 0, NULL, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK_STREQ(o.buf, "unix: Permission denied\n"
	    "inet: Permission denied\nalive\n");
	free(o.buf);
	run1(&ex, 2, "net", 0, NULL, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK_STREQ(o.buf, "alive\n");
	free(o.buf);
	ex_stop(&ex);
}

ATF_TC(runas);
ATF_TC_HEAD(runas, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(runas, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	char			 want[64];

	setup();
	/* perl, not id(1): coreutils' id calls statfs(2) (SELinux), which
	 * a module's "rpath" does not have */
	smod_new("ids", "#!/usr/bin/perl\nprint \"$< $> $( $)\\n\";\n");
	ex_start(&ex, 0);
	run1(&ex, 1, "ids", 0, NULL, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	fmt(want, sizeof(want), "%u %u %u %u %u %u\n", nobody_uid,
	    nobody_uid, nobody_gid, nobody_gid, nobody_gid, nobody_gid);
	ATF_CHECK_STREQ(o.buf, want);
	free(o.buf);
	ex_stop(&ex);
}

ATF_TC(environment);
ATF_TC_HEAD(environment, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(environment, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct module		*m;

	setup();
	setenv("EXECD_TEST_LEAK", "1", 1);
	m = mod_new("env", "/usr/bin/env");
	mod_argv(m, "env", NULL, NULL);
	m->env[1] = strdup("LANG=C");
	m->env[2] = strdup("GREETING=hello world");
	m->nenv = 3;
	ex_start(&ex, 0);
	run1(&ex, 1, "env", 0, NULL, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK_STREQ(o.buf,
	    "PATH=/usr/bin:/bin\nLANG=C\nGREETING=hello world\n");
	free(o.buf);
	ex_stop(&ex);
}

/* Secrets on stdin, never on the command line. */
ATF_TC(args_stdin);
ATF_TC_HEAD(args_stdin, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(args_stdin, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct module		*m;
	char			 path[64], buf[4096];
	const char		*args[] = { "-old s3cret", "n3w-pass" };
	pid_t			 pid;
	ssize_t			 n, i;
	int			 fd;

	setup();
	m = smod_new("passwd", "#!/bin/sh\necho $$\nread a\nread b\n"
	    "sleep 1\necho \"a=$a b=$b\"\n");
	mod_argv(m, "passwd", "%u", NULL);
	m->args_stdin = 1;
	m->allow_dash = 1;
	ex_start(&ex, 0);
	ex_run(&ex.ib, 6, "passwd", 2, args, NULL);
	pid = first_pid(&ex, &ex.ib, 6, &o);
	free(o.buf);
	fmt(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	ATF_REQUIRE((fd = open(path, O_RDONLY)) != -1);
	ATF_REQUIRE((n = read(fd, buf, sizeof(buf) - 1)) > 0);
	close(fd);
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	ATF_CHECK_MSG(strstr(buf, USER) != NULL, "cmdline: %s", buf);
	ATF_CHECK_MSG(strstr(buf, "s3cret") == NULL &&
	    strstr(buf, "n3w") == NULL, "cmdline: %s", buf);
	ex_wait(&ex, &ex.ib, 6, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK_STREQ(o.buf, "a=-old s3cret b=n3w-pass\n");
	free(o.buf);
	ex_stop(&ex);
}

/* Every refused argument: BADARG, and the module never ran. */
ATF_TC(bad_args);
ATF_TC_HEAD(bad_args, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(bad_args, tc)
{
	static const struct {
		const char	*arg;
		size_t		 len;
		int		 nargs;
	} bad[] = {
		{ "-rf", 3, 1 },		/* leading dash */
		{ "a\001b", 3, 1 },		/* control byte */
		{ "a\nb", 3, 1 },
		{ "a\0b", 3, 1 },		/* NUL */
		{ "ABC", 3, 1 },		/* the pattern */
		{ "abcdefghi", 9, 1 },		/* longer than 8 */
		{ "abc", 3, 3 },		/* too many */
		{ "abc", 3, 0 },		/* too few */
	};
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct imsg_xexec_start	 st;
	struct module		*m;
	char			 prog[PATH_MAX], text[2 * PATH_MAX];
	char			 marker[PATH_MAX], w[PATH_MAX];
	const char		*args[3];
	size_t			 lens[3], i;
	int			 j;

	setup();
	nobody_dir("w", w, sizeof(w));
	fmt(marker, sizeof(marker), "%s/ran", w);
	fmt(text, sizeof(text), "#!/bin/sh\necho x >> %s\n", marker);
	script("touch", text, prog, sizeof(prog));
	m = mod_new("touch", prog);
	m->args_min = 1;
	m->args_max = 2;
	m->arg_maxlen = 8;
	strlcpy(m->arg_pattern, "[a-z]+", sizeof(m->arg_pattern));
	mod_path(m, w, PATH_WRITE);
	ex_start(&ex, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (j = 0; j < bad[i].nargs; j++) {
			args[j] = bad[i].arg;
			lens[j] = bad[i].len;
		}
		ex_run(&ex.ib, 100 + i, "touch", bad[i].nargs, args, lens);
		ex_wait(&ex, &ex.ib, 100 + i, &o, &d);
		ATF_CHECK_MSG(d.end == XEXEC_BADARG && o.len == 0,
		    "case %zu: end %u (%s)", i, d.end, d.reason);
		free(o.buf);
	}
	/* more ARGs than announced */
	memset(&st, 0, sizeof(st));
	strlcpy(st.user, USER, sizeof(st.user));
	strlcpy(st.module, "touch", sizeof(st.module));
	st.nargs = 1;
	ex_send(&ex.ib, IMSG_XEXEC_START, 200, 0, &st, sizeof(st));
	ex_send(&ex.ib, IMSG_XEXEC_ARG, 200, 0, "abc", 3);
	ex_send(&ex.ib, IMSG_XEXEC_ARG, 200, 0, "abc", 3);
	ex_send(&ex.ib, IMSG_XEXEC_GO, 200, 0, NULL, 0);
	ex_wait(&ex, &ex.ib, 200, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_BADARG);
	free(o.buf);
	ATF_CHECK(access(marker, F_OK) == -1);
	/* and a good one runs */
	args[0] = "abc";
	run1(&ex, 300, "touch", 1, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	free(o.buf);
	ATF_CHECK(access(marker, F_OK) == 0);
	ex_stop(&ex);
}

/* No such module, and one the user may not run: the same NOMODULE. */
ATF_TC(no_module);
ATF_TC_HEAD(no_module, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(no_module, tc)
{
	struct ex			 ex;
	struct out			 o;
	struct imsg_xexec_done		 d;
	struct imsg_xexec_user		 u;
	struct imsg_xexec_module	 mm;
	struct imsg			 imsg;
	struct module			*m;
	char				 names[256] = "";

	setup();
	mod_new("echo", "/usr/bin/echo");
	m = mod_new("bobonly", "/usr/bin/echo");
	m->who[0].kind = WHO_USER;
	strlcpy(m->who[0].pattern, "bob@*", sizeof(m->who[0].pattern));
	m = mod_new("domain", "/usr/bin/echo");
	m->who[0].kind = WHO_USER;
	strlcpy(m->who[0].pattern, "*@example.test",
	    sizeof(m->who[0].pattern));
	m->interactive = 1;
	ex_start(&ex, 0);
	run1(&ex, 1, "nosuch", 0, NULL, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_NOMODULE);
	free(o.buf);
	run1(&ex, 2, "bobonly", 0, NULL, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_NOMODULE);
	free(o.buf);

	/* LIST: only what alice may run; the name is made canonical */
	memset(&u, 0, sizeof(u));
	strlcpy(u.user, "Alice", sizeof(u.user));
	ex_send(&ex.ib, IMSG_XEXEC_LIST, 3, 0, &u, sizeof(u));
	for (;;) {
		ATF_REQUIRE(ex_next(&ex, &ex.ib, &imsg, WAIT_MS) == 1);
		if (imsg_get_type(&imsg) == IMSG_XEXEC_LIST_END) {
			imsg_free(&imsg);
			break;
		}
		ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_XEXEC_MODULE);
		ATF_REQUIRE(imsg_get_data(&imsg, &mm, sizeof(mm)) == 0);
		strlcat(names, mm.name, sizeof(names));
		strlcat(names, mm.interactive ? "* " : " ", sizeof(names));
		imsg_free(&imsg);
	}
	ATF_CHECK_STREQ(names, "echo domain* ");
	ex_stop(&ex);
}

ATF_TC(rate_limit);
ATF_TC_HEAD(rate_limit, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(rate_limit, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct module		*m;
	const char		*args[] = { "x" };

	setup();
	m = mod_new("echo", "/usr/bin/echo");
	m->rate = 2;
	ex_start(&ex, 0);
	run1(&ex, 1, "echo", 1, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	free(o.buf);
	run1(&ex, 2, "echo", 1, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	free(o.buf);
	run1(&ex, 3, "echo", 1, args, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_LIMIT);
	ATF_CHECK_EQ(o.len, 0);
	free(o.buf);
	ex_stop(&ex);
}

/*
 * Concurrency per user: a second run waits its turn (LIMIT); CANCEL
 * kills the first without a DONE, and then there is room again.
 */
ATF_TC(concurrency);
ATF_TC_HEAD(concurrency, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(concurrency, tc)
{
	struct timespec		 ts = { 0, 20 * 1000 * 1000 };
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct imsg		 imsg;
	struct module		*m;
	pid_t			 pid;
	int			 i;

	setup();
	m = smod_new("sleeper", "#!/bin/sh\necho $$\nexec sleep 30\n");
	m->conc_user = 1;
	ex_start(&ex, 0);
	ex_run(&ex.ib, 1, "sleeper", 0, NULL, NULL);
	pid = first_pid(&ex, &ex.ib, 1, &o);
	free(o.buf);
	run1(&ex, 2, "sleeper", 0, NULL, &o, &d);
	ATF_CHECK_EQ(d.end, XEXEC_LIMIT);
	free(o.buf);
	ex_send(&ex.ib, IMSG_XEXEC_CANCEL, 1, 0, NULL, 0);
	check_gone(pid, 0);
	ATF_CHECK_EQ(ex_next(&ex, &ex.ib, &imsg, 300), 0);
	for (i = 0; i < 100; i++) {
		ex_run(&ex.ib, 10 + i, "sleeper", 0, NULL, NULL);
		ATF_REQUIRE(ex_next(&ex, &ex.ib, &imsg, WAIT_MS) == 1);
		if (imsg_get_type(&imsg) == IMSG_XEXEC_OUTPUT) {
			imsg_free(&imsg);
			break;
		}
		imsg_free(&imsg);	/* DONE LIMIT: not reaped yet */
		nanosleep(&ts, NULL);
	}
	ATF_CHECK(i < 100);
	ex_stop(&ex);
}

/* A frontend channel that closes takes its runs along; execd stays. */
ATF_TC(channel_close);
ATF_TC_HEAD(channel_close, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(channel_close, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	const char		*args[] = { "still", "here" };
	pid_t			 pid, pid2;

	setup();
	smod_new("sleeper", "#!/bin/sh\necho $$\nexec sleep 30\n");
	mod_new("echo", "/usr/bin/echo");
	ex_start(&ex, 0);
	ex_run(&ex.ib2, 1, "sleeper", 0, NULL, NULL);
	pid = first_pid(&ex, &ex.ib2, 1, &o);
	free(o.buf);
	close(ex.ib2.fd);
	imsgbuf_clear(&ex.ib2);
	ex.ib2.fd = -1;
	check_gone(pid, 0);
	run1(&ex, 2, "echo", 2, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	free(o.buf);
	/* the last channel (the lifeline) closing ends execd and its runs */
	ex_run(&ex.ib, 3, "sleeper", 0, NULL, NULL);
	pid2 = first_pid(&ex, &ex.ib, 3, &o);
	free(o.buf);
	ex_stop(&ex);
	check_gone(pid2, 1);
}

/*
 * The cgroup of an execd that died (SIGKILL) with a run still alive in
 * it: the next execd kills what is left and removes it.
 */
ATF_TC(stale_cgroup);
ATF_TC_HEAD(stale_cgroup, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(stale_cgroup, tc)
{
	struct ex	 ex, ex2;
	struct out	 o;
	struct stat	 st;
	char		 base[PATH_MAX];
	pid_t		 pid;

	setup();
	smod_new("sleeper", "#!/bin/sh\necho $$\n"
	    "( setsid sh -c 'echo $$; exec sleep 1000' & )\nexec sleep 1000\n");
	ex_start(&ex, 0);
	ex_run(&ex.ib, 1, "sleeper", 0, NULL, NULL);
	(void)first_pid(&ex, &ex.ib, 1, &o);
	if (cgroup_base(ex.pid, base, sizeof(base)) == -1 ||
	    stat(base, &st) == -1)
		atf_tc_skip("no cgroup v2 on this host");
	while (strchr(strchr(o.buf, '\n') + 1, '\n') == NULL) {
		struct imsg	imsg;

		ATF_REQUIRE(ex_next(&ex, &ex.ib, &imsg, WAIT_MS) == 1);
		out_add(&o, &imsg);
		imsg_free(&imsg);
	}
	pid = atoi(strchr(o.buf, '\n') + 1);
	free(o.buf);
	kill(ex.pid, SIGKILL);
	ATF_REQUIRE(WIFSIGNALED(wait_child(ex.pid, 5000)));
	close(ex.ib.fd);
	close(ex.ib2.fd);
	imsgbuf_clear(&ex.ib);
	imsgbuf_clear(&ex.ib2);
	/* the grandchild lives on in its cgroup; the leader died with execd */
	ATF_REQUIRE(proc_state(pid) != 0 && proc_state(pid) != 'Z');
	ATF_REQUIRE(stat(base, &st) == 0);
	ex_start(&ex2, 0);
	check_gone(pid, 0);
	ATF_CHECK(stat(base, &st) == -1 && errno == ENOENT);
	ex_stop(&ex2);
}

/*
 * Runs one after another take turns in one cgroup, empty between them;
 * execd's end removes it.
 */
ATF_TC(cgroup_reuse);
ATF_TC_HEAD(cgroup_reuse, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(cgroup_reuse, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct stat		 st;
	struct dirent		*de;
	DIR			*dir;
	char			 base[PATH_MAX];
	const char		*args[] = { "x" };
	int			 i, n = 0, status;

	setup();
	mod_new("echo", "/usr/bin/echo");
	ex_start(&ex, 0);
	for (i = 1; i <= 3; i++) {
		run1(&ex, i, "echo", 1, args, &o, &d);
		check_done(&d, XEXEC_EXITED, 0);
		ATF_CHECK_STREQ(o.buf, "x\n");
		free(o.buf);
	}
	if (cgroup_base(ex.pid, base, sizeof(base)) == -1 ||
	    stat(base, &st) == -1)
		atf_tc_skip("no cgroup v2 on this host");
	ATF_REQUIRE((dir = opendir(base)) != NULL);
	while ((de = readdir(dir)) != NULL)
		n += strncmp(de->d_name, "run.", 4) == 0;
	closedir(dir);
	ATF_CHECK_EQ_MSG(n, 1, "%d run cgroups for 3 runs in turn", n);
	ATF_CHECK_EQ(run_cgroups(ex.pid), 0);
	kill(ex.pid, SIGTERM);
	status = wait_child(ex.pid, 10000);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ATF_CHECK(stat(base, &st) == -1 && errno == ENOENT);
	close(ex.ib.fd);
	close(ex.ib2.fd);
	imsgbuf_clear(&ex.ib);
	imsgbuf_clear(&ex.ib2);
}

/* SIGTERM: every run is killed, execd exits 0, its cgroup goes. */
ATF_TC(sigterm);
ATF_TC_HEAD(sigterm, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(sigterm, tc)
{
	struct ex	 ex;
	struct out	 o;
	struct stat	 st;
	char		 base[PATH_MAX];
	pid_t		 pid;
	int		 status, cg;

	setup();
	smod_new("sleeper", "#!/bin/sh\necho $$\nexec sleep 1000\n");
	ex_start(&ex, 0);
	ex_run(&ex.ib, 1, "sleeper", 0, NULL, NULL);
	pid = first_pid(&ex, &ex.ib, 1, &o);
	free(o.buf);
	cg = cgroup_base(ex.pid, base, sizeof(base)) == 0 &&
	    stat(base, &st) == 0;
	kill(ex.pid, SIGTERM);
	status = wait_child(ex.pid, 10000);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_gone(pid, 1);
	if (cg)
		ATF_CHECK(stat(base, &st) == -1 && errno == ENOENT);
	close(ex.ib.fd);
	close(ex.ib2.fd);
	imsgbuf_clear(&ex.ib);
	imsgbuf_clear(&ex.ib2);
}

/* An interactive module: INPUT to its stdin, EOF closes it. */
ATF_TC(interactive);
ATF_TC_HEAD(interactive, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(interactive, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct imsg		 imsg;
	struct module		*m;
	char			 line[4096];
	int			 i;

	setup();
	m = smod_new("cat", "#!/usr/bin/perl\n$| = 1;\n"
	    "print while <STDIN>;\n");
	mod_argv(m, "cat", NULL, NULL);
	m->interactive = 1;
	ex_start(&ex, 0);
	ex_run(&ex.ib, 8, "cat", 0, NULL, NULL);
	ex_send(&ex.ib, IMSG_XEXEC_INPUT, 8, CHAN_COUNTED, "ping\n", 5);
	ATF_REQUIRE(ex_next(&ex, &ex.ib, &imsg, WAIT_MS) == 1);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), IMSG_XEXEC_OUTPUT);
	ATF_CHECK_EQ(imsg_get_len(&imsg), 5);
	imsg_free(&imsg);
	/* more than a window through it, in both directions */
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < 128; i++)
		ex_send(&ex.ib, IMSG_XEXEC_INPUT, 8, CHAN_COUNTED, line,
		    sizeof(line));
	ex_send(&ex.ib, IMSG_XEXEC_EOF, 8, 0, NULL, 0);
	ex_wait(&ex, &ex.ib, 8, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK_EQ(o.len, 128 * sizeof(line));
	free(o.buf);
	ex_stop(&ex);
}

/* A broken frontend: a malformed message closes its channel only. */
ATF_TC(bad_message);
ATF_TC_HEAD(bad_message, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(bad_message, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct imsg		 imsg;
	const char		*args[] = { "ok" };

	setup();
	mod_new("echo", "/usr/bin/echo");
	ex_start(&ex, 0);
	ex_send(&ex.ib2, IMSG_XEXEC_START, 1, 0, "short", 5);
	ATF_CHECK_EQ(ex_next(&ex, &ex.ib2, &imsg, WAIT_MS), -1);
	run1(&ex, 1, "echo", 1, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	free(o.buf);
	close(ex.ib2.fd);
	imsgbuf_clear(&ex.ib2);
	ex.ib2.fd = -1;
	ex_stop(&ex);
}

/* execd's own filter: what it never needs kills it. */
static int
filtered(int what)
{
	pid_t	pid;
	int	status;

	fflush(NULL);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		log_init(1, LOG_MAIL);
		execd_sandbox(&conf);
		switch (what) {
		case 0:
			(void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
			break;
		case 1:
			/* no module has the network: refused, not killed */
			if (socket(AF_INET, SOCK_STREAM, 0) != -1 ||
			    errno != EACCES)
				_exit(1);
			(void)socket(AF_PACKET, SOCK_RAW, 0);
			break;
		case 2:
			(void)unshare(CLONE_NEWNS);
			break;
		case 3:
			/* what it does need: ids, fork, unix sockets */
			if (setresgid(0, 0, 0) == -1 ||
			    socket(AF_UNIX, SOCK_STREAM, 0) == -1)
				_exit(1);
			if ((pid = fork()) == 0)
				_exit(0);
			_exit(waitpid(pid, &status, 0) == pid ? 0 : 1);
		}
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return status;
}

ATF_TC(execd_filter);
ATF_TC_HEAD(execd_filter, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(execd_filter, tc)
{
	int	status, i;

	setup();
	mod_new("echo", "/usr/bin/echo");
	for (i = 0; i < 3; i++) {
		status = filtered(i);
		ATF_CHECK_MSG(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGSYS, "case %d: status %#x", i,
		    status);
	}
	status = filtered(3);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "allowed calls: status %#x", status);
}

/*
 * The program itself: a policy file, -n, -T, and the channel from
 * imapxd's parent on fd 3 with IMSG_PEER_CHANNEL.
 */
static void
bin_path(const atf_tc_t *tc, char *out, size_t len)
{
	fmt(out, len, "%s/../bin/execd",
	    atf_tc_get_config_var(tc, "srcdir"));
	ATF_REQUIRE_MSG(access(out, X_OK) == 0, "no %s", out);
}

static void
bin_conf(char *conffile, size_t len)
{
	FILE	*fp;
	char	 prog[PATH_MAX];

	script("sleeper", "#!/bin/sh\necho $$\nexec sleep 30\n", prog,
	    sizeof(prog));
	fmt(conffile, len, "%s/execd.conf", tdir);
	ATF_REQUIRE((fp = fopen(conffile, "w")) != NULL);
	fprintf(fp, "domain \"example.test\"\n"
	    "module \"echo\" {\n"
	    "\tprogram \"/usr/bin/echo\"\n"
	    "\targv \"echo\" \"%%u\" \"%%a\"\n"
	    "\trun as \"nobody\"\n"
	    "\tallow user \"*@example.test\"\n"
	    "\targuments 0 to 4\n"
	    "}\n"
	    "module \"sleeper\" {\n"
	    "\tprogram \"%s\"\n"
	    "\trun as \"nobody\"\n"
	    "\tallow any\n"
	    "\ttimeout 60\n"
	    "}\n", prog);
	ATF_REQUIRE(fclose(fp) == 0);
	ATF_REQUIRE(chmod(conffile, 0644) == 0);
}

static pid_t
bin_start(const atf_tc_t *tc, const char *conffile, int fd, int target,
    const char *opt)
{
	char	 bin[PATH_MAX], tfd[16];
	char	*argv[8];
	int	 argc = 0;
	pid_t	 pid;

	bin_path(tc, bin, sizeof(bin));
	fmt(tfd, sizeof(tfd), "%d", target);
	fflush(NULL);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		if (fd != -1 && (fd == target ?
		    fcntl(fd, F_SETFD, 0) : dup2(fd, target)) == -1)
			_exit(126);
		argv[argc++] = bin;
		argv[argc++] = "-d";
		argv[argc++] = "-f";
		argv[argc++] = (char *)conffile;
		if (opt != NULL) {
			argv[argc++] = (char *)opt;
			if (strcmp(opt, "-T") == 0)
				argv[argc++] = tfd;
		}
		argv[argc] = NULL;
		execv(bin, argv);
		_exit(127);
	}
	return pid;
}

ATF_TC(bin_check);
ATF_TC_HEAD(bin_check, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(bin_check, tc)
{
	char	conffile[PATH_MAX];
	int	status;

	setup();
	bin_conf(conffile, sizeof(conffile));
	status = wait_child(bin_start(tc, conffile, -1, 0, "-n"), 10000);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

ATF_TC(bin_standalone);
ATF_TC_HEAD(bin_standalone, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(bin_standalone, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	char			 conffile[PATH_MAX];
	const char		*args[] = { "hi" };
	int			 sp[2];

	setup();
	bin_conf(conffile, sizeof(conffile));
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp) == 0);
	memset(&ex, 0, sizeof(ex));
	ex.pid = bin_start(tc, conffile, sp[1], 4, "-T");
	close(sp[1]);
	ATF_REQUIRE(imsgbuf_init(&ex.ib, sp[0]) == 0);
	ex.ib2.fd = -1;
	ex.credit = 1;
	run1(&ex, 1, "echo", 1, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	ATF_CHECK_STREQ(o.buf, USER " hi\n");
	free(o.buf);
	ex_stop(&ex);
}

/*
 * As imapxd's parent starts it: fd 3 the parent's channel; a frontend
 * channel comes with IMSG_PEER_CHANNEL; the parent closing fd 3 ends
 * execd and every run.
 */
ATF_TC(bin_parent);
ATF_TC_HEAD(bin_parent, tc)
{
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(bin_parent, tc)
{
	struct ex		 ex;
	struct out		 o;
	struct imsg_xexec_done	 d;
	struct imsgbuf		 parent;
	struct imsg_peer	 peer;
	char			 conffile[PATH_MAX];
	const char		*args[] = { "hi" };
	int			 ps[2], fs[2], status;
	pid_t			 pid;

	setup();
	bin_conf(conffile, sizeof(conffile));
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    ps) == 0);
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    fs) == 0);
	memset(&ex, 0, sizeof(ex));
	ex.pid = bin_start(tc, conffile, ps[1], 3, NULL);
	close(ps[1]);
	ATF_REQUIRE(imsgbuf_init(&parent, ps[0]) == 0);
	imsgbuf_allow_fdpass(&parent);
	peer.proc = PROC_FRONTEND;
	peer.instance = 2;
	ATF_REQUIRE(imsg_compose(&parent, IMSG_PEER_CHANNEL, 0, 0, fs[1],
	    &peer, sizeof(peer)) != -1);
	ATF_REQUIRE(imsgbuf_flush(&parent) != -1);
	ATF_REQUIRE(imsgbuf_init(&ex.ib, fs[0]) == 0);
	ex.credit = 1;
	run1(&ex, 1, "echo", 1, args, &o, &d);
	check_done(&d, XEXEC_EXITED, 0);
	free(o.buf);
	ex_run(&ex.ib, 2, "sleeper", 0, NULL, NULL);
	pid = first_pid(&ex, &ex.ib, 2, &o);
	free(o.buf);
	close(ps[0]);
	imsgbuf_clear(&parent);
	status = wait_child(ex.pid, 10000);
	ATF_CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "execd ended with status %#x", status);
	check_gone(pid, 1);
	close(fs[0]);
	imsgbuf_clear(&ex.ib);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, echo_ok);
	ATF_TP_ADD_TC(tp, exit_status);
	ATF_TP_ADD_TC(tp, timeout);
	ATF_TP_ADD_TC(tp, timeout_kill_grace);
	ATF_TP_ADD_TC(tp, timeout_fallback);
	ATF_TP_ADD_TC(tp, output_flood);
	ATF_TP_ADD_TC(tp, output_lines);
	ATF_TP_ADD_TC(tp, grandchild);
	ATF_TP_ADD_TC(tp, grandchild_fallback);
	ATF_TP_ADD_TC(tp, write_paths);
	ATF_TP_ADD_TC(tp, path_expansion);
	ATF_TP_ADD_TC(tp, network);
	ATF_TP_ADD_TC(tp, runas);
	ATF_TP_ADD_TC(tp, environment);
	ATF_TP_ADD_TC(tp, args_stdin);
	ATF_TP_ADD_TC(tp, bad_args);
	ATF_TP_ADD_TC(tp, no_module);
	ATF_TP_ADD_TC(tp, rate_limit);
	ATF_TP_ADD_TC(tp, concurrency);
	ATF_TP_ADD_TC(tp, channel_close);
	ATF_TP_ADD_TC(tp, stale_cgroup);
	ATF_TP_ADD_TC(tp, cgroup_reuse);
	ATF_TP_ADD_TC(tp, sigterm);
	ATF_TP_ADD_TC(tp, interactive);
	ATF_TP_ADD_TC(tp, bad_message);
	ATF_TP_ADD_TC(tp, execd_filter);
	ATF_TP_ADD_TC(tp, bin_check);
	ATF_TP_ADD_TC(tp, bin_standalone);
	ATF_TP_ADD_TC(tp, bin_parent);
	return atf_no_error();
}
