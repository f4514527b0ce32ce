/*
 * msg_to7bit(): make a message that msg_prepare() wrote fit a relay
 * without 8BITMIME (RFC 6152), reversibly, as the SUBMIT draft asks of a
 * server that cannot keep 8-bit data (seeds/004, section 3).
 *
 * The MIME structure (RFC 2045, RFC 2046) is walked from the top, in
 * one pass that looks ahead: each leaf's content is scanned to its end
 * first, then read again and written, as it is or encoded.  Only one
 * header at a time is in memory; contents are streamed.
 *
 * Choices, for the manual and the reader:
 * - A leaf with 8-bit bytes, NULs, bare CRs or lines over 998 bytes is
 *   encoded: text types as quoted-printable, line breaks kept as line
 *   breaks; anything else as base64.  Decoding gives its bytes back.
 * - A leaf that is quoted-printable or base64 already is valid only in
 *   7 bits: with 8-bit or binary bytes it is refused, since decoders
 *   disagree on what those mean.  Its over-long lines are wrapped again
 *   (RFC 2045 6.7 soft line breaks; base64 ignores line breaks), which
 *   does not change what it decodes to.
 * - Multiparts and message/rfc822 keep a 7bit, 8bit or binary label
 *   (RFC 2046 5.1, 5.2.1); we walk into them, and relabel them 7bit,
 *   outside signed parts, since what they hold is 7-bit afterwards.
 * - Nothing below multipart/signed (RFC 1847) may change: a part there
 *   that would need it makes the whole conversion fail.
 * - A preamble or epilogue with 8-bit bytes is dropped: RFC 2046 5.1.1
 *   tells readers to ignore it, and no encoding can apply to it.  A
 *   multipart without one delimiter of its own is refused instead: its
 *   "preamble" is all there is.
 * - Headers of parts and of enclosed messages must be 7-bit already;
 *   rewriting them with RFC 2047 encoded-words is not done here.
 * - A message without MIME-Version and Content-Type is text/plain; it
 *   gets both when its body is encoded, charset utf-8 when the body is
 *   UTF-8 (or us-ascii when it is ASCII), unknown-8bit (RFC 1428) when
 *   not.  A message with Content-Type but no MIME-Version is taken as
 *   MIME and gets the MIME-Version it lacks.
 * - Quoted-printable lines that start after a soft break never start
 *   with '-' (it is written =2D), so wrapping cannot make a line that
 *   reads as a boundary delimiter.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message.h"
#include "msgio.h"

#define MIME_DEPTH_MAX	32	/* nested multiparts and messages */
#define BOUNDARY_MAX	200	/* RFC 2046 says 70; some send more */
#define QP_LINE		75	/* and a '=' for a soft break: 76 */
#define B64_LINE	76

#define E_TOP		0x01	/* the message itself */
#define E_MSG		0x02	/* a message in message/rfc822 */
#define E_SIGNED	0x04	/* below multipart/signed: no changes */
#define E_DIGEST	0x08	/* a part of multipart/digest */

#define DIRTY_BYTES	(MSG_L_8BIT | MSG_L_NUL | MSG_L_BARECR | MSG_L_BARELF)

#define SIGNED_REASON	"signed part has 8-bit content; cannot convert it " \
			"without breaking the signature"

enum cte {
	CTE_NONE,
	CTE_7BIT,
	CTE_8BIT,
	CTE_BINARY,
	CTE_QP,
	CTE_BASE64,
	CTE_OTHER
};

enum kind {
	K_LEAF,
	K_MULTIPART,
	K_MESSAGE
};

struct mime {
	struct msg_rd	 rd;
	struct msg_wr	 wr;
	char		*bnd[MIME_DEPTH_MAX + 1];	/* open multiparts */
	size_t		 blen[MIME_DEPTH_MAX + 1];
	int		 nb;
	char		*reason;
	size_t		 reasonsz;
};

/* Where a stretch of content ends, and what ends it. */
struct mend {
	off_t		 ce;		/* content end: before the CRLF of the
					   delimiter line, or EOF */
	off_t		 dl;		/* the delimiter line */
	off_t		 next;		/* after it */
	int		 level;		/* whose delimiter (bnd[]), -1: EOF */
	int		 close;		/* "--boundary--" */
};

/* What a scan of content saw. */
struct mscan {
	int		 flags;		/* MSG_L_* of all its lines */
	int		 longline;
};

/* A MIME header: its bytes, and what we need of it. */
struct mhdr {
	struct msg_buf	 buf;
	size_t		 fend;		/* the fields end, the empty line
					   starts here */
	int		 blank;		/* there is an empty line */
	int		 dirty;		/* not 7-bit, or lines too long */
	int		 has_ct;
	int		 ct_ok;		/* Content-Type parsed */
	char		 type[32];	/* lower case */
	char		 subtype[64];
	char		 boundary[BOUNDARY_MAX + 1];
	enum cte	 cte;
	int		 mimever;
};

struct qp {
	struct msg_wr	*w;
	size_t		 col;
	int		 soft;		/* this line began at a soft break */
	int		 ws;		/* a SP or HT held back */
	int		 cr;		/* a CR held back */
};

struct b64 {
	struct msg_wr	*w;
	unsigned char	 in[3];
	int		 n;
	size_t		 col;
};

static int	 delimiter(const struct mime *, const struct msg_line *,
		    struct mend *);
static int	 scan(struct mime *, off_t, struct mscan *, struct mend *);
static int	 dirty(const struct mscan *);
static int	 copy(struct mime *, off_t, off_t);
static int	 read_header(struct mime *, off_t, struct mhdr *,
		    struct mend *);
static int	 next_field(const struct mhdr *, size_t *, size_t *, size_t *,
		    size_t *);
static int	 is_name(const struct mhdr *, size_t, size_t, const char *);
static size_t	 token(const char *);
static char	 lower(char);
static void	 parse_header(struct mhdr *);
static void	 parse_ct(struct mhdr *, const char *);
static void	 parse_cte(struct mhdr *, const char *);
static enum kind classify(const struct mhdr *, int);
static const char *relabel(const struct mhdr *, int);
static const char *mimever(const struct mhdr *, int);
static void	 write_header(struct mime *, const struct mhdr *,
		    const char *, const char *);
static int	 entity(struct mime *, off_t, int, int, struct mend *);
static int	 multipart(struct mime *, struct mhdr *, off_t, int, int,
		    struct mend *);
static int	 outside(struct mime *, off_t, off_t, const struct mscan *,
		    int);
static int	 leaf(struct mime *, struct mhdr *, off_t, int, struct mend *);
static void	 qp_soft(struct qp *);
static void	 qp_enc(struct qp *, unsigned char);
static void	 qp_lit(struct qp *, unsigned char);
static void	 qp_put(struct qp *, unsigned char);
static void	 qp_end(struct qp *, int);
static void	 b64_emit(struct b64 *);
static int	 encode(struct mime *, off_t, off_t, int, int);
static int	 rewrap_b64(struct mime *, off_t, off_t);
static int	 rewrap_qp(struct mime *, off_t, off_t);

static const char	hex[] = "0123456789ABCDEF";
static const char	b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * RFC 2046 5.1.1: "--" boundary, "--" more for the last, then white
 * space.  Any open multipart's boundary ends a part, the innermost
 * first, so a part missing its close delimiter ends with its parent.
 */
static int
delimiter(const struct mime *m, const struct msg_line *l, struct mend *e)
{
	size_t	bl;
	int	i;

	if (m->nb == 0 || l->tlen < 3 || l->tlen > MSG_PREFIX ||
	    l->prefix[0] != '-' || l->prefix[1] != '-')
		return 0;
	for (i = m->nb - 1; i >= 0; i--) {
		bl = m->blen[i];
		if (l->tlen < bl + 2 ||
		    memcmp(l->prefix + 2, m->bnd[i], bl) != 0)
			continue;
		if (l->tlen == bl + 2)
			e->close = 0;
		else if (l->tlen == bl + 4 && l->prefix[bl + 2] == '-' &&
		    l->prefix[bl + 3] == '-')
			e->close = 1;
		else
			continue;
		e->level = i;
		e->dl = l->off;
		e->next = l->off + l->len;
		return 1;
	}
	return 0;
}

/* Content from off up to a delimiter or EOF: how it ends, what is in it. */
static int
scan(struct mime *m, off_t off, struct mscan *st, struct mend *e)
{
	struct msg_line	l;
	size_t		prev = 0;
	int		r;

	memset(st, 0, sizeof(*st));
	msg_rd_seek(&m->rd, off);
	for (;;) {
		if ((r = msg_rd_line(&m->rd, &l, NULL, 0)) == -1)
			return msg_reason(m->reason, m->reasonsz,
			    "cannot read the message");
		if (r == 0) {
			e->ce = e->dl = e->next = msg_rd_tell(&m->rd);
			e->level = -1;
			e->close = 0;
			return 0;
		}
		if (delimiter(m, &l, e)) {
			/* the CRLF before it is the delimiter's */
			e->ce = l.off - prev;
			return 0;
		}
		st->flags |= l.flags;
		if (l.clen > MSG_LINE_MAX)
			st->longline = 1;
		prev = l.len - l.clen;
	}
}

static int
dirty(const struct mscan *st)
{
	return (st->flags & DIRTY_BYTES) || st->longline;
}

static int
copy(struct mime *m, off_t a, off_t b)
{
	const unsigned char	*p;
	ssize_t			 n;

	msg_rd_seek(&m->rd, a);
	while (a < b) {
		if ((n = msg_rd_chunk(&m->rd, &p, b - a)) <= 0)
			return msg_reason(m->reason, m->reasonsz,
			    "cannot read the message");
		msg_wr_put(&m->wr, p, n);
		a += n;
	}
	return 0;
}

/*
 * A header from off to its empty line, or, for a part with no empty
 * line, to the delimiter or EOF that ends the part (e says which).
 */
static int
read_header(struct mime *m, off_t off, struct mhdr *h, struct mend *e)
{
	struct msg_line	l;
	size_t		prev = 0;
	int		r;

	memset(h, 0, sizeof(*h));
	msg_rd_seek(&m->rd, off);
	for (;;) {
		if ((r = msg_rd_line(&m->rd, &l, &h->buf,
		    MSG_HEADER_MAX)) == -1)
			return msg_reason(m->reason, m->reasonsz,
			    "cannot read the message");
		if (r == 0) {
			e->ce = e->dl = e->next = msg_rd_tell(&m->rd);
			e->level = -1;
			e->close = 0;
			h->fend = h->buf.len;
			return 0;
		}
		if (delimiter(m, &l, e)) {
			e->ce = l.off - prev;
			h->buf.len = h->fend = e->ce - off;
			return 0;
		}
		if (l.clen == 0 && l.eol) {
			h->blank = 1;
			h->fend = h->buf.len - l.len;
			return 0;
		}
		if (l.flags & MSG_L_TRUNC)
			return msg_reason(m->reason, m->reasonsz,
			    "a MIME header is larger than %d bytes",
			    MSG_HEADER_MAX);
		if ((l.flags & DIRTY_BYTES) || l.clen > MSG_LINE_MAX)
			h->dirty = 1;
		prev = l.len - l.clen;
	}
}

/*
 * The next field of the header from *pos: its lines, and the length of
 * its name, 0 when the first line is not a field (we carry it as it is).
 */
static int
next_field(const struct mhdr *h, size_t *pos, size_t *start, size_t *len,
    size_t *nlen)
{
	const unsigned char	*s = (unsigned char *)h->buf.p;
	const unsigned char	*lf;
	size_t			 i = *pos, e, n;

	if (i >= h->fend)
		return 0;
	e = i;
	do {
		lf = memchr(s + e, '\n', h->fend - e);
		e = lf == NULL ? h->fend : (size_t)(lf - s) + 1;
	} while (e < h->fend && (s[e] == ' ' || s[e] == '\t'));
	for (n = 0; i + n < e && s[i + n] > ' ' && s[i + n] < 0x7f &&
	    s[i + n] != ':'; n++)
		;
	*nlen = n;
	while (i + n < e && (s[i + n] == ' ' || s[i + n] == '\t'))
		n++;
	if (i + n == e || s[i + n] != ':')
		*nlen = 0;
	*start = i;
	*len = e - i;
	*pos = e;
	return 1;
}

static int
is_name(const struct mhdr *h, size_t start, size_t nlen, const char *name)
{
	return nlen == strlen(name) &&
	    strncasecmp(h->buf.p + start, name, nlen) == 0;
}

/* RFC 2045 5.1: a token. */
static size_t
token(const char *p)
{
	size_t	n = 0;

	while ((unsigned char)p[n] > ' ' && (unsigned char)p[n] < 0x7f &&
	    strchr("()<>@,;:\\\"/[]?=", p[n]) == NULL)
		n++;
	return n;
}

/* ASCII only, whatever the locale. */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Content-Type, Content-Transfer-Encoding, MIME-Version: the first. */
static void
parse_header(struct mhdr *h)
{
	size_t	 pos = 0, start, len, nlen, i, j;
	char	*v;
	int	 ct = 0, cte = 0;

	while (next_field(h, &pos, &start, &len, &nlen)) {
		if (nlen == 0)
			continue;
		if (is_name(h, start, nlen, "MIME-Version")) {
			h->mimever = 1;
			continue;
		}
		if (!(is_name(h, start, nlen, "Content-Type") && !ct) &&
		    !(is_name(h, start, nlen, "Content-Transfer-Encoding") &&
		    !cte))
			continue;
		if ((v = malloc(len + 1)) == NULL)
			continue;
		i = (const char *)memchr(h->buf.p + start, ':', len) -
		    h->buf.p + 1;
		for (j = 0; i < start + len; i++)
			if (h->buf.p[i] != '\r' && h->buf.p[i] != '\n')
				v[j++] = h->buf.p[i];
		v[j] = '\0';
		if (is_name(h, start, nlen, "Content-Type")) {
			ct = h->has_ct = 1;
			parse_ct(h, v);
		} else {
			cte = 1;
			parse_cte(h, v);
		}
		free(v);
	}
}

/* RFC 2045 5.1: type "/" subtype *(";" attribute "=" value). */
static void
parse_ct(struct mhdr *h, const char *v)
{
	char		 val[BOUNDARY_MAX + 1];
	const char	*p;
	size_t		 n, i;
	int		 isb, ok;

	if ((p = msg_cfws(v)) == NULL || (n = token(p)) == 0 ||
	    n >= sizeof(h->type))
		return;
	for (i = 0; i < n; i++)
		h->type[i] = lower(p[i]);
	h->type[n] = '\0';
	if ((p = msg_cfws(p + n)) == NULL || *p != '/' ||
	    (p = msg_cfws(p + 1)) == NULL || (n = token(p)) == 0 ||
	    n >= sizeof(h->subtype)) {
		h->type[0] = '\0';
		return;
	}
	for (i = 0; i < n; i++)
		h->subtype[i] = lower(p[i]);
	h->subtype[n] = '\0';
	h->ct_ok = 1;
	p += n;
	for (;;) {
		if ((p = msg_cfws(p)) == NULL || *p != ';' ||
		    (p = msg_cfws(p + 1)) == NULL || (n = token(p)) == 0)
			return;
		isb = n == 8 && strncasecmp(p, "boundary", 8) == 0;
		if ((p = msg_cfws(p + n)) == NULL || *p != '=' ||
		    (p = msg_cfws(p + 1)) == NULL)
			return;
		ok = 1;
		i = 0;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0' || (*p == '\\' && *++p == '\0'))
					return;
				if (i == BOUNDARY_MAX || (unsigned char)*p < ' ' ||
				    (unsigned char)*p > 0x7e)
					ok = 0;
				else
					val[i++] = *p;
			}
			p++;
		} else {
			if ((n = token(p)) == 0)
				return;
			if (n > BOUNDARY_MAX)
				ok = 0;
			else
				memcpy(val, p, i = n);
			p += n;
		}
		/* RFC 2046 5.1.1: 1 to 70 characters, no space at the end */
		if (isb && ok && i > 0 && val[i - 1] != ' ' &&
		    h->boundary[0] == '\0') {
			memcpy(h->boundary, val, i);
			h->boundary[i] = '\0';
		}
	}
}

static void
parse_cte(struct mhdr *h, const char *v)
{
	static const struct {
		const char	*name;
		enum cte	 cte;
	} names[] = {
		{ "7bit", CTE_7BIT },
		{ "8bit", CTE_8BIT },
		{ "binary", CTE_BINARY },
		{ "quoted-printable", CTE_QP },
		{ "base64", CTE_BASE64 }
	};
	const char	*p;
	size_t		 i, n;

	h->cte = CTE_OTHER;
	if ((p = msg_cfws(v)) == NULL || (n = token(p)) == 0)
		return;
	for (i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strlen(names[i].name) == n &&
		    strncasecmp(p, names[i].name, n) == 0)
			h->cte = names[i].cte;
}

/*
 * What to do with an entity.  An encoded one is a leaf whatever its
 * type says.  No Content-Type is text/plain, or message/rfc822 in a
 * digest (RFC 2046 5.1.5); a bad one counts as none, but is kept.
 */
static enum kind
classify(const struct mhdr *h, int flags)
{
	if (h->cte == CTE_QP || h->cte == CTE_BASE64 || h->cte == CTE_OTHER)
		return K_LEAF;
	if (!h->has_ct)
		return (flags & E_DIGEST) ? K_MESSAGE : K_LEAF;
	if (!h->ct_ok)
		return K_LEAF;
	if (strcmp(h->type, "multipart") == 0)
		return h->boundary[0] != '\0' ? K_MULTIPART : K_LEAF;
	if (strcmp(h->type, "message") == 0 &&
	    strcmp(h->subtype, "rfc822") == 0)
		return K_MESSAGE;
	return K_LEAF;
}

/* 8bit and binary say what is no longer there, outside signatures. */
static const char *
relabel(const struct mhdr *h, int flags)
{
	if (!(flags & E_SIGNED) &&
	    (h->cte == CTE_8BIT || h->cte == CTE_BINARY))
		return "7bit";
	return NULL;
}

/*
 * RFC 2045 4: a message (ours, or one enclosed) that is MIME says so.
 * Content-Type without MIME-Version is taken as MIME all the same.
 */
static const char *
mimever(const struct mhdr *h, int flags)
{
	if ((flags & (E_TOP | E_MSG)) && !h->mimever)
		return "MIME-Version: 1.0\r\n";
	return NULL;
}

/*
 * The header as it came, with its (first) Content-Transfer-Encoding set
 * to cte unless that is NULL, and the lines in add after the fields
 * (before a Content-Transfer-Encoding that was not there).
 */
static void
write_header(struct mime *m, const struct mhdr *h, const char *cte,
    const char *add)
{
	size_t	pos = 0, start, len, nlen;
	int	done = 0;

	while (next_field(h, &pos, &start, &len, &nlen)) {
		if (cte != NULL && is_name(h, start, nlen,
		    "Content-Transfer-Encoding")) {
			if (!done) {
				msg_wr_str(&m->wr,
				    "Content-Transfer-Encoding: ");
				msg_wr_str(&m->wr, cte);
				msg_wr_put(&m->wr, "\r\n", 2);
				done = 1;
			}
			continue;
		}
		msg_wr_put(&m->wr, h->buf.p + start, len);
	}
	if (add != NULL)
		msg_wr_str(&m->wr, add);
	if (cte != NULL && !done) {
		msg_wr_str(&m->wr, "Content-Transfer-Encoding: ");
		msg_wr_str(&m->wr, cte);
		msg_wr_put(&m->wr, "\r\n", 2);
	}
	msg_wr_put(&m->wr, h->buf.p + h->fend, h->buf.len - h->fend);
}

/* One entity (the message, a part, an enclosed message) from off. */
static int
entity(struct mime *m, off_t off, int depth, int flags, struct mend *e)
{
	struct mhdr	 h;
	off_t		 body;
	int		 rv = -1;

	if (depth > MIME_DEPTH_MAX)
		return msg_reason(m->reason, m->reasonsz,
		    "MIME parts are nested more than %d deep",
		    MIME_DEPTH_MAX);
	if (read_header(m, off, &h, e) == -1)
		goto done;
	if (!(flags & E_TOP) && h.dirty) {
		msg_reason(m->reason, m->reasonsz,
		    "a MIME part header has 8-bit or binary bytes");
		goto done;
	}
	if (!h.blank) {
		/* all header: no content to change */
		msg_wr_put(&m->wr, h.buf.p, h.buf.len);
		rv = 0;
		goto done;
	}
	parse_header(&h);
	body = off + h.buf.len;
	switch (classify(&h, flags)) {
	case K_MULTIPART:
		rv = multipart(m, &h, body, depth, flags, e);
		break;
	case K_MESSAGE:
		write_header(m, &h, relabel(&h, flags), mimever(&h, flags));
		msg_buf_free(&h.buf);
		rv = entity(m, body, depth + 1, (flags & E_SIGNED) | E_MSG, e);
		break;
	case K_LEAF:
		rv = leaf(m, &h, body, flags, e);
		break;
	}
 done:
	msg_buf_free(&h.buf);
	return rv;
}

/* Preamble, parts, epilogue (RFC 2046 5.1.1). */
static int
multipart(struct mime *m, struct mhdr *h, off_t body, int depth, int flags,
    struct mend *e)
{
	struct mscan	 st;
	off_t		 off, from;
	int		 level, cflags, rv = -1;

	cflags = flags & E_SIGNED;
	if (strcmp(h->subtype, "signed") == 0)
		cflags |= E_SIGNED;
	if (strcmp(h->subtype, "digest") == 0)
		cflags |= E_DIGEST;
	write_header(m, h, relabel(h, flags), mimever(h, flags));
	if ((m->bnd[m->nb] = strdup(h->boundary)) == NULL)
		return msg_reason(m->reason, m->reasonsz, "out of memory");
	m->blen[m->nb] = strlen(h->boundary);
	level = m->nb++;
	msg_buf_free(&h->buf);

	if (scan(m, body, &st, e) == -1)
		goto done;
	if (e->level != level && dirty(&st)) {
		msg_reason(m->reason, m->reasonsz, "a multipart has 8-bit "
		    "content and no delimiter line");
		goto done;
	}
	if (outside(m, body, e->ce, &st, flags) == -1)
		goto done;
	/* a preamble that went takes its line end along */
	from = dirty(&st) ? e->dl : e->ce;
	while (e->level == level) {
		if (copy(m, from, e->next) == -1)
			goto done;
		if (e->close)
			break;
		if (entity(m, e->next, depth + 1, cflags, e) == -1)
			goto done;
		from = e->ce;
	}
	free(m->bnd[--m->nb]);
	m->bnd[m->nb] = NULL;
	if (e->level == level) {
		off = e->next;
		if (scan(m, off, &st, e) == -1 ||
		    outside(m, off, e->ce, &st, flags) == -1)
			return -1;
	}
	return 0;
 done:
	free(m->bnd[--m->nb]);
	m->bnd[m->nb] = NULL;
	return rv;
}

/* A preamble or epilogue: kept when clean, else dropped if we may. */
static int
outside(struct mime *m, off_t a, off_t b, const struct mscan *st,
    int flags)
{
	if (!dirty(st))
		return copy(m, a, b);
	if (flags & E_SIGNED)
		return msg_reason(m->reason, m->reasonsz, SIGNED_REASON);
	return 0;
}

static int
leaf(struct mime *m, struct mhdr *h, off_t body, int flags, struct mend *e)
{
	struct mscan	 st;
	char		 add[128];
	int		 text;

	if (scan(m, body, &st, e) == -1)
		return -1;
	if (!dirty(&st)) {
		write_header(m, h, relabel(h, flags), NULL);
		return copy(m, body, e->ce);
	}
	if (flags & E_SIGNED)
		return msg_reason(m->reason, m->reasonsz, SIGNED_REASON);
	if (h->cte == CTE_QP || h->cte == CTE_BASE64) {
		if (st.flags & DIRTY_BYTES)
			return msg_reason(m->reason, m->reasonsz, "a %s part "
			    "has 8-bit or binary bytes", h->cte == CTE_QP ?
			    "quoted-printable" : "base64");
		write_header(m, h, NULL, NULL);
		if (h->cte == CTE_QP)
			return rewrap_qp(m, body, e->ce);
		return rewrap_b64(m, body, e->ce);
	}
	if (h->cte == CTE_OTHER)
		return msg_reason(m->reason, m->reasonsz, "a part with an "
		    "unknown Content-Transfer-Encoding has 8-bit content");
	if (h->ct_ok && strcmp(h->type, "multipart") == 0)
		return msg_reason(m->reason, m->reasonsz, "a multipart "
		    "without a boundary has 8-bit content");
	/* RFC 2046 5.2: 7bit only, but message/global (RFC 6532 3.5) */
	if (h->ct_ok && strcmp(h->type, "message") == 0 &&
	    strncmp(h->subtype, "global", 6) != 0)
		return msg_reason(m->reason, m->reasonsz, "a message/%s part "
		    "has 8-bit content", h->subtype);

	text = h->has_ct ? h->ct_ok && strcmp(h->type, "text") == 0 : 1;
	add[0] = '\0';
	if (mimever(h, flags) != NULL)
		strlcat(add, mimever(h, flags), sizeof(add));
	if (!h->has_ct) {
		strlcat(add, "Content-Type: text/plain; charset=", sizeof(add));
		strlcat(add, (st.flags & MSG_L_BADUTF8) ? "unknown-8bit" :
		    (st.flags & MSG_L_8BIT) ? "utf-8" : "us-ascii",
		    sizeof(add));
		strlcat(add, "\r\n", sizeof(add));
	}
	write_header(m, h, text ? "quoted-printable" : "base64", add);
	return encode(m, body, e->ce, text, e->level == -1);
}

static void
qp_soft(struct qp *q)
{
	msg_wr_put(q->w, "=\r\n", 3);
	q->col = 0;
	q->soft = 1;
}

static void
qp_enc(struct qp *q, unsigned char c)
{
	char	e[3];

	e[0] = '=';
	e[1] = hex[c >> 4];
	e[2] = hex[c & 15];
	if (q->col + 3 > QP_LINE)
		qp_soft(q);
	msg_wr_put(q->w, e, 3);
	q->col += 3;
}

static void
qp_lit(struct qp *q, unsigned char c)
{
	if (q->col + 1 > QP_LINE)
		qp_soft(q);
	if (q->col == 0 && q->soft && c == '-') {
		qp_enc(q, c);
		return;
	}
	msg_wr_put(q->w, &c, 1);
	q->col++;
}

/*
 * RFC 2045 6.7: CRLF is a line break, every other byte that is not
 * printable ASCII is =XX, and so is '=' and white space before a break.
 */
static void
qp_put(struct qp *q, unsigned char c)
{
	if (q->cr) {
		q->cr = 0;
		if (c == '\n') {
			if (q->ws) {
				qp_enc(q, q->ws);
				q->ws = 0;
			}
			msg_wr_put(q->w, "\r\n", 2);
			q->col = 0;
			q->soft = 0;
			return;
		}
		if (q->ws) {
			qp_lit(q, q->ws);
			q->ws = 0;
		}
		qp_enc(q, '\r');
	}
	if (c == '\r') {
		q->cr = 1;
		return;
	}
	if (q->ws) {
		qp_lit(q, q->ws);
		q->ws = 0;
	}
	if (c == ' ' || c == '\t')
		q->ws = c;
	else if (c >= 33 && c <= 126 && c != '=')
		qp_lit(q, c);
	else
		qp_enc(q, c);
}

/* The content ends; at EOF, its last line must still end in CRLF. */
static void
qp_end(struct qp *q, int eof)
{
	if (q->cr) {
		if (q->ws)
			qp_lit(q, q->ws);
		qp_enc(q, '\r');
	} else if (q->ws)
		qp_enc(q, q->ws);
	q->cr = q->ws = 0;
	if (eof && q->col > 0)
		qp_soft(q);
}

static void
b64_emit(struct b64 *b)
{
	char	o[4];

	o[0] = b64[b->in[0] >> 2];
	o[1] = b64[(b->in[0] & 3) << 4 | b->in[1] >> 4];
	o[2] = b->n > 1 ? b64[(b->in[1] & 15) << 2 | b->in[2] >> 6] : '=';
	o[3] = b->n > 2 ? b64[b->in[2] & 63] : '=';
	if (b->col == B64_LINE) {
		msg_wr_put(b->w, "\r\n", 2);
		b->col = 0;
	}
	msg_wr_put(b->w, o, 4);
	b->col += 4;
	b->n = 0;
	b->in[0] = b->in[1] = b->in[2] = 0;
}

/* Content [a, b) as quoted-printable (text) or base64. */
static int
encode(struct mime *m, off_t a, off_t b, int text, int eof)
{
	struct qp		 q;
	struct b64		 bb;
	const unsigned char	*p;
	ssize_t			 n, i;

	memset(&q, 0, sizeof(q));
	memset(&bb, 0, sizeof(bb));
	q.w = bb.w = &m->wr;
	msg_rd_seek(&m->rd, a);
	while (a < b) {
		if ((n = msg_rd_chunk(&m->rd, &p, b - a)) <= 0)
			return msg_reason(m->reason, m->reasonsz,
			    "cannot read the message");
		for (i = 0; i < n; i++) {
			if (text)
				qp_put(&q, p[i]);
			else {
				bb.in[bb.n++] = p[i];
				if (bb.n == 3)
					b64_emit(&bb);
			}
		}
		a += n;
	}
	if (text)
		qp_end(&q, eof);
	else if (bb.n > 0)
		b64_emit(&bb);
	return 0;
}

/* Base64 ignores line breaks and white space: new lines of 76. */
static int
rewrap_b64(struct mime *m, off_t a, off_t b)
{
	const unsigned char	*p;
	ssize_t			 n, i;
	size_t			 col = 0;

	msg_rd_seek(&m->rd, a);
	while (a < b) {
		if ((n = msg_rd_chunk(&m->rd, &p, b - a)) <= 0)
			return msg_reason(m->reason, m->reasonsz,
			    "cannot read the message");
		for (i = 0; i < n; i++) {
			if (p[i] == '\r' || p[i] == '\n' || p[i] == ' ' ||
			    p[i] == '\t')
				continue;
			if (col == B64_LINE) {
				msg_wr_put(&m->wr, "\r\n", 2);
				col = 0;
			}
			msg_wr_put(&m->wr, p + i, 1);
			col++;
		}
		a += n;
	}
	return 0;
}

/*
 * Quoted-printable with lines too long: soft breaks where needed, never
 * inside an =XX, and without the trailing white space that decoders
 * drop anyway (RFC 2045 6.7, rule 3).
 */
static int
rewrap_qp(struct mime *m, off_t a, off_t b)
{
	struct msg_line		 l;
	const unsigned char	*p;
	ssize_t			 n, i;
	size_t			 end, done, col, hold;
	int			 r, soft;

	while (a < b) {
		msg_rd_seek(&m->rd, a);
		if ((r = msg_rd_line(&m->rd, &l, NULL, 0)) == -1 || r == 0)
			return msg_reason(m->reason, m->reasonsz,
			    "cannot read the message");
		end = l.tlen;
		if (l.off + (off_t)end > b)
			end = b - l.off;
		msg_rd_seek(&m->rd, l.off);
		col = hold = 0;
		soft = 0;
		for (done = 0; done < end; done += n) {
			if ((n = msg_rd_chunk(&m->rd, &p, end - done)) <= 0)
				return msg_reason(m->reason, m->reasonsz,
				    "cannot read the message");
			for (i = 0; i < n; i++) {
				if (hold > 0) {
					hold--;
				} else if (p[i] == '=') {
					if (col + 3 > QP_LINE) {
						msg_wr_put(&m->wr, "=\r\n", 3);
						col = 0;
						soft = 1;
					}
					hold = 2;
				} else {
					if (col + 1 > QP_LINE) {
						msg_wr_put(&m->wr, "=\r\n", 3);
						col = 0;
						soft = 1;
					}
					if (col == 0 && soft && p[i] == '-') {
						msg_wr_put(&m->wr, "=2D", 3);
						col += 3;
						continue;
					}
				}
				msg_wr_put(&m->wr, p + i, 1);
				col++;
			}
		}
		if (l.eol && l.off + (off_t)l.len <= b)
			msg_wr_put(&m->wr, "\r\n", 2);
		a = l.off + l.len;
	}
	return 0;
}

int
msg_to7bit(int in, int out, char *reason, size_t reasonsz)
{
	struct mime	*m;
	struct mend	 e;
	int		 rv;

	if (reason != NULL && reasonsz > 0)
		reason[0] = '\0';
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return msg_reason(reason, reasonsz, "out of memory");
	m->reason = reason;
	m->reasonsz = reasonsz;
	msg_rd_init(&m->rd, in);
	msg_wr_init(&m->wr, out);
	rv = entity(m, 0, 0, E_TOP, &e);
	/* SMTP DATA wants a last line that ends */
	if (rv == 0 && m->wr.total > 0 &&
	    (m->wr.last[0] != '\r' || m->wr.last[1] != '\n'))
		msg_wr_put(&m->wr, "\r\n", 2);
	if (msg_wr_flush(&m->wr) == -1 && rv == 0)
		rv = msg_reason(reason, reasonsz, "cannot write the message");
	free(m);
	return rv;
}
