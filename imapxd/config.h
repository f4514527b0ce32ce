/*
 * imapxd.conf as data: parse.y builds these structs, the parent reads
 * them and sends what each child needs over imsg.
 */
#ifndef IMAPXD_CONFIG_H
#define IMAPXD_CONFIG_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <limits.h>
#include <stddef.h>

#define IMAPXD_CONF		SYSCONFDIR "/imapxd.conf"
#define IMAPXD_USER		"_imapx"
#define IMAPXD_CHROOT		"/var/empty"
#define IMAPXD_CTLSOCK		"/run/imapxd.sock"

#define LISTEN_TLS		0x01	/* implicit TLS (imaps) */
#define LISTEN_IMSP		0x02	/* IMSP, not IMAP */

struct listener {
	TAILQ_ENTRY(listener)	 entry;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 flags;		/* LISTEN_* */
	int			 fd;		/* parent: bound socket */
	char			 name[128];	/* "127.0.0.1:1143" */
};
TAILQ_HEAD(listenerlist, listener);

#define BACKEND_TLS		0x01	/* implicit TLS to the backend */
#define BACKEND_STARTTLS	0x02	/* STARTTLS to the backend */
#define BACKEND_NOVERIFY	0x04	/* do not verify its certificate */
#define BACKEND_FORWARD_ID	0x08	/* send ID x-originating-ip/port */

struct backend {
	TAILQ_ENTRY(backend)	 entry;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 flags;		/* BACKEND_* */
	char			 host[256];	/* as written; TLS name */
	char			 domain[256];	/* "" = default backend */
	char			 name[128];	/* "127.0.0.1:10143" */
};
TAILQ_HEAD(backendlist, backend);

/* Every field is a plain number so the struct can go over imsg as is. */
struct limits {
	unsigned int	max_conns;		/* total, all workers */
	unsigned int	max_conns_addr;		/* per client address */
	unsigned int	max_user_sessions;	/* per canonical user */
	size_t		line_max;		/* after login */
	size_t		literal_max;		/* after login */
	size_t		login_line_max;		/* before login */
	size_t		login_literal_max;	/* before login */
	unsigned int	login_cmds;		/* commands before login */
	unsigned int	login_timeout;		/* seconds */
	unsigned int	idle_timeout;		/* seconds, after login */
};

#define LIMITS_DEFAULT_INIT {				\
	.max_conns = 20000,				\
	.max_conns_addr = 2500,				\
	.max_user_sessions = 50,			\
	.line_max = 64 * 1024,				\
	.literal_max = 64 * 1024 * 1024,		\
	.login_line_max = 32 * 1024,			\
	.login_literal_max = 8 * 1024,			\
	.login_cmds = 32,				\
	.login_timeout = 60,				\
	.idle_timeout = 30 * 60,			\
}

/* The service daemons imapxd starts; each has its own program. */
#define SVC_EXECD		0
#define SVC_SUBMITD		1
#define SVC_NOTIFYD		2
#define SVC_MAX			3

struct service {
	int			 enabled;
	char			 program[PATH_MAX];	/* absolute */
	char			 config[PATH_MAX];	/* its own file */
};

struct imapxd_conf {
	char			 user[64];	/* children run as this user */
	char			 chroot[PATH_MAX];
	char			 domain[256];	/* default domain, canonical names */
	char			 ctlsock[PATH_MAX];
	int			 prefork;	/* 0 = number of cores */
	char			 tls_cert[PATH_MAX];
	char			 tls_key[PATH_MAX];
	char			 tls_ca[PATH_MAX];	/* for the backend */
	struct listenerlist	 listeners;
	struct backendlist	 backends;
	struct limits		 limits;
	struct service		 services[SVC_MAX];
};

/* parse.y */
struct imapxd_conf	*parse_config(const char *);
int			 cmdline_symset(char *);
void			 config_free(struct imapxd_conf *);

#endif
