/*
 * Fuzz imap_segment() the way the proxy uses it: take a segment, skip
 * the literal it announces, go on with what follows, until the input
 * ends or no line end is left.  Every segment is checked against what
 * the bytes say, and a literal marker of few digits against a plain
 * reading of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapparse.h"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	 check(const char *, size_t, const struct imap_seg *);
static void	 check_marker(const char *, size_t, const struct imap_seg *);

/* One segment of p[0..len): its bounds and its literal marker. */
static void
check(const char *p, size_t len, const struct imap_seg *seg)
{
	struct imap_seg	again;
	size_t		end;

	if (seg->len == 0 || seg->len > len || p[seg->len - 1] != '\n' ||
	    memchr(p, '\n', seg->len - 1) != NULL)
		abort();
	if (seg->textlen > seg->len - 1)
		abort();
	/* without its LF the same bytes are an incomplete line */
	if (imap_segment(p, seg->len - 1, &again) != 0)
		abort();
	/* what follows the segment does not change it */
	if (imap_segment(p, seg->len, &again) != 1 ||
	    memcmp(&again, seg, sizeof(again)) != 0)
		abort();

	end = seg->len - 1;
	if (end > 0 && p[end - 1] == '\r')
		end--;
	switch (seg->lit) {
	case LIT_NONE:
		if (seg->textlen != end || seg->litlen != 0)
			abort();
		break;
	case LIT_SYNC:
	case LIT_NONSYNC:
	case LIT_SYNC | LIT_BINARY:
	case LIT_NONSYNC | LIT_BINARY:
		if (seg->litlen > IMAP_LITERAL_MAX && seg->litlen != UINT64_MAX)
			abort();
		if (p[seg->textlen] != ((seg->lit & LIT_BINARY) ? '~' : '{') ||
		    p[end - 1] != '}')
			abort();
		if ((seg->lit & LIT_NONSYNC) && p[end - 2] != '+')
			abort();
		break;
	default:
		abort();
	}
	check_marker(p, end, seg);
}

/*
 * Read a "{n}" / "{n+}" ending p[0..end) forward.  Up to 12 digits the
 * value is below IMAP_LITERAL_MAX and must be what the scanner found.
 */
static void
check_marker(const char *p, size_t end, const struct imap_seg *seg)
{
	size_t		i, open, ndig;
	uint64_t	n = 0;
	int		nonsync = 0;

	if (end < 3 || p[end - 1] != '}') {
		if (seg->lit != LIT_NONE)
			abort();
		return;
	}
	i = end - 1;
	if (p[i - 1] == '+') {
		nonsync = 1;
		i--;
	}
	for (open = i; open > 0 && p[open - 1] >= '0' && p[open - 1] <= '9';)
		open--;
	ndig = i - open;
	if (ndig == 0 || open == 0 || p[open - 1] != '{') {
		if (seg->lit != LIT_NONE)
			abort();
		return;
	}
	if (seg->lit == LIT_NONE || !!(seg->lit & LIT_NONSYNC) != nonsync)
		abort();
	if (!!(seg->lit & LIT_BINARY) != (open >= 2 && p[open - 2] == '~'))
		abort();
	if (ndig > 12)
		return;
	for (i = open; i < open + ndig; i++)
		n = n * 10 + (p[i] - '0');
	if (seg->litlen != n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data;
	struct imap_seg	 seg;
	size_t		 off = 0, skip;

	while (off < size) {
		memset(&seg, 0xa5, sizeof(seg));
		if (imap_segment(p + off, size - off, &seg) == 0) {
			if (memchr(p + off, '\n', size - off) != NULL)
				abort();
			break;
		}
		check(p + off, size - off, &seg);
		off += seg.len;
		if (seg.lit != LIT_NONE) {
			skip = seg.litlen < size - off ? seg.litlen :
			    size - off;
			off += skip;
		}
	}
	return 0;
}
