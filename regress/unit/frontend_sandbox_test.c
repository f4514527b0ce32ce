/*
 * The front end's own sandbox (FRONTEND_PROMISES, as frontend.c enters
 * it) stops what a compromised front end would try: reading or writing
 * files, running a program, reaching a local daemon over a unix socket,
 * changing ids.  What it needs, a TCP socket towards the backend, works.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "atf_lsan.h"
#include "imapxd.h"
#include "sandbox.h"

/* Run fn in a sandboxed child; return its wait status. */
static int
sandboxed(void (*fn)(void))
{
	pid_t	pid;
	int	status;

	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		sandbox_enter(FRONTEND_PROMISES);
		fn();
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return status;
}

static void
try_open(void)
{
	if (open("/etc/passwd", O_RDONLY) != -1)
		_exit(10);
	if (open("/tmp/frontend-sandbox-test", O_WRONLY | O_CREAT, 0600) != -1)
		_exit(11);
}

static void
try_exec(void)
{
	char	*argv[] = { "true", NULL };

	execv("/bin/true", argv);
	_exit(12);
}

static void
try_unix(void)
{
	if (socket(AF_UNIX, SOCK_STREAM, 0) != -1)
		_exit(13);
}

static void
try_setuid(void)
{
	(void)setuid(0);
	_exit(14);
}

static void
try_inet(void)
{
	int	fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		_exit(15);
	close(fd);
}

ATF_TC_WITHOUT_HEAD(no_files);
ATF_TC_BODY(no_files, tc)
{
	int	status = sandboxed(try_open);

	/* refused (EACCES) or killed: either way nothing is opened */
	ATF_CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
	    (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS));
	ATF_CHECK(access("/tmp/frontend-sandbox-test", F_OK) == -1);
}

ATF_TC_WITHOUT_HEAD(no_exec);
ATF_TC_BODY(no_exec, tc)
{
	int	status = sandboxed(try_exec);

	ATF_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
}

ATF_TC_WITHOUT_HEAD(no_unix_socket);
ATF_TC_BODY(no_unix_socket, tc)
{
	int	status = sandboxed(try_unix);

	ATF_CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
	    (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS));
}

ATF_TC_WITHOUT_HEAD(no_setuid);
ATF_TC_BODY(no_setuid, tc)
{
	int	status = sandboxed(try_setuid);

	ATF_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
}

ATF_TC_WITHOUT_HEAD(inet_allowed);
ATF_TC_BODY(inet_allowed, tc)
{
	int	status = sandboxed(try_inet);

	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, no_files);
	ATF_TP_ADD_TC(tp, no_exec);
	ATF_TP_ADD_TC(tp, no_unix_socket);
	ATF_TP_ADD_TC(tp, no_setuid);
	ATF_TP_ADD_TC(tp, inet_allowed);
	return atf_no_error();
}
