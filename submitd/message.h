/*
 * The message checks and fixes of submitd (message.c): RFC 5322 header
 * syntax, the From/Sender check, the envelope recipients, the fixes RFC
 * 6409 allows, and the 8-bit to 7-bit conversion of the draft.
 *
 * Messages are read from and written to descriptors of seekable files
 * (the spool); only the header is held in memory, never the body.
 */
#ifndef SUBMITD_MESSAGE_H
#define SUBMITD_MESSAGE_H

#include <sys/types.h>

#include <stddef.h>

#define MSG_HEADER_MAX		(256 * 1024)	/* bytes of header, unfolded */
#define MSG_LINE_MAX		998		/* RFC 5322 2.1.1, no CRLF */
#define MSG_ADDR_MAX		320		/* an addr-spec, RFC 5321 4.5.3 */
#define MSG_REASON_MAX		256

/*
 * From, Sender (or Resent-From, Resent-Sender) must hold the user's own
 * address or an allowed one: "local@domain" exactly, or "@domain" for
 * any local part there.  All comparisons ignore ASCII case.
 */
struct msg_conf {
	const char	 *user;		/* canonical user@domain */
	const char *const *allowed;	/* more addresses for From/Sender */
	size_t		  nallowed;
	size_t		  rcpt_max;	/* envelope recipients, at most;
					   0: no limit */
	const char	 *hostname;	/* right side of a new Message-ID;
					   "localhost" if NULL or not a
					   dot-atom */
};

/* What msg_prepare() found; MSG_* flags. */
#define MSG_8BITBODY	0x01	/* the body has bytes over 127 */
#define MSG_8BITHDR	0x02	/* the header has (UTF-8) bytes over 127 */
#define MSG_BINARY	0x04	/* NUL bytes, bare CRs or lines over
				   MSG_LINE_MAX in the body: DATA cannot
				   carry it, msg_to7bit() makes it fit */
#define MSG_RESENT	0x08	/* recipients came from Resent-* fields */

struct msg_info {
	char		**rcpt;		/* envelope recipients, addr-specs */
	size_t		  nrcpt;
	int		  flags;
	off_t		  size;		/* bytes written to the output */
	char		  msgid[MSG_ADDR_MAX];	/* as in the header, no <>:
					   the Message-ID, or with
					   MSG_RESENT the newest
					   Resent-Message-ID; ours or the
					   client's, "" if that is odd */
};

/*
 * Read the submitted message from `in` (from offset 0 to its end), check
 * it and write the message to relay to `out`: lines end in CRLF; Date,
 * Message-ID and Sender added where missing or needed (at the end of the
 * header; Resent- ones at the end of the newest Resent- block); Bcc and
 * Resent-Bcc removed; every other field byte for byte, in order.  The
 * body is copied as it is but for line ends, and a last line without
 * one gets CRLF.  0 and `info` filled in, or -1 with a reason for the
 * client in `reason`: printable ASCII, no CR or LF, may hold commas.
 * The Message-ID is random: sodium_init() must have run.
 */
int	 msg_prepare(int in, int out, const struct msg_conf *,
	    struct msg_info *info, char *reason, size_t reasonsz);

/*
 * The same in steps, for a message that is still arriving (submitd
 * relays it as it comes).  msg_header() reads the header from `in`
 * (from offset 0: the file must hold the empty line that ends it, or
 * the whole message), checks it and puts the header to relay into `w`,
 * with the empty line if there is one; *body is the offset in `in`
 * where the body begins, -1 if the message has none.  The body's bytes
 * then go through msg_body_put(), chunk by chunk in order, which puts
 * them into `w` as msg_prepare() would and sets MSG_8BITBODY and
 * MSG_BINARY in *flags; msg_body_end() after the last.  The caller
 * flushes `w` (msgio.h) and sets info->size.
 *
 * `plain` follows what went into `w` from msg_body_init() on: up to
 * there it is whole lines ending in CRLF, so SMTP DATA can carry those
 * bytes as they are but for the "." that doubles a leading one
 * (smtp_plain()).  It stops for good at anything that is not clean CRLF
 * text.  Every line of those that begins with "." begins before `dots`.
 */
struct msg_wr;
struct msg_body {
	int		  cr;		/* a CR ended the last chunk */
	size_t		  col;		/* bytes on the current line */
	int		  opaque;	/* plain stopped for good */
	off_t		  plain;	/* in w: the plain lines end here */
	off_t		  dots;		/* in w: no line that begins with
					   "." begins here or after */
};

int	 msg_header(int in, struct msg_wr *w, const struct msg_conf *,
	    struct msg_info *info, off_t *body, char *reason,
	    size_t reasonsz);
void	 msg_body_init(struct msg_body *, const struct msg_wr *);
void	 msg_body_put(struct msg_body *, int *flags, struct msg_wr *,
	    const void *, size_t);
void	 msg_body_end(struct msg_body *, struct msg_wr *);

/*
 * Rewrite a message written by msg_prepare() so that it is all 7-bit
 * below its own header (whose 8-bit bytes are the caller's business):
 * each part with 8-bit or binary content gets a quoted-printable (text)
 * or base64 (other) Content-Transfer-Encoding, reversibly.  A part under
 * multipart/signed is never re-encoded: -1 and a reason instead; so for
 * parts whose headers are 8-bit, parts encoded already that hold 8-bit
 * bytes, and structures nested too deeply.  mime.c says more.
 */
int	 msg_to7bit(int in, int out, char *reason, size_t reasonsz);

void	 msg_info_free(struct msg_info *);

/* The addr-spec of one RFC 5322 mailbox or angle-addr; -1 if invalid. */
int	 msg_parse_mailbox(const char *, char *, size_t);

#endif
