/*
 * submitd: what submitd.conf(5) says, as built by submitd/parse.y, and
 * what submitd.c shares with the rest of the daemon.
 */
#ifndef SUBMITD_SUBMITD_H
#define SUBMITD_SUBMITD_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp.h"

#define SUBMITD_CONF		SYSCONFDIR "/submitd.conf"
#define SUBMITD_USER		"_submitd"
#define SUBMITD_SPOOL		"/var/spool/imapx/submitd"

#define DEF_SIZE_MAX		(25ULL * 1024 * 1024)
#define DEF_RCPT_MAX		100
#define DEF_RATE		60	/* submissions per user per minute */
#define DEF_TIMEOUT		300	/* seconds for each relay reply */
#define DEF_CONCURRENCY		64	/* submissions relayed at once */

/* The From and Sender addresses one user may use besides their own. */
struct fromrule {
	TAILQ_ENTRY(fromrule)	 entry;
	char			 user[256];	/* canonical, or "*" */
	char			**addrs;	/* "a@b" or "@domain" */
	size_t			 naddrs;
};
TAILQ_HEAD(fromrules, fromrule);

struct submitd_conf {
	char			 user[64];	/* runs as */
	char			 spool[PATH_MAX];	/* its chroot */
	char			 hostname[256];	/* EHLO, Message-ID */
	char			 relay_host[256];
	char			 relay_port[16];
	enum smtp_tls		 relay_tls;
	int			 relay_noverify;
	char			 relay_ca[PATH_MAX];	/* "": the system's */
	char			 relay_name[256];	/* to verify, "": host */
	char			 auth_user[256];	/* "": no AUTH */
	char			*auth_pass;
	struct sockaddr_storage	 relay_addr;	/* resolved at start */
	socklen_t		 relay_addrlen;
	uint64_t		 size_max;
	size_t			 rcpt_max;
	int			 rate;		/* 0: no limit */
	int			 timeout;
	int			 concurrency;
	char			 sentbox[256];	/* "": no Sent copy */
	struct fromrules	 fromrules;
};

/* parse.y */
struct submitd_conf	*submitd_parse_config(const char *);
void			 submitd_config_free(struct submitd_conf *);
int			 submitd_cmdline_symset(char *);
size_t			 submitd_allowed(const struct submitd_conf *,
			    const char *, const char **, size_t);

#endif
