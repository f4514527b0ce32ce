/*
 * Unit tests for submitd/message.c and submitd/mime.c: the checks and
 * fixes of a submitted message (msg_prepare), the address parser, and
 * the 8-bit to 7-bit conversion (msg_to7bit).  Messages go in and come
 * out through memfds, as spool files do.  The conversion is checked by
 * decoding each part again with the small decoders below and comparing
 * bytes.
 */
#include <sys/types.h>
#include <sys/mman.h>

#include <atf-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "message.h"
#include "msgio.h"

#include "atf_lsan.h"

#define USER	"alice@example.test"

struct run {
	int		 rc;
	struct msg_info	 info;
	char		 reason[MSG_REASON_MAX];
	char		*out;
	size_t		 outlen;
};

static const char *const allowed[] = {
	"alice.smith@example.test", "@alias.test"
};

static const struct msg_conf conf = {
	USER, allowed, 2, 10, "mx.example.test"
};

static int	 memfd(const void *, size_t);
static char	*slurp(int, size_t *);
static char	*crlf(const char *);
static void	 check_reason(const char *);
static void	 prep_conf(const struct msg_conf *, const char *, size_t,
		    struct run *);
static void	 prep(const char *, struct run *);
static void	 good(const char *, struct run *);
static void	 refused(const char *, const char *);
static void	 run_free(struct run *);
static size_t	 header_len(const char *, size_t);
static int	 fields(const struct run *, const char *);
static const char *field(const struct run *, const char *);
static void	 rcpts(const struct run *, const char *const *, size_t);
static int	 to7bit(const char *, size_t, char **, size_t *, char *);
static void	 check_7bit(const char *, size_t);
static size_t	 qp_decode(const char *, size_t, char *);
static size_t	 b64_decode(const char *, size_t, char *);
static void	 part(const char *, size_t, const char *, int, const char **,
		    size_t *, const char **, size_t *);
static void	 check_decoded(const char *, size_t, const char *, size_t,
		    const void *, size_t);
static int	 hdr_has(const char *, size_t, const char *);

static int
memfd(const void *p, size_t n)
{
	int	fd;

	ATF_REQUIRE((fd = memfd_create("msg", 0)) != -1);
	ATF_REQUIRE(write(fd, p, n) == (ssize_t)n);
	return fd;
}

static char *
slurp(int fd, size_t *len)
{
	off_t	 size;
	char	*p;

	ATF_REQUIRE((size = lseek(fd, 0, SEEK_END)) != -1);
	ATF_REQUIRE((p = malloc(size + 1)) != NULL);
	ATF_REQUIRE(pread(fd, p, size, 0) == size);
	p[size] = '\0';
	*len = size;
	return p;
}

/* "\n" becomes "\r\n": test messages are easier to read that way. */
static char *
crlf(const char *s)
{
	char	*o, *p;

	ATF_REQUIRE((o = p = malloc(strlen(s) * 2 + 1)) != NULL);
	for (; *s != '\0'; s++) {
		if (*s == '\n')
			*p++ = '\r';
		*p++ = *s;
	}
	*p = '\0';
	return o;
}

/* What the caller may put into a NO: printable ASCII, no CR or LF. */
static void
check_reason(const char *r)
{
	ATF_CHECK_MSG(*r != '\0', "empty reason");
	for (; *r != '\0'; r++)
		ATF_CHECK_MSG(*r >= ' ' && *r <= '~', "reason byte %02x",
		    (unsigned char)*r);
}

static void
prep_conf(const struct msg_conf *c, const char *msg, size_t len,
    struct run *r)
{
	int	in, out;

	memset(r, 0, sizeof(*r));
	in = memfd(msg, len);
	ATF_REQUIRE((out = memfd_create("out", 0)) != -1);
	r->rc = msg_prepare(in, out, c, &r->info, r->reason,
	    sizeof(r->reason));
	r->out = slurp(out, &r->outlen);
	close(in);
	close(out);
	if (r->rc == 0) {
		ATF_CHECK_EQ(r->info.size, (off_t)r->outlen);
		ATF_CHECK(r->info.nrcpt > 0);
	} else {
		check_reason(r->reason);
		ATF_CHECK_EQ(r->info.nrcpt, 0);
		ATF_CHECK(r->info.rcpt == NULL);
	}
}

static void
prep(const char *msg, struct run *r)
{
	prep_conf(&conf, msg, strlen(msg), r);
}

static void
good(const char *msg, struct run *r)
{
	prep(msg, r);
	ATF_REQUIRE_MSG(r->rc == 0, "refused: %s", r->reason);
}

static void
refused(const char *msg, const char *want)
{
	struct run	r;

	prep(msg, &r);
	ATF_CHECK_EQ_MSG(r.rc, -1, "taken, wanted \"%s\"", want);
	if (r.rc == -1)
		ATF_CHECK_STREQ(r.reason, want);
	run_free(&r);
}

static void
run_free(struct run *r)
{
	msg_info_free(&r->info);
	free(r->out);
}

/* The header of a CRLF message, with its empty line. */
static size_t
header_len(const char *m, size_t len)
{
	const char	*e;

	if (len >= 2 && m[0] == '\r' && m[1] == '\n')
		return 2;
	if ((e = memmem(m, len, "\r\n\r\n", 4)) == NULL)
		return len;
	return e - m + 4;
}

/* How many fields of this name (exact case) the output's header has. */
static int
fields(const struct run *r, const char *name)
{
	size_t	hl = header_len(r->out, r->outlen), nl = strlen(name), i;
	int	n = 0;

	for (i = 0; i + nl < hl; i++)
		if ((i == 0 || r->out[i - 1] == '\n') &&
		    strncmp(r->out + i, name, nl) == 0 && r->out[i + nl] == ':')
			n++;
	return n;
}

static const char *
field(const struct run *r, const char *name)
{
	size_t	hl = header_len(r->out, r->outlen), nl = strlen(name), i;

	for (i = 0; i + nl < hl; i++)
		if ((i == 0 || r->out[i - 1] == '\n') &&
		    strncmp(r->out + i, name, nl) == 0 && r->out[i + nl] == ':')
			return r->out + i;
	return NULL;
}

static void
rcpts(const struct run *r, const char *const *want, size_t n)
{
	size_t	i;

	ATF_CHECK_EQ_MSG(r->info.nrcpt, n, "%zu recipients, wanted %zu",
	    r->info.nrcpt, n);
	for (i = 0; i < n && i < r->info.nrcpt; i++)
		ATF_CHECK_STREQ(r->info.rcpt[i], want[i]);
}

/*
 * msg_prepare
 */

ATF_TC_WITHOUT_HEAD(basic);
ATF_TC_BODY(basic, tc)
{
	const char	*msg = "From: Alice <alice@example.test>\r\n"
	    "To: Bob <bob@example.org>\r\n"
	    "Subject: hello\r\n"
	    "\r\n"
	    "Hello Bob.\r\n";
	struct run	 r;
	const char	*id;
	char		 want[MSG_ADDR_MAX + 16];

	good(msg, &r);
	rcpts(&r, (const char *[]){ "bob@example.org" }, 1);
	ATF_CHECK_EQ(r.info.flags, 0);
	ATF_CHECK_EQ(fields(&r, "Date"), 1);
	ATF_CHECK_EQ(fields(&r, "Message-ID"), 1);
	ATF_CHECK_EQ(fields(&r, "Sender"), 0);
	/* the client's fields first, untouched, then ours */
	ATF_CHECK(strncmp(r.out, msg, strlen(msg) - 14) == 0);
	ATF_CHECK(strstr(r.out, "\r\n\r\nHello Bob.\r\n") != NULL);
	ATF_CHECK_EQ(strlen(r.info.msgid), 32 + strlen("@mx.example.test"));
	snprintf(want, sizeof(want), "Message-ID: <%s>\r\n", r.info.msgid);
	ATF_CHECK((id = field(&r, "Message-ID")) != NULL &&
	    strncmp(id, want, strlen(want)) == 0);
	ATF_CHECK(strstr(r.info.msgid, "@mx.example.test") != NULL);
	run_free(&r);
}

/* A complete message in CRLF comes out byte for byte. */
ATF_TC_WITHOUT_HEAD(kept);
ATF_TC_BODY(kept, tc)
{
	const char	*msg = "Received: from somewhere\r\n"
	    "From: alice@example.test\r\n"
	    "To: bob@example.org,\r\n"
	    "\tcarol@example.org\r\n"
	    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
	    "Message-ID: <1234@local.machine.example>\r\n"
	    "X-Odd:no space\r\n"
	    "Subject  : obsolete space before the colon\r\n"
	    "\r\n"
	    "body\r\n"
	    "\r\n"
	    ".\r\n"
	    "last\r\n";
	struct run	 r;

	good(msg, &r);
	ATF_CHECK_EQ(r.outlen, strlen(msg));
	ATF_CHECK(strcmp(r.out, msg) == 0);
	ATF_CHECK_STREQ(r.info.msgid, "1234@local.machine.example");
	rcpts(&r, (const char *[]){ "bob@example.org", "carol@example.org" },
	    2);
	run_free(&r);
}

ATF_TC_WITHOUT_HEAD(line_ends);
ATF_TC_BODY(line_ends, tc)
{
	struct run	r;

	/* LF alone, and a last line without any */
	good("From: alice@example.test\nTo: bob@example.org\n"
	    "Date: x\nMessage-ID: <a@b>\n\none\r\ntwo\nthree", &r);
	ATF_CHECK_STREQ(r.out, "From: alice@example.test\r\n"
	    "To: bob@example.org\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\n"
	    "one\r\ntwo\r\nthree\r\n");
	ATF_CHECK_EQ(r.info.flags, 0);
	run_free(&r);

	/* a bare CR in the body is kept, and marks it */
	good("From: alice@example.test\nTo: bob@example.org\n"
	    "Date: x\nMessage-ID: <a@b>\n\na\rb\r\n", &r);
	ATF_CHECK(strstr(r.out, "\r\n\r\na\rb\r\n") != NULL);
	ATF_CHECK_EQ(r.info.flags, MSG_BINARY);
	run_free(&r);

	refused("From: alice@example.test\nTo: bob@example.org\r\n"
	    "Subject: a\rb\n\nbody\n", "header line 3 has a bare CR");
	refused("From: alice@example.test\r\rTo: bob@example.org\n\n",
	    "header line 1 has a bare CR");
}

ATF_TC_WITHOUT_HEAD(empty);
ATF_TC_BODY(empty, tc)
{
	refused("", "message is empty");
	refused("\r\n", "From field is missing");
	refused("\n\nbody\n", "From field is missing");
}

ATF_TC_WITHOUT_HEAD(not_a_field);
ATF_TC_BODY(not_a_field, tc)
{
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Hello Bob, I forgot the empty line.\n",
	    "header line 3 is not a field");
	refused(" From: alice@example.test\nTo: bob@example.org\n\n",
	    "header line 1 is not a field");
	refused("From alice@example.test Mon Feb  7 21:52:25 1994\n"
	    "From: alice@example.test\nTo: bob@example.org\n\n",
	    "header line 1 is not a field");
	refused("From: alice@example.test\n: no name\n\n",
	    "header line 2 is not a field");
	refused("From: alice@example.test\nTo: bob@example.org\nX\xc3\xa9: 1\n\n",
	    "header line 3 is not a field");
	refused("From: alice@example.test\nTo: bob@example.org\nNo colon\n\n",
	    "header line 3 is not a field");
}

ATF_TC_WITHOUT_HEAD(header_bytes);
ATF_TC_BODY(header_bytes, tc)
{
	struct run	r;
	char		msg[256];

	memcpy(msg, "From: alice@example.test\nTo: bob@example.org\n"
	    "Subject: a\0b\n\n", 60);
	prep_conf(&conf, msg, 59, &r);
	ATF_CHECK_EQ(r.rc, -1);
	ATF_CHECK_STREQ(r.reason, "header line 3 has a NUL byte");
	run_free(&r);

	/* UTF-8 is fine in the header (RFC 6532), anything else is not */
	good("From: =?utf-8?q?x?= <alice@example.test>\n"
	    "To: J\xc3\xbcrgen <j\xc3\xbcrgen@example.org>\n"
	    "Subject: gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x98\x80\n\nhi\n", &r);
	ATF_CHECK_EQ(r.info.flags, MSG_8BITHDR);
	rcpts(&r, (const char *[]){ "j\xc3\xbcrgen@example.org" }, 1);
	run_free(&r);
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Subject: gr\xfc\xdf" "e\n\nhi\n",
	    "header line 3 is not valid UTF-8");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Subject: \xc0\xaf overlong\n\nhi\n",
	    "header line 3 is not valid UTF-8");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Subject: \xed\xa0\x80 surrogate\n\nhi\n",
	    "header line 3 is not valid UTF-8");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Subject: cut \xe2\x82\n\nhi\n",
	    "header line 3 is not valid UTF-8");
}

ATF_TC_WITHOUT_HEAD(header_limits);
ATF_TC_BODY(header_limits, tc)
{
	struct run	 r;
	char		*msg, *p;
	size_t		 n;

	ATF_REQUIRE((msg = malloc(MSG_HEADER_MAX + 4096)) != NULL);

	/* 998 bytes of line are fine, 999 are not (RFC 5322 2.1.1) */
	p = msg + sprintf(msg, "From: alice@example.test\nTo: b@example.org\n"
	    "Subject: ");
	memset(p, 'x', 998 - 9);
	strcpy(p + 998 - 9, "\n\nbody\n");
	good(msg, &r);
	run_free(&r);
	strcpy(p + 998 - 9, "y\n\nbody\n");
	refused(msg, "header line 3 is longer than 998 bytes");

	/* folded, each line short, the whole too large */
	p = msg + sprintf(msg, "From: alice@example.test\nTo: b@example.org\n"
	    "X-Long: a\n");
	for (n = 0; p - msg < MSG_HEADER_MAX + 100; n++)
		p += sprintf(p, " %080zu\n", n);
	strcpy(p, "\nbody\n");
	refused(msg, "header is larger than 262144 bytes");
	free(msg);
}

ATF_TC_WITHOUT_HEAD(body_flags);
ATF_TC_BODY(body_flags, tc)
{
	const char	*hdr = "From: alice@example.test\r\nTo: b@example.org"
	    "\r\nDate: x\r\nMessage-ID: <a@b>\r\n\r\n";
	struct run	 r;
	char		 msg[4096];
	size_t		 hl = strlen(hdr);

	snprintf(msg, sizeof(msg), "%s7 bit\r\n", hdr);
	good(msg, &r);
	ATF_CHECK_EQ(r.info.flags, 0);
	run_free(&r);

	snprintf(msg, sizeof(msg), "%sd\xc3\xa9j\xc3\xa0\r\n", hdr);
	good(msg, &r);
	ATF_CHECK_EQ(r.info.flags, MSG_8BITBODY);
	ATF_CHECK_STREQ(r.out, msg);
	run_free(&r);

	memcpy(msg, hdr, hl);
	memcpy(msg + hl, "a\0b\r\n", 5);
	prep_conf(&conf, msg, hl + 5, &r);
	ATF_CHECK_EQ(r.rc, 0);
	ATF_CHECK_EQ(r.info.flags, MSG_BINARY);
	ATF_CHECK_EQ(r.outlen, hl + 5);
	ATF_CHECK(memcmp(r.out, msg, hl + 5) == 0);
	run_free(&r);

	/* RFC 5321 4.5.3.1.6: 998 and CRLF */
	memcpy(msg, hdr, hl);
	memset(msg + hl, 'x', 998);
	strcpy(msg + hl + 998, "\r\n");
	good(msg, &r);
	ATF_CHECK_EQ(r.info.flags, 0);
	run_free(&r);
	strcpy(msg + hl + 998, "x\r\n\xff\r\n");
	good(msg, &r);
	ATF_CHECK_EQ(r.info.flags, MSG_BINARY | MSG_8BITBODY);
	run_free(&r);
}

/*
 * What msg_body_put() must make of a body, byte by byte: CRLF or LF
 * line ends made CRLF, a CR without its LF kept, a last line ended;
 * NUL, bare CR and lines over 998 bytes are MSG_BINARY.
 */
static size_t
body_ref(const unsigned char *s, size_t n, unsigned char *o, int *flags)
{
	size_t	i, k = 0, col = 0;

	*flags = 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue;
		if (s[i] == '\n') {
			o[k++] = '\r';
			o[k++] = '\n';
			col = 0;
			continue;
		}
		if (s[i] == '\r' && i + 1 == n)
			break;		/* ends the last line */
		if (s[i] == '\r' || s[i] == '\0')
			*flags |= MSG_BINARY;
		if (s[i] > 127)
			*flags |= MSG_8BITBODY;
		o[k++] = s[i];
		if (++col > MSG_LINE_MAX)
			*flags |= MSG_BINARY;
	}
	if (col > 0 || (n > 0 && s[n - 1] == '\r')) {
		o[k++] = '\r';
		o[k++] = '\n';
	}
	return k;
}

/*
 * The body in chunks, cut anywhere (between CR and LF too), comes out
 * as the reference says, whether a chunk takes the quick way (clean
 * CRLF text) or the byte by byte one.
 */
ATF_TC_WITHOUT_HEAD(body_chunks);
ATF_TC_BODY(body_chunks, tc)
{
	static const unsigned char alpha[] = "abc.\r\n\r\n\r\n\0\xc3";
	struct msg_wr	*w;
	struct msg_body	 b;
	unsigned char	*in, *want, *got;
	size_t		 n, wantlen, off, c, ll, max = 4096;
	uint32_t	 seed = 1;
	int		 round, fd, flags, wantflags, kind;
	off_t		 size;

	ATF_REQUIRE((in = malloc(max)) != NULL);
	ATF_REQUIRE((want = malloc(2 * max + 2)) != NULL);
	ATF_REQUIRE((got = malloc(2 * max + 2)) != NULL);
	ATF_REQUIRE((w = malloc(sizeof(*w))) != NULL);
	for (round = 0; round < 3000; round++) {
		seed = seed * 1103515245 + 12345;
		n = (seed >> 8) % max;
		kind = round % 4;
		ll = MSG_LINE_MAX + 2 + (round / 4) % 2;
		for (off = 0; off < n; off++) {
			seed = seed * 1103515245 + 12345;
			if (kind == 0)		/* any of the odd bytes */
				in[off] = alpha[(seed >> 16) % (sizeof(alpha) -
				    1)];
			else if (kind == 1)	/* clean text, lines of 70 */
				in[off] = off % 72 == 70 ? '\r' :
				    off % 72 == 71 ? '\n' :
				    off % 72 == 0 && off % 5 == 1 ? '.' :
				    'a' + off % 26;
			else if (kind == 2)	/* clean, lines of 998 or 999 */
				in[off] = off % ll == ll - 2 ? '\r' :
				    off % ll == ll - 1 ? '\n' : 'x';
			else			/* clean but one odd byte */
				in[off] = off % 72 == 70 ? '\r' :
				    off % 72 == 71 ? '\n' :
				    off == n / 2 ? alpha[seed % 13] : 'y';
		}
		wantlen = body_ref(in, n, want, &wantflags);

		ATF_REQUIRE((fd = memfd_create("body", 0)) != -1);
		msg_wr_init(w, fd);
		msg_body_init(&b, w);
		flags = 0;
		for (off = 0; off < n; off += c) {
			seed = seed * 1103515245 + 12345;
			c = round % 3 == 0 ? 1 + (seed >> 8) % 7 :
			    1 + (seed >> 8) % 1500;
			if (c > n - off)
				c = n - off;
			msg_body_put(&b, &flags, w, in + off, c);
		}
		msg_body_end(&b, w);
		ATF_REQUIRE(msg_wr_flush(w) == 0);
		ATF_REQUIRE((size = lseek(fd, 0, SEEK_END)) != -1);
		ATF_REQUIRE_EQ_MSG((size_t)size, wantlen, "round %d: %lld "
		    "bytes, want %zu", round, (long long)size, wantlen);
		ATF_REQUIRE(pread(fd, got, size, 0) == size);
		ATF_REQUIRE_MSG(memcmp(got, want, wantlen) == 0,
		    "round %d: other bytes", round);
		ATF_REQUIRE_EQ_MSG(flags, wantflags, "round %d: flags %x, "
		    "want %x", round, flags, wantflags);
		ATF_REQUIRE_EQ(w->total, (off_t)wantlen);
		/* the plain lines: whole, ending in CRLF (dots are fine) */
		ATF_REQUIRE(b.plain >= 0 && b.plain <= (off_t)wantlen);
		ATF_REQUIRE_MSG(b.plain == 0 || memcmp(got + b.plain - 2,
		    "\r\n", 2) == 0, "round %d: plain ends mid-line", round);
		for (off = 0; off < (size_t)b.plain; off++) {
			ATF_REQUIRE_MSG(got[off] != '\r' || got[off + 1] ==
			    '\n', "round %d: a bare CR in plain", round);
			ATF_REQUIRE_MSG(got[off] != '\n' || (off > 0 &&
			    got[off - 1] == '\r'), "round %d: a bare LF in "
			    "plain", round);
		}
		/* each plain line that begins with "." begins before dots */
		for (off = 0; off < (size_t)b.plain; off++)
			ATF_REQUIRE_MSG(got[off] != '.' || (off > 0 &&
			    got[off - 1] != '\n') || (off_t)off < b.dots,
			    "round %d: a line at %zu begins with \".\" after "
			    "dots %lld", round, off, (long long)b.dots);
		ATF_REQUIRE(b.dots <= (off_t)wantlen);
		/* clean text, dots or not, is plain to its end */
		if (kind == 1)
			ATF_REQUIRE_EQ_MSG(b.plain, (off_t)wantlen,
			    "round %d: plain %lld of %zu", round,
			    (long long)b.plain, wantlen);
		close(fd);
	}
	free(in);
	free(want);
	free(got);
	free(w);
}

ATF_TC_WITHOUT_HEAD(counts);
ATF_TC_BODY(counts, tc)
{
	refused("To: bob@example.org\nSubject: x\n\nbody\n",
	    "From field is missing");
	refused("From: alice@example.test\nFrom: alice@example.test\n"
	    "To: bob@example.org\n\n", "two From fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Subject: a\nsubject: b\n\n", "two Subject fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "TO: carol@example.org\nto: dave@example.org\n\n", "3 To fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Cc: a@example.org\nCc: b@example.org\n\n", "two Cc fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Bcc: a@example.org\nBcc: b@example.org\n\n", "two Bcc fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Date: a\nDate: b\n\n", "two Date fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Message-ID: <a@b>\nMessage-Id: <c@d>\n\n",
	    "two Message-ID fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Sender: alice@example.test\nSender: alice@example.test\n\n",
	    "two Sender fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "Reply-To: a@b.c\nReply-To: a@b.c\n\n", "two Reply-To fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "In-Reply-To: <a@b>\nIn-Reply-To: <a@b>\n\n",
	    "two In-Reply-To fields");
	refused("From: alice@example.test\nTo: bob@example.org\n"
	    "References: <a@b>\nReferences: <a@b>\n\n",
	    "two References fields");
}

ATF_TC_WITHOUT_HEAD(from_check);
ATF_TC_BODY(from_check, tc)
{
	struct run	r;

	refused("From: bob@example.test\nTo: carol@example.org\n\n",
	    "From address bob@example.test is not yours");
	refused("From: alice@example.test, mallory@example.test\n"
	    "To: carol@example.org\n\n",
	    "From address mallory@example.test is not yours");
	refused("From: alice@example.test.evil\nTo: carol@example.org\n\n",
	    "From address alice@example.test.evil is not yours");
	refused("From: alice@sub.alias.test\nTo: carol@example.org\n\n",
	    "From address alice@sub.alias.test is not yours");
	refused("From: alice@example.test\nSender: bob@example.test\n"
	    "To: carol@example.org\n\n",
	    "Sender address bob@example.test is not yours");
	refused("From: alice@example.test\n"
	    "Sender: alice@example.test, alice@example.test\n"
	    "To: carol@example.org\n\n",
	    "Sender field has a bad address near \"alice@example.test, "
	    "alice@example.test\"");
	refused("From: \nTo: carol@example.org\n\n",
	    "From field has no address");
	refused("From: Friends: alice@example.test;\nTo: carol@example.org\n\n",
	    "From field has a bad address near \"Friends: "
	    "alice@example.test;\"");

	/* the user, exact or by case; an allowed address; a domain */
	good("From: Alice <ALICE@Example.Test>\nTo: carol@example.org\n\n", &r);
	run_free(&r);
	good("From: \"alice\"@example.test\nTo: carol@example.org\n\n", &r);
	run_free(&r);
	good("From: alice.smith@example.test\nTo: carol@example.org\n\n", &r);
	run_free(&r);
	good("From: anything@alias.test\nTo: carol@example.org\n\n", &r);
	run_free(&r);
	good("From: x@ALIAS.test\nSender: alice@example.test\n"
	    "To: carol@example.org\n\n", &r);
	ATF_CHECK_EQ(fields(&r, "Sender"), 1);
	run_free(&r);
}

/* RFC 5322 3.6.2: several authors need a Sender; we add the user. */
ATF_TC_WITHOUT_HEAD(sender_added);
ATF_TC_BODY(sender_added, tc)
{
	struct msg_conf	 c = conf;
	struct run	 r;
	const char	*s, *msg;

	good("From: alice@example.test, Al <a@alias.test>\n"
	    "To: carol@example.org\n\nhi\n", &r);
	ATF_CHECK_EQ(fields(&r, "Sender"), 1);
	ATF_CHECK((s = field(&r, "Sender")) != NULL &&
	    strncmp(s, "Sender: " USER "\r\n", 8 + strlen(USER) + 2) == 0);
	run_free(&r);

	good("From: alice@example.test, Al <a@alias.test>\n"
	    "Sender: a@alias.test\nTo: carol@example.org\n\nhi\n", &r);
	ATF_CHECK_EQ(fields(&r, "Sender"), 1);
	ATF_CHECK(strstr(r.out, "Sender: a@alias.test\r\n") != NULL);
	run_free(&r);

	/* a login without a domain is no Sender */
	c.user = "alice";
	msg = "From: a@alias.test, b@alias.test\nTo: carol@example.org\n\n";
	prep_conf(&c, msg, strlen(msg), &r);
	ATF_CHECK_EQ(r.rc, 0);
	ATF_CHECK_EQ(fields(&r, "Sender"), 0);
	run_free(&r);
}

ATF_TC_WITHOUT_HEAD(fixes_kept);
ATF_TC_BODY(fixes_kept, tc)
{
	struct run	 r;
	char		 id[MSG_ADDR_MAX];

	good("From: alice@example.test\nTo: bob@example.org\n"
	    "Date: Mon, 7 Feb 1994 21:52:25 -0800\n\n", &r);
	ATF_CHECK_EQ(fields(&r, "Date"), 1);
	ATF_CHECK(strstr(r.out, "Date: Mon, 7 Feb 1994") != NULL);
	ATF_CHECK_EQ(fields(&r, "Message-ID"), 1);
	strlcpy(id, r.info.msgid, sizeof(id));
	run_free(&r);

	/* a new one each time, from 160 random bits */
	good("From: alice@example.test\nTo: bob@example.org\n\n", &r);
	ATF_CHECK(strcmp(id, r.info.msgid) != 0);
	ATF_CHECK(strspn(r.info.msgid, "abcdefghijklmnopqrstuvwxyz234567") ==
	    32);
	run_free(&r);

	good("From: alice@example.test\nTo: bob@example.org\n"
	    "Message-Id:  (comment) <x.y@z> \n\n", &r);
	ATF_CHECK_EQ(fields(&r, "Message-ID"), 0);
	ATF_CHECK_EQ(fields(&r, "Message-Id"), 1);
	ATF_CHECK_STREQ(r.info.msgid, "x.y@z");
	run_free(&r);
}

ATF_TC_WITHOUT_HEAD(fixes_format);
ATF_TC_BODY(fixes_format, tc)
{
	struct msg_conf	 c = conf;
	struct run	 r;
	const char	*d;
	char		 day[4], mon[4], sign;
	int		 md, y, h, mi, s, off;

	c.hostname = NULL;
	prep_conf(&c, "From: alice@example.test\nTo: bob@example.org\n\nx\n",
	    48, &r);
	ATF_REQUIRE(r.rc == 0);
	ATF_CHECK(strstr(r.info.msgid, "@localhost") != NULL);
	/* RFC 5322 3.3 date-time, day and month in English */
	ATF_REQUIRE((d = field(&r, "Date")) != NULL);
	ATF_CHECK_EQ(sscanf(d, "Date: %3s, %d %3s %d %2d:%2d:%2d %c%4d",
	    day, &md, mon, &y, &h, &mi, &s, &sign, &off), 9);
	ATF_CHECK(strstr("SunMonTueWedThuFriSat", day) != NULL);
	ATF_CHECK(strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon) != NULL);
	ATF_CHECK(sign == '+' || sign == '-');
	ATF_CHECK(y >= 2024);
	/* ours come after the client's fields */
	ATF_CHECK(d > strstr(r.out, "To: bob@example.org"));
	run_free(&r);

	c.hostname = "bad host";
	prep_conf(&c, "From: alice@example.test\nTo: bob@example.org\n\nx\n",
	    48, &r);
	ATF_CHECK(strstr(r.info.msgid, "@localhost") != NULL);
	run_free(&r);
}

ATF_TC_WITHOUT_HEAD(bcc);
ATF_TC_BODY(bcc, tc)
{
	struct run	r;

	good("From: alice@example.test\nTo: bob@example.org\n"
	    "Bcc: carol@example.org,\n  Dave <dave@example.org>\n"
	    "Subject: s\n\nbody\n", &r);
	rcpts(&r, (const char *[]){ "bob@example.org", "carol@example.org",
	    "dave@example.org" }, 3);
	ATF_CHECK(strcasestr(r.out, "bcc") == NULL);
	ATF_CHECK(strstr(r.out, "dave") == NULL);
	ATF_CHECK(strstr(r.out, "To: bob@example.org\r\nSubject: s\r\n") !=
	    NULL);
	run_free(&r);

	/* Bcc alone is enough for an envelope */
	good("From: alice@example.test\nTo: undisclosed-recipients:;\n"
	    "Bcc: carol@example.org\n\nbody\n", &r);
	rcpts(&r, (const char *[]){ "carol@example.org" }, 1);
	ATF_CHECK_EQ(fields(&r, "Bcc"), 0);
	run_free(&r);
}

ATF_TC_WITHOUT_HEAD(resent);
ATF_TC_BODY(resent, tc)
{
	struct run	 r;
	const char	*rd, *rm, *rc;

	/* a message from someone else, resent by the user (RFC 5322 A.3) */
	good("Resent-From: Alice <alice@example.test>\n"
	    "Resent-To: Carol <carol@example.org>\n"
	    "Resent-Bcc: dave@example.org\n"
	    "From: Bob <bob@example.org>\n"
	    "To: alice@example.test\n"
	    "Cc: eve@example.org\n"
	    "Date: Fri, 21 Nov 1997 09:55:06 -0600\n"
	    "Message-ID: <old@example.org>\n"
	    "\nthe original\n", &r);
	ATF_CHECK_EQ(r.info.flags, MSG_RESENT);
	rcpts(&r, (const char *[]){ "carol@example.org", "dave@example.org" },
	    2);
	ATF_CHECK_EQ(fields(&r, "Resent-Bcc"), 0);
	ATF_CHECK_EQ(fields(&r, "Resent-Date"), 1);
	ATF_CHECK_EQ(fields(&r, "Resent-Message-ID"), 1);
	ATF_CHECK_EQ(fields(&r, "Date"), 1);
	ATF_CHECK_EQ(fields(&r, "Message-ID"), 1);
	/* in the block, after its fields, before the original's */
	rd = field(&r, "Resent-Date");
	rm = field(&r, "Resent-Message-ID");
	rc = strstr(r.out, "Resent-To: ");
	ATF_CHECK(rd != NULL && rm != NULL && rc != NULL);
	ATF_CHECK(rc < rd && rd < rm && rm < strstr(r.out, "From: Bob"));
	ATF_CHECK(strstr(rm, r.info.msgid) != NULL);
	run_free(&r);

	/* the newest block counts; the older one is history */
	good("Resent-Date: Sat, 22 Nov 1997 09:55:06 -0600\n"
	    "Resent-From: a@alias.test, alice@example.test\n"
	    "Resent-Cc: carol@example.org, Carol <carol@EXAMPLE.ORG>\n"
	    "Resent-Message-ID: <new@alias.test>\n"
	    "Received: from x\n"
	    "Resent-From: bob@example.org\n"
	    "Resent-To: frank@example.org\n"
	    "From: bob@example.org\nTo: alice@example.test\n\nx\n", &r);
	rcpts(&r, (const char *[]){ "carol@example.org" }, 1);
	ATF_CHECK_STREQ(r.info.msgid, "new@alias.test");
	ATF_CHECK_EQ(fields(&r, "Resent-Date"), 1);
	ATF_CHECK_EQ(fields(&r, "Resent-Sender"), 1);
	ATF_CHECK(strstr(r.out, "Resent-Message-ID: <new@alias.test>\r\n"
	    "Resent-Sender: " USER "\r\nReceived: from x\r\n") != NULL);
	run_free(&r);

	refused("Resent-From: bob@example.org\nResent-To: c@example.org\n"
	    "From: bob@example.org\nTo: alice@example.test\n\n",
	    "Resent-From address bob@example.org is not yours");
	refused("Resent-From: alice@example.test\n"
	    "Resent-Sender: bob@example.org\nResent-To: c@example.org\n"
	    "From: bob@example.org\nTo: alice@example.test\n\n",
	    "Resent-Sender address bob@example.org is not yours");
	refused("Resent-To: c@example.org\nResent-Date: x\n"
	    "From: bob@example.org\nTo: alice@example.test\n\n",
	    "Resent-From field is missing");
	refused("Resent-From: alice@example.test\nResent-To: c@example.org\n"
	    "Resent-To: d@example.org\n"
	    "From: bob@example.org\nTo: alice@example.test\n\n",
	    "two Resent-To fields in one Resent- block");
	/* the original's To is not the envelope */
	refused("Resent-From: alice@example.test\n"
	    "From: bob@example.org\nTo: alice@example.test\n\n",
	    "no recipients");
	/* the original still needs its From */
	refused("Resent-From: alice@example.test\nResent-To: c@example.org\n"
	    "To: alice@example.test\n\n", "From field is missing");
}

ATF_TC_WITHOUT_HEAD(recipients);
ATF_TC_BODY(recipients, tc)
{
	struct msg_conf	 c = conf;
	struct run	 r;
	const char	*msg;

	/* deduplicated: the domain by case, the local part exactly */
	good("From: alice@example.test\n"
	    "To: bob@example.org, Bob <bob@EXAMPLE.org>, Bob@example.org\n"
	    "Cc: carol@example.org, bob@example.org\n"
	    "Bcc: carol@Example.Org, bob@example.org\n\n", &r);
	rcpts(&r, (const char *[]){ "bob@example.org", "Bob@example.org",
	    "carol@example.org" }, 3);
	run_free(&r);

	/* a limit of five, counted after deduplication */
	c.rcpt_max = 5;
	msg = "From: alice@example.test\nTo: a@x.test, b@x.test, c@x.test\n"
	    "Cc: d@x.test, e@x.test, a@x.test\nBcc: b@x.test\n\n";
	prep_conf(&c, msg, strlen(msg), &r);
	ATF_CHECK_EQ(r.rc, 0);
	ATF_CHECK_EQ(r.info.nrcpt, 5);
	run_free(&r);
	msg = "From: alice@example.test\nTo: a@x.test, b@x.test, c@x.test\n"
	    "Cc: d@x.test, e@x.test\nBcc: f@x.test\n\n";
	prep_conf(&c, msg, strlen(msg), &r);
	ATF_CHECK_STREQ(r.reason, "too many recipients (6, at most 5)");
	run_free(&r);

	refused("From: alice@example.test\nSubject: none\n\n",
	    "no recipients");
	refused("From: alice@example.test\nTo:\nCc:   \n\n", "no recipients");
	refused("From: alice@example.test\nTo: undisclosed-recipients:;\n\n",
	    "no recipients");
}

/* No limit with rcpt_max 0; many addresses cost n log n, not n^2. */
ATF_TC_WITHOUT_HEAD(many_recipients);
ATF_TC_BODY(many_recipients, tc)
{
	struct msg_conf	 c = conf;
	struct run	 r;
	char		*msg, *p;
	size_t		 i;

	ATF_REQUIRE((msg = malloc(MSG_HEADER_MAX)) != NULL);
	p = msg + sprintf(msg, "From: alice@example.test\nTo: x@x.test");
	for (i = 0; i < 9000; i++)
		p += sprintf(p, ",\n r%zu@x.test", i % 8000);
	strcpy(p, "\n\n");
	c.rcpt_max = 0;
	prep_conf(&c, msg, strlen(msg), &r);
	ATF_CHECK_EQ(r.rc, 0);
	ATF_CHECK_EQ(r.info.nrcpt, 8001);
	ATF_CHECK_STREQ(r.info.rcpt[0], "x@x.test");
	ATF_CHECK_STREQ(r.info.rcpt[8000], "r7999@x.test");
	run_free(&r);
	c.rcpt_max = 100;
	prep_conf(&c, msg, strlen(msg), &r);
	ATF_CHECK_STREQ(r.reason, "too many recipients (8001, at most 100)");
	run_free(&r);
	free(msg);
}

/* RFC 5322 A.1.3, A.5 and A.6: groups, comments, obsolete forms. */
ATF_TC_WITHOUT_HEAD(address_syntax);
ATF_TC_BODY(address_syntax, tc)
{
	struct run	r;

	good("From: \"Joe Q. Public\" <alice@example.test>\n"
	    "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"
	    "\nCc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" "
	    "<sysservices@example.net>\n\n", &r);
	rcpts(&r, (const char *[]){ "mary@x.test", "jdoe@example.org",
	    "one@y.test", "boss@nil.test", "sysservices@example.net" }, 5);
	run_free(&r);

	good("From: Pete(A nice \\) chap) <alice(her account)@example.test"
	    "(her host)>\n"
	    "To:A Group(Some people)\n     :Chris Jones <c@(Chris's host.)"
	    "public.example>,\n         joe@example.org,\n"
	    "  John <jdoe@one.test> (my dear friend); (the end of the group)\n"
	    "Cc:(Empty list)(start)Hidden recipients  :(nobody(that I know))  "
	    ";\n\n", &r);
	rcpts(&r, (const char *[]){ "c@public.example", "joe@example.org",
	    "jdoe@one.test" }, 3);
	run_free(&r);

	/* obsolete: dotted phrase, route, empty elements, spaced dots */
	good("From: Joe Q. Public <alice@example.test>\n"
	    "To: Mary Smith <@node.test:mary@example.net>, , jdoe@test  . "
	    "example\nCc: <@a.test,@b.test:x@c.test>, john . q . public @ "
	    "example . com\n\n", &r);
	rcpts(&r, (const char *[]){ "mary@example.net", "jdoe@test.example",
	    "x@c.test", "john.q.public@example.com" }, 4);
	run_free(&r);

	/* quoted local parts: quotes only where needed */
	good("From: alice@example.test\n"
	    "To: \"john smith\"@x.test, \"john\"@x.test, \"a\\\"b\"@x.test,"
	    " \"a..b\"@x.test, \"j\".\"d\"@x.test, \"a\\\\b\"@x.test, "
	    "\"\"@x.test\n\n", &r);
	rcpts(&r, (const char *[]){ "\"john smith\"@x.test", "john@x.test",
	    "\"a\\\"b\"@x.test", "\"a..b\"@x.test", "j.d@x.test",
	    "\"a\\\\b\"@x.test", "\"\"@x.test" }, 7);
	run_free(&r);

	/* domain literals; '@' within one does not confuse the domain */
	good("From: alice@example.test\n"
	    "To: a@[192.0.2.1], b@[ IPv6:2001:db8::1 ], \"c@d\"@[192.0.2.1],"
	    " a@[192.0.2.1]\n\n", &r);
	rcpts(&r, (const char *[]){ "a@[192.0.2.1]", "b@[IPv6:2001:db8::1]",
	    "\"c@d\"@[192.0.2.1]" }, 3);
	run_free(&r);

	/* encoded-words are atoms of a display name */
	good("From: =?utf-8?q?Al=C3=AFce?= <alice@example.test>\n"
	    "To: =?iso-8859-1?q?B=F6b?= <bob@example.org>\n\n", &r);
	rcpts(&r, (const char *[]){ "bob@example.org" }, 1);
	run_free(&r);
}

ATF_TC_WITHOUT_HEAD(address_refused);
ATF_TC_BODY(address_refused, tc)
{
	char	msg[1024], local[400];

	refused("From: alice@example.test\nTo: bob\n\n",
	    "To address bob has no domain");
	refused("From: alice@example.test\nTo: Bob <bob>\n\n",
	    "To address bob has no domain");
	refused("From: alice@example.test\nTo: Smith, John <j@x.test>\n\n",
	    "To address Smith has no domain");
	refused("From: alice@example.test\nCc: G: a@x.test, carol;\n\n",
	    "Cc address carol has no domain");
	refused("From: alice@example.test\nTo: <>\n\n",
	    "To field has a bad address near \"<>\"");
	refused("From: alice@example.test\nTo: a@x.test b@x.test\n\n",
	    "To field has a bad address near \"a@x.test b@x.test\"");
	refused("From: alice@example.test\nTo: a@x.test (open\n\n",
	    "To field has a bad address near \"a@x.test (open\"");
	refused("From: alice@example.test\nTo: \"open@x.test\n\n",
	    "To field has a bad address near \"\"open@x.test\"");
	refused("From: alice@example.test\nTo: a@x.test.\n\n",
	    "To field has a bad address near \"a@x.test.\"");
	refused("From: alice@example.test\nTo: a..b@x.test\n\n",
	    "To field has a bad address near \"a..b@x.test\"");
	refused("From: alice@example.test\nTo: G: a@x.test\n\n",
	    "To field has a bad address near \"G: a@x.test\"");
	refused("From: alice@example.test\nTo: a@[]\n\n",
	    "To field has a bad address near \"a@[]\"");
	refused("From: alice@example.test\nTo: \"tab\there\"@x.test\n\n",
	    "To field has a bad address near \"\"tab?here\"@x.test\"");
	refused("From: <alice@example.test\nTo: a@x.test\n\n",
	    "From field has a bad address near \"<alice@example.test\"");
	refused("From: alice@example.test\nTo: a@x.test\nBcc: b@@x.test\n\n",
	    "Bcc field has a bad address near \"b@@x.test\"");

	/* MSG_ADDR_MAX holds the address and its NUL */
	memset(local, 'l', sizeof(local));
	snprintf(msg, sizeof(msg), "From: alice@example.test\nTo: %.*s@x.test"
	    "\n\n", MSG_ADDR_MAX - 7, local);
	refused(msg, "To address is too long");
	snprintf(msg, sizeof(msg), "From: alice@example.test\nTo: %.*s@x.test"
	    "\n\n", MSG_ADDR_MAX - 8, local);
	{
		struct run	r;

		good(msg, &r);
		ATF_CHECK_EQ(strlen(r.info.rcpt[0]), MSG_ADDR_MAX - 1);
		run_free(&r);
	}
}

ATF_TC_WITHOUT_HEAD(parse_mailbox);
ATF_TC_BODY(parse_mailbox, tc)
{
	static const struct {
		const char	*in;
		const char	*out;
	} ok[] = {
		{ "a@b", "a@b" },
		{ "<a@b>", "a@b" },
		{ " Alice  <alice@example.test> ", "alice@example.test" },
		{ "\"A. B\" <\"a b\"@x>", "\"a b\"@x" },
		{ "(c) a(d) @ (e) b (f)", "a@b" },
		{ "<@route.test:a@b>", "a@b" },
		{ "a.b.c@[1.2.3.4]", "a.b.c@[1.2.3.4]" },
		{ "J\xc3\xbcrgen <j\xc3\xbc@b\xc3\xbc.test>",
		    "j\xc3\xbc@b\xc3\xbc.test" },
	};
	static const char *const bad[] = {
		"", " ", "a", "a@", "@b", "<a@b", "a@b>", "a@b, c@d", "G:;",
		"G: a@b;", "a@b c", "(a@b", "\"a@b", "a.@b", ".a@b", "a@b.",
		"a@.b", "<>", "a@b\\", "Name a@b", "a@[1.2]]", "a@[x[y]",
	};
	char	out[MSG_ADDR_MAX];
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		memset(out, 'z', sizeof(out));
		ATF_CHECK_EQ_MSG(msg_parse_mailbox(ok[i].in, out,
		    sizeof(out)), 0, "'%s' refused", ok[i].in);
		ATF_CHECK_STREQ(out, ok[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		ATF_CHECK_EQ_MSG(msg_parse_mailbox(bad[i], out, sizeof(out)),
		    -1, "'%s' taken as '%s'", bad[i], out);
	/* the output buffer is a limit */
	ATF_CHECK_EQ(msg_parse_mailbox("abc@d", out, 6), 0);
	ATF_CHECK_EQ(msg_parse_mailbox("abc@de", out, 6), -1);
}

/* A message may be all header (RFC 5322 3.5: the body is optional). */
ATF_TC_WITHOUT_HEAD(all_header);
ATF_TC_BODY(all_header, tc)
{
	struct run	r;

	good("From: alice@example.test\nTo: b@x.test\nDate: x\n"
	    "Message-ID: <a@b>", &r);
	ATF_CHECK_STREQ(r.out, "From: alice@example.test\r\nTo: b@x.test\r\n"
	    "Date: x\r\nMessage-ID: <a@b>\r\n");
	run_free(&r);
	good("From: alice@example.test\nTo: b@x.test\n", &r);
	ATF_CHECK_EQ(fields(&r, "Date"), 1);
	ATF_CHECK(strstr(r.out, "\r\n\r\n") == NULL);
	run_free(&r);
}

/*
 * msg_to7bit
 */

/* Convert; the output, or -1 and the reason. */
static int
to7bit(const char *msg, size_t len, char **out, size_t *outlen,
    char *reason)
{
	int	in, fd, rc;

	in = memfd(msg, len);
	ATF_REQUIRE((fd = memfd_create("out", 0)) != -1);
	rc = msg_to7bit(in, fd, reason, MSG_REASON_MAX);
	*out = slurp(fd, outlen);
	close(in);
	close(fd);
	if (rc == 0)
		check_7bit(*out, *outlen);
	else
		check_reason(reason);
	return rc;
}

/* What a relay without 8BITMIME may carry (RFC 5321 4.5.3.1.6, 2.3.8). */
static void
check_7bit(const char *m, size_t len)
{
	size_t	i, col = 0;

	for (i = 0; i < len; i++) {
		ATF_REQUIRE_MSG((unsigned char)m[i] < 0x80 && m[i] != '\0',
		    "byte %02x at %zu", (unsigned char)m[i], i);
		if (m[i] == '\r') {
			ATF_REQUIRE_MSG(i + 1 < len && m[i + 1] == '\n',
			    "bare CR at %zu", i);
			col = 0;
			i++;
			continue;
		}
		ATF_REQUIRE_MSG(m[i] != '\n', "bare LF at %zu", i);
		ATF_REQUIRE_MSG(++col <= 998, "long line at %zu", i);
	}
	ATF_REQUIRE(len == 0 || (len >= 2 && m[len - 2] == '\r' &&
	    m[len - 1] == '\n'));
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 2045 6.7, strictly: what we write must decode this way. */
static size_t
qp_decode(const char *s, size_t n, char *o)
{
	size_t	i = 0, e, t, k = 0, j;

	while (i < n) {
		for (e = i; e < n && !(s[e] == '\r' && e + 1 < n &&
		    s[e + 1] == '\n'); e++)
			;
		for (t = e; t > i && (s[t - 1] == ' ' || s[t - 1] == '\t'); t--)
			;
		ATF_CHECK_MSG(t - i <= 76, "quoted-printable line of %zu",
		    t - i);
		for (j = i; j < t; j++) {
			if (s[j] != '=') {
				ATF_CHECK_MSG((s[j] >= 33 && s[j] <= 126) ||
				    s[j] == ' ' || s[j] == '\t',
				    "literal %02x", (unsigned char)s[j]);
				o[k++] = s[j];
			} else if (j + 1 == t) {
				break;		/* soft line break */
			} else {
				ATF_REQUIRE_MSG(j + 2 < t &&
				    hexval(s[j + 1]) >= 0 &&
				    hexval(s[j + 2]) >= 0, "bad escape");
				o[k++] = hexval(s[j + 1]) << 4 |
				    hexval(s[j + 2]);
				j += 2;
			}
		}
		if (!(t > i && s[t - 1] == '=') && e < n) {
			o[k++] = '\r';
			o[k++] = '\n';
		}
		i = e + 2;
	}
	return k;
}

static size_t
b64_decode(const char *s, size_t n, char *o)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p;
	size_t			 i, k = 0;
	unsigned int		 acc = 0;
	int			 bits = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=')
			break;
		ATF_REQUIRE_MSG((p = strchr(a, s[i])) != NULL && s[i] != '\0',
		    "base64 byte %02x", (unsigned char)s[i]);
		acc = acc << 6 | (p - a);
		if ((bits += 6) >= 8) {
			bits -= 8;
			o[k++] = acc >> bits;
		}
	}
	return k;
}

/*
 * Part n (from 1) of the multipart with this boundary: its header with
 * the empty line, and its content up to the CRLF of the next delimiter.
 */
static void
part(const char *m, size_t len, const char *bnd, int n, const char **hdr,
    size_t *hlen, const char **body, size_t *blen)
{
	char		 d[256];
	const char	*s = m, *e, *end = m + len;
	size_t		 dl;
	int		 i;

	dl = snprintf(d, sizeof(d), "\r\n--%s", bnd);
	/* the first delimiter may start the body: look from its CRLF */
	for (i = 0; i < n; i++) {
		ATF_REQUIRE_MSG((s = memmem(s, end - s, d, dl)) != NULL,
		    "no delimiter %d", i + 1);
		s += dl;
		ATF_REQUIRE((s = memmem(s, end - s, "\r\n", 2)) != NULL);
	}
	s += 2;
	ATF_REQUIRE_MSG((e = memmem(s - 2, end - s + 2, d, dl)) != NULL,
	    "part %d does not end", n);
	*hdr = s;
	if (e >= s && memcmp(s, "\r\n", 2) == 0)
		*hlen = 2;
	else {
		ATF_REQUIRE((*body = memmem(s, e - s + 2, "\r\n\r\n", 4)) !=
		    NULL);
		*hlen = *body - s + 4;
	}
	*body = s + *hlen;
	*blen = e > *body ? (size_t)(e - *body) : 0;
}

static int
hdr_has(const char *h, size_t n, const char *s)
{
	char	*c;
	int	 r;

	ATF_REQUIRE((c = strndup(h, n)) != NULL);
	r = strcasestr(c, s) != NULL;
	free(c);
	return r;
}

/* Decode a content by its header's encoding, compare with what it was. */
static void
check_decoded(const char *hdr, size_t hlen, const char *body, size_t blen,
    const void *want, size_t wlen)
{
	char	*o;
	size_t	 n, i, col;

	ATF_REQUIRE((o = malloc(blen + 1)) != NULL);
	if (hdr_has(hdr, hlen, "Content-Transfer-Encoding: quoted-printable"))
		n = qp_decode(body, blen, o);
	else if (hdr_has(hdr, hlen, "Content-Transfer-Encoding: base64")) {
		for (i = col = 0; i < blen; i++)
			if (body[i] == '\n')
				col = 0;
			else if (body[i] != '\r')
				ATF_CHECK_MSG(++col <= 76, "long base64 line");
		n = b64_decode(body, blen, o);
	} else {
		memcpy(o, body, blen);
		n = blen;
	}
	ATF_CHECK_EQ_MSG(n, wlen, "decoded %zu bytes, wanted %zu", n, wlen);
	ATF_CHECK_MSG(n == wlen && memcmp(o, want, n) == 0,
	    "decoded content differs");
	free(o);
}

ATF_TC_WITHOUT_HEAD(nonmime);
ATF_TC_BODY(nonmime, tc)
{
	const char	*body = "Gr\xc3\xbc\xc3\x9f" "e,  \r\n"
	    "= signs =3D and\ttabs\t\r\n\r\nend\r\n";
	char		*msg, *out, reason[MSG_REASON_MAX];
	size_t		 len, hl;

	ATF_REQUIRE(asprintf(&msg, "From: a@b\r\nSubject: s\r\n\r\n%s",
	    body) > 0);
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	hl = header_len(out, len);
	ATF_CHECK(hdr_has(out, hl, "\r\nMIME-Version: 1.0\r\n"));
	ATF_CHECK(hdr_has(out, hl,
	    "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	ATF_CHECK(hdr_has(out, hl,
	    "\r\nContent-Transfer-Encoding: quoted-printable\r\n"));
	ATF_CHECK(strncmp(out, "From: a@b\r\nSubject: s\r\n", 23) == 0);
	check_decoded(out, hl, out + hl, len - hl, body, strlen(body));
	/* line breaks stay line breaks; white space before them is coded */
	ATF_CHECK(strstr(out, "Gr=C3=BC=C3=9Fe, =20\r\n") != NULL);
	free(out);
	free(msg);

	/* not UTF-8: RFC 1428 */
	ATF_REQUIRE(to7bit("From: a@b\r\n\r\nGr\xfc\xdf" "e\r\n", 20, &out,
	    &len, reason) == 0);
	ATF_CHECK(strstr(out, "charset=unknown-8bit") != NULL);
	ATF_CHECK(strstr(out, "\r\n\r\nGr=FC=DFe\r\n") != NULL);
	free(out);

	/* a 7-bit message is left alone, byte for byte */
	msg = crlf("From: a@b\nSubject: s\n\nplain text\n.\nmore\n");
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	ATF_CHECK_STREQ(out, msg);
	free(out);
	free(msg);

	/* long ASCII lines only: us-ascii */
	ATF_REQUIRE((msg = malloc(3000)) != NULL);
	len = sprintf(msg, "From: a@b\r\nContent-Transfer-Encoding: 8bit\r\n"
	    "\r\n");
	memset(msg + len, 'a', 2000);
	strcpy(msg + len + 2000, "\r\n");
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	ATF_CHECK(strstr(out, "charset=us-ascii") != NULL);
	ATF_CHECK(strstr(out, "8bit") == NULL);
	hl = header_len(out, len);
	check_decoded(out, hl, out + hl, len - hl, msg + strlen(msg) - 2002,
	    2002);
	free(out);
	free(msg);
}

ATF_TC_WITHOUT_HEAD(multipart);
ATF_TC_BODY(multipart, tc)
{
	const char	 text[] = "d\xc3\xa9j\xc3\xa0 vu\r\n-- \r\nsig";
	const char	 bin[] = "\x00\x01\xff\r\xfe\n\r\n\x80";
	const char	*h, *b;
	char		*msg, *out, reason[MSG_REASON_MAX];
	size_t		 len, hl, bl, ml;

	ATF_REQUIRE((msg = malloc(4096)) != NULL);
	ml = sprintf(msg, "From: a@b\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: Multipart/Mixed; (comment) BOUNDARY=\"=_b 1\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "This is a multi-part message in MIME format.\r\n"
	    "--=_b 1\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n"
	    "--=_b 1  \r\n"
	    "Content-Type: application/octet-stream\r\n\r\n", text);
	memcpy(msg + ml, bin, sizeof(bin) - 1);
	ml += sizeof(bin) - 1;
	ml += sprintf(msg + ml, "\r\n--=_b 1\r\n\r\nplain 7 bit\r\n"
	    "--=_b 1--\r\nepilogue\r\n");

	ATF_REQUIRE_MSG(to7bit(msg, ml, &out, &len, reason) == 0, "%s",
	    reason);
	/* the multipart says 7bit now; preamble and epilogue are kept */
	ATF_CHECK(strstr(out, "BOUNDARY=\"=_b 1\"\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "This is a multi-part message in MIME format.\r\n--=_b 1\r\n") !=
	    NULL);
	ATF_CHECK(strstr(out, "\r\n--=_b 1--\r\nepilogue\r\n") != NULL);

	part(out, len, "=_b 1", 1, &h, &hl, &b, &bl);
	ATF_CHECK(hdr_has(h, hl, "Content-Transfer-Encoding: quoted-printable"));
	ATF_CHECK(!hdr_has(h, hl, "8bit"));
	check_decoded(h, hl, b, bl, text, sizeof(text) - 1);

	part(out, len, "=_b 1", 2, &h, &hl, &b, &bl);
	ATF_CHECK(hdr_has(h, hl, "Content-Transfer-Encoding: base64"));
	check_decoded(h, hl, b, bl, bin, sizeof(bin) - 1);

	part(out, len, "=_b 1", 3, &h, &hl, &b, &bl);
	ATF_CHECK_EQ(hl, 2);
	check_decoded(h, hl, b, bl, "plain 7 bit", 11);
	free(out);
	free(msg);
}

ATF_TC_WITHOUT_HEAD(nested);
ATF_TC_BODY(nested, tc)
{
	const char	*h, *b, *inner;
	char		*msg, *out, reason[MSG_REASON_MAX];
	size_t		 len, hl, bl;

	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=outer\n\n"
	    "--outer\n"
	    "Content-Type: multipart/alternative; boundary=\"inner\"\n\n"
	    "--inner\nContent-Type: text/plain\n\nplain \xe2\x82\xac\n"
	    "--inner\nContent-Type: text/html\n\n<p>\xe2\x82\xac</p>\n"
	    "--inner--\n"
	    "--outer\nContent-Type: message/rfc822\n"
	    "Content-Transfer-Encoding: 8bit\n\n"
	    "From: c@d\nSubject: forwarded\n\nenclosed \xc3\xa9\n"
	    "--outer\nContent-Type: image/png\n"
	    "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
	    "--outer--\n");
	ATF_REQUIRE_MSG(to7bit(msg, strlen(msg), &out, &len, reason) == 0,
	    "%s", reason);

	part(out, len, "inner", 1, &h, &hl, &b, &bl);
	ATF_CHECK(hdr_has(h, hl, "quoted-printable"));
	check_decoded(h, hl, b, bl, "plain \xe2\x82\xac", 9);
	part(out, len, "inner", 2, &h, &hl, &b, &bl);
	check_decoded(h, hl, b, bl, "<p>\xe2\x82\xac</p>", 10);

	/* the enclosed message stays a message, its body is encoded */
	part(out, len, "outer", 2, &h, &hl, &b, &bl);
	ATF_CHECK(hdr_has(h, hl, "Content-Transfer-Encoding: 7bit"));
	ATF_CHECK(strncmp(b, "From: c@d\r\nSubject: forwarded\r\n", 31) == 0);
	inner = b + header_len(b, bl);
	ATF_CHECK(hdr_has(b, inner - b,
	    "Content-Transfer-Encoding: quoted-printable"));
	ATF_CHECK(hdr_has(b, inner - b, "\r\nMIME-Version: 1.0\r\n"));
	check_decoded(b, inner - b, inner, bl - (inner - b), "enclosed \xc3\xa9",
	    11);

	part(out, len, "outer", 3, &h, &hl, &b, &bl);
	ATF_CHECK(bl == 12 && memcmp(b, "iVBORw0KGgo=", 12) == 0);
	free(out);
	free(msg);
}

/* RFC 1847: nothing under multipart/signed may change. */
ATF_TC_WITHOUT_HEAD(signed_parts);
ATF_TC_BODY(signed_parts, tc)
{
	char	*msg, *out, reason[MSG_REASON_MAX];
	size_t	 len;

	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/signed; boundary=s;\n"
	    " protocol=\"application/pgp-signature\"; micalg=pgp-sha256\n\n"
	    "--s\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: 8bit\n\nsigned \xc3\xa9\n"
	    "--s\nContent-Type: application/pgp-signature\n\nsig\n--s--\n");
	ATF_CHECK_EQ(to7bit(msg, strlen(msg), &out, &len, reason), -1);
	ATF_CHECK_STREQ(reason, "signed part has 8-bit content; cannot "
	    "convert it without breaking the signature");
	free(out);
	free(msg);

	/* deeper down too */
	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=m\n\n--m\n"
	    "Content-Type: multipart/signed; boundary=s\n\n"
	    "--s\nContent-Type: multipart/mixed; boundary=x\n\n"
	    "--x\n\nclean\n--x\nContent-Type: image/gif\n\nGIF\x80\n--x--\n"
	    "--s\nContent-Type: application/pgp-signature\n\nsig\n--s--\n"
	    "--m--\n");
	ATF_CHECK_EQ(to7bit(msg, strlen(msg), &out, &len, reason), -1);
	ATF_CHECK(strncmp(reason, "signed part", 11) == 0);
	free(out);
	free(msg);

	/* a preamble below the signature is signed too */
	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/signed; boundary=s\n\n"
	    "--s\nContent-Type: multipart/mixed; boundary=x\n\n"
	    "pr\xc3\xa9" "ambule\n--x\n\nclean\n--x--\n"
	    "--s\nContent-Type: application/pgp-signature\n\nsig\n--s--\n");
	ATF_CHECK_EQ(to7bit(msg, strlen(msg), &out, &len, reason), -1);
	ATF_CHECK(strncmp(reason, "signed part", 11) == 0);
	free(out);
	free(msg);

	/* a signed part that is 7-bit passes untouched, 8bit label too */
	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=m\n\n--m\n"
	    "Content-Type: multipart/signed; boundary=s\n\n"
	    "8-bit preamble \xff of the signed multipart is not signed\n"
	    "--s\nContent-Transfer-Encoding: 8bit\n\nclean\n"
	    "--s\nContent-Type: application/pgp-signature\n\nsig\n--s--\n"
	    "--m\nContent-Type: text/plain\n\nunsigned \xc3\xa9\n--m--\n");
	ATF_REQUIRE_MSG(to7bit(msg, strlen(msg), &out, &len, reason) == 0,
	    "%s", reason);
	ATF_CHECK(strstr(out, "--s\r\nContent-Transfer-Encoding: 8bit\r\n"
	    "\r\nclean\r\n--s\r\n") != NULL);
	ATF_CHECK(strstr(out, "unsigned =C3=A9\r\n--m--") != NULL);
	ATF_CHECK(strstr(out, "preamble") == NULL);
	free(out);
	free(msg);
}

/* Long lines, soft breaks, and lines that look like delimiters. */
ATF_TC_WITHOUT_HEAD(qp_lines);
ATF_TC_BODY(qp_lines, tc)
{
	const char	*h, *b;
	char		*msg, *out, *text, reason[MSG_REASON_MAX];
	size_t		 len, hl, bl, tl, i;

	ATF_REQUIRE((text = malloc(8192)) != NULL);
	ATF_REQUIRE((msg = malloc(16384)) != NULL);
	/* a delimiter after each possible soft break, spaces, '=', CRs */
	for (tl = 0, i = 1; i < 80; i++)
		tl += sprintf(text + tl, "%.*s--b\r\n", (int)i,
		    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		    "xxxxxxxxxxxxxxxxxxxxxxxxxx");
	for (i = 0; i < 1500; i++)
		text[tl++] = " =\t\xa0x\r-"[i % 7];
	memcpy(text + tl, "\r\n \r\n\t\r\n=\r\nend \t", 15);
	tl += 15;
	len = sprintf(msg, "From: a@b\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: text/plain\r\n\r\n");
	memcpy(msg + len, text, tl);
	len += tl;
	len += sprintf(msg + len, "\r\n--b--\r\n");

	ATF_REQUIRE_MSG(to7bit(msg, len, &out, &hl, reason) == 0, "%s",
	    reason);
	part(out, hl, "b", 1, &h, &hl, &b, &bl);
	check_decoded(h, hl, b, bl, text, tl);
	/* no line of it reads as a delimiter */
	for (i = 0; i + 3 < bl; i++)
		ATF_CHECK(!(b[i] == '-' && b[i + 1] == '-' && b[i + 2] == 'b' &&
		    (i == 0 || b[i - 1] == '\n')));
	ATF_CHECK(strstr(out, "\r\n--b--\r\n") != NULL);
	free(out);
	free(msg);
	free(text);
}

/* Encoded parts with long lines are wrapped again, not re-encoded. */
ATF_TC_WITHOUT_HEAD(rewrap);
ATF_TC_BODY(rewrap, tc)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*h, *b;
	char			*msg, *out, *want, reason[MSG_REASON_MAX];
	char			 raw[2100];
	size_t			 len, hl, bl, i, n, wl;

	ATF_REQUIRE((msg = malloc(16384)) != NULL);
	ATF_REQUIRE((want = malloc(4096)) != NULL);
	len = sprintf(msg, "From: a@b\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "Content-Type: application/pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n");
	for (i = 0; i < 2000; i++)
		msg[len++] = a[(i * 7) % 64];
	len += sprintf(msg + len, "\r\n--b\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	/* what it decodes to, built alongside */
	for (i = n = 0; i < 1200; i++) {
		if (i % 9 == 0) {
			len += sprintf(msg + len, "=%02X", (unsigned)i & 0xff);
			raw[n++] = i & 0xff;
		} else {
			msg[len++] = 'a' + i % 26;
			raw[n++] = 'a' + i % 26;
		}
	}
	len += sprintf(msg + len, "   \r\nsoft=\r\nbreak\r\n--b\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	memcpy(raw + n, "\r\nsoftbreak", 11);
	n += 11;
	/* soft breaks before a '-' must not start a delimiter-like line */
	memset(msg + len, '-', 1100);
	len += 1100;
	len += sprintf(msg + len, "\r\n--b--\r\n");

	ATF_REQUIRE_MSG(to7bit(msg, len, &out, &wl, reason) == 0, "%s",
	    reason);
	part(out, wl, "b", 1, &h, &hl, &b, &bl);
	ATF_CHECK(hdr_has(h, hl, "Content-Transfer-Encoding: base64"));
	for (i = 0; i < 2000; i++)
		want[i] = a[(i * 7) % 64];
	ATF_REQUIRE(b64_decode(want, 2000, want + 2000) == 1500);
	check_decoded(h, hl, b, bl, want + 2000, 1500);

	part(out, wl, "b", 2, &h, &hl, &b, &bl);
	check_decoded(h, hl, b, bl, raw, n);

	part(out, wl, "b", 3, &h, &hl, &b, &bl);
	memset(want, '-', 1100);
	check_decoded(h, hl, b, bl, want, 1100);
	ATF_CHECK(strstr(b, "\r\n--") == NULL || strstr(b, "\r\n--") >= b + bl);
	free(out);
	free(msg);
	free(want);
}

ATF_TC_WITHOUT_HEAD(refusals);
ATF_TC_BODY(refusals, tc)
{
	static const struct {
		const char	*msg;
		const char	*reason;
	} cases[] = {
		{ "Content-Type: image/png\nContent-Transfer-Encoding: base64"
		    "\n\niVBOR\xff\n",
		    "a base64 part has 8-bit or binary bytes" },
		{ "Content-Type: text/plain\nContent-Transfer-Encoding: "
		    "quoted-printable\n\nd\xc3\xa9j\xc3\xa0\n",
		    "a quoted-printable part has 8-bit or binary bytes" },
		{ "Content-Type: text/plain\nContent-Transfer-Encoding: "
		    "x-uuencode\n\n\xc3\xa9\n", "a part with an unknown "
		    "Content-Transfer-Encoding has 8-bit content" },
		{ "Content-Type: message/partial; id=x\n\n\xc3\xa9\n",
		    "a message/partial part has 8-bit content" },
		{ "Content-Type: multipart/mixed\n\n\xc3\xa9\n",
		    "a multipart without a boundary has 8-bit content" },
		{ "Content-Type: multipart/mixed; boundary=x\n\n\xc3\xa9\n",
		    "a multipart has 8-bit content and no delimiter line" },
		{ "Content-Type: multipart/mixed; boundary=x\n\n--x\n"
		    "Content-Type: text/plain; name=\"r\xc3\xa9sum\xc3\xa9\"\n\n"
		    "x\n--x--\n",
		    "a MIME part header has 8-bit or binary bytes" },
		{ "Content-Type: message/rfc822\n\nSubject: \xc3\xa9\n\nx\n",
		    "a MIME part header has 8-bit or binary bytes" },
	};
	char	*msg, *out, reason[MSG_REASON_MAX], *m;
	size_t	 len, i;

	for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		ATF_REQUIRE(asprintf(&m, "From: a@b\nMIME-Version: 1.0\n%s",
		    cases[i].msg) > 0);
		msg = crlf(m);
		ATF_CHECK_EQ_MSG(to7bit(msg, strlen(msg), &out, &len, reason),
		    -1, "case %zu taken", i);
		ATF_CHECK_STREQ(reason, cases[i].reason);
		free(out);
		free(msg);
		free(m);
	}

	/* nesting has a limit */
	ATF_REQUIRE((m = malloc(8192)) != NULL);
	len = sprintf(m, "From: a@b\r\n");
	for (i = 0; i < 40; i++)
		len += sprintf(m + len, "Content-Type: message/rfc822\r\n\r\n");
	strcpy(m + len, "\r\nx\xff\r\n");
	ATF_CHECK_EQ(to7bit(m, strlen(m), &out, &len, reason), -1);
	ATF_CHECK_STREQ(reason, "MIME parts are nested more than 32 deep");
	free(out);
	free(m);
}

ATF_TC_WITHOUT_HEAD(mime_odd);
ATF_TC_BODY(mime_odd, tc)
{
	const char	*h, *b;
	char		*msg, *out, reason[MSG_REASON_MAX];
	size_t		 len, hl, bl;

	/* 8-bit preamble and epilogue go: readers ignore them anyway */
	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=b\n\n"
	    "pr\xc3\xa9" "ambule\n--b\n\nx\n--b--\n\xc3\xa9pilogue\n");
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	ATF_CHECK_STREQ(strstr(out, "\r\n\r\n"),
	    "\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
	free(out);
	free(msg);

	/* Content-Type without MIME-Version is MIME, and says so now */
	msg = crlf("From: a@b\nContent-Type: multipart/mixed; boundary=b\n\n"
	    "--b\n\n\xc3\xa9\n--b--\n");
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	ATF_CHECK(hdr_has(out, header_len(out, len), "MIME-Version: 1.0"));
	part(out, len, "b", 1, &h, &hl, &b, &bl);
	ATF_CHECK(hdr_has(h, hl, "charset=utf-8"));
	check_decoded(h, hl, b, bl, "\xc3\xa9", 2);
	free(out);
	free(msg);

	/* in a digest, a part without Content-Type is a message */
	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/digest; boundary=d\n\n"
	    "--d\n\nFrom: x@y\nSubject: one\n\nbody \xc3\xa9\n--d--\n");
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	ATF_CHECK(strstr(out, "--d\r\n\r\nFrom: x@y\r\nSubject: one\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "body =C3=A9\r\n--d--") != NULL);
	free(out);
	free(msg);

	/* a part that never closes ends with its parent; EOF ends all */
	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=o\n\n--o\n"
	    "Content-Type: multipart/mixed; boundary=i\n\n--i\n\n\xc3\xa9\n"
	    "--o\n\nlast \xc3\xa9");
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	ATF_CHECK(strstr(out, "--i\r\nContent-Type: text/plain; charset=utf-8"
	    "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=C3=A9\r\n"
	    "--o\r\n") != NULL);
	ATF_CHECK(strstr(out, "\r\nlast =C3=A9=\r\n") != NULL);
	free(out);
	free(msg);

	/* a part with no empty line and the empty message */
	msg = crlf("From: a@b\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
	    "Content-Type: text/plain\n--b\n\n\xff\n--b--\n");
	ATF_REQUIRE(to7bit(msg, strlen(msg), &out, &len, reason) == 0);
	ATF_CHECK(strstr(out, "--b\r\nContent-Type: text/plain\r\n--b\r\n") !=
	    NULL);
	free(out);
	free(msg);
	ATF_REQUIRE(to7bit("", 0, &out, &len, reason) == 0);
	ATF_CHECK_EQ(len, 0);
	free(out);

	/* SMTP wants the last line ended */
	ATF_REQUIRE(to7bit("From: a@b\r\n\r\nno end", 19, &out, &len,
	    reason) == 0);
	ATF_CHECK_STREQ(out, "From: a@b\r\n\r\nno end\r\n");
	free(out);
}

/* Random contents in random parts decode to themselves. */
ATF_TC_WITHOUT_HEAD(roundtrip);
ATF_TC_BODY(roundtrip, tc)
{
	static const char *const types[] = {
		"text/plain; charset=utf-8", "application/octet-stream",
		"TEXT/html", "image/jpeg"
	};
	const char	*h, *b;
	char		*msg, *out, *content[4], reason[MSG_REASON_MAX];
	size_t		 len, hl, bl, clen[4], i, j, k;
	uint64_t	 s = 42;

	ATF_REQUIRE((msg = malloc(65536)) != NULL);
	for (k = 0; k < 200; k++) {
		len = sprintf(msg, "From: a@b\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=\"r%zu\"\r\n\r\n",
		    k);
		for (i = 0; i < 4; i++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			clen[i] = (s >> 33) % 3000;
			ATF_REQUIRE((content[i] = malloc(clen[i] + 1)) != NULL);
			for (j = 0; j < clen[i]; j++) {
				s = s * 6364136223846793005ULL + 1;
				/* mostly text, with line breaks and odd bytes */
				switch ((s >> 40) % 8) {
				case 0:
					content[i][j] = s >> 48;
					break;
				case 1:
					content[i][j] = "\r\n \t=-."[(s >> 50) % 7];
					break;
				default:
					content[i][j] = 'a' + (s >> 50) % 26;
				}
			}
			len += sprintf(msg + len, "--r%zu\r\nContent-Type: %s\r\n"
			    "\r\n", k, types[(k + i) % 4]);
			memcpy(msg + len, content[i], clen[i]);
			len += clen[i];
			memcpy(msg + len, "\r\n", 2);
			len += 2;
		}
		len += sprintf(msg + len, "--r%zu--\r\n", k);

		if (to7bit(msg, len, &out, &hl, reason) == 0) {
			for (i = 0; i < 4; i++) {
				char	bnd[16];

				snprintf(bnd, sizeof(bnd), "r%zu", k);
				part(out, hl, bnd, i + 1, &h, &bl, &b, &len);
				check_decoded(h, bl, b, len, content[i],
				    clen[i]);
			}
		} else
			/* only a content that holds a delimiter line */
			ATF_CHECK_MSG(0, "round %zu: %s", k, reason);
		free(out);
		for (i = 0; i < 4; i++)
			free(content[i]);
	}
	free(msg);
}

/* What the caller does: prepare, then convert what was prepared. */
ATF_TC_WITHOUT_HEAD(prepare_then_7bit);
ATF_TC_BODY(prepare_then_7bit, tc)
{
	struct run	 r;
	char		*out, reason[MSG_REASON_MAX];
	size_t		 len, hl;

	good("From: alice@example.test\nTo: bob@example.org\n"
	    "Bcc: carol@example.org\nSubject: caf\xc3\xa9?\n\n"
	    "caf\xc3\xa9\n", &r);
	ATF_CHECK_EQ(r.info.flags, MSG_8BITHDR | MSG_8BITBODY);
	run_free(&r);

	good("From: alice@example.test\nTo: bob@example.org\n"
	    "Bcc: carol@example.org\nSubject: cafe\n\ncaf\xc3\xa9\n", &r);
	ATF_CHECK_EQ(r.info.flags, MSG_8BITBODY);
	ATF_REQUIRE(to7bit(r.out, r.outlen, &out, &len, reason) == 0);
	hl = header_len(out, len);
	ATF_CHECK(strstr(out, "Bcc") == NULL);
	check_decoded(out, hl, out + hl, len - hl, "caf\xc3\xa9\r\n", 7);
	free(out);
	run_free(&r);
}

ATF_TP_ADD_TCS(tp)
{
	if (sodium_init() == -1)
		return atf_no_error();
	ATF_TP_ADD_TC(tp, basic);
	ATF_TP_ADD_TC(tp, kept);
	ATF_TP_ADD_TC(tp, line_ends);
	ATF_TP_ADD_TC(tp, empty);
	ATF_TP_ADD_TC(tp, not_a_field);
	ATF_TP_ADD_TC(tp, header_bytes);
	ATF_TP_ADD_TC(tp, header_limits);
	ATF_TP_ADD_TC(tp, body_flags);
	ATF_TP_ADD_TC(tp, body_chunks);
	ATF_TP_ADD_TC(tp, counts);
	ATF_TP_ADD_TC(tp, from_check);
	ATF_TP_ADD_TC(tp, sender_added);
	ATF_TP_ADD_TC(tp, fixes_kept);
	ATF_TP_ADD_TC(tp, fixes_format);
	ATF_TP_ADD_TC(tp, bcc);
	ATF_TP_ADD_TC(tp, resent);
	ATF_TP_ADD_TC(tp, recipients);
	ATF_TP_ADD_TC(tp, many_recipients);
	ATF_TP_ADD_TC(tp, address_syntax);
	ATF_TP_ADD_TC(tp, address_refused);
	ATF_TP_ADD_TC(tp, parse_mailbox);
	ATF_TP_ADD_TC(tp, all_header);
	ATF_TP_ADD_TC(tp, nonmime);
	ATF_TP_ADD_TC(tp, multipart);
	ATF_TP_ADD_TC(tp, nested);
	ATF_TP_ADD_TC(tp, signed_parts);
	ATF_TP_ADD_TC(tp, qp_lines);
	ATF_TP_ADD_TC(tp, rewrap);
	ATF_TP_ADD_TC(tp, refusals);
	ATF_TP_ADD_TC(tp, mime_odd);
	ATF_TP_ADD_TC(tp, roundtrip);
	ATF_TP_ADD_TC(tp, prepare_then_7bit);
	return atf_no_error();
}
