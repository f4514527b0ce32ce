/*
 * Fuzz SUBMIT's argument and URL parsers (imapxd/submitparse.c,
 * doc/submit.md).  Byte 0 chooses: odd, the rest is one CATENATE URL;
 * even, the rest is what follows "tag SUBMIT" on the wire, cut into line
 * segments and literals the way the proxy cuts them (a literal takes as
 * many of the following bytes as it announces, or what is left).
 *
 * Checked: no crash or sanitizer report; once the arguments fail, they
 * keep failing, always with a reason; never more parts than the limit;
 * every URL that parses has a mailbox without CR, LF or NUL, a UID, a
 * section and partial range that make a UID FETCH line with one CRLF,
 * at its end, and nothing that could end or extend the command (no
 * literal, no quote); and the URL for GENURLAUTH made from it is a URL
 * that parses back to the same part, now with ;URLAUTH=.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapparse.h"
#include "submit.h"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 check_url(const char *, size_t);
static void	 url_found(void *, const char *, size_t);

static void
check_url(const char *p, size_t len)
{
	struct submit_url	 u, back;
	char			 cmd[SUBMIT_SECTION_MAX + 128];
	char			 auth[SUBMIT_URL_MAX * 4];
	size_t			 n, i;

	if (submit_url_parse(p, len, &u) == -1)
		return;
	n = strlen(u.mailbox);
	if (n == 0 || n >= sizeof(u.mailbox) || u.uid == 0 ||
	    memchr(u.mailbox, '\r', n) != NULL ||
	    memchr(u.mailbox, '\n', n) != NULL)
		abort();
	if (submit_url_fetch(&u, cmd, sizeof(cmd)) == -1)
		abort();
	n = strlen(cmd);
	if (n < 2 || strncmp(cmd, "UID FETCH ", 10) != 0 ||
	    cmd[n - 2] != '\r' || cmd[n - 1] != '\n')
		abort();
	for (i = 0; i < n - 2; i++)
		if (cmd[i] == '\r' || cmd[i] == '\n' || cmd[i] == '"' ||
		    cmd[i] == '{' || cmd[i] == '\\' ||
		    (unsigned char)cmd[i] < 0x20 ||
		    (unsigned char)cmd[i] >= 0x7f)
			abort();
	if (submit_url_authurl(&u, "user@example.test", "127.0.0.1", 143,
	    auth, sizeof(auth)) == -1)
		return;		/* too long for the buffer: refused */
	if (submit_url_parse(auth, strlen(auth), &back) == -1) {
		/* only if it grew past the limit of one URL */
		if (strlen(auth) < SUBMIT_URL_MAX)
			abort();
		return;
	}
	if (!back.absolute || !back.urlauth || back.uid != u.uid ||
	    back.uidvalidity != u.uidvalidity ||
	    strcmp(back.mailbox, u.mailbox) != 0 ||
	    strcmp(back.section, u.section) != 0 ||
	    back.partial != u.partial || back.poff != u.poff ||
	    back.plen != u.plen)
		abort();
}

static void
url_found(void *arg, const char *p, size_t len)
{
	unsigned int	*n = arg;

	(*n)++;
	check_url(p, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct submit_args	 sa;
	struct imap_seg		 seg;
	const char		*p;
	size_t			 len, n;
	unsigned int		 urls = 0;
	int			 r, failed = 0, kind;

	if (size == 0)
		return 0;
	p = (const char *)data + 1;
	len = size - 1;
	if (data[0] & 1) {
		check_url(p, len);
		return 0;
	}
	submit_args_init(&sa);
	while (len > 0) {
		if (imap_segment(p, len, &seg) == 0) {
			/* an unfinished line is all text: the end follows */
			seg.len = seg.textlen = len;
			seg.lit = LIT_NONE;
		}
		r = submit_args_text(&sa, p, seg.textlen, url_found, &urls);
		if (failed && r != -1)
			abort();
		failed |= r == -1;
		p += seg.len;
		len -= seg.len;
		if (seg.lit == LIT_NONE)
			break;
		kind = submit_args_literal(&sa, seg.litlen, seg.lit);
		if (failed && kind != -1)
			abort();
		failed |= kind == -1;
		n = seg.litlen < len ? seg.litlen : len;
		if (kind == SUBARG_URL)
			check_url(p, n);
		p += n;
		len -= n;
	}
	r = submit_args_end(&sa);
	if (failed && r != -1)
		abort();
	if (r == -1 && sa.error == NULL)
		abort();
	if (sa.nparts > SUBMIT_PARTS_MAX + 1 || urls > SUBMIT_PARTS_MAX)
		abort();
	return 0;
}
