/*
 * Fuzz the XEXEC output escaper (imapxd/xexec.c, doc/xexec.md).  The
 * first input byte picks the output buffer size and whether the caller
 * has more of the line; the rest is one line of module output.  The line
 * is escaped piece by piece, as the front end sends it, and every piece
 * must be safe as the text of "* OK ": printable ASCII only (so no CR or
 * LF), not starting with '[' (a response code) or '+', not ending with
 * '}' (a literal).  Decoding the pieces as a client does must give the
 * line back, byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frontend.h"

#define TEXT_MAX	1000	/* as XEXEC_TEXT_MAX */

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 hexval(int);
static size_t	 decode(const char *, size_t, uint8_t *, int *);

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * A client's reading of one piece: "\\" is '\', "\xHH" a byte, a lone
 * '\' at the end says the line goes on.  Anything else is a bug.
 */
static size_t
decode(const char *p, size_t len, uint8_t *out, int *cont)
{
	size_t	i, n = 0;
	int	hi, lo;

	*cont = 0;
	for (i = 0; i < len; i++) {
		if (p[i] != '\\') {
			out[n++] = p[i];
			continue;
		}
		if (i + 1 == len) {
			*cont = 1;
			break;
		}
		if (p[i + 1] == '\\') {
			out[n++] = '\\';
			i++;
			continue;
		}
		if (p[i + 1] != 'x' || i + 3 >= len ||
		    (hi = hexval((unsigned char)p[i + 2])) == -1 ||
		    (lo = hexval((unsigned char)p[i + 3])) == -1)
			abort();
		out[n++] = hi << 4 | lo;
		i += 3;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*line;
	char		*text;
	uint8_t		*back;
	size_t		 outlen, len, n, tlen, i, got = 0;
	int		 more, cont = 0;

	if (size == 0)
		return 0;
	more = data[0] & 1;
	/* small buffers too: every size from the least the escaper takes */
	outlen = (data[0] & 0x80) ? TEXT_MAX + 1 : 6 + (data[0] >> 1) % 64;
	line = (const char *)data + 1;
	len = size - 1;
	if ((text = malloc(outlen)) == NULL ||
	    (back = malloc(len + 1)) == NULL)
		abort();

	do {
		memset(text, 0xa5, outlen);
		n = xexec_escape(line + got, len - got, text, outlen, more);
		if (n > len - got)
			abort();
		tlen = strlen(text);
		if (tlen >= outlen)
			abort();
		for (i = 0; i < tlen; i++)
			if ((unsigned char)text[i] < 0x20 ||
			    (unsigned char)text[i] > 0x7e)
				abort();
		if (tlen > 0 && (text[0] == '[' || text[0] == '+' ||
		    text[tlen - 1] == '}'))
			abort();
		/* no progress is only right for an empty line */
		if (n == 0 && len - got > 0)
			abort();
		got += n;
		/* the pieces decode to what they consumed */
		if (decode(text, tlen, back, &cont) != n ||
		    memcmp(back, line + got - n, n) != 0)
			abort();
		/* "goes on" exactly when it does */
		if (cont != (got < len || more))
			abort();
	} while (got < len);

	free(text);
	free(back);
	return 0;
}
