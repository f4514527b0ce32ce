/*
 * Dropping root for good: chroot (optional), then the user's group and
 * user ids, real, effective and saved, checked afterwards.  The caller
 * looks the user up (getpwnam) before, while /etc is still there.
 */
#ifndef IMAPX_PRIVDROP_H
#define IMAPX_PRIVDROP_H

#include <sys/types.h>

#include <pwd.h>

void	privdrop(const struct passwd *, const char *);
int	privdrop_verify(uid_t, gid_t);

#endif
