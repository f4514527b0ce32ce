/*
 * IMAP wire scanning (RFC 3501 section 9, RFC 9051, RFC 7888 literals,
 * RFC 3516 binary literals).  No allocation; every function is bounded by
 * the length it is given.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "imapparse.h"

/*
 * A segment ends at LF (CRLF on the wire; a bare LF is taken too, as
 * servers do).  If the bytes before it are "{n}", "{n+}", "~{n}" or
 * "~{n+}", the segment announces a literal of n bytes.
 */
int
imap_segment(const char *p, size_t len, struct imap_seg *seg)
{
	const char	*lf, *e, *q, *d, *dend;
	uint64_t	 n;
	int		 lit;

	if ((lf = memchr(p, '\n', len)) == NULL)
		return 0;
	memset(seg, 0, sizeof(*seg));
	seg->len = lf - p + 1;
	e = lf;
	if (e > p && e[-1] == '\r')
		e--;
	seg->textlen = e - p;
	if (e == p || e[-1] != '}')
		return 1;
	q = e - 1;
	lit = LIT_SYNC;
	if (q > p && q[-1] == '+') {
		lit = LIT_NONSYNC;
		q--;
	}
	dend = q;
	while (q > p && isdigit((unsigned char)q[-1]))
		q--;
	if (q == dend || q == p || q[-1] != '{')
		return 1;		/* no digits or no brace: just text */
	/* the value, not the digit count, decides; too large saturates */
	n = 0;
	for (d = q; d < dend; d++) {
		if (n > IMAP_LITERAL_MAX)
			continue;
		n = n * 10 + (uint64_t)(*d - '0');
	}
	if (n > IMAP_LITERAL_MAX)
		n = UINT64_MAX;
	q--;
	if (q > p && q[-1] == '~') {
		lit |= LIT_BINARY;
		q--;
	}
	seg->lit = lit;
	seg->litlen = n;
	seg->textlen = q - p;
	return 1;
}

void
imap_rd_init(struct imap_rd *rd, const char *p, size_t len)
{
	rd->p = p;
	rd->len = len;
	rd->pos = 0;
}

int
imap_rd_sp(struct imap_rd *rd)
{
	if (rd->pos < rd->len && rd->p[rd->pos] == ' ') {
		rd->pos++;
		return 0;
	}
	return -1;
}

/* ATOM-CHAR: any CHAR except atom-specials (RFC 3501 section 9). */
/* ATOM-CHAR as a table: this runs on every byte of every command. */
static const unsigned char atom_chars[128] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['+'] = 1,
	[','] = 1, ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1, [';'] = 1,
	['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1, ['@'] = 1, ['['] = 1,
	['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['}'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

int
imap_atom_char(int c)
{
	return c >= 0 && c < 128 && atom_chars[c];
}

/* tag = 1*<any ASTRING-CHAR except "+"> */
int
imap_valid_tag(const char *p, size_t len)
{
	size_t	i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (p[i] == '+' || (!imap_atom_char((unsigned char)p[i]) &&
		    p[i] != ']'))
			return 0;
	}
	return 1;
}

int
imap_rd_tag(struct imap_rd *rd, char *out, size_t outlen)
{
	size_t	start = rd->pos;

	while (rd->pos < rd->len && rd->p[rd->pos] != ' ' &&
	    rd->p[rd->pos] != '\r' && rd->p[rd->pos] != '\n')
		rd->pos++;
	if (!imap_valid_tag(rd->p + start, rd->pos - start) ||
	    rd->pos - start >= outlen)
		return TOK_ERR;
	memcpy(out, rd->p + start, rd->pos - start);
	out[rd->pos - start] = '\0';
	return TOK_ATOM;
}

int
imap_rd_atom(struct imap_rd *rd, char *out, size_t outlen)
{
	size_t	start = rd->pos;

	while (rd->pos < rd->len && imap_atom_char((unsigned char)rd->p[rd->pos]))
		rd->pos++;
	if (rd->pos == start || rd->pos - start >= outlen)
		return TOK_ERR;
	memcpy(out, rd->p + start, rd->pos - start);
	out[rd->pos - start] = '\0';
	return TOK_ATOM;
}

/*
 * astring = 1*ASTRING-CHAR / string.  The decoded value goes to out,
 * NUL-terminated; *outlen (if not NULL) gets its length, which may count
 * NUL bytes inside a literal.
 */
int
imap_rd_astring(struct imap_rd *rd, char *out, size_t outlen, size_t *olen)
{
	struct imap_seg	 seg;
	size_t		 n = 0, start;
	int		 c;

	if (rd->pos >= rd->len || outlen == 0)
		return TOK_ERR;
	c = (unsigned char)rd->p[rd->pos];
	if (c == '"') {
		rd->pos++;
		while (rd->pos < rd->len) {
			c = (unsigned char)rd->p[rd->pos++];
			if (c == '"') {
				out[n] = '\0';
				if (olen != NULL)
					*olen = n;
				return TOK_QUOTED;
			}
			if (c == '\\') {
				if (rd->pos >= rd->len)
					return TOK_ERR;
				c = (unsigned char)rd->p[rd->pos++];
				if (c != '"' && c != '\\')
					return TOK_ERR;
			} else if (c == '\r' || c == '\n' || c == '\0')
				return TOK_ERR;
			if (n + 1 >= outlen)
				return TOK_ERR;
			out[n++] = c;
		}
		return TOK_ERR;
	}
	if (c == '{' || (c == '~' && rd->pos + 1 < rd->len &&
	    rd->p[rd->pos + 1] == '{')) {
		start = rd->pos;
		if (imap_segment(rd->p + start, rd->len - start, &seg) != 1 ||
		    seg.lit == LIT_NONE || seg.textlen != 0)
			return TOK_ERR;
		rd->pos = start + seg.len;
		if (seg.litlen > rd->len - rd->pos || seg.litlen >= outlen)
			return TOK_ERR;
		memcpy(out, rd->p + rd->pos, seg.litlen);
		out[seg.litlen] = '\0';
		rd->pos += seg.litlen;
		if (olen != NULL)
			*olen = seg.litlen;
		return TOK_LITERAL;
	}
	start = rd->pos;
	while (rd->pos < rd->len && (imap_atom_char((unsigned char)
	    rd->p[rd->pos]) || rd->p[rd->pos] == ']'))
		rd->pos++;
	n = rd->pos - start;
	if (n == 0 || n >= outlen)
		return TOK_ERR;
	memcpy(out, rd->p + start, n);
	out[n] = '\0';
	if (olen != NULL)
		*olen = n;
	return TOK_ATOM;
}

int
imap_rd_eol(struct imap_rd *rd)
{
	if (rd->pos < rd->len && rd->p[rd->pos] == '\r')
		rd->pos++;
	if (rd->pos < rd->len && rd->p[rd->pos] == '\n') {
		rd->pos++;
		return rd->pos == rd->len ? 0 : -1;
	}
	return rd->pos == rd->len ? 0 : -1;
}

/*
 * What the proxy can carry through unchanged.  An entry ending in '='
 * admits every value of that capability.  Anything else the backend
 * offers is dropped: COMPRESS=DEFLATE would change the byte stream under
 * the parser, STARTTLS and AUTH= belong to the connection we terminate,
 * unknown X- extensions may do anything.
 */
static const char *caps_allowed[] = {
	"IMAP4rev1", "IMAP4rev2", "LITERAL+", "LITERAL-", "SASL-IR",
	"ID", "ENABLE", "IDLE", "SORT", "SORT=", "THREAD=", "MULTIAPPEND",
	"URL-PARTIAL", "CATENATE", "UNSELECT", "CHILDREN", "NAMESPACE",
	"UIDPLUS", "LIST-EXTENDED", "I18NLEVEL=", "CONDSTORE", "QRESYNC",
	"ESEARCH", "ESORT", "SEARCHRES", "WITHIN", "CONTEXT=", "LIST-STATUS",
	"BINARY", "MOVE", "SNIPPET=", "PREVIEW", "PREVIEW=", "STATUS=",
	"SAVEDATE", "SPECIAL-USE", "CREATE-SPECIAL-USE", "QUOTA", "QUOTA=",
	"ACL", "RIGHTS=", "METADATA", "METADATA-SERVER", "URLAUTH",
	"URLAUTH=", "APPENDLIMIT", "APPENDLIMIT=", "OBJECTID", "UTF8=",
	"LIST-MYRIGHTS", "INPROGRESS", "REPLACE", "UIDONLY", "MESSAGELIMIT=",
	"SAVELIMIT=", "LOGIN-REFERRALS", "MAILBOX-REFERRALS", "FILTERS",
	"MULTISEARCH", "NOTIFY", "XLIST", "SPECIAL-USE",
	NULL
};

int
imap_cap_allowed(const char *cap, size_t len)
{
	const char	**a;
	size_t		  alen;

	for (a = caps_allowed; *a != NULL; a++) {
		alen = strlen(*a);
		if ((*a)[alen - 1] == '=') {
			if (len > alen && strncasecmp(cap, *a, alen) == 0)
				return 1;
		} else if (len == alen && strncasecmp(cap, *a, len) == 0)
			return 1;
	}
	return 0;
}

/*
 * Copy the space-separated capability atoms of in[0..len) that the proxy
 * carries to out, then append `extra` (our own, space-separated; a cap of
 * the backend's that we also add is not repeated).  Returns the length
 * written, or (size_t)-1 if out is too small.
 */
size_t
imap_caps_filter(const char *in, size_t len, char *out, size_t outlen,
    const char *extra)
{
	size_t	 i = 0, j, n = 0, elen;
	const char *e, *ee;

	if (outlen == 0)
		return (size_t)-1;

	while (i < len) {
		while (i < len && in[i] == ' ')
			i++;
		j = i;
		while (j < len && in[j] != ' ')
			j++;
		if (j == i)
			break;
		if (imap_cap_allowed(in + i, j - i)) {
			/* skip it if extra adds it anyway */
			for (e = extra; e != NULL && *e != '\0'; e = ee) {
				ee = strchr(e, ' ');
				elen = ee == NULL ? strlen(e) : (size_t)(ee - e);
				if (elen == j - i && strncasecmp(e, in + i,
				    elen) == 0)
					break;
				ee = ee == NULL ? NULL : ee + 1;
			}
			if (e == NULL || *e == '\0') {
				if (n + (j - i) + 1 >= outlen)
					return (size_t)-1;
				if (n > 0)
					out[n++] = ' ';
				memcpy(out + n, in + i, j - i);
				n += j - i;
			}
		}
		i = j;
	}
	if (extra != NULL && *extra != '\0') {
		elen = strlen(extra);
		if (n + elen + 1 >= outlen)
			return (size_t)-1;
		if (n > 0)
			out[n++] = ' ';
		memcpy(out + n, extra, elen);
		n += elen;
	}
	out[n] = '\0';
	return n;
}

/*
 * In "* OK [CAPABILITY a b c] text" or "tag OK [CAPABILITY ...] text",
 * find the list: *start is the offset of "a", *end the offset of "]".
 */
int
imap_find_capcode(const char *p, size_t len, size_t *start, size_t *end)
{
	static const char	 code[] = "[CAPABILITY ";
	const char		*b, *c;
	size_t			 i;

	/* the code follows the tag or "*" and the status word */
	if ((b = memchr(p, ' ', len)) == NULL)
		return 0;
	b++;
	if ((c = memchr(b, ' ', len - (b - p))) == NULL)
		return 0;
	c++;
	i = c - p;
	if (len - i < sizeof(code) - 1 || *c != '[' ||
	    strncasecmp(c, code, sizeof(code) - 1) != 0)
		return 0;
	*start = i + sizeof(code) - 1;
	for (i = *start; i < len; i++) {
		if (p[i] == ']') {
			*end = i;
			return 1;
		}
		if (p[i] == '\r' || p[i] == '\n')
			return 0;
	}
	return 0;
}

int
imap_quote(const char *s, char *out, size_t outlen)
{
	size_t	n = 0;

	if (outlen < 3)
		return -1;
	out[n++] = '"';
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f ||
		    (unsigned char)*s >= 0x80)
			return -1;
		if (*s == '"' || *s == '\\') {
			if (n + 2 >= outlen)
				return -1;
			out[n++] = '\\';
		}
		if (n + 2 >= outlen)
			return -1;
		out[n++] = *s;
	}
	out[n++] = '"';
	out[n] = '\0';
	return 0;
}
