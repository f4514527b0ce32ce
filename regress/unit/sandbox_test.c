/*
 * sandbox_enter/sandbox_unveil: every check runs in a forked child that
 * enters the sandbox and then tries something; the parent looks at how
 * the child ended.  A child ends with _exit(2): LeakSanitizer cannot run
 * at exit inside the sandbox.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#define CHILD_FAILED	2

/* In a child: report a failed check on stderr and end. */
#define CHECK(cond) do {						\
	if (!(cond))							\
		child_fail(__LINE__, #cond);				\
} while (0)

static void	child_fail(int, const char *);
static void	setup(void);
static void	require_landlock(void);
static void	make_dir(const char *, char *, size_t);
static void	path_in(char *, size_t, const char *, const char *);

#include "atf_lsan.h"
#include "child.h"

static void
child_fail(int line, const char *what)
{
	char	buf[512];
	int	len;

	len = snprintf(buf, sizeof(buf), "child: line %d: %s (errno %d: %s)\n",
	    line, what, errno, strerror(errno));
	if (len > 0 && write(STDERR_FILENO, buf, len) == -1)
		_exit(CHILD_FAILED + 1);
	_exit(CHILD_FAILED);
}

static void
setup(void)
{
	log_init(1, LOG_DAEMON);
	log_setverbose(2);
}

static void
require_landlock(void)
{
	if (sandbox_landlock_abi() == 0)
		atf_tc_skip("the kernel has no Landlock");
}

/* A directory "name" in the test's work directory holding file "f". */
static void
make_dir(const char *name, char *path, size_t len)
{
	char	 cwd[PATH_MAX], file[PATH_MAX];
	FILE	*fp;

	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	ATF_REQUIRE((size_t)snprintf(path, len, "%s/%s", cwd, name) < len);
	ATF_REQUIRE(mkdir(path, 0755) == 0);
	ATF_REQUIRE((size_t)snprintf(file, sizeof(file), "%s/f", path) <
	    sizeof(file));
	ATF_REQUIRE((fp = fopen(file, "w")) != NULL);
	ATF_REQUIRE(fputs("hello", fp) >= 0);
	ATF_REQUIRE(fclose(fp) == 0);
}

static void
path_in(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		child_fail(__LINE__, "path too long");
}

/* stdio: what a daemon does on its descriptors keeps working. */
static void
child_stdio_ok(void *arg)
{
	struct timespec	 ts;
	char		 buf[4], *p;
	pid_t		 pid = getpid();
	int		 fds[2], n, sv[2];

	sandbox_enter("stdio");
	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	CHECK(write(fds[1], "abc", 3) == 3);
	CHECK(ioctl(fds[0], FIONREAD, &n) == 0 && n == 3);
	CHECK(read(fds[0], buf, sizeof(buf)) == 3);
	CHECK(memcmp(buf, "abc", 3) == 0);
	CHECK(close(fds[0]) == 0 && close(fds[1]) == 0);
	CHECK(getpid() == pid);
	CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	CHECK(getrandom(buf, sizeof(buf), 0) == sizeof(buf));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	CHECK((p = malloc(1 << 20)) != NULL);
	free(p);
	/* socket(AF_UNIX) is refused, not fatal: syslog(3) reconnects. */
	CHECK(socket(AF_UNIX, SOCK_DGRAM, 0) == -1 && errno == EACCES);
}

ATF_TC(stdio_ok);
ATF_TC_HEAD(stdio_ok, tc)
{
	atf_tc_set_md_var(tc, "descr", "stdio: read, write, getpid work");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(stdio_ok, tc)
{
	setup();
	expect_exit(run_child(child_stdio_ok, NULL), 0);
}

static void
child_socket_inet(void *arg)
{
	sandbox_enter("stdio");
	socket(AF_INET, SOCK_STREAM, 0);
	child_fail(__LINE__, "socket(AF_INET) returned");
}

ATF_TC(stdio_socket_kills);
ATF_TC_HEAD(stdio_socket_kills, tc)
{
	atf_tc_set_md_var(tc, "descr", "stdio: socket(AF_INET) kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(stdio_socket_kills, tc)
{
	setup();
	expect_sigsys(run_child(child_socket_inet, NULL));
}

static void
child_open_dir(void *arg)
{
	char	 file[PATH_MAX], buf[8];
	int	 fd;

	path_in(file, sizeof(file), arg, "f");
	CHECK(sandbox_unveil(arg, "r") == 0);
	sandbox_enter("stdio rpath");
	CHECK((fd = open(file, O_RDONLY)) != -1);
	CHECK(read(fd, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0);
	CHECK(close(fd) == 0);
	CHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES);
}

ATF_TC(unveil_read);
ATF_TC_HEAD(unveil_read, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "unveil(dir, r): files in dir open, /etc/passwd does not");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unveil_read, tc)
{
	char	dir[PATH_MAX];

	setup();
	require_landlock();
	make_dir("d", dir, sizeof(dir));
	expect_exit(run_child(child_open_dir, dir), 0);
}

static void
child_no_unveil(void *arg)
{
	char	file[PATH_MAX];

	path_in(file, sizeof(file), arg, "f");
	sandbox_enter("stdio rpath");
	CHECK(open(file, O_RDONLY) == -1 && errno == EACCES);
	CHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES);
}

ATF_TC(unveil_none);
ATF_TC_HEAD(unveil_none, tc)
{
	atf_tc_set_md_var(tc, "descr", "no unveil: no file opens");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unveil_none, tc)
{
	char	dir[PATH_MAX];

	setup();
	require_landlock();
	make_dir("d", dir, sizeof(dir));
	expect_exit(run_child(child_no_unveil, dir), 0);
}

/* The seccomp rule: Landlock would allow the write ("rw"). */
static void
child_rpath_no_wpath(void *arg)
{
	char	 file[PATH_MAX];
	int	 fd;

	path_in(file, sizeof(file), arg, "f");
	CHECK(sandbox_unveil(arg, "rw") == 0);
	sandbox_enter("stdio rpath");
	CHECK(open(file, O_WRONLY) == -1 && errno == EACCES);
	CHECK(open(file, O_RDWR) == -1 && errno == EACCES);
	CHECK(open(file, O_RDONLY | O_TRUNC) == -1 && errno == EACCES);
	CHECK(open(file, O_RDONLY | O_CREAT, 0644) == -1 && errno == EACCES);
	CHECK((fd = open(file, O_RDONLY | O_CLOEXEC)) != -1);
	CHECK(close(fd) == 0);
}

ATF_TC(rpath_no_wpath);
ATF_TC_HEAD(rpath_no_wpath, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "stdio rpath: open for writing is refused by seccomp");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(rpath_no_wpath, tc)
{
	char	dir[PATH_MAX];

	setup();
	make_dir("d", dir, sizeof(dir));
	expect_exit(run_child(child_rpath_no_wpath, dir), 0);
}

/* The Landlock rule: seccomp would allow the write ("wpath"). */
static void
child_unveil_r_only(void *arg)
{
	char	 file[PATH_MAX];
	int	 fd;

	path_in(file, sizeof(file), arg, "f");
	CHECK(sandbox_unveil(arg, "r") == 0);
	sandbox_enter("stdio rpath wpath");
	CHECK(open(file, O_WRONLY) == -1 && errno == EACCES);
	CHECK((fd = open(file, O_RDONLY)) != -1);
	CHECK(close(fd) == 0);
}

ATF_TC(unveil_read_only);
ATF_TC_HEAD(unveil_read_only, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "unveil(dir, r) with wpath: open for writing is refused");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unveil_read_only, tc)
{
	char	dir[PATH_MAX];

	setup();
	require_landlock();
	make_dir("d", dir, sizeof(dir));
	expect_exit(run_child(child_unveil_r_only, dir), 0);
}

static void
child_unveil_create(void *arg)
{
	char	 file[PATH_MAX], sub[PATH_MAX], out[PATH_MAX];
	int	 fd;

	path_in(file, sizeof(file), arg, "new");
	path_in(sub, sizeof(sub), arg, "sub");
	path_in(out, sizeof(out), arg, "../outside");
	CHECK(sandbox_unveil(arg, "rwc") == 0);
	sandbox_enter("stdio rpath wpath cpath");
	CHECK((fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644)) != -1);
	CHECK(write(fd, "x", 1) == 1);
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(close(fd) == 0);
	CHECK(rename(file, sub) == 0);
	CHECK(unlink(sub) == 0);
	CHECK(mkdir(sub, 0755) == 0 && rmdir(sub) == 0);
	CHECK(open(out, O_WRONLY | O_CREAT, 0644) == -1 && errno == EACCES);
	CHECK(mkdir(out, 0755) == -1 && errno == EACCES);
}

ATF_TC(unveil_create);
ATF_TC_HEAD(unveil_create, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "unveil(dir, rwc): create, rename, unlink inside dir only");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unveil_create, tc)
{
	char	dir[PATH_MAX];

	setup();
	require_landlock();
	make_dir("d", dir, sizeof(dir));
	expect_exit(run_child(child_unveil_create, dir), 0);
}

ATF_TC(unveil_errors);
ATF_TC_HEAD(unveil_errors, tc)
{
	atf_tc_set_md_var(tc, "descr", "sandbox_unveil argument errors");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unveil_errors, tc)
{
	char	dir[PATH_MAX];

	setup();
	make_dir("d", dir, sizeof(dir));
	ATF_CHECK(sandbox_unveil("/nonexistent/imapx", "r") == -1 &&
	    errno == ENOENT);
	ATF_CHECK(sandbox_unveil(dir, "rz") == -1 && errno == EINVAL);
	ATF_CHECK(sandbox_unveil(dir, NULL) == -1 && errno == EINVAL);
	ATF_CHECK(sandbox_unveil(NULL, NULL) == 0);
}

static void
child_unveil_late(void *arg)
{
	sandbox_enter("stdio");
	CHECK(sandbox_unveil(arg, "r") == -1 && errno == EPERM);
}

ATF_TC(unveil_after_enter);
ATF_TC_HEAD(unveil_after_enter, tc)
{
	atf_tc_set_md_var(tc, "descr", "sandbox_unveil after enter: EPERM");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unveil_after_enter, tc)
{
	setup();
	expect_exit(run_child(child_unveil_late, "/"), 0);
}

static void
child_inet(void *arg)
{
	struct sockaddr_in	 sin;
	int			 s;

	sandbox_enter("stdio inet");
	CHECK((s = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CHECK(listen(s, 5) == 0);
	CHECK(close(s) == 0);
	CHECK(socket(AF_UNIX, SOCK_STREAM, 0) == -1 && errno == EACCES);
}

ATF_TC(inet_not_unix);
ATF_TC_HEAD(inet_not_unix, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "stdio inet: AF_INET sockets work, AF_UNIX is refused");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(inet_not_unix, tc)
{
	setup();
	expect_exit(run_child(child_inet, NULL), 0);
}

static void
child_unix(void *arg)
{
	int	s;

	sandbox_enter("stdio unix");
	CHECK((s = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	CHECK(close(s) == 0);
	socket(AF_INET6, SOCK_STREAM, 0);
	child_fail(__LINE__, "socket(AF_INET6) returned");
}

ATF_TC(unix_not_inet);
ATF_TC_HEAD(unix_not_inet, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "stdio unix: AF_UNIX sockets work, AF_INET6 kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unix_not_inet, tc)
{
	setup();
	expect_sigsys(run_child(child_unix, NULL));
}

static void
child_proc_exec(void *arg)
{
	char	*argv[] = { "true", NULL }, *envp[] = { NULL };
	pid_t	 pid;
	int	 status;

	CHECK(sandbox_unveil("/", "rx") == 0);
	sandbox_enter("stdio rpath proc exec");
	CHECK((pid = fork()) != -1);
	if (pid == 0)
		_exit(7);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);

	/* The program starts up under the same filter. */
	CHECK((pid = fork()) != -1);
	if (pid == 0) {
		execve("/bin/true", argv, envp);
		_exit(8);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

ATF_TC(proc_exec);
ATF_TC_HEAD(proc_exec, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "stdio rpath proc exec: fork and execve work");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(proc_exec, tc)
{
	setup();
	expect_exit(run_child(child_proc_exec, NULL), 0);
}

static void
child_fork(void *arg)
{
	pid_t	pid;

	sandbox_enter("stdio");
	if ((pid = fork()) == 0)
		_exit(0);
	child_fail(__LINE__, "fork returned");
}

ATF_TC(no_proc_fork_kills);
ATF_TC_HEAD(no_proc_fork_kills, tc)
{
	atf_tc_set_md_var(tc, "descr", "stdio: fork kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(no_proc_fork_kills, tc)
{
	setup();
	expect_sigsys(run_child(child_fork, NULL));
}

static void
child_exec(void *arg)
{
	char	*argv[] = { "true", NULL }, *envp[] = { NULL };

	CHECK(sandbox_unveil("/", "rx") == 0);
	sandbox_enter("stdio rpath proc");
	execve("/bin/true", argv, envp);
	child_fail(__LINE__, "execve returned");
}

ATF_TC(no_exec_kills);
ATF_TC_HEAD(no_exec_kills, tc)
{
	atf_tc_set_md_var(tc, "descr", "stdio rpath proc: execve kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(no_exec_kills, tc)
{
	setup();
	expect_sigsys(run_child(child_exec, NULL));
}

static void
child_wx(void *arg)
{
	void	*p;

	sandbox_enter("stdio");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK(mprotect(p, 4096, PROT_READ | PROT_EXEC) == 0);
	mprotect(p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
	child_fail(__LINE__, "W|X mprotect returned");
}

ATF_TC(wx_kills);
ATF_TC_HEAD(wx_kills, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "stdio: W^X mappings, a writable executable one kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(wx_kills, tc)
{
	setup();
	expect_sigsys(run_child(child_wx, NULL));
}

static void
child_ioctl(void *arg)
{
	struct winsize	ws;

	memset(&ws, 0, sizeof(ws));
	sandbox_enter("stdio");
	ioctl(STDERR_FILENO, TIOCSWINSZ, &ws);
	child_fail(__LINE__, "ioctl(TIOCSWINSZ) returned");
}

ATF_TC(ioctl_kills);
ATF_TC_HEAD(ioctl_kills, tc)
{
	atf_tc_set_md_var(tc, "descr", "stdio: a tty ioctl without tty kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(ioctl_kills, tc)
{
	setup();
	expect_sigsys(run_child(child_ioctl, NULL));
}

static void
child_narrow(void *arg)
{
	int	s;

	sandbox_enter("stdio inet");
	CHECK((s = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	CHECK(close(s) == 0);
	sandbox_enter("stdio");
	CHECK(write(STDERR_FILENO, "", 0) == 0);
	socket(AF_INET, SOCK_STREAM, 0);
	child_fail(__LINE__, "socket(AF_INET) returned after narrowing");
}

ATF_TC(narrow);
ATF_TC_HEAD(narrow, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "a second sandbox_enter narrows: inet dropped, socket kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(narrow, tc)
{
	setup();
	expect_sigsys(run_child(child_narrow, NULL));
}

static void
child_widen(void *arg)
{
	sandbox_enter("stdio");
	sandbox_enter("stdio inet");
	child_fail(__LINE__, "widening sandbox_enter returned");
}

ATF_TC(widen_fails);
ATF_TC_HEAD(widen_fails, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "a second sandbox_enter with more promises is fatal");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(widen_fails, tc)
{
	setup();
	expect_exit(run_child(child_widen, NULL), 1);
}

static void
child_bad_word(void *arg)
{
	sandbox_enter("stdio rpathh");
	child_fail(__LINE__, "sandbox_enter with a typo returned");
}

ATF_TC(unknown_promise);
ATF_TC_HEAD(unknown_promise, tc)
{
	atf_tc_set_md_var(tc, "descr", "an unknown promise word is fatal");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(unknown_promise, tc)
{
	setup();
	expect_exit(run_child(child_bad_word, NULL), 1);
}

/*
 * A filter compiled in the parent, entered in the child: the same
 * Landlock rules and seccomp rules as sandbox_enter() would give.
 */
struct compiled {
	struct sandbox_prog	*prog;
	const char		*dir;
};

static void
child_compiled(void *arg)
{
	struct compiled	*c = arg;
	char		 file[PATH_MAX];
	char		*argv[] = { "true", NULL }, *envp[] = { NULL };
	int		 fd;

	path_in(file, sizeof(file), c->dir, "f");
	CHECK(sandbox_unveil(c->dir, "r") == 0);
	sandbox_enter_compiled(c->prog);
	CHECK((fd = open(file, O_RDONLY | O_CLOEXEC)) != -1);
	CHECK(close(fd) == 0);
	CHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES);
	CHECK(open(file, O_WRONLY) == -1 && errno == EACCES);
	CHECK(socket(AF_INET, SOCK_STREAM, 0) == -1 && errno == EACCES);
	execve("/bin/true", argv, envp);
	child_fail(__LINE__, "execve returned");
}

ATF_TC(compiled);
ATF_TC_HEAD(compiled, tc)
{
	atf_tc_set_md_var(tc, "descr", "a filter compiled ahead for "
	    "\"stdio rpath proc nonet\": unveiled files open, others do "
	    "not, no write, socket fails, execve kills");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(compiled, tc)
{
	struct compiled	c;
	char		dir[PATH_MAX];

	setup();
	require_landlock();
	make_dir("d", dir, sizeof(dir));
	c.dir = dir;
	c.prog = sandbox_compile("stdio rpath proc nonet");
	expect_sigsys(run_child(child_compiled, &c));
	/* the parent is not in any sandbox, and may use it again */
	expect_sigsys(run_child(child_compiled, &c));
	sandbox_prog_free(c.prog);
}

static void
child_compiled_exec(void *arg)
{
	char	*argv[] = { "sh", "-c", "exit 7", NULL }, *envp[] = { NULL };

	CHECK(sandbox_unveil("/", "rx") == 0);
	sandbox_enter_compiled(arg);
	execve("/bin/sh", argv, envp);
	child_fail(__LINE__, "execve returned");
}

ATF_TC(compiled_exec);
ATF_TC_HEAD(compiled_exec, tc)
{
	atf_tc_set_md_var(tc, "descr", "a filter compiled ahead for "
	    "\"stdio rpath proc exec\": the program runs under it");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(compiled_exec, tc)
{
	struct sandbox_prog	*prog;

	setup();
	prog = sandbox_compile("stdio rpath proc exec");
	expect_exit(run_child(child_compiled_exec, prog), 7);
	sandbox_prog_free(prog);
}

static void
child_compile_noproc(void *arg)
{
	(void)sandbox_compile("stdio rpath");
	child_fail(__LINE__, "sandbox_compile without proc returned");
}

ATF_TC(compile_needs_proc);
ATF_TC_HEAD(compile_needs_proc, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "sandbox_compile without \"proc\" is fatal");
}
ATF_TC_BODY(compile_needs_proc, tc)
{
	setup();
	expect_exit(run_child(child_compile_noproc, NULL), 1);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, stdio_ok);
	ATF_TP_ADD_TC(tp, stdio_socket_kills);
	ATF_TP_ADD_TC(tp, unveil_read);
	ATF_TP_ADD_TC(tp, unveil_none);
	ATF_TP_ADD_TC(tp, rpath_no_wpath);
	ATF_TP_ADD_TC(tp, unveil_read_only);
	ATF_TP_ADD_TC(tp, unveil_create);
	ATF_TP_ADD_TC(tp, unveil_errors);
	ATF_TP_ADD_TC(tp, unveil_after_enter);
	ATF_TP_ADD_TC(tp, inet_not_unix);
	ATF_TP_ADD_TC(tp, unix_not_inet);
	ATF_TP_ADD_TC(tp, proc_exec);
	ATF_TP_ADD_TC(tp, no_proc_fork_kills);
	ATF_TP_ADD_TC(tp, no_exec_kills);
	ATF_TP_ADD_TC(tp, wx_kills);
	ATF_TP_ADD_TC(tp, ioctl_kills);
	ATF_TP_ADD_TC(tp, narrow);
	ATF_TP_ADD_TC(tp, widen_fails);
	ATF_TP_ADD_TC(tp, unknown_promise);
	ATF_TP_ADD_TC(tp, compiled);
	ATF_TP_ADD_TC(tp, compiled_exec);
	ATF_TP_ADD_TC(tp, compile_needs_proc);
	return atf_no_error();
}
