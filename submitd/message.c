/*
 * submitd's checks and fixes of a submitted message (message.h): RFC
 * 5322 header syntax, the From/Sender check, the envelope recipients
 * and the fixes RFC 6409 section 8 allows.  The header is read into
 * memory (at most MSG_HEADER_MAX bytes); the body goes from file to
 * file through a fixed buffer.
 *
 * Choices, for the manual and the reader:
 * - Addresses in From, Sender and their Resent- forms are compared with
 *   the user's own and the allowed ones case-insensitively as a whole
 *   (ASCII case).  Logins are case-folded (common/canon.c), so two local
 *   parts that differ only in case reach the same user here.
 * - Fields we add go at the end of the header, after the client's own,
 *   which stay byte for byte and in order; trace and Resent- blocks at
 *   the top stay where RFC 5322 3.6.6 and 3.6.7 want them.  Missing
 *   Resent-Date, Resent-Message-ID and Resent-Sender go at the end of
 *   the newest Resent- block instead, so the block stays whole.
 * - With Resent- fields, the newest block (the first run of them from
 *   the top) names the resender and the recipients: Resent-From and
 *   Resent-Sender are checked, not From and Sender, which belong to
 *   whoever wrote the message first.
 * - Recipients are canonical addr-specs (comments and routes gone, the
 *   local part quoted only where RFC 5321 needs it), each kept once:
 *   the local part compared exactly, the domain ignoring case, the first
 *   mention kept in its place.
 * - A message with Resent- fields still gets the Date and Message-ID of
 *   its own when it lacks them: RFC 5322 wants them in every message.
 * - Line ends may be CRLF or LF; CRLF comes out.  A bare CR is refused in
 *   the header and kept in the body, where it makes the body MSG_BINARY.
 *   A last line without its line end gets one.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "message.h"
#include "msgio.h"

/* Kinds of address lists, RFC 5322 3.4. */
#define AP_MAILBOX	0	/* one mailbox: Sender */
#define AP_MBOXLIST	1	/* mailbox-list: From */
#define AP_ADDRLIST	2	/* address-list, groups too: To, Cc, Bcc */

#define MSGID_RANDOM	20	/* bytes: 160 bits, 32 base32 letters */

struct field {
	size_t		 off;		/* in the header buffer */
	size_t		 len;		/* all its lines, with their CRLFs */
	size_t		 nlen;		/* of its name */
	size_t		 line;		/* the header line it starts on */
	int		 drop;		/* Bcc, Resent-Bcc: not relayed */
};

struct prep {
	const struct msg_conf	*conf;
	struct msg_info		*info;
	char			*reason;
	size_t			 reasonsz;
	struct msg_rd		 rd;
	struct msg_wr		*wr;
	struct msg_buf		 hdr;		/* the header, CRLF lines */
	struct field		*f;
	size_t			 nf;
	size_t			 fsize;
	int			 blank;		/* an empty line ended it */
	int			 resent;
	size_t			 rfirst;	/* the newest Resent- block */
	size_t			 rend;
	char			**rcpt;
	size_t			 nrcpt;
	size_t			 rcptsize;
	size_t			 nfrom;		/* mailboxes in (Resent-)From */
	const char		*who;		/* the field being parsed */
};

/* A decoded piece of an address, cut off (over) when too long. */
struct abuf {
	char		 s[MSG_ADDR_MAX * 2];
	size_t		 len;
	int		 over;
};

/* The address parser over one unfolded field value. */
struct ap {
	const char	*p;
	struct abuf	 local;
	struct abuf	 domain;
	char		 addr[MSG_ADDR_MAX];	/* the canonical addr-spec */
	int		 toolong;
	char		 nodomain[64];		/* a lone local part seen */
};

typedef int	(*addr_cb)(void *, const char *);

static int	 refuse(struct prep *, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static int	 read_header(struct prep *);
static int	 add_line(struct prep *, size_t, size_t);
static int	 field_is(const struct prep *, size_t, const char *);
static ssize_t	 field_find(const struct prep *, const char *, size_t,
		    size_t);
static char	*field_value(const struct prep *, size_t);
static int	 check_counts(struct prep *);
static int	 check_resent(struct prep *);
static int	 check_addresses(struct prep *);
static int	 addr_field(struct prep *, const char *, size_t, size_t, int,
		    addr_cb);
static int	 from_cb(void *, const char *);
static int	 rcpt_cb(void *, const char *);
static int	 rcpt_dedup(struct prep *);
static int	 addr_mine(const struct msg_conf *, const char *);
static const char *addr_domain(const char *);
static int	 addr_cmp(const char *, const char *);
static struct prep *prep_new(int, struct msg_wr *, const struct msg_conf *,
		    struct msg_info *, char *, size_t);
static int	 prep_header(struct prep *);
static int	 prep_end(struct prep *, int);
static int	 write_header(struct prep *);
static int	 add_field(struct prep *, struct msg_buf *, const char *,
		    const char *);
static int	 has_8bit(const unsigned char *, size_t);
static int	 body_clean(struct msg_body *, int *, struct msg_wr *,
		    const unsigned char *, size_t);
static void	 date_now(char *, size_t);
static void	 msgid_new(const struct msg_conf *, char *, size_t);
static void	 msgid_get(const char *, char *, size_t);
static int	 host_ok(const char *);
static int	 user_ok(const struct msg_conf *);

static int	 is_atext(unsigned char);
static void	 abuf_add(struct abuf *, const char *, size_t);
static int	 ap_cfws(struct ap *);
static int	 ap_word(struct ap *, struct abuf *);
static int	 ap_local(struct ap *);
static int	 ap_domain(struct ap *);
static int	 ap_canon(struct ap *);
static int	 ap_addrspec(struct ap *);
static int	 ap_angle(struct ap *);
static int	 ap_phrase(struct ap *);
static int	 ap_mailbox(struct ap *);
static int	 ap_group(struct ap *, addr_cb, void *, int *);
static int	 ap_list(const char *, int, const char *, addr_cb, void *,
		    char *, size_t);

/* RFC 5322 3.6: at most one of each. */
static const char *const unique_fields[] = {
	"Date", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"Message-ID", "In-Reply-To", "References", "Subject"
};

/* RFC 5322 3.6.6: one of each per Resent- block. */
static const char *const resent_fields[] = {
	"Resent-Date", "Resent-From", "Resent-Sender", "Resent-To",
	"Resent-Cc", "Resent-Bcc", "Resent-Message-ID"
};

/*
 * The reader and writer shared with mime.c.
 */

void
msg_rd_init(struct msg_rd *r, int fd)
{
	r->fd = fd;
	r->base = 0;
	r->len = r->pos = 0;
}

/* Keep the window when the offset is in it: going back is the norm. */
void
msg_rd_seek(struct msg_rd *r, off_t off)
{
	if (off >= r->base && off <= r->base + (off_t)r->len)
		r->pos = off - r->base;
	else {
		r->base = off;
		r->len = r->pos = 0;
	}
}

off_t
msg_rd_tell(const struct msg_rd *r)
{
	return r->base + r->pos;
}

static ssize_t
msg_rd_fill(struct msg_rd *r)
{
	ssize_t	n;

	if (r->pos < r->len)
		return r->len - r->pos;
	r->base += r->len;
	r->len = r->pos = 0;
	do
		n = pread(r->fd, r->buf, sizeof(r->buf), r->base);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	r->len = n;
	return n;
}

/* Up to max bytes at the current offset, consumed; 0 at the end. */
ssize_t
msg_rd_chunk(struct msg_rd *r, const unsigned char **p, size_t max)
{
	ssize_t	n;

	if ((n = msg_rd_fill(r)) <= 0)
		return n;
	if ((size_t)n > max)
		n = max;
	*p = r->buf + r->pos;
	r->pos += n;
	return n;
}

/*
 * The next line: up to and with its LF, or up to the end of the file.
 * Its bytes are added to b (when not NULL) as long as b stays within
 * cap.  1 for a line, 0 at the end of the file, -1 on a read error.
 */
int
msg_rd_line(struct msg_rd *r, struct msg_line *l, struct msg_buf *b,
    size_t cap)
{
	const unsigned char	*s;
	unsigned int		 u8 = 0;
	ssize_t			 n;
	size_t			 i, m, k;
	int			 cr = 0, done = 0;
	unsigned char		 c;

	l->off = msg_rd_tell(r);
	l->len = l->clen = l->tlen = 0;
	l->eol = 0;
	l->flags = 0;
	while (!done) {
		if ((n = msg_rd_fill(r)) == -1)
			return -1;
		if (n == 0)
			break;
		s = r->buf + r->pos;
		for (m = 0; m < (size_t)n && !done; m++) {
			c = s[m];
			if (c == '\n') {
				done = 1;
				continue;
			}
			i = l->len + m;
			if (cr) {
				l->flags |= MSG_L_BARECR;
				l->tlen = i;
				cr = 0;
			}
			if (msg_utf8_step(&u8, c) == -1)
				l->flags |= MSG_L_BADUTF8;
			if (c == '\r') {
				cr = 1;
				continue;
			}
			if (c == ' ' || c == '\t')
				continue;
			l->tlen = i + 1;
			if (c == '\0')
				l->flags |= MSG_L_NUL;
			else if (c >= 0x80)
				l->flags |= MSG_L_8BIT;
		}
		if (l->len < MSG_PREFIX) {
			k = MSG_PREFIX - l->len;
			memcpy(l->prefix + l->len, s, k < m ? k : m);
		}
		if (b != NULL) {
			k = b->len < cap ? cap - b->len : 0;
			if (k < m)
				l->flags |= MSG_L_TRUNC;
			if (msg_buf_add(b, s, k < m ? k : m) == -1)
				return -1;
		}
		l->len += m;
		r->pos += m;
	}
	if (l->len == 0)
		return 0;
	if (u8 != 0)
		l->flags |= MSG_L_BADUTF8;
	if (done) {
		l->eol = 1;
		l->clen = l->len - (cr ? 2 : 1);
		if (!cr)
			l->flags |= MSG_L_BARELF;
	} else {
		l->clen = l->len;
		if (cr) {
			l->flags |= MSG_L_BARECR;
			l->tlen = l->len;
		}
	}
	return 1;
}

void
msg_wr_init(struct msg_wr *w, int fd)
{
	w->fd = fd;
	w->len = 0;
	w->total = 0;
	w->err = 0;
	w->last[0] = w->last[1] = '\0';
}

int
msg_wr_flush(struct msg_wr *w)
{
	size_t	off = 0;
	ssize_t	n;

	while (!w->err && off < w->len) {
		if ((n = write(w->fd, w->buf + off, w->len - off)) == -1) {
			if (errno != EINTR)
				w->err = 1;
			continue;
		}
		off += n;
	}
	w->len = 0;
	return w->err ? -1 : 0;
}

void
msg_wr_put(struct msg_wr *w, const void *p, size_t n)
{
	const unsigned char	*s = p;
	size_t			 k;

	if (n == 0)
		return;
	w->total += n;
	if (n >= 2) {
		w->last[0] = s[n - 2];
		w->last[1] = s[n - 1];
	} else {
		w->last[0] = w->last[1];
		w->last[1] = s[0];
	}
	/* a large piece goes straight to the file, not through buf */
	if (w->len == 0 && n >= sizeof(w->buf) / 4) {
		while (n > 0 && !w->err) {
			if ((k = write(w->fd, s, n)) == (size_t)-1) {
				if (errno != EINTR)
					w->err = 1;
				continue;
			}
			s += k;
			n -= k;
		}
		return;
	}
	while (n > 0 && !w->err) {
		if (w->len == sizeof(w->buf))
			msg_wr_flush(w);
		k = sizeof(w->buf) - w->len;
		if (k > n)
			k = n;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
	}
}

void
msg_wr_str(struct msg_wr *w, const char *s)
{
	msg_wr_put(w, s, strlen(s));
}

int
msg_buf_add(struct msg_buf *b, const void *p, size_t n)
{
	char	*np;
	size_t	 size;

	if (n == 0)
		return 0;
	if (b->len + n > b->size) {
		size = b->size > 0 ? b->size : 1024;
		while (size < b->len + n)
			size *= 2;
		if ((np = realloc(b->p, size)) == NULL)
			return -1;
		b->p = np;
		b->size = size;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void
msg_buf_free(struct msg_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->size = 0;
}

/*
 * Skip CFWS (RFC 5322 3.2.2): white space, line ends and comments, which
 * nest.  NULL when a comment does not end.
 */
const char *
msg_cfws(const char *p)
{
	int	depth;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		depth = 0;
		do {
			switch (*p) {
			case '\0':
				return NULL;
			case '\\':
				if (p[1] == '\0')
					return NULL;
				p++;
				break;
			case '(':
				depth++;
				break;
			case ')':
				depth--;
				break;
			}
			p++;
		} while (depth > 0);
	}
}

/*
 * One byte through a UTF-8 check (RFC 3629: no overlong forms, no
 * surrogates, nothing past U+10FFFF).  The state is the number of
 * continuation bytes still due and the range the next one must be in.
 */
int
msg_utf8_step(unsigned int *st, unsigned char c)
{
	unsigned int	need = *st & 0xff, lo = (*st >> 8) & 0xff;
	unsigned int	hi = (*st >> 16) & 0xff;

	if (need > 0) {
		if (c < lo || c > hi) {
			*st = 0;
			return -1;
		}
		*st = need == 1 ? 0 : (need - 1) | 0x80 << 8 | 0xbf << 16;
		return 0;
	}
	if (c < 0x80)
		return 0;
	if (c >= 0xc2 && c <= 0xdf)
		*st = 1 | 0x80 << 8 | 0xbf << 16;
	else if (c == 0xe0)
		*st = 2 | 0xa0 << 8 | 0xbf << 16;
	else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
		*st = 2 | 0x80 << 8 | 0xbf << 16;
	else if (c == 0xed)
		*st = 2 | 0x80 << 8 | 0x9f << 16;
	else if (c == 0xf0)
		*st = 3 | 0x90 << 8 | 0xbf << 16;
	else if (c >= 0xf1 && c <= 0xf3)
		*st = 3 | 0x80 << 8 | 0xbf << 16;
	else if (c == 0xf4)
		*st = 3 | 0x80 << 8 | 0x8f << 16;
	else
		return -1;
	return 0;
}

/* A reason for the client: printable ASCII only, so no CR or LF. */
int
msg_reason(char *buf, size_t sz, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	if (buf == NULL || sz == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return -1;
}

static int
refuse(struct prep *p, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[MSG_REASON_MAX];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return msg_reason(p->reason, p->reasonsz, "%s", buf);
}

/*
 * The header, RFC 5322 2.2 and 3.6: lines up to the first empty one,
 * each a field or the continuation of one, at most MSG_LINE_MAX bytes,
 * UTF-8 where they are not ASCII (RFC 6532).
 */
static int
read_header(struct prep *p)
{
	struct msg_line	 l;
	size_t		 lineno = 0, start;
	int		 r;

	for (;;) {
		start = p->hdr.len;
		r = msg_rd_line(&p->rd, &l, &p->hdr, MSG_HEADER_MAX);
		if (r == -1)
			return refuse(p, "cannot read the message");
		if (r == 0) {
			if (lineno == 0)
				return refuse(p, "message is empty");
			break;
		}
		lineno++;
		if (l.clen == 0 && l.eol) {
			p->hdr.len = start;
			p->blank = 1;
			break;
		}
		if (l.flags & MSG_L_BARECR)
			return refuse(p, "header line %zu has a bare CR",
			    lineno);
		if (l.flags & MSG_L_NUL)
			return refuse(p, "header line %zu has a NUL byte",
			    lineno);
		if (l.clen > MSG_LINE_MAX)
			return refuse(p, "header line %zu is longer than %d "
			    "bytes", lineno, MSG_LINE_MAX);
		if (l.flags & MSG_L_BADUTF8)
			return refuse(p, "header line %zu is not valid UTF-8",
			    lineno);
		if ((l.flags & MSG_L_TRUNC) ||
		    start + l.clen + 2 > MSG_HEADER_MAX)
			return refuse(p, "header is larger than %d bytes",
			    MSG_HEADER_MAX);
		if (l.flags & MSG_L_8BIT)
			p->info->flags |= MSG_8BITHDR;
		p->hdr.len = start + l.clen;
		if (msg_buf_add(&p->hdr, "\r\n", 2) == -1)
			return refuse(p, "out of memory");
		if (add_line(p, start, lineno) == -1)
			return -1;
	}
	return 0;
}

/* A field name: printable ASCII but ':', then ':' (obs: WSP first). */
static int
add_line(struct prep *p, size_t start, size_t lineno)
{
	const unsigned char	*s = (unsigned char *)p->hdr.p + start;
	size_t			 n = p->hdr.len - start - 2, i, nlen;
	struct field		*nf;
	size_t			 size;

	if (s[0] == ' ' || s[0] == '\t') {
		if (p->nf == 0)
			return refuse(p, "header line %zu is not a field",
			    lineno);
		p->f[p->nf - 1].len += n + 2;
		return 0;
	}
	for (i = 0; i < n && s[i] > ' ' && s[i] < 0x7f && s[i] != ':'; i++)
		;
	nlen = i;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (nlen == 0 || i == n || s[i] != ':')
		return refuse(p, "header line %zu is not a field", lineno);
	if (p->nf == p->fsize) {
		size = p->fsize > 0 ? p->fsize * 2 : 32;
		if ((nf = reallocarray(p->f, size, sizeof(*nf))) == NULL)
			return refuse(p, "out of memory");
		p->f = nf;
		p->fsize = size;
	}
	p->f[p->nf].off = start;
	p->f[p->nf].len = n + 2;
	p->f[p->nf].nlen = nlen;
	p->f[p->nf].line = lineno;
	p->f[p->nf].drop = 0;
	p->nf++;
	return 0;
}

static int
field_is(const struct prep *p, size_t i, const char *name)
{
	return p->f[i].nlen == strlen(name) &&
	    strncasecmp(p->hdr.p + p->f[i].off, name, p->f[i].nlen) == 0;
}

static ssize_t
field_find(const struct prep *p, const char *name, size_t from, size_t to)
{
	size_t	i;

	for (i = from; i < to; i++)
		if (field_is(p, i, name))
			return i;
	return -1;
}

/* The value after the colon, unfolded (RFC 5322 2.2.3), NUL-terminated. */
static char *
field_value(const struct prep *p, size_t i)
{
	const char	*s = p->hdr.p + p->f[i].off;
	size_t		 n = p->f[i].len, k, j = 0;
	char		*v;

	if ((v = malloc(n + 1)) == NULL)
		return NULL;
	k = (const char *)memchr(s, ':', n) - s + 1;
	for (; k < n; k++)
		if (s[k] != '\r' && s[k] != '\n')
			v[j++] = s[k];
	v[j] = '\0';
	return v;
}

static int
check_counts(struct prep *p)
{
	size_t	i, j, n;

	for (i = 0; i < sizeof(unique_fields) / sizeof(*unique_fields); i++) {
		for (n = 0, j = 0; j < p->nf; j++)
			if (field_is(p, j, unique_fields[i]))
				n++;
		if (n == 2)
			return refuse(p, "two %s fields", unique_fields[i]);
		if (n > 2)
			return refuse(p, "%zu %s fields", n, unique_fields[i]);
	}
	if (field_find(p, "From", 0, p->nf) == -1)
		return refuse(p, "From field is missing");
	return 0;
}

/*
 * RFC 5322 3.6.6: Resent- fields come in blocks, the newest first; the
 * newest is the one this submission makes.  It needs its Resent-From.
 */
static int
check_resent(struct prep *p)
{
	size_t	i, j, n;

	for (i = 0; i < p->nf; i++)
		if (p->f[i].nlen > 7 &&
		    strncasecmp(p->hdr.p + p->f[i].off, "Resent-", 7) == 0)
			break;
	if (i == p->nf)
		return 0;
	p->resent = 1;
	p->rfirst = i;
	while (i < p->nf && p->f[i].nlen > 7 &&
	    strncasecmp(p->hdr.p + p->f[i].off, "Resent-", 7) == 0)
		i++;
	p->rend = i;
	for (i = 0; i < sizeof(resent_fields) / sizeof(*resent_fields); i++) {
		for (n = 0, j = p->rfirst; j < p->rend; j++)
			if (field_is(p, j, resent_fields[i]))
				n++;
		if (n > 1)
			return refuse(p, "two %s fields in one Resent- block",
			    resent_fields[i]);
	}
	if (field_find(p, "Resent-From", p->rfirst, p->rend) == -1)
		return refuse(p, "Resent-From field is missing");
	return 0;
}

/* The fields of one name in [from, to) through the address parser. */
static int
addr_field(struct prep *p, const char *name, size_t from, size_t to,
    int kind, addr_cb cb)
{
	size_t	 i;
	char	*v;
	int	 n, total = 0;

	p->who = name;
	for (i = from; i < to; i++) {
		if (!field_is(p, i, name))
			continue;
		if ((v = field_value(p, i)) == NULL)
			return refuse(p, "out of memory");
		n = ap_list(v, kind, name, cb, p, p->reason, p->reasonsz);
		free(v);
		if (n == -1)
			return -1;
		total += n;
	}
	return total;
}

static int
from_cb(void *arg, const char *addr)
{
	struct prep	*p = arg;

	p->nfrom++;
	if (!addr_mine(p->conf, addr))
		return refuse(p, "%s address %.100s is not yours", p->who,
		    addr);
	return 0;
}

static int
rcpt_cb(void *arg, const char *addr)
{
	struct prep	 *p = arg;
	char		**nr;
	size_t		  size;

	if (p->nrcpt == p->rcptsize) {
		size = p->rcptsize > 0 ? p->rcptsize * 2 : 16;
		if ((nr = reallocarray(p->rcpt, size, sizeof(*nr))) == NULL)
			return refuse(p, "out of memory");
		p->rcpt = nr;
		p->rcptsize = size;
	}
	if ((p->rcpt[p->nrcpt] = strdup(addr)) == NULL)
		return refuse(p, "out of memory");
	p->nrcpt++;
	return 0;
}

/*
 * Who it is from and to whom it goes.  Without Resent- fields: From and
 * Sender are the user's, To, Cc and Bcc the recipients.  With them, the
 * newest block's Resent-From, Resent-Sender and Resent-To/Cc/Bcc.
 */
static int
check_addresses(struct prep *p)
{
	const char	*from = "From", *sender = "Sender";
	size_t		 lo = 0, hi = p->nf;
	size_t		 i, nfrom;

	if (p->resent) {
		from = "Resent-From";
		sender = "Resent-Sender";
		lo = p->rfirst;
		hi = p->rend;
		p->info->flags |= MSG_RESENT;
	}
	if (addr_field(p, from, lo, hi, AP_MBOXLIST, from_cb) == -1)
		return -1;
	if ((nfrom = p->nfrom) == 0)
		return refuse(p, "%s field has no address", from);
	if (addr_field(p, sender, lo, hi, AP_MAILBOX, from_cb) == -1)
		return -1;
	p->nfrom = nfrom;

	if (p->resent) {
		if (addr_field(p, "Resent-To", lo, hi, AP_ADDRLIST,
		    rcpt_cb) == -1 ||
		    addr_field(p, "Resent-Cc", lo, hi, AP_ADDRLIST,
		    rcpt_cb) == -1 ||
		    addr_field(p, "Resent-Bcc", lo, hi, AP_ADDRLIST,
		    rcpt_cb) == -1)
			return -1;
	} else {
		if (addr_field(p, "To", lo, hi, AP_ADDRLIST, rcpt_cb) == -1 ||
		    addr_field(p, "Cc", lo, hi, AP_ADDRLIST, rcpt_cb) == -1 ||
		    addr_field(p, "Bcc", lo, hi, AP_ADDRLIST, rcpt_cb) == -1)
			return -1;
	}
	if (rcpt_dedup(p) == -1)
		return -1;
	if (p->nrcpt == 0)
		return refuse(p, "no recipients");
	if (p->conf->rcpt_max > 0 && p->nrcpt > p->conf->rcpt_max)
		return refuse(p, "too many recipients (%zu, at most %zu)",
		    p->nrcpt, p->conf->rcpt_max);

	/* RFC 5322 3.6.3: Bcc goes to the envelope, not to the readers. */
	for (i = 0; i < p->nf; i++)
		if (field_is(p, i, "Bcc") || field_is(p, i, "Resent-Bcc"))
			p->f[i].drop = 1;
	return 0;
}

struct dedup {
	const char	*addr;
	size_t		 i;
};

static int
dedup_cmp(const void *a, const void *b)
{
	const struct dedup	*x = a, *y = b;
	int			 c;

	if ((c = addr_cmp(x->addr, y->addr)) != 0)
		return c;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Each recipient once, the first mention kept in its place.  Sorting
 * keeps a header full of addresses from costing n squared.
 */
static int
rcpt_dedup(struct prep *p)
{
	struct dedup	*d;
	size_t		 i, n, first;

	if (p->nrcpt < 2)
		return 0;
	if ((d = reallocarray(NULL, p->nrcpt, sizeof(*d))) == NULL)
		return refuse(p, "out of memory");
	for (i = 0; i < p->nrcpt; i++) {
		d[i].addr = p->rcpt[i];
		d[i].i = i;
	}
	qsort(d, p->nrcpt, sizeof(*d), dedup_cmp);
	for (first = 0, i = 1; i < p->nrcpt; i++) {
		if (addr_cmp(d[first].addr, d[i].addr) != 0) {
			first = i;
			continue;
		}
		free(p->rcpt[d[i].i]);
		p->rcpt[d[i].i] = NULL;
	}
	free(d);
	for (i = n = 0; i < p->nrcpt; i++)
		if (p->rcpt[i] != NULL)
			p->rcpt[n++] = p->rcpt[i];
	p->nrcpt = n;
	return 0;
}

/* Where the domain of a canonical addr-spec starts: after its '@'. */
static const char *
addr_domain(const char *a)
{
	const char	*at, *lb;
	size_t		 n = strlen(a);

	/* a domain literal may hold '@' itself, never '[' */
	if (n > 0 && a[n - 1] == ']' && (lb = strrchr(a, '[')) != NULL &&
	    lb > a && lb[-1] == '@')
		return lb;
	if ((at = strrchr(a, '@')) == NULL)
		return a + n;
	return at + 1;
}

/* RFC 5321 2.4: the local part is exact, the domain is not. */
static int
addr_cmp(const char *a, const char *b)
{
	const char	*da = addr_domain(a), *db = addr_domain(b);
	size_t		 la = da - a, lb = db - b;
	int		 c;

	if ((c = memcmp(a, b, la < lb ? la : lb)) != 0)
		return c;
	if (la != lb)
		return la < lb ? -1 : 1;
	return strcasecmp(da, db);
}

static int
addr_mine(const struct msg_conf *conf, const char *addr)
{
	const char	*a;
	size_t		 i;

	if (conf->user != NULL && strcasecmp(addr, conf->user) == 0)
		return 1;
	for (i = 0; i < conf->nallowed; i++) {
		if ((a = conf->allowed[i]) == NULL)
			continue;
		if (a[0] == '@') {
			if (addr_domain(addr) > addr &&
			    strcasecmp(addr_domain(addr), a + 1) == 0)
				return 1;
		} else if (strcasecmp(addr, a) == 0)
			return 1;
	}
	return 0;
}

/* "Name: value" and CRLF, for the fields we add. */
static int
add_field(struct prep *p, struct msg_buf *b, const char *name,
    const char *value)
{
	char	line[MSG_LINE_MAX + 3];
	int	n;

	n = snprintf(line, sizeof(line), "%s: %s\r\n", name, value);
	if (n < 0 || (size_t)n >= sizeof(line))
		return refuse(p, "%s field would be too long", name);
	if (msg_buf_add(b, line, n) == -1)
		return refuse(p, "out of memory");
	return 0;
}

/* RFC 5322 3.3, in the local time zone; no locale in the names. */
static void
date_now(char *buf, size_t sz)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm	 tm;
	time_t		 now = time(NULL);
	long		 off;
	int		 sign = '+';

	localtime_r(&now, &tm);
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	snprintf(buf, sz, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	    off / 60, off % 60);
}

/* A dot-atom-text host name for the right side of a msg-id. */
static int
host_ok(const char *h)
{
	size_t	i, n;

	if (h == NULL || (n = strlen(h)) == 0 || n > 255 || h[0] == '.' ||
	    h[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (!(is_atext(h[i]) && (unsigned char)h[i] < 0x80) &&
		    !(h[i] == '.' && h[i + 1] != '.'))
			return 0;
	return 1;
}

/* The user as a Sender: a login without a domain is no mailbox. */
static int
user_ok(const struct msg_conf *conf)
{
	char	addr[MSG_ADDR_MAX];

	return conf->user != NULL &&
	    msg_parse_mailbox(conf->user, addr, sizeof(addr)) == 0;
}

/* RFC 5322 3.6.4: 160 random bits in base32, then our host name. */
static void
msgid_new(const struct msg_conf *conf, char *buf, size_t sz)
{
	static const char	 b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char		 rnd[MSGID_RANDOM + 1];
	char			 id[MSGID_RANDOM * 8 / 5 + 1];
	const char		*host = "localhost";
	size_t			 i, bit;
	unsigned int		 w;

	randombytes_buf(rnd, MSGID_RANDOM);
	rnd[MSGID_RANDOM] = 0;
	for (i = 0; i < sizeof(id) - 1; i++) {
		bit = i * 5;
		w = rnd[bit / 8] << 8 | rnd[bit / 8 + 1];
		id[i] = b32[(w >> (11 - bit % 8)) & 31];
	}
	id[i] = '\0';
	sodium_memzero(rnd, sizeof(rnd));
	if (host_ok(conf->hostname) &&
	    strlen(conf->hostname) + sizeof(id) < MSG_ADDR_MAX)
		host = conf->hostname;
	snprintf(buf, sz, "%s@%s", id, host);
}

/* What is between the <> of a Message-ID the client gave, if plain. */
static void
msgid_get(const char *v, char *buf, size_t sz)
{
	const char	*lt, *gt, *s;

	buf[0] = '\0';
	if ((lt = strchr(v, '<')) == NULL || (gt = strchr(lt, '>')) == NULL ||
	    gt == lt + 1 || (size_t)(gt - lt - 1) >= sz)
		return;
	for (s = lt + 1; s < gt; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return;
	memcpy(buf, lt + 1, gt - lt - 1);
	buf[gt - lt - 1] = '\0';
}

/*
 * The fixes of RFC 6409 section 8 (Date, Message-ID, Sender), then the
 * header: the client's fields in order but Bcc, ours after them, and
 * the empty line if the message has a body.
 */
static int
write_header(struct prep *p)
{
	struct msg_buf	 tail = { 0 }, block = { 0 };
	char		 date[64], id[MSG_ADDR_MAX], val[MSG_ADDR_MAX + 2];
	char		*v;
	ssize_t		 i;
	size_t		 k;
	int		 rv = -1;

	date_now(date, sizeof(date));
	if (field_find(p, "Date", 0, p->nf) == -1 &&
	    add_field(p, &tail, "Date", date) == -1)
		goto done;
	if ((i = field_find(p, "Message-ID", 0, p->nf)) == -1) {
		msgid_new(p->conf, id, sizeof(id));
		snprintf(val, sizeof(val), "<%s>", id);
		if (add_field(p, &tail, "Message-ID", val) == -1)
			goto done;
		strlcpy(p->info->msgid, id, sizeof(p->info->msgid));
	} else {
		if ((v = field_value(p, i)) == NULL) {
			refuse(p, "out of memory");
			goto done;
		}
		msgid_get(v, p->info->msgid, sizeof(p->info->msgid));
		free(v);
	}
	/* RFC 5322 3.6.2: more than one author needs a Sender */
	if (!p->resent && p->nfrom > 1 && user_ok(p->conf) &&
	    field_find(p, "Sender", 0, p->nf) == -1 &&
	    add_field(p, &tail, "Sender", p->conf->user) == -1)
		goto done;

	if (p->resent) {
		if (field_find(p, "Resent-Date", p->rfirst, p->rend) == -1 &&
		    add_field(p, &block, "Resent-Date", date) == -1)
			goto done;
		if ((i = field_find(p, "Resent-Message-ID", p->rfirst,
		    p->rend)) == -1) {
			msgid_new(p->conf, id, sizeof(id));
			snprintf(val, sizeof(val), "<%s>", id);
			if (add_field(p, &block, "Resent-Message-ID",
			    val) == -1)
				goto done;
			strlcpy(p->info->msgid, id, sizeof(p->info->msgid));
		} else {
			if ((v = field_value(p, i)) == NULL) {
				refuse(p, "out of memory");
				goto done;
			}
			msgid_get(v, p->info->msgid, sizeof(p->info->msgid));
			free(v);
		}
		if (p->nfrom > 1 && user_ok(p->conf) &&
		    field_find(p, "Resent-Sender", p->rfirst, p->rend) == -1 &&
		    add_field(p, &block, "Resent-Sender", p->conf->user) == -1)
			goto done;
	}

	for (k = 0; k < p->nf; k++) {
		if (!p->f[k].drop)
			msg_wr_put(p->wr, p->hdr.p + p->f[k].off,
			    p->f[k].len);
		if (p->resent && k + 1 == p->rend)
			msg_wr_put(p->wr, block.p, block.len);
	}
	msg_wr_put(p->wr, tail.p, tail.len);
	if (p->blank)
		msg_wr_put(p->wr, "\r\n", 2);
	rv = 0;
 done:
	msg_buf_free(&tail);
	msg_buf_free(&block);
	return rv;
}

void
msg_body_init(struct msg_body *b, const struct msg_wr *w)
{
	memset(b, 0, sizeof(*b));
	b->plain = b->dots = w->total;
}

/*
 * Body bytes, LF or CRLF line ends made CRLF, bare CRs kept.  What SMTP
 * DATA cannot carry as it is (RFC 5321 4.5.3.1.6, RFC 6152) sets flags.
 */
void
msg_body_put(struct msg_body *b, int *flags, struct msg_wr *w,
    const void *buf, size_t n)
{
	const unsigned char	*s = buf, *e;
	size_t			 i, j;

	if (body_clean(b, flags, w, s, n))
		return;
	b->opaque = 1;
	for (i = 0; i < n; i = j) {
		if (b->cr) {
			b->cr = 0;
			if (s[i] == '\n') {
				msg_wr_put(w, "\r\n", 2);
				b->col = 0;
				j = i + 1;
				continue;
			}
			msg_wr_put(w, "\r", 1);
			*flags |= MSG_BINARY;
			b->col++;
		}
		if (s[i] == '\r') {
			b->cr = 1;
			j = i + 1;
			continue;
		}
		if (s[i] == '\n') {
			msg_wr_put(w, "\r\n", 2);
			b->col = 0;
			j = i + 1;
			continue;
		}
		/* the line's text, up to CR or LF */
		e = memchr(s + i, '\n', n - i);
		j = e != NULL ? (size_t)(e - s) : n;
		if ((e = memchr(s + i, '\r', j - i)) != NULL)
			j = e - s;
		if (memchr(s + i, '\0', j - i) != NULL)
			*flags |= MSG_BINARY;
		if (!(*flags & MSG_8BITBODY) && has_8bit(s + i, j - i))
			*flags |= MSG_8BITBODY;
		msg_wr_put(w, s + i, j - i);
		b->col += j - i;
		if (b->col > MSG_LINE_MAX)
			*flags |= MSG_BINARY;
	}
}

/*
 * Most chunks need nothing changed: CRLF line ends only, no NUL, no bare
 * CR; the chunk before may have ended between a CR and its LF, this one
 * may too.  Such a chunk goes as it is, in one piece; only its line ends
 * are looked at, for the lengths of the lines, where the plain ones
 * end and which begin with ".".  0: it is not one (nothing was done).
 */
static int
body_clean(struct msg_body *b, int *flags, struct msg_wr *w,
    const unsigned char *s, size_t n)
{
	const unsigned char	*p = s, *e = s + n, *lf, *cr;
	off_t			 base = w->total, plain = b->plain;
	off_t			 dots = b->dots;
	size_t			 col = b->col, len = n;
	int			 longline = 0, pend = 0;

	if (n == 0 || memchr(s, '\0', n) != NULL)
		return 0;
	if (b->cr) {
		/* the chunk before ended in a CR: here comes its LF */
		if (s[0] != '\n')
			return 0;
		base++;			/* that CR, written below */
		if (col > MSG_LINE_MAX)
			longline = 1;
		if (!b->opaque)
			plain = base + 1;
		col = 0;
		p++;
	}
	for (;;) {
		if (col == 0 && p < e && *p == '.')
			dots = base + (p - s) + 1;
		lf = memchr(p, '\n', e - p);
		cr = memchr(p, '\r', (lf != NULL ? lf : e) - p);
		if (lf == NULL) {
			if (cr != NULL && cr + 1 != e)
				return 0;	/* a bare CR */
			if (cr != NULL) {
				/* its LF comes with the next chunk */
				pend = 1;
				len--;
			}
			col += (cr != NULL ? cr : e) - p;
			break;
		}
		if (cr == NULL || cr + 1 != lf)
			return 0;	/* a bare LF or a bare CR */
		if (col + (cr - p) > MSG_LINE_MAX)
			longline = 1;
		if (!b->opaque)
			plain = base + (lf + 1 - s);
		col = 0;
		p = lf + 1;
	}
	if (longline || col > MSG_LINE_MAX)
		*flags |= MSG_BINARY;
	if (!(*flags & MSG_8BITBODY) && has_8bit(s, n))
		*flags |= MSG_8BITBODY;
	if (b->cr)
		msg_wr_put(w, "\r", 1);
	msg_wr_put(w, s, len);
	b->cr = pend;
	b->col = col;
	b->plain = plain;
	b->dots = dots;
	return 1;
}

/* A CR at the very end ends the last line, as does a missing line end. */
void
msg_body_end(struct msg_body *b, struct msg_wr *w)
{
	if (b->cr || b->col > 0)
		msg_wr_put(w, "\r\n", 2);
	if (!b->opaque)
		b->plain = w->total;
	b->cr = 0;
	b->col = 0;
}

/* Any byte over 127?  Eight at a time: the body is most of a message. */
static int
has_8bit(const unsigned char *s, size_t n)
{
	uint64_t	w, acc = 0;
	size_t		i;

	for (i = 0; i + sizeof(w) <= n; i += sizeof(w)) {
		memcpy(&w, s + i, sizeof(w));
		acc |= w;
	}
	for (; i < n; i++)
		acc |= s[i];
	return (acc & 0x8080808080808080ULL) != 0;
}

static struct prep *
prep_new(int in, struct msg_wr *w, const struct msg_conf *conf,
    struct msg_info *info, char *reason, size_t reasonsz)
{
	struct prep	*p;

	memset(info, 0, sizeof(*info));
	if (reason != NULL && reasonsz > 0)
		reason[0] = '\0';
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		msg_reason(reason, reasonsz, "out of memory");
		return NULL;
	}
	p->conf = conf;
	p->info = info;
	p->reason = reason;
	p->reasonsz = reasonsz;
	msg_rd_init(&p->rd, in);
	p->wr = w;
	return p;
}

static int
prep_header(struct prep *p)
{
	if (read_header(p) == -1 || check_counts(p) == -1 ||
	    check_resent(p) == -1 || check_addresses(p) == -1 ||
	    write_header(p) == -1)
		return -1;
	return 0;
}

/* The recipients go to info if all went well (ok 1); returns 0 or -1. */
static int
prep_end(struct prep *p, int ok)
{
	size_t	i;

	if (ok) {
		p->info->rcpt = p->rcpt;
		p->info->nrcpt = p->nrcpt;
		p->rcpt = NULL;
		p->nrcpt = 0;
	}
	for (i = 0; i < p->nrcpt; i++)
		free(p->rcpt[i]);
	free(p->rcpt);
	free(p->f);
	msg_buf_free(&p->hdr);
	if (!ok)
		memset(p->info, 0, sizeof(*p->info));
	free(p);
	return ok ? 0 : -1;
}

int
msg_header(int in, struct msg_wr *w, const struct msg_conf *conf,
    struct msg_info *info, off_t *body, char *reason, size_t reasonsz)
{
	struct prep	*p;

	if ((p = prep_new(in, w, conf, info, reason, reasonsz)) == NULL)
		return -1;
	if (prep_header(p) == -1)
		return prep_end(p, 0);
	*body = p->blank ? msg_rd_tell(&p->rd) : -1;
	return prep_end(p, 1);
}

int
msg_prepare(int in, int out, const struct msg_conf *conf,
    struct msg_info *info, char *reason, size_t reasonsz)
{
	struct prep		*p;
	struct msg_wr		*w;
	struct msg_body		 b;
	const unsigned char	*s;
	ssize_t			 n = 0;
	int			 ok;

	if ((w = malloc(sizeof(*w))) == NULL) {
		memset(info, 0, sizeof(*info));
		return msg_reason(reason, reasonsz, "out of memory");
	}
	msg_wr_init(w, out);
	if ((p = prep_new(in, w, conf, info, reason, reasonsz)) == NULL) {
		free(w);
		return -1;
	}
	ok = prep_header(p) == 0;
	if (ok && p->blank) {
		msg_body_init(&b, w);
		while ((n = msg_rd_chunk(&p->rd, &s, SIZE_MAX)) > 0)
			msg_body_put(&b, &info->flags, w, s, n);
		if (n == -1)
			ok = refuse(p, "cannot read the message") == 0;
		msg_body_end(&b, w);
	}
	if (ok && msg_wr_flush(w) == -1)
		ok = refuse(p, "cannot write the message") == 0;
	if (ok)
		info->size = w->total;
	free(w);
	return prep_end(p, ok);
}

void
msg_info_free(struct msg_info *info)
{
	size_t	i;

	for (i = 0; i < info->nrcpt; i++)
		free(info->rcpt[i]);
	free(info->rcpt);
	info->rcpt = NULL;
	info->nrcpt = 0;
}

int
msg_parse_mailbox(const char *s, char *out, size_t outsz)
{
	struct ap	a;

	memset(&a, 0, sizeof(a));
	a.p = s;
	if (ap_cfws(&a) == -1 || ap_mailbox(&a) == -1 || *a.p != '\0')
		return -1;
	if (strlcpy(out, a.addr, outsz) >= outsz)
		return -1;
	return 0;
}

/*
 * The address parser, RFC 5322 3.4 with the obsolete forms of 4.4 that
 * clients still send: dots in display names, CFWS around the dots of
 * local parts and domains, routes in angle-addrs, empty list elements.
 * Bytes over 127 are atext (RFC 6532 3.2; the header is UTF-8 already).
 * A mailbox becomes its canonical addr-spec: comments and folding gone,
 * the local part quoted only where it must be (RFC 5321 4.1.2).
 */

static int
is_atext(unsigned char c)
{
	if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static void
abuf_add(struct abuf *b, const char *s, size_t n)
{
	if (b == NULL)
		return;
	if (b->len + n >= sizeof(b->s)) {
		b->over = 1;
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static int
ap_cfws(struct ap *a)
{
	const char	*q;

	if ((q = msg_cfws(a->p)) == NULL)
		return -1;
	a->p = q;
	return 0;
}

/* An atom or a quoted-string, decoded onto b: 1, 0 if none, -1 if bad. */
static int
ap_word(struct ap *a, struct abuf *b)
{
	const char	*s = a->p, *e;

	if (*s == '"') {
		for (s++; *s != '"'; s++) {
			if (*s == '\0')
				return -1;
			if (*s == '\\' && *++s == '\0')
				return -1;
			abuf_add(b, s, 1);
		}
		a->p = s + 1;
		return 1;
	}
	for (e = s; is_atext(*e); e++)
		;
	if (e == s)
		return 0;
	abuf_add(b, s, e - s);
	a->p = e;
	return 1;
}

static int
ap_local(struct ap *a)
{
	a->local.len = 0;
	a->local.over = 0;
	a->local.s[0] = '\0';
	for (;;) {
		if (ap_cfws(a) == -1 || ap_word(a, &a->local) != 1 ||
		    ap_cfws(a) == -1)
			return -1;
		if (*a->p != '.')
			return 0;
		abuf_add(&a->local, ".", 1);
		a->p++;
	}
}

static int
ap_domain(struct ap *a)
{
	const char	*e;

	a->domain.len = 0;
	a->domain.over = 0;
	if (ap_cfws(a) == -1)
		return -1;
	if (*a->p == '[') {
		abuf_add(&a->domain, "[", 1);
		for (a->p++; *a->p != ']'; a->p++) {
			if (*a->p == ' ' || *a->p == '\t')
				continue;
			if ((unsigned char)*a->p < 33 ||
			    (unsigned char)*a->p > 126 || *a->p == '[' ||
			    *a->p == '\\')
				return -1;
			abuf_add(&a->domain, a->p, 1);
		}
		a->p++;
		if (a->domain.len == 1)
			return -1;
		abuf_add(&a->domain, "]", 1);
		return ap_cfws(a);
	}
	for (;;) {
		for (e = a->p; is_atext(*e); e++)
			;
		if (e == a->p)
			return -1;
		abuf_add(&a->domain, a->p, e - a->p);
		a->p = e;
		if (ap_cfws(a) == -1)
			return -1;
		if (*a->p != '.')
			return 0;
		abuf_add(&a->domain, ".", 1);
		a->p++;
		if (ap_cfws(a) == -1)
			return -1;
	}
}

/* The local part bare when it is a dot-atom, quoted when it is not. */
static int
ap_canon(struct ap *a)
{
	const char	*l = a->local.s;
	char		*o = a->addr;
	size_t		 n = 0, i, max = sizeof(a->addr) - 1;
	int		 dotatom = a->local.len > 0;

	if (a->local.over || a->domain.over) {
		a->toolong = 1;
		return -1;
	}
	for (i = 0; i < a->local.len; i++) {
		if ((unsigned char)l[i] < ' ' || l[i] == 0x7f)
			return -1;
		if (l[i] == '.' ? i == 0 || i + 1 == a->local.len ||
		    l[i + 1] == '.' : !is_atext(l[i]))
			dotatom = 0;
	}
	if (dotatom) {
		if (a->local.len > max)
			goto toolong;
		memcpy(o, l, a->local.len);
		n = a->local.len;
	} else {
		o[n++] = '"';
		for (i = 0; i < a->local.len; i++) {
			if (n + 4 > max)
				goto toolong;
			if (l[i] == '"' || l[i] == '\\')
				o[n++] = '\\';
			o[n++] = l[i];
		}
		o[n++] = '"';
	}
	if (n + 1 + a->domain.len > max)
		goto toolong;
	o[n++] = '@';
	memcpy(o + n, a->domain.s, a->domain.len);
	n += a->domain.len;
	o[n] = '\0';
	return 0;
 toolong:
	a->toolong = 1;
	return -1;
}

static int
ap_addrspec(struct ap *a)
{
	if (ap_local(a) == -1)
		return -1;
	if (*a->p != '@') {
		if ((*a->p == '\0' || strchr(",;>", *a->p) != NULL) &&
		    !a->local.over)
			strlcpy(a->nodomain, a->local.s, sizeof(a->nodomain));
		return -1;
	}
	a->p++;
	if (ap_domain(a) == -1)
		return -1;
	return ap_canon(a);
}

/* "<" [obs-route] addr-spec ">", the route dropped (RFC 5322 4.4). */
static int
ap_angle(struct ap *a)
{
	if (*a->p != '<')
		return -1;
	a->p++;
	if (ap_cfws(a) == -1)
		return -1;
	if (*a->p == '@' || *a->p == ',') {
		for (;;) {
			if (*a->p == ',') {
				a->p++;
				if (ap_cfws(a) == -1)
					return -1;
				continue;
			}
			if (*a->p != '@')
				break;
			a->p++;
			if (ap_domain(a) == -1)
				return -1;
		}
		if (*a->p != ':')
			return -1;
		a->p++;
	}
	if (ap_addrspec(a) == -1 || *a->p != '>')
		return -1;
	a->p++;
	return ap_cfws(a);
}

/* A display name: words, and dots after the first (obs-phrase). */
static int
ap_phrase(struct ap *a)
{
	int	n = 0, r;

	for (;;) {
		if (ap_cfws(a) == -1)
			return -1;
		if (*a->p == '.' && n > 0) {
			a->p++;
			continue;
		}
		if ((r = ap_word(a, NULL)) == -1)
			return -1;
		if (r == 0)
			return n > 0 ? 0 : -1;
		n++;
	}
}

/* name-addr or addr-spec; a->addr holds the addr-spec. */
static int
ap_mailbox(struct ap *a)
{
	const char	*start = a->p;

	if (ap_addrspec(a) == 0)
		return 0;
	a->p = start;
	if (ap_cfws(a) == -1)
		return -1;
	if (*a->p != '<' && ap_phrase(a) == -1)
		return -1;
	return ap_angle(a);
}

/* display-name ":" [group-list] ";": -1 bad, -2 the callback refused. */
static int
ap_group(struct ap *a, addr_cb cb, void *arg, int *n)
{
	if (ap_phrase(a) == -1 || *a->p != ':')
		return -1;
	a->p++;
	for (;;) {
		if (ap_cfws(a) == -1)
			return -1;
		if (*a->p == ';') {
			a->p++;
			return ap_cfws(a);
		}
		if (*a->p == ',') {
			a->p++;
			continue;
		}
		if (ap_mailbox(a) == -1)
			return -1;
		if (cb(arg, a->addr) == -1)
			return -2;
		(*n)++;
		if (*a->p != ',' && *a->p != ';')
			return -1;
	}
}

/*
 * A field value as a list of the given kind; cb() for each addr-spec.
 * The number of them, or -1 with a reason.
 */
static int
ap_list(const char *v, int kind, const char *name, addr_cb cb, void *arg,
    char *reason, size_t reasonsz)
{
	struct ap	*a;
	const char	*start = v;
	int		 n = 0, r, rv = -1;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return msg_reason(reason, reasonsz, "out of memory");
	a->p = v;
	if (ap_cfws(a) == -1)
		goto bad;
	while (*a->p != '\0') {
		if (*a->p == ',' && kind != AP_MAILBOX) {
			a->p++;
			if (ap_cfws(a) == -1)
				goto bad;
			continue;
		}
		start = a->p;
		a->toolong = 0;
		a->nodomain[0] = '\0';
		if (ap_mailbox(a) == 0) {
			if (cb(arg, a->addr) == -1)
				goto done;
			n++;
		} else if (kind == AP_ADDRLIST) {
			a->p = start;
			if ((r = ap_group(a, cb, arg, &n)) == -2)
				goto done;
			if (r == -1)
				goto bad;
		} else
			goto bad;
		if (*a->p == '\0')
			break;
		if (*a->p != ',' || kind == AP_MAILBOX)
			goto bad;
	}
	if (kind == AP_MAILBOX && n == 0)
		msg_reason(reason, reasonsz, "%s field has no address", name);
	else
		rv = n;
	goto done;
 bad:
	if (a->toolong)
		msg_reason(reason, reasonsz, "%s address is too long", name);
	else if (a->nodomain[0] != '\0')
		msg_reason(reason, reasonsz, "%s address %s has no domain",
		    name, a->nodomain);
	else
		msg_reason(reason, reasonsz, "%s field has a bad address "
		    "near \"%.40s\"", name, start);
 done:
	free(a);
	return rv;
}
