/*
 * XEXEC in the front end: the IMAP side of seeds/000 and seeds/001.
 *
 * `tag XEXEC module args...` is a local command (local.c): its arguments
 * are IMAP astrings, collected here (literals included) and never sent to
 * the backend.  execd does the rest: the front end asks it which modules
 * the user may run (IMSG_XEXEC_LIST), which also says whether the module
 * is interactive, then sends START, one ARG per argument and GO.  The
 * module's output comes back as IMSG_XEXEC_OUTPUT, cut into lines and
 * escaped into untagged "* OK" responses; IMSG_XEXEC_DONE gives the
 * tagged answer.  An interactive module gets the client's lines on its
 * stdin until the client says DONE.  doc/xexec.md is the grammar.
 *
 * Every message to and from execd carries a run id in the imsg peerid,
 * unique on this worker's channel; a per-worker table maps it back to the
 * session.  A session that goes away cancels its run (IMSG_XEXEC_CANCEL);
 * if execd goes away, the command is answered NO [UNAVAILABLE] (gone()),
 * an interactive session only after the client's DONE.
 *
 * Backpressure: output bytes are credited back to execd (chan.c) only
 * once they are queued for the client, and later while the client's
 * output queue is long, so a module cannot outrun a slow client.  The
 * window is shared by every run on the channel: a run holds at most a
 * small share of it, so one stalled client never stops another's runs.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <ctype.h>
#include <event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chan.h"
#include "frontend.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"

#define XEXEC_ARGS_MAX		64		/* client arguments */
#define XEXEC_ARG_MAX		IMAPX_CHUNK_MAX	/* bytes of one: one imsg */
#define XEXEC_ARGS_TOTAL	(64 * 1024)	/* bytes of all of them */
#define XEXEC_NAME_MAX		32		/* imsg_xexec_start.module */
#define XEXEC_TEXT_MAX		1000		/* escaped text of one line */
#define XEXEC_PARTIAL_MAX	4096		/* of an output line held */
#define XEXEC_BACKLOG		(64 * 1024)	/* client queue: hold above */
#define XEXEC_HOLD_RUN		(CHAN_WINDOW / 8)	/* held by one run */
#define XEXEC_HOLD_ALL		(CHAN_WINDOW / 2)	/* ...by all runs */
#define XEXEC_TICK_USEC		(50 * 1000)

enum run_phase {
	XR_ARGS,		/* reading the command's arguments */
	XR_LIST,		/* bare XEXEC: listing the modules */
	XR_PROBE,		/* asking execd whether the user may run it */
	XR_RUN,			/* START sent: the module runs */
	XR_ENDED		/* interactive: ended, waiting for DONE */
};

struct xrun {
	RB_ENTRY(xrun)		 node;
	uint32_t		 id;		/* the imsg peerid */
	struct session		*s;
	struct lcmd		*lc;
	enum run_phase		 phase;

	/* the command: token 0 is the module, the others its arguments */
	struct buf		 argbuf;
	size_t			 toklen[XEXEC_ARGS_MAX + 1];
	int			 ntok;
	int			 want_sp;	/* after a token: SP or end */
	char			 module[XEXEC_NAME_MAX];
	int			 found;		/* in the user's list */
	int			 interactive;

	/* interactive */
	int			 in_session;	/* "+" sent: the client's lines
						   are the module's */
	int			 line_start;	/* next segment starts a line */
	int			 saw_done;	/* this line is DONE */
	int			 client_done;
	int			 eof_pending;	/* EOF after the input below */
	struct buf		 input;		/* for stdin, no room yet */
	char			 answer[768];	/* XR_ENDED: the tagged one */

	struct buf		 line;		/* output: an unfinished line */
	size_t			 held;		/* output bytes not credited */
	struct event		 tick;
};

RB_HEAD(xruntree, xrun);

static int	 xrun_cmp(struct xrun *, struct xrun *);
RB_PROTOTYPE(xruntree, xrun, node, xrun_cmp);

static int	 xexec_begin(struct session *, struct lcmd *, const char *,
		    size_t);
static int	 xexec_literal(struct session *, struct lcmd *, uint64_t,
		    int);
static int	 xexec_data(struct session *, struct lcmd *, int,
		    const char *, size_t);
static void	 xexec_end(struct session *, struct lcmd *);
static void	 xexec_cancel(struct session *, struct lcmd *);
static void	 xexec_gone(struct session *, struct lcmd *);
static void	 xexec_dispatch(struct imsg *);

static int	 args_parse(struct xrun *, const char *, size_t);
static int	 args_token(struct xrun *, size_t);
static int	 args_append(struct xrun *, const char *, size_t);
static void	 args_done(struct xrun *);
static int	 module_name_ok(const char *);
static void	 run_start(struct xrun *);
static void	 run_module(struct xrun *, struct imsg *);
static void	 run_list_end(struct xrun *);
static void	 run_output(struct xrun *, struct imsg *);
static void	 run_emit(struct xrun *, const char *, size_t, int);
static void	 run_done(struct xrun *, struct imsg *);
static void	 run_flush_line(struct xrun *);
static void	 run_session_end(struct xrun *, const char *);
static void	 run_answer(const struct imsg_xexec_done *, char *, size_t);
static void	 run_finish(struct xrun *, const char *);
static void	 run_refuse(struct xrun *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static int	 run_input(struct xrun *, const char *, size_t);
static int	 run_input_flush(struct xrun *);
static void	 run_tick(int, short, void *);
static void	 run_tick_arm(struct xrun *);
static void	 run_release(struct xrun *);
static void	 run_detach(struct xrun *);
static void	 run_free(struct xrun *);
static struct xrun *run_find(uint32_t);
static size_t	 client_backlog(struct session *);

static const struct fe_service_ops xexec_service = {
	.dispatch = xexec_dispatch,
};

static const struct lcmd_ops xexec_ops = {
	.name = "XEXEC",
	.service = PROC_EXECD,
	.begin = xexec_begin,
	.literal = xexec_literal,
	.data = xexec_data,
	.end = xexec_end,
	.cancel = xexec_cancel,
	.gone = xexec_gone,
};

static struct xruntree	 runs = RB_INITIALIZER(&runs);
static uint32_t		 run_seq;
static size_t		 held_total;	/* credit held by all runs */

RB_GENERATE(xruntree, xrun, node, xrun_cmp);

static int
xrun_cmp(struct xrun *a, struct xrun *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Called once per worker, before any session. */
void
xexec_register(void)
{
	lcmd_register(&xexec_ops);
	fe_service_register(PROC_EXECD, &xexec_service);
}

/*
 * Escape one line of module output (without its line end) as the text of
 * a "* OK" response, so that it can never be read as anything else:
 * '\' becomes "\\"; control bytes, DEL and bytes >= 0x80 become "\xHH";
 * so do a leading '[' (a response code) or '+', and a trailing '}' (a
 * literal).  Only printable ASCII remains.  out gets at most outlen - 1
 * bytes and a NUL; what does not fit is left for the next call, and the
 * piece then ends in a lone '\', which says "the line goes on in the next
 * response".  So does every piece when `more` is set (the caller has
 * more of the same line).  Returns the input bytes consumed.
 */
size_t
xexec_escape(const char *in, size_t len, char *out, size_t outlen, int more)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0, n;
	char			 u[4];
	int			 c;

	if (outlen < 6)
		fatalx("%s: no room", __func__);
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c == '\\') {
			u[0] = u[1] = '\\';
			n = 2;
		} else if (c < 0x20 || c >= 0x7f ||
		    (o == 0 && (c == '[' || c == '+')) ||
		    (c == '}' && i == len - 1 && !more)) {
			u[0] = '\\';
			u[1] = 'x';
			u[2] = hex[c >> 4];
			u[3] = hex[c & 0xf];
			n = 4;
		} else {
			u[0] = c;
			n = 1;
		}
		/* keep room for the continuation '\' and the NUL */
		if (o + n + 2 > outlen)
			break;
		memcpy(out + o, u, n);
		o += n;
	}
	if (i < len || more)
		out[o++] = '\\';
	out[o] = '\0';
	return i;
}

/* Bytes waiting for the client: queued on its socket or held by us. */
static size_t
client_backlog(struct session *s)
{
	return conn_outlen(&s->client) + s->held.len;
}

static struct xrun *
run_find(uint32_t id)
{
	struct xrun	key;

	key.id = id;
	return RB_FIND(xruntree, &runs, &key);
}

/*
 * The first line of the command: "" (bare XEXEC) or " module args...",
 * without a literal marker that may end it.
 */
static int
xexec_begin(struct session *s, struct lcmd *lc, const char *p, size_t len)
{
	struct xrun	*r;

	if (s->user == NULL) {
		lcmd_done(s, "NO [UNAVAILABLE] Not logged in");
		return -1;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("%s", __func__);
	do {
		r->id = ++run_seq;
	} while (r->id == 0 || run_find(r->id) != NULL);
	r->s = s;
	r->lc = lc;
	r->phase = XR_ARGS;
	r->want_sp = 1;
	r->line_start = 1;
	evtimer_set(&r->tick, run_tick, r);
	RB_INSERT(xruntree, &runs, r);
	lc->arg = r;
	/*
	 * A literal argument is checked against our own limits in
	 * literal(), so it is refused as XEXEC BADARG like any other one.
	 */
	lc->litmax = UINT64_MAX;
	if (args_parse(r, p, len) == -1)
		return -1;
	return 0;
}

/*
 * The text of one segment of the command: SP-separated astrings (atom or
 * quoted).  A SP at its end is checked later: a literal must follow it
 * (literal()), the end of the command must not (args_done()).  -1:
 * answered (BAD or NO).
 */
static int
args_parse(struct xrun *r, const char *p, size_t len)
{
	size_t		 i = 0, start;
	int		 c;

	while (i < len) {
		if (r->want_sp) {
			if (p[i] != ' ')
				goto bad;
			r->want_sp = 0;
			i++;
			continue;
		}
		if (args_token(r, 0) == -1)
			return -1;
		if (p[i] == '"') {
			for (i++; i < len && p[i] != '"'; i++) {
				c = (unsigned char)p[i];
				if (c == '\\') {
					if (++i == len || (p[i] != '"' &&
					    p[i] != '\\'))
						goto bad;
				} else if (c == '\0' || c == '\r' || c == '\n')
					goto bad;
				if (args_append(r, p + i, 1) == -1)
					return -1;
			}
			if (i == len)
				goto bad;
			i++;		/* the closing quote */
		} else {
			start = i;
			while (i < len && p[i] != ' ') {
				if (!imap_atom_char((unsigned char)p[i]) &&
				    p[i] != ']')
					goto bad;
				i++;
			}
			if (i == start)
				goto bad;
			if (args_append(r, p + start, i - start) == -1)
				return -1;
		}
		r->want_sp = 1;
	}
	return 0;
bad:
	run_refuse(r, "BAD Syntax error in XEXEC arguments");
	return -1;
}

/* A new token of `len` bytes at most (a literal says it at once). */
static int
args_token(struct xrun *r, size_t len)
{
	if (r->ntok == XEXEC_ARGS_MAX + 1) {
		run_refuse(r, "NO [XEXEC BADARG] Too many arguments "
		    "(at most %d)", XEXEC_ARGS_MAX);
		return -1;
	}
	r->toklen[r->ntok++] = 0;
	if (len > XEXEC_ARG_MAX) {
		run_refuse(r, "NO [XEXEC BADARG] Argument too long "
		    "(at most %d bytes)", XEXEC_ARG_MAX);
		return -1;
	}
	if (r->argbuf.len + len > XEXEC_ARGS_TOTAL) {
		run_refuse(r, "NO [XEXEC BADARG] Arguments too long "
		    "(at most %d bytes in all)", XEXEC_ARGS_TOTAL);
		return -1;
	}
	return 0;
}

static int
args_append(struct xrun *r, const char *p, size_t len)
{
	size_t	*tl = &r->toklen[r->ntok - 1];

	if (*tl + len > XEXEC_ARG_MAX) {
		run_refuse(r, "NO [XEXEC BADARG] Argument too long "
		    "(at most %d bytes)", XEXEC_ARG_MAX);
		return -1;
	}
	if (r->argbuf.len + len > XEXEC_ARGS_TOTAL) {
		run_refuse(r, "NO [XEXEC BADARG] Arguments too long "
		    "(at most %d bytes in all)", XEXEC_ARGS_TOTAL);
		return -1;
	}
	if (buf_append(&r->argbuf, p, len) == -1)
		fatal("%s", __func__);
	*tl += len;
	return 0;
}

/*
 * A literal follows a segment.  While the arguments are read it is the
 * next argument; in an interactive session, part of a line for stdin.
 */
static int
xexec_literal(struct session *s, struct lcmd *lc, uint64_t len, int lit)
{
	struct xrun	*r = lc->arg;

	if (r == NULL || r->phase != XR_ARGS)
		return 0;
	if (r->want_sp) {
		run_refuse(r, "BAD Syntax error in XEXEC arguments");
		return -1;
	}
	if (args_token(r, len > XEXEC_ARG_MAX ? XEXEC_ARG_MAX + 1 :
	    (size_t)len) == -1)
		return -1;
	r->want_sp = 1;
	return 0;
}

/*
 * Later segments of the command (with their CRLF and literal marker) and
 * literal bytes; in an interactive session, the client's lines.
 */
static int
xexec_data(struct session *s, struct lcmd *lc, int kind, const char *p,
    size_t len)
{
	struct xrun	*r = lc->arg;
	struct imap_seg	 seg;
	int		 start;

	if (r == NULL)
		return 0;
	if (kind == INJ_LITERAL) {
		if (r->phase == XR_ARGS) {
			(void)args_append(r, p, len);	/* -1: answered */
			return 0;
		}
		if (r->phase == XR_RUN && !r->client_done)
			return run_input(r, p, len);
		return 0;		/* ended: waiting for DONE */
	}
	if (imap_segment(p, len, &seg) != 1)
		fatalx("%s: not a segment", __func__);
	if (r->phase == XR_ARGS) {
		(void)args_parse(r, p, seg.textlen);	/* -1: answered */
		return 0;
	}
	/*
	 * Interactive: a line "DONE" ends the client's side (as IDLE's
	 * DONE, RFC 2177); a leading '\' is dropped, so "\DONE" sends the
	 * line DONE and "\\x" the line "\x".  The module reads LF line ends.
	 */
	start = r->line_start;
	r->line_start = seg.lit == LIT_NONE;
	if (start && seg.lit == LIT_NONE && seg.textlen == 4 &&
	    strncasecmp(p, "DONE", 4) == 0) {
		r->saw_done = 1;
		return 0;
	}
	if (r->phase != XR_RUN || r->client_done)
		return 0;		/* ended: lines wait for DONE */
	if (start && seg.textlen > 0 && p[0] == '\\') {
		p++;
		seg.textlen--;
	}
	if (seg.lit == LIT_NONE) {
		if (buf_append(&r->input, p, seg.textlen) == -1)
			fatal("%s", __func__);
		return run_input(r, "\n", 1);
	}
	return run_input(r, p, seg.textlen);
}

/* The command (or, interactive, one client line) is complete. */
static void
xexec_end(struct session *s, struct lcmd *lc)
{
	struct xrun	*r = lc->arg;
	struct chan	*c;

	if (r == NULL)
		return;
	switch (r->phase) {
	case XR_ARGS:
		args_done(r);
		return;
	case XR_RUN:
	case XR_ENDED:
		break;
	default:
		return;
	}
	if (!r->saw_done) {
		/* the session goes on: read the client's next line */
		if (r->interactive && !r->client_done)
			s->cs = CS_LOCAL_LINE;
		return;
	}
	r->saw_done = 0;
	r->client_done = 1;
	if (r->phase == XR_ENDED) {
		run_finish(r, r->answer);
		return;
	}
	/* later bytes are the client's next commands: they wait */
	r->eof_pending = 1;
	if (r->input.len == 0 && (c = fe_service_chan(PROC_EXECD)) != NULL) {
		r->eof_pending = 0;
		(void)chan_compose(c, IMSG_XEXEC_EOF, r->id, -1, NULL, 0);
	}
}

/* All arguments are in: list the modules, or ask about this one. */
static void
args_done(struct xrun *r)
{
	struct imsg_xexec_user	 xu;
	struct session		*s = r->s;
	struct chan		*c;
	const char		*p = r->argbuf.data + r->argbuf.off;
	uint32_t		 id = r->id;
	size_t			 i, n;

	if (!r->want_sp) {
		/* "XEXEC " or "XEXEC name arg ": a SP and nothing after it */
		run_finish(r, "BAD Syntax error in XEXEC arguments");
		return;
	}
	if (r->ntok > 0) {
		n = r->toklen[0];
		if (n == 0 || n >= sizeof(r->module) ||
		    memchr(p, '\0', n) != NULL) {
			run_finish(r, "NO [XEXEC NOMODULE] No such module");
			return;
		}
		/* module names are lower case: XEXEC Blacklist works */
		for (i = 0; i < n; i++)
			r->module[i] = tolower((unsigned char)p[i]);
		r->module[n] = '\0';
		if (!module_name_ok(r->module)) {
			run_finish(r, "NO [XEXEC NOMODULE] No such module");
			return;
		}
	}
	if ((c = fe_service_chan(PROC_EXECD)) == NULL) {
		run_finish(r, "NO [UNAVAILABLE] Service not available, try "
		    "again later");
		return;
	}
	memset(&xu, 0, sizeof(xu));
	strlcpy(xu.user, s->user, sizeof(xu.user));
	r->phase = r->ntok == 0 ? XR_LIST : XR_PROBE;
	if (chan_compose(c, IMSG_XEXEC_LIST, id, -1, &xu, sizeof(xu)) == -1 &&
	    (r = run_find(id)) != NULL)
		run_finish(r, "NO [UNAVAILABLE] Service not available, try "
		    "again later");
}

/* Module names as execd.conf has them: [a-z0-9_-]+. */
static int
module_name_ok(const char *name)
{
	const char	*p;

	if (*name == '\0')
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!islower((unsigned char)*p) &&
		    !isdigit((unsigned char)*p) && *p != '_' && *p != '-')
			return 0;
	return 1;
}

/*
 * The user may run it: START, the arguments, GO.  Any send may find the
 * channel dead, and its end cancels this run under us: look it up again
 * after each one.
 */
static void
run_start(struct xrun *r)
{
	struct imsg_xexec_start	 xs;
	struct session		*s = r->s;
	struct chan		*c;
	uint32_t		 id = r->id;
	size_t			 off;
	int			 i;

	if ((c = fe_service_chan(PROC_EXECD)) == NULL)
		goto fail;
	memset(&xs, 0, sizeof(xs));
	strlcpy(xs.user, s->user, sizeof(xs.user));
	strlcpy(xs.module, r->module, sizeof(xs.module));
	xs.nargs = r->ntok - 1;
	r->phase = XR_RUN;
	log_info("session %llu: %s runs %s%s", (unsigned long long)s->id,
	    s->user, r->module, r->interactive ? " (interactive)" : "");
	if (chan_compose(c, IMSG_XEXEC_START, id, -1, &xs, sizeof(xs)) == -1)
		goto fail;
	off = r->argbuf.off + r->toklen[0];
	for (i = 1; i < r->ntok; i++) {
		if (run_find(id) == NULL)
			return;
		if (chan_compose(c, IMSG_XEXEC_ARG, id, -1,
		    r->argbuf.data + off, r->toklen[i]) == -1)
			goto fail;
		off += r->toklen[i];
	}
	if (run_find(id) == NULL)
		return;
	if (chan_compose(c, IMSG_XEXEC_GO, id, -1, NULL, 0) == -1)
		goto fail;
	if (run_find(id) == NULL)
		return;
	/* arguments may be secrets (a new password): gone from here */
	buf_free(&r->argbuf, 1);
	if (r->interactive) {
		/* seeds/001: the two-way session; DONE ends it, as IDLE */
		r->in_session = 1;
		proxy_local(s, "+ Ready for input, send DONE to end");
		s->cs = CS_LOCAL_LINE;
		conn_flush(&s->client);
		conn_pause(&s->client, 0);
	}
	return;
fail:
	if ((r = run_find(id)) != NULL)
		run_finish(r, "NO [UNAVAILABLE] Service not available, try "
		    "again later");
}

/* Dispatch for the execd channel; every payload is checked first. */
static void
xexec_dispatch(struct imsg *imsg)
{
	struct xrun	*r;
	uint32_t	 type = imsg_get_type(imsg);

	if ((r = run_find(imsg_get_id(imsg))) == NULL) {
		/* cancelled meanwhile: its last words are dropped */
		log_debug("%s: imsg %u for no run %u", __func__, type,
		    imsg_get_id(imsg));
		return;
	}
	switch (type) {
	case IMSG_XEXEC_MODULE:
		if (r->phase != XR_LIST && r->phase != XR_PROBE)
			goto unexpected;
		run_module(r, imsg);
		break;
	case IMSG_XEXEC_LIST_END:
		if (r->phase != XR_LIST && r->phase != XR_PROBE)
			goto unexpected;
		run_list_end(r);
		break;
	case IMSG_XEXEC_OUTPUT:
		if (r->phase != XR_RUN)
			goto unexpected;
		run_output(r, imsg);
		break;
	case IMSG_XEXEC_DONE:
		/* a refusal may come instead of the list, too */
		if (r->phase == XR_ARGS || r->phase == XR_ENDED)
			goto unexpected;
		run_done(r, imsg);
		break;
	default:
		goto unexpected;
	}
	return;
unexpected:
	log_warnx("%s: unexpected imsg %u for run %u", __func__, type, r->id);
}

/* One module of execd's list for the user. */
static void
run_module(struct xrun *r, struct imsg *imsg)
{
	struct imsg_xexec_module m;
	char			 q[sizeof(m.descr) * 2 + 3];

	if (imsg_get_data(imsg, &m, sizeof(m)) == -1) {
		log_warnx("%s: bad IMSG_XEXEC_MODULE", __func__);
		return;
	}
	m.name[sizeof(m.name) - 1] = '\0';
	m.descr[sizeof(m.descr) - 1] = '\0';
	if (!module_name_ok(m.name)) {
		log_warnx("%s: bad module name from execd", __func__);
		return;
	}
	if (r->phase == XR_PROBE) {
		if (strcmp(m.name, r->module) == 0) {
			r->found = 1;
			r->interactive = m.interactive != 0;
		}
		return;
	}
	/* the description is an IMAP string: quoted, or else a literal */
	if (imap_quote(m.descr, q, sizeof(q)) == 0)
		proxy_local(r->s, "* XEXEC %s (%s) %s", m.name,
		    m.interactive ? "\\Interactive" : "", q);
	else
		proxy_local(r->s, "* XEXEC %s (%s) {%zu}\r\n%s", m.name,
		    m.interactive ? "\\Interactive" : "", strlen(m.descr),
		    m.descr);
	conn_flush(&r->s->client);
}

static void
run_list_end(struct xrun *r)
{
	if (r->phase == XR_LIST) {
		run_finish(r, "OK XEXEC completed");
		return;
	}
	/* not for this user, or no such module: the same answer */
	if (!r->found) {
		run_finish(r, "NO [XEXEC NOMODULE] No such module");
		return;
	}
	run_start(r);
}

/*
 * Output of the module: whole lines go to the client at once; a line
 * without its LF waits for the rest, up to XEXEC_PARTIAL_MAX bytes, then
 * goes in pieces that say they continue.
 */
static void
run_output(struct xrun *r, struct imsg *imsg)
{
	struct session	*s = r->s;
	struct chan	*c = fe_service_chan(PROC_EXECD);
	struct ibuf	 ib;
	const char	*p, *lf;
	size_t		 size = imsg_get_len(imsg), len, n;

	/* (before imsg_get_ibuf(), which takes the bytes out of it) */
	if (size == 0 || imsg_get_ibuf(imsg, &ib) == -1)
		return;
	p = ibuf_data(&ib);
	len = ibuf_size(&ib);
	while (len > 0) {
		if ((lf = memchr(p, '\n', len)) == NULL) {
			if (buf_append(&r->line, p, len) == -1)
				fatal("%s", __func__);
			break;
		}
		n = lf - p;
		if (buf_append(&r->line, p, n) == -1)
			fatal("%s", __func__);
		p += n + 1;
		len -= n + 1;
		n = r->line.len;
		/* CRLF ends a line too: the CR is not part of it */
		if (n > 0 && r->line.data[r->line.off + n - 1] == '\r')
			n--;
		run_emit(r, r->line.data + r->line.off, n, 0);
		buf_free(&r->line, 0);
	}
	if (r->line.len > XEXEC_PARTIAL_MAX) {
		/* keep a last CR back: it may be half of a CRLF */
		n = r->line.len - 1;
		run_emit(r, r->line.data + r->line.off, n, 1);
		r->line.off += n;
		r->line.len -= n;
	}
	conn_flush(&s->client);

	/*
	 * Credit: at once while the client keeps up; held while its queue
	 * is long (the tick gives it back as it drains), but never more
	 * than a run's share of the shared window.
	 */
	if (c == NULL || imsg_get_pid(imsg) != CHAN_COUNTED || size == 0 ||
	    client_backlog(s) <= XEXEC_BACKLOG ||
	    r->held + size > XEXEC_HOLD_RUN ||
	    held_total + size > XEXEC_HOLD_ALL)
		return;
	chan_hold(c);
	r->held += size;
	held_total += size;
	run_tick_arm(r);
}

/* Send one line (or a piece of it: more) as "* OK" responses. */
static void
run_emit(struct xrun *r, const char *p, size_t len, int more)
{
	char	text[XEXEC_TEXT_MAX + 1];
	size_t	n;

	do {
		n = xexec_escape(p, len, text, sizeof(text), more);
		proxy_local(r->s, "* OK %s", text);
		p += n;
		len -= n;
	} while (len > 0);
}

/* The run is over: its last line, then the tagged answer. */
static void
run_done(struct xrun *r, struct imsg *imsg)
{
	struct imsg_xexec_done	 d;
	struct session		*s = r->s;
	char			 answer[sizeof(r->answer)];

	if (imsg_get_data(imsg, &d, sizeof(d)) == -1) {
		log_warnx("%s: bad IMSG_XEXEC_DONE", __func__);
		memset(&d, 0, sizeof(d));
		d.end = XEXEC_FAILED;
	}
	d.reason[sizeof(d.reason) - 1] = '\0';
	run_flush_line(r);
	run_answer(&d, answer, sizeof(answer));
	log_info("session %llu: %s: %s ended: %s%s%s",
	    (unsigned long long)s->id, s->user, r->module, answer,
	    d.reason[0] != '\0' && d.end != XEXEC_BADARG &&
	    d.end != XEXEC_LIMIT ? ": " : "", d.end != XEXEC_BADARG &&
	    d.end != XEXEC_LIMIT ? d.reason : "");
	if (r->interactive && !r->client_done) {
		run_session_end(r, answer);
		return;
	}
	run_finish(r, answer);
}

/* A last line without LF is still a line. */
static void
run_flush_line(struct xrun *r)
{
	if (r->line.len > 0) {
		run_emit(r, r->line.data + r->line.off, r->line.len, 0);
		buf_free(&r->line, 0);
	}
}

/*
 * The module of an interactive session ended before the client's DONE.
 * The client may be sending a line right now: the tagged answer waits for
 * its DONE, so that no line of the session is ever taken for a command.
 */
static void
run_session_end(struct xrun *r, const char *answer)
{
	struct session	*s = r->s;

	r->phase = XR_ENDED;
	strlcpy(r->answer, answer, sizeof(r->answer));
	buf_free(&r->input, 1);
	r->eof_pending = 0;
	proxy_local(s, "* OK [XEXEC ENDED] Module ended, send DONE");
	conn_flush(&s->client);
	lcmd_resume(s);		/* input it paused is dropped now */
	run_release(r);		/* last: it may end the run */
}

/* The tagged answer for how the run ended (doc/xexec.md). */
static void
run_answer(const struct imsg_xexec_done *d, char *out, size_t outlen)
{
	char	why[sizeof(d->reason) * 4 + 2];

	(void)xexec_escape(d->reason, strlen(d->reason), why, sizeof(why), 0);
	switch (d->end) {
	case XEXEC_EXITED:
		if (d->status == 0)	/* seeds/000, word for word */
			strlcpy(out, "OK command exited successfully", outlen);
		else
			(void)snprintf(out, outlen, "NO [XEXEC EXIT %d] "
			    "command exited with status %d", d->status,
			    d->status);
		break;
	case XEXEC_SIGNALED:
		(void)snprintf(out, outlen, "NO [XEXEC SIGNAL %d] command "
		    "killed by signal %d", d->status, d->status);
		break;
	case XEXEC_TIMEOUT:
		strlcpy(out, "NO [XEXEC TIMEOUT] command took too long and "
		    "was stopped", outlen);
		break;
	case XEXEC_OUTPUT:
		strlcpy(out, "NO [XEXEC OUTPUT] command output too long, "
		    "command stopped", outlen);
		break;
	case XEXEC_NOMODULE:
		/* the same words whether it exists or is not for this user */
		strlcpy(out, "NO [XEXEC NOMODULE] No such module", outlen);
		break;
	case XEXEC_BADARG:
		(void)snprintf(out, outlen, "NO [XEXEC BADARG] Argument "
		    "refused%s%s", why[0] != '\0' ? ": " : "", why);
		break;
	case XEXEC_LIMIT:
		(void)snprintf(out, outlen, "NO [XEXEC LIMIT] Too many runs, "
		    "try again later%s%s", why[0] != '\0' ? ": " : "", why);
		break;
	default:
		strlcpy(out, "NO [XEXEC FAILED] command could not be run",
		    outlen);
		break;
	}
}

static void
run_refuse(struct xrun *r, const char *fmt, ...)
{
	va_list	 ap;
	char	 answer[256];

	va_start(ap, fmt);
	(void)vsnprintf(answer, sizeof(answer), fmt, ap);
	va_end(ap);
	run_finish(r, answer);
}

/* Answer the command and forget the run. */
static void
run_finish(struct xrun *r, const char *answer)
{
	struct session	*s = r->s;
	struct lcmd	*lc = r->lc;

	run_detach(r);
	if (s->local == lc)
		lcmd_done(s, "%s", answer);
	run_free(r);
}

/*
 * Bytes for the module's stdin: sent as far as the window allows, the
 * rest kept; 1 pauses the client until they are gone.
 */
static int
run_input(struct xrun *r, const char *p, size_t len)
{
	if (buf_append(&r->input, p, len) == -1)
		fatal("%s", __func__);
	return run_input_flush(r);
}

/* 1: input is still waiting for room. */
static int
run_input_flush(struct xrun *r)
{
	struct chan	*c;
	uint32_t	 id = r->id;
	size_t		 n;

	while (r->input.len > 0) {
		if ((c = fe_service_chan(PROC_EXECD)) == NULL) {
			/* the channel's end cancels the run */
			buf_free(&r->input, 1);
			return 0;
		}
		n = r->input.len < IMAPX_CHUNK_MAX ? r->input.len :
		    IMAPX_CHUNK_MAX;
		if (n > chan_room(c))
			n = chan_room(c);
		if (n == 0) {
			run_tick_arm(r);
			return 1;
		}
		if (chan_send(c, IMSG_XEXEC_INPUT, id, -1,
		    r->input.data + r->input.off, n) == -1) {
			buf_free(&r->input, 1);
			return 0;
		}
		if (run_find(id) == NULL)
			return 0;	/* the channel failed: cancelled */
		r->input.off += n;
		r->input.len -= n;
	}
	buf_free(&r->input, 1);
	if (r->eof_pending && (c = fe_service_chan(PROC_EXECD)) != NULL) {
		r->eof_pending = 0;
		(void)chan_compose(c, IMSG_XEXEC_EOF, id, -1, NULL, 0);
	}
	return 0;
}

static void
run_tick_arm(struct xrun *r)
{
	struct timeval	tv = { 0, XEXEC_TICK_USEC };

	if (!evtimer_pending(&r->tick, NULL))
		evtimer_add(&r->tick, &tv);
}

/*
 * Neither the client's socket nor the channel tells us when it has room
 * again (their callbacks belong to proxy.c and frontend.c): look.
 */
static void
run_tick(int fd, short event, void *arg)
{
	struct xrun	*r = arg;
	struct session	*s = r->s;
	uint32_t	 id = r->id;

	if (r->held > 0 && client_backlog(s) <= XEXEC_BACKLOG)
		run_release(r);
	if ((r = run_find(id)) == NULL || r->input.len == 0)
		goto out;
	if (run_input_flush(r) == 0 && (r = run_find(id)) != NULL)
		lcmd_resume(s);
out:
	if ((r = run_find(id)) != NULL && (r->held > 0 || r->input.len > 0))
		run_tick_arm(r);
}

/* Give the output credit a run holds back to execd. */
static void
run_release(struct xrun *r)
{
	struct chan	*c;
	size_t		 n = r->held;

	if (n == 0)
		return;
	r->held = 0;
	held_total -= n;
	if ((c = fe_service_chan(PROC_EXECD)) != NULL)
		chan_consumed(c, n);	/* may fail the channel: last */
}

/* Out of the table and off its command; freed by run_free(). */
static void
run_detach(struct xrun *r)
{
	if (r->lc != NULL && r->lc->arg == r)
		r->lc->arg = NULL;
	r->lc = NULL;
	RB_REMOVE(xruntree, &runs, r);
	evtimer_del(&r->tick);
}

static void
run_free(struct xrun *r)
{
	run_release(r);
	buf_free(&r->argbuf, 1);
	buf_free(&r->input, 1);
	buf_free(&r->line, 0);
	free(r);
}

/*
 * The session ends, or execd went away (local.c answers for us), or the
 * command was refused: a running module is stopped.
 */
static void
xexec_cancel(struct session *s, struct lcmd *lc)
{
	struct xrun	*r = lc->arg;
	struct chan	*c;
	int		 running;

	if (r == NULL)
		return;
	running = r->phase == XR_RUN;
	run_detach(r);
	if (running && (c = fe_service_chan(PROC_EXECD)) != NULL) {
		log_info("session %llu: %s: %s cancelled",
		    (unsigned long long)s->id, s->user, r->module);
		(void)chan_compose(c, IMSG_XEXEC_CANCEL, r->id, -1, NULL, 0);
	}
	run_free(r);
}

/*
 * execd went away, and the module with it.  An interactive session ends
 * as when the module ends: the client may be sending lines for the module
 * right now, and none of them may be taken for a command (doc/xexec.md),
 * so NO [UNAVAILABLE] waits for its DONE.  One whose module had ended
 * already keeps the answer it has.  Anything else is answered now.
 */
static void
xexec_gone(struct session *s, struct lcmd *lc)
{
	struct xrun	*r = lc->arg;

	if (r != NULL && r->phase == XR_ENDED)
		return;
	if (r != NULL && r->phase == XR_RUN && r->in_session &&
	    !r->client_done) {
		log_info("session %llu: %s: %s: execd went away",
		    (unsigned long long)s->id, s->user, r->module);
		run_flush_line(r);
		run_session_end(r, LCMD_GONE);
		return;
	}
	lcmd_cancel(s, LCMD_GONE);
}
