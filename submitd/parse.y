/*
 * submitd.conf(5): the grammar.  Files, macros and the lexer are in
 * common/conffile.c; this file has the keywords, the rules and what they
 * fill in struct submitd_conf (submitd.h).  The file may hold the relay's
 * password, so it must be readable by its owner alone; the relay's name
 * is resolved here, before submitd leaves the file system behind.
 */

%{
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sodium.h>

#include "conffile.h"
#include "log.h"
#include "submitd.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

int		 yyparse(void);
int		 yylex(void);
int		 yyerror(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

static int	 set_string(char *, size_t, const char *, const char *);
static int	 check_range(const char *, long long, long long, long long);
static int	 valid_address(const char *);
static void	 rule_begin(const char *);
static void	 rule_add(const char *);
static void	 rule_free(struct fromrule *);
static int	 resolve_relay(void);

static struct submitd_conf	*conf;
static struct fromrule		*rule;		/* the allow being read */
static int			 errors;	/* not counted by conffile */

typedef struct {
	union {
		long long	 number;
		char		*string;
	} v;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

%}

%token	ALLOW AUTH CA CONCURRENCY FROM HOSTNAME INCLUDE LIMIT NAME NO NONE
%token	NOVERIFY PASSWORD PORT RATE RECIPIENTS RELAY REQUIRE SENT SIZE SMTPS
%token	SPOOL STARTTLS TIMEOUT TLS USER
%token	ERROR
%token	<v.string>	STRING
%token	<v.number>	NUMBER

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include '\n'
		| grammar varset '\n'
		| grammar main '\n'
		| grammar error '\n'		{ yyerrok; }
		;

include		: INCLUDE STRING		{
			if (conffile_include($2) == -1)
				YYERROR;
		}
		;

varset		: STRING '=' STRING		{
			if (conffile_symset($1, $3, 0) == -1) {
				yyerror("bad macro name %s", $1);
				YYERROR;
			}
		}
		;

main		: USER STRING			{
			if (set_string(conf->user, sizeof(conf->user), $2,
			    "user") == -1)
				YYERROR;
		}
		| SPOOL STRING			{
			if ($2[0] != '/') {
				yyerror("spool %s: not an absolute path", $2);
				YYERROR;
			}
			if (set_string(conf->spool, sizeof(conf->spool), $2,
			    "spool") == -1)
				YYERROR;
		}
		| HOSTNAME STRING		{
			if (set_string(conf->hostname, sizeof(conf->hostname),
			    $2, "hostname") == -1)
				YYERROR;
		}
		| RELAY STRING			{
			if (set_string(conf->relay_host,
			    sizeof(conf->relay_host), $2, "relay") == -1)
				YYERROR;
		} relayopts
		| RELAY AUTH STRING PASSWORD STRING	{
			if (set_string(conf->auth_user, sizeof(conf->auth_user),
			    $3, "relay auth") == -1)
				YYERROR;
			if (conf->auth_pass != NULL) {
				sodium_memzero(conf->auth_pass,
				    strlen(conf->auth_pass));
				free(conf->auth_pass);
			}
			if ((conf->auth_pass = strdup($5)) == NULL)
				fatal("%s", __func__);
			sodium_memzero($5, strlen($5));
		}
		| LIMIT SIZE NUMBER		{
			if (check_range("limit size", $3, 1024,
			    1024LL * 1024 * 1024) == -1)
				YYERROR;
			conf->size_max = $3;
		}
		| LIMIT RECIPIENTS NUMBER	{
			if (check_range("limit recipients", $3, 1, 10000) == -1)
				YYERROR;
			conf->rcpt_max = $3;
		}
		| LIMIT RATE NUMBER		{
			if (check_range("limit rate", $3, 0, 100000) == -1)
				YYERROR;
			conf->rate = $3;
		}
		| LIMIT CONCURRENCY NUMBER	{
			if (check_range("limit concurrency", $3, 1, 10000) ==
			    -1)
				YYERROR;
			conf->concurrency = $3;
		}
		| TIMEOUT NUMBER		{
			if (check_range("timeout", $2, 1, 3600) == -1)
				YYERROR;
			conf->timeout = $2;
		}
		| SENT STRING			{
			if ($2[0] == '\0' || strpbrk($2, "\"\\\r\n") != NULL) {
				yyerror("sent %s: not a mailbox name imapx "
				    "can quote", $2);
				YYERROR;
			}
			if (set_string(conf->sentbox, sizeof(conf->sentbox),
			    $2, "sent") == -1)
				YYERROR;
		}
		| SENT NONE			{ conf->sentbox[0] = '\0'; }
		| ALLOW STRING FROM		{ rule_begin($2); } addrlist
		;

relayopts	: /* empty */
		| relayopts relayopt
		;

relayopt	: PORT NUMBER			{
			if (check_range("port", $2, 1, 65535) == -1)
				YYERROR;
			snprintf(conf->relay_port, sizeof(conf->relay_port),
			    "%lld", $2);
		}
		| PORT STRING			{
			if (set_string(conf->relay_port,
			    sizeof(conf->relay_port), $2, "port") == -1)
				YYERROR;
		}
		| TLS NO			{ conf->relay_tls = SMTP_TLS_NO; }
		| TLS STARTTLS		{ conf->relay_tls = SMTP_TLS_STARTTLS; }
		| TLS REQUIRE		{ conf->relay_tls = SMTP_TLS_REQUIRE; }
		| TLS SMTPS		{ conf->relay_tls = SMTP_TLS_SMTPS; }
		| CA STRING			{
			if (set_string(conf->relay_ca, sizeof(conf->relay_ca),
			    $2, "ca") == -1)
				YYERROR;
		}
		| NOVERIFY			{ conf->relay_noverify = 1; }
		| NAME STRING			{
			if (set_string(conf->relay_name,
			    sizeof(conf->relay_name), $2, "name") == -1)
				YYERROR;
		}
		;

addrlist	: addr
		| addrlist addr
		;

addr		: STRING			{ rule_add($1); }
		;

%%

static const struct conffile_keyword keywords[] = {
	{ "allow",		ALLOW },
	{ "auth",		AUTH },
	{ "ca",			CA },
	{ "concurrency",	CONCURRENCY },
	{ "from",		FROM },
	{ "hostname",		HOSTNAME },
	{ "include",		INCLUDE },
	{ "limit",		LIMIT },
	{ "name",		NAME },
	{ "no",			NO },
	{ "none",		NONE },
	{ "noverify",		NOVERIFY },
	{ "password",		PASSWORD },
	{ "port",		PORT },
	{ "rate",		RATE },
	{ "recipients",		RECIPIENTS },
	{ "relay",		RELAY },
	{ "require",		REQUIRE },
	{ "sent",		SENT },
	{ "size",		SIZE },
	{ "smtps",		SMTPS },
	{ "spool",		SPOOL },
	{ "starttls",		STARTTLS },
	{ "timeout",		TIMEOUT },
	{ "tls",		TLS },
	{ "user",		USER },
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

static int
set_string(char *dst, size_t dstsz, const char *src, const char *what)
{
	if (strlcpy(dst, src, dstsz) >= dstsz) {
		yyerror("%s: \"%s\" is too long", what, src);
		return (-1);
	}
	return (0);
}

static int
check_range(const char *what, long long v, long long min, long long max)
{
	if (v < min || v > max) {
		yyerror("%s %lld: not in %lld to %lld", what, v, min, max);
		return (-1);
	}
	return (0);
}

/* "local@domain" or "@domain": printable, no spaces, one '@'. */
static int
valid_address(const char *a)
{
	const char	*at, *p;

	if ((at = strchr(a, '@')) == NULL || strchr(at + 1, '@') != NULL ||
	    at[1] == '\0' || strlen(a) >= 320)
		return (0);
	for (p = a; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 127 || strchr("<>()[],;:\\\"", *p))
			return (0);
	return (1);
}

static void
rule_begin(const char *user)
{
	if ((rule = calloc(1, sizeof(*rule))) == NULL)
		fatal("%s", __func__);
	if (strlcpy(rule->user, user, sizeof(rule->user)) >=
	    sizeof(rule->user) ||
	    (strcmp(user, "*") != 0 && !valid_address(user))) {
		yyerror("allow %s: not a user@domain or \"*\"", user);
		errors++;
	}
	TAILQ_INSERT_TAIL(&conf->fromrules, rule, entry);
}

static void
rule_add(const char *addr)
{
	char	**n;

	if (!valid_address(addr)) {
		yyerror("allow %s from %s: not an address or @domain",
		    rule->user, addr);
		errors++;
		return;
	}
	if ((n = reallocarray(rule->addrs, rule->naddrs + 1,
	    sizeof(*n))) == NULL || (n[rule->naddrs] = strdup(addr)) == NULL)
		fatal("%s", __func__);
	rule->addrs = n;
	rule->naddrs++;
}

static void
rule_free(struct fromrule *r)
{
	size_t	i;

	for (i = 0; i < r->naddrs; i++)
		free(r->addrs[i]);
	free(r->addrs);
	free(r);
}

/* The relay's address, now: the chroot has no resolver files. */
static int
resolve_relay(void)
{
	struct addrinfo	 hints, *res;
	int		 e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(conf->relay_host, conf->relay_port, &hints,
	    &res)) != 0) {
		log_warnx("relay %s port %s: %s", conf->relay_host,
		    conf->relay_port, gai_strerror(e));
		return (-1);
	}
	memcpy(&conf->relay_addr, res->ai_addr, res->ai_addrlen);
	conf->relay_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return (0);
}

/*
 * The addresses `user` may put in From and Sender besides its own: those
 * of its own rules and of the "*" rules, at most `max`.
 */
size_t
submitd_allowed(const struct submitd_conf *c, const char *user,
    const char **out, size_t max)
{
	struct fromrule	*r;
	size_t		 i, n = 0;

	TAILQ_FOREACH(r, &c->fromrules, entry) {
		if (strcmp(r->user, "*") != 0 && strcasecmp(r->user, user) != 0)
			continue;
		for (i = 0; i < r->naddrs && n < max; i++)
			out[n++] = r->addrs[i];
	}
	return (n);
}

struct submitd_conf *
submitd_parse_config(const char *path)
{
	int	nerrors;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		fatal("%s", __func__);
	TAILQ_INIT(&conf->fromrules);
	strlcpy(conf->user, SUBMITD_USER, sizeof(conf->user));
	strlcpy(conf->spool, SUBMITD_SPOOL, sizeof(conf->spool));
	strlcpy(conf->relay_host, "localhost", sizeof(conf->relay_host));
	strlcpy(conf->relay_port, "25", sizeof(conf->relay_port));
	conf->relay_tls = SMTP_TLS_STARTTLS;
	conf->size_max = DEF_SIZE_MAX;
	conf->rcpt_max = DEF_RCPT_MAX;
	conf->rate = DEF_RATE;
	conf->timeout = DEF_TIMEOUT;
	conf->concurrency = DEF_CONCURRENCY;
	if (gethostname(conf->hostname, sizeof(conf->hostname)) == -1)
		strlcpy(conf->hostname, "localhost", sizeof(conf->hostname));
	rule = NULL;
	errors = 0;

	/* it may hold the relay's password: its owner's eyes only */
	if (conffile_open(path, 1) == -1) {
		submitd_config_free(conf);
		conf = NULL;
		return (NULL);
	}
	yyparse();
	nerrors = conffile_close() + errors;
	if (nerrors == 0 && (conf->auth_user[0] != '\0') !=
	    (conf->auth_pass != NULL)) {
		log_warnx("%s: relay auth needs a user and a password", path);
		nerrors++;
	}
	if (nerrors == 0 && conf->auth_user[0] != '\0' &&
	    conf->relay_tls == SMTP_TLS_STARTTLS) {
		/* never send the password in the clear by accident */
		conf->relay_tls = SMTP_TLS_REQUIRE;
	}
	if (nerrors == 0 && getpwnam(conf->user) == NULL) {
		log_warnx("%s: user %s does not exist", path, conf->user);
		nerrors++;
	}
	if (nerrors == 0 && resolve_relay() == -1)
		nerrors++;
	if (nerrors > 0) {
		submitd_config_free(conf);
		conf = NULL;
		return (NULL);
	}
	return (conf);
}

void
submitd_config_free(struct submitd_conf *c)
{
	struct fromrule	*r;

	if (c == NULL)
		return;
	while ((r = TAILQ_FIRST(&c->fromrules)) != NULL) {
		TAILQ_REMOVE(&c->fromrules, r, entry);
		rule_free(r);
	}
	if (c->auth_pass != NULL) {
		sodium_memzero(c->auth_pass, strlen(c->auth_pass));
		free(c->auth_pass);
	}
	free(c);
}

int
submitd_cmdline_symset(char *s)
{
	return (conffile_cmdline_symset(s));
}
