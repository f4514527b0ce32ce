/*
 * Fuzz the token readers as the proxy uses them: the input is one
 * command, read as tag, SP, command name, then SP-separated astrings
 * until one fails, then the line end; once with roomy output buffers and
 * once with tight ones, each allocated at its exact size so a write past
 * it is caught.  Then imap_quote() of the input must read back as the
 * same string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapparse.h"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 command(const char *, size_t, size_t);
static void	 quote_roundtrip(const uint8_t *, size_t);

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n)) == NULL)
		abort();
	return p;
}

static void
command(const char *p, size_t len, size_t outlen)
{
	struct imap_rd	 rd;
	char		*tag, *atom, *out;
	size_t		 n, i, prev;
	int		 t;

	tag = xmalloc(outlen);
	atom = xmalloc(outlen);
	out = xmalloc(outlen);
	imap_rd_init(&rd, p, len);
	if (imap_rd_tag(&rd, tag, outlen) == TOK_ERR)
		goto done;
	n = strlen(tag);
	if (n == 0 || n >= outlen || !imap_valid_tag(tag, n) ||
	    rd.pos != n || memcmp(tag, p, n) != 0)
		abort();
	if (imap_rd_sp(&rd) == -1 || imap_rd_atom(&rd, atom, outlen) == TOK_ERR)
		goto done;
	for (i = 0; atom[i] != '\0'; i++)
		if (!imap_atom_char((unsigned char)atom[i]))
			abort();
	if (i == 0 || i >= outlen || rd.pos > len)
		abort();

	while (imap_rd_sp(&rd) == 0) {
		prev = rd.pos;
		n = (size_t)-1;
		t = imap_rd_astring(&rd, out, outlen, &n);
		if (t == TOK_ERR)
			break;
		if (rd.pos <= prev || rd.pos > len || n >= outlen ||
		    out[n] != '\0')
			abort();
		switch (t) {
		case TOK_ATOM:
			if (n == 0 || strlen(out) != n ||
			    rd.pos - prev != n || memcmp(out, p + prev, n) != 0)
				abort();
			break;
		case TOK_QUOTED:
			if (strlen(out) != n || p[prev] != '"' ||
			    p[rd.pos - 1] != '"')
				abort();
			break;
		case TOK_LITERAL:
			/* the value is the literal's last n bytes */
			if (n > rd.pos - prev ||
			    memcmp(out, p + rd.pos - n, n) != 0)
				abort();
			break;
		default:
			abort();
		}
	}
	(void)imap_rd_eol(&rd);
	if (rd.pos > len)
		abort();
done:
	free(tag);
	free(atom);
	free(out);
}

static void
quote_roundtrip(const uint8_t *data, size_t size)
{
	struct imap_rd	 rd;
	char		*s, *q, *back;
	size_t		 qlen = 2 * size + 3, n;

	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	q = xmalloc(qlen);
	back = xmalloc(size + 1);
	if (imap_quote(s, q, qlen) == 0) {
		imap_rd_init(&rd, q, strlen(q));
		if (imap_rd_astring(&rd, back, size + 1, &n) != TOK_QUOTED ||
		    rd.pos != strlen(q) || strcmp(back, s) != 0)
			abort();
	}
	/* too little room is refused, never overrun */
	(void)imap_quote(s, q, qlen / 2);
	free(s);
	free(q);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	command((const char *)data, size, 1024);
	command((const char *)data, size, 7);
	quote_roundtrip(data, size);
	return 0;
}
