/*
 * The front-end worker: sessions, the pre-login state machine and the
 * parsed proxy that follows a login.
 */
#ifndef IMAPXD_FRONTEND_H
#define IMAPXD_FRONTEND_H

#include <sys/queue.h>
#include <sys/tree.h>
#include <sys/socket.h>

#include <event.h>
#include <stdint.h>

#include "config.h"
#include "conn.h"
#include "imapparse.h"

struct tls;
struct tls_config;
struct imsg;
struct chan;
struct session;

/* What a worker knows of the configuration; sessions hold a reference. */
struct fe_conf {
	int			 refcnt;
	struct limits		 limits;
	char			 domain[256];
	uint32_t		 services;
	struct backendlist	 backends;
	struct tls_config	*tlscfg;	/* server side */
	struct tls		*tlsctx;	/* server context, NULL if no TLS */
	struct tls_config	*btlscfg;	/* towards a backend, verified */
	struct tls_config	*btlscfg_nv;	/* ...one marked noverify */
};

#define TAG_MAX		128
#define INJPREFIX_LEN	10	/* "x" + 8 base32 + "." */
#define CMDNAME_MAX	32

/* A client command in flight to the backend. */
struct cmd {
	TAILQ_ENTRY(cmd)	 entry;
	int			 flags;
	char			 name[CMDNAME_MAX];	/* upper case */
	char			*answer;	/* ours, if CMD_ABORTED */
	size_t			 taglen;
	char			 tag[];
};
#define CMD_IDLE	0x01	/* IDLE: DONE follows the continuation */
#define CMD_LOGOUT	0x02
#define CMD_SELECT	0x04	/* SELECT or EXAMINE: tracks the mailbox */
#define CMD_UNSELECT	0x08	/* CLOSE or UNSELECT */
#define CMD_ABORTED	0x10	/* answered by us; swallow the backend's */
#define CMD_ENABLE	0x20
#define CMD_DONE	0x40	/* IDLE: the client said DONE */
TAILQ_HEAD(cmdlist, cmd);

/*
 * A command the proxy sends on its own over the user's session.  Its tag
 * comes from a per-session namespace; its responses are consumed here and
 * never reach the client.
 */
struct inject;
typedef int  (*inject_match_cb)(struct inject *, const char *, size_t);
typedef void (*inject_data_cb)(struct inject *, int, const char *, size_t);
typedef void (*inject_done_cb)(struct inject *, const char *, size_t);

#define INJ_LINE	1	/* an untagged line segment it claimed */
#define INJ_LITERAL	2	/* literal bytes inside such a response */

struct inject {
	TAILQ_ENTRY(inject)	 entry;
	char			 tag[24];
	char			*cmd;		/* after "tag ", with CRLF */
	size_t			 cmdlen;
	int			 sent;
	inject_match_cb		 match;		/* untagged: is it ours? */
	inject_data_cb		 data;
	inject_done_cb		 done;		/* tagged completion line */
	void			*arg;
	/*
	 * With body set, cmd ends in a literal marker, {bodylen} or
	 * {bodylen+}, and the literal's bytes are read from bodyfd (from
	 * offset 0) as the backend takes them, then CRLF.  Once
	 * proxy_inject() accepts the command the descriptor is the
	 * proxy's: it closes it when the bytes are sent or dropped.
	 */
	int			 body;
	int			 bodyfd;
	uint64_t		 bodylen;
};
TAILQ_HEAD(injectlist, inject);

/* The literal body of an injected command on its way to the backend. */
struct injbody {
	int			 active;
	int			 fd;
	uint64_t		 len;
	uint64_t		 off;
	int			 waitcont;	/* {n}: the backend's "+" first */
	int			 failed;	/* short read: padded, aborted */
	int			 busy;		/* being pumped */
	struct inject		*owner;		/* until its tagged answer */
};

enum session_state {
	S_ACCOUNT,		/* waiting for the parent's yes */
	S_PRELOGIN,
	S_AUTHCONT,		/* AUTHENTICATE waits for the client's data */
	S_BACKEND,		/* logging in to the backend */
	S_USERCHECK,		/* waiting for the parent's per-user yes */
	S_PROXY,
	S_CLOSING
};

/* Client stream position (after login). */
enum cstream {
	CS_CMD,			/* at the start of a command */
	CS_LINE,		/* inside a command, after a literal */
	CS_LITERAL,		/* inside a literal */
	CS_DISCARD_LIT,		/* discarding an oversized {n+} literal */
	CS_DISCARD_LINE,	/* discarding the rest of a refused command */
	CS_LOCAL_LINE,		/* a local command: its next segment */
	CS_LOCAL_LIT,		/* a local command: literal bytes */
	CS_LOCAL_WAIT,		/* a local command complete, not answered */
	CS_IDLE_WAIT		/* DONE said, the backend not out of IDLE yet */
};

/*
 * A command imapxd serves itself (local.c).  begin() gets the text after
 * the command name; data() the later segments and literal bytes (1 to
 * pause the client); end() when the command is complete.  Each handler
 * answers with lcmd_done().  cancel() says the command is over (the
 * session ends, or lcmd_cancel() answers it); gone(), if there is one,
 * that the service behind it died, and the handler answers when it can.
 */
struct lcmd;
struct lcmd_ops {
	const char	*name;
	int		 service;	/* PROC_* behind it, PROC_PARENT: none */
	int	(*begin)(struct session *, struct lcmd *, const char *,
		    size_t);
	int	(*literal)(struct session *, struct lcmd *, uint64_t, int);
	int	(*data)(struct session *, struct lcmd *, int, const char *,
		    size_t);
	void	(*end)(struct session *, struct lcmd *);
	void	(*cancel)(struct session *, struct lcmd *);
	void	(*gone)(struct session *, struct lcmd *);
};

#define LCMD_GONE	"NO [UNAVAILABLE] Service went away, try again later"

struct lcmd {
	const struct lcmd_ops	*ops;
	void			*arg;		/* the handler's */
	uint64_t		 litmax;	/* largest literal accepted */
	int			 paused;
	char			 tag[TAG_MAX];
};

/* Where the backend stands with the client's IDLE. */
enum idle {
	IDLE_NONE,		/* no IDLE, or not acknowledged yet */
	IDLE_ON,		/* backend said "+": idling */
	IDLE_BREAK,		/* we sent DONE for injected commands */
	IDLE_OUT,		/* out of IDLE, injected commands running */
	IDLE_REENTER		/* we sent IDLE again, waiting for "+" */
};

/* Backend stream position. */
enum rstream {
	RS_START,		/* at the start of a response */
	RS_LINE,		/* inside a response, after a literal */
	RS_STREAM,		/* inside a long line, passing it through */
	RS_LITERAL
};

struct session {
	RB_ENTRY(session)	 node;
	uint64_t		 id;
	enum session_state	 state;
	struct fe_conf		*conf;
	int			 lflags;	/* LISTEN_* of its listener */
	int			 tls;		/* client side is TLS now */
	int			 accounted;	/* parent counts us */
	struct sockaddr_storage	 addr;
	char			 addrstr[64];
	int			 port;
	struct sockaddr_storage	 laddr;
	struct conn		 client;
	struct conn		 backend;
	struct event		 timer;
	char			*user;		/* canonical, after login */
	char			*bcaps;		/* backend caps, until login */

	/* pre-login */
	unsigned int		 ncmds;
	size_t			 scan;		/* command bytes scanned */
	int			 litsent;	/* continuation sent */
	char			 tag[TAG_MAX];	/* command being served */
	struct login		*login;

	/* proxy */
	enum cstream		 cs;
	enum rstream		 rs;
	uint64_t		 clit;		/* client literal bytes left */
	uint64_t		 rlit;		/* backend literal bytes left */
	struct inject		*rowner;	/* injected cmd owning this resp */
	struct cmd		*curcmd;	/* client cmd being forwarded */
	struct cmdlist		 cmds;
	struct injectlist	 injects;
	unsigned int		 injseq;
	char			 injprefix[12];
	enum idle		 idle;		/* the backend's IDLE state */
	int			 idle_done;	/* client said DONE meanwhile */
	struct buf		 held;		/* our lines, held mid-response */
	int			 held_paused;	/* client paused: held is full */
	struct lcmd		*local;		/* local command running */
	char			*mailbox;	/* selected, if any */
	char			*pendbox;	/* SELECT/EXAMINE in flight */
	uint32_t		 uidvalidity;	/* of mailbox, 0 if not known */
	uint32_t		 penduidv;	/* ...of pendbox, so far */
	struct injbody		 ibody;		/* an injected literal */
	int			 bhold;		/* an injected command's
						   consumer is full: the
						   backend is not read */
	int			 bflags;	/* BCAP_* */
	const struct backend	*be;		/* its configuration's */
};

#define BCAP_LITERALPLUS	0x01	/* the backend takes {n+} (RFC 7888) */

/* What a front end does with the channel to one service daemon. */
struct fe_service_ops {
	void	(*dispatch)(struct imsg *);
	void	(*writable)(void);	/* credit came back: room again */
	void	(*closed)(void);	/* gone: answer what waited on it */
	int	 fdpass;		/* it may send descriptors */
};

RB_HEAD(sessiontree, session);
RB_PROTOTYPE(sessiontree, session, node, session_cmp);

/* frontend.c */
void	 frontend(int, int);
void	 session_close(struct session *, const char *);
void	 session_timer_reset(struct session *);
void	 fe_conf_unref(struct fe_conf *);
const char *fe_caps_extra(struct session *);
int	 fe_service_up(int);
struct chan *fe_service_chan(int);
void	 fe_service_channel(int, int);
void	 fe_service_register(int, const struct fe_service_ops *);
int	 session_cmp(struct session *, struct session *);

/* login.c: the pre-login state machine and backend authentication */
void	 login_start(struct session *);
void	 login_client_input(struct conn *, void *);
void	 login_user_reply(struct session *, int, const char *);
void	 login_free(struct session *);

/* proxy.c */
void	 proxy_start(struct session *);
void	 proxy_client_input(struct conn *, void *);
void	 proxy_backend_input(struct conn *, void *);
void	 proxy_local(struct session *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
int	 proxy_inject(struct session *, struct inject *);
void	 proxy_backend_hold(struct session *, int);
void	 proxy_client_resume(struct session *);
void	 proxy_free(struct session *);
size_t	 proxy_caps_rewrite(struct session *, const char *, size_t, char *,
	    size_t);
void	 proxy_refuse(struct session *, const char *, struct imap_seg *,
	    const char *, const char *);
void	 proxy_refuse_stream(struct session *, struct imap_seg *);
void	 proxy_command_done(struct session *);

/* local.c */
void	 lcmd_register(const struct lcmd_ops *);
const struct lcmd_ops *lcmd_lookup(const char *);
void	 lcmd_begin(struct session *, const struct lcmd_ops *, const char *,
	    const char *, struct imap_seg *, size_t);
void	 lcmd_after_segment(struct session *, struct imap_seg *);
int	 lcmd_data(struct session *, int, const char *, size_t);
void	 lcmd_literal_taken(struct session *, size_t);
void	 lcmd_pause(struct session *);
void	 lcmd_resume(struct session *);
void	 lcmd_done(struct session *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 lcmd_cancel(struct session *, const char *);
void	 lcmd_gone(struct session *);

/* submit.c: the SUBMIT command (doc/submit.md) */
void	 submit_register(void);

/* xexec.c: the XEXEC command (doc/xexec.md) */
void	 xexec_register(void);
size_t	 xexec_escape(const char *, size_t, char *, size_t, int);

#endif
