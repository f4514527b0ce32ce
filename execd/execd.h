/*
 * execd: what its three files share.
 *
 *   execd.c	main: options, the policy file, the parent's channel on
 *		fd 3 (IMSG_PEER_CHANNEL hands over frontend channels)
 *   xexec.c	execd's side of XEXEC on a frontend channel (fchan_*):
 *		dispatch, the policy checks (user, arguments, rate,
 *		concurrency), DONE and the log line of each run
 *   run.c	one module run (run_*): spawning it in its own sandbox,
 *		its output, its input, its time limit, killing its whole
 *		process tree; and execd's own set-up, filter and signals
 *
 * xexec.c and run.c are in libexecd.a, so that the unit tests drive the
 * real dispatch over a socketpair with a policy they build by hand.
 */
#ifndef EXECD_H
#define EXECD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <event.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "chan.h"
#include "imsg-types.h"
#include "policy.h"

#define EXECD_PARENT_FD		3	/* as IMAPX_PARENT_FD */
#define EXECD_PENDING_MAX	64	/* runs collecting arguments, per channel */
#define EXECD_RUNS_MAX		1024	/* live runs, whatever the policy says */

/* execd_init() flags */
#define EXECD_NOCGROUP		0x01	/* use the fallback, not cgroup v2 */

/* A frontend worker's channel. */
struct xchan {
	TAILQ_ENTRY(xchan)	 entry;
	struct chan		 chan;
	uint32_t		 instance;
	TAILQ_HEAD(, run)	 runs;		/* pending and running */
	unsigned int		 npending;
	int			 closing;	/* freed from the loop */
	int			 lifeline;	/* execd ends with it (-T) */
};
TAILQ_HEAD(xchanlist, xchan);

enum run_state {
	RUN_ARGS,		/* START seen, collecting ARGs until GO */
	RUN_LIVE,		/* spawned; ends once reaped and drained */
};

struct run {
	TAILQ_ENTRY(run)	 entry;		/* in xc->runs while attached */
	TAILQ_ENTRY(run)	 live;		/* in the live list once spawned */
	struct xchan		*xc;		/* NULL once detached */
	uint32_t		 id;		/* imsg peerid */
	enum run_state		 state;
	struct module		*mod;
	char			 user[IMAPX_USER_MAX];	/* canonical */
	char			 local[IMAPX_USER_MAX];
	char			 domain[IMAPX_USER_MAX];

	/* Arguments, as received: NUL-terminated, never logged. */
	char			*args[MODULE_ARGS_MAX];
	size_t			 arglen[MODULE_ARGS_MAX];
	uint32_t		 nargs;		/* announced by START */
	uint32_t		 got;
	int			 refuse;	/* a decided refusal, or -1 */
	char			 reason[128];

	/* Once spawned. */
	pid_t			 pid;		/* leader; 0 once reaped */
	pid_t			 leader;	/* its pid, session, group */
	int			 wstatus;
	int			 status;	/* for DONE */
	int			 outfd;		/* stdout + stderr, merged */
	int			 infd;		/* stdin, -1 once closed */
	int			 errfd;		/* set-up errors before exec */
	struct event		 ev_out;
	struct event		 ev_in;
	struct event		 ev_limit;	/* timeout, then kill_grace */
	struct event		 ev_wait;	/* polls for the tree's end */
	int			 paused;	/* ev_out off: no window */
	int			 terminated;	/* SIGTERM sent */
	int			 ending;	/* end decided (timeout, ...) */
	int			 end;		/* enum xexec_end */
	int			 waits;		/* ev_wait rounds */

	/* stdin: arguments (args_stdin), then INPUT bytes held in credit */
	unsigned char		*inbuf;
	size_t			 inlen, inoff, insize;
	size_t			 inargs;	/* leading argument bytes */
	size_t			 inheld;	/* INPUT bytes not credited yet */
	int			 in_eof;	/* close once drained */

	size_t			 outbytes;
	unsigned int		 outlines;
	struct timespec		 t0;
	char			 cgroup[PATH_MAX];	/* "" in fallback mode */
	uint64_t		 seq;
};
TAILQ_HEAD(runlist, run);

/* xexec.c */
void		 fchan_init(struct execd_conf *);
struct xchan	*fchan_open(int, uint32_t);
void		 fchan_shutdown(void);
int		 policy_user_allowed(struct module *, const char *);
int		 policy_check_arg(struct module *, const char *, size_t,
		    char *, size_t);
void		 fchan_run_ended(struct run *);

/* run.c */
void		 execd_init(struct execd_conf *, int);
__attribute__((__noreturn__)) void execd_stop(void);
void		 execd_sandbox(struct execd_conf *);
int		 run_spawn(struct run *);
int		 run_input(struct run *, const void *, size_t);
void		 run_eof(struct run *);
void		 run_kill(struct run *, int, const char *);
void		 run_detach(struct run *);
void		 run_resume(struct xchan *);
void		 run_free(struct run *);
void		 run_shutdown(void);
unsigned int	 run_count(struct module *, const char *);
unsigned int	 run_total(void);

#endif
