/*
 * The one rule for a user's canonical name, "user@domain", that every
 * service keys on: execd's %u, submitd's From check, the store's keys,
 * the per-user session count.
 */
#ifndef IMAPX_CANON_H
#define IMAPX_CANON_H

#include <stddef.h>

int	canon_user(const char *, const char *, char *, size_t);
int	canon_split(const char *, char *, size_t, char *, size_t);

#endif
