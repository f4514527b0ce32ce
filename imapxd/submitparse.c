/*
 * The arguments of SUBMIT and the URLs of SUBMIT CATENATE (doc/submit.md):
 *
 *	submit     = "SUBMIT" SP ( literal / literal8 / catenate )
 *	catenate   = "CATENATE" SP "(" cat-part *(SP cat-part) ")"
 *	cat-part   = "TEXT" SP ( literal / literal8 ) / "URL" SP astring
 *
 * after the seed's SUBMIT {n} (seeds/004) and APPEND's CATENATE (RFC 4469
 * section 5).  Everything here reads the client's bytes and nothing
 * else: no I/O, no session; regress/fuzz/fuzz_submit.c drives it.
 */
#include <sys/types.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapparse.h"
#include "submit.h"

enum sa_state {
	SA_START,		/* after the command name: SP */
	SA_ARG,			/* a literal, or CATENATE */
	SA_CAT,			/* after CATENATE: SP */
	SA_LIST,		/* "(" */
	SA_PART,		/* TEXT or URL */
	SA_TEXTSP,		/* after TEXT: SP */
	SA_TEXT,		/* the text's literal */
	SA_URLSP,		/* after URL: SP */
	SA_URL,			/* the URL: quoted, atom or literal */
	SA_NEXT,		/* after a part: SP or ")" */
	SA_CLOSED,		/* after ")": the end */
	SA_MESSAGE,		/* after the message literal: the end */
	SA_ERROR
};

#define ERR_START	"SUBMIT takes a message literal or CATENATE (...)"
#define ERR_CATENATE	"Syntax error in SUBMIT CATENATE"
#define ERR_AFTER	"Unexpected text after the message literal"

static int	 args_fail(struct submit_args *, const char *);
static int	 url_char(int);
static int	 url_decode(const char *, size_t, char *, size_t);
static int	 url_number(const char **, const char *, uint32_t *, int);
static int	 url_keyword(const char **, const char *, const char *);
static int	 section_parse(const char *, char *, size_t);
static int	 url_encode(const char *, char *, size_t, size_t *);
static int	 args_part(struct submit_args *);
static int	 hexval(int);
static int	 field_char(int);

void
submit_args_init(struct submit_args *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->state = SA_START;
}

static int
args_fail(struct submit_args *sa, const char *error)
{
	if (sa->state != SA_ERROR) {
		sa->state = SA_ERROR;
		sa->error = error;
	}
	return -1;
}

/* Count a part; past the limit the command is refused. */
static int
args_part(struct submit_args *sa)
{
	if (++sa->nparts > SUBMIT_PARTS_MAX) {
		sa->limit = 1;
		return args_fail(sa, "Too many CATENATE parts");
	}
	return 0;
}

/*
 * The text of one line segment.  Tokens never span segments: a segment
 * ends where a literal begins or where the command ends.
 */
int
submit_args_text(struct submit_args *sa, const char *p, size_t len,
    submit_url_cb url, void *arg)
{
	struct imap_rd	 rd;
	char		 word[16];
	size_t		 n, start;

	if (sa->state == SA_ERROR)
		return -1;
	imap_rd_init(&rd, p, len);
	while (rd.pos < rd.len) {
		switch (sa->state) {
		case SA_START:
		case SA_CAT:
		case SA_TEXTSP:
		case SA_URLSP:
			if (imap_rd_sp(&rd) == -1)
				return args_fail(sa, sa->state == SA_START ?
				    ERR_START : ERR_CATENATE);
			sa->state = sa->state == SA_START ? SA_ARG :
			    sa->state == SA_CAT ? SA_LIST :
			    sa->state == SA_TEXTSP ? SA_TEXT : SA_URL;
			break;
		case SA_ARG:
			if (imap_rd_atom(&rd, word, sizeof(word)) == TOK_ERR ||
			    strcasecmp(word, "CATENATE") != 0)
				return args_fail(sa, ERR_START);
			sa->state = SA_CAT;
			break;
		case SA_LIST:
			if (rd.p[rd.pos++] != '(')
				return args_fail(sa, ERR_CATENATE);
			sa->state = SA_PART;
			break;
		case SA_PART:
			if (imap_rd_atom(&rd, word, sizeof(word)) == TOK_ERR)
				return args_fail(sa, ERR_CATENATE);
			if (strcasecmp(word, "TEXT") == 0)
				sa->state = SA_TEXTSP;
			else if (strcasecmp(word, "URL") == 0)
				sa->state = SA_URLSP;
			else
				return args_fail(sa, ERR_CATENATE);
			break;
		case SA_URL:
			/* quoted or atom here; a literal comes as one */
			if (rd.p[rd.pos] != '"' &&
			    !imap_atom_char((unsigned char)rd.p[rd.pos]) &&
			    rd.p[rd.pos] != ']')
				return args_fail(sa, ERR_CATENATE);
			start = rd.pos;
			if (imap_rd_astring(&rd, sa->url, sizeof(sa->url),
			    &n) == TOK_ERR) {
				if (p[start] == '"' &&
				    len - start > sizeof(sa->url))
					return args_fail(sa, "URL too long");
				return args_fail(sa, ERR_CATENATE);
			}
			if (args_part(sa) == -1)
				return -1;
			sa->state = SA_NEXT;
			url(arg, sa->url, n);
			break;
		case SA_NEXT:
			if (rd.p[rd.pos] == ')') {
				rd.pos++;
				sa->state = SA_CLOSED;
				break;
			}
			if (imap_rd_sp(&rd) == -1)
				return args_fail(sa, ERR_CATENATE);
			sa->state = SA_PART;
			break;
		case SA_TEXT:
			return args_fail(sa, ERR_CATENATE);
		case SA_CLOSED:
			return args_fail(sa, ERR_CATENATE);
		case SA_MESSAGE:
			return args_fail(sa, ERR_AFTER);
		default:
			return -1;
		}
	}
	return 0;
}

/* A literal follows the text so far: what is it?  SUBARG_* or -1. */
int
submit_args_literal(struct submit_args *sa, uint64_t len, int lit)
{
	switch (sa->state) {
	case SA_ARG:
		if (len == 0)
			return args_fail(sa, "Empty message");
		sa->state = SA_MESSAGE;
		return SUBARG_MESSAGE;
	case SA_TEXT:
		if (args_part(sa) == -1)
			return -1;
		sa->state = SA_NEXT;
		return SUBARG_TEXT;
	case SA_URL:
		if (lit & LIT_BINARY)
			return args_fail(sa, ERR_CATENATE);
		if (len >= SUBMIT_URL_MAX)
			return args_fail(sa, "URL too long");
		if (args_part(sa) == -1)
			return -1;
		sa->state = SA_NEXT;
		return SUBARG_URL;
	case SA_START:
		return args_fail(sa, ERR_START);
	case SA_MESSAGE:
		return args_fail(sa, ERR_AFTER);
	case SA_ERROR:
		return -1;
	default:
		return args_fail(sa, ERR_CATENATE);
	}
}

/* The command ends here: is it complete? */
int
submit_args_end(struct submit_args *sa)
{
	switch (sa->state) {
	case SA_MESSAGE:
	case SA_CLOSED:
		return 0;
	case SA_START:
	case SA_ARG:
		return args_fail(sa, ERR_START);
	case SA_ERROR:
		return -1;
	default:
		return args_fail(sa, ERR_CATENATE);
	}
}

/*
 * What may stand in an IMAP URL (RFC 5092 section 11, bchar and the
 * server part): no space, quote, backslash or control byte, so a URL
 * that passes can go into a quoted string as it is.
 */
static int
url_char(int c)
{
	if (isalnum(c))
		return 1;
	return c != '\0' && strchr("-._~!$'()*+,&=:@/%;[]", c) != NULL;
}

int
submit_url_ok(const char *p, size_t len)
{
	size_t	i;

	if (len == 0 || len >= SUBMIT_URL_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!url_char((unsigned char)p[i]))
			return 0;
	return 1;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* %-decode [p, p + len) into out; no NUL, CR or LF may result. */
static int
url_decode(const char *p, size_t len, char *out, size_t outlen)
{
	size_t	i, n = 0;
	int	c, hi, lo;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c == '%') {
			if (i + 2 >= len)
				return -1;
			if ((hi = hexval((unsigned char)p[i + 1])) == -1 ||
			    (lo = hexval((unsigned char)p[i + 2])) == -1)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == '\0' || c == '\r' || c == '\n' || n + 1 >= outlen)
			return -1;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/* Digits at *pp, a 32-bit number (nz: not zero); *pp moves past them. */
static int
url_number(const char **pp, const char *end, uint32_t *v, int nz)
{
	const char	*p = *pp;
	uint64_t	 n = 0;

	if (p == end || !isdigit((unsigned char)*p))
		return -1;
	for (; p < end && isdigit((unsigned char)*p); p++) {
		n = n * 10 + (*p - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	if (nz && n == 0)
		return -1;
	*v = n;
	*pp = p;
	return 0;
}

/* Is kw (upper case) at *pp, in any case?  Then move past it. */
static int
url_keyword(const char **pp, const char *end, const char *kw)
{
	size_t	n = strlen(kw);

	if ((size_t)(end - *pp) < n || strncasecmp(*pp, kw, n) != 0)
		return 0;
	*pp += n;
	return 1;
}

int
submit_url_parse(const char *url, size_t len, struct submit_url *u)
{
	const char	*p = url, *end = url + len, *q, *box, *boxend;
	char		 raw[SUBMIT_SECTION_MAX];

	memset(u, 0, sizeof(*u));
	if (!submit_url_ok(url, len))
		return -1;
	if (url_keyword(&p, end, "IMAP://")) {
		/* the server part names the user's own server: skip it */
		u->absolute = 1;
		if ((p = memchr(p, '/', end - p)) == NULL)
			return -1;
	}
	if (p == end || *p++ != '/')
		return -1;

	/* the mailbox runs to the first ';' (never in it unencoded) */
	box = p;
	if ((q = memchr(p, ';', end - p)) == NULL)
		return -1;
	p = q + 1;
	if (url_keyword(&p, end, "UIDVALIDITY=")) {
		boxend = q;
		if (url_number(&p, end, &u->uidvalidity, 1) == -1 ||
		    !url_keyword(&p, end, "/;UID="))
			return -1;
	} else if (url_keyword(&p, end, "UID=")) {
		if (q == box || q[-1] != '/')
			return -1;
		boxend = q - 1;
	} else
		return -1;
	if (boxend == box || url_decode(box, boxend - box, u->mailbox,
	    sizeof(u->mailbox)) == -1)
		return -1;
	if (url_number(&p, end, &u->uid, 1) == -1)
		return -1;

	if (url_keyword(&p, end, "/;SECTION=")) {
		/* up to the next ';', less the '/' of a "/;PARTIAL=" */
		if ((q = memchr(p, ';', end - p)) == NULL)
			q = end;
		else if (q > p && q[-1] == '/')
			q--;
		if (q == p || url_decode(p, q - p, raw, sizeof(raw)) == -1 ||
		    section_parse(raw, u->section, sizeof(u->section)) == -1)
			return -1;
		p = q;
	}
	if (url_keyword(&p, end, "/;PARTIAL=")) {
		u->partial = 1;
		if (url_number(&p, end, &u->poff, 0) == -1)
			return -1;
		if (p < end && *p == '.') {
			p++;
			if (url_number(&p, end, &u->plen, 1) == -1)
				return -1;
		}
	}
	if (p == end)
		return 0;
	/* RFC 4467: [;EXPIRE=date-time] ;URLAUTH=access:mech:token */
	if (!u->absolute)
		return -1;
	if (url_keyword(&p, end, ";EXPIRE=")) {
		if ((q = memchr(p, ';', end - p)) == NULL || q == p)
			return -1;
		p = q;
	}
	if (!url_keyword(&p, end, ";URLAUTH=") || p == end ||
	    memchr(p, ';', end - p) != NULL)
		return -1;
	u->urlauth = 1;
	return 0;
}

/*
 * A header field name of HEADER.FIELDS: printable, and nothing that
 * means something in an IMAP command line.
 */
static int
field_char(int c)
{
	return c > 0x20 && c < 0x7f && c != ':' &&
	    strchr("(){%*\"\\]", c) == NULL;
}

/*
 * section = part ["." text] / text, part = nz *("." nz), text = HEADER /
 * HEADER.FIELDS[.NOT] SP "(" field *(SP field) ")" / TEXT / MIME (after
 * a part only): RFC 3501's section-spec.  Written out again with the
 * keywords in upper case, so it can go into UID FETCH as it is.
 */
static int
section_parse(const char *in, char *out, size_t outlen)
{
	const char	*p = in;
	size_t		 n = 0, k;
	int		 part = 0, fields = 0;

	while (isdigit((unsigned char)*p)) {
		if (*p == '0')
			return -1;
		while (isdigit((unsigned char)*p)) {
			if (n + 1 >= outlen)
				return -1;
			out[n++] = *p++;
		}
		part = 1;
		if (*p != '.')
			break;
		if (n + 1 >= outlen)
			return -1;
		out[n++] = *p++;
	}
	if (*p == '\0') {
		/* "1.2", not "1.2." */
		if (n > 0 && out[n - 1] == '.')
			return -1;
		out[n] = '\0';
		return 0;
	}
	if (part && out[n - 1] != '.')
		return -1;
	if (strncasecmp(p, "HEADER.FIELDS.NOT", 17) == 0) {
		k = 17;
		fields = 1;
	} else if (strncasecmp(p, "HEADER.FIELDS", 13) == 0) {
		k = 13;
		fields = 1;
	} else if (strncasecmp(p, "HEADER", 6) == 0)
		k = 6;
	else if (strncasecmp(p, "TEXT", 4) == 0)
		k = 4;
	else if (part && strncasecmp(p, "MIME", 4) == 0)
		k = 4;
	else
		return -1;
	if (n + k >= outlen)
		return -1;
	for (; k > 0; k--)
		out[n++] = toupper((unsigned char)*p++);
	if (fields) {
		if (p[0] != ' ' || p[1] != '(' || n + 2 >= outlen)
			return -1;
		out[n++] = *p++;
		out[n++] = *p++;
		for (;;) {
			if (!field_char((unsigned char)*p))
				return -1;
			while (field_char((unsigned char)*p)) {
				if (n + 1 >= outlen)
					return -1;
				out[n++] = *p++;
			}
			if (*p == ')')
				break;
			if (*p != ' ' || n + 1 >= outlen)
				return -1;
			out[n++] = *p++;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = *p++;
	}
	if (*p != '\0')
		return -1;
	out[n] = '\0';
	return 0;
}

/*
 * The injected command that fetches the part from the selected mailbox,
 * without its tag: "UID FETCH u (BODY.PEEK[s]<o.l>)" CRLF.
 */
int
submit_url_fetch(const struct submit_url *u, char *out, size_t outlen)
{
	char	partial[32] = "";
	int	n;

	if (u->partial)
		(void)snprintf(partial, sizeof(partial), "<%u.%u>", u->poff,
		    u->plen != 0 ? u->plen : UINT32_MAX);
	n = snprintf(out, outlen, "UID FETCH %u (BODY.PEEK[%s]%s)\r\n",
	    u->uid, u->section, partial);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* %-encode all but unreserved characters and '/'. */
static int
url_encode(const char *in, char *out, size_t outlen, size_t *n)
{
	static const char	 hex[] = "0123456789ABCDEF";
	int			 c;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if (isalnum(c) || strchr("-._~/", c) != NULL) {
			if (*n + 1 >= outlen)
				return -1;
			out[(*n)++] = c;
			continue;
		}
		if (*n + 3 >= outlen)
			return -1;
		out[(*n)++] = '%';
		out[(*n)++] = hex[c >> 4];
		out[(*n)++] = hex[c & 0xf];
	}
	out[*n] = '\0';
	return 0;
}

static int
append(char *out, size_t outlen, size_t *n, const char *fmt, ...)
    __attribute__((__format__ (printf, 4, 5)));

static int
append(char *out, size_t outlen, size_t *n, const char *fmt, ...)
{
	va_list	ap;
	int	r;

	va_start(ap, fmt);
	r = vsnprintf(out + *n, outlen - *n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= outlen - *n)
		return -1;
	*n += r;
	return 0;
}

/*
 * The URL for GENURLAUTH (RFC 4467) of a part in another mailbox: the
 * backend only authorizes absolute URLs naming itself and the user, and
 * an access of "user+" that same user:
 * "imap://user@host:port/mailbox...;URLAUTH=user+user".
 */
int
submit_url_authurl(const struct submit_url *u, const char *user,
    const char *host, int port, char *out, size_t outlen)
{
	char	sec[SUBMIT_SECTION_MAX * 3];
	size_t	n = 0, k = 0;

	if (append(out, outlen, &n, "imap://") == -1 ||
	    url_encode(user, out, outlen, &n) == -1 ||
	    append(out, outlen, &n, strchr(host, ':') != NULL ?
	    "@[%s]" : "@%s", host) == -1 ||
	    (port != 0 && append(out, outlen, &n, ":%d", port) == -1) ||
	    append(out, outlen, &n, "/") == -1 ||
	    url_encode(u->mailbox, out, outlen, &n) == -1 ||
	    (u->uidvalidity != 0 && append(out, outlen, &n,
	    ";UIDVALIDITY=%u", u->uidvalidity) == -1) ||
	    append(out, outlen, &n, "/;UID=%u", u->uid) == -1)
		return -1;
	if (u->section[0] != '\0' &&
	    (url_encode(u->section, sec, sizeof(sec), &k) == -1 ||
	    append(out, outlen, &n, "/;SECTION=%s", sec) == -1))
		return -1;
	if (u->partial && (append(out, outlen, &n, "/;PARTIAL=%u", u->poff) ==
	    -1 || (u->plen != 0 && append(out, outlen, &n, ".%u", u->plen) ==
	    -1)))
		return -1;
	if (append(out, outlen, &n, ";URLAUTH=user+") == -1 ||
	    url_encode(user, out, outlen, &n) == -1)
		return -1;
	return 0;
}
