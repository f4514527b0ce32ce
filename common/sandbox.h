/*
 * One sandbox for every imapx process, stated with pledge(2) and unveil(2)
 * words: pledge/unveil on OpenBSD, seccomp-bpf and Landlock on Linux.
 *
 *	sandbox_unveil("/var/db/imapx", "rwc");
 *	sandbox_enter("stdio rpath wpath cpath");
 *
 * sandbox_unveil() may only be called before the first sandbox_enter()
 * (after it: -1, EPERM).  "perms" is any mix of r, w, c and x as for
 * unveil(2); the path must exist, since Landlock names a file by an open
 * descriptor; -1 and errno on failure.  Once entered, a process that made
 * no sandbox_unveil() call can open no file at all.
 *
 * sandbox_enter() fails fatally.  Promise words: stdio rpath wpath cpath
 * inet unix dns recvfd sendfd proc exec id tty getpw.  A syscall outside
 * the promises kills the process (SIGSYS); a file opened with flags the
 * promises do not cover, or a socket(AF_UNIX) without "unix", fails with
 * EACCES instead, so that libc's syslog(3) reconnect degrades rather than
 * kills.  A second sandbox_enter() may only narrow: its words must be a
 * subset of the first call's (else fatal), it stacks one more seccomp
 * filter and leaves the file system rules as they were.
 *
 * The first sandbox_enter() also sets TZ to ":/etc/localtime" when TZ is
 * unset and calls tzset(3): glibc would otherwise stat the zone file on
 * every localtime(3).  The filter survives execve(2): a program run under
 * "exec" starts with the same promises (and needs "rpath" and an unveiled
 * path to load its shared libraries).
 *
 * sandbox_landlock_abi() is the kernel's Landlock ABI, 0 for none; probe
 * it before sandbox_enter() (the answer is kept, the probe is not allowed
 * inside the sandbox).
 *
 * For a process that starts many sandboxed children (execd), the filter
 * of some promises can be built once, before its own sandbox:
 *
 *	prog = sandbox_compile("stdio rpath proc exec");
 *	...
 *	if (fork() == 0) {
 *		sandbox_unveil(...);
 *		sandbox_enter_compiled(prog);
 *		execve(...);
 *	}
 *
 * sandbox_enter_compiled() is sandbox_enter() in a child that is about
 * to execve(2): the same Landlock rules and the same filter, without the
 * set-up that only matters to a process that goes on (TZ, sanitizer
 * caches), and only as the first sandbox.  The promises must hold "proc"
 * (without it the filter would allow signals to its maker's pid only).
 * Both fail fatally.
 */
#ifndef IMAPX_SANDBOX_H
#define IMAPX_SANDBOX_H

int	sandbox_unveil(const char *, const char *);
void	sandbox_enter(const char *);
int	sandbox_landlock_abi(void);

struct sandbox_prog;
struct sandbox_prog *sandbox_compile(const char *);
void	sandbox_enter_compiled(const struct sandbox_prog *);
void	sandbox_prog_free(struct sandbox_prog *);

#endif
