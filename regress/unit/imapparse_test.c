/*
 * Unit tests for imapxd/imapparse.c: the line-segment and literal
 * scanner, the token readers, tags, the capability filter, the
 * [CAPABILITY] response code finder and quoting.
 */
#include <atf-c.h>
#include <stdint.h>
#include <string.h>

#include "imapparse.h"

#include "atf_lsan.h"

static int	 seg(const char *, struct imap_seg *);
static void	 seg_lit(const char *, int, uint64_t, size_t);
static void	 seg_text(const char *);
static size_t	 filter(const char *, const char *, char *, size_t);

/* imap_segment over a NUL-terminated string. */
static int
seg(const char *s, struct imap_seg *sg)
{
	memset(sg, 0xa5, sizeof(*sg));
	return imap_segment(s, strlen(s), sg);
}

/* A complete line that announces a literal. */
static void
seg_lit(const char *s, int lit, uint64_t litlen, size_t textlen)
{
	struct imap_seg	sg;

	ATF_REQUIRE_EQ_MSG(seg(s, &sg), 1, "%s", s);
	ATF_CHECK_EQ_MSG(sg.len, strlen(s), "%s", s);
	ATF_CHECK_EQ_MSG(sg.lit, lit, "%s: lit %d", s, sg.lit);
	ATF_CHECK_EQ_MSG(sg.litlen, litlen, "%s: litlen %ju", s,
	    (uintmax_t)sg.litlen);
	ATF_CHECK_EQ_MSG(sg.textlen, textlen, "%s: textlen %zu", s,
	    sg.textlen);
}

/* A complete CRLF line that is just text, however it looks. */
static void
seg_text(const char *s)
{
	struct imap_seg	sg;

	ATF_REQUIRE_EQ_MSG(seg(s, &sg), 1, "%s", s);
	ATF_CHECK_EQ_MSG(sg.len, strlen(s), "%s", s);
	ATF_CHECK_EQ_MSG(sg.lit, LIT_NONE, "%s: lit %d", s, sg.lit);
	ATF_CHECK_EQ_MSG(sg.textlen, strlen(s) - 2, "%s: textlen %zu", s,
	    sg.textlen);
}

static size_t
filter(const char *in, const char *extra, char *out, size_t outlen)
{
	return imap_caps_filter(in, strlen(in), out, outlen, extra);
}

ATF_TC_WITHOUT_HEAD(segment_lines);
ATF_TC_BODY(segment_lines, tc)
{
	struct imap_seg	sg;
	const char	*two = "a NOOP\r\nb NOOP\r\n";

	ATF_REQUIRE_EQ(seg("a NOOP\r\n", &sg), 1);
	ATF_CHECK_EQ(sg.len, 8);
	ATF_CHECK_EQ(sg.textlen, 6);
	ATF_CHECK_EQ(sg.lit, LIT_NONE);
	ATF_CHECK_EQ(sg.litlen, 0);

	/* a bare LF ends a line too */
	ATF_REQUIRE_EQ(seg("a NOOP\n", &sg), 1);
	ATF_CHECK_EQ(sg.len, 7);
	ATF_CHECK_EQ(sg.textlen, 6);

	/* an empty line */
	ATF_REQUIRE_EQ(seg("\r\n", &sg), 1);
	ATF_CHECK_EQ(sg.len, 2);
	ATF_CHECK_EQ(sg.textlen, 0);
	ATF_REQUIRE_EQ(seg("\n", &sg), 1);
	ATF_CHECK_EQ(sg.len, 1);
	ATF_CHECK_EQ(sg.textlen, 0);

	/* only the first line of a buffer */
	ATF_REQUIRE_EQ(seg(two, &sg), 1);
	ATF_CHECK_EQ(sg.len, 8);
	ATF_CHECK_EQ(sg.textlen, 6);

	/* a CR alone is no line end; only the length given is read */
	ATF_REQUIRE_EQ(seg("a\rb\r\n", &sg), 1);
	ATF_CHECK_EQ(sg.textlen, 3);
	ATF_CHECK_EQ(imap_segment(two, 7, &sg), 0);
}

ATF_TC_WITHOUT_HEAD(segment_incomplete);
ATF_TC_BODY(segment_incomplete, tc)
{
	struct imap_seg	sg;

	ATF_CHECK_EQ(imap_segment("", 0, &sg), 0);
	ATF_CHECK_EQ(seg("a NOOP", &sg), 0);
	ATF_CHECK_EQ(seg("a NOOP\r", &sg), 0);
	ATF_CHECK_EQ(seg("a APPEND x {5}", &sg), 0);
	ATF_CHECK_EQ(seg("a APPEND x {5}\r", &sg), 0);
	ATF_CHECK_EQ(seg("\r", &sg), 0);
}

ATF_TC_WITHOUT_HEAD(segment_literals);
ATF_TC_BODY(segment_literals, tc)
{
	struct imap_seg	sg;

	seg_lit("a APPEND x {5}\r\n", LIT_SYNC, 5, 11);
	seg_lit("a APPEND x {5+}\r\n", LIT_NONSYNC, 5, 11);
	seg_lit("a APPEND x ~{5}\r\n", LIT_SYNC | LIT_BINARY, 5, 11);
	seg_lit("a APPEND x ~{5+}\r\n", LIT_NONSYNC | LIT_BINARY, 5, 11);
	seg_lit("a APPEND x {5}\n", LIT_SYNC, 5, 11);
	seg_lit("{0}\r\n", LIT_SYNC, 0, 0);
	seg_lit("~{0+}\r\n", LIT_NONSYNC | LIT_BINARY, 0, 0);
	seg_lit("{123456}\r\n", LIT_SYNC, 123456, 0);
	/* text right before the marker, no space: textlen stops there */
	seg_lit("x{7}\r\n", LIT_SYNC, 7, 1);
	seg_lit("* 1 FETCH (BODY[] {5}\r\n", LIT_SYNC, 5, 18);

	/* the marker must end the line */
	ATF_REQUIRE_EQ(seg("a {5} x\r\n", &sg), 1);
	ATF_CHECK_EQ(sg.lit, LIT_NONE);
}

ATF_TC_WITHOUT_HEAD(segment_not_literals);
ATF_TC_BODY(segment_not_literals, tc)
{
	seg_text("a {}\r\n");
	seg_text("a {abc}\r\n");
	seg_text("a {+}\r\n");
	seg_text("a {5a}\r\n");
	seg_text("a {-5}\r\n");
	seg_text("a {5++}\r\n");
	seg_text("a 5}\r\n");
	seg_text("a 5+}\r\n");
	seg_text("}\r\n");
	seg_text("{\r\n");
	seg_text("a ~{}\r\n");
	seg_text("a { 5}\r\n");
}

ATF_TC_WITHOUT_HEAD(segment_sizes);
ATF_TC_BODY(segment_sizes, tc)
{
	/* IMAP_LITERAL_MAX is 2^40 = 1099511627776 */
	seg_lit("a {1099511627776}\r\n", LIT_SYNC, IMAP_LITERAL_MAX, 2);
	seg_lit("a {1099511627777}\r\n", LIT_SYNC, UINT64_MAX, 2);
	seg_lit("a {9999999999999}\r\n", LIT_SYNC, UINT64_MAX, 2);
	seg_lit("a {10000000000000+}\r\n", LIT_NONSYNC, UINT64_MAX, 2);
	/* 20 digits: 2^64 - 1, 2^64 and beyond must not wrap */
	seg_lit("a {18446744073709551615}\r\n", LIT_SYNC, UINT64_MAX, 2);
	seg_lit("a {18446744073709551616}\r\n", LIT_SYNC, UINT64_MAX, 2);
	seg_lit("a {99999999999999999999}\r\n", LIT_SYNC, UINT64_MAX, 2);
	seg_lit("a ~{99999999999999999999+}\r\n", LIT_NONSYNC | LIT_BINARY,
	    UINT64_MAX, 2);
	/* far more digits than any counter holds */
	seg_lit("a {1000000000000000000000000000000000000000005}\r\n",
	    LIT_SYNC, UINT64_MAX, 2);
	/* a few leading zeros are just a number */
	seg_lit("a {0005}\r\n", LIT_SYNC, 5, 2);
	seg_lit("a {0000000000005}\r\n", LIT_SYNC, 5, 2);
}

/*
 * number = 1*DIGIT (RFC 3501 section 9): leading zeros do not make a
 * size larger, and imapparse.h promises UINT64_MAX only for sizes above
 * IMAP_LITERAL_MAX.
 */
ATF_TC_WITHOUT_HEAD(segment_leading_zeros);
ATF_TC_BODY(segment_leading_zeros, tc)
{
	seg_lit("a {00000000000005}\r\n", LIT_SYNC, 5, 2);
	seg_lit("a {00000000000000000000000000000005+}\r\n", LIT_NONSYNC, 5,
	    2);
}

ATF_TC_WITHOUT_HEAD(rd_tag_atom);
ATF_TC_BODY(rd_tag_atom, tc)
{
	struct imap_rd	 rd;
	char		 tag[16], atom[16];
	const char	*s;

	s = "a001 uid FETCH 1:* (FLAGS)\r\n";
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_tag(&rd, tag, sizeof(tag)), TOK_ATOM);
	ATF_CHECK_STREQ(tag, "a001");
	ATF_REQUIRE_EQ(imap_rd_sp(&rd), 0);
	ATF_REQUIRE_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ATOM);
	ATF_CHECK_STREQ(atom, "uid");
	ATF_REQUIRE_EQ(imap_rd_sp(&rd), 0);
	ATF_REQUIRE_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ATOM);
	ATF_CHECK_STREQ(atom, "FETCH");
	ATF_REQUIRE_EQ(imap_rd_sp(&rd), 0);
	/* '*' is a list wildcard: the atom stops before it */
	ATF_REQUIRE_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ATOM);
	ATF_CHECK_STREQ(atom, "1:");
	ATF_CHECK_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ERR);
	ATF_CHECK_EQ(imap_rd_sp(&rd), -1);

	/* a tag ends at CR or LF as well */
	s = "t1\r\n";
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_tag(&rd, tag, sizeof(tag)), TOK_ATOM);
	ATF_CHECK_STREQ(tag, "t1");
	ATF_CHECK_EQ(imap_rd_eol(&rd), 0);

	/* bad tags */
	s = "+a NOOP";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_tag(&rd, tag, sizeof(tag)), TOK_ERR);
	s = " NOOP";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_tag(&rd, tag, sizeof(tag)), TOK_ERR);
	s = "a(b NOOP";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_tag(&rd, tag, sizeof(tag)), TOK_ERR);
	imap_rd_init(&rd, "", 0);
	ATF_CHECK_EQ(imap_rd_tag(&rd, tag, sizeof(tag)), TOK_ERR);
	ATF_CHECK_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ERR);

	/* too long for the output: the NUL needs room as well */
	s = "abcd NOOP";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_tag(&rd, tag, 4), TOK_ERR);
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_tag(&rd, tag, 5), TOK_ATOM);
	ATF_CHECK_STREQ(tag, "abcd");
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_atom(&rd, atom, 4), TOK_ERR);
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_atom(&rd, atom, 5), TOK_ATOM);
	ATF_CHECK_STREQ(atom, "abcd");

	/* atoms stop at atom-specials */
	s = "BODY[TEXT]";
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ATOM);
	ATF_CHECK_STREQ(atom, "BODY[TEXT");
	s = "(FLAGS)";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ERR);
}

ATF_TC_WITHOUT_HEAD(rd_quoted);
ATF_TC_BODY(rd_quoted, tc)
{
	struct imap_rd	 rd;
	char		 out[32];
	size_t		 n;
	const char	*s;

	s = "\"a\\\"b\\\\c d\" rest";
	imap_rd_init(&rd, s, strlen(s));
	n = 99;
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_QUOTED);
	ATF_CHECK_STREQ(out, "a\"b\\c d");
	ATF_CHECK_EQ(n, 7);
	ATF_CHECK_EQ(imap_rd_sp(&rd), 0);
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), NULL), TOK_ATOM);
	ATF_CHECK_STREQ(out, "rest");
	ATF_CHECK_EQ(imap_rd_eol(&rd), 0);

	s = "\"\"";
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_QUOTED);
	ATF_CHECK_STREQ(out, "");
	ATF_CHECK_EQ(n, 0);

	/* only \" and \\ are escapes */
	s = "\"a\\nb\"";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	s = "\"a\\";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	/* unterminated, CR, LF or NUL inside */
	s = "\"abc";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	s = "\"a\r\nb\"";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	s = "\"a\nb\"";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	imap_rd_init(&rd, "\"a\0b\"", 5);
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);

	/* too long: "abc" needs 4 bytes */
	s = "\"abc\"";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, 3, &n), TOK_ERR);
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, 4, &n), TOK_QUOTED);
	ATF_CHECK_STREQ(out, "abc");
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, 0, &n), TOK_ERR);
}

ATF_TC_WITHOUT_HEAD(rd_atom_astring);
ATF_TC_BODY(rd_atom_astring, tc)
{
	struct imap_rd	 rd;
	char		 out[32];
	size_t		 n;
	const char	*s;

	/* ASTRING-CHAR includes ']' */
	s = "INBOX]x y";
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ATOM);
	ATF_CHECK_STREQ(out, "INBOX]x");
	ATF_CHECK_EQ(n, 7);

	s = "(INBOX)";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	imap_rd_init(&rd, "", 0);
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);

	s = "abcd";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, 4, &n), TOK_ERR);
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, 5, &n), TOK_ATOM);
	ATF_CHECK_STREQ(out, "abcd");
}

ATF_TC_WITHOUT_HEAD(rd_literal);
ATF_TC_BODY(rd_literal, tc)
{
	static const char	 cmd[] = "a LOGIN {5}\r\nalice ~{3+}\r\np\0w\r\n";
	struct imap_rd		 rd;
	char			 tag[16], atom[16], out[32];
	size_t			 n;
	const char		*s;

	imap_rd_init(&rd, cmd, sizeof(cmd) - 1);
	ATF_REQUIRE_EQ(imap_rd_tag(&rd, tag, sizeof(tag)), TOK_ATOM);
	ATF_CHECK_STREQ(tag, "a");
	ATF_REQUIRE_EQ(imap_rd_sp(&rd), 0);
	ATF_REQUIRE_EQ(imap_rd_atom(&rd, atom, sizeof(atom)), TOK_ATOM);
	ATF_CHECK_STREQ(atom, "LOGIN");
	ATF_REQUIRE_EQ(imap_rd_sp(&rd), 0);
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), &n),
	    TOK_LITERAL);
	ATF_CHECK_STREQ(out, "alice");
	ATF_CHECK_EQ(n, 5);
	ATF_REQUIRE_EQ(imap_rd_sp(&rd), 0);
	/* a NUL inside a literal: only the length tells */
	memset(out, 'z', sizeof(out));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), &n),
	    TOK_LITERAL);
	ATF_CHECK_EQ(n, 3);
	ATF_CHECK(memcmp(out, "p\0w\0", 4) == 0);
	ATF_CHECK_EQ(imap_rd_eol(&rd), 0);

	/* an empty literal */
	s = "{0}\r\n";
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), &n),
	    TOK_LITERAL);
	ATF_CHECK_EQ(n, 0);
	ATF_CHECK_STREQ(out, "");
	ATF_CHECK_EQ(imap_rd_eol(&rd), 0);

	/* fewer bytes than announced */
	s = "{5}\r\nabc";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	/* a literal too large for the output */
	s = "{5}\r\nhello";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, 5, &n), TOK_ERR);
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, 6, &n), TOK_LITERAL);
	ATF_CHECK_STREQ(out, "hello");
	/* a saturated size */
	s = "{99999999999999999999}\r\nhello";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	/* the marker must be alone at the end of its line */
	s = "{5} x\r\nhello";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	s = "{5}";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	s = "{abc}\r\nhello";
	imap_rd_init(&rd, s, strlen(s));
	ATF_CHECK_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ERR);
	/* '~' not followed by '{' is an atom */
	s = "~x";
	imap_rd_init(&rd, s, strlen(s));
	ATF_REQUIRE_EQ(imap_rd_astring(&rd, out, sizeof(out), &n), TOK_ATOM);
	ATF_CHECK_STREQ(out, "~x");
}

ATF_TC_WITHOUT_HEAD(rd_eol);
ATF_TC_BODY(rd_eol, tc)
{
	struct imap_rd	rd;

	imap_rd_init(&rd, "\r\n", 2);
	ATF_CHECK_EQ(imap_rd_eol(&rd), 0);
	imap_rd_init(&rd, "\n", 1);
	ATF_CHECK_EQ(imap_rd_eol(&rd), 0);
	imap_rd_init(&rd, "", 0);
	ATF_CHECK_EQ(imap_rd_eol(&rd), 0);
	imap_rd_init(&rd, "x", 1);
	ATF_CHECK_EQ(imap_rd_eol(&rd), -1);
	imap_rd_init(&rd, " \r\n", 3);
	ATF_CHECK_EQ(imap_rd_eol(&rd), -1);
	imap_rd_init(&rd, "\r\nx", 3);
	ATF_CHECK_EQ(imap_rd_eol(&rd), -1);
	imap_rd_init(&rd, "\r\r\n", 3);
	ATF_CHECK_EQ(imap_rd_eol(&rd), -1);
}

ATF_TC_WITHOUT_HEAD(valid_tag);
ATF_TC_BODY(valid_tag, tc)
{
	static const char	*good[] = { "a", "A001", "a.b-c_d", "t]",
	    "1", "~x", "a'b", "a!#$&", NULL };
	static const char	*bad[] = { "", "+", "a+b", "a b", "a(", "a)",
	    "a{", "a*", "a%", "a\"", "a\\", "a\r", "a\n", "a\t", "a\x7f",
	    "a\x80", "\xff", NULL };
	const char		**t;

	for (t = good; *t != NULL; t++)
		ATF_CHECK_MSG(imap_valid_tag(*t, strlen(*t)), "'%s'", *t);
	for (t = bad; *t != NULL; t++)
		ATF_CHECK_MSG(!imap_valid_tag(*t, strlen(*t)), "'%s'", *t);
	ATF_CHECK(!imap_valid_tag("a\0b", 3));
	/* only the length given is read */
	ATF_CHECK(imap_valid_tag("ab cd", 2));
}

ATF_TC_WITHOUT_HEAD(caps_filter);
ATF_TC_BODY(caps_filter, tc)
{
	char	out[512];
	size_t	n;

	n = filter("IMAP4rev1 SASL-IR COMPRESS=DEFLATE STARTTLS AUTH=PLAIN "
	    "AUTH=LOGIN LOGINDISABLED X-UNKNOWN IDLE THREAD=REFS "
	    "THREAD=REFERENCES SORT LITERAL+ UIDPLUS MOVE", NULL, out,
	    sizeof(out));
	ATF_CHECK_STREQ(out, "IMAP4rev1 SASL-IR IDLE THREAD=REFS "
	    "THREAD=REFERENCES SORT LITERAL+ UIDPLUS MOVE");
	ATF_CHECK_EQ(n, strlen(out));

	/* case does not matter, the backend's spelling is kept */
	n = filter("imap4rev1 Idle compress=deflate starttls", "", out,
	    sizeof(out));
	ATF_CHECK_STREQ(out, "imap4rev1 Idle");
	ATF_CHECK_EQ(n, strlen(out));

	/* a "NAME=" entry needs a value */
	filter("THREAD= SORT= THREAD=X", NULL, out, sizeof(out));
	ATF_CHECK_STREQ(out, "THREAD=X");
	/* a bare name does not admit values, nor a prefix */
	filter("IDLE=1 IDLEX IDL IMAP4", NULL, out, sizeof(out));
	ATF_CHECK_STREQ(out, "");

	/* runs of spaces, leading and trailing ones */
	filter("  IMAP4rev1   IDLE  ", NULL, out, sizeof(out));
	ATF_CHECK_STREQ(out, "IMAP4rev1 IDLE");

	/* nothing left */
	n = filter("STARTTLS AUTH=PLAIN", NULL, out, sizeof(out));
	ATF_CHECK_EQ(n, 0);
	ATF_CHECK_STREQ(out, "");
	n = filter("", NULL, out, sizeof(out));
	ATF_CHECK_EQ(n, 0);
	ATF_CHECK_STREQ(out, "");

	/* the length bounds the input */
	n = imap_caps_filter("IMAP4rev1 IDLE", 9, out, sizeof(out), NULL);
	ATF_CHECK_EQ(n, 9);
	ATF_CHECK_STREQ(out, "IMAP4rev1");
}

ATF_TC_WITHOUT_HEAD(caps_filter_extra);
ATF_TC_BODY(caps_filter_extra, tc)
{
	char	out[512];
	size_t	n;

	n = filter("IMAP4rev1 IDLE", "XEXEC CAN-SUBMIT", out, sizeof(out));
	ATF_CHECK_STREQ(out, "IMAP4rev1 IDLE XEXEC CAN-SUBMIT");
	ATF_CHECK_EQ(n, strlen(out));

	/* a backend cap we add ourselves is not repeated */
	filter("IMAP4rev1 NOTIFY IDLE", "XEXEC NOTIFY", out, sizeof(out));
	ATF_CHECK_STREQ(out, "IMAP4rev1 IDLE XEXEC NOTIFY");
	filter("IMAP4rev1 notify IDLE", "NOTIFY", out, sizeof(out));
	ATF_CHECK_STREQ(out, "IMAP4rev1 IDLE NOTIFY");
	/* ... but a longer or shorter name is another cap */
	filter("IMAP4rev1 NOTIFY", "NOTIFYX", out, sizeof(out));
	ATF_CHECK_STREQ(out, "IMAP4rev1 NOTIFY NOTIFYX");

	/* extras alone */
	n = filter("STARTTLS", "XEXEC", out, sizeof(out));
	ATF_CHECK_STREQ(out, "XEXEC");
	ATF_CHECK_EQ(n, 5);
	filter("", "XEXEC", out, sizeof(out));
	ATF_CHECK_STREQ(out, "XEXEC");
}

ATF_TC_WITHOUT_HEAD(caps_filter_small);
ATF_TC_BODY(caps_filter_small, tc)
{
	char	out[64];

	/* "IMAP4rev1 IDLE" and its NUL take 15 bytes exactly */
	ATF_CHECK_EQ(filter("IMAP4rev1 IDLE", NULL, out, 15), 14);
	ATF_CHECK_STREQ(out, "IMAP4rev1 IDLE");
	ATF_CHECK_EQ(filter("IMAP4rev1 IDLE", NULL, out, 14), (size_t)-1);
	ATF_CHECK_EQ(filter("IMAP4rev1 IDLE", NULL, out, 5), (size_t)-1);
	ATF_CHECK_EQ(filter("IMAP4rev1 IDLE", NULL, out, 1), (size_t)-1);
	/* the extras need room too */
	ATF_CHECK_EQ(filter("IMAP4rev1", "XEXEC", out, 16), 15);
	ATF_CHECK_STREQ(out, "IMAP4rev1 XEXEC");
	ATF_CHECK_EQ(filter("IMAP4rev1", "XEXEC", out, 15), (size_t)-1);
	ATF_CHECK_EQ(filter("", "XEXEC", out, 5), (size_t)-1);
	/* dropped caps take no room */
	ATF_CHECK_EQ(filter("STARTTLS COMPRESS=DEFLATE IDLE", NULL, out, 6),
	    4);
	ATF_CHECK_STREQ(out, "IDLE");
	ATF_CHECK_EQ(filter("STARTTLS", NULL, out, 1), 0);
	ATF_CHECK_STREQ(out, "");
}

ATF_TC_WITHOUT_HEAD(find_capcode);
ATF_TC_BODY(find_capcode, tc)
{
	static const char	*none[] = {
		"", "*", "* OK", "* OK ", "* OK hello", "* OK [ALERT] hi",
		"* CAPABILITY IMAP4rev1 IDLE", "* OK [CAPABILITY IMAP4rev1",
		"* OK [CAPABILITY a\r\n] x", "* OK [CAPABILITY a\n]",
		"* OK [CAPABILITYX a] x", "* OK [CAPABILITY] x",
		"* OK  [CAPABILITY a] x", "* OK x [CAPABILITY a] x",
		"[CAPABILITY a] x", NULL
	};
	const char		 *s, **t;
	size_t			  start, end;

	s = "* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\n";
	ATF_REQUIRE_EQ(imap_find_capcode(s, strlen(s), &start, &end), 1);
	ATF_CHECK_EQ(start, 17);
	ATF_CHECK_EQ(end, 31);
	ATF_CHECK(strncmp(s + start, "IMAP4rev1 IDLE]", 15) == 0);

	s = "a01 OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] Logged in";
	ATF_REQUIRE_EQ(imap_find_capcode(s, strlen(s), &start, &end), 1);
	ATF_CHECK_EQ(start, 19);
	ATF_CHECK(s[end] == ']');
	ATF_CHECK_EQ(end - start, strlen("IMAP4rev1 STARTTLS IDLE"));

	s = "* PREAUTH [capability IMAP4rev1] hi";
	ATF_REQUIRE_EQ(imap_find_capcode(s, strlen(s), &start, &end), 1);
	ATF_CHECK_EQ(end - start, 9);

	/* an empty list */
	s = "* OK [CAPABILITY ] x";
	ATF_REQUIRE_EQ(imap_find_capcode(s, strlen(s), &start, &end), 1);
	ATF_CHECK_EQ(start, end);

	for (t = none; *t != NULL; t++)
		ATF_CHECK_MSG(imap_find_capcode(*t, strlen(*t), &start,
		    &end) == 0, "'%s'", *t);

	/* only the length given is read */
	s = "* OK [CAPABILITY IMAP4rev1] x";
	ATF_CHECK_EQ(imap_find_capcode(s, 20, &start, &end), 0);
	ATF_CHECK_EQ(imap_find_capcode(s, 16, &start, &end), 0);
}

ATF_TC_WITHOUT_HEAD(quote);
ATF_TC_BODY(quote, tc)
{
	char	out[32];

	ATF_REQUIRE_EQ(imap_quote("INBOX", out, sizeof(out)), 0);
	ATF_CHECK_STREQ(out, "\"INBOX\"");
	ATF_REQUIRE_EQ(imap_quote("", out, sizeof(out)), 0);
	ATF_CHECK_STREQ(out, "\"\"");
	ATF_REQUIRE_EQ(imap_quote("a\"b\\c d", out, sizeof(out)), 0);
	ATF_CHECK_STREQ(out, "\"a\\\"b\\\\c d\"");

	/* what only a literal can carry */
	ATF_CHECK_EQ(imap_quote("a\r\nb", out, sizeof(out)), -1);
	ATF_CHECK_EQ(imap_quote("a\tb", out, sizeof(out)), -1);
	ATF_CHECK_EQ(imap_quote("a\x7f", out, sizeof(out)), -1);
	ATF_CHECK_EQ(imap_quote("caf\xc3\xa9", out, sizeof(out)), -1);

	/* room: quotes and NUL around "abc" take 6 bytes */
	ATF_CHECK_EQ(imap_quote("abc", out, 5), -1);
	ATF_REQUIRE_EQ(imap_quote("abc", out, 6), 0);
	ATF_CHECK_STREQ(out, "\"abc\"");
	ATF_CHECK_EQ(imap_quote("", out, 2), -1);
	ATF_REQUIRE_EQ(imap_quote("", out, 3), 0);
	/* an escaped quote takes two */
	ATF_CHECK_EQ(imap_quote("\"", out, 4), -1);
	ATF_REQUIRE_EQ(imap_quote("\"", out, 5), 0);
	ATF_CHECK_STREQ(out, "\"\\\"\"");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, segment_lines);
	ATF_TP_ADD_TC(tp, segment_incomplete);
	ATF_TP_ADD_TC(tp, segment_literals);
	ATF_TP_ADD_TC(tp, segment_not_literals);
	ATF_TP_ADD_TC(tp, segment_sizes);
	ATF_TP_ADD_TC(tp, segment_leading_zeros);
	ATF_TP_ADD_TC(tp, rd_tag_atom);
	ATF_TP_ADD_TC(tp, rd_quoted);
	ATF_TP_ADD_TC(tp, rd_atom_astring);
	ATF_TP_ADD_TC(tp, rd_literal);
	ATF_TP_ADD_TC(tp, rd_eol);
	ATF_TP_ADD_TC(tp, valid_tag);
	ATF_TP_ADD_TC(tp, caps_filter);
	ATF_TP_ADD_TC(tp, caps_filter_extra);
	ATF_TP_ADD_TC(tp, caps_filter_small);
	ATF_TP_ADD_TC(tp, find_capcode);
	ATF_TP_ADD_TC(tp, quote);
	return atf_no_error();
}
