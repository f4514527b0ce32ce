/*
 * imapxd frontend: one of N prefork workers.  It receives its
 * configuration and the listening sockets from the parent, chroots,
 * drops to the unprivileged user, enters its sandbox ("stdio inet
 * recvfd") and only then accepts a client.  It is the only process that
 * reads bytes from the network: TLS, the IMAP parsers, the backend
 * connections and the sessions all live here.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <event.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <tls.h>
#include <unistd.h>

#include "chan.h"
#include "frontend.h"
#include "imapxd.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"
#include "privdrop.h"
#include "sandbox.h"

struct fe_listener {
	TAILQ_ENTRY(fe_listener) entry;
	int			 fd;
	int			 flags;
	char			 name[128];
	struct event		 ev;
	struct event		 pause;
};
TAILQ_HEAD(fe_listenerlist, fe_listener);

struct imsgbuf			*ibuf_parent;
static struct imsgbuf		 parent_ibuf;
static struct event		 parent_ev;
static struct fe_conf		*conf;		/* current */
static struct fe_conf		*nconf;		/* being received */
static struct fe_listenerlist	 listeners = TAILQ_HEAD_INITIALIZER(listeners);
static struct fe_listenerlist	 nlisteners = TAILQ_HEAD_INITIALIZER(nlisteners);
static struct buf		 tls_cert, tls_key, tls_ca;
static struct sessiontree	 sessions = RB_INITIALIZER(&sessions);
static uint64_t			 session_seq;
static struct imsg_conf		 firstconf;
static int			 configured;

/* Channels to the service daemons, handed over by the parent. */
struct fe_service {
	struct chan			 chan;
	const struct fe_service_ops	*ops;
};
static struct fe_service	 services[PROC_MAX];

static void	dispatch_parent(int, short, void *);
static void	parent_imsg(struct imsg *);
static void	parent_update(void);
static void	conf_end(void);
static void	listener_accept(int, short, void *);
static void	listener_resume(int, short, void *);
static void	session_new(int, struct sockaddr_storage *, socklen_t,
		    struct fe_listener *);
static void	session_accounted(uint64_t, int, const char *);
static void	session_timeout(int, short, void *);
static void	session_free_cb(int, short, void *);
static void	session_drained(struct conn *, void *);
static void	frontend_sig(int, short, void *);
static void	service_dispatch(struct chan *, struct imsg *);
static void	service_writable(struct chan *);
static void	service_closed(struct chan *);

RB_GENERATE(sessiontree, session, node, session_cmp);

int
session_cmp(struct session *a, struct session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

void
frontend(int debug, int verbose)
{
	struct event	 ev_term, ev_int, ev_hup, ev_pipe;
	struct passwd	*pw;
	struct imsg	 imsg;
	struct pollfd	 pfd;
	ssize_t		 n;

	log_init(debug, LOG_MAIL);
	log_setverbose(verbose);
	log_procinit("frontend");
	if (tls_init() == -1)
		fatalx("tls_init");
	if (sodium_init() == -1)
		fatalx("sodium_init");
	event_init();

	if ((ibuf_parent = &parent_ibuf, imsgbuf_init(ibuf_parent,
	    IMAPX_PARENT_FD)) == -1)
		fatal("imsgbuf_init");
	imsgbuf_allow_fdpass(ibuf_parent);

	/* The first configuration arrives before we give anything up. */
	pfd.fd = IMAPX_PARENT_FD;
	pfd.events = POLLIN;
	while (!configured) {
		if (poll(&pfd, 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if ((n = imsgbuf_read(ibuf_parent)) == -1)
			fatal("imsgbuf_read");
		if (n == 0)
			fatalx("parent closed the channel");
		while (!configured) {
			if ((n = imsg_get(ibuf_parent, &imsg)) == -1)
				fatal("imsg_get");
			if (n == 0)
				break;
			parent_imsg(&imsg);
			imsg_free(&imsg);
		}
	}

	if ((pw = getpwnam(firstconf.user)) == NULL)
		fatalx("unknown user %s", firstconf.user);
	privdrop(pw, firstconf.chroot);
	/* die with the parent; set after the uid change, which clears it */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
		fatal("prctl");
	if (getppid() == 1)
		fatalx("parent went away");
	sandbox_enter(FRONTEND_PROMISES);
	log_debug("worker %u ready", firstconf.worker);

	xexec_register();
	submit_register();

	signal_set(&ev_term, SIGTERM, frontend_sig, NULL);
	signal_set(&ev_int, SIGINT, frontend_sig, NULL);
	signal_set(&ev_hup, SIGHUP, frontend_sig, NULL);
	signal_set(&ev_pipe, SIGPIPE, frontend_sig, NULL);
	signal_add(&ev_term, NULL);
	signal_add(&ev_int, NULL);
	signal_add(&ev_hup, NULL);
	signal_add(&ev_pipe, NULL);

	event_set(&parent_ev, IMAPX_PARENT_FD, EV_READ | EV_PERSIST,
	    dispatch_parent, NULL);
	event_add(&parent_ev, NULL);
	/* sessions accepted from here on; imsgs already queued first */
	while ((n = imsg_get(ibuf_parent, &imsg)) > 0) {
		parent_imsg(&imsg);
		imsg_free(&imsg);
	}
	event_dispatch();
	exit(0);
}

static void
frontend_sig(int sig, short event, void *arg)
{
	struct session	*s, *next;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		/* a last word to every client, as far as its socket takes it */
		RB_FOREACH_SAFE(s, sessiontree, &sessions, next) {
			if (s->state == S_CLOSING ||
			    (s->state == S_PROXY && s->rs != RS_START))
				continue;	/* never inside a response */
			conn_queuef(&s->client, "* BYE Server shutting down\r\n");
			conn_flush(&s->client);
		}
		exit(0);
	default:
		break;		/* SIGHUP: the parent sends config; SIGPIPE */
	}
}

/* Send to the parent; flush now, the channel is almost never full. */
static void
parent_compose(uint32_t type, const void *data, size_t len)
{
	if (imsg_compose(ibuf_parent, type, 0, 0, -1, data, len) == -1)
		fatal("imsg_compose");
	parent_update();
}

static void
parent_update(void)
{
	short	events = EV_READ;

	if (imsgbuf_write(ibuf_parent) == -1 && errno != EAGAIN)
		fatal("imsgbuf_write");
	if (imsgbuf_queuelen(ibuf_parent) > 0)
		events |= EV_WRITE;
	if (!configured)
		return;
	if (event_get_events(&parent_ev) == (events | EV_PERSIST))
		return;		/* re-arming costs two epoll_ctl calls */
	event_del(&parent_ev);
	event_set(&parent_ev, IMAPX_PARENT_FD, events | EV_PERSIST,
	    dispatch_parent, NULL);
	event_add(&parent_ev, NULL);
}

static void
dispatch_parent(int fd, short event, void *arg)
{
	struct imsg	imsg;
	ssize_t		n;

	if (event & EV_READ) {
		if ((n = imsgbuf_read(ibuf_parent)) == -1)
			fatal("imsgbuf_read");
		if (n == 0) {
			log_debug("parent went away");
			exit(0);
		}
	}
	if (event & EV_WRITE) {
		if (imsgbuf_write(ibuf_parent) == -1 && errno != EAGAIN)
			fatal("imsgbuf_write");
	}
	for (;;) {
		if ((n = imsg_get(ibuf_parent, &imsg)) == -1)
			fatal("imsg_get");
		if (n == 0)
			break;
		parent_imsg(&imsg);
		imsg_free(&imsg);
	}
	parent_update();
}

static void
chunk_append(struct buf *b, struct imsg *imsg)
{
	struct ibuf	ib;

	if (imsg_get_ibuf(imsg, &ib) == -1 ||
	    buf_append(b, ibuf_data(&ib), ibuf_size(&ib)) == -1)
		fatal("%s", __func__);
}

static void
parent_imsg(struct imsg *imsg)
{
	struct imsg_conf	 ic;
	struct imsg_listener	 il;
	struct imsg_conn_reply	 rep;
	struct backend		*be;
	struct fe_listener	*l;
	struct session		 key, *s;
	struct imsg_peer	 peer;
	int			 fd;

	switch (imsg_get_type(imsg)) {
	case IMSG_CONF_START:
		if (imsg_get_data(imsg, &ic, sizeof(ic)) == -1)
			fatalx("bad IMSG_CONF_START");
		ic.domain[sizeof(ic.domain) - 1] = '\0';
		ic.user[sizeof(ic.user) - 1] = '\0';
		ic.chroot[sizeof(ic.chroot) - 1] = '\0';
		if (!configured)
			firstconf = ic;
		if (nconf != NULL)
			fe_conf_unref(nconf);
		if ((nconf = calloc(1, sizeof(*nconf))) == NULL)
			fatal("%s", __func__);
		nconf->refcnt = 1;
		nconf->limits = ic.limits;
		strlcpy(nconf->domain, ic.domain, sizeof(nconf->domain));
		nconf->services = ic.services;
		TAILQ_INIT(&nconf->backends);
		buf_free(&tls_cert, 0);
		buf_free(&tls_key, 1);
		buf_free(&tls_ca, 0);
		break;
	case IMSG_CONF_BACKEND:
		if (nconf == NULL)
			fatalx("IMSG_CONF_BACKEND out of order");
		if ((be = calloc(1, sizeof(*be))) == NULL)
			fatal("%s", __func__);
		if (imsg_get_data(imsg, be, sizeof(*be)) == -1)
			fatalx("bad IMSG_CONF_BACKEND");
		be->host[sizeof(be->host) - 1] = '\0';
		be->domain[sizeof(be->domain) - 1] = '\0';
		be->name[sizeof(be->name) - 1] = '\0';
		if (be->sslen > sizeof(be->ss))
			fatalx("bad IMSG_CONF_BACKEND address");
		TAILQ_INSERT_TAIL(&nconf->backends, be, entry);
		break;
	case IMSG_CONF_TLS_CERT:
		chunk_append(&tls_cert, imsg);
		break;
	case IMSG_CONF_TLS_KEY:
		chunk_append(&tls_key, imsg);
		break;
	case IMSG_CONF_TLS_CA:
		chunk_append(&tls_ca, imsg);
		break;
	case IMSG_CONF_LISTENER:
		if (imsg_get_data(imsg, &il, sizeof(il)) == -1 ||
		    (fd = imsg_get_fd(imsg)) == -1)
			fatalx("bad IMSG_CONF_LISTENER");
		if ((l = calloc(1, sizeof(*l))) == NULL)
			fatal("%s", __func__);
		l->fd = fd;
		l->flags = il.flags;
		il.name[sizeof(il.name) - 1] = '\0';
		strlcpy(l->name, il.name, sizeof(l->name));
		TAILQ_INSERT_TAIL(&nlisteners, l, entry);
		break;
	case IMSG_CONF_END:
		if (nconf == NULL)
			fatalx("IMSG_CONF_END out of order");
		conf_end();
		break;
	case IMSG_PEER_CHANNEL:
		if (imsg_get_data(imsg, &peer, sizeof(peer)) == -1 ||
		    (fd = imsg_get_fd(imsg)) == -1 || peer.proc <= PROC_FRONTEND ||
		    peer.proc >= PROC_MAX)
			fatalx("bad IMSG_PEER_CHANNEL");
		fe_service_channel(peer.proc, fd);
		break;
	case IMSG_CONN_ACCEPT:
	case IMSG_CONN_REFUSE:
	case IMSG_USER_ACCEPT:
	case IMSG_USER_REFUSE:
		if (imsg_get_data(imsg, &rep, sizeof(rep)) == -1)
			fatalx("bad accounting reply");
		rep.reason[sizeof(rep.reason) - 1] = '\0';
		key.id = rep.id;
		if ((s = RB_FIND(sessiontree, &sessions, &key)) == NULL)
			break;		/* gone meanwhile */
		if (imsg_get_type(imsg) == IMSG_CONN_ACCEPT ||
		    imsg_get_type(imsg) == IMSG_CONN_REFUSE)
			session_accounted(rep.id,
			    imsg_get_type(imsg) == IMSG_CONN_ACCEPT, rep.reason);
		else
			login_user_reply(s, imsg_get_type(imsg) ==
			    IMSG_USER_ACCEPT, rep.reason);
		break;
	default:
		log_warnx("%s: unexpected imsg %u", __func__,
		    imsg_get_type(imsg));
		break;
	}
}

/* Apply a complete configuration: TLS, then listeners, then swap. */
static void
conf_end(void)
{
	struct fe_listener	*l;

	if (tls_cert.len > 0 && tls_key.len > 0) {
		if ((nconf->tlscfg = tls_config_new()) == NULL)
			fatalx("tls_config_new");
		if (tls_config_set_keypair_mem(nconf->tlscfg,
		    (uint8_t *)tls_cert.data + tls_cert.off, tls_cert.len,
		    (uint8_t *)tls_key.data + tls_key.off, tls_key.len) == -1)
			fatalx("TLS keypair: %s", tls_config_error(nconf->tlscfg));
		if ((nconf->tlsctx = tls_server()) == NULL)
			fatalx("tls_server");
		if (tls_configure(nconf->tlsctx, nconf->tlscfg) == -1)
			fatalx("tls_configure: %s", tls_error(nconf->tlsctx));
	}
	/*
	 * Towards the backends: one configuration that verifies against the
	 * CA bundle the parent sent, one for backends marked noverify.
	 */
	if ((nconf->btlscfg = tls_config_new()) == NULL ||
	    (nconf->btlscfg_nv = tls_config_new()) == NULL)
		fatalx("tls_config_new");
	if (tls_ca.len > 0 && tls_config_set_ca_mem(nconf->btlscfg,
	    (uint8_t *)tls_ca.data + tls_ca.off, tls_ca.len) == -1)
		fatalx("TLS CA: %s", tls_config_error(nconf->btlscfg));
	tls_config_insecure_noverifycert(nconf->btlscfg_nv);
	tls_config_insecure_noverifyname(nconf->btlscfg_nv);
	buf_free(&tls_cert, 0);
	buf_free(&tls_key, 1);
	buf_free(&tls_ca, 0);

	/* Established sessions keep the configuration they started with. */
	if (conf != NULL)
		fe_conf_unref(conf);
	conf = nconf;
	nconf = NULL;

	while ((l = TAILQ_FIRST(&listeners)) != NULL) {
		TAILQ_REMOVE(&listeners, l, entry);
		if (event_initialized(&l->ev))
			event_del(&l->ev);
		if (event_initialized(&l->pause))
			evtimer_del(&l->pause);
		close(l->fd);
		free(l);
	}
	while ((l = TAILQ_FIRST(&nlisteners)) != NULL) {
		TAILQ_REMOVE(&nlisteners, l, entry);
		TAILQ_INSERT_TAIL(&listeners, l, entry);
	}
	configured = 1;
	TAILQ_FOREACH(l, &listeners, entry) {
		event_set(&l->ev, l->fd, EV_READ | EV_PERSIST, listener_accept,
		    l);
		evtimer_set(&l->pause, listener_resume, l);
		event_add(&l->ev, NULL);
	}
}

void
fe_conf_unref(struct fe_conf *c)
{
	struct backend	*be;

	if (--c->refcnt > 0)
		return;
	while ((be = TAILQ_FIRST(&c->backends)) != NULL) {
		TAILQ_REMOVE(&c->backends, be, entry);
		free(be);
	}
	tls_free(c->tlsctx);
	tls_config_free(c->tlscfg);
	tls_config_free(c->btlscfg);
	tls_config_free(c->btlscfg_nv);
	free(c);
}

const char *
fe_caps_extra(struct session *s)
{
	static char	extra[64];

	extra[0] = '\0';
	if (s->conf->services & (1 << PROC_EXECD))
		strlcat(extra, extra[0] ? " XEXEC" : "XEXEC", sizeof(extra));
	if (s->conf->services & (1 << PROC_SUBMITD))
		strlcat(extra, extra[0] ? " CAN-SUBMIT" : "CAN-SUBMIT",
		    sizeof(extra));
	if (s->conf->services & (1 << PROC_NOTIFYD))
		strlcat(extra, extra[0] ? " NOTIFY" : "NOTIFY", sizeof(extra));
	return extra;
}

static void
listener_resume(int fd, short event, void *arg)
{
	struct fe_listener	*l = arg;

	event_add(&l->ev, NULL);
}

static void
listener_accept(int fd, short event, void *arg)
{
	struct fe_listener	*l = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { 1, 0 };
	socklen_t		 sslen;
	int			 cfd, i;

	/* a few at a time: the other workers share this socket */
	for (i = 0; i < 16; i++) {
		sslen = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept on %s", l->name);
				event_del(&l->ev);
				evtimer_add(&l->pause, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s", l->name);
			return;
		}
		session_new(cfd, &ss, sslen, l);
	}
}

static void
session_new(int fd, struct sockaddr_storage *ss, socklen_t sslen,
    struct fe_listener *l)
{
	struct session		*s;
	struct imsg_conn	 ic;
	socklen_t		 len;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("%s", __func__);
		close(fd);
		return;
	}
	s->id = ++session_seq;
	s->conf = conf;
	conf->refcnt++;
	s->lflags = l->flags;
	memcpy(&s->addr, ss, sslen);
	len = sizeof(s->laddr);
	(void)getsockname(fd, (struct sockaddr *)&s->laddr, &len);
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr,
		    s->addrstr, sizeof(s->addrstr));
		s->port = ntohs(((struct sockaddr_in *)ss)->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr,
		    s->addrstr, sizeof(s->addrstr));
		s->port = ntohs(((struct sockaddr_in6 *)ss)->sin6_port);
	}
	conn_setnodelay(fd);
	conn_init(&s->client, fd, NULL, s);
	conn_init(&s->backend, -1, NULL, s);
	evtimer_set(&s->timer, session_timeout, s);
	RB_INSERT(sessiontree, &sessions, s);

	/* The parent counts connections across all workers. */
	s->state = S_ACCOUNT;
	s->accounted = 1;
	memset(&ic, 0, sizeof(ic));
	ic.id = s->id;
	memcpy(&ic.addr, ss, sslen);
	parent_compose(IMSG_CONN_OPEN, &ic, sizeof(ic));
}

static void
session_accounted(uint64_t id, int ok, const char *reason)
{
	struct session	key, *s;

	key.id = id;
	if ((s = RB_FIND(sessiontree, &sessions, &key)) == NULL ||
	    s->state != S_ACCOUNT)
		return;
	if (!ok) {
		s->accounted = 0;
		log_info("connection from %s refused: %s", s->addrstr, reason);
		session_close(s, reason);
		return;
	}
	login_start(s);
}

void
session_timer_reset(struct session *s)
{
	struct timeval	tv;

	tv.tv_usec = 0;
	tv.tv_sec = s->state == S_PROXY ? s->conf->limits.idle_timeout :
	    s->conf->limits.login_timeout;
	evtimer_add(&s->timer, &tv);
}

static void
session_timeout(int fd, short event, void *arg)
{
	struct session	*s = arg;

	log_info("session %llu: %s timeout", (unsigned long long)s->id,
	    s->state == S_PROXY ? "idle" : "login");
	session_close(s, s->state == S_PROXY ?
	    "Autologout; idle for too long" : "Login timeout");
}

/*
 * End a session: say BYE if there is something to say, drop the backend,
 * let the client's output drain (bounded), then free from the event loop
 * so that no caller up the stack touches a freed session.
 */
void
session_close(struct session *s, const char *bye)
{
	struct imsg_conn_id	 cid;
	struct timeval		 tv = { 5, 0 };

	if (s->state == S_CLOSING)
		return;
	log_debug("session %llu: closing%s%s", (unsigned long long)s->id,
	    bye ? ": " : "", bye ? bye : "");
	if (bye != NULL && s->client.fd != -1)
		conn_queuef(&s->client, "* BYE %s\r\n", bye);
	proxy_free(s);
	login_free(s);
	s->state = S_CLOSING;
	conn_close(&s->backend);
	/* from here the timer frees the session; set it before any flush */
	evtimer_del(&s->timer);
	evtimer_set(&s->timer, session_free_cb, s);
	if (s->accounted) {
		cid.id = s->id;
		parent_compose(IMSG_CONN_CLOSE, &cid, sizeof(cid));
		s->accounted = 0;
	}
	s->client.flags |= CONN_PAUSED;
	s->client.on_read = session_drained;
	s->client.on_drain = session_drained;
	conn_flush(&s->client);
	if (s->client.fd != -1 && conn_outlen(&s->client) > 0 &&
	    !(s->client.flags & CONN_ERROR)) {
		evtimer_add(&s->timer, &tv);
		return;
	}
	conn_close(&s->client);
	tv.tv_sec = 0;
	evtimer_add(&s->timer, &tv);
}

static void
session_drained(struct conn *c, void *arg)
{
	struct session	*s = arg;
	struct timeval	 tv = { 0, 0 };

	conn_close(&s->client);
	evtimer_add(&s->timer, &tv);
}

static void
session_free_cb(int fd, short event, void *arg)
{
	struct session	*s = arg;

	evtimer_del(&s->timer);
	conn_close(&s->client);
	conn_close(&s->backend);
	RB_REMOVE(sessiontree, &sessions, s);
	free(s->user);
	free(s->bcaps);
	fe_conf_unref(s->conf);
	free(s);
}

/*
 * A service daemon (re)started: the parent sends one end of a fresh
 * socketpair.  Nothing of the service's own passes descriptors to us.
 * Exported for the unit tests, which play the service on a socketpair.
 */
void
fe_service_channel(int proc, int fd)
{
	struct fe_service	*sv = &services[proc];

	/* a restarted service: what waited on the old one is answered */
	if (sv->chan.open) {
		chan_close(&sv->chan);
		service_closed(&sv->chan);
	}
	if (chan_init(&sv->chan, fd, sv->ops != NULL && sv->ops->fdpass,
	    service_dispatch, service_writable, service_closed, sv) == -1)
		fatal("%s", __func__);
	log_debug("service %u connected", proc);
}

static void
service_dispatch(struct chan *c, struct imsg *imsg)
{
	struct fe_service	*sv = c->arg;

	if (sv->ops != NULL && sv->ops->dispatch != NULL)
		sv->ops->dispatch(imsg);
	else
		log_warnx("%s: no handler for imsg %u", __func__,
		    imsg_get_type(imsg));
}

/* Credit came back: a service that sends in bulk may go on. */
static void
service_writable(struct chan *c)
{
	struct fe_service	*sv = c->arg;

	if (sv->ops != NULL && sv->ops->writable != NULL)
		sv->ops->writable();
}

/*
 * The service died: whatever waited on it is answered NO [UNAVAILABLE],
 * by the service's own hook if it has one (it may know better: a SUBMIT
 * may have been relayed already).
 */
static void
service_closed(struct chan *c)
{
	struct fe_service	*sv = c->arg;
	struct session		*s, *next;
	int			 proc = sv - services;

	log_warnx("service %d went away", proc);
	if (sv->ops != NULL && sv->ops->closed != NULL) {
		sv->ops->closed();
		return;
	}
	RB_FOREACH_SAFE(s, sessiontree, &sessions, next)
		if (s->local != NULL && s->local->ops->service == proc)
			lcmd_gone(s);
}

int
fe_service_up(int proc)
{
	return proc > PROC_FRONTEND && proc < PROC_MAX &&
	    services[proc].chan.open;
}

struct chan *
fe_service_chan(int proc)
{
	return fe_service_up(proc) ? &services[proc].chan : NULL;
}

void
fe_service_register(int proc, const struct fe_service_ops *ops)
{
	if (proc <= PROC_FRONTEND || proc >= PROC_MAX)
		fatalx("%s: bad service %d", __func__, proc);
	services[proc].ops = ops;
	if (ops->fdpass && services[proc].chan.open)
		imsgbuf_allow_fdpass(&services[proc].chan.ibuf);
}
