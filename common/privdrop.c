/*
 * privdrop: chroot, then setgroups/setresgid/setresuid, then prove it.
 * The order matters: chroot needs root, and the groups go before the uid
 * because a non-root uid may no longer change them.
 */
#include <sys/types.h>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

void
privdrop(const struct passwd *pw, const char *chrootdir)
{
	uid_t	uid = pw->pw_uid;
	gid_t	gid = pw->pw_gid;

	/* Dropping to root is no drop; privdrop_verify() could not tell. */
	if (uid == 0 || gid == 0)
		fatalx("privdrop: refusing uid %u gid %u (user %s)",
		    (unsigned int)uid, (unsigned int)gid, pw->pw_name);
	if (chrootdir != NULL) {
		if (chroot(chrootdir) == -1)
			fatal("chroot %s", chrootdir);
		if (chdir("/") == -1)
			fatal("chdir / in %s", chrootdir);
	}
	if (setgroups(1, &gid) == -1)
		fatal("setgroups %u", (unsigned int)gid);
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid %u", (unsigned int)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid %u", (unsigned int)uid);
	if (privdrop_verify(uid, gid) == -1)
		fatalx("privdrop: still privileged after dropping to %s",
		    pw->pw_name);
}

/*
 * All of real, effective and saved uid and gid are uid and gid, the only
 * supplementary group is gid, and root can not be had back.  0 if so;
 * -1 and a log line saying what is wrong if not.  Neither may be 0.
 */
int
privdrop_verify(uid_t uid, gid_t gid)
{
	uid_t	ruid, euid, suid;
	gid_t	rgid, egid, sgid, group;
	int	n;

	if (uid == 0 || gid == 0) {
		log_warnx("privdrop: uid %u gid %u is not a dropped id",
		    (unsigned int)uid, (unsigned int)gid);
		return -1;
	}
	if (getresuid(&ruid, &euid, &suid) == -1) {
		log_warn("getresuid");
		return -1;
	}
	if (ruid != uid || euid != uid || suid != uid) {
		log_warnx("privdrop: uids %u/%u/%u, want %u",
		    (unsigned int)ruid, (unsigned int)euid,
		    (unsigned int)suid, (unsigned int)uid);
		return -1;
	}
	if (getresgid(&rgid, &egid, &sgid) == -1) {
		log_warn("getresgid");
		return -1;
	}
	if (rgid != gid || egid != gid || sgid != gid) {
		log_warnx("privdrop: gids %u/%u/%u, want %u",
		    (unsigned int)rgid, (unsigned int)egid,
		    (unsigned int)sgid, (unsigned int)gid);
		return -1;
	}
	if ((n = getgroups(0, NULL)) == -1) {
		log_warn("privdrop: getgroups");
		return -1;
	}
	if (n != 1 || getgroups(1, &group) != 1 || group != gid) {
		log_warnx("privdrop: %d supplementary groups, want only %u",
		    n, (unsigned int)gid);
		return -1;
	}
	/* No way back: a kept CAP_SETUID or CAP_SETGID would show here. */
	if (setuid(0) != -1 || seteuid(0) != -1) {
		log_warnx("privdrop: could become root again");
		return -1;
	}
	if (setgid(0) != -1 || setegid(0) != -1) {
		log_warnx("privdrop: could take gid 0 again");
		return -1;
	}
	return 0;
}
