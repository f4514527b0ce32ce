/*
 * submitd's SMTP client (smtp.c): one transaction per connection to the
 * relay, on libevent, never blocking; STARTTLS through libtls, AUTH
 * PLAIN, PIPELINING and SIZE when the relay offers them.  All or
 * nothing: DATA is sent only when every RCPT was accepted, otherwise the
 * transaction is reset and nothing is sent to anyone.
 *
 * Callbacks come from the event loop only, never from inside a call to
 * this API.  Each transaction ends in exactly one done(), unless it is
 * aborted.  The process ignores SIGPIPE (a TLS write to a relay that went
 * away would raise it).
 */
#ifndef SUBMITD_SMTP_H
#define SUBMITD_SMTP_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

struct tls_config;

enum smtp_tls {
	SMTP_TLS_NO,		/* plain text */
	SMTP_TLS_STARTTLS,	/* STARTTLS when offered */
	SMTP_TLS_REQUIRE,	/* STARTTLS or fail */
	SMTP_TLS_SMTPS		/* TLS from the start (port 465) */
};

struct smtp_conf {
	struct sockaddr_storage	 addr;		/* the relay, resolved */
	socklen_t		 addrlen;
	const char		*helo;		/* our name for EHLO */
	enum smtp_tls		 tls;
	struct tls_config	*tlscfg;	/* loaded before the sandbox */
	const char		*tlsname;	/* name to verify, or NULL */
	const char		*auth_user;	/* AUTH PLAIN, or NULL */
	const char		*auth_pass;
	int			 timeout;	/* seconds for each reply; 0 is
						   300 */
};

/* What the relay offers, from its EHLO reply. */
struct smtp_caps {
	int			 esmtp;
	int			 eightbitmime;
	int			 smtputf8;
	int			 pipelining;
	int			 starttls;
	int			 auth_plain;
	int			 tls;		/* the connection is TLS now */
	uint64_t		 size;		/* SIZE limit, 0 if none */
};

enum smtp_status {
	SMTP_OK,
	SMTP_TEMPFAIL,		/* 4xx, a lost connection, a timeout */
	SMTP_PERMFAIL		/* 5xx, or a refusal of ours */
};

struct smtp_badrcpt {
	char			 addr[320];
	int			 code;		/* the relay's reply code */
	char			 text[256];	/* its text, one line */
};

struct smtp_result {
	enum smtp_status	 status;
	int			 code;		/* the reply code, 0 if none */
	int			 sent;		/* the final "." went out: if no
						   reply came, the outcome is
						   unknown */
	char			 text[512];	/* what failed, not per rcpt */
	struct smtp_badrcpt	*bad;		/* refused recipients */
	size_t			 nbad;
};

/*
 * A connection the relay has just taken a message on (or reset a
 * transaction on) is kept for the next smtp_open() to the same relay.
 */
#define SMTP_IDLE_MAX		16	/* connections kept idle at most */
#define SMTP_IDLE_SECS		5	/* how long one is kept unused */
#define SMTP_REUSE_MAX		100	/* transactions on one connection;
					   OpenSMTPD takes 100 a session */

struct smtp_txn;
typedef void (*smtp_ready_cb)(struct smtp_txn *, const struct smtp_caps *,
    void *);
typedef void (*smtp_done_cb)(struct smtp_txn *, const struct smtp_result *,
    void *);

/*
 * Connect, EHLO, STARTTLS and AUTH as configured; then ready() with the
 * relay's capabilities, or done() with the failure.  The caller calls
 * smtp_send() from ready() or later.  The conf is copied; the strings
 * and tlscfg it points to must outlive the transaction.  NULL only when
 * out of memory: any other failure, a refused connect included, comes
 * as done().
 */
struct smtp_txn *smtp_open(const struct smtp_conf *, smtp_ready_cb,
	    smtp_done_cb, void *);

/* SMTP_BODY_* for smtp_send() and smtp_begin(). */
#define SMTP_BODY_8BITMIME	0x01	/* MAIL FROM ... BODY=8BITMIME */
#define SMTP_SMTPUTF8		0x02	/* MAIL FROM ... SMTPUTF8 */

/*
 * MAIL FROM, every RCPT TO, then DATA with the message read from fd
 * (offset 0 to `size`, lines ending in CRLF), dot-stuffed on the way;
 * done() with the outcome.  The fd stays the caller's.  The same as
 * smtp_begin(), smtp_rcpt() and smtp_more(fd's size, 1), but an
 * envelope that cannot be sent is refused before anything is.
 */
void	 smtp_send(struct smtp_txn *, const char *from, char *const *rcpt,
	    size_t nrcpt, int fd, off_t size, int flags);

/*
 * A transaction whose message is still arriving, in steps: MAIL FROM
 * now (from ready() or later; `size` is the estimate for SIZE=, 0 if
 * none), the recipients once they are known (RCPT goes when the relay
 * took MAIL), and the message as it is written to fd: smtp_more() says
 * how many bytes the file holds now, and at last that they are all.
 * DATA goes once every RCPT was taken; the message is sent as far as
 * the file holds it, and the final "." only after smtp_more(..., 1).
 * While the transaction waits for the caller, no clock runs: the
 * caller ends it with smtp_abort() if it waits too long.  If the relay
 * gives up meanwhile (it closes the connection, or says 421), done()
 * comes with code 0 and sent 0: nothing was taken.
 */
void	 smtp_begin(struct smtp_txn *, const char *from, off_t size,
	    int flags);
void	 smtp_rcpt(struct smtp_txn *, char *const *rcpt, size_t nrcpt,
	    int fd);
void	 smtp_more(struct smtp_txn *, off_t avail, int complete);

/*
 * The caller vouches that the first `upto` bytes of the file are whole
 * lines ending in CRLF, without a bare CR or LF: they go from the file
 * to the relay as they are, but for the "." that doubles one at the
 * start of a line, in one writev(2) from a mapping of the file, when
 * the connection is not TLS.  It only grows; 0, the start, means none.
 * No line of them that begins with "." begins at `dots` or after: only
 * the bytes before are searched for such lines.
 */
void	 smtp_plain(struct smtp_txn *, off_t upto, off_t dots);

/*
 * End a transaction now, at any point: no callback; the final "." is
 * never sent (the connection is closed without it, so the relay drops
 * a message it was reading).  This frees the transaction too: no
 * smtp_free() after it.
 */
void	 smtp_abort(struct smtp_txn *);

/*
 * After done(): free the transaction; its connection is kept for another
 * if the relay took the message (or the RSET), else closed.
 */
void	 smtp_free(struct smtp_txn *);

/*
 * Parse one reply line ("250-PIPELINING", without its CRLF); -1 if it is
 * not one.  text points into the line, after the code and separator.
 */
int	 smtp_reply_line(const char *, size_t, int *code, int *more,
	    const char **text);

/*
 * Note what one EHLO keyword line (the text of a reply line after the
 * first) offers in caps; 1 if it was a keyword we use.
 */
int	 smtp_ehlo_line(struct smtp_caps *, const char *, size_t);

#endif
