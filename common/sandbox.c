/*
 * The sandbox layer: pledge(2)/unveil(2) words on every platform.
 *
 * OpenBSD has them.  On Linux the words become two things:
 *
 *  - a seccomp-bpf filter (libseccomp) whose default action kills the
 *    process, with an allowlist per promise word, arguments checked where
 *    the word says more than the syscall name (socket families, open(2)
 *    flags, ioctl requests, fcntl commands, clone flags, W^X mappings);
 *  - Landlock for the file system: every access right the kernel knows is
 *    handled, so a process gets only what sandbox_unveil() gave it.  The
 *    ABI differs between kernels and is probed at run time; the constants
 *    are defined here because the build host's headers may be older than
 *    the kernel.  Without Landlock, seccomp and chroot are what is left.
 *
 * Landlock does not stop socket(2) or connect(2) to a path: the network
 * is the seccomp rule on socket() families.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#define PLEDGE_STDIO	0x0001
#define PLEDGE_RPATH	0x0002
#define PLEDGE_WPATH	0x0004
#define PLEDGE_CPATH	0x0008
#define PLEDGE_INET	0x0010
#define PLEDGE_UNIX	0x0020
#define PLEDGE_DNS	0x0040
#define PLEDGE_PROC	0x0080
#define PLEDGE_EXEC	0x0100
#define PLEDGE_ID	0x0200
#define PLEDGE_TTY	0x0400
#define PLEDGE_RECVFD	0x0800	/* no syscall of its own on Linux */
#define PLEDGE_SENDFD	0x1000	/* same */
#define PLEDGE_GETPW	0x2000	/* getpwnam is done before the sandbox */
#define PLEDGE_NONET	0x4000	/* no inet: socket() fails, not kills */

static const struct {
	const char	*word;
	int		 bit;
} promise_words[] = {
	{ "stdio",	PLEDGE_STDIO },
	{ "rpath",	PLEDGE_RPATH },
	{ "wpath",	PLEDGE_WPATH },
	{ "cpath",	PLEDGE_CPATH },
	{ "inet",	PLEDGE_INET },
	{ "unix",	PLEDGE_UNIX },
	{ "dns",	PLEDGE_DNS },
	{ "proc",	PLEDGE_PROC },
	{ "exec",	PLEDGE_EXEC },
	{ "id",		PLEDGE_ID },
	{ "tty",	PLEDGE_TTY },
	{ "recvfd",	PLEDGE_RECVFD },
	{ "sendfd",	PLEDGE_SENDFD },
	{ "getpw",	PLEDGE_GETPW },
	{ "nonet",	PLEDGE_NONET },
};

static int	promise_parse(const char *);

static int	entered = -1;	/* promises in force, -1 before the first */

/*
 * Promise words to bits; -1 for a word we do not know, so that a typo
 * never silently becomes a wider or narrower sandbox than meant.
 */
static int
promise_parse(const char *promises)
{
	const char	*s = promises;
	size_t		 i, len;
	int		 bits = 0;

	for (;;) {
		s += strspn(s, " \t");
		if (*s == '\0')
			break;
		len = strcspn(s, " \t");
		for (i = 0; i < sizeof(promise_words) /
		    sizeof(promise_words[0]); i++) {
			if (strlen(promise_words[i].word) == len &&
			    strncmp(promise_words[i].word, s, len) == 0)
				break;
		}
		if (i == sizeof(promise_words) / sizeof(promise_words[0])) {
			log_warnx("sandbox: unknown promise \"%.*s\"",
			    (int)len, s);
			return -1;
		}
		bits |= promise_words[i].bit;
		s += len;
	}
	return bits;
}

#ifdef __OpenBSD__

static int	unveiled;

int
sandbox_unveil(const char *path, const char *perms)
{
	/* unveil(NULL, NULL) locks; sandbox_enter() does that. */
	if (path == NULL && perms == NULL)
		return 0;
	if (unveil(path, perms) == -1)
		return -1;
	unveiled = 1;
	return 0;
}

void
sandbox_enter(const char *promises)
{
	int	p;

	if ((p = promise_parse(promises)) == -1)
		fatalx("sandbox_enter: bad promises \"%s\"", promises);
	if (entered == -1) {
		/* As on Linux: no unveil means no file system at all. */
		if (!unveiled && unveil("/", "") == -1)
			fatal("unveil /");
		if (unveil(NULL, NULL) == -1)
			fatal("unveil");
	} else if ((p & ~entered) != 0)
		fatalx("sandbox_enter: \"%s\" widens the sandbox", promises);
	if (pledge(promises, NULL) == -1)
		fatal("pledge \"%s\"", promises);
	entered = p;
}

int
sandbox_landlock_abi(void)
{
	return 0;
}

/* pledge(2) has nothing to build ahead: the words are kept. */
struct sandbox_prog {
	char	promises[256];
};

struct sandbox_prog *
sandbox_compile(const char *promises)
{
	struct sandbox_prog	*prog;

	if (promise_parse(promises) == -1)
		fatalx("sandbox_compile: bad promises \"%s\"", promises);
	if ((prog = calloc(1, sizeof(*prog))) == NULL)
		fatal("%s", __func__);
	if (strlcpy(prog->promises, promises, sizeof(prog->promises)) >=
	    sizeof(prog->promises))
		fatalx("sandbox_compile: promises too long");
	return prog;
}

void
sandbox_enter_compiled(const struct sandbox_prog *prog)
{
	sandbox_enter(prog->promises);
}

void
sandbox_prog_free(struct sandbox_prog *prog)
{
	free(prog);
}

#else /* Linux */

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#if defined(__x86_64__)
#include <asm/prctl.h>
#endif

#include <sched.h>
#include <seccomp.h>
#include <termios.h>

#ifdef IMAPX_SANITIZE
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

/* Landlock, as of kernel 6.12 (ABI 6); numbers are the same on all arches. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset	444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule		445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self	446
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION	(1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_EXECUTE
#define LANDLOCK_ACCESS_FS_EXECUTE	(1ULL << 0)
#define LANDLOCK_ACCESS_FS_WRITE_FILE	(1ULL << 1)
#define LANDLOCK_ACCESS_FS_READ_FILE	(1ULL << 2)
#define LANDLOCK_ACCESS_FS_READ_DIR	(1ULL << 3)
#define LANDLOCK_ACCESS_FS_REMOVE_DIR	(1ULL << 4)
#define LANDLOCK_ACCESS_FS_REMOVE_FILE	(1ULL << 5)
#define LANDLOCK_ACCESS_FS_MAKE_CHAR	(1ULL << 6)
#define LANDLOCK_ACCESS_FS_MAKE_DIR	(1ULL << 7)
#define LANDLOCK_ACCESS_FS_MAKE_REG	(1ULL << 8)
#define LANDLOCK_ACCESS_FS_MAKE_SOCK	(1ULL << 9)
#define LANDLOCK_ACCESS_FS_MAKE_FIFO	(1ULL << 10)
#define LANDLOCK_ACCESS_FS_MAKE_BLOCK	(1ULL << 11)
#define LANDLOCK_ACCESS_FS_MAKE_SYM	(1ULL << 12)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER	(1ULL << 13)	/* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)	/* ABI 6 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL		(1ULL << 1)	/* ABI 6 */
#endif
#define LL_RULE_PATH_BENEATH		1

#define LL_ACCESS_FS_V1		((1ULL << 13) - 1)
/* The rights that apply to a file rather than to a directory. */
#define LL_ACCESS_FILE		(LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;	/* ABI 4, unused */
	uint64_t	scoped;			/* ABI 6 */
};

struct ll_path_beneath_attr {
	uint64_t	allowed_access;
	int32_t		parent_fd;
} __attribute__((__packed__));

/* open(2) flag bits the promises look at. */
#define O_TMPFILE_BIT	(O_TMPFILE & ~O_DIRECTORY)
#define OPEN_BITS	(O_ACCMODE | O_CREAT | O_TRUNC | O_TMPFILE_BIT)

#define CLONE_NS_FLAGS	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | \
	CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

static uint64_t	ll_access_fs(int);
static int	ll_perms(const char *, uint64_t *);
static int	ll_ruleset(void);
static void	landlock_enter(void);
static void	sc_rule(scmp_filter_ctx, uint32_t, int);
static void	sc_rule_arg(scmp_filter_ctx, uint32_t, int, unsigned int,
		    enum scmp_compare, scmp_datum_t, scmp_datum_t);
static void	sc_allow(scmp_filter_ctx, const int *, size_t);
static void	sc_allow_if(scmp_filter_ctx, int, unsigned int,
		    scmp_datum_t);
static void	sc_allow_eq(scmp_filter_ctx, int, unsigned int,
		    const unsigned long *, size_t);
static int	rpath_calls(int);
static int	open_allowed(int, int);
static void	sc_open(scmp_filter_ctx, int);
static void	sc_stdio(scmp_filter_ctx, int);
static void	sc_paths(scmp_filter_ctx, int);
static void	sc_net(scmp_filter_ctx, int);
static void	sc_proc(scmp_filter_ctx, int);
static scmp_filter_ctx sc_filter(int);
static void	seccomp_enter(int);
#ifdef IMAPX_SANITIZE
static void	sanitizer_prepare(void);
#endif

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

static int	ll_abi = -1;	/* -1 until probed, 0 without Landlock */
static int	ll_fd = -1;	/* the ruleset sandbox_unveil() fills */

/*
 * Without "stdio" a process may still end; rt_sigreturn so that a
 * signal handler can return.
 */
static const int sys_exit[] = {
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall),
};

/*
 * What a libevent (epoll) + libtls (OpenSSL 3) + libsodium + glibc daemon
 * does once it is set up: I/O on descriptors it has, memory, time,
 * signals, its own ids.  recvmsg/sendmsg carry descriptors for
 * recvfd/sendfd, which cannot be told apart at the syscall level.
 */
static const int sys_stdio[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv),
	SCMP_SYS(pwritev), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(close), SCMP_SYS(close_range),
	SCMP_SYS(lseek), SCMP_SYS(fstat), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
	SCMP_SYS(pipe), SCMP_SYS(pipe2), SCMP_SYS(splice), SCMP_SYS(tee),
	SCMP_SYS(sendfile),
	SCMP_SYS(shutdown), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername),
	SCMP_SYS(epoll_create), SCMP_SYS(epoll_create1),
	SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
	SCMP_SYS(epoll_pwait2), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(select), SCMP_SYS(pselect6), SCMP_SYS(eventfd2),
	SCMP_SYS(timerfd_create), SCMP_SYS(timerfd_settime),
	SCMP_SYS(timerfd_gettime),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(getppid), SCMP_SYS(getpgrp), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(getresuid), SCMP_SYS(getresgid), SCMP_SYS(getgroups),
	SCMP_SYS(getrandom), SCMP_SYS(brk), SCMP_SYS(munmap),
	SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(mlock),
	SCMP_SYS(munlock), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigpending), SCMP_SYS(sigaltstack), SCMP_SYS(futex),
	SCMP_SYS(sched_yield), SCMP_SYS(uname), SCMP_SYS(sysinfo),
	/* what coreutils and libc call on open descriptors (cat, sort) */
	SCMP_SYS(fadvise64), SCMP_SYS(fstatfs), SCMP_SYS(mincore),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(getrlimit), SCMP_SYS(getrusage), SCMP_SYS(umask),
	SCMP_SYS(rseq), SCMP_SYS(set_robust_list),
	/* Only adds filters: lets a second sandbox_enter() narrow. */
	SCMP_SYS(seccomp),
};

static const unsigned long stdio_fcntl[] = {
	F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL,
	F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
	F_GETPIPE_SZ, F_SETPIPE_SZ,
};

/* TCGETS is isatty(3), which stdio does before it buffers a stream. */
static const unsigned long stdio_ioctl[] = {
	FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS,
};

static const unsigned long tty_ioctl[] = {
	TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP,
	TIOCSPGRP,
};

/* Paths read; Landlock decides which. */
static const int sys_rpath[] = {
	SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(newfstatat),
	SCMP_SYS(statx), SCMP_SYS(readlink), SCMP_SYS(readlinkat),
	SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(access),
	SCMP_SYS(statfs),
	SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(chdir),
	SCMP_SYS(fchdir), SCMP_SYS(getcwd),
};

static const int sys_wpath[] = {
	SCMP_SYS(ftruncate), SCMP_SYS(truncate), SCMP_SYS(utimensat),
};

static const int sys_cpath[] = {
	SCMP_SYS(ftruncate), SCMP_SYS(unlink), SCMP_SYS(unlinkat),
	SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2),
	SCMP_SYS(mkdir), SCMP_SYS(mkdirat), SCMP_SYS(rmdir), SCMP_SYS(link),
	SCMP_SYS(linkat), SCMP_SYS(symlink), SCMP_SYS(symlinkat),
};

/* Both inet and unix: a socket's family is checked when it is made. */
static const int sys_net[] = {
	SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(sendto),
	SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg),
};

static const int sys_proc[] = {
	SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(wait4), SCMP_SYS(waitid),
	SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(setpgid),
	SCMP_SYS(setsid), SCMP_SYS(getpgid), SCMP_SYS(getsid),
};

/*
 * The filter outlives execve(2): the new program's ld.so and libc start
 * up under it (set_tid_address, arch_prctl(ARCH_SET_FS) below; loading
 * shared libraries also takes "rpath").
 */
static const int sys_exec[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(set_tid_address),
};

static const int sys_id[] = {
	SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(setreuid),
	SCMP_SYS(setregid), SCMP_SYS(setresuid), SCMP_SYS(setresgid),
	SCMP_SYS(setgroups), SCMP_SYS(setfsuid), SCMP_SYS(setfsgid),
	SCMP_SYS(setrlimit), SCMP_SYS(prlimit64), SCMP_SYS(setpriority),
};

/*
 * ASan/UBSan, to report an error, read /proc/self/maps (cached by
 * sanitizer_prepare()), look for the binary and a symbolizer (the rpath
 * calls, see rpath_calls()) and count CPUs (sched_getaffinity, which
 * "stdio" allows anyway).
 */

int
sandbox_landlock_abi(void)
{
	if (ll_abi == -1) {
		ll_abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
		    LANDLOCK_CREATE_RULESET_VERSION);
		if (ll_abi == -1) {
			log_debug("sandbox: no Landlock (%s), file system "
			    "left to seccomp and chroot", strerror(errno));
			ll_abi = 0;
		} else
			log_debug("sandbox: Landlock ABI %d", ll_abi);
	}
	return ll_abi;
}

/* Every file system right of this ABI: all are denied unless unveiled. */
static uint64_t
ll_access_fs(int abi)
{
	uint64_t	access = LL_ACCESS_FS_V1;

	if (abi >= 2)
		access |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		access |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		access |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return access;
}

/* unveil(2) permissions to Landlock rights. */
static int
ll_perms(const char *perms, uint64_t *access)
{
	const char	*p;

	*access = 0;
	for (p = perms; *p != '\0'; p++) {
		switch (*p) {
		case 'r':
			*access |= LANDLOCK_ACCESS_FS_READ_FILE |
			    LANDLOCK_ACCESS_FS_READ_DIR;
			break;
		case 'w':
			*access |= LANDLOCK_ACCESS_FS_WRITE_FILE |
			    LANDLOCK_ACCESS_FS_TRUNCATE |
			    LANDLOCK_ACCESS_FS_IOCTL_DEV;
			break;
		case 'x':
			*access |= LANDLOCK_ACCESS_FS_EXECUTE;
			break;
		case 'c':
			/* Never device nodes. */
			*access |= LANDLOCK_ACCESS_FS_MAKE_REG |
			    LANDLOCK_ACCESS_FS_MAKE_DIR |
			    LANDLOCK_ACCESS_FS_MAKE_SOCK |
			    LANDLOCK_ACCESS_FS_MAKE_FIFO |
			    LANDLOCK_ACCESS_FS_MAKE_SYM |
			    LANDLOCK_ACCESS_FS_REMOVE_FILE |
			    LANDLOCK_ACCESS_FS_REMOVE_DIR |
			    LANDLOCK_ACCESS_FS_REFER;
			break;
		default:
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

static int
ll_ruleset(void)
{
	struct ll_ruleset_attr	 attr;
	size_t			 size;

	if (ll_fd != -1)
		return 0;
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = ll_access_fs(ll_abi);
	size = offsetof(struct ll_ruleset_attr, handled_access_net);
	if (ll_abi >= 6) {
		/*
		 * No abstract unix sockets and no signals to processes
		 * outside this sandbox (our own children are inside).
		 */
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET |
		    LANDLOCK_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	if ((ll_fd = syscall(SYS_landlock_create_ruleset, &attr, size,
	    0)) == -1)
		return -1;
	return 0;
}

int
sandbox_unveil(const char *path, const char *perms)
{
	struct ll_path_beneath_attr	 pb;
	struct stat			 st;
	uint64_t			 access;
	int				 fd, saved_errno;

	if (entered != -1) {
		errno = EPERM;
		return -1;
	}
	/* unveil(NULL, NULL) locks; here sandbox_enter() does that. */
	if (path == NULL && perms == NULL)
		return 0;
	if (path == NULL || perms == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (ll_perms(perms, &access) == -1)
		return -1;
	if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISDIR(st.st_mode))
		access &= LL_ACCESS_FILE;
	access &= ll_access_fs(sandbox_landlock_abi());
	if (ll_abi == 0 || access == 0) {
		close(fd);
		return 0;
	}
	if (ll_ruleset() == -1)
		goto fail;
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = access;
	pb.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ll_fd, LL_RULE_PATH_BENEATH,
	    &pb, 0) == -1)
		goto fail;
	close(fd);
	log_debug("sandbox: unveil %s \"%s\"", path, perms);
	return 0;

 fail:
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

static void
landlock_enter(void)
{
	if (sandbox_landlock_abi() == 0)
		return;
	if (ll_ruleset() == -1)
		fatal("landlock_create_ruleset");
	if (syscall(SYS_landlock_restrict_self, ll_fd, 0) == -1)
		fatal("landlock_restrict_self");
	close(ll_fd);
	ll_fd = -1;
}

static void
sc_rule(scmp_filter_ctx ctx, uint32_t action, int nr)
{
	int	rc;

	if ((rc = seccomp_rule_add(ctx, action, nr, 0)) < 0) {
		errno = -rc;
		fatal("seccomp_rule_add syscall %d", nr);
	}
}

/* A rule on one argument: "arg op a" (b is the value for MASKED_EQ). */
static void
sc_rule_arg(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned int arg,
    enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp	 cmp;
	int			 rc;

	cmp.arg = arg;
	cmp.op = op;
	cmp.datum_a = a;
	cmp.datum_b = b;
	if ((rc = seccomp_rule_add_array(ctx, action, nr, 1, &cmp)) < 0) {
		errno = -rc;
		fatal("seccomp_rule_add syscall %d arg %u", nr, arg);
	}
}

static void
sc_allow(scmp_filter_ctx ctx, const int *nrs, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sc_rule(ctx, SCMP_ACT_ALLOW, nrs[i]);
}

/* Allow syscall nr when argument arg is value. */
static void
sc_allow_if(scmp_filter_ctx ctx, int nr, unsigned int arg,
    scmp_datum_t value)
{
	sc_rule_arg(ctx, SCMP_ACT_ALLOW, nr, arg, SCMP_CMP_EQ, value, 0);
}

/* Allow syscall nr when argument arg is one of vals. */
static void
sc_allow_eq(scmp_filter_ctx ctx, int nr, unsigned int arg,
    const unsigned long *vals, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sc_allow_if(ctx, nr, arg, vals[i]);
}

/*
 * Whether the promises p allow reading paths: open(O_RDONLY), stat,
 * readlink, access.  The sanitizers do that to report, so their build
 * always allows it and leaves the answer to Landlock.
 */
static int
rpath_calls(int p)
{
#ifdef IMAPX_SANITIZE
	return 1;
#else
	return (p & (PLEDGE_RPATH | PLEDGE_DNS)) != 0;
#endif
}

/* The open(2) flags (only OPEN_BITS) the promises p cover. */
static int
open_allowed(int p, int flags)
{
	if (flags & (O_CREAT | O_TMPFILE_BIT))
		return (p & PLEDGE_CPATH) && (p & PLEDGE_WPATH);
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC))
		return (p & PLEDGE_WPATH) != 0;
	return rpath_calls(p);
}

/*
 * open/openat/creat: one rule for each combination of the flag bits that
 * matter, so that the rules never overlap; what the promises do not
 * cover fails with EACCES, as Landlock would.  With no file promise at
 * all these syscalls are not listed and kill.
 */
static void
sc_open(scmp_filter_ctx ctx, int p)
{
	uint32_t	 act;
	int		 v, any = 0;

	for (v = OPEN_BITS;; v = (v - 1) & OPEN_BITS) {
		any |= open_allowed(p, v);
		if (v == 0)
			break;
	}
	if (!any)
		return;
	for (v = OPEN_BITS;; v = (v - 1) & OPEN_BITS) {
		act = open_allowed(p, v) ? SCMP_ACT_ALLOW :
		    SCMP_ACT_ERRNO(EACCES);
		sc_rule_arg(ctx, act, SCMP_SYS(open), 1, SCMP_CMP_MASKED_EQ,
		    OPEN_BITS, v);
		sc_rule_arg(ctx, act, SCMP_SYS(openat), 2, SCMP_CMP_MASKED_EQ,
		    OPEN_BITS, v);
		if (v == 0)
			break;
	}
	act = open_allowed(p, O_CREAT | O_WRONLY | O_TRUNC) ? SCMP_ACT_ALLOW :
	    SCMP_ACT_ERRNO(EACCES);
	sc_rule(ctx, act, SCMP_SYS(creat));
	/* Its flags are behind a pointer: glibc falls back to openat. */
	sc_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2));
}

static void
sc_stdio(scmp_filter_ctx ctx, int p)
{
	static const int	 prot_wx[] = { 0, PROT_WRITE, PROT_EXEC };
	size_t			 i;

	sc_allow(ctx, sys_stdio, nitems(sys_stdio));
	sc_allow_eq(ctx, SCMP_SYS(fcntl), 1, stdio_fcntl,
	    nitems(stdio_fcntl));
	sc_allow_eq(ctx, SCMP_SYS(ioctl), 1, stdio_ioctl,
	    nitems(stdio_ioctl));

	/* W^X: never a mapping both writable and executable. */
	for (i = 0; i < nitems(prot_wx); i++) {
		sc_rule_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 2,
		    SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, prot_wx[i]);
		sc_rule_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 2,
		    SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, prot_wx[i]);
	}

	/* fstat(3) is newfstatat(fd, "", sb, AT_EMPTY_PATH). */
	if (!rpath_calls(p)) {
		sc_rule_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 3,
		    SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH);
		sc_rule_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(statx), 2,
		    SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH);
	}
	/* socketpair(2) for imsg; sendto(2) only on a connected socket. */
	sc_allow_if(ctx, SCMP_SYS(socketpair), 0, AF_UNIX);
	if ((p & (PLEDGE_INET | PLEDGE_UNIX | PLEDGE_DNS)) == 0)
		sc_allow_if(ctx, SCMP_SYS(sendto), 4, 0);
	/* getrlimit through prlimit64(2): reading only. */
	if ((p & PLEDGE_ID) == 0)
		sc_allow_if(ctx, SCMP_SYS(prlimit64), 2, 0);
	/* raise(3) and abort(3) signal the process itself. */
	if ((p & PLEDGE_PROC) == 0) {
		sc_allow_if(ctx, SCMP_SYS(kill), 0, getpid());
		sc_allow_if(ctx, SCMP_SYS(tgkill), 0, getpid());
	}
	/* libseccomp sets it again when a second filter is loaded. */
	sc_allow_if(ctx, SCMP_SYS(prctl), 0, PR_SET_NO_NEW_PRIVS);
	/* Its flags are behind a pointer: glibc falls back to clone. */
	sc_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3));

	if (p & PLEDGE_TTY)
		sc_allow_eq(ctx, SCMP_SYS(ioctl), 1, tty_ioctl,
		    nitems(tty_ioctl));
}

static void
sc_paths(scmp_filter_ctx ctx, int p)
{
	sc_open(ctx, p);
	if (rpath_calls(p))
		sc_allow(ctx, sys_rpath, nitems(sys_rpath));
	if (p & PLEDGE_WPATH)
		sc_allow(ctx, sys_wpath, nitems(sys_wpath));
	if (p & PLEDGE_CPATH)
		sc_allow(ctx, sys_cpath, nitems(sys_cpath));
}

/*
 * socket(2) by family.  AF_UNIX without "unix" fails with EACCES rather
 * than kills: glibc's syslog(3) makes one to reconnect after syslogd
 * went away, and losing log lines is better than losing the process.
 * Any other family without its promise kills.
 */
static void
sc_net(scmp_filter_ctx ctx, int p)
{
	if (p & (PLEDGE_INET | PLEDGE_DNS)) {
		sc_allow_if(ctx, SCMP_SYS(socket), 0, AF_INET);
		sc_allow_if(ctx, SCMP_SYS(socket), 0, AF_INET6);
	}
	/* getaddrinfo(3) asks the kernel for the host's addresses. */
	if (p & PLEDGE_DNS)
		sc_allow_if(ctx, SCMP_SYS(socket), 0, AF_NETLINK);
	if (p & PLEDGE_UNIX)
		sc_allow_if(ctx, SCMP_SYS(socket), 0, AF_UNIX);
	else if (p & PLEDGE_STDIO)
		sc_rule_arg(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0,
		    SCMP_CMP_EQ, AF_UNIX, 0);
	/*
	 * "nonet": a program run without the network (an execd module)
	 * often probes it anyway, e.g. resolving its host name; it gets an
	 * error instead of being killed.  It has no network either way.
	 */
	if ((p & PLEDGE_NONET) && !(p & (PLEDGE_INET | PLEDGE_DNS))) {
		sc_rule_arg(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0,
		    SCMP_CMP_EQ, AF_INET, 0);
		sc_rule_arg(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0,
		    SCMP_CMP_EQ, AF_INET6, 0);
		sc_rule_arg(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0,
		    SCMP_CMP_EQ, AF_NETLINK, 0);
	}
	if (p & (PLEDGE_INET | PLEDGE_UNIX | PLEDGE_DNS))
		sc_allow(ctx, sys_net, nitems(sys_net));
}

static void
sc_proc(scmp_filter_ctx ctx, int p)
{
	if (p & PLEDGE_PROC) {
		sc_allow(ctx, sys_proc, nitems(sys_proc));
		/* fork(2) is clone(2); no new namespaces. */
		sc_rule_arg(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0,
		    SCMP_CMP_MASKED_EQ, CLONE_NS_FLAGS, 0);
		sc_allow_if(ctx, SCMP_SYS(prctl), 0, PR_SET_PDEATHSIG);
	}
	if (p & PLEDGE_EXEC) {
		sc_allow(ctx, sys_exec, nitems(sys_exec));
#ifdef ARCH_SET_FS
		sc_allow_if(ctx, SCMP_SYS(arch_prctl), 0, ARCH_SET_FS);
#endif
	}
	if (p & PLEDGE_ID)
		sc_allow(ctx, sys_id, nitems(sys_id));
}

/* The filter of promise bits p, not loaded. */
static scmp_filter_ctx
sc_filter(int p)
{
	scmp_filter_ctx	 ctx;
	int		 rc;

	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("seccomp_init failed");
	/* 32-bit and x32 syscalls would bypass the rules: kill them too. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0) {
		errno = -rc;
		fatal("seccomp_attr_set");
	}
	/*
	 * A binary tree by syscall number, not libseccomp's default chain
	 * of rules: the kernel emulates the filter for every syscall number
	 * when it is loaded (its action cache) and runs it for every call
	 * whose arguments matter, each time down that chain.
	 */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0) {
		errno = -rc;
		fatal("seccomp_attr_set optimize");
	}
	sc_allow(ctx, sys_exit, nitems(sys_exit));
	if (p & PLEDGE_STDIO)
		sc_stdio(ctx, p);
	sc_paths(ctx, p);
	sc_net(ctx, p);
	sc_proc(ctx, p);
	return ctx;
}

static void
seccomp_enter(int p)
{
	scmp_filter_ctx	 ctx;
	int		 rc;

	ctx = sc_filter(p);
	if ((rc = seccomp_load(ctx)) < 0) {
		errno = -rc;
		fatal("seccomp_load");
	}
	seccomp_release(ctx);
}

#ifdef IMAPX_SANITIZE
/*
 * ASan reads /proc/self/maps to report, and LeakSanitizer stops the
 * process with ptrace at exit; neither can inside the sandbox.  Cache the
 * maps now, and check for leaks now: that also turns off the check at
 * exit, so exit(3) in the sandbox does not die of SIGSYS.
 */
static void
sanitizer_prepare(void)
{
	__sanitizer_sandbox_arguments	 args;

	memset(&args, 0, sizeof(args));
	args.coverage_fd = -1;
	__sanitizer_sandbox_on_notify(&args);
	__lsan_do_leak_check();
}
#endif

void
sandbox_enter(const char *promises)
{
	int	p;

	if ((p = promise_parse(promises)) == -1)
		fatalx("sandbox_enter: bad promises \"%s\"", promises);
	if (entered != -1 && (p & ~entered) != 0)
		fatalx("sandbox_enter: \"%s\" widens the sandbox", promises);
	log_debug("sandbox: enter \"%s\"", promises);

	if (entered == -1) {
		/*
		 * While TZ is unset glibc stats /etc/localtime again on
		 * every localtime(3), mktime(3), strftime(3) (pledge lets
		 * "stdio" read it).  Name the zone that tzset(3) loaded
		 * before, or loads now, and glibc never looks again.
		 */
		if (getenv("TZ") == NULL &&
		    setenv("TZ", ":/etc/localtime", 1) == -1)
			fatal("setenv TZ");
		tzset();
#ifdef IMAPX_SANITIZE
		sanitizer_prepare();
#endif
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
			fatal("prctl PR_SET_NO_NEW_PRIVS");
		landlock_enter();
	}
	seccomp_enter(p);
	entered = p;
}

/*
 * A filter built ahead, for a child between fork(2) and execve(2): the
 * BPF program that seccomp_load() would hand the kernel, exported once by
 * libseccomp, whose build of a filter costs far more than the kernel's
 * load of it.
 */
struct sandbox_prog {
	struct sock_fprog	 fprog;
	int			 promises;
};

struct sandbox_prog *
sandbox_compile(const char *promises)
{
	struct sandbox_prog	*prog;
	scmp_filter_ctx		 ctx;
	struct stat		 st;
	size_t			 n;
	int			 p, fd, rc;

	if ((p = promise_parse(promises)) == -1)
		fatalx("sandbox_compile: bad promises \"%s\"", promises);
	/* without "proc" the filter names the pid of its maker */
	if ((p & PLEDGE_PROC) == 0)
		fatalx("sandbox_compile: \"%s\" lacks proc", promises);
	if ((prog = calloc(1, sizeof(*prog))) == NULL)
		fatal("%s", __func__);
	prog->promises = p;
	ctx = sc_filter(p);
	if ((fd = memfd_create("sandbox", MFD_CLOEXEC)) == -1)
		fatal("memfd_create");
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
		errno = -rc;
		fatal("seccomp_export_bpf");
	}
	seccomp_release(ctx);
	if (fstat(fd, &st) == -1)
		fatal("fstat");
	n = st.st_size / sizeof(struct sock_filter);
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
	    n > BPF_MAXINSNS)
		fatalx("sandbox_compile: a filter of %lld bytes",
		    (long long)st.st_size);
	if ((prog->fprog.filter = calloc(n, sizeof(struct sock_filter))) ==
	    NULL)
		fatal("%s", __func__);
	if (pread(fd, prog->fprog.filter, st.st_size, 0) != st.st_size)
		fatal("sandbox_compile: pread");
	prog->fprog.len = n;
	close(fd);
	return prog;
}

/*
 * In the child, before execve(2): no new privileges, the Landlock rules
 * of sandbox_unveil(), the filter, as sandbox_enter() would; not the
 * set-up for a process that goes on running in the sandbox (TZ, the
 * sanitizer's caches), which execve(2) discards.
 */
void
sandbox_enter_compiled(const struct sandbox_prog *prog)
{
	if (entered != -1)
		fatalx("sandbox_enter_compiled: already in a sandbox");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("prctl PR_SET_NO_NEW_PRIVS");
	landlock_enter();
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
	    &prog->fprog) == -1)
		fatal("seccomp");
	entered = prog->promises;
}

void
sandbox_prog_free(struct sandbox_prog *prog)
{
	if (prog == NULL)
		return;
	free(prog->fprog.filter);
	free(prog);
}

#endif /* Linux */
