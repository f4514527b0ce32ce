/*
 * execd: one module run, from fork to the end of its last process.
 *
 * The child, between fork and execve: a session and process group of its
 * own; its cgroup (below); rlimits; chroot if the policy has one; Landlock
 * for the module's paths, the program and what the dynamic loader needs;
 * the module's user and group (never root); PR_SET_PDEATHSIG (after the
 * uid change, which clears it); a seccomp filter of the module's own
 * (module_promises(), built once per module at start: libseccomp takes
 * longer to build a filter than fork and execve take); then execve of
 * the absolute program path with the expanded argv and only the policy's
 * environment: never a shell, never a PATH lookup.  stdout and stderr are
 * one pipe, so the output keeps the order the program wrote it in and the
 * limits count both.
 *
 * The process tree ends with the run, whatever the module did (fork,
 * setsid, double fork):
 *  - cgroup v2 where it is mounted and writable: execd makes
 *    imapx-execd.<pid> below its own cgroup and one run.<n> below that
 *    per run; the child moves itself in before it drops root; the end is
 *    cgroup.kill, then, once it is empty, the run's cgroup is kept for
 *    a later run (up to CG_SPARES of them) or removed;
 *  - otherwise the fallback: execd is a child subreaper, and at the end it
 *    kills the run's session and process group, the descendants it finds
 *    in /proc, and every orphan that was re-parented to it.
 * A run is over (and DONE is sent) only when its leader has been reaped,
 * its output is drained and nothing of its tree is alive.
 *
 * Nothing here blocks the event loop: pipes are non-blocking, SIGCHLD is
 * a libevent signal event with waitpid(WNOHANG), the end is polled with a
 * timer.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <asm/prctl.h>
#endif
#ifdef IMAPX_SANITIZE
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

#include "chan.h"
#include "execd.h"
#include "imsg-types.h"
#include "log.h"
#include "policy.h"
#include "privdrop.h"
#include "sandbox.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#ifndef MINIMUM
#define MINIMUM(a, b)	((a) < (b) ? (a) : (b))
#endif

#define CG_PREFIX	"imapx-execd."
#define CG_SPARES	8	/* empty run cgroups kept for later runs */
#define WAIT_FIRST_MS	5	/* first poll for a tree's end */
#define WAIT_MAX_MS	500

/* What the loader and libc of a dynamically linked program read. */
static const struct {
	const char	*path;
	const char	*perms;
} sys_paths[] = {
	{ "/usr/lib",		"rx" },
	{ "/lib",		"rx" },
	{ "/lib64",		"rx" },
	{ "/usr/lib64",		"rx" },
	{ "/usr/local/lib",	"rx" },
	{ "/etc/ld.so.cache",	"r" },
	{ "/etc/localtime",	"r" },
	{ "/usr/share/zoneinfo", "r" },
	{ "/dev/null",		"rw" },
	{ "/dev/zero",		"r" },
	{ "/dev/urandom",	"r" },
}, net_paths[] = {
	{ "/etc/resolv.conf",	"r" },
	{ "/etc/hosts",		"r" },
	{ "/etc/host.conf",	"r" },
	{ "/etc/gai.conf",	"r" },
	{ "/etc/services",	"r" },
	{ "/etc/protocols",	"r" },
	{ "/etc/ssl",		"r" },
	{ "/usr/share/ca-certificates", "r" },
};

/* What the child needs, all made before fork. */
struct spawn {
	char		**argv;
	char		**envp;
	char		**paths;	/* expanded module paths */
	char		**perms;
	int		  npaths;
	const struct sandbox_prog *prog;	/* the module's filter */
	int		  in, out, err;	/* the child's ends */
	int		  procfd;	/* its cgroup.procs, or -1 */
	pid_t		  ppid;
};

/* A growing string. */
struct sbuf {
	char		*s;
	size_t		 len, size;
};

/* Each module's seccomp filter, built at start. */
struct modfilter {
	TAILQ_ENTRY(modfilter)	 entry;
	struct module		*mod;
	struct sandbox_prog	*prog;
};

static struct runlist	 live = TAILQ_HEAD_INITIALIZER(live);
static TAILQ_HEAD(, modfilter) filters = TAILQ_HEAD_INITIALIZER(filters);
static struct event	 ev_chld, ev_term, ev_int, ev_hup;
static char		 cg_base[PATH_MAX];	/* "" in fallback mode */
static char		 cg_spare[CG_SPARES][PATH_MAX];	/* empty, unused */
static int		 cg_nspare;
static pid_t		 self;
static uint64_t		 run_seq;
static int		 reaping;

static void	 execd_sig(int, short, void *);
static void	 reap_sweep(void);
static void	 run_sigchld(int, short, void *);
static void	 run_reaped(struct run *, int);
static void	 run_read(int, short, void *);
static void	 run_write(int, short, void *);
static void	 run_timeout(int, short, void *);
static void	 run_wait(int, short, void *);
static void	 run_poke(struct run *, int);
static void	 run_check(struct run *);
static void	 run_finish(struct run *);
static void	 out_close(struct run *);
static void	 in_close(struct run *);
static int	 in_append(struct run *, const void *, size_t);
static void	 tree_signal(struct run *, int);
static int	 tree_alive(struct run *);
static __dead2 void run_child(struct run *, struct spawn *);
static __dead2 void child_fail(int, const char *);
static void	 child_unveil(int, const char *, const char *);
static void	 child_interp(int, const char *);
static void	 child_rlimit(int, int, rlim_t, rlim_t);
static int	 spawn_prepare(struct run *, struct spawn *);
static void	 spawn_free(struct spawn *);
static int	 sb_add(struct sbuf *, const char *, size_t);
static char	*expand(struct run *, const char *, int);
static int	 path_value_ok(const char *);
static void	 module_promises(struct module *, char *, size_t);
static void	 filters_init(struct execd_conf *);
static const struct sandbox_prog *module_filter(struct module *);
static int	 cg_init(void);
static int	 cg_mountpoint(char *, size_t);
static int	 cg_self(char *, size_t);
static void	 cg_stale(const char *);
static int	 cg_write(const char *, const char *, const char *);
static ssize_t	 cg_read(const char *, const char *, char *, size_t);
static int	 cg_populated(const char *);
static void	 cg_signal(const char *, int);
static void	 sc_add(scmp_filter_ctx, uint32_t, int, unsigned int,
		    unsigned int, enum scmp_compare, scmp_datum_t, scmp_datum_t);
static void	 cg_purge(const char *);
static int	 cg_take(struct run *);
static int	 cg_give(struct run *);
static int	 fb_tree(struct run *, int);

/*
 * Before the sandbox: the descriptors 0-2 exist (so that no pipe of ours
 * becomes one), SIGPIPE is ignored (a module that closed its stdin must
 * not kill execd), orphans of the module trees come to execd, the cgroup
 * parent is made (and those of a dead execd removed), and SIGCHLD,
 * SIGTERM, SIGINT and SIGHUP are events.
 */
void
execd_init(struct execd_conf *conf, int flags)
{
	struct rlimit	rl;
	int		fd;

	self = getpid();
	/* three descriptors per run: as many as the hard limit allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd < 3)
		;
	if (fd > 2)
		close(fd);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fatal("signal SIGPIPE");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		fatal("prctl PR_SET_CHILD_SUBREAPER");
	(void)sandbox_landlock_abi();
	filters_init(conf);
	cg_base[0] = '\0';
	if ((flags & EXECD_NOCGROUP) || cg_init() == -1)
		log_info("no usable cgroup v2: run trees end by session, "
		    "process group and subreaper");
	else
		log_info("each run in a cgroup below %s", cg_base);
	signal_set(&ev_chld, SIGCHLD, run_sigchld, NULL);
	signal_add(&ev_chld, NULL);
	signal_set(&ev_term, SIGTERM, execd_sig, NULL);
	signal_add(&ev_term, NULL);
	signal_set(&ev_int, SIGINT, execd_sig, NULL);
	signal_add(&ev_int, NULL);
	signal_set(&ev_hup, SIGHUP, execd_sig, NULL);
	signal_add(&ev_hup, NULL);
}

static void
execd_sig(int sig, short event, void *arg)
{
	if (sig == SIGHUP) {
		/* the policy is read once, before the sandbox */
		log_warnx("SIGHUP: the policy is read at start only; "
		    "restart execd to reload it");
		return;
	}
	log_info("signal %d, stopping", sig);
	execd_stop();
}

/* The end, whatever the cause: every run killed and waited for. */
void
execd_stop(void)
{
	fchan_shutdown();
	run_shutdown();
	exit(0);
}

/*
 * Spawn a run whose policy checks passed.  0, or -1 with r->reason set
 * and nothing left behind.
 */
int
run_spawn(struct run *r)
{
	struct module	*m = r->mod;
	struct spawn	 sp;
	struct timeval	 tv;
	char		 path[PATH_MAX];
	int		 inp[2] = { -1, -1 }, outp[2] = { -1, -1 };
	int		 errp[2] = { -1, -1 };
	pid_t		 pid;

	memset(&sp, 0, sizeof(sp));
	sp.procfd = -1;
	r->cgroup[0] = '\0';
	if (spawn_prepare(r, &sp) == -1)
		goto fail;
	if (pipe2(inp, O_CLOEXEC) == -1 || pipe2(outp, O_CLOEXEC) == -1 ||
	    pipe2(errp, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", m->name);
		strlcpy(r->reason, "out of resources", sizeof(r->reason));
		goto fail;
	}
	r->seq = ++run_seq;
	if (cg_base[0] != '\0') {
		if (cg_take(r) == -1) {
			log_warn("%s: mkdir %s", m->name, r->cgroup);
			r->cgroup[0] = '\0';
			strlcpy(r->reason, "out of resources",
			    sizeof(r->reason));
			goto fail;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs",
		    r->cgroup) >= sizeof(path) ||
		    (sp.procfd = open(path, O_WRONLY | O_CLOEXEC)) == -1) {
			log_warn("%s: cgroup %s", m->name, r->cgroup);
			strlcpy(r->reason, "out of resources",
			    sizeof(r->reason));
			goto fail;
		}
	}
	sp.in = inp[0];
	sp.out = outp[1];
	sp.err = errp[1];
	sp.ppid = self;
	(void)clock_gettime(CLOCK_MONOTONIC, &r->t0);
	if ((pid = fork()) == -1) {
		log_warn("%s: fork", m->name);
		strlcpy(r->reason, "out of resources", sizeof(r->reason));
		goto fail;
	}
	if (pid == 0)
		run_child(r, &sp);

	close(inp[0]);
	close(outp[1]);
	close(errp[1]);
	if (sp.procfd != -1)
		close(sp.procfd);
	spawn_free(&sp);
	r->pid = r->leader = pid;
	r->infd = inp[1];
	r->outfd = outp[0];
	r->errfd = errp[0];
	if (fcntl(r->infd, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(r->outfd, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(r->errfd, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl");
	r->state = RUN_LIVE;
	TAILQ_INSERT_TAIL(&live, r, live);
	event_set(&r->ev_out, r->outfd, EV_READ | EV_PERSIST, run_read, r);
	event_add(&r->ev_out, NULL);
	event_set(&r->ev_in, r->infd, EV_WRITE | EV_PERSIST, run_write, r);
	evtimer_set(&r->ev_limit, run_timeout, r);
	evtimer_set(&r->ev_wait, run_wait, r);
	if (m->timeout > 0) {
		tv.tv_sec = m->timeout;
		tv.tv_usec = 0;
		evtimer_add(&r->ev_limit, &tv);
	}
	/* Only an interactive module keeps its stdin after the arguments. */
	if (!m->interactive)
		r->in_eof = 1;
	if (r->inlen > 0)
		event_add(&r->ev_in, NULL);
	else if (r->in_eof)
		in_close(r);
	log_debug("%s: user %s: pid %d, run %llu", m->name, r->user,
	    (int)pid, (unsigned long long)r->seq);
	return 0;

 fail:
	if (inp[0] != -1) {
		close(inp[0]);
		close(inp[1]);
	}
	if (outp[0] != -1) {
		close(outp[0]);
		close(outp[1]);
	}
	if (errp[0] != -1) {
		close(errp[0]);
		close(errp[1]);
	}
	if (sp.procfd != -1)
		close(sp.procfd);
	if (r->cgroup[0] != '\0')
		(void)rmdir(r->cgroup);
	r->cgroup[0] = '\0';
	spawn_free(&sp);
	in_close(r);
	return -1;
}

/*
 * Everything the child needs, built in execd where errors can still be
 * answered: argv from the template, the environment, the module's paths
 * with the user's names in them, the arguments for stdin.
 */
static int
spawn_prepare(struct run *r, struct spawn *sp)
{
	struct module	*m = r->mod;
	size_t		 n;
	int		 i, k = 0;
	uint32_t	 j;

	if (m->program[0] != '/') {
		log_warnx("%s: program %s is not an absolute path", m->name,
		    m->program);
		strlcpy(r->reason, "module misconfigured", sizeof(r->reason));
		return -1;
	}
	if (m->uid == 0 || m->gid == 0) {
		log_warnx("%s: refusing to run a module as root", m->name);
		strlcpy(r->reason, "module misconfigured", sizeof(r->reason));
		return -1;
	}

	/* argv: %a may stand for every argument, once per word */
	n = 2 + r->nargs;
	for (i = 0; i < m->argc; i++)
		n += r->nargs + 1;
	if ((sp->argv = calloc(n, sizeof(*sp->argv))) == NULL)
		goto nomem;
	if (m->argc == 0) {
		/* no template: the program's name, then the arguments */
		if ((sp->argv[k++] = strdup(m->program)) == NULL)
			goto nomem;
		for (j = 0; !m->args_stdin && j < r->nargs; j++)
			if ((sp->argv[k++] = strdup(r->args[j])) == NULL)
				goto nomem;
	}
	for (i = 0; i < m->argc; i++) {
		if (strcmp(m->argv[i], "%a") == 0) {
			if (m->args_stdin)
				goto badtemplate;
			for (j = 0; j < r->nargs; j++)
				if ((sp->argv[k++] = strdup(r->args[j])) ==
				    NULL)
					goto nomem;
			continue;
		}
		/* a word that is only %N drops out when N is not given */
		if (m->argv[i][0] == '%' && m->argv[i][1] >= '1' &&
		    m->argv[i][1] <= '9' && m->argv[i][2] == '\0' &&
		    !m->args_stdin && (uint32_t)(m->argv[i][1] - '0') >
		    r->nargs)
			continue;
		if ((sp->argv[k++] = expand(r, m->argv[i], 0)) == NULL)
			return -1;
	}

	if ((sp->envp = calloc(m->nenv + 1, sizeof(*sp->envp))) == NULL)
		goto nomem;
	for (i = 0, k = 0; i < m->nenv && m->env[i] != NULL; i++)
		if (strchr(m->env[i], '=') != NULL)
			sp->envp[k++] = m->env[i];

	if (m->npaths > 0) {
		if ((sp->paths = calloc(m->npaths, sizeof(char *))) == NULL ||
		    (sp->perms = calloc(m->npaths, sizeof(char *))) == NULL)
			goto nomem;
	}
	for (i = 0; i < m->npaths; i++) {
		if (m->paths[i].path[0] != '/')
			goto badtemplate;
		if ((sp->paths[i] = expand(r, m->paths[i].path, 1)) == NULL)
			return -1;
		sp->npaths++;
		if ((m->paths[i].perms & (PATH_READ | PATH_WRITE)) ==
		    (PATH_READ | PATH_WRITE))
			sp->perms[i] = "rwxc";
		else if (m->paths[i].perms & PATH_WRITE)
			sp->perms[i] = "rwc";
		else
			sp->perms[i] = "rx";
	}

	/* secrets go on stdin, one per line, never on argv */
	if (m->args_stdin) {
		for (j = 0; j < r->nargs; j++)
			if (in_append(r, r->args[j], r->arglen[j]) == -1 ||
			    in_append(r, "\n", 1) == -1)
				goto nomem;
		r->inargs = r->inlen;
	}
	if ((sp->prog = module_filter(m)) == NULL) {
		log_warnx("%s: no filter built for this module", m->name);
		strlcpy(r->reason, "module misconfigured", sizeof(r->reason));
		return -1;
	}
	return 0;

 badtemplate:
	log_warnx("%s: bad argv or path template", m->name);
	strlcpy(r->reason, "module misconfigured", sizeof(r->reason));
	return -1;
 nomem:
	log_warn("%s", __func__);
	strlcpy(r->reason, "out of resources", sizeof(r->reason));
	return -1;
}

static void
spawn_free(struct spawn *sp)
{
	int	i;

	if (sp->argv != NULL) {
		for (i = 0; sp->argv[i] != NULL; i++)
			freezero(sp->argv[i], strlen(sp->argv[i]));
		free(sp->argv);
	}
	free(sp->envp);
	for (i = 0; i < sp->npaths; i++)
		free(sp->paths[i]);
	free(sp->paths);
	free(sp->perms);
	memset(sp, 0, sizeof(*sp));
	sp->procfd = -1;
}

static int
sb_add(struct sbuf *sb, const char *s, size_t len)
{
	char	*p;
	size_t	 size;

	if (sb->len + len + 1 > sb->size) {
		size = sb->size == 0 ? 64 : sb->size;
		while (size < sb->len + len + 1)
			size *= 2;
		if ((p = recallocarray(sb->s, sb->size, size, 1)) == NULL)
			return -1;
		sb->s = p;
		sb->size = size;
	}
	memcpy(sb->s + sb->len, s, len);
	sb->len += len;
	sb->s[sb->len] = '\0';
	return 0;
}

/*
 * A user's name in a path must stay one path component: not empty, not
 * "." and without "/" or "..", or %d/%l could reach another user's files.
 */
static int
path_value_ok(const char *v)
{
	return v[0] != '\0' && strcmp(v, ".") != 0 &&
	    strstr(v, "..") == NULL && strchr(v, '/') == NULL;
}

/*
 * Expand one template word: %u the canonical user, %l its local part, %d
 * its domain, %1..%9 one client argument (not in paths, not with
 * args_stdin), %% a percent sign.  NULL and r->reason on error.
 */
static char *
expand(struct run *r, const char *t, int inpath)
{
	struct sbuf	 sb;
	const char	*p, *v;
	uint32_t	 n;

	memset(&sb, 0, sizeof(sb));
	if (sb_add(&sb, "", 0) == -1)
		goto nomem;
	for (p = t; *p != '\0'; p++) {
		if (*p != '%') {
			if (sb_add(&sb, p, 1) == -1)
				goto nomem;
			continue;
		}
		switch (p[1]) {
		case '%':
			v = "%";
			break;
		case 'u':
			v = r->user;
			break;
		case 'l':
			v = r->local;
			break;
		case 'd':
			v = r->domain;
			break;
		case '1': case '2': case '3': case '4': case '5':
		case '6': case '7': case '8': case '9':
			if (inpath || r->mod->args_stdin)
				goto bad;
			n = p[1] - '1';
			v = n < r->nargs ? r->args[n] : "";
			break;
		default:
			goto bad;
		}
		p++;
		if (inpath && p[0] != '%' && !path_value_ok(v)) {
			log_warnx("%s: user %s: refusing \"%s\" in a path",
			    r->mod->name, r->user, v);
			strlcpy(r->reason, "user name not usable in a path",
			    sizeof(r->reason));
			goto fail;
		}
		if (sb_add(&sb, v, strlen(v)) == -1)
			goto nomem;
	}
	return sb.s;

 bad:
	log_warnx("%s: bad template \"%s\"", r->mod->name, t);
	strlcpy(r->reason, "module misconfigured", sizeof(r->reason));
	goto fail;
 nomem:
	log_warn("%s", __func__);
	strlcpy(r->reason, "out of resources", sizeof(r->reason));
 fail:
	if (sb.s != NULL)
		freezero(sb.s, sb.size);
	return NULL;
}

/*
 * The module's own promises.  "wpath cpath" when it has a path to write,
 * or when Landlock (ABI 3 and later: truncate too) decides every write
 * itself, so that only its write paths and /dev/null can be written;
 * network modules get sockets and the resolver.
 */
static void
module_promises(struct module *m, char *buf, size_t len)
{
	int	i, wr = sandbox_landlock_abi() >= 3;

	for (i = 0; i < m->npaths; i++)
		if (m->paths[i].perms & PATH_WRITE)
			wr = 1;
	/*
	 * "id": tools such as Dovecot's sievec set their own ids again; an
	 * unprivileged process can only set the ones it has.
	 */
	strlcpy(buf, "stdio rpath proc exec id", len);
	if (wr)
		strlcat(buf, " wpath cpath", len);
	if (m->network)
		strlcat(buf, " inet unix dns", len);
	else
		strlcat(buf, " nonet", len);	/* socket() fails, not kills */
}

/* Before execd's own sandbox: every module's filter, once. */
static void
filters_init(struct execd_conf *conf)
{
	struct modfilter	*f;
	struct module		*m;
	char			 promises[64];

	TAILQ_FOREACH(m, &conf->modules, entry) {
		if ((f = calloc(1, sizeof(*f))) == NULL)
			fatal("%s", __func__);
		module_promises(m, promises, sizeof(promises));
		f->mod = m;
		f->prog = sandbox_compile(promises);
		TAILQ_INSERT_TAIL(&filters, f, entry);
	}
}

static const struct sandbox_prog *
module_filter(struct module *m)
{
	struct modfilter	*f;

	TAILQ_FOREACH(f, &filters, entry)
		if (f->mod == m)
			return f->prog;
	return NULL;
}

/* In the child: say what failed on the error pipe and end. */
static __dead2 void
child_fail(int fd, const char *what)
{
	char	msg[256];
	int	n;

	n = snprintf(msg, sizeof(msg), "%s: %s", what, strerror(errno));
	if (n > 0)
		(void)write(fd, msg, MINIMUM((size_t)n, sizeof(msg) - 1));
	_exit(127);
}

static void
child_rlimit(int err, int res, rlim_t cur, rlim_t max)
{
	struct rlimit	rl;

	rl.rlim_cur = cur;
	rl.rlim_max = max;
	if (setrlimit(res, &rl) == -1)
		child_fail(err, "setrlimit");
}

/* A path the module may reach; one that does not exist is left out. */
static void
child_unveil(int err, const char *path, const char *perms)
{
	char	what[PATH_MAX + 16];

	if (sandbox_unveil(path, perms) == 0 || errno == ENOENT ||
	    errno == ENOTDIR)
		return;
	if ((size_t)snprintf(what, sizeof(what), "unveil %s", path) >=
	    sizeof(what))
		strlcpy(what, "unveil", sizeof(what));
	child_fail(err, what);
}

/*
 * A write path that does not exist yet (a new user's directory) is made
 * for the module: its last component only, owned by the module's user,
 * mode 0700.  Its parent must exist; nothing else is created.
 */
static void
child_mkdir(int err, const char *path, uid_t uid, gid_t gid)
{
	struct stat	st;

	if (lstat(path, &st) == 0 || errno != ENOENT)
		return;
	if (mkdir(path, 0700) == -1) {
		if (errno == ENOENT || errno == EEXIST)
			return;		/* no parent: left out, as before */
		child_fail(err, "mkdir");
	}
	if (chown(path, uid, gid) == -1)
		child_fail(err, "chown");
}

/* A script's interpreter ("#!/bin/sh") must be executable too. */
static void
child_interp(int err, const char *program)
{
	char	buf[256], *p, *e;
	ssize_t	n;
	int	fd;

	if ((fd = open(program, O_RDONLY | O_CLOEXEC)) == -1)
		return;		/* execve will say why */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 3 || buf[0] != '#' || buf[1] != '!')
		return;
	buf[n] = '\0';
	p = buf + 2;
	p += strspn(p, " \t");
	e = p + strcspn(p, " \t\r\n");
	*e = '\0';
	if (*p == '/')
		child_unveil(err, p, "rx");
}

/*
 * The child, from fork to execve.  Order matters: the cgroup first (before
 * it could fork), setsid, rlimits and chroot while root, Landlock paths
 * opened while root may still open them, then the ids, then the death
 * signal (the uid change clears it), then seccomp, then the descriptors.
 */
static __dead2 void
run_child(struct run *r, struct spawn *sp)
{
	struct module	*m = r->mod;
	sigset_t	 set;
	char		 buf[32];
	gid_t		 gid = m->gid;
	size_t		 i;
	int		 n, fd;

	/* libevent's handlers and execd's SIG_IGN must not be inherited */
	for (n = 1; n < NSIG; n++)
		(void)signal(n, SIG_DFL);
	sigemptyset(&set);
	(void)sigprocmask(SIG_SETMASK, &set, NULL);
	log_setverbose(0);	/* no debug lines into the module's output */

	if (sp->procfd != -1) {
		n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
		if (write(sp->procfd, buf, n) != n)
			child_fail(sp->err, "cgroup");
	}
	if (setsid() == -1)
		child_fail(sp->err, "setsid");
	/* nothing of execd's crosses execve, whoever forgot CLOEXEC */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		for (fd = 3; fd < 1024; fd++)
			(void)fcntl(fd, F_SETFD, FD_CLOEXEC);

	child_rlimit(sp->err, RLIMIT_CORE, 0, 0);
	if (m->cpu > 0)
		child_rlimit(sp->err, RLIMIT_CPU, m->cpu, m->cpu + 1);
#ifndef IMAPX_SANITIZE
	/* ASan's shadow is terabytes: no mmap would work before execve */
	if (m->memory > 0)
		child_rlimit(sp->err, RLIMIT_AS, m->memory, m->memory);
#endif
	if (m->nofile > 0)
		child_rlimit(sp->err, RLIMIT_NOFILE, m->nofile, m->nofile);
	if (m->nproc > 0)
		child_rlimit(sp->err, RLIMIT_NPROC, m->nproc, m->nproc);
	child_rlimit(sp->err, RLIMIT_FSIZE, m->fsize, m->fsize);

	if (m->chroot[0] != '\0' && chroot(m->chroot) == -1)
		child_fail(sp->err, "chroot");
	if (chdir("/") == -1)
		child_fail(sp->err, "chdir /");

	for (i = 0; i < nitems(sys_paths); i++)
		child_unveil(sp->err, sys_paths[i].path, sys_paths[i].perms);
	for (i = 0; m->network && i < nitems(net_paths); i++)
		child_unveil(sp->err, net_paths[i].path, net_paths[i].perms);
	child_unveil(sp->err, m->program, "rx");
	child_interp(sp->err, m->program);
	for (n = 0; n < sp->npaths; n++) {
		if (strchr(sp->perms[n], 'w') != NULL)
			child_mkdir(sp->err, sp->paths[n], m->uid, gid);
		child_unveil(sp->err, sp->paths[n], sp->perms[n]);
	}

	if (setgroups(1, &gid) == -1)
		child_fail(sp->err, "setgroups");
	if (setresgid(gid, gid, gid) == -1)
		child_fail(sp->err, "setresgid");
	if (setresuid(m->uid, m->uid, m->uid) == -1)
		child_fail(sp->err, "setresuid");
	if (privdrop_verify(m->uid, gid) == -1) {
		errno = EPERM;
		child_fail(sp->err, "privdrop");
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		child_fail(sp->err, "prctl PR_SET_PDEATHSIG");
	if (getppid() != sp->ppid) {
		errno = ESRCH;
		child_fail(sp->err, "execd went away");
	}

	sandbox_enter_compiled(sp->prog);
	if (dup2(sp->in, 0) == -1 || dup2(sp->out, 1) == -1 ||
	    dup2(sp->out, 2) == -1)
		child_fail(sp->err, "dup2");
	execve(m->program, sp->argv, sp->envp);
	child_fail(sp->err, "execve");
}

/*
 * Output: read only as much as the channel's window has room for, so a
 * module that floods waits on its pipe and execd holds at most a window.
 */
static void
run_read(int fd, short event, void *arg)
{
	struct run	*r = arg;
	struct module	*m = r->mod;
	unsigned char	 buf[IMAPX_CHUNK_MAX];
	size_t		 room, keep, i;
	ssize_t		 n;
	int		 breach = 0;

	if (r->xc == NULL || r->outfd == -1)
		return;
	if ((room = chan_room(&r->xc->chan)) == 0) {
		event_del(&r->ev_out);
		r->paused = 1;
		return;
	}
	if ((n = read(fd, buf, MINIMUM(room, sizeof(buf)))) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_warn("%s: read output", m->name);
		n = 0;
	}
	if (n == 0) {
		out_close(r);
		run_poke(r, 0);
		return;
	}
	keep = n;
	if (m->output_max > 0 && r->outbytes + keep > m->output_max) {
		keep = m->output_max - r->outbytes;
		breach = 1;
	}
	for (i = 0; m->lines_max > 0 && i < keep; i++) {
		if (r->outlines >= m->lines_max) {
			keep = i;
			breach = 1;
			break;
		}
		if (buf[i] == '\n')
			r->outlines++;
	}
	r->outbytes += keep;
	if (keep > 0 && chan_send(&r->xc->chan, IMSG_XEXEC_OUTPUT, r->id, -1,
	    buf, keep) == -1) {
		/* the channel is gone; its end detaches the run */
		event_del(&r->ev_out);
		r->paused = 1;
		return;
	}
	if (breach)
		run_kill(r, XEXEC_OUTPUT, "output limit");
}

void
run_resume(struct xchan *xc)
{
	struct run	*r;

	TAILQ_FOREACH(r, &xc->runs, entry) {
		if (r->state != RUN_LIVE || !r->paused || r->outfd == -1)
			continue;
		r->paused = 0;
		event_add(&r->ev_out, NULL);
	}
}

static void
out_close(struct run *r)
{
	if (r->outfd == -1)
		return;
	event_del(&r->ev_out);
	close(r->outfd);
	r->outfd = -1;
	r->paused = 0;
}

/*
 * stdin.  The INPUT bytes stay uncredited on the channel until they are
 * written to the pipe: the frontend can have at most a window in execd,
 * and a module that does not read stops its sender.
 */
static int
in_append(struct run *r, const void *data, size_t len)
{
	unsigned char	*p;
	size_t		 left = r->inlen - r->inoff, size;

	if (r->inoff > 0) {
		memmove(r->inbuf, r->inbuf + r->inoff, left);
		explicit_bzero(r->inbuf + left, r->inoff);
		r->inoff = 0;
		r->inlen = left;
	}
	if (r->inlen + len > r->insize) {
		size = r->insize == 0 ? 4096 : r->insize;
		while (size < r->inlen + len)
			size *= 2;
		if ((p = recallocarray(r->inbuf, r->insize, size, 1)) == NULL)
			return -1;
		r->inbuf = p;
		r->insize = size;
	}
	memcpy(r->inbuf + r->inlen, data, len);
	r->inlen += len;
	return 0;
}

/* 1 if the bytes were taken (and are held in credit), 0 if dropped. */
int
run_input(struct run *r, const void *data, size_t len)
{
	if (r->state != RUN_LIVE || r->infd == -1 || r->in_eof || len == 0)
		return 0;
	if (in_append(r, data, len) == -1) {
		log_warn("%s", __func__);
		return 0;
	}
	r->inheld += len;
	event_add(&r->ev_in, NULL);
	return 1;
}

void
run_eof(struct run *r)
{
	if (r->state != RUN_LIVE || r->infd == -1)
		return;
	r->in_eof = 1;
	if (r->inoff == r->inlen)
		in_close(r);
}

static void
run_write(int fd, short event, void *arg)
{
	struct run	*r = arg;
	size_t		 credit, d;
	ssize_t		 n;

	if (r->infd == -1)
		return;
	if ((n = write(fd, r->inbuf + r->inoff, r->inlen - r->inoff)) == -1) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		in_close(r);	/* EPIPE: it closed its stdin */
		return;
	}
	r->inoff += n;
	credit = n;
	if (r->inargs > 0) {
		d = MINIMUM(r->inargs, credit);
		r->inargs -= d;
		credit -= d;
	}
	if (credit > 0) {
		r->inheld -= credit;
		if (r->xc != NULL)
			chan_consumed(&r->xc->chan, credit);
	}
	if (r->inoff == r->inlen) {
		explicit_bzero(r->inbuf, r->inlen);
		r->inoff = r->inlen = 0;
		event_del(&r->ev_in);
		if (r->in_eof)
			in_close(r);
	}
}

static void
in_close(struct run *r)
{
	if (r->infd != -1) {
		event_del(&r->ev_in);
		close(r->infd);
		r->infd = -1;
	}
	if (r->inheld > 0 && r->xc != NULL)
		chan_consumed(&r->xc->chan, r->inheld);
	r->inheld = 0;
	if (r->inbuf != NULL)
		freezero(r->inbuf, r->insize);
	r->inbuf = NULL;
	r->inlen = r->inoff = r->insize = r->inargs = 0;
}

/* The wall-clock limit: SIGTERM to the tree, SIGKILL after kill_grace. */
static void
run_timeout(int fd, short event, void *arg)
{
	struct run	*r = arg;
	struct timeval	 tv;

	if (!r->terminated) {
		if (!r->ending) {
			r->ending = 1;
			r->end = XEXEC_TIMEOUT;
			strlcpy(r->reason, "timeout", sizeof(r->reason));
		}
		r->terminated = 1;
		tree_signal(r, SIGTERM);
		tv.tv_sec = r->mod->kill_grace;
		tv.tv_usec = 0;
		evtimer_add(&r->ev_limit, &tv);
		return;
	}
	tree_signal(r, SIGKILL);
	run_poke(r, 0);
}

/*
 * End a run now: output limit, cancel, a channel that went away.  What
 * the tree still writes is not read any more once nobody gets it.
 */
void
run_kill(struct run *r, int end, const char *reason)
{
	if (r->state != RUN_LIVE)
		return;
	if (!r->ending) {
		r->ending = 1;
		r->end = end;
		strlcpy(r->reason, reason, sizeof(r->reason));
	}
	if (end == XEXEC_OUTPUT || r->xc == NULL)
		out_close(r);
	evtimer_del(&r->ev_limit);
	tree_signal(r, SIGKILL);
	run_poke(r, 0);
}

/* Its frontend is gone or cancelled it: nothing more goes to it. */
void
run_detach(struct run *r)
{
	if (r->xc == NULL)
		return;
	in_close(r);
	TAILQ_REMOVE(&r->xc->runs, r, entry);
	r->xc = NULL;
	out_close(r);
}

void
run_free(struct run *r)
{
	int	i;

	if (r->state == RUN_LIVE) {
		out_close(r);
		in_close(r);
		if (r->errfd != -1)
			close(r->errfd);
		evtimer_del(&r->ev_limit);
		evtimer_del(&r->ev_wait);
		TAILQ_REMOVE(&live, r, live);
	} else
		in_close(r);
	for (i = 0; i < MODULE_ARGS_MAX; i++)
		if (r->args[i] != NULL)
			freezero(r->args[i], r->arglen[i] + 1);
	freezero(r, sizeof(*r));
}

unsigned int
run_count(struct module *m, const char *user)
{
	struct run	*r;
	unsigned int	 n = 0;

	TAILQ_FOREACH(r, &live, live)
		if ((m == NULL || r->mod == m) &&
		    (user == NULL || strcmp(r->user, user) == 0))
			n++;
	return n;
}

unsigned int
run_total(void)
{
	return run_count(NULL, NULL);
}

static void
run_sigchld(int sig, short event, void *arg)
{
	reap_sweep();
}

/*
 * Reap whatever is dead: run leaders, and orphans of the run trees that
 * were re-parented to execd (the subreaper).  Not re-entered.
 */
static void
reap_sweep(void)
{
	struct run	*r;
	pid_t		 pid;
	int		 status;

	if (reaping)
		return;
	reaping = 1;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(r, &live, live)
			if (r->pid == pid)
				break;
		if (r != NULL)
			run_reaped(r, status);
	}
	reaping = 0;
}

/* The leader is gone: the rest of its tree goes with it. */
static void
run_reaped(struct run *r, int status)
{
	char	msg[256];
	ssize_t	n;

	r->pid = 0;
	r->wstatus = status;
	evtimer_del(&r->ev_limit);
	if (r->errfd != -1) {
		if ((n = read(r->errfd, msg, sizeof(msg) - 1)) > 0) {
			msg[n] = '\0';
			log_warnx("%s: user %s: cannot start: %s",
			    r->mod->name, r->user, msg);
			r->ending = 1;
			r->end = XEXEC_FAILED;
			strlcpy(r->reason, "could not start the module",
			    sizeof(r->reason));
		}
		close(r->errfd);
		r->errfd = -1;
	}
	in_close(r);
	tree_signal(r, SIGKILL);
	run_poke(r, 0);
}

/* Look at the run again from the event loop: never re-entrant. */
static void
run_poke(struct run *r, int ms)
{
	struct timeval	tv;

	if (evtimer_pending(&r->ev_wait, NULL))
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(&r->ev_wait, &tv);
}

static void
run_wait(int fd, short event, void *arg)
{
	run_check(arg);
}

/* Over when the leader is reaped, the output drained, the tree dead. */
static void
run_check(struct run *r)
{
	int	ms;

	if (r->pid != 0 || r->outfd != -1)
		return;
	if (tree_alive(r)) {
		tree_signal(r, SIGKILL);
		ms = WAIT_FIRST_MS << MINIMUM(r->waits, 8);
		r->waits++;
		run_poke(r, MINIMUM(ms, WAIT_MAX_MS));
		return;
	}
	reap_sweep();
	if (r->cgroup[0] != '\0') {
		if (cg_give(r) == -1 && errno != ENOENT) {
			if (errno == EBUSY && r->waits++ < 1000) {
				run_poke(r, 10);
				return;
			}
			log_warn("rmdir %s", r->cgroup);
		}
		r->cgroup[0] = '\0';
	}
	run_finish(r);
}

static void
run_finish(struct run *r)
{
	int	st = r->wstatus;

	if (WIFSIGNALED(st))
		r->status = WTERMSIG(st);
	else
		r->status = WEXITSTATUS(st);
	if (!r->ending)
		r->end = WIFSIGNALED(st) ? XEXEC_SIGNALED : XEXEC_EXITED;
	fchan_run_ended(r);
}

/*
 * Shutting down (SIGTERM, or the parent went away): every tree is
 * killed and waited for here, briefly blocking, then the cgroups go.
 */
void
run_shutdown(void)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	struct run	*r, *next;
	int		 i;

	TAILQ_FOREACH(r, &live, live) {
		run_detach(r);
		if (!r->ending) {
			r->ending = 1;
			r->end = XEXEC_SIGNALED;
			strlcpy(r->reason, "execd shutting down",
			    sizeof(r->reason));
		}
		tree_signal(r, SIGKILL);
	}
	for (i = 0; i < 500 && !TAILQ_EMPTY(&live); i++) {
		reap_sweep();
		TAILQ_FOREACH_SAFE(r, &live, live, next) {
			if (r->pid != 0)
				continue;
			if (tree_alive(r)) {
				tree_signal(r, SIGKILL);
				continue;
			}
			if (r->cgroup[0] != '\0' && rmdir(r->cgroup) == -1 &&
			    errno == EBUSY)
				continue;
			r->cgroup[0] = '\0';
			run_finish(r);
		}
		if (!TAILQ_EMPTY(&live))
			nanosleep(&ts, NULL);
	}
	reap_sweep();
	TAILQ_FOREACH(r, &live, live)
		log_warnx("%s: user %s: pid %d would not die", r->mod->name,
		    r->user, (int)r->leader);
	while (cg_nspare > 0)
		if (rmdir(cg_spare[--cg_nspare]) == -1)
			log_warn("rmdir %s", cg_spare[cg_nspare]);
	if (cg_base[0] != '\0' && rmdir(cg_base) == -1)
		log_warn("rmdir %s", cg_base);
}

/* A signal to every process of the run's tree. */
static void
tree_signal(struct run *r, int sig)
{
	if (r->pid != 0)
		(void)kill(r->pid, sig);
	if (r->cgroup[0] != '\0')
		cg_signal(r->cgroup, sig);
	else
		(void)fb_tree(r, sig);
}

static int
tree_alive(struct run *r)
{
	if (r->cgroup[0] != '\0')
		return cg_populated(r->cgroup);
	return fb_tree(r, 0) > 0;
}

/*
 * The fallback's view of a run's tree, from /proc: its session and
 * process group, the descendants of those, and orphans re-parented to
 * execd (a module that left both its session and its group and lost its
 * parent can be told apart no further: it is killed with the first run
 * that ends).  Signals each live member with sig (0: none); returns how
 * many are alive.
 */
struct pinfo {
	pid_t	pid, ppid, pgrp, sid;
	char	state;
	int	member;
};

static int
fb_tree(struct run *r, int sig)
{
	DIR		*d;
	struct dirent	*de;
	struct pinfo	*p = NULL, *np;
	struct run	*o;
	char		 path[64], buf[512], *s;
	size_t		 n = 0, cap = 0, i, j;
	ssize_t		 len;
	int		 fd, alive = 0, changed;
	const char	*errstr;

	if (sig != 0)
		(void)kill(-r->leader, sig);
	if ((d = opendir("/proc")) == NULL) {
		log_warn("opendir /proc");
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "/proc/%s/stat",
		    de->d_name) >= sizeof(path))
			continue;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "pid (comm) state ppid pgrp session ...": comm may hold ")" */
		if ((s = strrchr(buf, ')')) == NULL)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			if ((np = reallocarray(p, cap, sizeof(*p))) == NULL) {
				log_warn("%s", __func__);
				break;
			}
			p = np;
		}
		memset(&p[n], 0, sizeof(p[n]));
		p[n].pid = strtonum(de->d_name, 1, INT_MAX, &errstr);
		if (errstr != NULL || sscanf(s + 1, " %c %d %d %d",
		    &p[n].state, &p[n].ppid, &p[n].pgrp, &p[n].sid) != 4)
			continue;
		n++;
	}
	closedir(d);

	for (i = 0; i < n; i++) {
		if (p[i].pid == self)
			continue;
		if ((r->pid != 0 && p[i].pid == r->pid) ||
		    p[i].sid == r->leader || p[i].pgrp == r->leader)
			p[i].member = 1;
		else if (p[i].ppid == self) {
			TAILQ_FOREACH(o, &live, live)
				if (o->pid == p[i].pid)
					break;
			p[i].member = o == NULL || o == r;
		}
	}
	do {
		changed = 0;
		for (i = 0; i < n; i++) {
			if (p[i].member || p[i].pid == self)
				continue;
			for (j = 0; j < n; j++)
				if (p[j].member && p[j].pid == p[i].ppid)
					break;
			if (j < n) {
				p[i].member = 1;
				changed = 1;
			}
		}
	} while (changed);
	for (i = 0; i < n; i++) {
		if (!p[i].member || p[i].state == 'Z' || p[i].state == 'X')
			continue;
		alive++;
		if (sig != 0)
			(void)kill(p[i].pid, sig);
	}
	free(p);
	return alive;
}

/*
 * cgroup v2.  The mount point from mountinfo (Debian's hybrid layout has
 * it at /sys/fs/cgroup/unified), execd's own cgroup from /proc/self/cgroup.
 */
static int
cg_mountpoint(char *buf, size_t len)
{
	FILE	*fp;
	char	*line = NULL, *sep, *f[5], *s;
	size_t	 size = 0;
	int	 i, found = -1;

	if ((fp = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -1;
	while (found == -1 && getline(&line, &size, fp) != -1) {
		if ((sep = strstr(line, " - ")) == NULL ||
		    strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		s = line;
		for (i = 0; i < 5; i++)
			f[i] = strsep(&s, " ");
		if (s == NULL || f[4] == NULL)
			continue;
		if (strlcpy(buf, f[4], len) < len)
			found = 0;
	}
	free(line);
	fclose(fp);
	return found;
}

static int
cg_self(char *buf, size_t len)
{
	FILE	*fp;
	char	*line = NULL;
	size_t	 size = 0;
	int	 found = -1;

	if ((fp = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	while (found == -1 && getline(&line, &size, fp) != -1) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (line[3] == '/' && strstr(line + 3, "..") == NULL &&
		    strlcpy(buf, line + 3, len) < len)
			found = 0;
	}
	free(line);
	fclose(fp);
	return found;
}

static int
cg_init(void)
{
	char	mnt[PATH_MAX], own[PATH_MAX], dir[PATH_MAX], path[PATH_MAX];
	int	n;

	if (cg_mountpoint(mnt, sizeof(mnt)) == -1 ||
	    cg_self(own, sizeof(own)) == -1)
		return -1;
	n = snprintf(dir, sizeof(dir), "%s%s", mnt,
	    strcmp(own, "/") == 0 ? "" : own);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -1;
	cg_stale(dir);
	n = snprintf(cg_base, sizeof(cg_base), "%s/%s%d", dir, CG_PREFIX,
	    (int)self);
	if (n < 0 || (size_t)n >= sizeof(cg_base) - 64)
		goto fail;
	if (mkdir(cg_base, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", cg_base);
		goto fail;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs",
	    cg_base) >= sizeof(path) || access(path, W_OK) == -1) {
		log_warn("%s", path);
		(void)rmdir(cg_base);
		goto fail;
	}
	return 0;
 fail:
	cg_base[0] = '\0';
	return -1;
}

/*
 * A run's cgroup: an empty one a run before left, else a new run.<seq>.
 * Making and removing a cgroup are the dearer half of what a run's
 * cgroup costs.
 */
static int
cg_take(struct run *r)
{
	if (cg_nspare > 0) {
		strlcpy(r->cgroup, cg_spare[--cg_nspare], sizeof(r->cgroup));
		return 0;
	}
	if ((size_t)snprintf(r->cgroup, sizeof(r->cgroup), "%s/run.%llu",
	    cg_base, (unsigned long long)r->seq) >= sizeof(r->cgroup))
		fatalx("cgroup path too long");
	return mkdir(r->cgroup, 0700);
}

/*
 * The run's cgroup, which no process of it is in any more, is kept for
 * a later run or removed (-1 and errno when rmdir(2) fails).  Nothing of
 * the run stays with it: execd sets no limits on it, and cgroup.kill is
 * an action, not a state.
 */
static int
cg_give(struct run *r)
{
	if (cg_nspare < CG_SPARES) {
		strlcpy(cg_spare[cg_nspare++], r->cgroup, PATH_MAX);
		return 0;
	}
	return rmdir(r->cgroup);
}

/*
 * The cgroups of an execd that died without cleaning up.  Every execd
 * below the same cgroup (of other imapxd instances on the host) looks at
 * them when it starts: whichever comes first removes them.
 */
static void
cg_stale(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_MAX];
	const char	*errstr;
	pid_t		 pid;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, CG_PREFIX, strlen(CG_PREFIX)) != 0)
			continue;
		pid = strtonum(de->d_name + strlen(CG_PREFIX), 1, INT_MAX,
		    &errstr);
		if (errstr != NULL || pid == self ||
		    kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path))
			continue;
		cg_purge(path);
	}
	closedir(d);
}

static void
cg_purge(const char *base)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	DIR		*d;
	struct dirent	*de;
	char		 path[PATH_MAX];
	int		 i;

	if ((d = opendir(base)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "run.", 4) != 0 ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", base,
		    de->d_name) >= sizeof(path))
			continue;
		for (i = 0; i < 100 && cg_populated(path); i++) {
			cg_signal(path, SIGKILL);
			nanosleep(&ts, NULL);
		}
		/* ENOENT: another execd on this host removed it meanwhile */
		if (rmdir(path) == -1 && errno != ENOENT)
			log_warn("rmdir %s", path);
	}
	closedir(d);
	if (rmdir(base) == 0)
		log_info("removed the stale cgroup %s", base);
	else if (errno != ENOENT)
		log_warn("rmdir %s", base);
}

static int
cg_write(const char *dir, const char *file, const char *s)
{
	char	path[PATH_MAX];
	ssize_t	n;
	int	fd, saved;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	n = write(fd, s, strlen(s));
	saved = errno;
	close(fd);
	errno = saved;
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static ssize_t
cg_read(const char *dir, const char *file, char *buf, size_t len)
{
	char	path[PATH_MAX];
	ssize_t	n;
	int	fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path))
		return -1;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* 1 while a process of the cgroup (or one below it) is alive. */
static int
cg_populated(const char *dir)
{
	char	 buf[256], *p;

	if (cg_read(dir, "cgroup.events", buf, sizeof(buf)) <= 0 ||
	    (p = strstr(buf, "populated ")) == NULL)
		return 0;
	return p[strlen("populated ")] != '0';
}

/* SIGKILL is cgroup.kill (5.14 and later); others go pid by pid. */
static void
cg_signal(const char *dir, int sig)
{
	char	 path[PATH_MAX];
	FILE	*fp;
	int	 pid;

	if (sig == SIGKILL && cg_write(dir, "cgroup.kill", "1") == 0)
		return;
	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >=
	    sizeof(path) || (fp = fopen(path, "re")) == NULL)
		return;
	while (fscanf(fp, "%d", &pid) == 1)
		if (pid > 0)
			(void)kill(pid, sig);
	fclose(fp);
}

/*
 * execd's own sandbox: a seccomp filter, and no Landlock.
 *
 * Both are inherited by every module (a filter survives fork and execve,
 * a Landlock domain can only be narrowed), and the modules' paths are the
 * union of every module's, expanded per user at run time.  So execd's
 * file system is left to its uid and DAC, and its filter is the union of
 * what execd does, what the child does before execve (ids, rlimits,
 * chroot, Landlock, its own filter) and what sandbox.c allows a module
 * ("stdio rpath wpath cpath proc exec", "inet unix dns" when a module has
 * the network).  A module's own filter, stacked on this one, narrows it.
 * Keep the lists in step with common/sandbox.c: a call a module's
 * promises allow and this filter lacks kills the module.
 *
 * sandbox_enter() is not used for execd itself: it would put execd in a
 * Landlock domain (all children with it), and a process that has entered
 * cannot build its children's rulesets any more.
 */
static const int execd_sys[] = {
	/* stdio */
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv),
	SCMP_SYS(pwritev), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(close), SCMP_SYS(close_range),
	SCMP_SYS(lseek), SCMP_SYS(fstat), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
	SCMP_SYS(pipe), SCMP_SYS(pipe2), SCMP_SYS(splice), SCMP_SYS(tee),
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
	SCMP_SYS(getrlimit), SCMP_SYS(getrusage), SCMP_SYS(umask),
	SCMP_SYS(rseq), SCMP_SYS(set_robust_list), SCMP_SYS(seccomp),
	/* not in sandbox.c (yet), but coreutils need them */
	SCMP_SYS(fadvise64), SCMP_SYS(mincore), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(statfs), SCMP_SYS(fstatfs),
	/* rpath: /proc, cgroup files, what a module reads */
	SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(creat),
	SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(newfstatat),
	SCMP_SYS(statx), SCMP_SYS(readlink), SCMP_SYS(readlinkat),
	SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(access),
	SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(chdir),
	SCMP_SYS(fchdir), SCMP_SYS(getcwd),
	/* wpath cpath: the run cgroups, what a module writes */
	SCMP_SYS(ftruncate), SCMP_SYS(truncate), SCMP_SYS(utimensat),
	SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rename),
	SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(mkdir),
	SCMP_SYS(chown), SCMP_SYS(fchownat),
	SCMP_SYS(mkdirat), SCMP_SYS(rmdir), SCMP_SYS(link),
	SCMP_SYS(linkat), SCMP_SYS(symlink), SCMP_SYS(symlinkat),
	/* unix (syslog), and inet for the modules that have it */
	SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen),
	SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(sendto),
	SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg),
	/* proc */
	SCMP_SYS(fork), SCMP_SYS(vfork), SCMP_SYS(wait4), SCMP_SYS(waitid),
	SCMP_SYS(kill), SCMP_SYS(tgkill), SCMP_SYS(setpgid),
	SCMP_SYS(setsid), SCMP_SYS(getpgid), SCMP_SYS(getsid),
	/* exec */
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(set_tid_address),
	/* id: the module's user, its rlimits */
	SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(setreuid),
	SCMP_SYS(setregid), SCMP_SYS(setresuid), SCMP_SYS(setresgid),
	SCMP_SYS(setgroups), SCMP_SYS(setfsuid), SCMP_SYS(setfsgid),
	SCMP_SYS(setrlimit), SCMP_SYS(prlimit64), SCMP_SYS(setpriority),
	/* the child's set-up, which no promise word has */
	SCMP_SYS(chroot),
};

/* Landlock's numbers are the same on every architecture. */
static const int execd_landlock[] = { 444, 445, 446 };

static const unsigned long execd_fcntl[] = {
	F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL,
	F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
	F_GETPIPE_SZ, F_SETPIPE_SZ,
};

static const unsigned long execd_ioctl[] = {
	FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS,
};

static const unsigned long execd_prctl[] = {
	PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG,
};

static void
sc_add(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned int narg,
    unsigned int arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp	cmp;
	int			rc;

	cmp.arg = arg;
	cmp.op = op;
	cmp.datum_a = a;
	cmp.datum_b = b;
	if ((rc = seccomp_rule_add_array(ctx, action, nr, narg, &cmp)) < 0) {
		errno = -rc;
		fatal("seccomp_rule_add syscall %d", nr);
	}
}

void
execd_sandbox(struct execd_conf *conf)
{
	static const int	 prot_wx[] = { 0, PROT_WRITE, PROT_EXEC };
	scmp_filter_ctx		 ctx;
	struct module		*m;
	size_t			 i;
	int			 rc, net = 0;
#ifdef IMAPX_SANITIZE
	__sanitizer_sandbox_arguments	 args;
#endif

	TAILQ_FOREACH(m, &conf->modules, entry)
		if (m->network)
			net = 1;
#ifdef IMAPX_SANITIZE
	/* as sandbox.c: maps cached, leak check now (it needs ptrace) */
	memset(&args, 0, sizeof(args));
	args.coverage_fd = -1;
	__sanitizer_sandbox_on_notify(&args);
	__lsan_do_leak_check();
#endif
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		fatalx("seccomp_init failed");
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0) {
		errno = -rc;
		fatal("seccomp_attr_set");
	}
	/* as sandbox.c: a tree by syscall number; every module runs it too */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0) {
		errno = -rc;
		fatal("seccomp_attr_set optimize");
	}
	for (i = 0; i < nitems(execd_sys); i++)
		sc_add(ctx, SCMP_ACT_ALLOW, execd_sys[i], 0, 0, 0, 0, 0);
	for (i = 0; sandbox_landlock_abi() > 0 && i < nitems(execd_landlock);
	    i++)
		sc_add(ctx, SCMP_ACT_ALLOW, execd_landlock[i], 0, 0, 0, 0, 0);
	for (i = 0; i < nitems(execd_fcntl); i++)
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, 1, SCMP_CMP_EQ,
		    execd_fcntl[i], 0);
	for (i = 0; i < nitems(execd_ioctl); i++)
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, 1, SCMP_CMP_EQ,
		    execd_ioctl[i], 0);
	for (i = 0; i < nitems(execd_prctl); i++)
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, 0, SCMP_CMP_EQ,
		    execd_prctl[i], 0);
	/* W^X, as for every imapx process */
	for (i = 0; i < nitems(prot_wx); i++) {
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, 2,
		    SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, prot_wx[i]);
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, 2,
		    SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, prot_wx[i]);
	}
	/* fork, but no new namespaces */
	sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, 0, SCMP_CMP_MASKED_EQ,
	    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
	    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET, 0);
	sc_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, 0, 0, 0, 0);
	sc_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0, 0, 0, 0, 0);
#ifdef ARCH_SET_FS
	sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(arch_prctl), 1, 0, SCMP_CMP_EQ,
	    ARCH_SET_FS, 0);
#endif
	sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, 0, SCMP_CMP_EQ,
	    AF_UNIX, 0);
	sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, 0, SCMP_CMP_EQ,
	    AF_UNIX, 0);
	if (!net) {
		/* as a module's "nonet": its socket() fails, it lives */
		sc_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, 0,
		    SCMP_CMP_EQ, AF_INET, 0);
		sc_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, 0,
		    SCMP_CMP_EQ, AF_INET6, 0);
		sc_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1, 0,
		    SCMP_CMP_EQ, AF_NETLINK, 0);
	} else {
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, 0,
		    SCMP_CMP_EQ, AF_INET, 0);
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, 0,
		    SCMP_CMP_EQ, AF_INET6, 0);
		sc_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, 0,
		    SCMP_CMP_EQ, AF_NETLINK, 0);
	}
	if ((rc = seccomp_load(ctx)) < 0) {
		errno = -rc;
		fatal("seccomp_load");
	}
	seccomp_release(ctx);
	log_debug("sandbox: execd filter loaded%s", net ? ", with inet" : "");
}
