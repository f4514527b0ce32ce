/*
 * execd.conf(5): the grammar.  Files, macros and the lexer are in
 * common/conffile.c; this file has the keywords, the rules and what they
 * fill in struct execd_conf (policy.h).  Everything that can be checked
 * before a module runs is checked here, when the file is read: run-as
 * users and groups are resolved, programs looked at, patterns compiled,
 * argv and path templates validated.  execd then only expands them.
 */

%{
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "log.h"
#include "policy.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* Built-in policy of a module; execd.conf.5 documents every one. */
#define DEF_CONC_TOTAL		32
#define DEF_ARG_MAXLEN		256
#define DEF_TIMEOUT		10
#define DEF_KILL_GRACE		2
#define DEF_MEMORY		(256LL * 1024 * 1024)
#define DEF_NOFILE		64
#define DEF_NPROC		32
#define DEF_FSIZE		(16LL * 1024 * 1024)
#define DEF_OUTPUT		(64 * 1024)
#define DEF_LINES		1000
#define DEF_RATE		60
#define DEF_CONC_USER		2
#define DEF_CONC_MODULE		8

#define TEMPLATE_MAX		1024	/* one argv word or env string */

int		 yyparse(void);
int		 yylex(void);
int		 yyerror(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

static int	 set_macro(const char *, const char *);
static int	 set_string(char *, size_t, const char *, const char *);
static int	 set_domain(char *, size_t, const char *);
static int	 check_range(const char *, long long, long long, long long);
static int	 check_policy_file(const char *, int);
static int	 check_dir_of(const char *, struct stat *, char *, size_t);
static void	 policy_include(const char *);
static void	 module_begin(const char *, int);
static void	 module_end(void);
static void	 module_free(struct module *);
static int	 valid_module_name(const char *);
static void	 module_error(int, const char *, ...)
		    __attribute__((__format__ (printf, 2, 3)));
static void	 check_module(void);
static void	 check_program(void);
static void	 check_argv(void);
static int	 check_template(const char *, const char *, const char *);
static void	 set_program(const char *);
static void	 set_runas(const char *);
static void	 set_pattern(const char *);
static void	 set_description(const char *);
static void	 add_argv(const char *);
static void	 add_who(int, const char *);
static void	 add_path(int, const char *);
static void	 add_env(const char *);

static struct execd_conf	*conf;
static struct module		*mod;		/* the module being read */
static int			 mod_ok;	/* its name is valid and new */
static int			 mod_line;	/* where its "module" is */
static char			 mod_file[PATH_MAX];
static int			 program_line;	/* 0: no such statement */
static int			 argv_line;
static int			 stdin_line;
static int			 runas_line;
static int			 allow_line;
static int			 chroot_line;
static int			 cpu_set;
static int			 errors;	/* not counted by conffile */

typedef struct {
	union {
		long long	 number;
		char		*string;
	} v;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

%}

%token	ALLOW ALLOWCONTROL ALLOWDASH ANY ARGUMENT ARGUMENTS ARGV AS CHROOT
%token	CONCURRENCY CPU DESCRIPTION DOMAIN ENV FILES FILESIZE GROUP INCLUDE
%token	INTERACTIVE KILLGRACE LIMIT LINES MAX MEMORY MODULE NETWORK NONE ON
%token	OUTPUT PATTERN PERMODULE PERUSER PROCESSES PROGRAM RATE READ RUN
%token	STDIN TIMEOUT TO USER WRITE
%token	ERROR
%token	<v.string>	STRING
%token	<v.number>	NUMBER

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include '\n'
		| grammar varset '\n'
		| grammar main '\n'
		| grammar module '\n'
		| grammar error '\n'		{ yyerrok; }
		;

include		: INCLUDE STRING		{ policy_include($2); }
		;

varset		: STRING '=' STRING		{
			if (set_macro($1, $3) == -1)
				YYERROR;
		}
		| STRING '=' NUMBER		{
			char	buf[32];

			snprintf(buf, sizeof(buf), "%lld", $3);
			if (set_macro($1, buf) == -1)
				YYERROR;
		}
		;

main		: CONCURRENCY NUMBER		{
			if (check_range("concurrency", $2, 1, 10000) == -1)
				YYERROR;
			conf->conc_total = $2;
		}
		| DOMAIN STRING			{
			if (set_domain(conf->domain, sizeof(conf->domain),
			    $2) == -1)
				YYERROR;
		}
		;

module		: MODULE STRING			{
			mod_line = conffile_lineno();
		} optnl '{'			{
			module_begin($2, mod_line);
		} modbody '}'			{
			module_end();
		}
		;

optnl		: /* empty */
		| optnl '\n'
		;

/* One statement per line; an error spoils its line, not the module. */
modbody		: /* empty */
		| modbody '\n'
		| modbody modopt '\n'
		| modbody error '\n'		{ yyerrok; }
		;

modopt		: DESCRIPTION STRING		{ set_description($2); }
		| PROGRAM STRING		{ set_program($2); }
		| ARGV				{
			int	i;

			for (i = 0; i < mod->argc; i++)
				free(mod->argv[i]);
			memset(mod->argv, 0, sizeof(mod->argv));
			mod->argc = 0;
			argv_line = conffile_lineno();
		} argvwords
		| RUN AS STRING			{ set_runas($3); }
		| ALLOW USER users
		| ALLOW GROUP groups
		| ALLOW ANY			{ add_who(WHO_ANY, ""); }
		| ARGUMENTS NUMBER		{
			if (check_range("arguments", $2, 0,
			    MODULE_ARGS_MAX) == -1)
				YYERROR;
			mod->args_min = mod->args_max = $2;
		}
		| ARGUMENTS NUMBER TO NUMBER	{
			if (check_range("arguments", $2, 0,
			    MODULE_ARGS_MAX) == -1 ||
			    check_range("arguments", $4, 0,
			    MODULE_ARGS_MAX) == -1)
				YYERROR;
			if ($2 > $4) {
				yyerror("arguments %lld to %lld: the minimum is "
				    "above the maximum", $2, $4);
				YYERROR;
			}
			mod->args_min = $2;
			mod->args_max = $4;
		}
		| ARGUMENTS argflags
		| ARGUMENT PATTERN STRING	{ set_pattern($3); }
		| ARGUMENT MAX NUMBER		{
			if (check_range("argument max", $3, 1, 8192) == -1)
				YYERROR;
			mod->arg_maxlen = $3;
		}
		| INTERACTIVE			{ mod->interactive = 1; }
		| TIMEOUT NUMBER		{
			if (check_range("timeout", $2, 1, 86400) == -1)
				YYERROR;
			mod->timeout = $2;
		}
		| TIMEOUT NUMBER KILLGRACE NUMBER	{
			if (check_range("timeout", $2, 1, 86400) == -1 ||
			    check_range("kill-grace", $4, 0, 60) == -1)
				YYERROR;
			mod->timeout = $2;
			mod->kill_grace = $4;
		}
		| LIMIT limits
		| OUTPUT NUMBER			{
			if (check_range("output", $2, 1, 16 * 1024 * 1024) ==
			    -1)
				YYERROR;
			mod->output_max = $2;
		}
		| OUTPUT NUMBER LINES NUMBER	{
			if (check_range("output", $2, 1, 16 * 1024 * 1024) ==
			    -1 || check_range("output lines", $4, 1,
			    1000000) == -1)
				YYERROR;
			mod->output_max = $2;
			mod->lines_max = $4;
		}
		| OUTPUT LINES NUMBER		{
			if (check_range("output lines", $3, 1, 1000000) == -1)
				YYERROR;
			mod->lines_max = $3;
		}
		| RATE NUMBER			{
			if (check_range("rate", $2, 1, 100000) == -1)
				YYERROR;
			mod->rate = $2;
		}
		| CONCURRENCY concs
		| READ reads
		| WRITE writes
		| NETWORK NONE			{ mod->network = 0; }
		| NETWORK ALLOW			{ mod->network = 1; }
		| CHROOT STRING			{
			chroot_line = conffile_lineno();
			if ($2[0] != '/') {
				yyerror("chroot %s: not an absolute path", $2);
				YYERROR;
			}
			if (set_string(mod->chroot, sizeof(mod->chroot), $2,
			    "chroot") == -1)
				YYERROR;
		}
		| ENV envs
		| STRING			{
			/* yacc would only say "syntax error" here */
			yyerror("unknown keyword '%s'", $1);
			YYERROR;
		}
		;

argvwords	: STRING			{ add_argv($1); }
		| argvwords STRING		{ add_argv($2); }
		;

users		: STRING			{ add_who(WHO_USER, $1); }
		| users STRING			{ add_who(WHO_USER, $2); }
		;

groups		: STRING			{ add_who(WHO_GROUP, $1); }
		| groups STRING			{ add_who(WHO_GROUP, $2); }
		;

argflags	: argflag
		| argflags argflag
		;

argflag		: ALLOWDASH			{ mod->allow_dash = 1; }
		| ALLOWCONTROL			{ mod->allow_ctrl = 1; }
		| ON STDIN			{
			mod->args_stdin = 1;
			stdin_line = conffile_lineno();
		}
		;

limits		: limit
		| limits limit
		;

limit		: CPU NUMBER			{
			if (check_range("limit cpu", $2, 1, 86400) == -1)
				YYERROR;
			mod->cpu = $2;
			cpu_set = 1;
		}
		| MEMORY NUMBER			{
			if (check_range("limit memory", $2, 1024 * 1024,
			    1LL << 40) == -1)
				YYERROR;
			mod->memory = $2;
		}
		| FILES NUMBER			{
			if (check_range("limit files", $2, 4, 65536) == -1)
				YYERROR;
			mod->nofile = $2;
		}
		| PROCESSES NUMBER		{
			if (check_range("limit processes", $2, 1, 100000) ==
			    -1)
				YYERROR;
			mod->nproc = $2;
		}
		| FILESIZE NUMBER		{
			if (check_range("limit filesize", $2, 0,
			    1LL << 40) == -1)
				YYERROR;
			mod->fsize = $2;
		}
		;

concs		: conc
		| concs conc
		;

conc		: NUMBER PERUSER		{
			if (check_range("concurrency per-user", $1, 1,
			    10000) == -1)
				YYERROR;
			mod->conc_user = $1;
		}
		| NUMBER PERMODULE		{
			if (check_range("concurrency per-module", $1, 1,
			    10000) == -1)
				YYERROR;
			mod->conc_module = $1;
		}
		;

reads		: STRING			{ add_path(PATH_READ, $1); }
		| reads STRING			{ add_path(PATH_READ, $2); }
		;

writes		: STRING			{
			add_path(PATH_READ | PATH_WRITE, $1);
		}
		| writes STRING			{
			add_path(PATH_READ | PATH_WRITE, $2);
		}
		;

envs		: STRING			{ add_env($1); }
		| envs STRING			{ add_env($2); }
		;

%%

static const struct conffile_keyword keywords[] = {
	{ "allow",		ALLOW },
	{ "allow-control",	ALLOWCONTROL },
	{ "allow-dash",		ALLOWDASH },
	{ "any",		ANY },
	{ "argument",		ARGUMENT },
	{ "arguments",		ARGUMENTS },
	{ "argv",		ARGV },
	{ "as",			AS },
	{ "chroot",		CHROOT },
	{ "concurrency",	CONCURRENCY },
	{ "cpu",		CPU },
	{ "description",	DESCRIPTION },
	{ "domain",		DOMAIN },
	{ "env",		ENV },
	{ "files",		FILES },
	{ "filesize",		FILESIZE },
	{ "group",		GROUP },
	{ "include",		INCLUDE },
	{ "interactive",	INTERACTIVE },
	{ "kill-grace",		KILLGRACE },
	{ "limit",		LIMIT },
	{ "lines",		LINES },
	{ "max",		MAX },
	{ "memory",		MEMORY },
	{ "module",		MODULE },
	{ "network",		NETWORK },
	{ "none",		NONE },
	{ "on",			ON },
	{ "output",		OUTPUT },
	{ "pattern",		PATTERN },
	{ "per-module",		PERMODULE },
	{ "per-user",		PERUSER },
	{ "processes",		PROCESSES },
	{ "program",		PROGRAM },
	{ "rate",		RATE },
	{ "read",		READ },
	{ "run",		RUN },
	{ "stdin",		STDIN },
	{ "timeout",		TIMEOUT },
	{ "to",			TO },
	{ "user",		USER },
	{ "write",		WRITE },
};

int
yylex(void)
{
	struct conffile_token	t;
	int			c;

	switch (c = conffile_lex(&t)) {
	case CONFFILE_WORD:
		if ((c = conffile_keyword(t.string, keywords,
		    nitems(keywords))) != -1)
			return (c);
		yylval.v.string = t.string;
		return (STRING);
	case CONFFILE_STRING:
		yylval.v.string = t.string;
		return (STRING);
	case CONFFILE_NUMBER:
		yylval.v.number = t.number;
		return (NUMBER);
	case CONFFILE_ERROR:
		return (ERROR);
	default:
		return (c);
	}
}

int
yyerror(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	conffile_verror(fmt, ap);
	va_end(ap);
	return (0);
}

struct execd_conf *
execd_parse_config(const char *path)
{
	int	nerrors;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		fatal("%s", __func__);
	TAILQ_INIT(&conf->modules);
	conf->conc_total = DEF_CONC_TOTAL;
	mod = NULL;
	errors = 0;

	if (conffile_open(path, 0) == -1) {
		execd_config_free(conf);
		conf = NULL;
		return (NULL);
	}
	if (check_policy_file(path, 0) == -1)
		errors++;
	yyparse();
	if (mod != NULL) {
		/* the end of the file came inside the module's braces */
		log_warnx("%s: module %s: no closing '}'", mod->where,
		    mod->name);
		errors++;
		module_free(mod);
		mod = NULL;
	}
	nerrors = conffile_close() + errors;

	if (nerrors > 0) {
		execd_config_free(conf);
		conf = NULL;
		return (NULL);
	}
	return (conf);
}

int
execd_cmdline_symset(char *s)
{
	return (conffile_cmdline_symset(s));
}

void
execd_config_free(struct execd_conf *c)
{
	struct module	*m;

	if (c == NULL)
		return;
	while ((m = TAILQ_FIRST(&c->modules)) != NULL) {
		TAILQ_REMOVE(&c->modules, m, entry);
		module_free(m);
	}
	free(c);
}

struct module *
module_find(struct execd_conf *c, const char *name)
{
	struct module	*m;

	if (c == NULL || name == NULL)
		return (NULL);
	TAILQ_FOREACH(m, &c->modules, entry)
		if (strcmp(m->name, name) == 0)
			return (m);
	return (NULL);
}

static void
module_free(struct module *m)
{
	int	i;

	for (i = 0; i < m->argc; i++)
		free(m->argv[i]);
	for (i = 0; i < m->nenv; i++)
		free(m->env[i]);
	free(m);
}

static int
set_macro(const char *name, const char *value)
{
	if (conffile_symset(name, value, 0) == -1) {
		yyerror("invalid macro name '%s'", name);
		return (-1);
	}
	return (0);
}

static int
set_string(char *dst, size_t size, const char *src, const char *what)
{
	if (*src == '\0') {
		yyerror("%s: empty", what);
		return (-1);
	}
	if (strlcpy(dst, src, size) >= size) {
		yyerror("%s: too long", what);
		return (-1);
	}
	return (0);
}

/* As imapxd's: canonical names user@domain are kept in lower case. */
static int
set_domain(char *dst, size_t size, const char *src)
{
	const char	*p;
	char		*q;

	for (p = src; *p != '\0'; p++)
		if (*p == '@' || *p == '/' || !isgraph((unsigned char)*p)) {
			yyerror("invalid domain '%s'", src);
			return (-1);
		}
	if (set_string(dst, size, src, "domain") == -1)
		return (-1);
	for (q = dst; *q != '\0'; q++)
		*q = tolower((unsigned char)*q);
	return (0);
}

static int
check_range(const char *what, long long n, long long min, long long max)
{
	if (n < min || n > max) {
		yyerror("%s %lld out of range (%lld..%lld)", what, n, min,
		    max);
		return (-1);
	}
	return (0);
}

/*
 * The policy says which programs run as which users: whoever can change
 * a policy file, or swap one in its directory, can run what he likes as
 * any of them.  So every file, the main one and each one included, must
 * belong to root (or to us) and neither it nor its directory may be
 * writable by group or others.  Reading is harmless: no secrets here.
 * What cannot be opened at all is left to conffile to report.
 */
static int
check_policy_file(const char *path, int included)
{
	struct stat	 st;
	char		 dir[PATH_MAX], msg[PATH_MAX + 128];

	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return (0);
	msg[0] = '\0';
	if (st.st_uid != 0 && st.st_uid != geteuid())
		snprintf(msg, sizeof(msg), "owner is neither root nor the "
		    "current user");
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(msg, sizeof(msg), "writable by group or others "
		    "(mode %03o)", (unsigned int)(st.st_mode & 0777));
	else if (check_dir_of(path, &st, dir, sizeof(dir)) == -1)
		snprintf(msg, sizeof(msg), "directory %s is writable by "
		    "group or others (mode %03o)", dir,
		    (unsigned int)(st.st_mode & 0777));
	if (msg[0] == '\0')
		return (0);
	if (included)
		yyerror("include %s: %s", path, msg);
	else
		log_warnx("%s: %s", path, msg);
	return (-1);
}

/*
 * -1 if the directory of path is writable by group or others; st is
 * then its stat, dir its name.  A directory that cannot be looked at
 * passes: opening the file in it will fail.
 */
static int
check_dir_of(const char *path, struct stat *st, char *dir, size_t len)
{
	char	*p;

	strlcpy(dir, path, len);
	if ((p = strrchr(dir, '/')) == NULL)
		strlcpy(dir, ".", len);
	else if (p == dir)
		p[1] = '\0';
	else
		*p = '\0';
	if (stat(dir, st) == -1)
		return (0);
	return ((st->st_mode & (S_IWGRP | S_IWOTH)) ? -1 : 0);
}

/* include: the permission check first, for every file it names. */
static void
policy_include(const char *pattern)
{
	glob_t	g;
	size_t	i;
	int	bad = 0;

	memset(&g, 0, sizeof(g));
	if (glob(pattern, GLOB_NOMAGIC, NULL, &g) == 0)
		for (i = 0; i < g.gl_pathc; i++)
			if (check_policy_file(g.gl_pathv[i], 1) == -1)
				bad++;
	globfree(&g);
	if (bad == 0)
		conffile_include(pattern);
}

/*
 * Modules
 */

static int
valid_module_name(const char *name)
{
	size_t	len = strlen(name);

	return (len > 0 && len < MODULE_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len);
}

/*
 * A module with a bad or duplicate name is still read, so that the
 * errors in its body are reported too, and then dropped.
 */
static void
module_begin(const char *name, int line)
{
	struct module	*old;

	if ((mod = calloc(1, sizeof(*mod))) == NULL)
		fatal("%s", __func__);
	strlcpy(mod_file, conffile_name(), sizeof(mod_file));
	snprintf(mod->where, sizeof(mod->where), "%s:%d", mod_file, line);
	strlcpy(mod->name, name, sizeof(mod->name));
	mod_ok = 1;
	if (!valid_module_name(name)) {
		yyerror("invalid module name '%s' (1 to %d of a-z, 0-9, "
		    "'_' and '-')", name, MODULE_NAME_MAX - 1);
		mod_ok = 0;
	} else if ((old = module_find(conf, name)) != NULL) {
		yyerror("module %s already defined at %s", name, old->where);
		mod_ok = 0;
	}
	program_line = argv_line = stdin_line = runas_line = allow_line = 0;
	chroot_line = 0;
	cpu_set = 0;

	mod->arg_maxlen = DEF_ARG_MAXLEN;
	mod->timeout = DEF_TIMEOUT;
	mod->kill_grace = DEF_KILL_GRACE;
	mod->memory = DEF_MEMORY;
	mod->nofile = DEF_NOFILE;
	mod->nproc = DEF_NPROC;
	mod->fsize = DEF_FSIZE;
	mod->output_max = DEF_OUTPUT;
	mod->lines_max = DEF_LINES;
	mod->rate = DEF_RATE;
	mod->conc_user = DEF_CONC_USER;
	mod->conc_module = DEF_CONC_MODULE;
}

static void
module_end(void)
{
	if (strcmp(conffile_name(), mod_file) != 0)
		yyerror("module %s, begun at %s, ends in another file",
		    mod->name, mod->where);
	check_module();
	if (mod_ok)
		TAILQ_INSERT_TAIL(&conf->modules, mod, entry);
	else
		module_free(mod);
	mod = NULL;
}

/* An error found at the end of a module, reported where it belongs. */
static void
module_error(int line, const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: module %s: %s", mod_file, line, mod->name, msg);
	errors++;
}

/* What can only be checked once the whole module has been read. */
static void
check_module(void)
{
	struct stat	st;
	int		chroot_ok = 1;

	if (mod->chroot[0] != '\0') {
		if (stat(mod->chroot, &st) == -1) {
			module_error(chroot_line, "chroot %s: %s",
			    mod->chroot, strerror(errno));
			chroot_ok = 0;
		} else if (!S_ISDIR(st.st_mode)) {
			module_error(chroot_line, "chroot %s: not a directory",
			    mod->chroot);
			chroot_ok = 0;
		}
	}
	/* a statement that was there but wrong has been reported */
	if (program_line == 0)
		module_error(mod_line, "no program");
	else if (mod->program[0] != '\0' && chroot_ok)
		check_program();
	if (runas_line == 0)
		module_error(mod_line, "no run as");
	if (allow_line == 0)
		module_error(mod_line, "no allow: nobody could run it");
	if (mod->interactive && mod->args_stdin)
		module_error(stdin_line, "arguments on stdin: not with "
		    "interactive, whose stdin is the session");
	check_argv();
	if (!cpu_set)
		mod->cpu = mod->timeout;
}

/*
 * The program is run as it is named, no PATH search, no shell: it must
 * be there, be executable and be changeable by no one but its owner.
 * With a chroot it is named as seen inside it.
 */
static void
check_program(void)
{
	struct stat	 st;
	char		 path[PATH_MAX * 2], dir[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s%s", mod->chroot, mod->program);
	if (stat(path, &st) == -1) {
		module_error(program_line, "program %s: %s", path,
		    strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode))
		module_error(program_line, "program %s: not a regular file",
		    path);
	else if ((st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0)
		module_error(program_line, "program %s: not executable",
		    path);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		module_error(program_line, "program %s: writable by group "
		    "or others (mode %03o)", path,
		    (unsigned int)(st.st_mode & 0777));
	else if (check_dir_of(path, &st, dir, sizeof(dir)) == -1)
		module_error(program_line, "program %s: directory %s is "
		    "writable by group or others (mode %03o)", path, dir,
		    (unsigned int)(st.st_mode & 0777));
}

/*
 * Without argv the program gets its base name and the client's
 * arguments.  %N must name an argument the client always gives, and
 * arguments that go on stdin have no place on argv.
 */
static void
check_argv(void)
{
	const char	*base, *p;
	int		 i;

	if (argv_line == 0 && mod->program[0] != '\0') {
		base = strrchr(mod->program, '/') + 1;
		if ((mod->argv[0] = strdup(base)) == NULL)
			fatal("%s", __func__);
		mod->argc = 1;
		if (!mod->args_stdin) {
			if ((mod->argv[1] = strdup("%a")) == NULL)
				fatal("%s", __func__);
			mod->argc = 2;
		}
		return;
	}
	for (i = 0; i < mod->argc; i++)
		for (p = mod->argv[i]; (p = strchr(p, '%')) != NULL; p += 2) {
			if (p[1] == 'a' && mod->args_stdin) {
				module_error(argv_line, "argv %s: the "
				    "arguments go on stdin", mod->argv[i]);
				break;
			}
			if (p[1] < '1' || p[1] > '9')
				continue;
			if (mod->args_stdin) {
				module_error(argv_line, "argv %s: the "
				    "arguments go on stdin", mod->argv[i]);
				break;
			}
			if (p[1] - '0' > mod->args_min) {
				module_error(argv_line, "argv %s: %%%c needs "
				    "arguments %c or more", mod->argv[i],
				    p[1], p[1]);
				break;
			}
		}
}

/*
 * %-sequences in a template: those in allowed, and %% for '%'.
 * Returns -1 after reporting the first bad one.
 */
static int
check_template(const char *what, const char *s, const char *allowed)
{
	const char	*p;

	for (p = s; (p = strchr(p, '%')) != NULL; p += 2) {
		if (p[1] == '\0') {
			yyerror("%s %s: '%%' at the end (write %%%% for '%%')",
			    what, s);
			return (-1);
		}
		if (p[1] != '%' && strchr(allowed, p[1]) == NULL) {
			yyerror("%s %s: unknown %%%c", what, s, p[1]);
			return (-1);
		}
	}
	return (0);
}

static void
set_description(const char *s)
{
	const char	*p;

	for (p = s; *p != '\0'; p++)
		if (iscntrl((unsigned char)*p)) {
			yyerror("description: control character");
			return;
		}
	if (strlcpy(mod->descr, s, sizeof(mod->descr)) >= sizeof(mod->descr))
		yyerror("description: longer than %zu bytes",
		    sizeof(mod->descr) - 1);
}

static void
set_program(const char *path)
{
	program_line = conffile_lineno();
	if (path[0] != '/') {
		yyerror("program %s: not an absolute path", path);
		return;
	}
	set_string(mod->program, sizeof(mod->program), path, "program");
}

/* "user" or "user:group"; the group is the user's own if not named. */
static void
set_runas(const char *spec)
{
	struct passwd	*pw;
	struct group	*gr;
	char		 user[sizeof(mod->runas_user)];
	const char	*group, *colon;
	size_t		 len;

	runas_line = conffile_lineno();
	colon = strchr(spec, ':');
	len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	if (len == 0 || len >= sizeof(user) ||
	    (colon != NULL && (colon[1] == '\0' ||
	    strlen(colon + 1) >= sizeof(mod->runas_group)))) {
		yyerror("run as %s: expected user or user:group", spec);
		return;
	}
	memcpy(user, spec, len);
	user[len] = '\0';
	group = colon != NULL ? colon + 1 : NULL;

	if ((pw = getpwnam(user)) == NULL) {
		yyerror("run as %s: unknown user %s", spec, user);
		return;
	}
	if (pw->pw_uid == 0) {
		yyerror("run as %s: user %s has uid 0, refused", spec, user);
		return;
	}
	mod->uid = pw->pw_uid;
	mod->gid = pw->pw_gid;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL) {
			yyerror("run as %s: unknown group %s", spec, group);
			return;
		}
		mod->gid = gr->gr_gid;
		strlcpy(mod->runas_group, group, sizeof(mod->runas_group));
	} else if ((gr = getgrgid(mod->gid)) != NULL)
		strlcpy(mod->runas_group, gr->gr_name,
		    sizeof(mod->runas_group));
	else
		snprintf(mod->runas_group, sizeof(mod->runas_group), "%u",
		    (unsigned int)mod->gid);
	if (mod->gid == 0) {
		yyerror("run as %s: group %s has gid 0, refused", spec,
		    mod->runas_group);
		return;
	}
	strlcpy(mod->runas_user, user, sizeof(mod->runas_user));
}

/*
 * The whole argument must match: the pattern is kept anchored at both
 * ends, as ^(pattern)$, so that execd need not remember to.
 */
static void
set_pattern(const char *re)
{
	regex_t	 preg;
	char	 anchored[sizeof(mod->arg_pattern)], msg[256];
	int	 rc;

	if (*re == '\0') {
		yyerror("argument pattern: empty");
		return;
	}
	if ((size_t)snprintf(anchored, sizeof(anchored), "^(%s)$", re) >=
	    sizeof(anchored)) {
		yyerror("argument pattern: longer than %zu bytes",
		    sizeof(anchored) - 5);
		return;
	}
	/* Alone first: a stray ')' must not pair with the anchoring. */
	if ((rc = regcomp(&preg, re, REG_EXTENDED | REG_NOSUB)) == 0) {
		regfree(&preg);
		rc = regcomp(&preg, anchored, REG_EXTENDED | REG_NOSUB);
	}
	if (rc != 0) {
		regerror(rc, &preg, msg, sizeof(msg));
		yyerror("argument pattern %s: %s", re, msg);
		return;
	}
	regfree(&preg);
	strlcpy(mod->arg_pattern, anchored, sizeof(mod->arg_pattern));
}

/* %a is the client's arguments, each its own word: a word alone. */
static void
add_argv(const char *word)
{
	int	i;

	if (mod->argc >= MODULE_ARGV_MAX) {
		yyerror("argv: more than %d words", MODULE_ARGV_MAX);
		return;
	}
	if (strlen(word) >= TEMPLATE_MAX) {
		yyerror("argv: word longer than %d bytes", TEMPLATE_MAX - 1);
		return;
	}
	if (check_template("argv", word, "uld123456789a") == -1)
		return;
	if (strstr(word, "%a") != NULL && strcmp(word, "%a") != 0) {
		yyerror("argv %s: %%a must be a word of its own", word);
		return;
	}
	if (strcmp(word, "%a") == 0) {
		if (mod->argc == 0) {
			yyerror("argv: the first word, argv[0], cannot be "
			    "%%a");
			return;
		}
		for (i = 0; i < mod->argc; i++)
			if (strcmp(mod->argv[i], "%a") == 0) {
				yyerror("argv: %%a more than once");
				return;
			}
	}
	if ((mod->argv[mod->argc] = strdup(word)) == NULL)
		fatal("%s", __func__);
	mod->argc++;
}

static void
add_who(int kind, const char *name)
{
	struct who	*w;
	const char	*p;
	char		*q;

	allow_line = conffile_lineno();
	if (mod->nwho >= MODULE_WHO_MAX) {
		yyerror("allow: more than %d", MODULE_WHO_MAX);
		return;
	}
	w = &mod->who[mod->nwho];
	w->kind = kind;
	if (kind == WHO_ANY) {
		w->pattern[0] = '\0';
		mod->nwho++;
		return;
	}
	for (p = name; *p != '\0'; p++)
		if (!isgraph((unsigned char)*p)) {
			yyerror("allow %s '%s': white space or control "
			    "character", kind == WHO_USER ? "user" : "group",
			    name);
			return;
		}
	if (set_string(w->pattern, sizeof(w->pattern), name,
	    kind == WHO_USER ? "allow user" : "allow group") == -1)
		return;
	if (kind == WHO_GROUP && getgrnam(name) == NULL) {
		yyerror("allow group %s: unknown group", name);
		return;
	}
	/* canonical names are lower case */
	if (kind == WHO_USER)
		for (q = w->pattern; *q != '\0'; q++)
			*q = tolower((unsigned char)*q);
	mod->nwho++;
}

/*
 * Paths are templates too, but only the user's name goes in: never a
 * client argument.  No ".." either, whatever the expansion.
 */
static void
add_path(int perms, const char *path)
{
	const char	*what = perms & PATH_WRITE ? "write" : "read";
	struct modpath	*mp;
	const char	*p;
	size_t		 n;

	if (mod->npaths >= MODULE_PATHS_MAX) {
		yyerror("read and write: more than %d paths",
		    MODULE_PATHS_MAX);
		return;
	}
	if (path[0] != '/') {
		yyerror("%s %s: not an absolute path", what, path);
		return;
	}
	for (p = path; *p != '\0'; p += n) {
		p += strspn(p, "/");
		n = strcspn(p, "/");
		if (n == 2 && strncmp(p, "..", 2) == 0) {
			yyerror("%s %s: '..' is refused", what, path);
			return;
		}
	}
	if (check_template(what, path, "uld") == -1)
		return;
	mp = &mod->paths[mod->npaths];
	if (set_string(mp->path, sizeof(mp->path), path, what) == -1)
		return;
	mp->perms = perms;
	mod->npaths++;
}

/* NAME=value, nothing expanded; a name once. */
static void
add_env(const char *s)
{
	const char	*eq, *p;
	size_t		 len;
	int		 i;

	if (mod->nenv >= MODULE_ENV_MAX) {
		yyerror("env: more than %d variables", MODULE_ENV_MAX);
		return;
	}
	eq = strchr(s, '=');
	len = eq != NULL ? (size_t)(eq - s) : 0;
	if (len == 0 || (!isalpha((unsigned char)s[0]) && s[0] != '_') ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_") != len) {
		yyerror("env %s: expected NAME=value", s);
		return;
	}
	for (p = eq; *p != '\0'; p++)
		if (iscntrl((unsigned char)*p)) {
			yyerror("env %.*s: control character in the value",
			    (int)len, s);
			return;
		}
	if (strlen(s) >= TEMPLATE_MAX) {
		yyerror("env %.*s: longer than %d bytes", (int)len, s,
		    TEMPLATE_MAX - 1);
		return;
	}
	for (i = 0; i < mod->nenv; i++)
		if (strncmp(mod->env[i], s, len + 1) == 0) {
			yyerror("env %.*s: set twice", (int)len, s);
			return;
		}
	if ((mod->env[mod->nenv] = strdup(s)) == NULL)
		fatal("%s", __func__);
	mod->nenv++;
}
