/*
 * Fuzz the capability filter and the [CAPABILITY] code finder.  The
 * input is a capability list (and, for the finder, a response line).
 * Output buffers are allocated at their exact size: a large one that
 * must always be enough, and a small one that may be refused but must
 * then agree with the large one when it is not.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapparse.h"

#define SMALL	16

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 filter(const char *, size_t, const char *);
static void	 check_out(const char *, size_t, const char *);
static int	 in_extra(const char *, size_t, const char *);

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n)) == NULL)
		abort();
	return p;
}

static int
in_extra(const char *cap, size_t len, const char *extra)
{
	const char	*e, *sp;
	size_t		 elen;

	for (e = extra; e != NULL && *e != '\0'; e = sp == NULL ? NULL :
	    sp + 1) {
		sp = strchr(e, ' ');
		elen = sp == NULL ? strlen(e) : (size_t)(sp - e);
		if (elen == len && strncasecmp(e, cap, len) == 0)
			return 1;
	}
	return 0;
}

/* Single spaces between caps, each one carried or one of ours. */
static void
check_out(const char *out, size_t n, const char *extra)
{
	size_t	i = 0, j;

	if (n > 0 && (out[0] == ' ' || out[n - 1] == ' '))
		abort();
	while (i < n) {
		for (j = i; j < n && out[j] != ' '; j++)
			;
		if (j == i)
			abort();
		if (!imap_cap_allowed(out + i, j - i) &&
		    !in_extra(out + i, j - i, extra))
			abort();
		i = j + 1;
	}
}

static void
filter(const char *p, size_t len, const char *extra)
{
	char	*big, *small;
	size_t	 elen = extra == NULL ? 0 : strlen(extra);
	size_t	 biglen = len + elen + 3, n, m;

	big = xmalloc(biglen);
	small = xmalloc(SMALL);
	n = imap_caps_filter(p, len, big, biglen, extra);
	if (n == (size_t)-1 || n >= biglen || big[n] != '\0')
		abort();
	check_out(big, n, extra);
	if (elen > 0 && (n < elen || memcmp(big + n - elen, extra, elen) != 0))
		abort();
	m = imap_caps_filter(p, len, small, SMALL, extra);
	if (m != (size_t)-1 && (m != n || memcmp(small, big, n + 1) != 0))
		abort();
	free(big);
	free(small);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data;
	size_t		 start, end;

	filter(p, size, NULL);
	filter(p, size, "");
	filter(p, size, "XEXEC CAN-SUBMIT NOTIFY");

	if (imap_find_capcode(p, size, &start, &end)) {
		if (start < 12 || start > end || end >= size || p[end] != ']' ||
		    strncasecmp(p + start - 12, "[CAPABILITY ", 12) != 0 ||
		    memchr(p + start, ']', end - start) != NULL ||
		    memchr(p + start, '\n', end - start) != NULL ||
		    memchr(p + start, '\r', end - start) != NULL)
			abort();
		filter(p + start, end - start, "XEXEC");
	}
	return 0;
}
