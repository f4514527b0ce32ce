/*
 * The parsed proxy that a session becomes after login.
 *
 * Both directions are parsed as they pass: the client stream into
 * commands (tag, name, line segments, literals), the backend stream into
 * responses (continuation, untagged, tagged).  Bytes are forwarded
 * segment by segment as soon as a segment is complete; literal bodies are
 * forwarded as they arrive without being looked at.  What the proxy keeps
 * per session is the list of client commands in flight, the commands it
 * injected itself, and the selected mailbox.  doc/proxy.md tells the
 * rules this file keeps.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "frontend.h"
#include "log.h"

#define RESP_HOLD_MAX	(64 * 1024)	/* longer response lines stream */
#define STREAM_TAIL	32		/* room for "~{n+}" at a line end */
#define ABORT_BYTES	" \x7f\r\n"	/* ends any command with a BAD */
#define HELD_MAX	(64 * 1024)	/* our lines held mid-response */
#define BODY_CHUNK	(64 * 1024)	/* of an injected literal, a read */

static void	proxy_client_drain(struct conn *, void *);
static void	proxy_backend_drain(struct conn *, void *);
static void	client_command(struct session *, const char *,
		    struct imap_seg *);
static void	client_continue(struct session *, const char *,
		    struct imap_seg *);
static void	client_abort(struct session *, const char *, const char *);
static void	command_boundary(struct session *);
static int	at_boundary(struct session *);
static void	injects_flush(struct session *);
static void	line_too_long(struct session *, const char *,
		    struct imap_seg *);
static void	response_start(struct session *, const char *,
		    struct imap_seg *);
static void	response_tagged(struct session *, const char *,
		    struct imap_seg *);
static void	response_end(struct session *);
static void	deliver(struct session *, int, const char *, size_t);
static uint32_t	uidvalidity_parse(const char *, size_t);
static void	forward_caps(struct session *, const char *, struct imap_seg *,
		    size_t, size_t);
static struct cmd *cmd_find(struct session *, const char *, size_t);
static void	cmd_free(struct session *, struct cmd *);
static int	idle_in_flight(struct session *);
static int	idle_pending(struct session *);
static void	idle_reenter(struct session *);
static void	idle_finish(struct session *);
static void	idle_over(struct session *);
static int	injects_unsent(struct session *);
static void	injects_send(struct session *);
static void	body_start(struct session *, struct inject *);
static int	body_pump(struct session *);
static void	body_finished(struct session *);
static void	body_drop(struct session *);

void
proxy_start(struct session *s)
{
	static const char	 b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	size_t			 i;

	TAILQ_INIT(&s->cmds);
	TAILQ_INIT(&s->injects);
	s->cs = CS_CMD;
	s->rs = RS_START;
	/* Injected tags: a random prefix no client can predict or reuse. */
	s->injprefix[0] = 'x';
	for (i = 1; i < 9; i++)
		s->injprefix[i] = b32[arc4random_uniform(32)];
	s->injprefix[i++] = '.';
	s->injprefix[i] = '\0';
	s->state = S_PROXY;
	s->client.flags &= ~CONN_SECRET;
	s->client.on_read = proxy_client_input;
	s->client.on_drain = proxy_client_drain;
	s->backend.on_read = proxy_backend_input;
	s->backend.on_drain = proxy_backend_drain;
	s->backend.arg = s;
	session_timer_reset(s);
	conn_pause(&s->backend, 0);
	if (s->state == S_PROXY)
		conn_pause(&s->client, 0);
}

void
proxy_free(struct session *s)
{
	struct cmd	*c;
	struct inject	*inj;

	if (s->state != S_PROXY && s->state != S_CLOSING)
		return;
	lcmd_cancel(s, NULL);
	while ((c = TAILQ_FIRST(&s->cmds)) != NULL)
		cmd_free(s, c);
	while ((inj = TAILQ_FIRST(&s->injects)) != NULL) {
		TAILQ_REMOVE(&s->injects, inj, entry);
		/* a literal body not sent yet: the descriptor is ours */
		if (inj->body && inj->bodyfd != -1) {
			close(inj->bodyfd);
			inj->bodyfd = -1;
		}
		if (inj->done != NULL)
			inj->done(inj, NULL, 0);
	}
	body_drop(s);
	buf_free(&s->held, 0);
	free(s->mailbox);
	free(s->pendbox);
	s->mailbox = s->pendbox = NULL;
	s->uidvalidity = s->penduidv = 0;
}

/*
 * Lines of our own go out only between backend responses.  A long one
 * (SUBMIT's NO may carry 8 KiB of the relay's words) is never cut short.
 */
void
proxy_local(struct session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024], *line = buf;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf) - 2) {
		if ((line = malloc((size_t)n + 3)) == NULL)
			fatal("%s", __func__);
		va_start(ap, fmt);
		(void)vsnprintf(line, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	line[n++] = '\r';
	line[n++] = '\n';
	if (s->rs == RS_START) {
		conn_queue(&s->client, line, n);
		if (line != buf)
			free(line);
		return;
	}
	if (buf_append(&s->held, line, n) == -1)
		fatal("%s", __func__);
	if (line != buf)
		free(line);
	/*
	 * A client that keeps a response open by not reading must not make
	 * us hold its refusals without bound: stop reading its commands.
	 */
	if (s->held.len > HELD_MAX && !s->held_paused) {
		s->held_paused = 1;
		conn_pause(&s->client, 1);
	}
}

static void
proxy_client_drain(struct conn *c, void *arg)
{
	struct session	*s = arg;

	if (s->state == S_PROXY && (s->backend.flags & CONN_PAUSED) &&
	    !s->bhold)
		conn_pause(&s->backend, 0);
}

static void
proxy_backend_drain(struct conn *c, void *arg)
{
	struct session	*s = arg;

	if (s->state != S_PROXY)
		return;
	if (s->ibody.active && body_pump(s))
		body_finished(s);
	if (s->client.flags & CONN_PAUSED)
		proxy_client_resume(s);
}

/*
 * Read the client again, unless something else still wants it paused:
 * our held lines, a local command that waits, an injected literal on
 * its way, a full backend queue.  (A command that waits for its answer
 * pauses it again when its next bytes come.)
 */
void
proxy_client_resume(struct session *s)
{
	if (s->state != S_PROXY || s->held_paused || s->ibody.active ||
	    (s->local != NULL && s->local->paused) ||
	    conn_outlen(&s->backend) > CONN_OUT_HIGH)
		return;
	conn_pause(&s->client, 0);
}

/*
 * An injected command's consumer (a service channel) is full: stop
 * reading the backend until it has room, so a large part never piles
 * up here.  The client's own responses wait meanwhile.
 */
void
proxy_backend_hold(struct session *s, int hold)
{
	s->bhold = hold;
	if (hold)
		conn_pause(&s->backend, 1);
	else if (s->state == S_PROXY &&
	    conn_outlen(&s->client) <= CONN_OUT_HIGH)
		conn_pause(&s->backend, 0);
}

/* The client is in IDLE: its next line is DONE, not a command. */
static int
idle_in_flight(struct session *s)
{
	struct cmd	*c = TAILQ_LAST(&s->cmds, cmdlist);

	return c != NULL && (c->flags & CMD_IDLE) && !(c->flags & CMD_DONE);
}

/* The backend's IDLE (the client's, or ours re-entered) is not over. */
static int
idle_pending(struct session *s)
{
	struct cmd	*c = TAILQ_LAST(&s->cmds, cmdlist);

	return c != NULL && (c->flags & CMD_IDLE);
}

/* Injected commands are done: put the backend back into the IDLE. */
static void
idle_reenter(struct session *s)
{
	struct cmd	*c = TAILQ_LAST(&s->cmds, cmdlist);

	if (s->idle_done) {
		idle_finish(s);
		return;
	}
	conn_queue(&s->backend, c->tag, c->taglen);
	conn_queue(&s->backend, " IDLE\r\n", 7);
	s->idle = IDLE_REENTER;
}

/* The client said DONE while the backend was out of IDLE: answer it. */
static void
idle_finish(struct session *s)
{
	struct cmd	*c = TAILQ_LAST(&s->cmds, cmdlist);

	proxy_local(s, "%s OK Idle completed", c->tag);
	cmd_free(s, c);
	idle_over(s);
}

/* The client's IDLE is over on both sides: its next commands may go. */
static void
idle_over(struct session *s)
{
	s->idle = IDLE_NONE;
	s->idle_done = 0;
	if (s->cs == CS_IDLE_WAIT) {
		s->cs = CS_CMD;
		conn_pause(&s->client, 0);
	}
	if (s->cs == CS_CMD)
		command_boundary(s);
}

void
proxy_client_input(struct conn *c, void *arg)
{
	struct session	*s = arg;
	struct imap_seg	 seg;
	const char	*p;
	size_t		 len, n;
	int		 r;

	if (c->flags & (CONN_EOF | CONN_ERROR)) {
		session_close(s, NULL);
		return;
	}
	session_timer_reset(s);
	while (c->in.len > 0 && s->state == S_PROXY) {
		p = c->in.data + c->in.off;
		len = c->in.len;
		/* an injected literal goes first: nothing may land inside */
		if (s->ibody.active && (s->cs == CS_CMD || s->cs == CS_LINE ||
		    s->cs == CS_LITERAL)) {
			conn_pause(c, 1);
			goto out;
		}
		if (s->local != NULL && s->local->paused &&
		    (s->cs == CS_LOCAL_LINE || s->cs == CS_LOCAL_LIT))
			goto out;
		switch (s->cs) {
		case CS_LOCAL_WAIT:
		case CS_IDLE_WAIT:
			goto out;
		case CS_LOCAL_LIT:
			n = len < s->clit ? len : s->clit;
			r = lcmd_data(s, INJ_LITERAL, p, n);
			conn_consume(c, n);
			s->clit -= n;
			if (s->clit == 0)
				s->cs = s->cs == CS_LOCAL_LIT ? CS_LOCAL_LINE :
				    CS_DISCARD_LINE;	/* answered early */
			if (r == 1)
				goto out;
			continue;
		case CS_LITERAL:
		case CS_DISCARD_LIT:
			n = len < s->clit ? len : s->clit;
			if (s->cs == CS_LITERAL)
				conn_queue(&s->backend, p, n);
			conn_consume(c, n);
			s->clit -= n;
			if (s->clit == 0)
				s->cs = s->cs == CS_LITERAL ? CS_LINE :
				    CS_DISCARD_LINE;
			continue;
		default:
			break;
		}
		r = imap_segment(p, len, &seg);
		if (r == 0) {
			if (len <= s->conf->limits.line_max)
				break;
			/* a line longer than the limit: refuse, skip it */
			if (s->cs == CS_CMD)
				proxy_refuse(s, p, NULL, "BAD [TOOBIG]",
				    "Command line too long");
			else if (s->cs == CS_LOCAL_LINE)
				lcmd_cancel(s, "BAD [TOOBIG] Command line too "
				    "long");
			else if (s->cs == CS_LINE)
				client_abort(s, "BAD [TOOBIG]",
				    "Command line too long");
			s->cs = CS_DISCARD_LINE;
			conn_consume(c, len);
			continue;
		}
		if (seg.textlen > s->conf->limits.line_max &&
		    s->cs != CS_DISCARD_LINE) {
			line_too_long(s, p, &seg);
			continue;
		}
		switch (s->cs) {
		case CS_DISCARD_LINE:
			conn_consume(c, seg.len);
			s->cs = CS_CMD;
			if (seg.lit & LIT_NONSYNC) {
				s->clit = seg.litlen;
				s->cs = CS_DISCARD_LIT;
			}
			break;
		case CS_CMD:
			client_command(s, p, &seg);
			break;
		case CS_LOCAL_LINE:
			r = lcmd_data(s, INJ_LINE, p, seg.len);
			conn_consume(c, seg.len);
			if (s->local == NULL)
				proxy_refuse_stream(s, &seg);	/* answered early */
			else
				lcmd_after_segment(s, &seg);
			if (r == 1)
				goto out;
			break;
		default:
			client_continue(s, p, &seg);
			break;
		}
	}
out:
	if (s->state != S_PROXY)
		return;
	if (s->cs == CS_LOCAL_WAIT || s->cs == CS_IDLE_WAIT)
		conn_pause(c, 1);	/* later commands wait for the answer */
	conn_flush(&s->backend);
	conn_flush(&s->client);
	if (conn_outlen(&s->backend) > CONN_OUT_HIGH)
		conn_pause(&s->client, 1);
}

/* A complete segment over the line limit: refuse the command it is in. */
static void
line_too_long(struct session *s, const char *p, struct imap_seg *seg)
{
	switch (s->cs) {
	case CS_CMD:
		proxy_refuse(s, p, seg, "BAD [TOOBIG]", "Command line too long");
		return;
	case CS_LINE:
		client_abort(s, "BAD [TOOBIG]", "Command line too long");
		break;
	case CS_LOCAL_LINE:
		lcmd_cancel(s, "BAD [TOOBIG] Command line too long");
		break;
	default:
		break;
	}
	conn_consume(&s->client, seg->len);
	proxy_refuse_stream(s, seg);
}

/*
 * After refusing a segment: a synchronizing literal it announced will not
 * come; a non-synchronizing one is read and dropped with the rest of the
 * command.
 */
void
proxy_refuse_stream(struct session *s, struct imap_seg *seg)
{
	if (seg->lit & LIT_NONSYNC) {
		s->clit = seg->litlen;
		s->cs = CS_DISCARD_LIT;
	} else
		s->cs = CS_CMD;
}

/*
 * A local command was answered, maybe from outside any input handler
 * (a service's reply): what that unblocked must be written now.
 */
void
proxy_command_done(struct session *s)
{
	command_boundary(s);
	conn_flush(&s->backend);
}

/*
 * Answer a command ourselves before any of it went to the backend.  A
 * synchronizing literal was not acknowledged, so the client will not send
 * it (RFC 3501 section 7.5); a non-synchronizing one is read and dropped
 * (RFC 7888 section 4).
 */
void
proxy_refuse(struct session *s, const char *p, struct imap_seg *seg,
    const char *status, const char *text)
{
	struct imap_rd	rd;
	char		tag[TAG_MAX];

	imap_rd_init(&rd, p, seg != NULL ? seg->textlen :
	    s->client.in.len);
	if (imap_rd_tag(&rd, tag, sizeof(tag)) == TOK_ERR)
		proxy_local(s, "* %s %s", status, text);
	else
		proxy_local(s, "%s %s %s", tag, status, text);
	if (seg == NULL)
		return;
	conn_consume(&s->client, seg->len);
	proxy_refuse_stream(s, seg);
}

/*
 * Refuse a command part of which already went to the backend: end it
 * there with bytes no IMAP grammar accepts, so the backend answers BAD
 * and does nothing, and put our answer in place of its one.
 */
static void
client_abort(struct session *s, const char *status, const char *text)
{
	struct cmd	*c = s->curcmd;
	char		*line;

	conn_queue(&s->backend, ABORT_BYTES, sizeof(ABORT_BYTES) - 1);
	s->curcmd = NULL;
	if (c == NULL)
		return;
	if (asprintf(&line, "%s %s %s\r\n", c->tag, status, text) == -1)
		fatal("asprintf");
	c->flags |= CMD_ABORTED;
	free(c->answer);
	c->answer = line;
}

static void
client_command(struct session *s, const char *p, struct imap_seg *seg)
{
	struct imap_rd	 rd;
	struct cmd	*c;
	char		 tag[TAG_MAX], name[CMDNAME_MAX], sub[16];
	char		 box[1024];
	const struct lcmd_ops *lops;
	size_t		 i, taglen, name_end;

	if (seg->textlen == 0 && seg->lit == LIT_NONE) {
		conn_consume(&s->client, seg->len);	/* empty line */
		return;
	}
	if (idle_in_flight(s)) {
		/* "DONE" ends IDLE; it is no command and has no tag */
		TAILQ_LAST(&s->cmds, cmdlist)->flags |= CMD_DONE;
		if (s->idle == IDLE_ON || s->idle == IDLE_NONE) {
			conn_queue(&s->backend, p, seg->len);
			conn_consume(&s->client, seg->len);
			return;
		}
		/*
		 * We took the backend out of IDLE for injected commands:
		 * answer the client ourselves, and hold its next commands
		 * until the backend is out of IDLE for good.
		 */
		conn_consume(&s->client, seg->len);
		s->idle_done = 1;
		s->cs = CS_IDLE_WAIT;
		if (s->idle == IDLE_OUT)
			idle_finish(s);
		return;
	}
	imap_rd_init(&rd, p, seg->textlen);
	if (imap_rd_tag(&rd, tag, sizeof(tag)) == TOK_ERR ||
	    imap_rd_sp(&rd) == -1 ||
	    imap_rd_atom(&rd, name, sizeof(name)) == TOK_ERR) {
		proxy_refuse(s, p, seg, "BAD", "Syntax error in command");
		return;
	}
	for (i = 0; name[i] != '\0'; i++)
		name[i] = toupper((unsigned char)name[i]);
	name_end = rd.pos;
	if (strcmp(name, "UID") == 0 && imap_rd_sp(&rd) == 0 &&
	    imap_rd_atom(&rd, sub, sizeof(sub)) != TOK_ERR) {
		strlcat(name, " ", sizeof(name));
		for (i = 0; sub[i] != '\0'; i++)
			sub[i] = toupper((unsigned char)sub[i]);
		strlcat(name, sub, sizeof(name));
	}
	taglen = strlen(tag);
	/*
	 * Only our own namespace is checked.  A client that reuses a tag
	 * still in flight is served as the backend serves it (RFC 3501
	 * section 2.2.1 only asks clients for unique tags); responses go
	 * to the oldest command with that tag.  Scanning every command in
	 * flight for each new one would cost O(n^2) on pipelined batches.
	 */
	if ((tag[0] == 'x' || tag[0] == 'X') &&
	    strncasecmp(tag, s->injprefix, INJPREFIX_LEN) == 0) {
		proxy_refuse(s, p, seg, "BAD", "Tag already in use");
		return;
	}
	if ((lops = lcmd_lookup(name)) != NULL) {
		lcmd_begin(s, lops, tag, p, seg, name_end);
		return;
	}
	if (strcmp(name, "COMPRESS") == 0) {
		proxy_refuse(s, p, seg, "NO [CANNOT]",
		    "COMPRESS is not available through this server");
		return;
	}
	if (strcmp(name, "STARTTLS") == 0 || strcmp(name, "LOGIN") == 0 ||
	    strcmp(name, "AUTHENTICATE") == 0) {
		proxy_refuse(s, p, seg, "BAD", "Already authenticated");
		return;
	}
	if (seg->lit != LIT_NONE &&
	    seg->litlen > s->conf->limits.literal_max) {
		proxy_refuse(s, p, seg, "NO [TOOBIG]", "Literal too large");
		return;
	}

	if ((c = calloc(1, sizeof(*c) + taglen + 1)) == NULL)
		fatal("%s", __func__);
	memcpy(c->tag, tag, taglen + 1);
	c->taglen = taglen;
	strlcpy(c->name, name, sizeof(c->name));
	if (strcmp(name, "IDLE") == 0)
		c->flags |= CMD_IDLE;
	else if (strcmp(name, "LOGOUT") == 0)
		c->flags |= CMD_LOGOUT;
	else if (strcmp(name, "CLOSE") == 0 || strcmp(name, "UNSELECT") == 0)
		c->flags |= CMD_UNSELECT;
	else if (strcmp(name, "ENABLE") == 0)
		c->flags |= CMD_ENABLE;
	else if (strcmp(name, "SELECT") == 0 || strcmp(name, "EXAMINE") == 0) {
		c->flags |= CMD_SELECT;
		free(s->pendbox);
		s->pendbox = NULL;
		if (imap_rd_sp(&rd) == 0 && imap_rd_astring(&rd, box,
		    sizeof(box), NULL) != TOK_ERR)
			s->pendbox = strdup(box);
	}
	TAILQ_INSERT_TAIL(&s->cmds, c, entry);

	conn_queue(&s->backend, p, seg->len);
	conn_consume(&s->client, seg->len);
	if (seg->lit != LIT_NONE) {
		s->curcmd = c;
		s->clit = seg->litlen;
		s->cs = s->clit > 0 ? CS_LITERAL : CS_LINE;
	} else
		command_boundary(s);
}

/* The rest of a command after one of its literals. */
static void
client_continue(struct session *s, const char *p, struct imap_seg *seg)
{
	if (seg->lit != LIT_NONE &&
	    seg->litlen > s->conf->limits.literal_max) {
		client_abort(s, "NO [TOOBIG]", "Literal too large");
		conn_consume(&s->client, seg->len);
		s->cs = CS_CMD;
		if (seg->lit & LIT_NONSYNC) {
			s->clit = seg->litlen;
			s->cs = CS_DISCARD_LIT;
		}
		return;
	}
	conn_queue(&s->backend, p, seg->len);
	conn_consume(&s->client, seg->len);
	if (seg->lit != LIT_NONE) {
		s->clit = seg->litlen;
		s->cs = s->clit > 0 ? CS_LITERAL : CS_LINE;
	} else
		command_boundary(s);
}

/*
 * The backend has seen a complete command: a safe point to send the
 * commands we inject.  If the client is in IDLE, the backend is taken
 * out of it with DONE first, and put back with the client's own tag
 * afterwards (idle_reenter); the client sees nothing of it.
 */
static void
command_boundary(struct session *s)
{
	s->cs = CS_CMD;
	s->curcmd = NULL;
	injects_flush(s);
}

/*
 * Has the backend seen whole client commands only?  A command imapxd
 * serves itself sends nothing to the backend, so while one runs the
 * backend is between commands too: SUBMIT's own injected commands go
 * out while its literal is still arriving.
 */
static int
at_boundary(struct session *s)
{
	switch (s->cs) {
	case CS_CMD:
	case CS_DISCARD_LIT:
	case CS_DISCARD_LINE:
	case CS_LOCAL_LINE:
	case CS_LOCAL_LIT:
	case CS_LOCAL_WAIT:
		return 1;
	default:
		return 0;
	}
}

static void
injects_flush(struct session *s)
{
	if (idle_in_flight(s)) {
		/* end IDLE to make room; re-entered when they are done */
		if (s->idle == IDLE_ON && injects_unsent(s)) {
			conn_queue(&s->backend, "DONE\r\n", 6);
			s->idle = IDLE_BREAK;
		} else if (s->idle == IDLE_OUT)
			injects_send(s);	/* one queued by another's end */
		return;
	}
	injects_send(s);
}

static int
injects_unsent(struct session *s)
{
	struct inject	*inj;

	TAILQ_FOREACH(inj, &s->injects, entry)
		if (!inj->sent)
			return 1;
	return 0;
}

/* Send what waits, in order; a command's literal goes before the next. */
static void
injects_send(struct session *s)
{
	struct inject	*inj;

	TAILQ_FOREACH(inj, &s->injects, entry) {
		if (s->ibody.active)
			return;
		if (inj->sent)
			continue;
		conn_queue(&s->backend, inj->tag, strlen(inj->tag));
		conn_queue(&s->backend, " ", 1);
		conn_queue(&s->backend, inj->cmd, inj->cmdlen);
		inj->sent = 1;
		if (inj->body)
			body_start(s, inj);
	}
}

/*
 * Queue a command of our own.  A command with a literal body must end in
 * a literal marker of bodylen bytes; then, and only if this returns 0,
 * the descriptor is the proxy's.
 */
int
proxy_inject(struct session *s, struct inject *inj)
{
	struct imap_seg	seg;

	if (s->state != S_PROXY)
		return -1;
	if (inj->body && (imap_segment(inj->cmd, inj->cmdlen, &seg) != 1 ||
	    seg.len != inj->cmdlen || seg.lit == LIT_NONE ||
	    seg.litlen != inj->bodylen || inj->bodyfd == -1))
		return -1;
	(void)snprintf(inj->tag, sizeof(inj->tag), "%s%u", s->injprefix,
	    ++s->injseq);
	inj->sent = 0;
	TAILQ_INSERT_TAIL(&s->injects, inj, entry);
	if (at_boundary(s)) {
		injects_flush(s);
		conn_flush(&s->backend);
	}
	return 0;
}

/*
 * The command line of an injected command with a literal body went out.
 * A synchronizing literal waits for the backend's "+"; a
 * non-synchronizing one (the backend has LITERAL+) goes at once.  Either
 * way nothing else goes to the backend until it is through.
 */
static void
body_start(struct session *s, struct inject *inj)
{
	struct injbody	*b = &s->ibody;
	struct imap_seg	 seg;

	(void)imap_segment(inj->cmd, inj->cmdlen, &seg);
	memset(b, 0, sizeof(*b));
	b->active = 1;
	b->fd = inj->bodyfd;
	b->len = inj->bodylen;
	b->waitcont = !(seg.lit & LIT_NONSYNC);
	b->owner = inj;
	inj->body = 0;
	inj->bodyfd = -1;
	if (!b->waitcont)
		(void)body_pump(s);	/* done or not, the loop goes on */
}

/*
 * Copy the body to the backend as far as its queue takes it; the drain
 * callback calls again.  A descriptor that gives fewer bytes than were
 * announced is padded, and the command then ends with bytes no IMAP
 * grammar accepts, so the backend refuses it instead of storing a
 * damaged message.  1: the body is through (now).
 */
static int
body_pump(struct session *s)
{
	static char	 chunk[BODY_CHUNK];
	struct injbody	*b = &s->ibody;
	struct conn	*c = &s->backend;
	uint64_t	 want;
	ssize_t		 n;

	if (!b->active || b->waitcont || b->busy)
		return 0;
	b->busy = 1;
	for (;;) {
		while (b->off < b->len && conn_outlen(c) < CONN_OUT_HIGH &&
		    !(c->flags & CONN_ERROR)) {
			want = b->len - b->off;
			if (want > sizeof(chunk))
				want = sizeof(chunk);
			if (b->failed)
				n = -1;
			else
				while ((n = pread(b->fd, chunk, want,
				    (off_t)b->off)) == -1 && errno == EINTR)
					;
			if (n <= 0) {
				if (!b->failed)
					log_warnx("session %llu: injected "
					    "literal: %s at %llu of %llu",
					    (unsigned long long)s->id,
					    n == 0 ? "end of file" :
					    strerror(errno),
					    (unsigned long long)b->off,
					    (unsigned long long)b->len);
				b->failed = 1;
				memset(chunk, ' ', want);
				n = want;
			}
			conn_queue(c, chunk, n);
			b->off += n;
		}
		if (b->off == b->len) {
			if (b->failed)
				conn_queue(c, ABORT_BYTES,
				    sizeof(ABORT_BYTES) - 1);
			else
				conn_queue(c, "\r\n", 2);
			close(b->fd);
			memset(b, 0, sizeof(*b));
			conn_flush(c);
			return 1;
		}
		if (c->flags & CONN_ERROR)
			break;
		conn_flush(c);	/* its drain callback finds us busy */
		if (conn_outlen(c) >= CONN_OUT_HIGH || (c->flags & CONN_ERROR))
			break;
	}
	b->busy = 0;
	return 0;
}

/* An injected literal is through: what waited behind it may go. */
static void
body_finished(struct session *s)
{
	injects_send(s);
	if (s->idle == IDLE_OUT && TAILQ_EMPTY(&s->injects) &&
	    !s->ibody.active)
		idle_reenter(s);
	conn_flush(&s->backend);
	proxy_client_resume(s);
}

/* The session ends, or the backend refused before its "+". */
static void
body_drop(struct session *s)
{
	if (!s->ibody.active)
		return;
	close(s->ibody.fd);
	memset(&s->ibody, 0, sizeof(s->ibody));
}

/* Send response bytes to whoever owns the current response. */
static void
deliver(struct session *s, int kind, const char *p, size_t len)
{
	if (s->rowner != NULL) {
		if (s->rowner->data != NULL)
			s->rowner->data(s->rowner, kind, p, len);
	} else
		conn_queue(&s->client, p, len);
}

void
proxy_backend_input(struct conn *c, void *arg)
{
	struct session	*s = arg;
	struct imap_seg	 seg;
	const char	*p;
	size_t		 len, n;
	int		 r;

	while (c->in.len > 0 && s->state == S_PROXY && !s->bhold) {
		p = c->in.data + c->in.off;
		len = c->in.len;
		if (s->rs == RS_LITERAL) {
			n = len < s->rlit ? len : s->rlit;
			deliver(s, INJ_LITERAL, p, n);
			conn_consume(c, n);
			s->rlit -= n;
			if (s->rlit == 0)
				s->rs = RS_LINE;
			continue;
		}
		r = imap_segment(p, len, &seg);
		if (r == 1 && seg.lit != LIT_NONE &&
		    seg.litlen > IMAP_LITERAL_MAX) {
			log_warnx("session %llu: backend sent a bad literal",
			    (unsigned long long)s->id);
			session_close(s, "Backend protocol error");
			return;
		}
		if (r == 0) {
			if (s->rs != RS_STREAM && len < RESP_HOLD_MAX)
				break;
			/* a long line: pass it on, keep a tail to scan */
			if (s->rs == RS_START && s->rowner == NULL &&
			    s->held.len == 0)
				log_debug("session %llu: streaming a long "
				    "response", (unsigned long long)s->id);
			s->rs = RS_STREAM;
			if (len <= STREAM_TAIL)
				break;
			deliver(s, INJ_LINE, p, len - STREAM_TAIL);
			conn_consume(c, len - STREAM_TAIL);
			continue;
		}
		if (s->rs == RS_START)
			response_start(s, p, &seg);
		else
			deliver(s, INJ_LINE, p, seg.len);
		if (s->state != S_PROXY)
			return;
		conn_consume(c, seg.len);
		if (seg.lit != LIT_NONE) {
			s->rlit = seg.litlen;
			s->rs = s->rlit > 0 ? RS_LITERAL : RS_LINE;
		} else
			response_end(s);
	}
	if (s->state != S_PROXY)
		return;
	if (c->flags & (CONN_EOF | CONN_ERROR)) {
		if (c->flags & CONN_ERROR)
			log_warnx("session %llu: backend connection failed%s%s",
			    (unsigned long long)s->id, c->tlserr ? ": " : "",
			    c->tlserr ? c->tlserr : "");
		/* after LOGOUT the backend's BYE has been passed on */
		session_close(s, s->rs == RS_START && TAILQ_EMPTY(&s->cmds) ?
		    NULL : "Backend server closed the connection");
		return;
	}
	conn_flush(&s->backend);
	conn_flush(&s->client);
	if (conn_outlen(&s->client) > CONN_OUT_HIGH)
		conn_pause(&s->backend, 1);
}

static void
response_end(struct session *s)
{
	s->rs = RS_START;
	s->rowner = NULL;
	if (s->held.len > 0) {
		conn_queue(&s->client, s->held.data + s->held.off,
		    s->held.len);
		buf_free(&s->held, 0);
	}
	if (s->held_paused) {
		s->held_paused = 0;
		proxy_client_resume(s);
	}
}

static void
response_start(struct session *s, const char *p, struct imap_seg *seg)
{
	struct inject	*inj;
	size_t		 cs, ce;
	const char	*q;

	if (p[0] == '+') {
		/*
		 * Ours, for an injected literal: nothing else can wait for
		 * one but a client IDLE that has not had its "+" yet (the
		 * client's other literals all went before our command).
		 */
		if (s->ibody.active && s->ibody.waitcont &&
		    !(idle_pending(s) && s->idle == IDLE_NONE)) {
			s->ibody.waitcont = 0;
			if (body_pump(s))
				body_finished(s);
			return;
		}
		if (idle_pending(s) && s->idle == IDLE_REENTER) {
			/* the client has had its "+" long ago */
			s->idle = IDLE_ON;
			if (s->idle_done) {
				s->idle_done = 0;
				conn_queue(&s->backend, "DONE\r\n", 6);
			} else if (injects_unsent(s)) {
				conn_queue(&s->backend, "DONE\r\n", 6);
				s->idle = IDLE_BREAK;
			}
			return;
		}
		if (idle_in_flight(s)) {
			s->idle = IDLE_ON;
			/* injections that came before the "+" go now */
			if (injects_unsent(s)) {
				conn_queue(&s->backend, "DONE\r\n", 6);
				s->idle = IDLE_BREAK;
			}
		}
		conn_queue(&s->client, p, seg->len);
		return;
	}
	if (p[0] != '*') {
		response_tagged(s, p, seg);
		return;
	}
	/* untagged: does an injected command claim it? */
	TAILQ_FOREACH(inj, &s->injects, entry) {
		if (inj->sent && inj->match != NULL &&
		    inj->match(inj, p, seg->textlen)) {
			s->rowner = inj;
			deliver(s, INJ_LINE, p, seg->len);
			return;
		}
	}
	q = p + 2;
	/* SUBMIT CATENATE checks a URL's UIDVALIDITY against this */
	if (s->pendbox != NULL && seg->textlen > 18 &&
	    strncasecmp(p, "* OK [UIDVALIDITY ", 18) == 0)
		s->penduidv = uidvalidity_parse(p + 18, seg->textlen - 18);
	if (seg->lit == LIT_NONE && seg->textlen > 13 &&
	    strncasecmp(q, "CAPABILITY ", 11) == 0) {
		forward_caps(s, p, seg, 13, seg->textlen);
		return;
	}
	if (seg->lit == LIT_NONE &&
	    imap_find_capcode(p, seg->textlen, &cs, &ce)) {
		forward_caps(s, p, seg, cs, ce);
		return;
	}
	conn_queue(&s->client, p, seg->len);
}

static void
response_tagged(struct session *s, const char *p, struct imap_seg *seg)
{
	struct inject	*inj;
	struct cmd	*c;
	const char	*sp;
	size_t		 taglen, cs, ce;
	int		 ok;

	if ((sp = memchr(p, ' ', seg->textlen)) == NULL) {
		conn_queue(&s->client, p, seg->len);
		return;
	}
	taglen = sp - p;
	ok = seg->textlen - taglen > 3 && strncasecmp(sp + 1, "OK", 2) == 0;
	TAILQ_FOREACH(inj, &s->injects, entry) {
		if (inj->sent && strlen(inj->tag) == taglen &&
		    memcmp(inj->tag, p, taglen) == 0) {
			TAILQ_REMOVE(&s->injects, inj, entry);
			s->rowner = NULL;
			if (s->ibody.active && s->ibody.owner == inj) {
				s->ibody.owner = NULL;
				/* refused before its "+": the body never goes */
				if (s->ibody.waitcont) {
					body_drop(s);
					injects_send(s);
					proxy_client_resume(s);
				}
			}
			if (inj->done != NULL)
				inj->done(inj, p, seg->textlen);
			if (s->idle == IDLE_OUT && TAILQ_EMPTY(&s->injects) &&
			    !s->ibody.active)
				idle_reenter(s);
			return;
		}
	}
	if ((c = cmd_find(s, p, taglen)) != NULL) {
		if (c->flags & CMD_SELECT) {
			free(s->mailbox);
			s->mailbox = ok ? s->pendbox : NULL;
			s->uidvalidity = ok ? s->penduidv : 0;
			if (!ok)
				free(s->pendbox);
			s->pendbox = NULL;
			s->penduidv = 0;
		} else if ((c->flags & CMD_UNSELECT) && ok) {
			free(s->mailbox);
			s->mailbox = NULL;
			s->uidvalidity = 0;
		}
		if ((c->flags & CMD_IDLE) && s->idle == IDLE_BREAK &&
		    !s->idle_done) {
			/* the answer to our DONE: the client is still idle */
			s->idle = IDLE_OUT;
			injects_send(s);
			if (TAILQ_EMPTY(&s->injects))
				idle_reenter(s);
			return;
		}
		if (c->flags & CMD_IDLE) {
			cmd_free(s, c);
			idle_over(s);
			conn_queue(&s->client, p, seg->len);
			return;
		}
		if (c->flags & CMD_ABORTED) {
			conn_queue(&s->client, c->answer, strlen(c->answer));
			cmd_free(s, c);
			return;
		}
		cmd_free(s, c);
		if (TAILQ_EMPTY(&s->cmds) || !idle_in_flight(s))
			if (s->cs == CS_CMD)
				command_boundary(s);
	}
	if (seg->lit == LIT_NONE &&
	    imap_find_capcode(p, seg->textlen, &cs, &ce)) {
		forward_caps(s, p, seg, cs, ce);
		return;
	}
	conn_queue(&s->client, p, seg->len);
}

/* "n]..." of "* OK [UIDVALIDITY n]": n, or 0 if it is not a number. */
static uint32_t
uidvalidity_parse(const char *p, size_t len)
{
	uint64_t	v = 0;
	size_t		i;

	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		v = v * 10 + (p[i] - '0');
		if (v > UINT32_MAX)
			return 0;
	}
	if (i == 0 || i == len || p[i] != ']')
		return 0;
	return v;
}

/* Pass a line on with the capability list at [cs, ce) rewritten. */
static void
forward_caps(struct session *s, const char *p, struct imap_seg *seg,
    size_t cs, size_t ce)
{
	char	*caps;
	size_t	 n, max = ce - cs + 512;

	if ((caps = malloc(max)) == NULL)
		fatal("%s", __func__);
	n = proxy_caps_rewrite(s, p + cs, ce - cs, caps, max);
	if (n == (size_t)-1) {
		conn_queue(&s->client, p, seg->len);
	} else {
		conn_queue(&s->client, p, cs);
		conn_queue(&s->client, caps, n);
		conn_queue(&s->client, p + ce, seg->len - ce);
	}
	free(caps);
}

size_t
proxy_caps_rewrite(struct session *s, const char *in, size_t len, char *out,
    size_t outlen)
{
	return imap_caps_filter(in, len, out, outlen, fe_caps_extra(s));
}

static struct cmd *
cmd_find(struct session *s, const char *tag, size_t taglen)
{
	struct cmd	*c;

	TAILQ_FOREACH(c, &s->cmds, entry)
		if (c->taglen == taglen && memcmp(c->tag, tag, taglen) == 0)
			return c;
	return NULL;
}

static void
cmd_free(struct session *s, struct cmd *c)
{
	TAILQ_REMOVE(&s->cmds, c, entry);
	if (s->curcmd == c)
		s->curcmd = NULL;
	free(c->answer);
	free(c);
}
