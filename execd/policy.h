/*
 * execd policy: what execd.conf and its included module files say, as
 * plain structs built by execd/parse.y and read by execd.c.
 */
#ifndef EXECD_POLICY_H
#define EXECD_POLICY_H

#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define EXECD_CONF		SYSCONFDIR "/execd.conf"
#define MODULE_NAME_MAX		32	/* [a-z0-9_-]+ */
#define MODULE_ARGV_MAX		64	/* argv template words */
#define MODULE_ARGS_MAX		64	/* client arguments */
#define MODULE_PATHS_MAX	16	/* sandbox paths */
#define MODULE_ENV_MAX		16
#define MODULE_WHO_MAX		16

/* One allow rule: a user or group name, or a fnmatch(3) pattern. */
struct who {
	int		 kind;		/* WHO_USER, WHO_GROUP, WHO_ANY */
	char		 pattern[256];	/* user@domain pattern or group */
};
#define WHO_ANY		0
#define WHO_USER	1
#define WHO_GROUP	2

/* A file system path the module may reach; %u and %d are expanded. */
struct modpath {
	char		 path[PATH_MAX];
	int		 perms;		/* PATH_READ | PATH_WRITE */
};
#define PATH_READ	0x01
#define PATH_WRITE	0x02

struct module {
	TAILQ_ENTRY(module)	 entry;
	char			 name[MODULE_NAME_MAX];
	char			 where[PATH_MAX + 16];	/* "file:line", for logs */
	char			 descr[128];	/* one line, for bare XEXEC */
	char			 program[PATH_MAX];	/* absolute */
	/* argv template: %u user@domain, %l local part, %d domain,
	 * %a all client arguments (each its own word), %1..%9 one */
	char			*argv[MODULE_ARGV_MAX + 1];
	int			 argc;
	char			 runas_user[64];	/* never root */
	char			 runas_group[64];
	uid_t			 uid;
	gid_t			 gid;
	struct who		 who[MODULE_WHO_MAX];
	int			 nwho;
	int			 interactive;
	int			 args_min, args_max;
	size_t			 arg_maxlen;
	char			 arg_pattern[256];	/* extended regex, anchored */
	int			 allow_dash;	/* arguments may start with '-' */
	int			 allow_ctrl;	/* ... may hold control bytes */
	int			 args_stdin;	/* client arguments go on stdin */
	unsigned int		 timeout;	/* wall clock, seconds */
	unsigned int		 kill_grace;	/* TERM, then KILL after this */
	rlim_t			 cpu;		/* seconds */
	rlim_t			 memory;	/* bytes, RLIMIT_AS */
	rlim_t			 nofile;
	rlim_t			 nproc;
	rlim_t			 fsize;
	size_t			 output_max;	/* bytes */
	unsigned int		 lines_max;
	unsigned int		 rate;		/* runs per user per minute */
	unsigned int		 conc_user;	/* concurrent runs per user */
	unsigned int		 conc_module;	/* ... of this module */
	struct modpath		 paths[MODULE_PATHS_MAX];
	int			 npaths;
	int			 network;	/* 0: no socket() at all */
	char			 chroot[PATH_MAX];	/* "" = none */
	char			*env[MODULE_ENV_MAX + 1];	/* NAME=value */
	int			 nenv;
};
TAILQ_HEAD(modulelist, module);

struct execd_conf {
	struct modulelist	 modules;
	unsigned int		 conc_total;	/* concurrent runs, all */
	char			 domain[256];	/* default domain */
};

/* execd/parse.y */
struct execd_conf	*execd_parse_config(const char *);
int			 execd_cmdline_symset(char *);
void			 execd_config_free(struct execd_conf *);
struct module		*module_find(struct execd_conf *, const char *);

#endif
