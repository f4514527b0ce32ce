/*
 * SUBMIT in the front end (doc/submit.md): the command's arguments and
 * the IMAP URLs of SUBMIT CATENATE, parsed without any I/O
 * (submitparse.c, fuzzed by regress/fuzz/fuzz_submit.c), and the
 * command itself (submit.c).
 */
#ifndef IMAPXD_SUBMIT_H
#define IMAPXD_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

#define SUBMIT_URL_MAX		2048	/* bytes of one CATENATE URL */
#define SUBMIT_PARTS_MAX	256	/* parts of one CATENATE */
#define SUBMIT_MAILBOX_MAX	1024	/* a URL's mailbox, decoded */
#define SUBMIT_SECTION_MAX	256	/* a URL's section, normalised */

/* What a literal of the command is (submit_args_literal()). */
#define SUBARG_MESSAGE		1	/* SUBMIT {n}: the whole message */
#define SUBARG_TEXT		2	/* CATENATE's TEXT {n} */
#define SUBARG_URL		3	/* CATENATE's URL {n}: collect it */

/*
 * The arguments, fed as they arrive: the text of each line segment
 * (without CRLF and literal marker), what each literal is, the end.
 * Any call after an error fails again.
 */
struct submit_args {
	int		 state;
	unsigned int	 nparts;
	int		 limit;		/* the error is a limit, not syntax */
	const char	*error;		/* for the BAD (or NO [LIMIT]) */
	char		 url[SUBMIT_URL_MAX];
};

typedef void (*submit_url_cb)(void *, const char *, size_t);

void	 submit_args_init(struct submit_args *);
int	 submit_args_text(struct submit_args *, const char *, size_t,
	    submit_url_cb, void *);
int	 submit_args_literal(struct submit_args *, uint64_t, int);
int	 submit_args_end(struct submit_args *);

/*
 * One URL of CATENATE (RFC 4469 section 3, RFC 5092): relative to the
 * server, "/mailbox[;UIDVALIDITY=v]/;UID=u[/;SECTION=s][/;PARTIAL=o[.l]]",
 * or absolute, "imap://[user@]host[:port]" and that path, with or
 * without ";EXPIRE=...;URLAUTH=..." after it.
 */
struct submit_url {
	int		 absolute;
	int		 urlauth;	/* carries its own ;URLAUTH= */
	char		 mailbox[SUBMIT_MAILBOX_MAX];	/* decoded */
	uint32_t	 uidvalidity;	/* 0: not given */
	uint32_t	 uid;
	char		 section[SUBMIT_SECTION_MAX];	/* "" whole message */
	int		 partial;
	uint32_t	 poff;
	uint32_t	 plen;		/* 0: to the end */
};

int	 submit_url_parse(const char *, size_t, struct submit_url *);
int	 submit_url_fetch(const struct submit_url *, char *, size_t);
int	 submit_url_authurl(const struct submit_url *, const char *,
	    const char *, int, char *, size_t);
int	 submit_url_ok(const char *, size_t);

#endif
