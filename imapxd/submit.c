/*
 * SUBMIT in the front end: the IMAP side of seeds/004 (doc/submit.md).
 *
 * `tag SUBMIT {n}` is a local command (local.c): the literal is the
 * message, and nothing of it goes to the backend.  It streams to submitd
 * over the service channel as it arrives: IMSG_SUBMIT_START, DATA
 * chunks as the channel's window allows (the client is paused while it
 * is full), END after the command's last CRLF.  submitd checks the
 * message, relays it and answers IMSG_SUBMIT_DONE, which becomes the
 * tagged answer in the draft's words; on success it may hand over the
 * message as relayed, which is appended to the Sent mailbox over the
 * user's own backend session (an injected APPEND whose literal is read
 * from the descriptor) before the client hears OK.
 *
 * `tag SUBMIT CATENATE (TEXT {n} URL "..." ...)` builds the message from
 * the client's text and parts of messages already on the server (RFC
 * 4469's syntax), strictly in order and without holding any part whole:
 * the client is paused while a part is fetched over its backend session,
 * with UID FETCH ... BODY.PEEK when the part is in the selected mailbox,
 * else with GENURLAUTH and URLFETCH (RFC 4467), which need no SELECT; the
 * fetched literal streams to submitd, the backend held while the window
 * is full.
 *
 * Each submission has an id in the imsg peerid, unique on the channel; a
 * table maps it back.  A session that ends cancels its submission
 * (IMSG_SUBMIT_CANCEL); if submitd goes away, what is not sent yet is
 * answered NO [UNAVAILABLE], saying whether it may have been sent.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chan.h"
#include "frontend.h"
#include "imsg.h"
#include "imsg-types.h"
#include "log.h"
#include "submit.h"

#define SUBMIT_SIZE_DEFAULT	(25 * 1024 * 1024)
#define RESP_MAX		(SUBMIT_URL_MAX + 64)	/* GENURLAUTH's */
#define REASON_MAX		200	/* the backend's words we pass on */
#define BADURL_MAX		512	/* of the URL in [BADURL "..."] */
#define SUB_PIPE_MIN		(64 * 1024)	/* spliced, from a plaintext client */
#define SUB_PIPE_SIZE		(256 * 1024)	/* asked of the pipe: 64 slots */
#define SUB_SPLICE_MAX		(1024 * 1024)	/* bytes of one splice */

/* submitd went away before it could have sent anything */
#define SUB_GONE	"NO [UNAVAILABLE] Service went away, the message was not sent"

enum sub_phase {
	SP_ARGS,		/* the command is being read */
	SP_WAIT,		/* END sent: waiting for submitd's DONE */
	SP_SAVE			/* relayed: the Sent copy is being appended */
};

/* A URL of CATENATE, waiting for its turn. */
struct subpart {
	TAILQ_ENTRY(subpart)	 entry;
	size_t			 len;
	char			 url[];
};
TAILQ_HEAD(subpartlist, subpart);

struct submission {
	RB_ENTRY(submission)	 node;
	uint32_t		 id;		/* the imsg peerid */
	struct session		*s;
	struct lcmd		*lc;
	enum sub_phase		 phase;
	struct submit_args	 args;
	uint64_t		 size_max;
	uint64_t		 announced;	/* SUBMIT {n}: n */
	uint64_t		 total;		/* message bytes so far */
	int			 started;	/* START sent, DONE not seen */
	int			 ended;		/* the command is complete */
	struct buf		 pend;		/* for submitd, no room yet */
	int			 pr, pw;	/* the pipe to submitd, or -1 */
	struct event		 cev, pev;	/* splice: client, pipe */
	int			 splicing;	/* the literal's rest */
	int			 held;		/* we hold the backend */
	struct subpartlist	 parts;		/* URLs not fetched yet */
	struct subpart		*cur;		/* the one being fetched */
	struct buf		 urllit;	/* a URL coming as a literal */
	uint64_t		 urlleft;
	int			 inurl;
	struct subinj		*inj;		/* working for us now */
};

RB_HEAD(subtree, submission);

enum subinj_kind {
	SI_FETCH,		/* UID FETCH in the selected mailbox */
	SI_GENURLAUTH,		/* authorize a URL of another mailbox */
	SI_URLFETCH,		/* fetch it */
	SI_APPEND		/* the Sent copy */
};

/*
 * An injected command working for a submission.  It may outlive it (the
 * command was refused meanwhile, the session ends): then it is orphaned,
 * its responses are swallowed and it frees itself at its tagged answer.
 */
struct subinj {
	struct inject		 inj;
	struct submission	*sub;		/* NULL: orphaned */
	enum subinj_kind	 kind;
	char			*cmd;
	uint32_t		 uid;		/* SI_FETCH: "UID u" is ours */
	char			*url;		/* SI_URLFETCH: what we asked */
	int			 found;		/* the part's value was seen */
	int			 nil;
	int			 inbody;	/* its literal is the part */
	const char		*bad;		/* why it cannot be used */
	struct buf		 resp;		/* SI_GENURLAUTH: its answer */
};

static int	 sub_cmp(struct submission *, struct submission *);
RB_PROTOTYPE(subtree, submission, node, sub_cmp);

static int	 submit_begin(struct session *, struct lcmd *, const char *,
		    size_t);
static int	 submit_literal(struct session *, struct lcmd *, uint64_t,
		    int);
static int	 submit_data(struct session *, struct lcmd *, int,
		    const char *, size_t);
static void	 submit_end(struct session *, struct lcmd *);
static void	 submit_cancel(struct session *, struct lcmd *);
static void	 submit_dispatch(struct imsg *);
static void	 submit_writable(void);
static void	 sub_kick(struct submission *);
static void	 submit_closed(void);

static struct submission *sub_find(uint32_t);
static int	 sub_busy(struct submission *);
static void	 sub_advance(struct submission *);
static int	 sub_start(struct submission *);
static int	 sub_push(struct submission *, const char *, size_t);
static int	 sub_flush(struct submission *);
static ssize_t	 sub_send(struct submission *, const char *, size_t);
static void	 sub_pipe(struct submission *);
static ssize_t	 sub_pipe_write(struct submission *, const char *, size_t);
static void	 sub_spliced(int, short, void *);
static void	 sub_splice_end(struct submission *);
static void	 sub_pipe_close(struct submission *);
static void	 sub_end(struct submission *);
static void	 sub_refuse(struct submission *);
static void	 sub_badurl(struct submission *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 sub_answer(struct submission *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 sub_abort(struct submission *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 sub_vanswer(struct submission *, int, const char *,
		    va_list);
static void	 sub_detach(struct submission *);
static void	 sub_free(struct submission *);
static void	 part_queue(void *, const char *, size_t);
static void	 part_fetch(struct submission *);
static int	 part_selected(struct session *, const struct submit_url *);
static int	 backend_port(const struct backend *);
static void	 hello_recv(struct imsg *);
static void	 done_recv(struct imsg *);
static void	 done_answer(struct submission *, struct imsg_submit_done *,
		    int);
static void	 save_start(struct submission *, int, uint64_t);
static struct subinj *inj_new(struct submission *, enum subinj_kind,
		    char *);
static void	 inj_free(struct subinj *);
static int	 inj_match(struct inject *, const char *, size_t);
static void	 inj_data(struct inject *, int, const char *, size_t);
static void	 inj_done(struct inject *, const char *, size_t);
static void	 inj_value(struct subinj *, const char *, size_t);
static void	 inj_content(struct subinj *, const char *, size_t);
static void	 fetch_done(struct subinj *, int, const char *);
static void	 genurlauth_done(struct subinj *, int, const char *);
static void	 append_done(struct subinj *, int, const char *);
static int	 fetch_claims(const char *, size_t, uint32_t);
static int	 tagged_ok(const char *, size_t, char *, size_t);
static void	 clean(char *, int);

static const struct lcmd_ops submit_ops = {
	.name = "SUBMIT",
	.service = PROC_SUBMITD,
	.begin = submit_begin,
	.literal = submit_literal,
	.data = submit_data,
	.end = submit_end,
	.cancel = submit_cancel,
};

static const struct fe_service_ops submit_service = {
	.dispatch = submit_dispatch,
	.writable = submit_writable,
	.closed = submit_closed,
	.fdpass = 1,		/* the Sent copy */
};

static struct subtree		 subs = RB_INITIALIZER(&subs);
static uint32_t			 sub_seq;
static struct imsg_submit_hello	 hello;		/* of the current channel */
static int			 hello_ok;

RB_GENERATE(subtree, submission, node, sub_cmp);

static int
sub_cmp(struct submission *a, struct submission *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Called once per worker, before any session. */
void
submit_register(void)
{
	lcmd_register(&submit_ops);
	fe_service_register(PROC_SUBMITD, &submit_service);
}

static struct submission *
sub_find(uint32_t id)
{
	struct submission	key;

	key.id = id;
	return RB_FIND(subtree, &subs, &key);
}

/*
 * The text after "SUBMIT" up to a literal marker or the end.  Until
 * submitd has said HELLO on its channel, SUBMIT is unavailable.
 */
static int
submit_begin(struct session *s, struct lcmd *lc, const char *p, size_t len)
{
	struct submission	*sub;
	uint32_t		 id;

	if (s->user == NULL) {
		lcmd_done(s, "NO [UNAVAILABLE] Not logged in");
		return -1;
	}
	if (!hello_ok) {
		lcmd_done(s, "NO [UNAVAILABLE] Service not available, try "
		    "again later");
		return -1;
	}
	if ((sub = calloc(1, sizeof(*sub))) == NULL)
		fatal("%s", __func__);
	do {
		sub->id = ++sub_seq;
	} while (sub->id == 0 || sub_find(sub->id) != NULL);
	id = sub->id;
	sub->s = s;
	sub->lc = lc;
	sub->phase = SP_ARGS;
	sub->pr = sub->pw = -1;
	sub->size_max = hello.size_max;
	TAILQ_INIT(&sub->parts);
	submit_args_init(&sub->args);
	RB_INSERT(subtree, &subs, sub);
	lc->arg = sub;
	/* a message literal over the limit: NO [TOOBIG] before "+" */
	lc->litmax = sub->size_max < s->conf->limits.literal_max ?
	    sub->size_max : s->conf->limits.literal_max;

	if (submit_args_text(&sub->args, p, len, part_queue, sub) == -1) {
		sub_refuse(sub);
		return -1;
	}
	sub_advance(sub);
	if ((sub = sub_find(id)) == NULL)
		return -1;
	if (sub_busy(sub))
		lcmd_pause(s);		/* a URL is being fetched */
	return 0;
}

/* A literal follows the segment just read: what is it? */
static int
submit_literal(struct session *s, struct lcmd *lc, uint64_t len, int lit)
{
	struct submission	*sub = lc->arg;
	struct chan		*c;

	if (sub == NULL || sub->phase != SP_ARGS)
		return 0;
	switch (submit_args_literal(&sub->args, len, lit)) {
	case SUBARG_MESSAGE:
		/*
		 * START now, before the "+": submitd opens its transaction
		 * with the relay while the client sends the message.
		 */
		sub->announced = len;
		if (len > 0 && len <= sub->size_max) {
			if (s->client.tls == NULL && len >= SUB_PIPE_MIN)
				sub_pipe(sub);
			if (sub_start(sub) == -1)
				return -1;
			/* before the "+", not at the end of this turn */
			if ((c = fe_service_chan(PROC_SUBMITD)) != NULL)
				chan_flush(c);
		}
		return 0;
	case SUBARG_TEXT:
		if (sub->total + len > sub->size_max) {
			sub_abort(sub, "NO [TOOBIG] Message too large (at most "
			    "%llu bytes)", (unsigned long long)sub->size_max);
			return -1;
		}
		return 0;
	case SUBARG_URL:
		sub->inurl = 1;
		sub->urlleft = len;
		if (len == 0) {
			sub->inurl = 0;
			part_queue(sub, "", 0);
		}
		return 0;
	default:
		sub_refuse(sub);
		return -1;
	}
}

/* Later segments (with CRLF and marker) and literal bytes. */
static int
submit_data(struct session *s, struct lcmd *lc, int kind, const char *p,
    size_t len)
{
	struct submission	*sub = lc->arg;
	struct imap_seg		 seg;
	uint32_t		 id;

	if (sub == NULL || sub->phase != SP_ARGS)
		return 0;	/* submitd answered early: the rest is dropped */
	id = sub->id;
	if (kind == INJ_LITERAL) {
		if (sub->inurl) {
			if (buf_append(&sub->urllit, p, len) == -1)
				fatal("%s", __func__);
			if ((sub->urlleft -= len) == 0) {
				sub->inurl = 0;
				part_queue(sub, sub->urllit.data +
				    sub->urllit.off, sub->urllit.len);
				buf_free(&sub->urllit, 0);
			}
		} else if (sub_push(sub, p, len) == -1)
			return 0;		/* answered */
		else if (sub->pw != -1 && s->clit > len) {
			/* the rest of the literal: from the socket to the pipe */
			sub->splicing = 1;
			if (sub->pend.len == 0)
				event_add(&sub->cev, NULL);
			return 1;
		}
	} else {
		if (imap_segment(p, len, &seg) != 1)
			fatalx("%s: not a segment", __func__);
		if (submit_args_text(&sub->args, p, seg.textlen, part_queue,
		    sub) == -1) {
			sub_refuse(sub);
			return 0;
		}
	}
	sub_advance(sub);
	if ((sub = sub_find(id)) == NULL)
		return 0;
	return sub_busy(sub);
}

/* The command's last CRLF: the message is complete once its parts are. */
static void
submit_end(struct session *s, struct lcmd *lc)
{
	struct submission	*sub = lc->arg;

	if (sub == NULL || sub->phase != SP_ARGS)
		return;
	if (submit_args_end(&sub->args) == -1) {
		sub_refuse(sub);
		return;
	}
	sub->ended = 1;
	sub_advance(sub);
}

/* A syntax error or a limit of the arguments. */
static void
sub_refuse(struct submission *sub)
{
	if (sub->args.limit)
		sub_abort(sub, "NO [LIMIT] %s", sub->args.error);
	else
		sub_abort(sub, "BAD %s", sub->args.error != NULL ?
		    sub->args.error : "Syntax error in SUBMIT");
}

/* Does the client have to wait?  (Its bytes come after what waits.) */
static int
sub_busy(struct submission *sub)
{
	return sub->inj != NULL || sub->pend.len > 0 || sub->splicing ||
	    !TAILQ_EMPTY(&sub->parts);
}

/*
 * One step on, strictly in order: what submitd has no room for yet,
 * then the next URL, then the end, else the client's next bytes.  May
 * answer the command (and free sub).
 */
static void
sub_advance(struct submission *sub)
{
	if (sub->phase != SP_ARGS || sub->inj != NULL || sub->pend.len > 0 ||
	    sub->splicing)
		return;
	if (!TAILQ_EMPTY(&sub->parts)) {
		part_fetch(sub);
		return;
	}
	if (sub->ended) {
		sub_end(sub);
		return;
	}
	lcmd_resume(sub->s);
}

static void
part_queue(void *arg, const char *url, size_t len)
{
	struct submission	*sub = arg;
	struct subpart		*part;

	if ((part = malloc(sizeof(*part) + len + 1)) == NULL)
		fatal("%s", __func__);
	part->len = len;
	memcpy(part->url, url, len);
	part->url[len] = '\0';
	TAILQ_INSERT_TAIL(&sub->parts, part, entry);
}

/*
 * START goes once: when the message literal is announced, else (for
 * CATENATE) with the first bytes.  A command refused before that costs
 * submitd nothing.  -1: answered.
 */
static int
sub_start(struct submission *sub)
{
	struct imsg_submit_start	 st;
	struct chan			*c;
	uint32_t			 id = sub->id;
	int				 fd;

	if (sub->started)
		return 0;
	memset(&st, 0, sizeof(st));
	strlcpy(st.user, sub->s->user, sizeof(st.user));
	st.size = sub->announced;	/* 0 for CATENATE: not known */
	st.piped = sub->pr != -1;
	fd = sub->pr;
	sub->pr = -1;			/* the imsg closes it once sent */
	sub->started = 1;
	if ((c = fe_service_chan(PROC_SUBMITD)) == NULL ||
	    chan_compose(c, IMSG_SUBMIT_START, id, fd, &st,
	    sizeof(st)) == -1) {
		if (fd != -1)
			close(fd);
		if ((sub = sub_find(id)) != NULL)
			sub_answer(sub, "NO [UNAVAILABLE] Service not "
			    "available, the message was not sent");
		return -1;
	}
	return sub_find(id) != NULL ? 0 : -1;
}

/* Message bytes, in order; -1: the submission was answered. */
static int
sub_push(struct submission *sub, const char *p, size_t len)
{
	ssize_t	n;

	if (sub->total + len > sub->size_max) {
		sub_abort(sub, "NO [TOOBIG] Message too large (at most %llu "
		    "bytes)", (unsigned long long)sub->size_max);
		return -1;
	}
	if (sub_start(sub) == -1)
		return -1;
	sub->total += len;
	/* straight from the client's bytes while submitd has room */
	if (sub->pend.len == 0) {
		if ((n = sub_send(sub, p, len)) == -1)
			return -1;
		p += n;
		len -= n;
		if (len == 0)
			return 0;
	}
	if (buf_append(&sub->pend, p, len) == -1)
		fatal("%s", __func__);
	return sub_flush(sub);
}

/* What waits, as far as the window takes it. */
static int
sub_flush(struct submission *sub)
{
	ssize_t	n;

	if (sub->pend.len == 0)
		return 0;
	if ((n = sub_send(sub, sub->pend.data + sub->pend.off,
	    sub->pend.len)) == -1)
		return -1;
	sub->pend.off += n;
	sub->pend.len -= n;
	if (sub->pend.len == 0)
		buf_free(&sub->pend, 0);
	return 0;
}

/*
 * Bytes to submitd in chunks of one imsg, as many as the window takes:
 * how many went, -1 if the submission was answered (and freed).
 */
static ssize_t
sub_send(struct submission *sub, const char *p, size_t len)
{
	struct chan	*c;
	uint32_t	 id = sub->id;
	size_t		 n, sent = 0;

	if (sub->pw != -1)
		return sub_pipe_write(sub, p, len);
	while (sent < len) {
		if ((c = fe_service_chan(PROC_SUBMITD)) == NULL) {
			sub_answer(sub, SUB_GONE);
			return -1;
		}
		n = len - sent < IMAPX_CHUNK_MAX ? len - sent :
		    IMAPX_CHUNK_MAX;
		if (n > chan_room(c))
			n = chan_room(c);
		if (n == 0)
			break;		/* submit_writable() goes on */
		if (chan_send(c, IMSG_SUBMIT_DATA, id, -1, p + sent,
		    n) == -1) {
			if ((sub = sub_find(id)) != NULL)
				sub_answer(sub, "NO [UNAVAILABLE] Service went "
				    "away, the message was not sent");
			return -1;
		}
		/* a failed write closes the channel and answers for us */
		if (sub_find(id) == NULL)
			return -1;
		sent += n;
	}
	return sent;
}

/*
 * A large message from a plaintext client goes to submitd through a
 * pipe: what was read with the command is written into it, the rest of
 * the literal spliced from the socket (splice(2)), never copied here.
 * Without a pipe it goes as DATA, as over TLS.
 */
static void
sub_pipe(struct submission *sub)
{
	int	fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("%s: pipe2", __func__);
		return;
	}
	/*
	 * Fewer wake-ups on both sides; the default works too.  A slot
	 * filled by splice holds a page fragment of the socket, up to 32
	 * KiB: a pipe of 64 slots holds at most 2 MiB in flight.
	 */
	(void)fcntl(fds[1], F_SETPIPE_SZ, SUB_PIPE_SIZE);
	sub->pr = fds[0];
	sub->pw = fds[1];
	event_set(&sub->cev, sub->s->client.fd, EV_READ, sub_spliced, sub);
	event_set(&sub->pev, sub->pw, EV_WRITE, sub_spliced, sub);
}

/* Bytes into the pipe, as many as it takes: how many, -1 answered. */
static ssize_t
sub_pipe_write(struct submission *sub, const char *p, size_t len)
{
	ssize_t	n;

	if ((n = write(sub->pw, p, len)) == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			sub_answer(sub, SUB_GONE);
			return -1;
		}
		n = 0;
	}
	if ((size_t)n < len)
		event_add(&sub->pev, NULL);	/* sub_spliced() goes on */
	return n;
}

/*
 * The pipe has room or the client sent more: first what waits from the
 * command's buffer, then the literal's rest, socket to pipe, until it
 * is all there or one side has to wait.
 */
static void
sub_spliced(int fd, short event, void *arg)
{
	struct submission	*sub = arg;
	struct session		*s = sub->s;
	struct pollfd		 pfd;
	uint32_t		 id = sub->id;
	ssize_t			 n;
	size_t			 want;
	int			 i;

	if (sub->pend.len > 0) {
		if (sub_flush(sub) == -1 || (sub = sub_find(id)) == NULL ||
		    sub->pend.len > 0)
			return;
		if (!sub->splicing) {
			sub_advance(sub);
			return;
		}
	}
	/* a few at a time: other sessions of the worker go on too */
	for (i = 0; i < 4; i++) {
		want = s->clit < SUB_SPLICE_MAX ? s->clit : SUB_SPLICE_MAX;
		n = splice(s->client.fd, NULL, sub->pw, NULL, want,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0) {
			lcmd_literal_taken(s, n);
			sub->total += n;
			session_timer_reset(s);
			if (s->clit == 0) {
				sub_splice_end(sub);
				return;
			}
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			/* which side must wait: a full pipe, or the client */
			pfd.fd = sub->pw;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, 0) == 1)
				event_add(&sub->cev, NULL);
			else
				event_add(&sub->pev, NULL);
			return;
		}
		if (n == -1 && errno == EPIPE) {
			sub_answer(sub, SUB_GONE);
			return;
		}
		/* the client hung up or failed: its connection tells */
		sub->splicing = 0;
		event_del(&sub->cev);
		event_del(&sub->pev);
		lcmd_resume(s);
		return;
	}
	event_add(&sub->cev, NULL);
}

/* All of the literal is in the pipe: its end, and the command's rest. */
static void
sub_splice_end(struct submission *sub)
{
	sub->splicing = 0;
	sub_pipe_close(sub);
	lcmd_resume(sub->s);
}

static void
sub_pipe_close(struct submission *sub)
{
	if (sub->pw == -1)
		return;
	event_del(&sub->cev);
	event_del(&sub->pev);
	close(sub->pw);
	sub->pw = -1;
}

/* The whole message is with submitd: END, then wait for DONE. */
static void
sub_end(struct submission *sub)
{
	struct chan	*c;
	uint32_t	 id = sub->id;

	if (sub->total == 0) {
		sub_abort(sub, "BAD Empty message");
		return;
	}
	if (sub_start(sub) == -1)
		return;
	sub_pipe_close(sub);		/* its end, then END */
	sub->phase = SP_WAIT;
	if ((c = fe_service_chan(PROC_SUBMITD)) == NULL ||
	    chan_compose(c, IMSG_SUBMIT_END, id, -1, NULL, 0) == -1) {
		/* nothing got to the relay without END */
		if ((sub = sub_find(id)) != NULL)
			sub_answer(sub, SUB_GONE);
		return;
	}
	if ((sub = sub_find(id)) != NULL)
		log_debug("session %llu: submission %u: %llu bytes",
		    (unsigned long long)sub->s->id, id,
		    (unsigned long long)sub->total);
}

/*
 * The next URL of CATENATE.  A part of the selected mailbox is fetched
 * there; a part of another goes through URLAUTH, which needs no SELECT
 * that would change the client's session; a URL that carries its own
 * URLAUTH is fetched as it is.
 */
static void
part_fetch(struct submission *sub)
{
	struct session		*s = sub->s;
	struct submit_url	 u;
	struct subinj		*si;
	char			*cmd, url[SUBMIT_URL_MAX * 4];

	sub->cur = TAILQ_FIRST(&sub->parts);
	TAILQ_REMOVE(&sub->parts, sub->cur, entry);
	if (submit_url_parse(sub->cur->url, sub->cur->len, &u) == -1) {
		sub_badurl(sub, "Not the IMAP URL of a message or part");
		return;
	}
	if (u.urlauth) {
		if (asprintf(&cmd, "URLFETCH \"%s\"\r\n", sub->cur->url) == -1)
			fatal("%s", __func__);
		si = inj_new(sub, SI_URLFETCH, cmd);
		if ((si->url = strdup(sub->cur->url)) == NULL)
			fatal("%s", __func__);
	} else if (part_selected(s, &u) && (u.uidvalidity == 0 ||
	    u.uidvalidity == s->uidvalidity)) {
		if ((cmd = malloc(SUBMIT_SECTION_MAX + 64)) == NULL)
			fatal("%s", __func__);
		if (submit_url_fetch(&u, cmd, SUBMIT_SECTION_MAX + 64) == -1)
			fatalx("%s: fetch line too long", __func__);
		si = inj_new(sub, SI_FETCH, cmd);
		si->uid = u.uid;
	} else if (part_selected(s, &u) && s->uidvalidity != 0) {
		sub_badurl(sub, "UIDVALIDITY is not the mailbox's");
		return;
	} else {
		if (s->be == NULL || submit_url_authurl(&u, s->user,
		    s->be->host, backend_port(s->be), url, sizeof(url)) == -1) {
			sub_badurl(sub, "Cannot reach that mailbox");
			return;
		}
		if (asprintf(&cmd, "GENURLAUTH \"%s\" INTERNAL\r\n", url) == -1)
			fatal("%s", __func__);
		si = inj_new(sub, SI_GENURLAUTH, cmd);
	}
	sub->inj = si;
	lcmd_pause(s);
	if (proxy_inject(s, &si->inj) == -1) {
		sub->inj = NULL;
		inj_free(si);
		sub_abort(sub, "NO [UNAVAILABLE] Cannot fetch the part now");
	}
}

/* The backend's port: a URLAUTH URL names the server with it. */
static int
backend_port(const struct backend *be)
{
	if (be->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&be->ss)->sin_port);
	if (be->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)
		    &be->ss)->sin6_port);
	return 0;
}

/*
 * The URL's mailbox is the selected one, for sure: no SELECT, EXAMINE,
 * CLOSE or UNSELECT of the client's is still on its way, which the
 * backend would run before our UID FETCH.
 */
static int
part_selected(struct session *s, const struct submit_url *u)
{
	struct cmd	*c;

	if (s->mailbox == NULL || s->pendbox != NULL)
		return 0;
	TAILQ_FOREACH(c, &s->cmds, entry)
		if (c->flags & (CMD_SELECT | CMD_UNSELECT))
			return 0;
	if (strcasecmp(u->mailbox, "INBOX") == 0)
		return strcasecmp(s->mailbox, "INBOX") == 0;
	return strcmp(u->mailbox, s->mailbox) == 0;
}

static struct subinj *
inj_new(struct submission *sub, enum subinj_kind kind, char *cmd)
{
	struct subinj	*si;

	if ((si = calloc(1, sizeof(*si))) == NULL)
		fatal("%s", __func__);
	si->sub = sub;
	si->kind = kind;
	si->cmd = cmd;
	si->inj.cmd = cmd;
	si->inj.cmdlen = strlen(cmd);
	si->inj.match = kind == SI_APPEND ? NULL : inj_match;
	si->inj.data = inj_data;
	si->inj.done = inj_done;
	si->inj.arg = si;
	si->inj.bodyfd = -1;
	return si;
}

static void
inj_free(struct subinj *si)
{
	free(si->cmd);
	free(si->url);
	buf_free(&si->resp, 0);
	free(si);
}

/* An untagged response: is it the answer to this command? */
static int
inj_match(struct inject *inj, const char *p, size_t len)
{
	struct subinj	*si = inj->arg;

	switch (si->kind) {
	case SI_FETCH:
		return fetch_claims(p, len, si->uid);
	case SI_GENURLAUTH:
		return len > 13 && strncasecmp(p, "* GENURLAUTH ", 13) == 0;
	case SI_URLFETCH:
		return len > 11 && strncasecmp(p, "* URLFETCH ", 11) == 0;
	default:
		return 0;
	}
}

/*
 * "* n FETCH (... UID u ... BODY[" in the first segment: the answer to
 * our UID FETCH, not a flag change or the answer to a FETCH of the
 * client's.
 */
static int
fetch_claims(const char *p, size_t len, uint32_t uid)
{
	char	 want[24];
	size_t	 i = 2, n;
	int	 body = 0, ours = 0;

	if (len < 10 || p[0] != '*' || p[1] != ' ')
		return 0;
	while (i < len && isdigit((unsigned char)p[i]))
		i++;
	if (i == 2 || len - i < 8 || strncasecmp(p + i, " FETCH (", 8) != 0)
		return 0;
	n = snprintf(want, sizeof(want), "UID %u", uid);
	for (i += 7; i < len; i++) {
		if (len - i > 5 && strncasecmp(p + i, "BODY[", 5) == 0)
			body = 1;
		if ((p[i - 1] == '(' || p[i - 1] == ' ') && len - i >= n &&
		    strncasecmp(p + i, want, n) == 0 &&
		    (i + n == len || p[i + n] == ' ' || p[i + n] == ')'))
			ours = 1;
	}
	return body && ours;
}

/*
 * The response an injected command claimed, segment by segment and its
 * literals.  For a fetch: find the part's value, then pass on the bytes
 * of its literal as they come.
 */
static void
inj_data(struct inject *inj, int kind, const char *p, size_t len)
{
	struct subinj	*si = inj->arg;

	if (si->sub == NULL || si->bad != NULL)
		return;
	switch (si->kind) {
	case SI_GENURLAUTH:
		if (si->resp.len + len > RESP_MAX)
			si->bad = "Response too long";
		else if (buf_append(&si->resp, p, len) == -1)
			fatal("%s", __func__);
		return;
	case SI_FETCH:
	case SI_URLFETCH:
		break;
	default:
		return;
	}
	if (kind == INJ_LITERAL) {
		if (si->inbody)
			inj_content(si, p, len);
		return;
	}
	si->inbody = 0;		/* a line after the literal */
	if (!si->found)
		inj_value(si, p, len);
}

/*
 * Find the part in a line of the response: "BODY[section]<origin> "
 * (UID FETCH) or "URLFETCH url " (URLFETCH) and after it NIL, a quoted
 * string or a literal, which must end the segment.
 */
static void
inj_value(struct subinj *si, const char *p, size_t len)
{
	struct submission	*sub = si->sub;
	struct imap_seg		 seg;
	struct imap_rd		 rd;
	const char		*q, *end;
	char			*buf;
	size_t			 n, v;

	if (imap_segment(p, len, &seg) != 1) {
		si->bad = "Response too long";	/* passed on in pieces */
		return;
	}
	end = p + seg.textlen;
	if (si->kind == SI_FETCH) {
		for (q = p; q + 5 <= end; q++)
			if (strncasecmp(q, "BODY[", 5) == 0)
				break;
		if (q + 5 > end)
			return;			/* not in this segment */
		if ((q = memchr(q, ']', end - q)) == NULL) {
			si->bad = "Unexpected response";
			return;
		}
		q++;
		if (q < end && *q == '<' &&
		    (q = memchr(q, '>', end - q)) != NULL)
			q++;
		if (q == NULL || q == end || *q != ' ') {
			si->bad = "Unexpected response";
			return;
		}
		v = q + 1 - p;
	} else {
		imap_rd_init(&rd, p, seg.textlen);
		rd.pos = 11;
		if ((buf = malloc(seg.textlen + 1)) == NULL)
			fatal("%s", __func__);
		if (imap_rd_astring(&rd, buf, seg.textlen + 1, &n) ==
		    TOK_ERR || strcmp(buf, si->url) != 0 ||
		    imap_rd_sp(&rd) == -1) {
			free(buf);
			si->bad = "Unexpected response";
			return;
		}
		free(buf);
		v = rd.pos;
	}
	si->found = 1;
	if (v == seg.textlen && seg.lit != LIT_NONE) {
		if (sub->total + seg.litlen > sub->size_max) {
			sub_abort(sub, "NO [TOOBIG] Message too large (at "
			    "most %llu bytes)",
			    (unsigned long long)sub->size_max);
			return;
		}
		si->inbody = seg.litlen > 0;
		return;
	}
	if (seg.textlen - v >= 3 && strncasecmp(p + v, "NIL", 3) == 0 &&
	    (seg.textlen - v == 3 || p[v + 3] == ' ' || p[v + 3] == ')')) {
		si->nil = 1;
		return;
	}
	if (p[v] == '"') {
		imap_rd_init(&rd, p, seg.textlen);
		rd.pos = v;
		if ((buf = malloc(seg.textlen + 1)) == NULL)
			fatal("%s", __func__);
		if (imap_rd_astring(&rd, buf, seg.textlen + 1, &n) ==
		    TOK_QUOTED)
			inj_content(si, buf, n);
		else
			si->bad = "Unexpected response";
		free(buf);
		return;
	}
	si->bad = "Unexpected response";
}

/*
 * Bytes of a fetched part for submitd.  While the window is full the
 * backend is not read: the part never piles up here.
 */
static void
inj_content(struct subinj *si, const char *p, size_t len)
{
	struct submission	*sub = si->sub;

	if (sub_push(sub, p, len) == -1 || si->sub == NULL)
		return;
	if (sub->pend.len > 0 && !sub->held) {
		sub->held = 1;
		proxy_backend_hold(sub->s, 1);
	}
}

/* The tagged answer of an injected command (NULL: the session ends). */
static void
inj_done(struct inject *inj, const char *p, size_t len)
{
	struct subinj	*si = inj->arg;
	char		 why[REASON_MAX];
	int		 ok;

	if (si->sub == NULL || p == NULL) {
		inj_free(si);
		return;
	}
	si->sub->inj = NULL;
	ok = tagged_ok(p, len, why, sizeof(why));
	switch (si->kind) {
	case SI_FETCH:
	case SI_URLFETCH:
		fetch_done(si, ok, why);
		break;
	case SI_GENURLAUTH:
		genurlauth_done(si, ok, why);
		break;
	case SI_APPEND:
		append_done(si, ok, why);
		break;
	}
}

/* A part is fetched, or it is not there. */
static void
fetch_done(struct subinj *si, int ok, const char *why)
{
	struct submission	*sub = si->sub;
	const char		*bad = si->bad;
	int			 found = si->found, nil = si->nil;

	inj_free(si);
	if (!ok)
		sub_badurl(sub, "Cannot fetch it: %s", why);
	else if (bad != NULL)
		sub_badurl(sub, "Cannot fetch it: %s", bad);
	else if (!found)
		sub_badurl(sub, "No such message");
	else if (nil)
		sub_badurl(sub, "No such message part");
	else {
		free(sub->cur);
		sub->cur = NULL;
		sub_advance(sub);
	}
}

/* The URL is authorized: fetch it with the token. */
static void
genurlauth_done(struct subinj *si, int ok, const char *why)
{
	struct submission	*sub = si->sub;
	struct imap_rd		 rd;
	struct subinj		*next;
	char			 url[SUBMIT_URL_MAX], *cmd;
	size_t			 n;
	int			 good;

	if (!ok || si->bad != NULL) {
		sub_badurl(sub, "Cannot fetch it: %s", ok ? si->bad : why);
		inj_free(si);
		return;
	}
	imap_rd_init(&rd, si->resp.data + si->resp.off, si->resp.len);
	rd.pos = 13;
	good = si->resp.len > 13 && imap_rd_astring(&rd, url, sizeof(url),
	    &n) != TOK_ERR && n == strlen(url) && submit_url_ok(url, n) &&
	    strcasestr(url, ";URLAUTH=") != NULL;
	inj_free(si);
	if (!good) {
		sub_badurl(sub, "Cannot fetch it: no authorized URL");
		return;
	}
	if (asprintf(&cmd, "URLFETCH \"%s\"\r\n", url) == -1)
		fatal("%s", __func__);
	next = inj_new(sub, SI_URLFETCH, cmd);
	if ((next->url = strdup(url)) == NULL)
		fatal("%s", __func__);
	sub->inj = next;
	if (proxy_inject(sub->s, &next->inj) == -1) {
		sub->inj = NULL;
		inj_free(next);
		sub_abort(sub, "NO [UNAVAILABLE] Cannot fetch the part now");
	}
}

/* The Sent copy is appended, or not: the message went out either way. */
static void
append_done(struct subinj *si, int ok, const char *why)
{
	struct submission	*sub = si->sub;

	inj_free(si);
	if (ok)
		sub_answer(sub, "OK SUBMIT completed");
	else
		sub_answer(sub, "OK SUBMIT completed (no copy in Sent: %s)",
		    why);
}

/*
 * Is "tag OK ..." an OK?  why gets the rest after the tag ("NO [X]
 * text"), one clean line, cut short.
 */
static int
tagged_ok(const char *p, size_t len, char *why, size_t whylen)
{
	const char	*sp;
	size_t		 n;

	why[0] = '\0';
	if ((sp = memchr(p, ' ', len)) == NULL)
		return 0;
	sp++;
	n = len - (sp - p);
	if (n >= whylen)
		n = whylen - 1;
	memcpy(why, sp, n);
	why[n] = '\0';
	clean(why, 1);
	return n >= 2 && strncasecmp(sp, "OK", 2) == 0 &&
	    (n == 2 || sp[2] == ' ');
}

/*
 * Make text safe for a response line: no CR or LF (the draft's text is
 * passed on as it is otherwise); strict: printable ASCII only.
 */
static void
clean(char *p, int strict)
{
	for (; *p != '\0'; p++)
		if (*p == '\r' || *p == '\n' || (strict &&
		    ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)))
			*p = ' ';
}

/* A URL that does not resolve: NO [BADURL "url"] (RFC 4469 section 6). */
static void
sub_badurl(struct submission *sub, const char *fmt, ...)
{
	va_list		 ap;
	char		 url[BADURL_MAX], why[REASON_MAX + 64];
	size_t		 i;
	int		 c;

	for (i = 0; sub->cur != NULL && i < sub->cur->len &&
	    i < sizeof(url) - 1; i++) {
		c = (unsigned char)sub->cur->url[i];
		url[i] = c < 0x20 || c >= 0x7f || c == '"' || c == ']' ||
		    c == '\\' ? '?' : c;
	}
	url[i] = '\0';
	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	clean(why, 1);
	sub_abort(sub, "NO [BADURL \"%s\"] %s", url, why);
}

/* Answer and forget; submitd is not told (it finished, or is gone). */
static void
sub_answer(struct submission *sub, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	sub_vanswer(sub, 0, fmt, ap);
	va_end(ap);
}

/* Answer and forget; submitd drops what it has of the message. */
static void
sub_abort(struct submission *sub, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	sub_vanswer(sub, 1, fmt, ap);
	va_end(ap);
}

static void
sub_vanswer(struct submission *sub, int cancel, const char *fmt, va_list ap)
{
	struct session	*s = sub->s;
	struct lcmd	*lc = sub->lc;
	struct chan	*c;
	uint32_t	 id = sub->id;
	char		*answer;

	if (vasprintf(&answer, fmt, ap) == -1)
		fatal("%s", __func__);
	cancel = cancel && sub->started;
	sub_detach(sub);
	sub_free(sub);
	if (cancel && (c = fe_service_chan(PROC_SUBMITD)) != NULL)
		(void)chan_compose(c, IMSG_SUBMIT_CANCEL, id, -1, NULL, 0);
	if (s->local == lc)
		lcmd_done(s, "%s", answer);
	free(answer);
}

/* Out of the table and off its command and its injected command. */
static void
sub_detach(struct submission *sub)
{
	if (sub->inj != NULL) {
		sub->inj->sub = NULL;		/* orphaned */
		sub->inj = NULL;
	}
	if (sub->held) {
		sub->held = 0;
		proxy_backend_hold(sub->s, 0);
	}
	if (sub->lc != NULL && sub->lc->arg == sub)
		sub->lc->arg = NULL;
	sub->lc = NULL;
	RB_REMOVE(subtree, &subs, sub);
}

static void
sub_free(struct submission *sub)
{
	struct subpart	*part;

	while ((part = TAILQ_FIRST(&sub->parts)) != NULL) {
		TAILQ_REMOVE(&sub->parts, part, entry);
		free(part);
	}
	free(sub->cur);
	sub_pipe_close(sub);
	if (sub->pr != -1)
		close(sub->pr);
	buf_free(&sub->pend, 0);
	buf_free(&sub->urllit, 0);
	free(sub);
}

/*
 * The session ends, or its command was refused for it (a line too long):
 * submitd drops the message unless it was relayed already.
 */
static void
submit_cancel(struct session *s, struct lcmd *lc)
{
	struct submission	*sub = lc->arg;
	struct chan		*c;
	uint32_t		 id;
	int			 cancel;

	if (sub == NULL)
		return;
	id = sub->id;
	cancel = sub->started && sub->phase != SP_SAVE;
	sub_detach(sub);
	sub_free(sub);
	if (cancel && (c = fe_service_chan(PROC_SUBMITD)) != NULL) {
		log_info("session %llu: submission %u cancelled",
		    (unsigned long long)s->id, id);
		(void)chan_compose(c, IMSG_SUBMIT_CANCEL, id, -1, NULL, 0);
	}
}

/* Dispatch for the submitd channel; every payload is checked first. */
static void
submit_dispatch(struct imsg *imsg)
{
	switch (imsg_get_type(imsg)) {
	case IMSG_SUBMIT_HELLO:
		hello_recv(imsg);
		break;
	case IMSG_SUBMIT_DONE:
		done_recv(imsg);
		break;
	default:
		log_warnx("%s: unexpected imsg %u", __func__,
		    imsg_get_type(imsg));
		break;
	}
}

/* submitd's settings, first on every new channel: SUBMIT may start. */
static void
hello_recv(struct imsg *imsg)
{
	struct imsg_submit_hello	h;
	char				q[sizeof(h.sentbox) * 2 + 3];

	if (imsg_get_data(imsg, &h, sizeof(h)) == -1) {
		log_warnx("%s: bad IMSG_SUBMIT_HELLO", __func__);
		return;
	}
	h.sentbox[sizeof(h.sentbox) - 1] = '\0';
	if (h.sentbox[0] != '\0' && imap_quote(h.sentbox, q, sizeof(q)) == -1) {
		log_warnx("%s: Sent mailbox name not usable, no copies",
		    __func__);
		h.sentbox[0] = '\0';
	}
	if (h.size_max == 0)
		h.size_max = SUBMIT_SIZE_DEFAULT;
	hello = h;
	hello_ok = 1;
	log_debug("submitd: messages up to %llu bytes, Sent copy %s",
	    (unsigned long long)hello.size_max,
	    hello.sentbox[0] != '\0' ? hello.sentbox : "off");
}

/* submitd's last word on a submission, maybe with the Sent copy. */
static void
done_recv(struct imsg *imsg)
{
	struct imsg_submit_done	 d;
	struct submission	*sub;
	int			 fd = -1;

	if (imsg_get_data(imsg, &d, sizeof(d)) == -1) {
		log_warnx("%s: bad IMSG_SUBMIT_DONE", __func__);
		return;		/* a descriptor goes with the imsg */
	}
	if ((sub = sub_find(imsg_get_id(imsg))) == NULL) {
		log_debug("%s: no submission %u", __func__,
		    imsg_get_id(imsg));
		return;
	}
	if (sub->phase == SP_SAVE) {
		log_warnx("%s: second DONE for submission %u", __func__,
		    sub->id);
		return;
	}
	if (d.status == SUBMIT_OK && d.save)
		fd = imsg_get_fd(imsg);
	done_answer(sub, &d, fd);
}

/*
 * The tagged answer, in the draft's words: OK exactly as seeds/004 has
 * it; a NO's text is the draft's comma form, passed on as it is after
 * the response code if there is one.
 */
static void
done_answer(struct submission *sub, struct imsg_submit_done *d, int fd)
{
	struct session	*s = sub->s;
	const char	*text = d->text;
	size_t		 i;

	d->code[sizeof(d->code) - 1] = '\0';
	d->text[sizeof(d->text) - 1] = '\0';
	clean(d->text, 0);
	for (i = 0; d->code[i] != '\0'; i++)
		if (!imap_atom_char((unsigned char)d->code[i]))
			break;
	if (d->code[i] != '\0') {
		log_warnx("%s: bad response code from submitd", __func__);
		d->code[0] = '\0';
	}
	sub->started = 0;	/* submitd is done with it: no CANCEL */
	log_info("session %llu: %s: submission %u: %s%s%s",
	    (unsigned long long)s->id, s->user, sub->id,
	    d->status == SUBMIT_OK ? "sent" : d->status == SUBMIT_NO ?
	    "refused" : d->status == SUBMIT_BAD ? "not a message" :
	    "outcome unknown", d->text[0] != '\0' ? ": " : "", d->text);

	switch (d->status) {
	case SUBMIT_OK:
		if (fd != -1 && hello.sentbox[0] != '\0') {
			save_start(sub, fd, d->size);
			return;
		}
		if (fd != -1)
			close(fd);
		sub_answer(sub, "OK SUBMIT completed");
		return;
	case SUBMIT_NO:
		if (text[0] == '\0')
			text = "Message not sent";
		if (d->code[0] != '\0')
			sub_answer(sub, "NO [%s] %s", d->code, text);
		else
			sub_answer(sub, "NO %s", text);
		return;
	case SUBMIT_BAD:
		sub_answer(sub, "BAD %s", text[0] != '\0' ? text :
		    "Not a message");
		return;
	default:
		/* the relay may have it: no reply to the final "." */
		sub_answer(sub, "NO %s", text[0] != '\0' ? text :
		    "The message may not have been sent");
		return;
	}
}

/*
 * Append the message as relayed to the Sent mailbox over the user's own
 * session, its literal read from submitd's descriptor as the backend
 * takes it (proxy.c).
 */
static void
save_start(struct submission *sub, int fd, uint64_t size)
{
	struct session	*s = sub->s;
	struct subinj	*si;
	struct stat	 st;
	char		 q[sizeof(hello.sentbox) * 2 + 3], *cmd;

	if (fstat(fd, &st) == -1 || st.st_size < 0 ||
	    (uint64_t)st.st_size != size || size == 0) {
		log_warnx("session %llu: submission %u: the Sent copy is "
		    "%lld bytes, not %llu", (unsigned long long)s->id, sub->id,
		    (long long)st.st_size, (unsigned long long)size);
		close(fd);
		sub_answer(sub, "OK SUBMIT completed (no copy in Sent: the "
		    "copy was not usable)");
		return;
	}
	if (imap_quote(hello.sentbox, q, sizeof(q)) == -1)
		fatalx("%s: Sent mailbox name", __func__);
	if (asprintf(&cmd, "APPEND %s (\\Seen) {%llu%s}\r\n", q,
	    (unsigned long long)size,
	    (s->bflags & BCAP_LITERALPLUS) ? "+" : "") == -1)
		fatal("%s", __func__);
	si = inj_new(sub, SI_APPEND, cmd);
	si->inj.body = 1;
	si->inj.bodyfd = fd;
	si->inj.bodylen = size;
	sub->phase = SP_SAVE;
	sub->inj = si;
	if (proxy_inject(s, &si->inj) == -1) {
		close(fd);
		sub->inj = NULL;
		inj_free(si);
		sub_answer(sub, "OK SUBMIT completed (no copy in Sent: the "
		    "session cannot take it)");
	}
}

/* Credit came back: those that wait for room go on, oldest first. */
static void
submit_writable(void)
{
	struct submission	*sub, key;
	uint32_t		 id;

	key.id = 0;
	while ((sub = RB_NFIND(subtree, &subs, &key)) != NULL) {
		id = sub->id;
		sub_kick(sub);
		if (!fe_service_up(PROC_SUBMITD) || id == UINT32_MAX)
			return;
		key.id = id + 1;
	}
}

/* Send what waited for room; once it is all out, go on. */
static void
sub_kick(struct submission *sub)
{
	uint32_t	id = sub->id;

	if (sub->phase != SP_ARGS || (sub->pend.len == 0 && !sub->held))
		return;
	if (sub_flush(sub) == -1 || (sub = sub_find(id)) == NULL ||
	    sub->pend.len > 0)
		return;
	if (sub->held) {
		sub->held = 0;
		proxy_backend_hold(sub->s, 0);
	}
	sub_advance(sub);
}

/*
 * submitd went away.  What it had not relayed is lost: answered here,
 * saying whether the message may have gone out (END was sent).  A
 * Sent copy being appended needs submitd no more.
 */
static void
submit_closed(void)
{
	struct submission	*sub, *next;

	hello_ok = 0;
	RB_FOREACH_SAFE(sub, subtree, &subs, next) {
		switch (sub->phase) {
		case SP_ARGS:
			sub_answer(sub, SUB_GONE);
			break;
		case SP_WAIT:
			sub_answer(sub, "NO [UNAVAILABLE] Service went away, "
			    "the message may not have been sent");
			break;
		case SP_SAVE:
			break;
		}
	}
}
