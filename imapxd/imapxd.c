/*
 * imapxd parent.  Runs as root and does as little as it can after start:
 * it parses imapxd.conf, binds the listeners, loads the TLS keys, starts
 * each child by fork and re-exec (a fresh address-space layout each),
 * hands the children their configuration and sockets over imsg, restarts
 * a child that dies with back-off while the others keep serving, reloads
 * on SIGHUP, and keeps the connection counts that span all workers.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/tree.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <tls.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "frontend.h"
#include "imapxd.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"

#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	30000
#define STABLE_SECS	60		/* a child this old resets back-off */

struct child {
	enum imapx_proc	 proc;
	unsigned int	 instance;
	pid_t		 pid;
	int		 running;
	unsigned int	 restarts;
	unsigned int	 sessions;	/* accounted connections */
	unsigned int	 backoff_ms;
	time_t		 started;
	struct imsgbuf	 ibuf;
	struct event	 ev;
	struct event	 restart;
};

/* One accounted connection: which worker, which session, from where. */
struct acct {
	RB_ENTRY(acct)		 node;
	unsigned int		 worker;
	uint64_t		 id;
	struct sockaddr_storage	 addr;
	struct counter		*byaddr;
	struct counter		*byuser;
};

/* A count keyed by client address or by canonical user. */
struct counter {
	RB_ENTRY(counter)	 node;
	unsigned int		 n;
	size_t			 keylen;
	char			 key[];
};

RB_HEAD(accttree, acct);
RB_HEAD(countertree, counter);
static int	acct_cmp(struct acct *, struct acct *);
static int	counter_cmp(struct counter *, struct counter *);
RB_GENERATE_STATIC(accttree, acct, node, acct_cmp);
RB_GENERATE_STATIC(countertree, counter, node, counter_cmp);

static struct imapxd_conf	*conf;
static const char		*conffile = IMAPXD_CONF;
static char			 selfpath[PATH_MAX];
static int			 debug, verbose;
static int			 shutting_down;
static struct child		 workers[IMAPX_MAX_WORKERS];
static unsigned int		 nworkers;
/*
 * One slot per service daemon (execd, submitd, notifyd), indexed by
 * PROC_*; a slot is used once its daemon is configured.
 */
static struct child		 services[PROC_MAX];
static struct accttree		 accts = RB_INITIALIZER(&accts);
static struct countertree	 byaddr = RB_INITIALIZER(&byaddr);
static struct countertree	 byuser = RB_INITIALIZER(&byuser);
static unsigned int		 nconns;
static uint8_t			*tls_cert, *tls_key, *tls_ca;
static size_t			 tls_cert_len, tls_key_len, tls_ca_len;

static __dead2 void	usage(void);
static void		listeners_open(struct imapxd_conf *,
			    struct imapxd_conf *);
static void		tls_files_load(struct imapxd_conf *);
static int		backend_verifies(struct imapxd_conf *);
static void		child_start(struct child *);
static void		channels_connect(struct child *);
static void		channel_pair(struct child *, struct child *);
static void		child_restart_cb(int, short, void *);
static void		child_send_conf(struct child *);
static void		child_dispatch(int, short, void *);
static void		child_update(struct child *);
static void		child_gone(struct child *);
static const char	*procname(struct child *);
static struct child	*child_by_pid(pid_t);
static void		parent_sig(int, short, void *);
static int		reload(char *, size_t);
static void		ctl_status(void *);
static int		ctl_reload(char *, size_t);
static void		shutdown_all(void);
static void		acct_open(struct child *, struct imsg_conn *);
static void		acct_user(struct child *, struct imsg_user *);
static void		acct_close(unsigned int, uint64_t);
static void		acct_worker_gone(unsigned int);
static unsigned int	default_workers(void);

static const struct control_ops	ctlops = { ctl_status, ctl_reload };

static __dead2 void
usage(void)
{
	fprintf(stderr, "usage: imapxd [-dnv] [-D macro=value] [-f file]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	struct event	 ev_hup, ev_term, ev_int, ev_chld, ev_pipe;
	const char	*proc = NULL;
	int		 ch, noaction = 0;
	unsigned int	 i;
	ssize_t		 n;

	while ((ch = getopt(argc, argv, "D:df:nP:v")) != -1) {
		switch (ch) {
		case 'D':
			if (cmdline_symset(optarg) < 0)
				errx(1, "could not parse macro definition %s",
				    optarg);
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			conffile = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'P':
			proc = optarg;
			break;
		case 'v':
			verbose++;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	if (argc > 0)
		usage();

	if (proc != NULL) {
		if (strcmp(proc, "frontend") == 0)
			frontend(debug, verbose);
		errx(1, "unknown process %s", proc);
	}

	log_init(1, LOG_MAIL);
	log_setverbose(verbose);
	log_procinit("parent");
	if ((conf = parse_config(conffile)) == NULL)
		exit(1);
	if (noaction) {
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	if (geteuid() != 0)
		errx(1, "need root privileges");
	if ((n = readlink("/proc/self/exe", selfpath,
	    sizeof(selfpath) - 1)) == -1)
		err(1, "readlink /proc/self/exe");
	selfpath[n] = '\0';
	if (tls_init() == -1)
		errx(1, "tls_init");

	log_init(debug, LOG_MAIL);
	if (!debug && daemon(0, 0) == -1)
		fatal("daemon");
	log_info("starting");

	listeners_open(conf, NULL);
	tls_files_load(conf);

	event_init();
	signal_set(&ev_hup, SIGHUP, parent_sig, NULL);
	signal_set(&ev_term, SIGTERM, parent_sig, NULL);
	signal_set(&ev_int, SIGINT, parent_sig, NULL);
	signal_set(&ev_chld, SIGCHLD, parent_sig, NULL);
	signal_set(&ev_pipe, SIGPIPE, parent_sig, NULL);
	signal_add(&ev_hup, NULL);
	signal_add(&ev_term, NULL);
	signal_add(&ev_int, NULL);
	signal_add(&ev_chld, NULL);
	signal_add(&ev_pipe, NULL);
	if (control_init(conf->ctlsock, &ctlops) == -1)
		fatalx("cannot open the control socket %s", conf->ctlsock);

	nworkers = conf->prefork > 0 ? (unsigned int)conf->prefork :
	    default_workers();
	for (i = 0; i < nworkers; i++) {
		workers[i].proc = PROC_FRONTEND;
		workers[i].instance = i;
		workers[i].backoff_ms = BACKOFF_MIN_MS;
		evtimer_set(&workers[i].restart, child_restart_cb, &workers[i]);
		child_start(&workers[i]);
	}
	/* the services after the workers: each pairs with all of them */
	for (i = 0; i < SVC_MAX; i++) {
		if (!conf->services[i].enabled)
			continue;
		services[PROC_EXECD + i].proc = PROC_EXECD + i;
		services[PROC_EXECD + i].backoff_ms = BACKOFF_MIN_MS;
		evtimer_set(&services[PROC_EXECD + i].restart,
		    child_restart_cb, &services[PROC_EXECD + i]);
		child_start(&services[PROC_EXECD + i]);
	}
	event_dispatch();
	return 0;
}

static unsigned int
default_workers(void)
{
	long	n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > IMAPX_MAX_WORKERS ? IMAPX_MAX_WORKERS : (unsigned int)n;
}

/*
 * Bind what the configuration lists.  On reload, a listener that stays
 * keeps its socket (old != NULL): rebinding it would fail, and
 * connections queued on it must not be lost.
 */
static void
listeners_open(struct imapxd_conf *c, struct imapxd_conf *old)
{
	struct listener	*l, *ol;
	int		 fd, one = 1;

	TAILQ_FOREACH(l, &c->listeners, entry) {
		l->fd = -1;
		if (old != NULL) {
			TAILQ_FOREACH(ol, &old->listeners, entry) {
				if (ol->fd != -1 && ol->sslen == l->sslen &&
				    memcmp(&ol->ss, &l->ss, l->sslen) == 0) {
					l->fd = ol->fd;
					ol->fd = -1;
					break;
				}
			}
			if (l->fd != -1)
				continue;
		}
		if ((fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1)
			fatal("socket for %s", l->name);
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (l->ss.ss_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, (struct sockaddr *)&l->ss, l->sslen) == -1) {
			if (old == NULL)
				fatal("bind %s", l->name);
			log_warn("bind %s", l->name);
			close(fd);
			continue;
		}
		if (listen(fd, 1024) == -1)
			fatal("listen %s", l->name);
		l->fd = fd;
		log_debug("listening on %s", l->name);
	}
	if (old != NULL) {
		TAILQ_FOREACH(ol, &old->listeners, entry)
			if (ol->fd != -1) {
				close(ol->fd);
				ol->fd = -1;
			}
	}
}

/* Is there a backend whose certificate must be verified? */
static int
backend_verifies(struct imapxd_conf *c)
{
	struct backend	*be;

	TAILQ_FOREACH(be, &c->backends, entry)
		if ((be->flags & (BACKEND_TLS | BACKEND_STARTTLS)) &&
		    !(be->flags & BACKEND_NOVERIFY))
			return 1;
	return 0;
}

static void
tls_files_load(struct imapxd_conf *c)
{
	free(tls_cert);
	freezero(tls_key, tls_key_len);
	free(tls_ca);
	tls_cert = tls_key = tls_ca = NULL;
	tls_cert_len = tls_key_len = tls_ca_len = 0;
	if (c->tls_cert[0] != '\0' &&
	    (tls_cert = tls_load_file(c->tls_cert, &tls_cert_len,
	    NULL)) == NULL)
		fatalx("cannot load %s", c->tls_cert);
	if (c->tls_key[0] != '\0' &&
	    (tls_key = tls_load_file(c->tls_key, &tls_key_len, NULL)) == NULL)
		fatalx("cannot load %s", c->tls_key);
	if (c->tls_ca[0] != '\0' &&
	    (tls_ca = tls_load_file(c->tls_ca, &tls_ca_len, NULL)) == NULL)
		fatalx("cannot load %s", c->tls_ca);
	/* the workers cannot read files: send the system's bundle */
	if (tls_ca == NULL && backend_verifies(c) &&
	    (tls_ca = tls_load_file(tls_default_ca_cert_file(), &tls_ca_len,
	    NULL)) == NULL)
		fatalx("cannot load %s", tls_default_ca_cert_file());
}

static void
child_start(struct child *c)
{
	struct service	*svc = NULL;
	char		*argv[8];
	int		 sp[2], argc = 0;
	pid_t		 pid;

	if (c->proc != PROC_FRONTEND)
		svc = &conf->services[c->proc - PROC_EXECD];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sp) == -1)
		fatal("socketpair");
	switch (pid = fork()) {
	case -1:
		fatal("fork");
	case 0:
		if (dup2(sp[1], IMAPX_PARENT_FD) == -1)
			fatal("dup2");
		if (c->proc == PROC_FRONTEND) {
			argv[argc++] = "imapxd: frontend";
			argv[argc++] = "-P";
			argv[argc++] = "frontend";
		} else {
			/* a service daemon: its own program and file */
			argv[argc++] = svc->program;
			argv[argc++] = "-f";
			argv[argc++] = svc->config;
		}
		if (debug)
			argv[argc++] = "-d";
		if (verbose > 0)
			argv[argc++] = verbose > 1 ? "-vv" : "-v";
		argv[argc] = NULL;
		execv(c->proc == PROC_FRONTEND ? selfpath : svc->program, argv);
		fatal("execv %s", argv[0]);
	default:
		break;
	}
	close(sp[1]);
	c->pid = pid;
	c->running = 1;
	c->started = time(NULL);
	if (imsgbuf_init(&c->ibuf, sp[0]) == -1)
		fatal("imsgbuf_init");
	imsgbuf_allow_fdpass(&c->ibuf);
	event_set(&c->ev, sp[0], EV_READ | EV_PERSIST, child_dispatch, c);
	event_add(&c->ev, NULL);
	if (c->proc == PROC_FRONTEND)
		child_send_conf(c);
	channels_connect(c);
	log_debug("started %s %u, pid %d", procname(c), c->instance,
	    (int)pid);
}

/*
 * Every frontend worker has its own socketpair to every service daemon.
 * When either end (re)starts, it gets fresh pairs to all running peers;
 * the surviving peer sees the old channel close and answers what was in
 * flight on it with NO [UNAVAILABLE].
 */
static void
channels_connect(struct child *c)
{
	unsigned int	i;

	if (c->proc == PROC_FRONTEND) {
		for (i = PROC_FRONTEND + 1; i < PROC_MAX; i++)
			if (services[i].running)
				channel_pair(c, &services[i]);
	} else {
		for (i = 0; i < nworkers; i++)
			if (workers[i].running)
				channel_pair(&workers[i], c);
	}
}

static void
channel_pair(struct child *fe, struct child *sv)
{
	struct imsg_peer	peer;
	int			sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sp) == -1) {
		log_warn("socketpair for %u/%u", fe->instance, sv->proc);
		return;
	}
	peer.proc = sv->proc;
	peer.instance = 0;
	if (imsg_compose(&fe->ibuf, IMSG_PEER_CHANNEL, 0, 0, sp[0], &peer,
	    sizeof(peer)) == -1)
		fatal("imsg_compose");
	peer.proc = PROC_FRONTEND;
	peer.instance = fe->instance;
	if (imsg_compose(&sv->ibuf, IMSG_PEER_CHANNEL, 0, 0, sp[1], &peer,
	    sizeof(peer)) == -1)
		fatal("imsg_compose");
	child_update(fe);
	child_update(sv);
}

static void
child_restart_cb(int fd, short event, void *arg)
{
	struct child	*c = arg;

	if (!shutting_down)
		child_start(c);
}

static void
send_chunks(struct child *c, uint32_t type, const uint8_t *p, size_t len)
{
	size_t	n;

	while (len > 0) {
		n = len > IMAPX_CHUNK_MAX ? IMAPX_CHUNK_MAX : len;
		if (imsg_compose(&c->ibuf, type, 0, 0, -1, p, n) == -1)
			fatal("imsg_compose");
		p += n;
		len -= n;
	}
}

static void
child_send_conf(struct child *c)
{
	struct imsg_conf	 ic;
	struct imsg_listener	 il;
	struct backend		*be;
	struct listener		*l;
	int			 fd, i;

	memset(&ic, 0, sizeof(ic));
	ic.limits = conf->limits;
	strlcpy(ic.user, conf->user, sizeof(ic.user));
	strlcpy(ic.chroot, conf->chroot, sizeof(ic.chroot));
	strlcpy(ic.domain, conf->domain, sizeof(ic.domain));
	ic.worker = c->instance;
	ic.services = 0;
	for (i = 0; i < SVC_MAX; i++)
		if (conf->services[i].enabled)
			ic.services |= 1 << (PROC_EXECD + i);
	ic.have_tls = tls_cert != NULL;
	if (imsg_compose(&c->ibuf, IMSG_CONF_START, 0, 0, -1, &ic,
	    sizeof(ic)) == -1)
		fatal("imsg_compose");
	TAILQ_FOREACH(be, &conf->backends, entry)
		if (imsg_compose(&c->ibuf, IMSG_CONF_BACKEND, 0, 0, -1, be,
		    sizeof(*be)) == -1)
			fatal("imsg_compose");
	send_chunks(c, IMSG_CONF_TLS_CERT, tls_cert, tls_cert_len);
	send_chunks(c, IMSG_CONF_TLS_KEY, tls_key, tls_key_len);
	send_chunks(c, IMSG_CONF_TLS_CA, tls_ca, tls_ca_len);
	TAILQ_FOREACH(l, &conf->listeners, entry) {
		if (l->fd == -1)
			continue;
		if ((fd = dup(l->fd)) == -1)
			fatal("dup");
		memset(&il, 0, sizeof(il));
		il.flags = l->flags;
		strlcpy(il.name, l->name, sizeof(il.name));
		if (imsg_compose(&c->ibuf, IMSG_CONF_LISTENER, 0, 0, fd, &il,
		    sizeof(il)) == -1)
			fatal("imsg_compose");
	}
	if (imsg_compose(&c->ibuf, IMSG_CONF_END, 0, 0, -1, NULL, 0) == -1)
		fatal("imsg_compose");
	child_update(c);
}

static void
child_update(struct child *c)
{
	short	events = EV_READ | EV_PERSIST;

	if (imsgbuf_write(&c->ibuf) == -1 && errno != EAGAIN && errno != EPIPE)
		log_warn("imsgbuf_write to frontend %u", c->instance);
	if (imsgbuf_queuelen(&c->ibuf) > 0)
		events |= EV_WRITE;
	if (event_initialized(&c->ev) && event_get_events(&c->ev) == events &&
	    event_pending(&c->ev, EV_READ, NULL))
		return;		/* re-arming costs two epoll_ctl calls */
	event_del(&c->ev);
	event_set(&c->ev, c->ibuf.fd, events, child_dispatch, c);
	event_add(&c->ev, NULL);
}

static void
reply(struct child *c, uint32_t type, uint64_t id, const char *reason)
{
	struct imsg_conn_reply	r;

	memset(&r, 0, sizeof(r));
	r.id = id;
	if (reason != NULL)
		strlcpy(r.reason, reason, sizeof(r.reason));
	if (imsg_compose(&c->ibuf, type, 0, 0, -1, &r, sizeof(r)) == -1)
		fatal("imsg_compose");
}

/* Everything a worker says, checked as if the worker were hostile. */
static void
child_dispatch(int fd, short event, void *arg)
{
	struct child		*c = arg;
	struct imsg		 imsg;
	struct imsg_conn	 ic;
	struct imsg_conn_id	 cid;
	struct imsg_user	 iu;
	ssize_t			 n;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(&c->ibuf)) == -1 || n == 0) {
			child_gone(c);
			return;
		}
	}
	if (event & EV_WRITE) {
		if (imsgbuf_write(&c->ibuf) == -1 && errno != EAGAIN) {
			child_gone(c);
			return;
		}
	}
	for (;;) {
		if ((n = imsg_get(&c->ibuf, &imsg)) == -1) {
			log_warnx("frontend %u: bad imsg", c->instance);
			child_gone(c);
			return;
		}
		if (n == 0)
			break;
		switch (imsg_get_type(&imsg)) {
		case IMSG_CONN_OPEN:
			if (imsg_get_data(&imsg, &ic, sizeof(ic)) == -1)
				goto bad;
			acct_open(c, &ic);
			break;
		case IMSG_USER_LOGIN:
			if (imsg_get_data(&imsg, &iu, sizeof(iu)) == -1 ||
			    memchr(iu.user, '\0', sizeof(iu.user)) == NULL)
				goto bad;
			acct_user(c, &iu);
			break;
		case IMSG_CONN_CLOSE:
			if (imsg_get_data(&imsg, &cid, sizeof(cid)) == -1)
				goto bad;
			acct_close(c->instance, cid.id);
			break;
		default:
 bad:
			log_warnx("frontend %u: unexpected or malformed imsg %u",
			    c->instance, imsg_get_type(&imsg));
			imsg_free(&imsg);
			child_gone(c);
			return;
		}
		imsg_free(&imsg);
	}
	child_update(c);
}

/* A channel closed or lied: kill the worker; SIGCHLD restarts it. */
static void
child_gone(struct child *c)
{
	if (!c->running)
		return;
	event_del(&c->ev);
	imsgbuf_clear(&c->ibuf);
	close(c->ibuf.fd);
	c->ibuf.fd = -1;
	if (c->proc == PROC_FRONTEND)
		acct_worker_gone(c->instance);
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
}

static const char *
procname(struct child *c)
{
	static const char *names[PROC_MAX] = {
		"parent", "frontend", "execd", "submitd", "notifyd"
	};

	return names[c->proc];
}

static struct child *
child_by_pid(pid_t pid)
{
	unsigned int	i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].pid == pid)
			return &workers[i];
	for (i = PROC_EXECD; i < PROC_MAX; i++)
		if (services[i].pid == pid)
			return &services[i];
	return NULL;
}

static void
reap(void)
{
	struct timeval	 tv;
	struct child	*c;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((c = child_by_pid(pid)) == NULL)
			continue;
		if (WIFSIGNALED(status))
			log_warnx("%s %u (pid %d) killed by signal %d",
			    procname(c), c->instance, (int)pid,
			    WTERMSIG(status));
		else
			log_warnx("%s %u (pid %d) exited with status %d",
			    procname(c), c->instance, (int)pid,
			    WEXITSTATUS(status));
		child_gone(c);
		c->running = 0;
		c->pid = 0;
		if (shutting_down)
			continue;
		/* back off if it keeps dying; a long life resets that */
		if (time(NULL) - c->started >= STABLE_SECS)
			c->backoff_ms = BACKOFF_MIN_MS;
		tv.tv_sec = c->backoff_ms / 1000;
		tv.tv_usec = (c->backoff_ms % 1000) * 1000;
		c->restarts++;
		c->backoff_ms *= 2;
		if (c->backoff_ms > BACKOFF_MAX_MS)
			c->backoff_ms = BACKOFF_MAX_MS;
		evtimer_add(&c->restart, &tv);
	}
}

static void
parent_sig(int sig, short event, void *arg)
{
	switch (sig) {
	case SIGHUP:
		log_info("reloading %s", conffile);
		(void)reload(NULL, 0);
		break;
	case SIGTERM:
	case SIGINT:
		shutdown_all();
		break;
	case SIGCHLD:
		reap();
		break;
	default:
		break;
	}
}

/*
 * SIGHUP: parse again; on success swap the configuration in and send it
 * to every worker.  Sessions already established go on unchanged; user,
 * chroot and prefork take effect at the next start of imapxd.
 */
static int
reload(char *why, size_t whylen)
{
	struct imapxd_conf	*nconf;
	unsigned int		 i;

	if ((nconf = parse_config(conffile)) == NULL) {
		log_warnx("reload failed, keeping the running configuration");
		if (why != NULL)
			snprintf(why, whylen, "%s has errors, see the log; "
			    "the running configuration stays", conffile);
		return -1;
	}
	listeners_open(nconf, conf);
	strlcpy(nconf->user, conf->user, sizeof(nconf->user));
	strlcpy(nconf->chroot, conf->chroot, sizeof(nconf->chroot));
	config_free(conf);
	conf = nconf;
	tls_files_load(conf);
	for (i = 0; i < nworkers; i++)
		if (workers[i].running)
			child_send_conf(&workers[i]);
	log_info("configuration reloaded");
	return 0;
}

static int
ctl_reload(char *why, size_t whylen)
{
	log_info("reload requested on the control socket");
	return reload(why, whylen);
}

static void
ctl_status(void *client)
{
	struct imsg_ctl_proc	p;
	unsigned int		i;

	for (i = 0; i < nworkers; i++) {
		memset(&p, 0, sizeof(p));
		p.proc = PROC_FRONTEND;
		p.instance = i;
		p.pid = workers[i].running ? workers[i].pid : -1;
		p.restarts = workers[i].restarts;
		p.sessions = workers[i].sessions;
		control_reply(client, IMSG_CTL_PROC, &p, sizeof(p));
	}
	for (i = PROC_FRONTEND + 1; i < PROC_MAX; i++) {
		if (!services[i].running)
			continue;
		memset(&p, 0, sizeof(p));
		p.proc = i;
		p.pid = services[i].pid;
		p.restarts = services[i].restarts;
		control_reply(client, IMSG_CTL_PROC, &p, sizeof(p));
	}
}

static void
shutdown_all(void)
{
	unsigned int	 i;
	int		 left, status;
	struct timespec	 ts = { 0, 50 * 1000 * 1000 };

	shutting_down = 1;
	log_info("stopping");
	control_cleanup();
	for (i = 0; i < nworkers; i++)
		if (workers[i].running && workers[i].pid > 0)
			kill(workers[i].pid, SIGTERM);
	for (i = PROC_EXECD; i < PROC_MAX; i++)
		if (services[i].running && services[i].pid > 0)
			kill(services[i].pid, SIGTERM);
	for (left = 100; left > 0; left--) {
		while (waitpid(-1, &status, WNOHANG) > 0)
			;
		if (waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD)
			break;
		nanosleep(&ts, NULL);
	}
	exit(0);
}

/* Connection accounting across all workers. */

static int
acct_cmp(struct acct *a, struct acct *b)
{
	if (a->worker != b->worker)
		return a->worker < b->worker ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int
counter_cmp(struct counter *a, struct counter *b)
{
	if (a->keylen != b->keylen)
		return a->keylen < b->keylen ? -1 : 1;
	return memcmp(a->key, b->key, a->keylen);
}

static struct counter *
counter_get(struct countertree *t, const void *key, size_t keylen)
{
	struct counter	*k, *c;

	if ((k = calloc(1, sizeof(*k) + keylen)) == NULL)
		fatal("%s", __func__);
	k->keylen = keylen;
	memcpy(k->key, key, keylen);
	if ((c = RB_FIND(countertree, t, k)) != NULL) {
		free(k);
		return c;
	}
	RB_INSERT(countertree, t, k);
	return k;
}

static void
counter_put(struct countertree *t, struct counter *c)
{
	if (c == NULL)
		return;
	if (--c->n == 0) {
		RB_REMOVE(countertree, t, c);
		free(c);
	}
}

static size_t
addr_key(struct sockaddr_storage *ss, const void **key)
{
	if (ss->ss_family == AF_INET) {
		*key = &((struct sockaddr_in *)ss)->sin_addr;
		return sizeof(struct in_addr);
	}
	if (ss->ss_family == AF_INET6) {
		*key = &((struct sockaddr_in6 *)ss)->sin6_addr;
		return sizeof(struct in6_addr);
	}
	*key = "";
	return 0;
}

static void
acct_open(struct child *c, struct imsg_conn *ic)
{
	struct acct	*a;
	struct counter	*ca;
	const void	*key;
	size_t		 keylen;

	keylen = addr_key(&ic->addr, &key);
	if (nconns >= conf->limits.max_conns) {
		reply(c, IMSG_CONN_REFUSE, ic->id,
		    "[UNAVAILABLE] Too many connections, try later");
		return;
	}
	ca = counter_get(&byaddr, key, keylen);
	if (ca->n >= conf->limits.max_conns_addr) {
		if (ca->n == 0) {
			RB_REMOVE(countertree, &byaddr, ca);
			free(ca);
		}
		reply(c, IMSG_CONN_REFUSE, ic->id,
		    "[UNAVAILABLE] Too many connections from your address");
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("%s", __func__);
	a->worker = c->instance;
	a->id = ic->id;
	a->byaddr = ca;
	ca->n++;
	nconns++;
	c->sessions++;
	if (RB_INSERT(accttree, &accts, a) != NULL) {
		/* a worker reusing a live id is broken */
		counter_put(&byaddr, ca);
		nconns--;
		c->sessions--;
		free(a);
		child_gone(c);
		return;
	}
	reply(c, IMSG_CONN_ACCEPT, ic->id, NULL);
}

static void
acct_user(struct child *c, struct imsg_user *iu)
{
	struct acct	 key, *a;
	struct counter	*cu;

	key.worker = c->instance;
	key.id = iu->id;
	if ((a = RB_FIND(accttree, &accts, &key)) == NULL || a->byuser != NULL) {
		reply(c, IMSG_USER_REFUSE, iu->id, "Session unknown");
		return;
	}
	cu = counter_get(&byuser, iu->user, strlen(iu->user));
	if (cu->n >= conf->limits.max_user_sessions) {
		if (cu->n == 0) {
			RB_REMOVE(countertree, &byuser, cu);
			free(cu);
		}
		reply(c, IMSG_USER_REFUSE, iu->id,
		    "Too many sessions for this user");
		return;
	}
	cu->n++;
	a->byuser = cu;
	reply(c, IMSG_USER_ACCEPT, iu->id, NULL);
}

static void
acct_free(struct acct *a)
{
	if (a->worker < nworkers)
		workers[a->worker].sessions--;
	RB_REMOVE(accttree, &accts, a);
	counter_put(&byaddr, a->byaddr);
	counter_put(&byuser, a->byuser);
	nconns--;
	free(a);
}

static void
acct_close(unsigned int worker, uint64_t id)
{
	struct acct	key, *a;

	key.worker = worker;
	key.id = id;
	if ((a = RB_FIND(accttree, &accts, &key)) != NULL)
		acct_free(a);
}

static void
acct_worker_gone(unsigned int worker)
{
	struct acct	*a, *next;

	RB_FOREACH_SAFE(a, accttree, &accts, next)
		if (a->worker == worker)
			acct_free(a);
}
