/*
 * IMAP wire scanning for the proxy: where a line segment ends, whether it
 * announces a literal, and small token readers.  Everything here reads
 * untrusted bytes and is covered by fuzz targets (regress/fuzz).
 */
#ifndef IMAPXD_IMAPPARSE_H
#define IMAPXD_IMAPPARSE_H

#include <stddef.h>
#include <stdint.h>

#define LIT_NONE	0
#define LIT_SYNC	1	/* {n}: waits for a continuation */
#define LIT_NONSYNC	2	/* {n+}: RFC 7888 */
#define LIT_BINARY	4	/* ~{n}: RFC 3516, with SYNC or NONSYNC */

#define IMAP_LITERAL_MAX	((uint64_t)1 << 40)

struct imap_seg {
	size_t		len;		/* bytes up to and including LF */
	size_t		textlen;	/* without CRLF and literal marker */
	int		lit;		/* LIT_* */
	uint64_t	litlen;
};

/*
 * Find the end of the line segment at p.  Returns 1 and fills seg when a
 * LF is found within len bytes, 0 when more input is needed.  A literal
 * size larger than IMAP_LITERAL_MAX is reported as UINT64_MAX.
 */
int	imap_segment(const char *, size_t, struct imap_seg *);

/* A cursor over one complete command or response, literals included. */
struct imap_rd {
	const char	*p;
	size_t		 len;
	size_t		 pos;
};

#define TOK_ERR		-1
#define TOK_EOL		0
#define TOK_ATOM	1
#define TOK_QUOTED	2
#define TOK_LITERAL	3
#define TOK_LPAREN	4
#define TOK_RPAREN	5

void	imap_rd_init(struct imap_rd *, const char *, size_t);
int	imap_rd_sp(struct imap_rd *);
int	imap_rd_tag(struct imap_rd *, char *, size_t);
int	imap_rd_atom(struct imap_rd *, char *, size_t);
int	imap_rd_astring(struct imap_rd *, char *, size_t, size_t *);
int	imap_rd_eol(struct imap_rd *);

int	imap_valid_tag(const char *, size_t);
int	imap_atom_char(int);

/* Capability lists: keep what the proxy carries, add its own. */
size_t	imap_caps_filter(const char *, size_t, char *, size_t, const char *);
int	imap_cap_allowed(const char *, size_t);

/* Find "[CAPABILITY " in a status response; offsets into the line. */
int	imap_find_capcode(const char *, size_t, size_t *, size_t *);

/* Quote a string for IMAP if it can be quoted; -1 if it needs a literal. */
int	imap_quote(const char *, char *, size_t);

#endif
