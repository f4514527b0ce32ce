/*
 * Fuzz submitd's message checks and 7-bit conversion (submitd/message.c,
 * submitd/mime.c).  The input is a message as a client submits it.
 *
 * msg_prepare() refuses it with a reason fit for a NO, or writes a
 * message whose lines end in CRLF (a bare CR only in a body it marks
 * binary), whose header has no Bcc, and whose recipients are canonical
 * addr-specs: msg_parse_mailbox() gives each back unchanged.
 *
 * msg_header() and msg_body_put(), fed the same message in chunks cut
 * anywhere, as submitd does while it arrives, accept what msg_prepare()
 * accepts, make the same body with the same flags, and where they say
 * the lines are plain they are whole CRLF lines, the header's too, and
 * a plain line that begins with "." begins before where they say.
 *
 * msg_to7bit() of that refuses, or writes lines of at most 998 bytes,
 * CRLF only, all 7-bit below the message's own header; converting its
 * output again changes nothing.  It also gets the raw input, which
 * submitd never gives it, and must stand that too.
 */
#include <sys/types.h>
#include <sys/mman.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "message.h"
#include "msgio.h"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 fd_open(void);
static void	 fd_fill(int, const void *, size_t);
static char	*fd_read(int, size_t *);
static void	 check_reason(const char *);
static void	 check_prepared(const char *, size_t, const struct msg_info *);
static void	 check_7bit(const char *, size_t);
static void	 check_chunks(int, const uint8_t *, size_t, int,
		    const char *, size_t, int);

static const char *const allowed[] = { "@example.test", "@b" };
static const struct msg_conf conf = {
	"alice@example.test", allowed, 2, 8, "mx.example.test"
};

static int
fd_open(void)
{
	int	fd;

	if ((fd = memfd_create("fuzz", 0)) == -1)
		abort();
	return fd;
}

/* The file holds exactly these bytes, and writes go to its end. */
static void
fd_fill(int fd, const void *p, size_t n)
{
	if (ftruncate(fd, 0) == -1 || lseek(fd, 0, SEEK_SET) == -1 ||
	    (n > 0 && pwrite(fd, p, n, 0) != (ssize_t)n))
		abort();
}

static char *
fd_read(int fd, size_t *len)
{
	off_t	 size;
	char	*p;

	if ((size = lseek(fd, 0, SEEK_END)) == -1 ||
	    (p = malloc(size + 1)) == NULL ||
	    pread(fd, p, size, 0) != size)
		abort();
	p[size] = '\0';
	*len = size;
	return p;
}

static void
check_reason(const char *r)
{
	if (*r == '\0' || strlen(r) >= MSG_REASON_MAX)
		abort();
	for (; *r != '\0'; r++)
		if (*r < ' ' || *r > '~')
			abort();
}

static void
check_prepared(const char *m, size_t len, const struct msg_info *info)
{
	char	addr[MSG_ADDR_MAX];
	size_t	i, hl;
	int	eight = 0;

	if (info->size != (off_t)len || info->nrcpt == 0 ||
	    info->nrcpt > conf.rcpt_max || len < 2 || m[len - 2] != '\r' ||
	    m[len - 1] != '\n')
		abort();
	for (i = 0; i < len; i++) {
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			abort();
		if (m[i] == '\r' && m[i + 1] != '\n' &&
		    !(info->flags & MSG_BINARY))
			abort();
	}
	hl = len;
	for (i = 0; i + 1 < len; i++)
		if (m[i] == '\r' && m[i + 1] == '\n' &&
		    (i == 0 || (i >= 2 && m[i - 2] == '\r' &&
		    m[i - 1] == '\n'))) {
			hl = i;
			break;
		}
	for (i = 0; i < hl; i++) {
		if ((i == 0 || m[i - 1] == '\n') &&
		    (strncasecmp(m + i, "bcc:", 4) == 0 ||
		    strncasecmp(m + i, "resent-bcc:", 11) == 0))
			abort();
		if ((unsigned char)m[i] >= 0x80)
			eight = 1;
	}
	if (eight != !!(info->flags & MSG_8BITHDR))
		abort();
	for (i = 0; i < info->nrcpt; i++)
		if (strlen(info->rcpt[i]) >= MSG_ADDR_MAX ||
		    msg_parse_mailbox(info->rcpt[i], addr, sizeof(addr)) ||
		    strcmp(addr, info->rcpt[i]) != 0)
			abort();
}

static void
check_7bit(const char *m, size_t len)
{
	size_t	i, col = 0;
	int	body = 0;

	if (len > 0 && (len < 2 || m[len - 2] != '\r' || m[len - 1] != '\n'))
		abort();
	for (i = 0; i < len; i++) {
		if (m[i] == '\r') {
			if (m[i + 1] != '\n')
				abort();
			if (col == 0)
				body = 1;
			col = 0;
			i++;
			continue;
		}
		if (m[i] == '\n' || (body && ((unsigned char)m[i] >= 0x80 ||
		    m[i] == '\0')) || ++col > 998)
			abort();
	}
}

/*
 * The message again in steps: the header from the file, then the body
 * in chunks whose sizes come from the message's own bytes.
 */
static void
check_chunks(int in, const uint8_t *data, size_t size, int ok,
    const char *prepared, size_t plen, int flags)
{
	static struct msg_wr	 w;
	static int		 fd = -1;
	struct msg_info		 info;
	struct msg_body		 b;
	char			 reason[MSG_REASON_MAX], *got;
	off_t			 body, hlen, off, i;
	size_t			 glen, n;
	int			 f;

	if (fd == -1)
		fd = fd_open();
	fd_fill(fd, NULL, 0);
	msg_wr_init(&w, fd);
	if (msg_header(in, &w, &conf, &info, &body, reason,
	    sizeof(reason)) == -1) {
		if (ok)
			abort();
		check_reason(reason);
		return;
	}
	if (!ok)
		abort();
	f = info.flags;
	msg_info_free(&info);
	hlen = w.total;
	msg_body_init(&b, &w);
	for (off = body; body != -1 && off < (off_t)size; off += n) {
		n = 1 + data[off] % 97;
		if (n > size - off)
			n = size - off;
		msg_body_put(&b, &f, &w, data + off, n);
	}
	msg_body_end(&b, &w);
	if (msg_wr_flush(&w) == -1)
		abort();
	got = fd_read(fd, &glen);
	/* the header may differ (a new Message-ID, Date), the body not */
	if ((size_t)w.total != glen || glen - hlen > plen ||
	    memcmp(got + hlen, prepared + plen - (glen - hlen),
	    glen - hlen) != 0 || f != flags)
		abort();
	if (b.plain < hlen || b.plain > (off_t)glen)
		abort();
	/* the header too: msg_header() writes CRLF lines only */
	for (i = 0; i < b.plain; i++) {
		if (got[i] == '\r' && got[i + 1] != '\n')
			abort();
		if (got[i] == '\n' && (i == 0 || got[i - 1] != '\r'))
			abort();
		if (got[i] == '.' && (i == 0 || got[i - 1] == '\n') &&
		    i >= b.dots)
			abort();
	}
	if (b.plain > hlen && got[b.plain - 1] != '\n')
		abort();
	free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 in = -1, out, again;
	struct msg_info		 info;
	char			 reason[MSG_REASON_MAX], addr[MSG_ADDR_MAX];
	char			*prepared, *seven, *twice, *line;
	size_t			 plen, slen, tlen;
	const uint8_t		*lf;

	if (in == -1) {
		in = fd_open();
		out = fd_open();
		again = fd_open();
	}

	/* the first line as one mailbox */
	lf = memchr(data, '\n', size);
	if ((line = strndup((const char *)data, lf == NULL ? size :
	    (size_t)(lf - data))) == NULL)
		abort();
	if (msg_parse_mailbox(line, addr, sizeof(addr)) == 0 &&
	    (addr[0] == '\0' || strchr(addr, '@') == NULL))
		abort();
	free(line);

	fd_fill(in, data, size);
	fd_fill(out, NULL, 0);
	if (msg_prepare(in, out, &conf, &info, reason, sizeof(reason)) == -1) {
		check_reason(reason);
		if (info.nrcpt != 0 || info.rcpt != NULL)
			abort();
		check_chunks(in, data, size, 0, NULL, 0, 0);
	} else {
		prepared = fd_read(out, &plen);
		check_prepared(prepared, plen, &info);
		check_chunks(in, data, size, 1, prepared, plen, info.flags);
		msg_info_free(&info);
		free(prepared);

		fd_fill(again, NULL, 0);
		if (msg_to7bit(out, again, reason, sizeof(reason)) == -1)
			check_reason(reason);
		else {
			seven = fd_read(again, &slen);
			check_7bit(seven, slen);
			fd_fill(out, NULL, 0);
			if (msg_to7bit(again, out, reason,
			    sizeof(reason)) == -1)
				abort();
			twice = fd_read(out, &tlen);
			if (tlen != slen || memcmp(seven, twice, slen) != 0)
				abort();
			free(seven);
			free(twice);
		}
	}

	/* what submitd never feeds it, straight */
	fd_fill(out, NULL, 0);
	if (msg_to7bit(in, out, reason, sizeof(reason)) == -1)
		check_reason(reason);
	return 0;
}
