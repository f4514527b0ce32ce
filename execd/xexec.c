/*
 * execd's side of XEXEC (the frontend's is imapxd/xexec.c): one channel
 * per frontend worker (common/chan.c), the run id in each message's
 * peerid.  Every message is checked as if the frontend were compromised:
 * a malformed one closes the channel (and kills its runs); the policy is
 * execd's own, the frontend only names a user, a module and arguments.
 *
 *   LIST {user}			-> MODULE {name, descr} each, LIST_END
 *   START {user, module, nargs}, ARG x nargs, GO
 *					-> OUTPUT data..., DONE {end, status}
 *   INPUT data, EOF			   the module's stdin (interactive)
 *   CANCEL				   kill it; no DONE follows
 *
 * A refusal is a DONE with NOMODULE, BADARG or LIMIT, sent at GO, and
 * nothing runs.  The checks, in order: the module exists and the user may
 * run it (DESIGN: execd trusts no path or argument it is sent), the
 * argument count, each argument (length, NUL, control bytes, a leading
 * '-', the anchored pattern), then the rate per user and module in the
 * last minute and the concurrent runs per user, per module and in all.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/tree.h>
#include <sys/wait.h>

#include <errno.h>
#include <event.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "canon.h"
#include "chan.h"
#include "execd.h"
#include "imsg-types.h"
#include "log.h"
#include "policy.h"

#ifndef __unused
#define __unused	__attribute__((__unused__))
#endif

#define RATE_WINDOW	60	/* seconds: "rate" is runs per minute */

/* A module's compiled argument pattern. */
struct pattern {
	TAILQ_ENTRY(pattern)	 entry;
	struct module		*mod;
	regex_t			 re;
	int			 ok;
};

/*
 * The starts of one user's runs of one module in the last minute, by the
 * second (as the monotonic clock counts them): slot s % RATE_WINDOW holds
 * the runs of second s, so the size is the same whatever the "rate".
 */
struct rate {
	RB_ENTRY(rate)		 node;
	struct module		*mod;
	char			 user[IMAPX_USER_MAX];
	time_t			 sec[RATE_WINDOW];
	unsigned int		 runs[RATE_WINDOW];
	time_t			 last;		/* the latest start */
};
RB_HEAD(ratetree, rate);

static int	rate_cmp(struct rate *, struct rate *);
RB_GENERATE_STATIC(ratetree, rate, node, rate_cmp);

static struct execd_conf	*conf;
static struct xchanlist		 xchans = TAILQ_HEAD_INITIALIZER(xchans);
static TAILQ_HEAD(, pattern)	 patterns = TAILQ_HEAD_INITIALIZER(patterns);
static struct ratetree		 rates = RB_INITIALIZER(&rates);
static struct event		 ev_rates;

static void	 dispatch_frontend(struct chan *, struct imsg *);
static void	 xchan_writable(struct chan *);
static void	 xchan_closed(struct chan *);
static void	 xchan_fail(struct xchan *, const char *);
static void	 xchan_free(int, short, void *);
static void	 xexec_list(struct xchan *, struct imsg *);
static void	 xexec_start(struct xchan *, struct imsg *);
static void	 xexec_arg(struct xchan *, struct imsg *);
static void	 xexec_go(struct xchan *, struct imsg *);
static void	 xexec_input(struct xchan *, struct imsg *);
static void	 xexec_done(struct xchan *, uint32_t, int, int, const char *);
static struct run *run_find(struct xchan *, uint32_t);
static void	 run_refuse(struct run *, int, const char *);
static int	 user_canon(const char *, char *);
static int	 user_in_group(const char *, const char *);
static regex_t	*module_pattern(struct module *);
static int	 rate_check(struct module *, const char *, int);
static void	 rate_sweep(int, short, void *);

static int
rate_cmp(struct rate *a, struct rate *b)
{
	if (a->mod != b->mod)
		return a->mod < b->mod ? -1 : 1;
	return strcmp(a->user, b->user);
}

/*
 * Before the sandbox: compile every module's argument pattern once, so
 * that a bad one shows in the log at start rather than per run.
 */
void
fchan_init(struct execd_conf *c)
{
	struct timeval	 tv = { RATE_WINDOW, 0 };
	struct module	*m;

	conf = c;
	TAILQ_FOREACH(m, &conf->modules, entry)
		(void)module_pattern(m);
	evtimer_set(&ev_rates, rate_sweep, NULL);
	evtimer_add(&ev_rates, &tv);
}

/* A frontend worker's channel; descriptors never come over it. */
struct xchan *
fchan_open(int fd, uint32_t instance)
{
	struct xchan	*xc;

	if ((xc = calloc(1, sizeof(*xc))) == NULL)
		fatal("%s", __func__);
	TAILQ_INIT(&xc->runs);
	xc->instance = instance;
	if (chan_init(&xc->chan, fd, 0, dispatch_frontend, xchan_writable,
	    xchan_closed, xc) == -1)
		fatal("chan_init");
	TAILQ_INSERT_TAIL(&xchans, xc, entry);
	log_debug("frontend %u: channel open", instance);
	return xc;
}

/* Shutting down: no channel stays, every run is killed (run_shutdown). */
void
fchan_shutdown(void)
{
	struct xchan	*xc;
	struct run	*r, *next;

	TAILQ_FOREACH(xc, &xchans, entry) {
		TAILQ_FOREACH_SAFE(r, &xc->runs, entry, next) {
			if (r->state == RUN_ARGS) {
				TAILQ_REMOVE(&xc->runs, r, entry);
				run_free(r);
			} else
				run_detach(r);
		}
		chan_close(&xc->chan);
	}
}

static void
dispatch_frontend(struct chan *c, struct imsg *imsg)
{
	struct xchan	*xc = c->arg;
	struct run	*r;

	switch (imsg_get_type(imsg)) {
	case IMSG_XEXEC_LIST:
		xexec_list(xc, imsg);
		break;
	case IMSG_XEXEC_START:
		xexec_start(xc, imsg);
		break;
	case IMSG_XEXEC_ARG:
		xexec_arg(xc, imsg);
		break;
	case IMSG_XEXEC_GO:
		xexec_go(xc, imsg);
		break;
	case IMSG_XEXEC_INPUT:
		xexec_input(xc, imsg);
		break;
	case IMSG_XEXEC_EOF:
		if (imsg_get_len(imsg) != 0) {
			xchan_fail(xc, "bad IMSG_XEXEC_EOF");
			break;
		}
		if ((r = run_find(xc, imsg_get_id(imsg))) != NULL)
			run_eof(r);
		break;
	case IMSG_XEXEC_CANCEL:
		if (imsg_get_len(imsg) != 0) {
			xchan_fail(xc, "bad IMSG_XEXEC_CANCEL");
			break;
		}
		if ((r = run_find(xc, imsg_get_id(imsg))) == NULL)
			break;		/* ended meanwhile */
		if (r->state == RUN_ARGS) {
			TAILQ_REMOVE(&xc->runs, r, entry);
			xc->npending--;
			run_free(r);
			break;
		}
		run_detach(r);
		run_kill(r, XEXEC_SIGNALED, "cancelled");
		break;
	default:
		log_warnx("frontend %u: unexpected imsg %u", xc->instance,
		    imsg_get_type(imsg));
		xchan_fail(xc, "protocol error");
		break;
	}
}

static struct run *
run_find(struct xchan *xc, uint32_t id)
{
	struct run	*r;

	TAILQ_FOREACH(r, &xc->runs, entry)
		if (r->id == id)
			return r;
	return NULL;
}

/* user@domain from the frontend, made canonical again by our rule. */
static int
user_canon(const char *in, char *out)
{
	char	local[IMAPX_USER_MAX], domain[IMAPX_USER_MAX];

	if (canon_user(in, conf->domain, out, IMAPX_USER_MAX) == -1 ||
	    canon_split(out, local, sizeof(local), domain,
	    sizeof(domain)) == -1)
		return -1;
	return 0;
}

/*
 * Whether the canonical user may run the module (execd.conf.5, "allow"):
 * a user rule is a fnmatch(3) pattern on user@domain; a group rule a UNIX
 * group that the local account named by the user's local part belongs
 * to, as a member or by its primary group; no rule, nobody.
 */
int
policy_user_allowed(struct module *m, const char *user)
{
	int	i;

	for (i = 0; i < m->nwho && i < MODULE_WHO_MAX; i++) {
		switch (m->who[i].kind) {
		case WHO_ANY:
			return 1;
		case WHO_USER:
			if (fnmatch(m->who[i].pattern, user,
			    FNM_CASEFOLD) == 0)
				return 1;
			break;
		case WHO_GROUP:
			if (user_in_group(m->who[i].pattern, user))
				return 1;
			break;
		}
	}
	return 0;
}

static int
user_in_group(const char *group, const char *user)
{
	struct group	*gr;
	struct passwd	*pw;
	char		 local[IMAPX_USER_MAX], domain[IMAPX_USER_MAX];
	char		**mem;

	if (canon_split(user, local, sizeof(local), domain,
	    sizeof(domain)) == -1 || (gr = getgrnam(group)) == NULL)
		return 0;
	for (mem = gr->gr_mem; *mem != NULL; mem++)
		if (strcmp(*mem, local) == 0)
			return 1;
	return (pw = getpwnam(local)) != NULL && pw->pw_gid == gr->gr_gid;
}

static void
xexec_list(struct xchan *xc, struct imsg *imsg)
{
	struct imsg_xexec_user		 u;
	struct imsg_xexec_module	 mm;
	struct module			*m;
	char				 user[IMAPX_USER_MAX];

	if (imsg_get_data(imsg, &u, sizeof(u)) == -1 ||
	    memchr(u.user, '\0', sizeof(u.user)) == NULL) {
		xchan_fail(xc, "bad IMSG_XEXEC_LIST");
		return;
	}
	if (user_canon(u.user, user) == 0) {
		TAILQ_FOREACH(m, &conf->modules, entry) {
			if (!policy_user_allowed(m, user))
				continue;
			memset(&mm, 0, sizeof(mm));
			strlcpy(mm.name, m->name, sizeof(mm.name));
			strlcpy(mm.descr, m->descr, sizeof(mm.descr));
			mm.interactive = m->interactive != 0;
			if (chan_compose(&xc->chan, IMSG_XEXEC_MODULE,
			    imsg_get_id(imsg), -1, &mm, sizeof(mm)) == -1)
				return;
		}
	}
	(void)chan_compose(&xc->chan, IMSG_XEXEC_LIST_END, imsg_get_id(imsg),
	    -1, NULL, 0);
}

static void
xexec_start(struct xchan *xc, struct imsg *imsg)
{
	struct imsg_xexec_start	 st;
	struct module		*m;
	struct run		*r;
	uint32_t		 id = imsg_get_id(imsg);

	if (imsg_get_data(imsg, &st, sizeof(st)) == -1 ||
	    memchr(st.user, '\0', sizeof(st.user)) == NULL ||
	    memchr(st.module, '\0', sizeof(st.module)) == NULL) {
		xchan_fail(xc, "bad IMSG_XEXEC_START");
		return;
	}
	if (run_find(xc, id) != NULL) {
		xchan_fail(xc, "run id in use");
		return;
	}
	if (xc->npending >= EXECD_PENDING_MAX) {
		xchan_fail(xc, "too many runs collecting arguments");
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("%s", __func__);
	r->xc = xc;
	r->id = id;
	r->state = RUN_ARGS;
	r->refuse = -1;
	r->nargs = st.nargs;
	r->outfd = r->infd = r->errfd = -1;
	TAILQ_INSERT_TAIL(&xc->runs, r, entry);
	xc->npending++;
	strlcpy(r->user, st.user, sizeof(r->user));

	if (user_canon(st.user, r->user) == -1 ||
	    canon_split(r->user, r->local, sizeof(r->local), r->domain,
	    sizeof(r->domain)) == -1) {
		strlcpy(r->user, "(bad user)", sizeof(r->user));
		run_refuse(r, XEXEC_NOMODULE, "no such module");
		return;
	}
	if ((m = module_find(conf, st.module)) == NULL ||
	    !policy_user_allowed(m, r->user)) {
		/* the same answer for both: which modules exist is policy */
		log_info("user %s: module \"%s\" refused: %s", r->user,
		    st.module, m == NULL ? "no such module" :
		    "user not allowed");
		run_refuse(r, XEXEC_NOMODULE, "no such module");
		return;
	}
	r->mod = m;
	if (st.nargs > MODULE_ARGS_MAX ||
	    (int64_t)st.nargs < (int64_t)m->args_min ||
	    (int64_t)st.nargs > (int64_t)m->args_max)
		run_refuse(r, XEXEC_BADARG, "wrong number of arguments");
}

/* The first refusal decides; the rest of the arguments are only counted. */
static void
run_refuse(struct run *r, int end, const char *reason)
{
	if (r->refuse != -1)
		return;
	r->refuse = end;
	strlcpy(r->reason, reason, sizeof(r->reason));
}

/*
 * One argument (len bytes, NUL-terminated after them) against the
 * module's rules.  0 if it may be used; -1 and a reason that names the
 * rule (never the argument) if not.
 */
int
policy_check_arg(struct module *m, const char *arg, size_t len, char *why,
    size_t whylen)
{
	regex_t	*re;
	size_t	 i;
	int	 c;

	if ((m->arg_maxlen > 0 && len > m->arg_maxlen) ||
	    len > IMAPX_CHUNK_MAX) {
		strlcpy(why, "argument too long", whylen);
		return -1;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)arg[i];
		/* never a NUL (argv); never a newline between stdin lines */
		if (c == '\0' || (c == '\n' && m->args_stdin)) {
			strlcpy(why, "argument with a forbidden byte",
			    whylen);
			return -1;
		}
		if ((c < 0x20 || c == 0x7f) && !m->allow_ctrl) {
			strlcpy(why, "argument with a control character",
			    whylen);
			return -1;
		}
	}
	if (len > 0 && arg[0] == '-' && !m->allow_dash) {
		strlcpy(why, "argument starts with '-'", whylen);
		return -1;
	}
	if (m->arg_pattern[0] != '\0') {
		if ((re = module_pattern(m)) == NULL) {
			strlcpy(why, "module misconfigured", whylen);
			return -1;
		}
		if (regexec(re, arg, 0, NULL, 0) != 0) {
			strlcpy(why, "argument does not match the pattern",
			    whylen);
			return -1;
		}
	}
	return 0;
}

/* The pattern, anchored at both ends; NULL if it does not compile. */
static regex_t *
module_pattern(struct module *m)
{
	struct pattern	*p;
	char		*s;
	char		 err[128];
	int		 rc;

	if (m->arg_pattern[0] == '\0')
		return NULL;
	TAILQ_FOREACH(p, &patterns, entry)
		if (p->mod == m)
			return p->ok ? &p->re : NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("%s", __func__);
	p->mod = m;
	if (asprintf(&s, "^(%s)$", m->arg_pattern) == -1)
		fatal("%s", __func__);
	if ((rc = regcomp(&p->re, s, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, &p->re, err, sizeof(err));
		log_warnx("%s: bad argument pattern: %s", m->name, err);
	} else
		p->ok = 1;
	free(s);
	TAILQ_INSERT_TAIL(&patterns, p, entry);
	return p->ok ? &p->re : NULL;
}

static void
xexec_arg(struct xchan *xc, struct imsg *imsg)
{
	struct run	*r;
	struct ibuf	 ib;
	size_t		 len;
	char		 why[128], *arg;

	if ((r = run_find(xc, imsg_get_id(imsg))) == NULL ||
	    r->state != RUN_ARGS) {
		xchan_fail(xc, "IMSG_XEXEC_ARG without START");
		return;
	}
	/* an empty argument ("" or {0}) is an empty payload, not an error */
	len = imsg_get_len(imsg);
	if (len > 0 && imsg_get_ibuf(imsg, &ib) == -1) {
		xchan_fail(xc, "bad IMSG_XEXEC_ARG");
		return;
	}
	if (r->got++ >= r->nargs || r->got > MODULE_ARGS_MAX) {
		run_refuse(r, XEXEC_BADARG, "wrong number of arguments");
		return;
	}
	if (r->refuse != -1)
		return;
	/* raw bytes: terminated before anything (regexec) reads them */
	if ((arg = malloc(len + 1)) == NULL)
		fatal("%s", __func__);
	if (len > 0)
		memcpy(arg, ibuf_data(&ib), len);
	arg[len] = '\0';
	if (policy_check_arg(r->mod, arg, len, why, sizeof(why)) == -1) {
		freezero(arg, len + 1);
		run_refuse(r, XEXEC_BADARG, why);
		return;
	}
	r->args[r->got - 1] = arg;
	r->arglen[r->got - 1] = len;
}

static void
xexec_go(struct xchan *xc, struct imsg *imsg)
{
	struct run	*r;
	struct module	*m;
	unsigned int	 n;

	if ((r = run_find(xc, imsg_get_id(imsg))) == NULL ||
	    r->state != RUN_ARGS || imsg_get_len(imsg) != 0) {
		xchan_fail(xc, "bad IMSG_XEXEC_GO");
		return;
	}
	xc->npending--;
	m = r->mod;
	if (r->got != r->nargs)
		run_refuse(r, XEXEC_BADARG, "wrong number of arguments");
	if (r->refuse == -1) {
		n = run_total();
		if (n >= EXECD_RUNS_MAX ||
		    (conf->conc_total > 0 && n >= conf->conc_total))
			run_refuse(r, XEXEC_LIMIT, "too many runs");
		else if (m->conc_module > 0 &&
		    run_count(m, NULL) >= m->conc_module)
			run_refuse(r, XEXEC_LIMIT,
			    "too many runs of this module");
		else if (m->conc_user > 0 &&
		    run_count(m, r->user) >= m->conc_user)
			run_refuse(r, XEXEC_LIMIT, "too many runs of yours");
		else if (rate_check(m, r->user, 0) == -1)
			run_refuse(r, XEXEC_LIMIT, "rate limit");
	}
	if (r->refuse != -1) {
		log_info("%s: user %s args %u: refused: %s",
		    m != NULL ? m->name : "-", r->user, r->nargs, r->reason);
		xexec_done(xc, r->id, r->refuse, 0, r->reason);
		TAILQ_REMOVE(&xc->runs, r, entry);
		run_free(r);
		return;
	}
	if (run_spawn(r) == -1) {
		log_warnx("%s: user %s: not started: %s", m->name, r->user,
		    r->reason);
		xexec_done(xc, r->id, XEXEC_FAILED, 0, r->reason);
		TAILQ_REMOVE(&xc->runs, r, entry);
		run_free(r);
		return;
	}
	(void)rate_check(m, r->user, 1);
}

static void
xexec_input(struct xchan *xc, struct imsg *imsg)
{
	struct run	*r;
	struct ibuf	 ib;

	/* data (chan_send): its credit comes back once it is written */
	if (imsg_get_ibuf(imsg, &ib) == -1 ||
	    imsg_get_pid(imsg) != CHAN_COUNTED) {
		xchan_fail(xc, "bad IMSG_XEXEC_INPUT");
		return;
	}
	/* a run that ended meanwhile, or not interactive: dropped */
	if ((r = run_find(xc, imsg_get_id(imsg))) == NULL ||
	    r->state != RUN_LIVE || !r->mod->interactive)
		return;
	if (run_input(r, ibuf_data(&ib), ibuf_size(&ib)))
		chan_hold(&xc->chan);
}

static void
xexec_done(struct xchan *xc, uint32_t id, int end, int status,
    const char *reason)
{
	struct imsg_xexec_done	d;

	memset(&d, 0, sizeof(d));
	d.end = end;
	d.status = status;
	strlcpy(d.reason, reason, sizeof(d.reason));
	(void)chan_compose(&xc->chan, IMSG_XEXEC_DONE, id, -1, &d, sizeof(d));
}

/*
 * run.c says a run is over: its whole tree is gone.  DONE to its
 * frontend (if it is still there and did not cancel), the log line
 * (never the arguments), and the run is freed.
 */
void
fchan_run_ended(struct run *r)
{
	struct timespec	 now, d;
	const char	*why = r->ending ? r->reason : "";

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	timespecsub(&now, &r->t0, &d);
	log_info("%s: user %s args %u: %s %d%s%s, %lld.%03lds, %zu bytes "
	    "out", r->mod->name, r->user, r->nargs,
	    WIFSIGNALED(r->wstatus) ? "signal" : "exit", r->status,
	    why[0] != '\0' ? ", " : "", why, (long long)d.tv_sec,
	    d.tv_nsec / 1000000, r->outbytes);
	if (r->xc != NULL) {
		xexec_done(r->xc, r->id, r->end, r->status,
		    r->ending ? r->reason : "");
		TAILQ_REMOVE(&r->xc->runs, r, entry);
		r->xc = NULL;
	}
	run_free(r);
}

/*
 * The rate: starts of this module by this user in the last minute.
 * record = 0 checks (-1 when one more would be too many), 1 records.
 */
static int
rate_check(struct module *m, const char *user, int record)
{
	struct rate	 key, *rt;
	time_t		 now;
	unsigned int	 i, n = 0;
	struct timespec	 ts;

	if (m->rate == 0)
		return 0;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec;
	key.mod = m;
	strlcpy(key.user, user, sizeof(key.user));
	if ((rt = RB_FIND(ratetree, &rates, &key)) == NULL) {
		if (!record)
			return 0;
		if ((rt = calloc(1, sizeof(*rt))) == NULL)
			fatal("%s", __func__);
		rt->mod = m;
		strlcpy(rt->user, user, sizeof(rt->user));
		RB_INSERT(ratetree, &rates, rt);
	}
	if (!record) {
		for (i = 0; i < RATE_WINDOW; i++)
			if (now - rt->sec[i] < RATE_WINDOW)
				n += rt->runs[i];
		return n >= m->rate ? -1 : 0;
	}
	i = now % RATE_WINDOW;
	if (rt->sec[i] != now) {
		rt->sec[i] = now;
		rt->runs[i] = 0;
	}
	rt->runs[i]++;
	rt->last = now;
	return 0;
}

/* Once a minute: users who ran nothing in the last minute are forgotten. */
static void
rate_sweep(int fd, short event, void *arg)
{
	struct timeval	 tv = { RATE_WINDOW, 0 };
	struct timespec	 ts;
	struct rate	*rt, *next;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	RB_FOREACH_SAFE(rt, ratetree, &rates, next) {
		if (ts.tv_sec - rt->last < RATE_WINDOW)
			continue;
		RB_REMOVE(ratetree, &rates, rt);
		free(rt);
	}
	evtimer_add(&ev_rates, &tv);
}

static void
xchan_writable(struct chan *c)
{
	run_resume(c->arg);
}

static void
xchan_closed(struct chan *c)
{
	struct xchan	*xc = c->arg;

	log_debug("frontend %u: channel closed", xc->instance);
	xchan_fail(xc, NULL);
}

/*
 * Close a channel.  It may be in use further up the stack (a dispatch
 * callback, chan_send from run.c), so it is freed from the event loop.
 */
static void
xchan_fail(struct xchan *xc, const char *why)
{
	struct timeval	tv = { 0, 0 };

	if (why != NULL)
		log_warnx("frontend %u: %s: closing its channel", xc->instance,
		    why);
	chan_close(&xc->chan);
	if (xc->closing)
		return;
	xc->closing = 1;
	if (event_once(-1, EV_TIMEOUT, xchan_free, xc, &tv) == -1)
		fatal("event_once");
}

/* A frontend that went away: all its runs are killed. */
static void
xchan_free(int fd, short event, void *arg)
{
	struct xchan	*xc = arg;
	struct run	*r, *next;
	int		 lifeline = xc->lifeline;

	TAILQ_FOREACH_SAFE(r, &xc->runs, entry, next) {
		if (r->state == RUN_ARGS) {
			TAILQ_REMOVE(&xc->runs, r, entry);
			run_free(r);
			continue;
		}
		run_detach(r);
		run_kill(r, XEXEC_SIGNALED, "frontend went away");
	}
	TAILQ_REMOVE(&xchans, xc, entry);
	free(xc);
	if (lifeline) {
		log_info("the -T channel closed, stopping");
		execd_stop();
	}
}
