/*
 * The front end's buffer layer: one struct conn per socket, plaintext or
 * libtls, driven by libevent readiness events.  libevent's bufferevents do
 * not know libtls, so the TLS read/write loops (TLS_WANT_POLLIN/POLLOUT)
 * live here, once.
 *
 * Memory: an idle conn holds no buffer.  Input is read into a buffer that
 * is released as soon as the owner has consumed it; output is queued only
 * when the socket cannot take it at once and released when drained.
 */
#ifndef IMAPXD_CONN_H
#define IMAPXD_CONN_H

#include <sys/types.h>

#include <event.h>
#include <stddef.h>

struct tls;

struct buf {
	char		*data;
	size_t		 cap;
	size_t		 off;		/* first unconsumed byte */
	size_t		 len;		/* bytes after off */
};

struct conn;
typedef void (*conn_cb)(struct conn *, void *);

#define CONN_EOF	0x01	/* peer closed its side */
#define CONN_ERROR	0x02	/* read or write failed */
#define CONN_PAUSED	0x04	/* owner does not want input now */
#define CONN_SECRET	0x08	/* output held a secret: wipe buffers */
#define CONN_HANDSHAKE	0x10	/* TLS handshake not done yet */
#define CONN_CONNECTING	0x20	/* non-blocking connect(2) in progress */
#define CONN_RWANTW	0x40	/* TLS read wants POLLOUT */
#define CONN_WWANTR	0x80	/* TLS write wants POLLIN */
#define CONN_SERVERFIRST 0x100	/* connecting: the peer greets first */

struct conn {
	int		 fd;
	int		 flags;
	struct tls	*tls;
	struct event	 rev;
	struct event	 wev;
	struct buf	 in;
	struct buf	 out;
	conn_cb		 on_read;	/* new input in in, or EOF/error */
	conn_cb		 on_drain;	/* output queue fell below low mark */
	conn_cb		 on_connect;	/* connect or handshake finished */
	void		*arg;
	const char	*tlserr;	/* last TLS error, for logging */
};

#define CONN_READ_CHUNK		(64 * 1024)
#define CONN_OUT_HIGH		(256 * 1024)	/* pause the producer above */

void	 conn_init(struct conn *, int, struct tls *, void *);
void	 conn_start(struct conn *);
void	 conn_close(struct conn *);
void	 conn_pause(struct conn *, int);
void	 conn_queue(struct conn *, const void *, size_t);
void	 conn_queuef(struct conn *, const char *, ...)
	    __attribute__((__format__ (printf, 2, 3)));
void	 conn_flush(struct conn *);
size_t	 conn_outlen(struct conn *);
void	 conn_consume(struct conn *, size_t);
int	 conn_starttls(struct conn *, struct tls *);
int	 conn_connect(struct conn *, const struct sockaddr *, socklen_t, int);
void	 conn_setnodelay(int);

void	 buf_free(struct buf *, int);
int	 buf_append(struct buf *, const void *, size_t);

#endif
