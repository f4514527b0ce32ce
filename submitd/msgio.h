/*
 * Reading and writing spool files line by line, for message.c and
 * mime.c; the writer is also submitd's, for msg_header() and
 * msg_body_put().  The reader keeps one
 * window of the file and can seek, since both passes over a message
 * (look first, then write) go back to offsets they have seen.
 */
#ifndef SUBMITD_MSGIO_H
#define SUBMITD_MSGIO_H

#include <sys/types.h>

#include <stddef.h>

#define MSGIO_BUF	65536
#define MSG_PREFIX	256	/* bytes of each line kept for a look */

struct msg_rd {
	int		 fd;
	off_t		 base;		/* file offset of buf[0] */
	size_t		 len;		/* bytes in buf */
	size_t		 pos;		/* the next one */
	unsigned char	 buf[MSGIO_BUF];
};

struct msg_wr {
	int		 fd;
	size_t		 len;		/* bytes in buf */
	off_t		 total;		/* bytes written, buffered or not */
	int		 err;		/* a write failed: the rest is lost */
	unsigned char	 last[2];	/* the two last bytes put */
	unsigned char	 buf[MSGIO_BUF];
};

struct msg_buf {
	char		*p;
	size_t		 len;
	size_t		 size;
};

/* What msg_rd_line() saw on a line; MSG_L_* flags. */
#define MSG_L_8BIT	0x01	/* bytes over 127 */
#define MSG_L_NUL	0x02
#define MSG_L_BARECR	0x04	/* a CR that does not end the line */
#define MSG_L_BARELF	0x08	/* the line ends in LF alone */
#define MSG_L_BADUTF8	0x10	/* bytes over 127 that are not UTF-8 */
#define MSG_L_TRUNC	0x20	/* the buffer's cap cut the line short */

struct msg_line {
	off_t		 off;		/* of its first byte */
	size_t		 len;		/* with its line end */
	size_t		 clen;		/* without: the content */
	size_t		 tlen;		/* content without trailing SP/HT */
	int		 eol;		/* it has a line end (else EOF) */
	int		 flags;
	unsigned char	 prefix[MSG_PREFIX];	/* its first bytes */
};

void	 msg_rd_init(struct msg_rd *, int);
void	 msg_rd_seek(struct msg_rd *, off_t);
off_t	 msg_rd_tell(const struct msg_rd *);
int	 msg_rd_line(struct msg_rd *, struct msg_line *, struct msg_buf *,
	    size_t);
ssize_t	 msg_rd_chunk(struct msg_rd *, const unsigned char **, size_t);

void	 msg_wr_init(struct msg_wr *, int);
void	 msg_wr_put(struct msg_wr *, const void *, size_t);
void	 msg_wr_str(struct msg_wr *, const char *);
int	 msg_wr_flush(struct msg_wr *);

int	 msg_buf_add(struct msg_buf *, const void *, size_t);
void	 msg_buf_free(struct msg_buf *);

const char *msg_cfws(const char *);
int	 msg_utf8_step(unsigned int *, unsigned char);
/* Format a reason for the client, made printable ASCII; returns -1. */
int	 msg_reason(char *, size_t, const char *, ...)
	    __attribute__((__format__ (printf, 3, 4)));

#endif
