/*
 * execd.conf parsing (execd/parse.y).  Each test writes its files, and
 * the programs the modules name (copies of /bin/true), into the atf work
 * directory and reads back what execd_parse_config() logged to stderr.
 * Modules run as "nobody", which every system has.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <atf-c.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conffile.h"
#include "log.h"
#include "policy.h"

#include "atf_lsan.h"

static char	errlog[16384];	/* stderr of the last parse() */
static char	nobody_group[64];

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

/* A program for the modules to name: /bin/true, copied with this mode. */
static void
make_program(const char *name, mode_t mode)
{
	char	 buf[8192];
	ssize_t	 n;
	int	 in, out;

	ATF_REQUIRE((in = open("/bin/true", O_RDONLY)) != -1);
	ATF_REQUIRE((out = open(name, O_WRONLY | O_CREAT | O_TRUNC,
	    0700)) != -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		ATF_REQUIRE(write(out, buf, n) == n);
	ATF_REQUIRE(n == 0);
	close(in);
	ATF_REQUIRE(close(out) == 0);
	ATF_REQUIRE(chmod(name, mode) == 0);
}

/*
 * The work directory as the tests want it: only we may write to it (the
 * parser refuses files in a directory others could change), with bin/true.
 */
static void
setup(void)
{
	struct passwd	*pw;
	struct group	*gr;

	ATF_REQUIRE(chmod(".", 0755) == 0);
	ATF_REQUIRE(mkdir("bin", 0755) == 0);
	make_program("bin/true", 0755);
	ATF_REQUIRE((pw = getpwnam("nobody")) != NULL);
	ATF_REQUIRE((gr = getgrgid(pw->pw_gid)) != NULL);
	strlcpy(nobody_group, gr->gr_name, sizeof(nobody_group));
}

/* The work directory's absolute name + "/bin/true", for program. */
static const char *
true_path(void)
{
	static char	path[PATH_MAX + 16];
	char		cwd[PATH_MAX];

	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(path, sizeof(path), "%s/bin/true", cwd);
	return (path);
}

/* execd_parse_config() with its log captured in errlog. */
static struct execd_conf *
parse(const char *file)
{
	struct execd_conf	*conf;
	ssize_t			 n;
	int			 fd, saved;

	log_init(1, LOG_DAEMON);
	fflush(stderr);
	ATF_REQUIRE((fd = open("stderr.out", O_RDWR | O_CREAT | O_TRUNC,
	    0600)) != -1);
	ATF_REQUIRE((saved = dup(STDERR_FILENO)) != -1);
	ATF_REQUIRE(dup2(fd, STDERR_FILENO) != -1);
	conf = execd_parse_config(file);
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

#define HAS(msg)	ATF_CHECK_MSG(strstr(errlog, (msg)) != NULL, \
			    "expected \"%s\" in log:\n%s", (msg), errlog)
#define LACKS(msg)	ATF_CHECK_MSG(strstr(errlog, (msg)) == NULL, \
			    "unexpected \"%s\" in log:\n%s", (msg), errlog)

/* The file must fail to parse with this message in the log. */
static void
require_error(const char *file, const char *msg)
{
	struct execd_conf	*conf;

	conf = parse(file);
	ATF_CHECK_MSG(conf == NULL, "%s parsed but should not have", file);
	execd_config_free(conf);
	HAS(msg);
}

static int
count_modules(struct execd_conf *conf)
{
	struct module	*m;
	int		 n = 0;

	TAILQ_FOREACH(m, &conf->modules, entry)
		n++;
	return (n);
}

/* A module that parses: what the error tests add their line to. */
#define MODULE_OK(name)							\
	"module \"" name "\" {\n"					\
	"	program \"%s\"\n"					\
	"	run as nobody\n"					\
	"	allow any\n"						\
	"}\n"

ATF_TC_WITHOUT_HEAD(full_module);
ATF_TC_BODY(full_module, tc)
{
	struct execd_conf	*conf;
	struct module		*m;
	struct passwd		*pw;

	setup();
	write_file("execd.conf", 0644,
	    "# execd.conf for the test\n"
	    "concurrency 16\n"
	    "domain \"Example.TEST\"\n"
	    "mods = \"/var/lib/imapx\"\n"
	    "\n"
	    "module \"blacklist\"\n"
	    "{\n"
	    "	description \"Manage the senders whose mail you never see\"\n"
	    "	program \"%s\"\n"
	    "	argv \"blacklist\" \"--user=%%u\" %%l %%d \"%%%%\" %%1 %%a\n"
	    "	run as \"nobody:%s\"\n"
	    "	allow user \"*@Example.test\" \"bob@other.test\"\n"
	    "	allow group \"%s\"\n"
	    "	arguments 1 to 2\n"
	    "	argument pattern \"[A-Za-z0-9@._+-]+\"\n"
	    "	argument max 128\n"
	    "	arguments allow-dash allow-control\n"
	    "	timeout 30 kill-grace 5\n"
	    "	limit cpu 5 memory 64M\n"
	    "	limit files 32 processes 8 filesize 1M\n"
	    "	output 32K lines 500\n"
	    "	rate 30\n"
	    "	concurrency 3 per-user 9 per-module\n"
	    "	read $mods/lists/%%d \"/etc/imapx/blacklist.txt\"\n"
	    "	write $mods/blacklist/%%d/%%l\n"
	    "	network allow\n"
	    "	env \"LANG=C.UTF-8\" \"TZ=UTC\"\n"
	    "	env \"EMPTY=\"\n"
	    "}\n"
	    "\n"
	    "module passwd {\n"
	    "	program \"%s\"\n"
	    "	argv passwd %%u\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	arguments 2\n"
	    "	arguments on stdin\n"
	    "}\n"
	    "module \"calendar\" {\n"
	    "	program \"/bin/true\"\n"
	    "	run as nobody\n"
	    "	allow user alice@example.test\n"
	    "	interactive\n"
	    "	chroot \"/\"\n"
	    "	network none\n"
	    "}\n", true_path(), nobody_group, nobody_group, true_path());

	conf = parse("execd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_STREQ(errlog, "");
	ATF_CHECK_EQ(conf->conc_total, 16);
	ATF_CHECK_STREQ(conf->domain, "example.test");
	ATF_CHECK_EQ(count_modules(conf), 3);

	ATF_REQUIRE((pw = getpwnam("nobody")) != NULL);
	ATF_REQUIRE((m = module_find(conf, "blacklist")) != NULL);
	ATF_CHECK_EQ(m, TAILQ_FIRST(&conf->modules));
	ATF_CHECK_STREQ(m->name, "blacklist");
	ATF_CHECK_STREQ(m->where, "execd.conf:6");
	ATF_CHECK_STREQ(m->descr,
	    "Manage the senders whose mail you never see");
	ATF_CHECK_STREQ(m->program, true_path());
	ATF_REQUIRE_EQ(m->argc, 7);
	ATF_CHECK_STREQ(m->argv[0], "blacklist");
	ATF_CHECK_STREQ(m->argv[1], "--user=%u");
	ATF_CHECK_STREQ(m->argv[2], "%l");
	ATF_CHECK_STREQ(m->argv[3], "%d");
	ATF_CHECK_STREQ(m->argv[4], "%%");
	ATF_CHECK_STREQ(m->argv[5], "%1");
	ATF_CHECK_STREQ(m->argv[6], "%a");
	ATF_CHECK(m->argv[7] == NULL);
	ATF_CHECK_STREQ(m->runas_user, "nobody");
	ATF_CHECK_STREQ(m->runas_group, nobody_group);
	ATF_CHECK_EQ(m->uid, pw->pw_uid);
	ATF_CHECK_EQ(m->gid, pw->pw_gid);
	ATF_REQUIRE_EQ(m->nwho, 3);
	ATF_CHECK_EQ(m->who[0].kind, WHO_USER);
	ATF_CHECK_STREQ(m->who[0].pattern, "*@example.test");
	ATF_CHECK_EQ(m->who[1].kind, WHO_USER);
	ATF_CHECK_STREQ(m->who[1].pattern, "bob@other.test");
	ATF_CHECK_EQ(m->who[2].kind, WHO_GROUP);
	ATF_CHECK_STREQ(m->who[2].pattern, nobody_group);
	ATF_CHECK_EQ(m->interactive, 0);
	ATF_CHECK_EQ(m->args_min, 1);
	ATF_CHECK_EQ(m->args_max, 2);
	ATF_CHECK_EQ(m->arg_maxlen, 128);
	ATF_CHECK_STREQ(m->arg_pattern, "^([A-Za-z0-9@._+-]+)$");
	ATF_CHECK_EQ(m->allow_dash, 1);
	ATF_CHECK_EQ(m->allow_ctrl, 1);
	ATF_CHECK_EQ(m->args_stdin, 0);
	ATF_CHECK_EQ(m->timeout, 30);
	ATF_CHECK_EQ(m->kill_grace, 5);
	ATF_CHECK_EQ(m->cpu, 5);
	ATF_CHECK_EQ(m->memory, 64 * 1024 * 1024);
	ATF_CHECK_EQ(m->nofile, 32);
	ATF_CHECK_EQ(m->nproc, 8);
	ATF_CHECK_EQ(m->fsize, 1024 * 1024);
	ATF_CHECK_EQ(m->output_max, 32 * 1024);
	ATF_CHECK_EQ(m->lines_max, 500);
	ATF_CHECK_EQ(m->rate, 30);
	ATF_CHECK_EQ(m->conc_user, 3);
	ATF_CHECK_EQ(m->conc_module, 9);
	ATF_REQUIRE_EQ(m->npaths, 3);
	ATF_CHECK_STREQ(m->paths[0].path, "/var/lib/imapx/lists/%d");
	ATF_CHECK_EQ(m->paths[0].perms, PATH_READ);
	ATF_CHECK_STREQ(m->paths[1].path, "/etc/imapx/blacklist.txt");
	ATF_CHECK_EQ(m->paths[1].perms, PATH_READ);
	ATF_CHECK_STREQ(m->paths[2].path, "/var/lib/imapx/blacklist/%d/%l");
	ATF_CHECK_EQ(m->paths[2].perms, PATH_READ | PATH_WRITE);
	ATF_CHECK_EQ(m->network, 1);
	ATF_CHECK_STREQ(m->chroot, "");
	ATF_REQUIRE_EQ(m->nenv, 3);
	ATF_CHECK_STREQ(m->env[0], "LANG=C.UTF-8");
	ATF_CHECK_STREQ(m->env[1], "TZ=UTC");
	ATF_CHECK_STREQ(m->env[2], "EMPTY=");
	ATF_CHECK(m->env[3] == NULL);

	ATF_REQUIRE((m = module_find(conf, "passwd")) != NULL);
	ATF_CHECK_STREQ(m->where, "execd.conf:31");
	ATF_REQUIRE_EQ(m->argc, 2);
	ATF_CHECK_STREQ(m->argv[0], "passwd");
	ATF_CHECK_STREQ(m->argv[1], "%u");
	ATF_CHECK_EQ(m->args_min, 2);
	ATF_CHECK_EQ(m->args_max, 2);
	ATF_CHECK_EQ(m->args_stdin, 1);

	/* a chroot: the program is looked for inside it */
	ATF_REQUIRE((m = module_find(conf, "calendar")) != NULL);
	ATF_CHECK_EQ(m->interactive, 1);
	ATF_CHECK_STREQ(m->chroot, "/");
	ATF_CHECK_EQ(m->network, 0);
	ATF_REQUIRE_EQ(m->nwho, 1);
	ATF_CHECK_STREQ(m->who[0].pattern, "alice@example.test");
	ATF_CHECK_STREQ(m->argv[0], "true");

	execd_config_free(conf);
}

ATF_TC_WITHOUT_HEAD(defaults);
ATF_TC_BODY(defaults, tc)
{
	struct execd_conf	*conf;
	struct module		*m;
	struct passwd		*pw;

	setup();
	write_file("execd.conf", 0600, MODULE_OK("echo") "module e2 {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	arguments on stdin\n"
	    "	timeout 60\n"
	    "}", true_path(), true_path());	/* no final newline */
	conf = parse("execd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_EQ(conf->conc_total, 32);
	ATF_CHECK_STREQ(conf->domain, "");

	ATF_REQUIRE((pw = getpwnam("nobody")) != NULL);
	ATF_REQUIRE((m = module_find(conf, "echo")) != NULL);
	ATF_CHECK_STREQ(m->descr, "");
	/* argv: the program's base name and the client's arguments */
	ATF_REQUIRE_EQ(m->argc, 2);
	ATF_CHECK_STREQ(m->argv[0], "true");
	ATF_CHECK_STREQ(m->argv[1], "%a");
	ATF_CHECK(m->argv[2] == NULL);
	ATF_CHECK_STREQ(m->runas_user, "nobody");
	ATF_CHECK_STREQ(m->runas_group, nobody_group);
	ATF_CHECK_EQ(m->uid, pw->pw_uid);
	ATF_CHECK_EQ(m->gid, pw->pw_gid);
	ATF_REQUIRE_EQ(m->nwho, 1);
	ATF_CHECK_EQ(m->who[0].kind, WHO_ANY);
	ATF_CHECK_EQ(m->interactive, 0);
	ATF_CHECK_EQ(m->args_min, 0);
	ATF_CHECK_EQ(m->args_max, 0);
	ATF_CHECK_EQ(m->arg_maxlen, 256);
	ATF_CHECK_STREQ(m->arg_pattern, "");
	ATF_CHECK_EQ(m->allow_dash, 0);
	ATF_CHECK_EQ(m->allow_ctrl, 0);
	ATF_CHECK_EQ(m->args_stdin, 0);
	ATF_CHECK_EQ(m->timeout, 10);
	ATF_CHECK_EQ(m->kill_grace, 2);
	ATF_CHECK_EQ(m->cpu, 10);
	ATF_CHECK_EQ(m->memory, 256 * 1024 * 1024);
	ATF_CHECK_EQ(m->nofile, 64);
	ATF_CHECK_EQ(m->nproc, 32);
	ATF_CHECK_EQ(m->fsize, 16 * 1024 * 1024);
	ATF_CHECK_EQ(m->output_max, 64 * 1024);
	ATF_CHECK_EQ(m->lines_max, 1000);
	ATF_CHECK_EQ(m->rate, 60);
	ATF_CHECK_EQ(m->conc_user, 2);
	ATF_CHECK_EQ(m->conc_module, 8);
	ATF_CHECK_EQ(m->npaths, 0);
	ATF_CHECK_EQ(m->network, 0);
	ATF_CHECK_STREQ(m->chroot, "");
	ATF_CHECK_EQ(m->nenv, 0);
	ATF_CHECK(m->env[0] == NULL);

	/* on stdin: no %a; cpu follows the timeout */
	ATF_REQUIRE((m = module_find(conf, "e2")) != NULL);
	ATF_REQUIRE_EQ(m->argc, 1);
	ATF_CHECK_STREQ(m->argv[0], "true");
	ATF_CHECK(m->argv[1] == NULL);
	ATF_CHECK_EQ(m->cpu, 60);
	execd_config_free(conf);

	/* no module at all is a valid policy: nothing may run */
	write_file("execd.conf", 0644, "# nothing\n");
	conf = parse("execd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK(TAILQ_EMPTY(&conf->modules));
	execd_config_free(conf);
}

ATF_TC_WITHOUT_HEAD(include_glob);
ATF_TC_BODY(include_glob, tc)
{
	struct execd_conf	*conf;
	struct module		*m;

	setup();
	ATF_REQUIRE(mkdir("execd.d", 0755) == 0);
	write_file("execd.d/vacation.conf", 0644,
	    "# read second\n"
	    "module \"vacation\" {\n"
	    "	program $prog\n"
	    "	run as nobody\n"
	    "	allow user \"*\"\n"
	    "}\n");
	write_file("execd.d/blacklist.conf", 0644,
	    "module \"blacklist\" {\n"
	    "	program $prog\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "}\n");
	write_file("execd.d/README", 0644, "not included\n");
	write_file("execd.conf", 0644,
	    "prog = \"%s\"\n"
	    "include \"execd.d/*.conf\"\n"
	    "include \"nothing.d/*.conf\"\n"
	    "concurrency 8\n", true_path());

	conf = parse("execd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK_STREQ(errlog, "");
	ATF_CHECK_EQ(count_modules(conf), 2);
	ATF_CHECK_EQ(conf->conc_total, 8);
	m = TAILQ_FIRST(&conf->modules);
	ATF_REQUIRE(m != NULL);
	ATF_CHECK_STREQ(m->name, "blacklist");	/* sorted order */
	ATF_CHECK_STREQ(m->where, "execd.d/blacklist.conf:1");
	ATF_REQUIRE((m = module_find(conf, "vacation")) != NULL);
	ATF_CHECK_STREQ(m->where, "execd.d/vacation.conf:2");
	ATF_CHECK_STREQ(m->program, true_path());
	ATF_CHECK_EQ(m->who[0].kind, WHO_USER);
	ATF_CHECK_STREQ(m->who[0].pattern, "*");
	execd_config_free(conf);

	/* errors in included files carry their name */
	write_file("execd.d/vacation.conf", 0644,
	    "module \"vacation\" {\n"
	    "	program $prog\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	timeout 0\n"
	    "}\n");
	write_file("execd.conf", 0644,
	    "prog = \"%s\"\n"
	    "include \"execd.d/*.conf\"\n"
	    "concurrency 0\n", true_path());
	require_error("execd.conf",
	    "execd.d/vacation.conf:5: timeout 0 out of range (1..86400)");
	HAS("execd.conf:3: concurrency 0 out of range (1..10000)");

	/* a module must end in the file it begins in */
	write_file("execd.d/vacation.conf", 0644,
	    "module \"vacation\" {\n"
	    "	program $prog\n"
	    "	run as nobody\n"
	    "	allow any\n");
	write_file("execd.conf", 0644,
	    "prog = \"%s\"\n"
	    "include \"execd.d/vacation.conf\"\n"
	    "}\n", true_path());
	require_error("execd.conf", "execd.conf:3: module vacation, begun at "
	    "execd.d/vacation.conf:1, ends in another file");
}

ATF_TC_WITHOUT_HEAD(macros);
ATF_TC_BODY(macros, tc)
{
	struct execd_conf	*conf;
	struct module		*m;

	setup();
	/* -D wins over the file */
	ATF_REQUIRE(execd_cmdline_symset((char *)"runas=nobody") == 0);
	ATF_CHECK(execd_cmdline_symset((char *)"noequals") == -1);
	write_file("execd.conf", 0644,
	    "runas = root\n"
	    "limits = \"cpu 3 memory 32M\"\n"
	    "module m {\n"
	    "	program \"%s\"\n"
	    "	run as $runas\n"
	    "	limit $limits\n"
	    "	allow any\n"
	    "}\n", true_path());
	conf = parse("execd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_REQUIRE((m = module_find(conf, "m")) != NULL);
	ATF_CHECK_STREQ(m->runas_user, "nobody");
	ATF_CHECK_EQ(m->cpu, 3);
	ATF_CHECK_EQ(m->memory, 32 * 1024 * 1024);
	execd_config_free(conf);
	ATF_CHECK(conffile_symget("limits") == NULL);
}

ATF_TC_WITHOUT_HEAD(module_find);
ATF_TC_BODY(module_find, tc)
{
	struct execd_conf	*conf;

	setup();
	write_file("execd.conf", 0644, MODULE_OK("a") MODULE_OK("b-2_c"),
	    true_path(), true_path());
	conf = parse("execd.conf");
	ATF_REQUIRE_MSG(conf != NULL, "log:\n%s", errlog);
	ATF_CHECK(module_find(conf, "a") == TAILQ_FIRST(&conf->modules));
	ATF_CHECK(module_find(conf, "b-2_c") == TAILQ_LAST(&conf->modules,
	    modulelist));
	ATF_CHECK(module_find(conf, "b") == NULL);
	ATF_CHECK(module_find(conf, "A") == NULL);
	ATF_CHECK(module_find(conf, "") == NULL);
	ATF_CHECK(module_find(conf, NULL) == NULL);
	ATF_CHECK(module_find(NULL, "a") == NULL);
	execd_config_free(conf);
	execd_config_free(NULL);
}

ATF_TC_WITHOUT_HEAD(err_unknown_keyword);
ATF_TC_BODY(err_unknown_keyword, tc)
{
	setup();
	write_file("execd.conf", 0644,
	    "frobnicate yes\n"
	    "module \"m\" {\n"
	    "	program \"%s\"\n"
	    "	shell \"/bin/sh\"\n"
	    "	run as nobody\n"
	    "	run nobody\n"
	    "	allow any\n"
	    "	timeout 5 9\n"
	    "}\n"
	    "program \"/bin/true\"\n", true_path());
	require_error("execd.conf",
	    "execd.conf:1: unknown keyword 'frobnicate'");
	HAS("execd.conf:4: unknown keyword 'shell'");
	HAS("execd.conf:6: syntax error");
	HAS("execd.conf:8: syntax error");
	HAS("execd.conf:10: syntax error");
	/* the module's other statements were read */
	LACKS("no run as");
	LACKS("no program");
}

ATF_TC_WITHOUT_HEAD(err_run_as);
ATF_TC_BODY(err_run_as, tc)
{
	setup();
	write_file("execd.conf", 0644,
	    "module \"m\" {\n"
	    "	program \"%s\"\n"
	    "	allow any\n"
	    "	run as root\n"
	    "	run as \"nobody:root\"\n"
	    "	run as no-such-user-here\n"
	    "	run as \"nobody:no-such-group-here\"\n"
	    "	run as \"nobody:\"\n"
	    "}\n"
	    "module \"n\" {\n"
	    "	program \"%s\"\n"
	    "	allow any\n"
	    "}\n", true_path(), true_path());
	require_error("execd.conf",
	    "execd.conf:4: run as root: user root has uid 0, refused");
	HAS("execd.conf:5: run as nobody:root: group root has gid 0, "
	    "refused");
	HAS("execd.conf:6: run as no-such-user-here: unknown user "
	    "no-such-user-here");
	HAS("execd.conf:7: run as nobody:no-such-group-here: unknown group "
	    "no-such-group-here");
	HAS("execd.conf:8: run as nobody:: expected user or user:group");
	HAS("execd.conf:10: module n: no run as");
	LACKS("module m: no run as");
}

ATF_TC_WITHOUT_HEAD(err_program_checks);
ATF_TC_BODY(err_program_checks, tc)
{
	char	cwd[PATH_MAX], msg[PATH_MAX * 2 + 128];

	setup();
	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	make_program("bin/noexec", 0644);
	make_program("bin/gw", 0775);
	ATF_REQUIRE(mkdir("open", 0755) == 0);
	make_program("open/true", 0755);
	ATF_REQUIRE(chmod("open", 0777) == 0);
	write_file("execd.conf", 0644,
	    "module a {\n"
	    "	run as nobody\n"
	    "	program \"bin/true\"\n"
	    "	allow any\n"
	    "}\n"
	    "module b {\n"
	    "	program \"%s/nonexistent\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "}\n"
	    "module c {\n"
	    "	program \"%s/bin/noexec\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "}\n"
	    "module d {\n"
	    "	program \"%s/bin/gw\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "}\n"
	    "module e {\n"
	    "	program \"%s/bin\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "}\n"
	    "module f {\n"
	    "	program \"%s/open/true\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "}\n"
	    "module g {\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	program \"/true\"\n"
	    "	chroot \"%s/bin\"\n"
	    "}\n"
	    "module h {\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	program \"/bin/true\"\n"
	    "	chroot \"%s/bin\"\n"
	    "}\n"
	    "module i {\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "}\n"
	    "module j {\n"
	    "	program \"/true\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	chroot \"%s/bin/true\"\n"
	    "}\n", cwd, cwd, cwd, cwd, cwd, cwd, cwd, cwd);
	require_error("execd.conf",
	    "execd.conf:3: program bin/true: not an absolute path");
	LACKS("module a: no program");
	snprintf(msg, sizeof(msg), "execd.conf:7: module b: program "
	    "%s/nonexistent: No such file or directory", cwd);
	HAS(msg);
	snprintf(msg, sizeof(msg), "execd.conf:12: module c: program "
	    "%s/bin/noexec: not executable", cwd);
	HAS(msg);
	snprintf(msg, sizeof(msg), "execd.conf:17: module d: program "
	    "%s/bin/gw: writable by group or others (mode 775)", cwd);
	HAS(msg);
	snprintf(msg, sizeof(msg), "execd.conf:22: module e: program "
	    "%s/bin: not a regular file", cwd);
	HAS(msg);
	snprintf(msg, sizeof(msg), "execd.conf:27: module f: program "
	    "%s/open/true: directory %s/open is writable by group or "
	    "others (mode 777)", cwd, cwd);
	HAS(msg);
	/* with a chroot, the program is named as seen inside it */
	LACKS("module g:");
	snprintf(msg, sizeof(msg), "execd.conf:40: module h: program "
	    "%s/bin/bin/true: No such file or directory", cwd);
	HAS(msg);
	HAS("execd.conf:43: module i: no program");
	snprintf(msg, sizeof(msg), "execd.conf:51: module j: chroot "
	    "%s/bin/true: not a directory", cwd);
	HAS(msg);
	LACKS("module j: program");
}

ATF_TC_WITHOUT_HEAD(err_pattern);
ATF_TC_BODY(err_pattern, tc)
{
	setup();
	write_file("execd.conf", 0644,
	    "module m {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	argument pattern \"[a-z\"\n"
	    "	argument pattern \"a)|(b\"\n"
	    "	argument pattern \"\"\n"
	    "	argument pattern \"^[a-z]+$\"\n"
	    "}\n", true_path());
	require_error("execd.conf", "execd.conf:5: argument pattern [a-z: ");
	HAS("execd.conf:6: argument pattern a)|(b: ");
	HAS("execd.conf:7: argument pattern: empty");
	LACKS(":8:");
}

ATF_TC_WITHOUT_HEAD(err_module_names);
ATF_TC_BODY(err_module_names, tc)
{
	setup();
	ATF_REQUIRE(mkdir("execd.d", 0755) == 0);
	write_file("execd.d/a.conf", 0644, MODULE_OK("dup"), true_path());
	write_file("execd.d/b.conf", 0644, "\n" MODULE_OK("dup"),
	    true_path());
	write_file("execd.conf", 0644,
	    "include \"execd.d/*.conf\"\n"
	    MODULE_OK("Upper")
	    MODULE_OK("has space")
	    MODULE_OK("")
	    MODULE_OK("a2345678901234567890123456789012")
	    MODULE_OK("a234567890123456789012345678901")
	    "module \"bad/name\" {\n"
	    "	timeout 0\n"
	    "}\n",
	    true_path(), true_path(), true_path(), true_path(), true_path());
	require_error("execd.conf",
	    "execd.d/b.conf:2: module dup already defined at "
	    "execd.d/a.conf:1");
	HAS("execd.conf:2: invalid module name 'Upper'");
	HAS("execd.conf:7: invalid module name 'has space'");
	HAS("execd.conf:12: invalid module name ''");
	HAS("execd.conf:17: invalid module name "
	    "'a2345678901234567890123456789012'");
	LACKS(":22:");
	/* the body of a module with a bad name is read all the same */
	HAS("execd.conf:27: invalid module name 'bad/name'");
	HAS("execd.conf:28: timeout 0 out of range");
}

ATF_TC_WITHOUT_HEAD(err_arguments);
ATF_TC_BODY(err_arguments, tc)
{
	setup();
	write_file("execd.conf", 0644,
	    "module m {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	arguments 3 to 1\n"
	    "	arguments 65\n"
	    "	arguments -1 to 2\n"
	    "	argument max 0\n"
	    "	arguments 1 to 3\n"
	    "	argv m %%1 \"x=%%2\"\n"
	    "}\n"
	    "module n {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	arguments 1\n"
	    "	arguments on stdin\n"
	    "	argv n %%1\n"
	    "}\n"
	    "module o {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	argv o %%a\n"
	    "	arguments on stdin\n"
	    "	interactive\n"
	    "}\n", true_path(), true_path(), true_path());
	require_error("execd.conf", "execd.conf:5: arguments 3 to 1: the "
	    "minimum is above the maximum");
	HAS("execd.conf:6: arguments 65 out of range (0..64)");
	HAS("execd.conf:7: arguments -1 out of range (0..64)");
	HAS("execd.conf:8: argument max 0 out of range (1..8192)");
	HAS("execd.conf:10: module m: argv x=%2: %2 needs arguments 2 or "
	    "more");
	HAS("execd.conf:18: module n: argv %1: the arguments go on stdin");
	HAS("execd.conf:24: module o: argv %a: the arguments go on stdin");
	HAS("execd.conf:25: module o: arguments on stdin: not with "
	    "interactive");
}

ATF_TC_WITHOUT_HEAD(err_argv_template);
ATF_TC_BODY(err_argv_template, tc)
{
	setup();
	write_file("execd.conf", 0644,
	    "module m {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	argv m \"%%x\"\n"
	    "	argv m \"--a=%%0\"\n"
	    "	argv m \"100%%\"\n"
	    "	argv m \"-%%a\"\n"
	    "	argv %%a\n"
	    "	argv m %%a %%a\n"
	    "	argv m \"%%%%x\" \"%%u%%l%%d\"\n"
	    "}\n", true_path());
	require_error("execd.conf", "execd.conf:5: argv %x: unknown %x");
	HAS("execd.conf:6: argv --a=%0: unknown %0");
	HAS("execd.conf:7: argv 100%: '%' at the end (write %% for '%')");
	HAS("execd.conf:8: argv -%a: %a must be a word of its own");
	HAS("execd.conf:9: argv: the first word, argv[0], cannot be %a");
	HAS("execd.conf:10: argv: %a more than once");
	LACKS(":11:");
}

ATF_TC_WITHOUT_HEAD(err_sandbox);
ATF_TC_BODY(err_sandbox, tc)
{
	setup();
	write_file("execd.conf", 0644,
	    "module m {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n"
	    "	read \"var/lib\"\n"
	    "	write \"/var/lib/x/../../etc\"\n"
	    "	read \"/var/lib/%%a\"\n"
	    "	write \"/var/lib/..x/%%u/\" \"/tmp/%%%%\"\n"
	    "	chroot \"var/empty\"\n"
	    "	network maybe\n"
	    "	env \"PATH\"\n"
	    "	env \"1X=y\"\n"
	    "	env \"A=b\" \"A=c\"\n"
	    "	allow group \"no-such-group-here\"\n"
	    "	allow user \"a b\"\n"
	    "	description \"two\\\n"
	    "lines\"\n"
	    "	limit memory 1K\n"
	    "	output 0\n"
	    "	rate 0\n"
	    "	concurrency 0 per-user\n"
	    "}\n", true_path());
	require_error("execd.conf",
	    "execd.conf:5: read var/lib: not an absolute path");
	HAS("execd.conf:6: write /var/lib/x/../../etc: '..' is refused");
	HAS("execd.conf:7: read /var/lib/%a: unknown %a");
	LACKS(":8:");
	HAS("execd.conf:9: chroot var/empty: not an absolute path");
	HAS("execd.conf:10: syntax error");
	HAS("execd.conf:11: env PATH: expected NAME=value");
	HAS("execd.conf:12: env 1X=y: expected NAME=value");
	HAS("execd.conf:13: env A: set twice");
	HAS("execd.conf:14: allow group no-such-group-here: unknown group");
	HAS("execd.conf:15: allow user 'a b': white space or control "
	    "character");
	LACKS(":16:");
	HAS("execd.conf:18: limit memory 1024 out of range");
	HAS("execd.conf:19: output 0 out of range");
	HAS("execd.conf:20: rate 0 out of range");
	HAS("execd.conf:21: concurrency per-user 0 out of range");
}

ATF_TC_WITHOUT_HEAD(err_incomplete);
ATF_TC_BODY(err_incomplete, tc)
{
	setup();
	write_file("execd.conf", 0644,
	    "module m {\n"
	    "	description \"nothing else\"\n"
	    "}\n"
	    "module n {\n"
	    "	program \"%s\"\n"
	    "	run as nobody\n"
	    "	allow any\n", true_path());
	require_error("execd.conf", "execd.conf:1: module m: no program");
	HAS("execd.conf:1: module m: no run as");
	HAS("execd.conf:1: module m: no allow: nobody could run it");
	HAS("execd.conf:4: module n: no closing '}'");
}

ATF_TC_WITHOUT_HEAD(err_permissions);
ATF_TC_BODY(err_permissions, tc)
{
	struct execd_conf	*conf;

	setup();
	write_file("execd.conf", 0664, "concurrency 4\n");
	require_error("execd.conf",
	    "execd.conf: writable by group or others (mode 664)");
	/* reading is harmless */
	write_file("execd.conf", 0644, "concurrency 4\n");
	conf = parse("execd.conf");
	ATF_CHECK_MSG(conf != NULL, "log:\n%s", errlog);
	execd_config_free(conf);

	ATF_REQUIRE(mkdir("execd.d", 0755) == 0);
	write_file("execd.d/a.conf", 0644, MODULE_OK("a"), true_path());
	write_file("execd.d/b.conf", 0646, MODULE_OK("b"), true_path());
	write_file("execd.conf", 0644,
	    "\n"
	    "include \"execd.d/*.conf\"\n");
	require_error("execd.conf", "execd.conf:2: include execd.d/b.conf: "
	    "writable by group or others (mode 646)");

	/* nor may the directory be, where files could be swapped */
	ATF_REQUIRE(chmod("execd.d/b.conf", 0644) == 0);
	ATF_REQUIRE(chmod("execd.d", 0775) == 0);
	require_error("execd.conf", "execd.conf:2: include execd.d/a.conf: "
	    "directory execd.d is writable by group or others (mode 775)");
	ATF_REQUIRE(chmod("execd.d", 0755) == 0);
	conf = parse("execd.conf");
	ATF_CHECK_MSG(conf != NULL, "log:\n%s", errlog);
	execd_config_free(conf);

	/* a file that does not exist is conffile's to report */
	ATF_CHECK(parse("nonexistent.conf") == NULL);
	HAS("nonexistent.conf: No such file");
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, full_module);
	ATF_TP_ADD_TC(tp, defaults);
	ATF_TP_ADD_TC(tp, include_glob);
	ATF_TP_ADD_TC(tp, macros);
	ATF_TP_ADD_TC(tp, module_find);
	ATF_TP_ADD_TC(tp, err_unknown_keyword);
	ATF_TP_ADD_TC(tp, err_run_as);
	ATF_TP_ADD_TC(tp, err_program_checks);
	ATF_TP_ADD_TC(tp, err_pattern);
	ATF_TP_ADD_TC(tp, err_module_names);
	ATF_TP_ADD_TC(tp, err_arguments);
	ATF_TP_ADD_TC(tp, err_argv_template);
	ATF_TP_ADD_TC(tp, err_sandbox);
	ATF_TP_ADD_TC(tp, err_incomplete);
	ATF_TP_ADD_TC(tp, err_permissions);
	return (atf_no_error());
}
