/*
 * Helpers for unit tests that run a piece of code in a forked child (to
 * enter a sandbox or drop privileges without affecting the test) and
 * check how the child ended.  Include it once, from the test's one .c.
 */
#ifndef REGRESS_CHILD_H
#define REGRESS_CHILD_H

#include <sys/types.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* Run fn(arg) in a child that then exits 0; its wait status. */
static inline int
run_child(void (*fn)(void *), void *arg)
{
	pid_t	pid;
	int	status;

	fflush(NULL);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	return status;
}

static inline void
expect_exit(int status, int code)
{
	if (WIFSIGNALED(status))
		atf_tc_fail("child killed by signal %d, want exit %d",
		    WTERMSIG(status), code);
	ATF_REQUIRE(WIFEXITED(status));
	ATF_CHECK_EQ_MSG(WEXITSTATUS(status), code,
	    "child exit %d, want %d (see stderr)", WEXITSTATUS(status), code);
}

static inline void
expect_sigsys(int status)
{
	if (WIFEXITED(status))
		atf_tc_fail("child exit %d, want SIGSYS (see stderr)",
		    WEXITSTATUS(status));
	ATF_REQUIRE(WIFSIGNALED(status));
	ATF_CHECK_EQ_MSG(WTERMSIG(status), SIGSYS,
	    "child killed by signal %d, want SIGSYS", WTERMSIG(status));
}

#endif
