/*
 * imapxd.conf(5): the grammar.  Files, macros and the lexer are in
 * common/conffile.c; this file has the keywords, the rules and what they
 * fill in struct imapxd_conf (config.h).  Host names are resolved here,
 * in the parent: the children are chrooted and cannot.
 */

%{
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"
#include "config.h"
#include "log.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define SUN_PATH_MAX	sizeof(((struct sockaddr_un *)0)->sun_path)

int		 yyparse(void);
int		 yylex(void);
int		 yyerror(const char *, ...)
		    __attribute__((__format__ (printf, 1, 2)));

struct listen_opts {
	int		 flags;		/* LISTEN_* */
	int		 port;		/* -1: by flags */
};

struct backend_opts {
	int		 flags;		/* BACKEND_* */
	int		 port;		/* -1: by flags */
	const char	*domain;	/* NULL: default backend */
};

static int	 set_macro(const char *, const char *);
static int	 set_string(char *, size_t, const char *, const char *);
static int	 set_domain(char *, size_t, const char *);
static int	 check_range(const char *, long long, long long, long long);
static int	 add_listeners(const char *, struct listen_opts *);
static int	 add_backend(const char *, struct backend_opts *);
static int	 addr_name(const struct sockaddr *, socklen_t, char *, size_t);
static int	 check_config(const char *);

static int	 service_index(const char *);

static const char *service_names[SVC_MAX] = { "execd", "submitd", "notifyd" };

static struct imapxd_conf	*conf;
static int			 cursvc;
static struct listen_opts	 lopts;
static struct backend_opts	 bopts;
static char			 tls_listener_at[PATH_MAX + 16];

typedef struct {
	union {
		long long	 number;
		char		*string;
	} v;
} YYSTYPE;
#define YYSTYPE_IS_DECLARED 1

%}

%token	BACKEND CA CERTIFICATE CHROOT CONNECTIONS CONTROL DOMAIN FORWARDID
%token	IDLE IMSP INCLUDE KEY LIMIT LINE LISTEN LITERAL LOGIN LOGINCMDS
%token	LOGINLINE LOGINLITERAL NOVERIFY ON PERADDRESS PERUSER PORT PREFORK
%token	SESSIONS SOCKET STARTTLS TIMEOUT TLS USER SERVICE PROGRAM CONFIG
%token	ERROR
%token	<v.string>	STRING
%token	<v.number>	NUMBER
%type	<v.number>	port

%%

grammar		: /* empty */
		| grammar '\n'
		| grammar include '\n'
		| grammar varset '\n'
		| grammar main '\n'
		| grammar listen '\n'
		| grammar backend '\n'
		| grammar limit '\n'
		| grammar timeout '\n'
		| grammar service '\n'
		| grammar error '\n'		{ yyerrok; }
		;

include		: INCLUDE STRING		{ conffile_include($2); }
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

main		: USER STRING			{
			if (set_string(conf->user, sizeof(conf->user), $2,
			    "user") == -1)
				YYERROR;
		}
		| CHROOT STRING			{
			if ($2[0] != '/') {
				yyerror("chroot %s: not an absolute path", $2);
				YYERROR;
			}
			if (set_string(conf->chroot, sizeof(conf->chroot), $2,
			    "chroot") == -1)
				YYERROR;
		}
		| DOMAIN STRING			{
			if (set_domain(conf->domain, sizeof(conf->domain),
			    $2) == -1)
				YYERROR;
		}
		| CONTROL SOCKET STRING		{
			/* It must fit where bind(2) will put it. */
			if (set_string(conf->ctlsock, SUN_PATH_MAX, $3,
			    "control socket") == -1)
				YYERROR;
		}
		| PREFORK NUMBER		{
			if (check_range("prefork", $2, 0, 64) == -1)
				YYERROR;
			conf->prefork = $2;
		}
		| TLS CERTIFICATE STRING	{
			if (set_string(conf->tls_cert, sizeof(conf->tls_cert),
			    $3, "tls certificate") == -1)
				YYERROR;
		}
		| TLS KEY STRING		{
			if (set_string(conf->tls_key, sizeof(conf->tls_key),
			    $3, "tls key") == -1)
				YYERROR;
		}
		| TLS CA STRING			{
			if (set_string(conf->tls_ca, sizeof(conf->tls_ca),
			    $3, "tls ca") == -1)
				YYERROR;
		}
		;

/* service execd [program "path"] [config "path"] */
service		: SERVICE STRING		{
			if ((cursvc = service_index($2)) == -1) {
				yyerror("unknown service %s", $2);
				YYERROR;
			}
			conf->services[cursvc].enabled = 1;
		} serviceopts
		;

serviceopts	: /* empty */
		| serviceopts serviceopt
		;

serviceopt	: PROGRAM STRING		{
			if ($2[0] != '/') {
				yyerror("program %s: not an absolute path", $2);
				YYERROR;
			}
			if (set_string(conf->services[cursvc].program,
			    sizeof(conf->services[cursvc].program), $2,
			    "program") == -1)
				YYERROR;
		}
		| CONFIG STRING			{
			if (set_string(conf->services[cursvc].config,
			    sizeof(conf->services[cursvc].config), $2,
			    "config") == -1)
				YYERROR;
		}
		;

listen		: LISTEN ON STRING		{
			lopts.flags = 0;
			lopts.port = -1;
		} listenopts			{
			if (add_listeners($3, &lopts) == -1)
				YYERROR;
		}
		;

listenopts	: /* empty */
		| listenopts listenopt
		;

listenopt	: PORT port			{
			if (lopts.port != -1) {
				yyerror("port given twice");
				YYERROR;
			}
			lopts.port = $2;
		}
		| TLS				{ lopts.flags |= LISTEN_TLS; }
		| IMSP				{ lopts.flags |= LISTEN_IMSP; }
		;

backend		: BACKEND STRING		{
			bopts.flags = 0;
			bopts.port = -1;
			bopts.domain = NULL;
		} backendopts			{
			if (add_backend($2, &bopts) == -1)
				YYERROR;
		}
		;

backendopts	: /* empty */
		| backendopts backendopt
		;

backendopt	: PORT port			{
			if (bopts.port != -1) {
				yyerror("port given twice");
				YYERROR;
			}
			bopts.port = $2;
		}
		| TLS				{ bopts.flags |= BACKEND_TLS; }
		| STARTTLS			{
			bopts.flags |= BACKEND_STARTTLS;
		}
		| NOVERIFY			{
			bopts.flags |= BACKEND_NOVERIFY;
		}
		| FORWARDID			{
			bopts.flags |= BACKEND_FORWARD_ID;
		}
		| DOMAIN STRING			{
			if (bopts.domain != NULL) {
				yyerror("domain given twice");
				YYERROR;
			}
			bopts.domain = $2;
		}
		;

port		: NUMBER			{
			if ($1 < 1 || $1 > 65535) {
				yyerror("invalid port %lld", $1);
				YYERROR;
			}
			$$ = $1;
		}
		| STRING			{
			struct servent	*se;
			const char	*errstr;

			/* "1143" quoted, or a service name */
			$$ = strtonum($1, 1, 65535, &errstr);
			if (errstr != NULL) {
				if ((se = getservbyname($1, "tcp")) == NULL) {
					yyerror("invalid port %s", $1);
					YYERROR;
				}
				$$ = ntohs(se->s_port);
			}
		}
		;

limit		: LIMIT CONNECTIONS NUMBER	{
			if (check_range("limit connections", $3, 1,
			    1000000) == -1)
				YYERROR;
			conf->limits.max_conns = $3;
		}
		| LIMIT CONNECTIONS PERADDRESS NUMBER	{
			if (check_range("limit connections per-address", $4,
			    1, 1000000) == -1)
				YYERROR;
			conf->limits.max_conns_addr = $4;
		}
		| LIMIT SESSIONS PERUSER NUMBER	{
			if (check_range("limit sessions per-user", $4, 1,
			    100000) == -1)
				YYERROR;
			conf->limits.max_user_sessions = $4;
		}
		| LIMIT LINE NUMBER		{
			if (check_range("limit line", $3, 1024,
			    64 * 1024 * 1024) == -1)
				YYERROR;
			conf->limits.line_max = $3;
		}
		| LIMIT LITERAL NUMBER		{
			if (check_range("limit literal", $3, 1024,
			    2LL * 1024 * 1024 * 1024) == -1)
				YYERROR;
			conf->limits.literal_max = $3;
		}
		| LIMIT LOGINLINE NUMBER	{
			if (check_range("limit login-line", $3, 1024,
			    1024 * 1024) == -1)
				YYERROR;
			conf->limits.login_line_max = $3;
		}
		| LIMIT LOGINLITERAL NUMBER	{
			if (check_range("limit login-literal", $3, 0,
			    1024 * 1024) == -1)
				YYERROR;
			conf->limits.login_literal_max = $3;
		}
		| LIMIT LOGINCMDS NUMBER	{
			if (check_range("limit login-commands", $3, 1,
			    1000) == -1)
				YYERROR;
			conf->limits.login_cmds = $3;
		}
		;

timeout		: TIMEOUT LOGIN NUMBER		{
			if (check_range("timeout login", $3, 1, 86400) == -1)
				YYERROR;
			conf->limits.login_timeout = $3;
		}
		| TIMEOUT IDLE NUMBER		{
			if (check_range("timeout idle", $3, 1, 86400) == -1)
				YYERROR;
			conf->limits.idle_timeout = $3;
		}
		;

%%

static const struct conffile_keyword keywords[] = {
	{ "backend",		BACKEND },
	{ "ca",			CA },
	{ "certificate",	CERTIFICATE },
	{ "chroot",		CHROOT },
	{ "config",		CONFIG },
	{ "connections",	CONNECTIONS },
	{ "control",		CONTROL },
	{ "domain",		DOMAIN },
	{ "forward-id",		FORWARDID },
	{ "idle",		IDLE },
	{ "imsp",		IMSP },
	{ "include",		INCLUDE },
	{ "key",		KEY },
	{ "limit",		LIMIT },
	{ "line",		LINE },
	{ "listen",		LISTEN },
	{ "literal",		LITERAL },
	{ "login",		LOGIN },
	{ "login-commands",	LOGINCMDS },
	{ "login-line",		LOGINLINE },
	{ "login-literal",	LOGINLITERAL },
	{ "noverify",		NOVERIFY },
	{ "on",			ON },
	{ "per-address",	PERADDRESS },
	{ "per-user",		PERUSER },
	{ "port",		PORT },
	{ "prefork",		PREFORK },
	{ "program",		PROGRAM },
	{ "service",		SERVICE },
	{ "sessions",		SESSIONS },
	{ "socket",		SOCKET },
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
service_index(const char *name)
{
	int	i;

	for (i = 0; i < SVC_MAX; i++)
		if (strcmp(name, service_names[i]) == 0)
			return i;
	return -1;
}

struct imapxd_conf *
parse_config(const char *filename)
{
	static const struct limits	 limits = LIMITS_DEFAULT_INIT;
	int				 errors, i;

	if ((conf = calloc(1, sizeof(*conf))) == NULL)
		fatal("%s", __func__);
	strlcpy(conf->user, IMAPXD_USER, sizeof(conf->user));
	strlcpy(conf->chroot, IMAPXD_CHROOT, sizeof(conf->chroot));
	strlcpy(conf->ctlsock, IMAPXD_CTLSOCK, sizeof(conf->ctlsock));
	for (i = 0; i < SVC_MAX; i++) {
		snprintf(conf->services[i].program,
		    sizeof(conf->services[i].program), "%s/%s", SBINDIR,
		    service_names[i]);
		snprintf(conf->services[i].config,
		    sizeof(conf->services[i].config), "%s/%s.conf", SYSCONFDIR,
		    service_names[i]);
	}
	TAILQ_INIT(&conf->listeners);
	TAILQ_INIT(&conf->backends);
	conf->limits = limits;
	tls_listener_at[0] = '\0';

	if (conffile_open(filename, 0) == -1) {
		config_free(conf);
		return (NULL);
	}
	yyparse();
	errors = conffile_close();
	errors += check_config(filename);

	if (errors > 0) {
		config_free(conf);
		return (NULL);
	}
	return (conf);
}

int
cmdline_symset(char *s)
{
	return (conffile_cmdline_symset(s));
}

/* Frees the structs only: listener descriptors are the caller's. */
void
config_free(struct imapxd_conf *c)
{
	struct listener	*l;
	struct backend	*b;

	if (c == NULL)
		return;
	while ((l = TAILQ_FIRST(&c->listeners)) != NULL) {
		TAILQ_REMOVE(&c->listeners, l, entry);
		free(l);
	}
	while ((b = TAILQ_FIRST(&c->backends)) != NULL) {
		TAILQ_REMOVE(&c->backends, b, entry);
		free(b);
	}
	free(c);
}

/* What can only be checked when the whole file has been read. */
static int
check_config(const char *filename)
{
	int	errors = 0;

	if (TAILQ_EMPTY(&conf->listeners)) {
		log_warnx("%s: no listener", filename);
		errors++;
	}
	if (TAILQ_EMPTY(&conf->backends)) {
		log_warnx("%s: no backend", filename);
		errors++;
	}
	if ((conf->tls_cert[0] == '\0') != (conf->tls_key[0] == '\0')) {
		log_warnx("%s: tls certificate and tls key go together",
		    filename);
		errors++;
	} else if (conf->tls_cert[0] == '\0' && tls_listener_at[0] != '\0') {
		log_warnx("%s: tls listener without tls certificate and "
		    "tls key", tls_listener_at);
		errors++;
	}
	return (errors);
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

/* Domains make canonical names user@domain: kept in lower case. */
static int
set_domain(char *dst, size_t size, const char *src)
{
	const char	*p;
	char		*q;

	for (p = src; *p != '\0'; p++)
		if (*p == '@' || !isgraph((unsigned char)*p)) {
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
 * One listener for every address the host resolves to.  The same address
 * twice from one name is one listener; an address and port that an
 * earlier statement already listens on is an error.
 */
static int
add_listeners(const char *host, struct listen_opts *lo)
{
	struct listenerlist	 new = TAILQ_HEAD_INITIALIZER(new);
	struct addrinfo		 hints, *res, *ai;
	struct listener		*l, *old;
	char			 port[8], name[sizeof(l->name)];
	int			 error, errors = 0;

	if (lo->port == -1) {
		if (lo->flags & LISTEN_IMSP)
			lo->port = 406;
		else if (lo->flags & LISTEN_TLS)
			lo->port = 993;
		else
			lo->port = 143;
	}
	snprintf(port, sizeof(port), "%d", lo->port);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		yyerror("listen on %s: %s", host, gai_strerror(error));
		return (-1);
	}

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (addr_name(ai->ai_addr, ai->ai_addrlen, name,
		    sizeof(name)) == -1 ||
		    ai->ai_addrlen > sizeof(l->ss))
			continue;
		TAILQ_FOREACH(old, &conf->listeners, entry)
			if (strcmp(old->name, name) == 0)
				break;
		if (old != NULL) {
			yyerror("listen on %s: %s already in use", host, name);
			errors++;
			continue;
		}
		TAILQ_FOREACH(old, &new, entry)
			if (strcmp(old->name, name) == 0)
				break;
		if (old != NULL)
			continue;

		if ((l = calloc(1, sizeof(*l))) == NULL)
			fatal("%s", __func__);
		memcpy(&l->ss, ai->ai_addr, ai->ai_addrlen);
		l->sslen = ai->ai_addrlen;
		l->flags = lo->flags;
		l->fd = -1;
		strlcpy(l->name, name, sizeof(l->name));
		TAILQ_INSERT_TAIL(&new, l, entry);
	}
	freeaddrinfo(res);

	if (errors > 0 || TAILQ_EMPTY(&new)) {
		if (errors == 0)
			yyerror("listen on %s: no usable address", host);
		while ((l = TAILQ_FIRST(&new)) != NULL) {
			TAILQ_REMOVE(&new, l, entry);
			free(l);
		}
		return (-1);
	}
	if ((lo->flags & LISTEN_TLS) && tls_listener_at[0] == '\0')
		snprintf(tls_listener_at, sizeof(tls_listener_at), "%s:%d",
		    conffile_name(), conffile_lineno());
	TAILQ_CONCAT(&conf->listeners, &new, entry);
	return (0);
}

/*
 * A backend is one address: the first the host resolves to.  The host
 * name itself is kept for TLS (server name and certificate check).
 */
static int
add_backend(const char *host, struct backend_opts *bo)
{
	struct addrinfo	 hints, *res;
	struct backend	*b, *old;
	char		 port[8];
	int		 error;

	if ((bo->flags & BACKEND_TLS) && (bo->flags & BACKEND_STARTTLS)) {
		yyerror("backend %s: tls and starttls exclude each other",
		    host);
		return (-1);
	}
	if ((bo->flags & BACKEND_NOVERIFY) &&
	    !(bo->flags & (BACKEND_TLS | BACKEND_STARTTLS))) {
		yyerror("backend %s: noverify without tls or starttls", host);
		return (-1);
	}
	if (bo->port == -1)
		bo->port = (bo->flags & BACKEND_TLS) ? 993 : 143;
	snprintf(port, sizeof(port), "%d", bo->port);

	if ((b = calloc(1, sizeof(*b))) == NULL)
		fatal("%s", __func__);
	b->flags = bo->flags;
	if (set_string(b->host, sizeof(b->host), host, "backend") == -1 ||
	    (bo->domain != NULL &&
	    set_domain(b->domain, sizeof(b->domain), bo->domain) == -1)) {
		free(b);
		return (-1);
	}

	TAILQ_FOREACH(old, &conf->backends, entry)
		if (strcmp(old->domain, b->domain) == 0)
			break;
	if (old != NULL) {
		if (b->domain[0] == '\0')
			yyerror("backend %s: a backend without domain is "
			    "already defined", host);
		else
			yyerror("backend %s: domain %s already has a backend",
			    host, b->domain);
		free(b);
		return (-1);
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		yyerror("backend %s: %s", host, gai_strerror(error));
		free(b);
		return (-1);
	}
	if (res->ai_addrlen > sizeof(b->ss) || addr_name(res->ai_addr,
	    res->ai_addrlen, b->name, sizeof(b->name)) == -1) {
		yyerror("backend %s: no usable address", host);
		freeaddrinfo(res);
		free(b);
		return (-1);
	}
	memcpy(&b->ss, res->ai_addr, res->ai_addrlen);
	b->sslen = res->ai_addrlen;
	freeaddrinfo(res);

	TAILQ_INSERT_TAIL(&conf->backends, b, entry);
	return (0);
}

/* "127.0.0.1:1143", "[::1]:1406" */
static int
addr_name(const struct sockaddr *sa, socklen_t salen, char *buf, size_t len)
{
	char	host[NI_MAXHOST], serv[NI_MAXSERV];
	int	n;

	if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return (-1);
	if (sa->sa_family == AF_INET6)
		n = snprintf(buf, len, "[%s]:%s", host, serv);
	else
		n = snprintf(buf, len, "%s:%s", host, serv);
	if (n < 0 || (size_t)n >= len)
		return (-1);
	return (0);
}
