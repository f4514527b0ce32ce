/*
 * imapxd.conf parsing (imapxd/parse.y) and the shared file reader
 * (common/conffile.c).  Each test writes its files into the atf work
 * directory and reads back what parse_config() logged to stderr.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <atf-c.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conffile.h"
#include "config.h"
#include "log.h"

#include "atf_lsan.h"

static char	errlog[16384];	/* stderr of the last parse() */

static void
write_file(const char *name, mode_t mode, const char *fmt, ...)
    __attribute__((__format__ (printf, 3, 4)));

static void
write_file(const char *name, mode_t mode, const char *fmt, ...)
{
	va_list	 ap;
	FILE	*fp;

	ATF_REQUIRE((fp = fopen(name, "w")) != NULL);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	ATF_REQUIRE(fclose(fp) == 0);
	ATF_REQUIRE(chmod(name, mode) == 0);
}

/* parse_config() with its log captured in errlog. */
static struct imapxd_conf *
parse(const char *file)
{
	struct imapxd_conf	*conf;
	ssize_t			 n;
	int			 fd, saved;

	log_init(1, LOG_DAEMON);
	fflush(stderr);
	ATF_REQUIRE((fd = open("stderr.out", O_RDWR | O_CREAT | O_TRUNC,
	    0600)) != -1);
	ATF_REQUIRE((saved = dup(STDERR_FILENO)) != -1);
	ATF_REQUIRE(dup2(fd, STDERR_FILENO) != -1);
	conf = parse_config(file);
	fflush(stderr);
	ATF_REQUIRE(dup2(saved, STDERR_FILENO) != -1);
	close(saved);
	ATF_REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
	n = read(fd, errlog, sizeof(errlog) - 1);
	errlog[n > 0 ? n : 0] = '\0';
	close(fd);
	fputs(errlog, stderr);		/* for the test's own log */
	return (conf);
}

/* The file must fail to parse with this message in the log. */
static void
require_error(const char *file, const char *msg)
{
	struct imapxd_conf	*conf;

	conf = parse(file);
	ATF_CHECK_MSG(conf == NULL, "%s parsed but should not have", file);
	config_free(conf);
	ATF_CHECK_MSG(strstr(errlog, msg) != NULL,
	    "expected \"%s\" in log:\n%s", msg, errlog);
}

static struct listener *
find_listener(struct imapxd_conf *conf, const char *name)
{
	struct listener	*l;

	TAILQ_FOREACH(l, &conf->listeners, entry)
		if (strcmp(l->name, name) == 0)
			return (l);
	return (NULL);
}

static struct backend *
find_backend(struct imapxd_conf *conf, const char *domain)
{
	struct backend	*b;

	TAILQ_FOREACH(b, &conf->backends, entry)
		if (strcmp(b->domain, domain) == 0)
			return (b);
	return (NULL);
}

static int
count_listeners(struct imapxd_conf *conf)
{
	struct listener	*l;
	int		 n = 0;

	TAILQ_FOREACH(l, &conf->listeners, entry)
		n++;
	return (n);
}

#define MINIMAL	"listen on 127.0.0.1 port 1143\nbackend 127.0.0.1 port 10143\n"

ATF_TC_WITHOUT_HEAD(full_config);
ATF_TC_BODY(full_config, tc)
{
	struct imapxd_conf	*conf;
	struct listener		*l;
	struct backend		*b;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	ATF_REQUIRE(mkdir("imapxd.d", 0700) == 0);
	write_file("imapxd.d/10-limits.conf", 0644,
	    "# sorted first\n"
	    "limit line 128K\n"
	    "limit literal 16M\n"
	    "idle_s = 900\n");
	write_file("imapxd.d/20-limits.conf", 0644,
	    "limit line 256K\n"
	    "timeout idle $idle_s\n");
	write_file("imapxd.d/README", 0644, "not included\n");
	write_file("imapxd.conf", 0644,
	    "# imapxd.conf for the test\n"
	    "lan = \"127.0.0.1\"\n"
	    "beport = 10143\n"
	    "\n"
	    "include \"imapxd.d/*.conf\"\n"
	    "include \"nothing.d/*.conf\"\n"
	    "user \"_imapx_test\"\n"
	    "chroot \"/var/empty/imapx\"\n"
	    "domain \"Example.TEST\"\n"
	    "control socket \"/run/imapxd-test.sock\"\n"
	    "prefork 4\n"
	    "tls certificate \"/etc/imapx/cert.pem\"\n"
	    "tls key '/etc/imapx/key.pem'\n"
	    "tls ca \"/etc/ssl/certs/ca-certificates.crt\"\n"
	    "listen on $lan port 1143\n"
	    "listen on $lan port 1993 tls\n"
	    "listen on ::1 port 1406 imsp\n"
	    "listen on 127.0.0.2 tls port 2993\n"
	    "backend $lan port $beport starttls noverify forward-id\n"
	    "backend ::1 port 10993 tls domain \"Other.test\"\n"
	    "limit connections 1000\n"
	    "limit connections per-address 100\n"
	    "limit sessions per-user 10\n"
	    "limit login-line 2K\n"
	    "limit login-literal 1K\n"
	    "limit login-commands 8\n"
	    "timeout login 30\n"
	    "limit \\\n"
	    "    literal 64M	# last one wins\n");

	conf = parse("imapxd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_STREQ(errlog, "");

	ATF_CHECK_STREQ(conf->user, "_imapx_test");
	ATF_CHECK_STREQ(conf->chroot, "/var/empty/imapx");
	ATF_CHECK_STREQ(conf->domain, "example.test");
	ATF_CHECK_STREQ(conf->ctlsock, "/run/imapxd-test.sock");
	ATF_CHECK_EQ(conf->prefork, 4);
	ATF_CHECK_STREQ(conf->tls_cert, "/etc/imapx/cert.pem");
	ATF_CHECK_STREQ(conf->tls_key, "/etc/imapx/key.pem");
	ATF_CHECK_STREQ(conf->tls_ca, "/etc/ssl/certs/ca-certificates.crt");

	ATF_CHECK_EQ(count_listeners(conf), 4);
	l = TAILQ_FIRST(&conf->listeners);
	ATF_REQUIRE(l != NULL);
	ATF_CHECK_STREQ(l->name, "127.0.0.1:1143");
	ATF_CHECK_EQ(l->flags, 0);
	ATF_CHECK_EQ(l->fd, -1);
	ATF_CHECK_EQ(l->ss.ss_family, AF_INET);
	ATF_CHECK_EQ(l->sslen, sizeof(struct sockaddr_in));
	sin = (struct sockaddr_in *)&l->ss;
	ATF_CHECK_EQ(ntohs(sin->sin_port), 1143);
	ATF_CHECK_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);

	ATF_REQUIRE((l = find_listener(conf, "127.0.0.1:1993")) != NULL);
	ATF_CHECK_EQ(l->flags, LISTEN_TLS);
	ATF_REQUIRE((l = find_listener(conf, "[::1]:1406")) != NULL);
	ATF_CHECK_EQ(l->flags, LISTEN_IMSP);
	ATF_CHECK_EQ(l->ss.ss_family, AF_INET6);
	ATF_CHECK_EQ(l->sslen, sizeof(struct sockaddr_in6));
	sin6 = (struct sockaddr_in6 *)&l->ss;
	ATF_CHECK_EQ(ntohs(sin6->sin6_port), 1406);
	ATF_CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	ATF_REQUIRE((l = find_listener(conf, "127.0.0.2:2993")) != NULL);
	ATF_CHECK_EQ(l->flags, LISTEN_TLS);

	ATF_REQUIRE((b = find_backend(conf, "")) != NULL);
	ATF_CHECK_EQ(b, TAILQ_FIRST(&conf->backends));
	ATF_CHECK_STREQ(b->host, "127.0.0.1");
	ATF_CHECK_STREQ(b->name, "127.0.0.1:10143");
	ATF_CHECK_EQ(b->flags,
	    BACKEND_STARTTLS | BACKEND_NOVERIFY | BACKEND_FORWARD_ID);
	ATF_CHECK_EQ(b->ss.ss_family, AF_INET);
	ATF_CHECK_EQ(ntohs(((struct sockaddr_in *)&b->ss)->sin_port), 10143);
	ATF_REQUIRE((b = find_backend(conf, "other.test")) != NULL);
	ATF_CHECK_STREQ(b->host, "::1");
	ATF_CHECK_STREQ(b->name, "[::1]:10993");
	ATF_CHECK_EQ(b->flags, BACKEND_TLS);

	ATF_CHECK_EQ(conf->limits.max_conns, 1000);
	ATF_CHECK_EQ(conf->limits.max_conns_addr, 100);
	ATF_CHECK_EQ(conf->limits.max_user_sessions, 10);
	ATF_CHECK_EQ(conf->limits.line_max, 256 * 1024);
	ATF_CHECK_EQ(conf->limits.literal_max, 64 * 1024 * 1024);
	ATF_CHECK_EQ(conf->limits.login_line_max, 2048);
	ATF_CHECK_EQ(conf->limits.login_literal_max, 1024);
	ATF_CHECK_EQ(conf->limits.login_cmds, 8);
	ATF_CHECK_EQ(conf->limits.login_timeout, 30);
	ATF_CHECK_EQ(conf->limits.idle_timeout, 900);

	config_free(conf);
}

ATF_TC_WITHOUT_HEAD(defaults);
ATF_TC_BODY(defaults, tc)
{
	static const struct limits	 def = LIMITS_DEFAULT_INIT;
	struct imapxd_conf		*conf;
	struct backend			*b;

	write_file("imapxd.conf", 0644, "listen on 127.0.0.1\n"
	    "backend 127.0.0.1");	/* no final newline */
	conf = parse("imapxd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_STREQ(conf->user, IMAPXD_USER);
	ATF_CHECK_STREQ(conf->chroot, IMAPXD_CHROOT);
	ATF_CHECK_STREQ(conf->ctlsock, IMAPXD_CTLSOCK);
	ATF_CHECK_STREQ(conf->domain, "");
	ATF_CHECK_STREQ(conf->tls_cert, "");
	ATF_CHECK_EQ(conf->prefork, 0);
	ATF_CHECK(memcmp(&conf->limits, &def, sizeof(def)) == 0);
	ATF_CHECK(find_listener(conf, "127.0.0.1:143") != NULL);
	ATF_REQUIRE((b = TAILQ_FIRST(&conf->backends)) != NULL);
	ATF_CHECK_STREQ(b->name, "127.0.0.1:143");
	ATF_CHECK_EQ(b->flags, 0);
	config_free(conf);
}

ATF_TC_WITHOUT_HEAD(default_ports);
ATF_TC_BODY(default_ports, tc)
{
	struct imapxd_conf	*conf;

	write_file("imapxd.conf", 0644,
	    "tls certificate \"cert.pem\"\n"
	    "tls key \"key.pem\"\n"
	    "listen on 127.0.0.1\n"
	    "listen on 127.0.0.1 tls\n"
	    "listen on 127.0.0.1 imsp\n"
	    "listen on localhost port imaps-alt-free-name-x\n"
	    "backend 127.0.0.1 tls\n");
	/* an unknown service name is a bad port */
	require_error("imapxd.conf",
	    "imapxd.conf:6: invalid port imaps-alt-free-name-x");

	write_file("imapxd.conf", 0644,
	    "tls certificate \"cert.pem\"\n"
	    "tls key \"key.pem\"\n"
	    "listen on 127.0.0.1\n"
	    "listen on 127.0.0.1 tls\n"
	    "listen on 127.0.0.1 imsp\n"
	    "listen on localhost port 2143\n"
	    "listen on 127.0.0.3 port \"1144\"\n"
	    "backend 127.0.0.1 tls\n");
	conf = parse("imapxd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK(find_listener(conf, "127.0.0.1:143") != NULL);
	ATF_CHECK(find_listener(conf, "127.0.0.1:993") != NULL);
	ATF_CHECK(find_listener(conf, "127.0.0.1:406") != NULL);
	/* a name: every address it resolves to */
	ATF_CHECK(find_listener(conf, "127.0.0.1:2143") != NULL);
	ATF_CHECK(find_listener(conf, "127.0.0.3:1144") != NULL);
	ATF_CHECK_STREQ(TAILQ_FIRST(&conf->backends)->name, "127.0.0.1:993");
	config_free(conf);
}

ATF_TC_WITHOUT_HEAD(macros);
ATF_TC_BODY(macros, tc)
{
	struct imapxd_conf	*conf;

	/* -D wins over the file, and over reloads */
	ATF_REQUIRE(cmdline_symset("lan=127.0.0.2") == 0);
	ATF_CHECK(cmdline_symset("noequals") == -1);
	ATF_CHECK(cmdline_symset("bad name=x") == -1);
	write_file("imapxd.conf", 0644,
	    "lan = \"127.0.0.1\"\n"
	    "opts = \"port 1993 tls\"\n"
	    "d = example\n"
	    "tls certificate \"c\"\n"
	    "tls key \"k\"\n"
	    "listen on $lan $opts\n"
	    "listen on $lan port 1143\n"
	    "backend 127.0.0.1 domain \"$d.test\" # not expanded in quotes\n"
	    "backend 127.0.0.1 domain $d.test\n");
	conf = parse("imapxd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK(find_listener(conf, "127.0.0.2:1993") != NULL);
	ATF_CHECK(find_listener(conf, "127.0.0.2:1143") != NULL);
	ATF_CHECK(find_listener(conf, "127.0.0.1:1143") == NULL);
	ATF_CHECK(find_backend(conf, "$d.test") != NULL);
	ATF_CHECK(find_backend(conf, "example.test") != NULL);
	config_free(conf);

	/* the file's own macros are gone after the parse, -D stays */
	ATF_CHECK(conffile_symget("opts") == NULL);
	ATF_CHECK_STREQ(conffile_symget("lan"), "127.0.0.2");
	conf = parse("imapxd.conf");
	ATF_REQUIRE(conf != NULL);
	ATF_CHECK(find_listener(conf, "127.0.0.2:1143") != NULL);
	config_free(conf);
}

ATF_TC_WITHOUT_HEAD(include_glob);
ATF_TC_BODY(include_glob, tc)
{
	struct imapxd_conf	*conf;

	ATF_REQUIRE(mkdir("d", 0700) == 0);
	write_file("d/b.conf", 0644, "prefork 2\nbe = \"10143\"\n");
	write_file("d/a.conf", 0644, "prefork 1\ninclude \"d/sub/*\"\n");
	write_file("d/c.conf", 0644, "prefork 3\n");
	ATF_REQUIRE(mkdir("d/sub", 0700) == 0);
	write_file("d/sub/x", 0644, "user \"fromsub\"");
	write_file("imapxd.conf", 0644,
	    "prefork 9\n"
	    "include \"d/*.conf\"\n"
	    "listen on 127.0.0.1 port $be\n"
	    "backend 127.0.0.1\n");
	conf = parse("imapxd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_EQ(conf->prefork, 3);		/* c.conf is read last */
	ATF_CHECK_STREQ(conf->user, "fromsub");
	ATF_CHECK(find_listener(conf, "127.0.0.1:10143") != NULL);
	config_free(conf);

	/* a plain name must exist; an include of itself is refused */
	write_file("imapxd.conf", 0644, MINIMAL
	    "include \"missing.conf\"\n"
	    "include \"loop.conf\"\n");
	write_file("loop.conf", 0644, "\ninclude \"loop.conf\"\n");
	require_error("imapxd.conf",
	    "imapxd.conf:3: include missing.conf: No such file");
	ATF_CHECK_MSG(strstr(errlog,
	    "loop.conf:2: include loop.conf: includes itself") != NULL,
	    "log:\n%s", errlog);
}

/* Errors in included files carry their name; lines around them stay right. */
ATF_TC_WITHOUT_HEAD(err_include_lines);
ATF_TC_BODY(err_include_lines, tc)
{
	ATF_REQUIRE(mkdir("d", 0700) == 0);
	write_file("d/1.conf", 0644, "# one\n\nprefork 99\n");
	write_file("d/2.conf", 0644, "prefork 1\nprefork 100");
	write_file("imapxd.conf", 0644,
	    MINIMAL
	    "include \"d/*.conf\"\n"
	    "prefork 101\n"
	    "limit line \\\n"
	    "  1\n"
	    "prefork 102\n");
	require_error("imapxd.conf",
	    "d/1.conf:3: prefork 99 out of range (0..64)");
	ATF_CHECK(strstr(errlog, "d/2.conf:2: prefork 100 out of range") !=
	    NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:4: prefork 101 out of range") !=
	    NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:6: limit line 1 out of range") !=
	    NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:7: prefork 102 out of range") !=
	    NULL);
}

ATF_TC_WITHOUT_HEAD(err_unknown_keyword);
ATF_TC_BODY(err_unknown_keyword, tc)
{
	write_file("imapxd.conf", 0644, MINIMAL
	    "\n"
	    "frobnicate yes\n"
	    "listen at 127.0.0.1\n"
	    "prefork 2 3\n");
	require_error("imapxd.conf",
	    "imapxd.conf:4: unknown keyword 'frobnicate'");
	ATF_CHECK(strstr(errlog, "imapxd.conf:5: syntax error") != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:6: syntax error") != NULL);
}

ATF_TC_WITHOUT_HEAD(err_bad_port);
ATF_TC_BODY(err_bad_port, tc)
{
	write_file("imapxd.conf", 0644, MINIMAL
	    "listen on 127.0.0.1 port 70000\n"
	    "backend 127.0.0.2 port 0 domain \"a.test\"\n"
	    "listen on 127.0.0.1 port 1 port 2\n");
	require_error("imapxd.conf", "imapxd.conf:3: invalid port 70000");
	ATF_CHECK(strstr(errlog, "imapxd.conf:4: invalid port 0") != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:5: port given twice") != NULL);
}

ATF_TC_WITHOUT_HEAD(err_missing_quote);
ATF_TC_BODY(err_missing_quote, tc)
{
	write_file("imapxd.conf", 0644, MINIMAL
	    "user \"_imapx\n"
	    "chroot \"/var/empty\"\n"
	    "domain 'x.test");
	require_error("imapxd.conf",
	    "imapxd.conf:3: missing closing quote");
	ATF_CHECK(strstr(errlog, "imapxd.conf:5: missing closing quote") !=
	    NULL);
	/* the lexer's message is enough: no "syntax error" after it */
	ATF_CHECK(strstr(errlog, "syntax error") == NULL);
	ATF_CHECK(strstr(errlog, ":4:") == NULL);
}

ATF_TC_WITHOUT_HEAD(err_undefined_macro);
ATF_TC_BODY(err_undefined_macro, tc)
{
	write_file("imapxd.conf", 0644,
	    "lan = \"127.0.0.1\"\n"
	    "listen on $lan\n"
	    "listen on $wan port 1143\n"
	    "backend $lan\n");
	require_error("imapxd.conf", "imapxd.conf:3: macro 'wan' not defined");
	ATF_CHECK(strstr(errlog, "syntax error") == NULL);
}

ATF_TC_WITHOUT_HEAD(err_number_range);
ATF_TC_BODY(err_number_range, tc)
{
	write_file("imapxd.conf", 0644, MINIMAL
	    "prefork 65\n"
	    "limit login-line 512\n"
	    "limit literal 99999999999999999999\n"
	    "limit line 64KB\n"
	    "timeout idle 0\n"
	    "timeout login 86401\n"
	    "limit connections 9223372036854775807K\n"
	    "prefork 64\n");
	require_error("imapxd.conf",
	    "imapxd.conf:3: prefork 65 out of range (0..64)");
	ATF_CHECK(strstr(errlog,
	    "imapxd.conf:4: limit login-line 512 out of range") != NULL);
	ATF_CHECK(strstr(errlog,
	    "imapxd.conf:5: number 99999999999999999999 is too large") != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:6: invalid number 64KB") != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:7: timeout idle 0 out of range")
	    != NULL);
	ATF_CHECK(strstr(errlog,
	    "imapxd.conf:8: timeout login 86401 out of range") != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:9: number "
	    "9223372036854775807K is too large") != NULL);
	ATF_CHECK(strstr(errlog, ":10:") == NULL);
}

ATF_TC_WITHOUT_HEAD(err_duplicate_listener);
ATF_TC_BODY(err_duplicate_listener, tc)
{
	write_file("imapxd.conf", 0644,
	    "backend 127.0.0.1 port 10143\n"
	    "listen on 127.0.0.1 port 1143\n"
	    "listen on 127.0.0.1 port 1144\n"
	    "listen on 127.0.0.1 port 1143 imsp\n");
	require_error("imapxd.conf",
	    "imapxd.conf:4: listen on 127.0.0.1: 127.0.0.1:1143 already in use");
}

ATF_TC_WITHOUT_HEAD(err_tls_without_keypair);
ATF_TC_BODY(err_tls_without_keypair, tc)
{
	write_file("imapxd.conf", 0644, MINIMAL
	    "listen on 127.0.0.1 port 1993 tls\n"
	    "tls certificate \"/etc/imapx/cert.pem\"\n");
	require_error("imapxd.conf",
	    "imapxd.conf: tls certificate and tls key go together");
	write_file("imapxd.conf", 0644, MINIMAL
	    "\n"
	    "listen on 127.0.0.1 port 1993 tls\n");
	require_error("imapxd.conf",
	    "imapxd.conf:4: tls listener without tls certificate and tls key");
}

ATF_TC_WITHOUT_HEAD(err_backends);
ATF_TC_BODY(err_backends, tc)
{
	write_file("imapxd.conf", 0644, "listen on 127.0.0.1\n");
	require_error("imapxd.conf", "imapxd.conf: no backend");

	write_file("imapxd.conf", 0644, MINIMAL
	    "backend 127.0.0.2\n"
	    "backend 127.0.0.3 domain \"a.test\"\n"
	    "backend 127.0.0.4 domain \"A.test\"\n"
	    "backend 127.0.0.5 tls starttls domain \"b.test\"\n"
	    "backend 127.0.0.6 noverify domain \"c.test\"\n"
	    "backend 127.0.0.7 domain \"a@b\"\n");
	require_error("imapxd.conf", "imapxd.conf:3: backend 127.0.0.2: "
	    "a backend without domain is already defined");
	ATF_CHECK(strstr(errlog, "imapxd.conf:5: backend 127.0.0.4: domain "
	    "a.test already has a backend") != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:6: backend 127.0.0.5: tls and "
	    "starttls") != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:7: backend 127.0.0.6: noverify")
	    != NULL);
	ATF_CHECK(strstr(errlog, "imapxd.conf:8: invalid domain 'a@b'") !=
	    NULL);
}

ATF_TC_WITHOUT_HEAD(err_missing_file);
ATF_TC_BODY(err_missing_file, tc)
{
	ATF_CHECK(parse("nonexistent.conf") == NULL);
	ATF_CHECK(strstr(errlog, "nonexistent.conf: No such file") != NULL);
}

ATF_TC_WITHOUT_HEAD(strings);
ATF_TC_BODY(strings, tc)
{
	struct imapxd_conf	*conf;

	write_file("imapxd.conf", 0644, MINIMAL
	    "user \"a\\\"b\\\\c\\d\"\n"
	    "chroot \"/var/\\\n"
	    "empty\"\n"
	    "domain 'it''s'\n");
	require_error("imapxd.conf", "imapxd.conf:6: syntax error");

	write_file("imapxd.conf", 0644, MINIMAL
	    "user \"a\\\"b\\\\c\\d\"\n"
	    "chroot \"/var/\\\n"
	    "empty\"\n"
	    "domain 'it\\'s' # comment \\\n"
	    "prefork 7\n");
	conf = parse("imapxd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_STREQ(conf->user, "a\"b\\c\\d");
	ATF_CHECK_STREQ(conf->chroot, "/var/empty");
	ATF_CHECK_STREQ(conf->domain, "it's");
	ATF_CHECK_EQ(conf->prefork, 7);
	config_free(conf);

	/* lines ending in "\r\n" */
	write_file("imapxd.conf", 0644,
	    "listen on 127.0.0.1\r\n"
	    "backend 127.0.0.1 # comment\r\n"
	    "user \"x\"\r\n");
	conf = parse("imapxd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_STREQ(conf->user, "x");
	config_free(conf);
}

ATF_TC_WITHOUT_HEAD(secrecy);
ATF_TC_BODY(secrecy, tc)
{
	int	fd;

	log_init(1, LOG_DAEMON);
	write_file("secret.conf", 0600, "password \"x\"\n");
	ATF_REQUIRE((fd = open("secret.conf", O_RDONLY)) != -1);
	ATF_CHECK(conffile_check_secrecy(fd, "secret.conf") == 0);
	ATF_REQUIRE(fchmod(fd, 0644) == 0);
	ATF_CHECK(conffile_check_secrecy(fd, "secret.conf") == -1);
	ATF_REQUIRE(fchmod(fd, 0640) == 0);
	ATF_CHECK(conffile_check_secrecy(fd, "secret.conf") == -1);
	ATF_REQUIRE(fchmod(fd, 0602) == 0);
	ATF_CHECK(conffile_check_secrecy(fd, "secret.conf") == -1);
	ATF_REQUIRE(fchmod(fd, 0400) == 0);
	ATF_CHECK(conffile_check_secrecy(fd, "secret.conf") == 0);
	close(fd);

	/* a secret file's includes are checked too */
	write_file("inc.conf", 0644, "\n");
	write_file("secret.conf", 0600, "include \"inc.conf\"\n");
	ATF_CHECK(conffile_open("secret.conf", 1) == 0);
	ATF_CHECK(conffile_include("inc.conf") == -1);
	ATF_CHECK(conffile_close() == 1);
	ATF_REQUIRE(chmod("secret.conf", 0604) == 0);
	ATF_CHECK(conffile_open("secret.conf", 1) == -1);
}

/* The lexer alone: what a grammar's yylex() gets. */
ATF_TC_WITHOUT_HEAD(lexer);
ATF_TC_BODY(lexer, tc)
{
	struct conffile_token	t;

	log_init(1, LOG_DAEMON);
	write_file("lex.conf", 0644,
	    "a-b=\"q\" -12 4k 1M 2G ::1 # c\n"
	    "x{y}\n");
	ATF_REQUIRE(conffile_open("lex.conf", 0) == 0);
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_WORD);
	ATF_CHECK_STREQ(t.string, "a-b");
	ATF_CHECK_EQ(t.lineno, 1);
	ATF_CHECK_EQ(conffile_lex(&t), '=');
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_STRING);
	ATF_CHECK_STREQ(t.string, "q");
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_NUMBER);
	ATF_CHECK_EQ(t.number, -12);
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_NUMBER);
	ATF_CHECK_EQ(t.number, 4096);
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_NUMBER);
	ATF_CHECK_EQ(t.number, 1024 * 1024);
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_NUMBER);
	ATF_CHECK_EQ(t.number, 2LL * 1024 * 1024 * 1024);
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_WORD);
	ATF_CHECK_STREQ(t.string, "::1");
	ATF_CHECK_EQ(conffile_lex(&t), '\n');
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_WORD);
	ATF_CHECK_STREQ(t.string, "x");
	ATF_CHECK_EQ(t.lineno, 2);
	ATF_CHECK_EQ(conffile_lex(&t), '{');
	ATF_CHECK_EQ(conffile_lex(&t), CONFFILE_WORD);
	ATF_CHECK_EQ(conffile_lex(&t), '}');
	ATF_CHECK_EQ(conffile_lex(&t), '\n');
	ATF_CHECK_EQ(conffile_lex(&t), '\n');	/* the one faked at EOF */
	ATF_CHECK_EQ(conffile_lex(&t), 0);
	ATF_CHECK_EQ(conffile_lex(&t), 0);
	ATF_CHECK_EQ(conffile_close(), 0);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, full_config);
	ATF_TP_ADD_TC(tp, defaults);
	ATF_TP_ADD_TC(tp, default_ports);
	ATF_TP_ADD_TC(tp, macros);
	ATF_TP_ADD_TC(tp, include_glob);
	ATF_TP_ADD_TC(tp, err_include_lines);
	ATF_TP_ADD_TC(tp, err_unknown_keyword);
	ATF_TP_ADD_TC(tp, err_bad_port);
	ATF_TP_ADD_TC(tp, err_missing_quote);
	ATF_TP_ADD_TC(tp, err_undefined_macro);
	ATF_TP_ADD_TC(tp, err_number_range);
	ATF_TP_ADD_TC(tp, err_duplicate_listener);
	ATF_TP_ADD_TC(tp, err_tls_without_keypair);
	ATF_TP_ADD_TC(tp, err_backends);
	ATF_TP_ADD_TC(tp, err_missing_file);
	ATF_TP_ADD_TC(tp, strings);
	ATF_TP_ADD_TC(tp, secrecy);
	ATF_TP_ADD_TC(tp, lexer);
	return (atf_no_error());
}
