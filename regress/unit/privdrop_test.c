/*
 * privdrop: a forked root child drops to "nobody" and checks what it
 * became; the parent looks at how the child ended.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

#define CHILD_FAILED	2

#define CHECK(cond) do {						\
	if (!(cond))							\
		child_fail(__LINE__, #cond);				\
} while (0)

struct drop {
	struct passwd	*pw;
	const char	*root;		/* chroot, or NULL */
};

static void	child_fail(int, const char *);
static struct passwd *nobody(void);
static void	check_ids(uid_t, gid_t);

#include "atf_lsan.h"
#include "child.h"

static void
child_fail(int line, const char *what)
{
	char	buf[512];
	int	len;

	len = snprintf(buf, sizeof(buf), "child: line %d: %s (errno %d: %s)\n",
	    line, what, errno, strerror(errno));
	if (len > 0 && write(STDERR_FILENO, buf, len) == -1)
		_exit(CHILD_FAILED + 1);
	_exit(CHILD_FAILED);
}

static struct passwd *
nobody(void)
{
	struct passwd	*pw;

	log_init(1, LOG_DAEMON);
	if ((pw = getpwnam("nobody")) == NULL)
		atf_tc_skip("no user nobody");
	ATF_REQUIRE(pw->pw_uid != 0 && pw->pw_gid != 0);
	return pw;
}

/* In the child: every id is uid/gid and root is out of reach. */
static void
check_ids(uid_t uid, gid_t gid)
{
	uid_t	ruid, euid, suid;
	gid_t	rgid, egid, sgid, groups[4];

	CHECK(getresuid(&ruid, &euid, &suid) == 0);
	CHECK(ruid == uid && euid == uid && suid == uid);
	CHECK(getresgid(&rgid, &egid, &sgid) == 0);
	CHECK(rgid == gid && egid == gid && sgid == gid);
	CHECK(getgroups(4, groups) == 1 && groups[0] == gid);
	CHECK(setuid(0) == -1 && errno == EPERM);
	CHECK(seteuid(0) == -1 && errno == EPERM);
	CHECK(setgroups(0, NULL) == -1 && errno == EPERM);
	CHECK(privdrop_verify(uid, gid) == 0);
}

static void
child_drop(void *arg)
{
	struct drop	*d = arg;
	uid_t		 uid = d->pw->pw_uid;
	gid_t		 gid = d->pw->pw_gid;
	char		 cwd[PATH_MAX];

	privdrop(d->pw, d->root);
	check_ids(uid, gid);
	if (d->root != NULL) {
		CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
		CHECK(strcmp(cwd, "/") == 0);
		CHECK(access("/marker", R_OK) == 0);
		CHECK(access("/etc/passwd", F_OK) == -1 && errno == ENOENT);
	} else
		CHECK(access("/etc/passwd", R_OK) == 0);
}

ATF_TC(privdrop_chroot);
ATF_TC_HEAD(privdrop_chroot, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "privdrop to nobody in a chroot: all ids, groups, root is gone");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(privdrop_chroot, tc)
{
	struct drop	 d;
	char		 cwd[PATH_MAX], root[PATH_MAX], marker[PATH_MAX];
	int		 fd;

	d.pw = nobody();
	ATF_REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	ATF_REQUIRE((size_t)snprintf(root, sizeof(root), "%s/root", cwd) <
	    sizeof(root));
	ATF_REQUIRE((size_t)snprintf(marker, sizeof(marker), "%s/marker",
	    root) < sizeof(marker));
	ATF_REQUIRE(mkdir(root, 0755) == 0);
	/* mkdir is subject to umask; nobody must be able to search it. */
	ATF_REQUIRE(chmod(root, 0755) == 0);
	ATF_REQUIRE((fd = open(marker, O_WRONLY | O_CREAT, 0644)) != -1);
	ATF_REQUIRE(fchmod(fd, 0644) == 0);
	ATF_REQUIRE(close(fd) == 0);
	d.root = root;
	expect_exit(run_child(child_drop, &d), 0);
}

ATF_TC(privdrop_no_chroot);
ATF_TC_HEAD(privdrop_no_chroot, tc)
{
	atf_tc_set_md_var(tc, "descr", "privdrop to nobody without chroot");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(privdrop_no_chroot, tc)
{
	struct drop	d;

	d.pw = nobody();
	d.root = NULL;
	expect_exit(run_child(child_drop, &d), 0);
}

static void
child_half_drop(void *arg)
{
	struct passwd	*pw = arg;

	/* The saved uid stays 0: privdrop_verify() must see it. */
	CHECK(setgroups(1, &pw->pw_gid) == 0);
	CHECK(setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == 0);
	CHECK(setresuid(pw->pw_uid, pw->pw_uid, 0) == 0);
	CHECK(privdrop_verify(pw->pw_uid, pw->pw_gid) == -1);
}

static void
child_extra_group(void *arg)
{
	struct passwd	*pw = arg;
	gid_t		 groups[2];

	groups[0] = pw->pw_gid;
	groups[1] = pw->pw_gid + 1;
	CHECK(setgroups(2, groups) == 0);
	CHECK(setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == 0);
	CHECK(setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == 0);
	CHECK(privdrop_verify(pw->pw_uid, pw->pw_gid) == -1);
}

ATF_TC(privdrop_verify_catches);
ATF_TC_HEAD(privdrop_verify_catches, tc)
{
	atf_tc_set_md_var(tc, "descr",
	    "privdrop_verify: root, a saved uid 0, an extra group fail");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(privdrop_verify_catches, tc)
{
	struct passwd	*pw;

	pw = nobody();
	ATF_CHECK(privdrop_verify(getuid(), getgid()) == -1);
	ATF_CHECK(privdrop_verify(pw->pw_uid, pw->pw_gid) == -1);
	expect_exit(run_child(child_half_drop, pw), 0);
	expect_exit(run_child(child_extra_group, pw), 0);
}

static void
child_drop_root(void *arg)
{
	struct passwd	*pw;

	CHECK((pw = getpwuid(0)) != NULL);
	privdrop(pw, NULL);
	child_fail(__LINE__, "privdrop to root returned");
}

ATF_TC(privdrop_refuses_root);
ATF_TC_HEAD(privdrop_refuses_root, tc)
{
	atf_tc_set_md_var(tc, "descr", "privdrop to uid 0 is fatal");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(privdrop_refuses_root, tc)
{
	log_init(1, LOG_DAEMON);
	expect_exit(run_child(child_drop_root, NULL), 1);
}

static void
child_bad_chroot(void *arg)
{
	privdrop(arg, "/nonexistent/imapx");
	child_fail(__LINE__, "privdrop to a missing chroot returned");
}

ATF_TC(privdrop_bad_chroot);
ATF_TC_HEAD(privdrop_bad_chroot, tc)
{
	atf_tc_set_md_var(tc, "descr", "privdrop into a missing dir is fatal");
	atf_tc_set_md_var(tc, "require.user", "root");
}
ATF_TC_BODY(privdrop_bad_chroot, tc)
{
	expect_exit(run_child(child_bad_chroot, nobody()), 1);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, privdrop_chroot);
	ATF_TP_ADD_TC(tp, privdrop_no_chroot);
	ATF_TP_ADD_TC(tp, privdrop_verify_catches);
	ATF_TP_ADD_TC(tp, privdrop_refuses_root);
	ATF_TP_ADD_TC(tp, privdrop_bad_chroot);
	return atf_no_error();
}
