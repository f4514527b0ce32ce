/*
 * Commands imapxd serves itself after login (XEXEC, SUBMIT, ...).
 *
 * A service registers a struct lcmd_ops for its command name.  When a
 * client command with that name arrives, nothing of it goes to the
 * backend: its first line goes to begin(), its literals and the rest of
 * its lines to data(), and end() says the command is complete.  The
 * handler answers with lcmd_done() whenever it is ready; until then the
 * client's later commands wait in the input buffer, so a local command's
 * answer never overtakes the command itself.
 *
 * Literals are checked before the client sends them: a synchronizing
 * literal over the handler's limit gets a tagged NO [TOOBIG] instead of
 * the "+" continuation, so it is never sent (RFC 3501 section 7.5); a
 * non-synchronizing one is read and dropped (RFC 7888 section 4).  A
 * handler whose consumer is full returns 1 from data(), or calls
 * lcmd_pause() from anywhere, and calls lcmd_resume() when it has room
 * again: backpressure reaches the client's socket.  Bytes already read
 * wait in the input buffer meanwhile; data() is not called while paused.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "frontend.h"
#include "imsg-types.h"
#include "log.h"

#define LCMD_MAX	8

static const struct lcmd_ops	*handlers[LCMD_MAX];
static int			 nhandlers;

void
lcmd_register(const struct lcmd_ops *ops)
{
	if (nhandlers == LCMD_MAX)
		fatalx("%s: too many local commands", __func__);
	handlers[nhandlers++] = ops;
}

const struct lcmd_ops *
lcmd_lookup(const char *name)
{
	int	i;

	for (i = 0; i < nhandlers; i++)
		if (strcasecmp(handlers[i]->name, name) == 0)
			return handlers[i];
	return NULL;
}

/* Is the service behind this command running?  Not: NO [UNAVAILABLE]. */
static int
lcmd_available(struct session *s, const struct lcmd_ops *ops)
{
	return ops->service == PROC_PARENT || fe_service_up(ops->service);
}

/*
 * A local command starts: p is its first segment, `args` the offset of
 * the text after the command name.
 */
void
lcmd_begin(struct session *s, const struct lcmd_ops *ops, const char *tag,
    const char *p, struct imap_seg *seg, size_t args)
{
	struct lcmd	*lc;

	if (!lcmd_available(s, ops)) {
		proxy_refuse(s, p, seg, "NO [UNAVAILABLE]",
		    "Service not available, try again later");
		return;
	}
	if ((lc = calloc(1, sizeof(*lc))) == NULL)
		fatal("%s", __func__);
	lc->ops = ops;
	lc->litmax = s->conf->limits.literal_max;
	strlcpy(lc->tag, tag, sizeof(lc->tag));
	s->local = lc;
	s->cs = CS_LOCAL_LINE;
	if (ops->begin(s, lc, p + args, seg->textlen - args) == -1 ||
	    s->local != lc) {
		/* refused at once: lcmd_done() answered already */
		proxy_refuse_stream(s, seg);
		conn_consume(&s->client, seg->len);
		return;
	}
	conn_consume(&s->client, seg->len);
	lcmd_after_segment(s, seg);
}

/* After a segment of a local command: a literal follows, or the end. */
void
lcmd_after_segment(struct session *s, struct imap_seg *seg)
{
	struct lcmd	*lc = s->local;

	if (seg->lit == LIT_NONE) {
		s->cs = CS_LOCAL_WAIT;
		if (lc->ops->end != NULL)
			lc->ops->end(s, lc);
		return;
	}
	if (seg->litlen > lc->litmax ||
	    (lc->ops->literal != NULL &&
	    lc->ops->literal(s, lc, seg->litlen, seg->lit) == -1)) {
		/* answered for the handler: it forgets the command first */
		if (s->local == lc)
			lcmd_cancel(s, "NO [TOOBIG] Literal too large");
		proxy_refuse_stream(s, seg);
		return;
	}
	if (!(seg->lit & LIT_NONSYNC))
		proxy_local(s, "+ Ready for literal data");
	s->clit = seg->litlen;
	s->cs = s->clit > 0 ? CS_LOCAL_LIT : CS_LOCAL_LINE;
}

/* Bytes of the command after its first segment: literals and lines. */
int
lcmd_data(struct session *s, int kind, const char *p, size_t len)
{
	struct lcmd	*lc = s->local;

	if (lc->ops->data == NULL)
		return 0;
	if (lc->ops->data(s, lc, kind, p, len) == 1) {
		lc->paused = 1;
		conn_pause(&s->client, 1);
		return 1;
	}
	return 0;
}

/*
 * A handler that moved n bytes of the current literal itself, not
 * through data() (SUBMIT splices them from the client's socket): the
 * literal is that much shorter, and once it is all taken the command
 * goes on with its next line.
 */
void
lcmd_literal_taken(struct session *s, size_t n)
{
	if (n > s->clit)
		fatalx("%s: more than the literal", __func__);
	s->clit -= n;
	if (s->clit == 0)
		s->cs = CS_LOCAL_LINE;
}

/*
 * A handler that must wait (for a service, for the backend) stops the
 * client's bytes from anywhere, not only by returning 1 from data().
 */
void
lcmd_pause(struct session *s)
{
	if (s->local == NULL || s->local->paused)
		return;
	s->local->paused = 1;
	conn_pause(&s->client, 1);
}

void
lcmd_resume(struct session *s)
{
	if (s->local == NULL || !s->local->paused)
		return;
	s->local->paused = 0;
	proxy_client_resume(s);
}

/* The handler's answer: "OK ...", "NO ...", "BAD ..." after the tag. */
void
lcmd_done(struct session *s, const char *fmt, ...)
{
	struct lcmd	*lc = s->local;
	va_list		 ap;
	char		*text;

	if (lc == NULL)
		return;
	/* no fixed buffer: an answer may be long (SUBMIT's NO texts) */
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		fatal("%s", __func__);
	va_end(ap);
	proxy_local(s, "%s %s", lc->tag, text);
	free(text);
	s->local = NULL;
	free(lc);
	if (s->cs == CS_LOCAL_WAIT) {
		s->cs = CS_CMD;
		proxy_command_done(s);
	} else if (s->cs == CS_LOCAL_LIT)
		s->cs = CS_DISCARD_LIT;	/* answered early: drop the rest */
	else if (s->cs == CS_LOCAL_LINE)
		s->cs = CS_DISCARD_LINE;
	conn_flush(&s->client);
	proxy_client_resume(s);
}

/*
 * The session ends, or the command cannot go on: tell the handler, and
 * answer with `answer` if the session is still there.
 */
void
lcmd_cancel(struct session *s, const char *answer)
{
	struct lcmd	*lc = s->local;

	if (lc == NULL)
		return;
	if (lc->ops->cancel != NULL)
		lc->ops->cancel(s, lc);
	if (s->local != lc)
		return;
	if (answer != NULL && s->state == S_PROXY)
		lcmd_done(s, "%s", answer);
	else {
		s->local = NULL;
		free(lc);
	}
}

/*
 * The service behind the command died.  A handler with gone() answers
 * when it can (an interactive XEXEC session after the client's DONE);
 * any other command gets NO [UNAVAILABLE] now.
 */
void
lcmd_gone(struct session *s)
{
	struct lcmd	*lc = s->local;

	if (lc == NULL)
		return;
	if (lc->ops->gone != NULL)
		lc->ops->gone(s, lc);
	else
		lcmd_cancel(s, LCMD_GONE);
}
