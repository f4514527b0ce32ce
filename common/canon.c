/*
 * Canonical user names.  A login name is lower-cased (mail hosts match
 * user names without regard to case, as Dovecot's %Lu does) and gets the
 * default domain when it has none.  Names that no service could use as a
 * key or an argument are refused here, once: empty, too long, control
 * bytes, white space, more than one '@', an empty local part or domain,
 * and characters that have a meaning in paths or shells ('/', '\\').
 */
#include <ctype.h>
#include <string.h>

#include "canon.h"

int
canon_user(const char *login, const char *domain, char *out, size_t outlen)
{
	size_t		 i, n = 0;
	const char	*at = NULL;
	int		 c;

	if (login == NULL || *login == '\0')
		return -1;
	for (i = 0; login[i] != '\0'; i++) {
		c = (unsigned char)login[i];
		if (c <= 0x20 || c == 0x7f || c == '/' || c == '\\')
			return -1;
		if (c == '@') {
			if (at != NULL || i == 0)
				return -1;
			at = login + i;
		}
		if (n + 1 >= outlen)
			return -1;
		out[n++] = tolower(c);
	}
	if (at != NULL && at[1] == '\0')
		return -1;
	if (at == NULL && domain != NULL && *domain != '\0') {
		if (n + 1 + strlen(domain) + 1 > outlen)
			return -1;
		out[n++] = '@';
		for (i = 0; domain[i] != '\0'; i++) {
			c = (unsigned char)domain[i];
			if (c <= 0x20 || c == 0x7f || c == '@' || c == '/' ||
			    c == '\\')
				return -1;
			out[n++] = tolower(c);
		}
	}
	out[n] = '\0';
	return 0;
}

/* Split a canonical name into local part and domain ("" if none). */
int
canon_split(const char *user, char *local, size_t llen, char *domain,
    size_t dlen)
{
	const char	*at = strchr(user, '@');
	size_t		 n = at == NULL ? strlen(user) : (size_t)(at - user);

	if (n + 1 > llen)
		return -1;
	memcpy(local, user, n);
	local[n] = '\0';
	if (at == NULL) {
		if (dlen == 0)
			return -1;
		domain[0] = '\0';
		return 0;
	}
	if (strlen(at + 1) + 1 > dlen)
		return -1;
	strcpy(domain, at + 1);
	return 0;
}
