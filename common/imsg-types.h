/*
 * The imsg catalogue: every message that crosses a process boundary, with
 * its payload and the direction it flows.  Read this first.
 *
 *   P = imapxd parent   F = frontend worker   S = a service daemon
 *
 * Every receiver checks the payload size against the struct named here
 * (imsg_get_data() refuses any other size) and that strings are
 * NUL-terminated inside their array, as if the sender were compromised.
 */
#ifndef IMAPX_IMSG_TYPES_H
#define IMAPX_IMSG_TYPES_H

#include <sys/socket.h>

#include <limits.h>
#include <stdint.h>

#include "config.h"

#define IMAPX_USER_MAX		256	/* canonical user@domain, with NUL */
#define IMAPX_CHUNK_MAX		(16384 - 16 - 64)

enum imsg_type {
	IMSG_NONE,

	/* Configuration, P -> F, in this order; on SIGHUP again. */
	IMSG_CONF_START,	/* struct imsg_conf */
	IMSG_CONF_BACKEND,	/* struct backend (imapxd/config.h) */
	IMSG_CONF_TLS_CERT,	/* raw chunk of the PEM chain */
	IMSG_CONF_TLS_KEY,	/* raw chunk of the PEM key */
	IMSG_CONF_TLS_CA,	/* raw chunk of the CA bundle */
	IMSG_CONF_LISTENER,	/* struct imsg_listener + listening fd */
	IMSG_CONF_END,		/* empty: apply what came since START */

	/* Connection accounting across all workers, F <-> P. */
	IMSG_CONN_OPEN,		/* F->P struct imsg_conn */
	IMSG_CONN_ACCEPT,	/* P->F struct imsg_conn_reply */
	IMSG_CONN_REFUSE,	/* P->F struct imsg_conn_reply */
	IMSG_CONN_CLOSE,	/* F->P struct imsg_conn_id */
	IMSG_USER_LOGIN,	/* F->P struct imsg_user */
	IMSG_USER_ACCEPT,	/* P->F struct imsg_conn_reply */
	IMSG_USER_REFUSE,	/* P->F struct imsg_conn_reply */

	/* Service channels, P -> F and P -> S. */
	IMSG_PEER_CHANNEL,	/* struct imsg_peer + one end of a socketpair */

	/* Flow control on every channel, both ways. */
	IMSG_CREDIT,		/* struct imsg_credit */

	/*
	 * XEXEC, F <-> execd over a service channel (common/chan.c).  The
	 * imsg header's peerid carries the run id, chosen by the frontend
	 * and unique on its channel.  "data" messages count against the
	 * channel's window (chan_send), the others do not.
	 */
	IMSG_XEXEC_LIST,	/* F->E struct imsg_xexec_user: may run? */
	IMSG_XEXEC_MODULE,	/* E->F struct imsg_xexec_module, each */
	IMSG_XEXEC_LIST_END,	/* E->F empty */
	IMSG_XEXEC_START,	/* F->E struct imsg_xexec_start */
	IMSG_XEXEC_ARG,		/* F->E one client argument, raw bytes */
	IMSG_XEXEC_GO,		/* F->E empty: arguments complete, run it */
	IMSG_XEXEC_INPUT,	/* F->E data: bytes for the module's stdin */
	IMSG_XEXEC_EOF,		/* F->E empty: close the module's stdin */
	IMSG_XEXEC_CANCEL,	/* F->E empty: the session is gone: kill */
	IMSG_XEXEC_OUTPUT,	/* E->F data: the module's output bytes */
	IMSG_XEXEC_DONE,	/* E->F struct imsg_xexec_done, the last */

	/*
	 * SUBMIT, F <-> submitd over a service channel.  peerid carries the
	 * submission id, chosen by the frontend and unique on its channel.
	 * HELLO comes first on every new channel.  The message bytes go in
	 * DATA messages, which count against the window; submitd spools
	 * them to a private file, so no message is ever whole in memory.
	 */
	IMSG_SUBMIT_HELLO,	/* S->F struct imsg_submit_hello */
	IMSG_SUBMIT_START,	/* F->S struct imsg_submit_start; piped:
				   with the read end of a pipe */
	IMSG_SUBMIT_DATA,	/* F->S data: message bytes, in order */
	IMSG_SUBMIT_END,	/* F->S empty: the message is complete */
	IMSG_SUBMIT_CANCEL,	/* F->S empty: drop it, send nothing more */
	IMSG_SUBMIT_DONE,	/* S->F struct imsg_submit_done, the last; on
				   success with save != 0, with a descriptor
				   of the message as relayed (the Sent copy) */

	/* Control socket, imapxctl <-> P. */
	IMSG_CTL_STATUS,	/* empty request */
	IMSG_CTL_PROC,		/* struct imsg_ctl_proc, one per child */
	IMSG_CTL_RELOAD,	/* empty */
	IMSG_CTL_OK,		/* empty */
	IMSG_CTL_FAIL,		/* struct imsg_ctl_fail */
	IMSG_CTL_END,		/* empty: end of a listing */
};

/* Process kinds; the parent's process table has one slot per kind. */
enum imapx_proc {
	PROC_PARENT,
	PROC_FRONTEND,
	PROC_EXECD,
	PROC_SUBMITD,
	PROC_NOTIFYD,
	PROC_MAX
};

struct imsg_conf {
	struct limits		 limits;	/* imapxd/config.h */
	char			 user[64];	/* first config only: */
	char			 chroot[PATH_MAX];	/* where to drop */
	char			 domain[256];
	uint32_t		 worker;	/* index of this worker */
	uint32_t		 services;	/* 1 << PROC_* that are on */
	uint32_t		 have_tls;
};

struct imsg_listener {
	int32_t			 flags;		/* LISTEN_* */
	char			 name[128];
};

struct imsg_conn {
	uint64_t		 id;		/* session id, unique per worker */
	struct sockaddr_storage	 addr;		/* client address */
};

struct imsg_conn_id {
	uint64_t		 id;
};

struct imsg_conn_reply {
	uint64_t		 id;
	char			 reason[128];
};

struct imsg_user {
	uint64_t		 id;
	char			 user[IMAPX_USER_MAX];
};

struct imsg_peer {
	uint32_t		 proc;		/* enum imapx_proc of the peer */
	uint32_t		 instance;	/* worker index for a frontend */
};

/*
 * Flow control: a sender may have at most `window` bytes in flight on a
 * channel; the receiver returns credit as it consumes them.
 */
struct imsg_credit {
	uint32_t		 bytes;
};

struct imsg_xexec_user {
	char			 user[IMAPX_USER_MAX];	/* canonical */
};

struct imsg_xexec_module {
	char			 name[32];
	char			 descr[128];
	uint32_t		 interactive;
};

struct imsg_xexec_start {
	char			 user[IMAPX_USER_MAX];	/* canonical */
	char			 module[32];
	uint32_t		 nargs;		/* IMSG_XEXEC_ARGs that follow */
};

/* Why a run ended; the frontend turns it into the tagged answer. */
enum xexec_end {
	XEXEC_EXITED,		/* status = exit status */
	XEXEC_SIGNALED,		/* status = signal number */
	XEXEC_TIMEOUT,		/* the wall-clock limit */
	XEXEC_OUTPUT,		/* the output limit (bytes or lines) */
	XEXEC_NOMODULE,		/* no such module, or not for this user */
	XEXEC_BADARG,		/* the policy refused an argument */
	XEXEC_LIMIT,		/* rate or concurrency limit */
	XEXEC_FAILED		/* could not start it */
};

struct imsg_xexec_done {
	uint32_t		 end;		/* enum xexec_end */
	int32_t			 status;
	char			 reason[128];	/* for the log and the NO */
};

/* What the frontend needs of submitd.conf, sent on each new channel. */
struct imsg_submit_hello {
	uint64_t		 size_max;	/* bytes of message, at most */
	char			 sentbox[256];	/* "" if no Sent copy */
};

struct imsg_submit_start {
	char			 user[IMAPX_USER_MAX];	/* canonical */
	uint64_t		 size;		/* announced, 0 if not known */
	uint32_t		 piped;		/* the bytes come through the
						   descriptor attached, up to
						   its end, not as DATA */
};

enum submit_status {
	SUBMIT_OK,		/* relayed to every recipient */
	SUBMIT_NO,		/* refused or failed: nobody gets it */
	SUBMIT_BAD,		/* not a message at all (syntax) */
	SUBMIT_UNKNOWN		/* the relay may have it: no reply to "." */
};

/*
 * text is the draft's form for a NO: the error not tied to any
 * recipient, with commas replaced, then ",rcpt" for each recipient the
 * relay refused.  code is a response code without brackets ("TOOBIG",
 * "LIMIT", "UNAVAILABLE") or "".
 */
struct imsg_submit_done {
	uint32_t		 status;	/* enum submit_status */
	uint32_t		 save;		/* a descriptor is attached */
	uint64_t		 size;		/* of that message */
	char			 code[32];
	char			 text[8192];
};

struct imsg_ctl_fail {
	char			 reason[256];
};

struct imsg_ctl_proc {
	uint32_t		 proc;
	uint32_t		 instance;
	int32_t			 pid;
	uint32_t		 restarts;
	uint32_t		 sessions;
};

#endif
