/*
 * Unit tests for common/imsg.c: framing, partial reads and writes,
 * descriptor passing, a hostile peer, and the write queue bound.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <atf-c.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

static void	 mkpair(struct imsgbuf *, struct imsgbuf *, int [2]);
static void	 unpair(struct imsgbuf *, struct imsgbuf *);
static void	 set_nonblock(int);
static void	 pattern(unsigned char *, size_t, uint32_t);
static int	 check_pattern(const unsigned char *, size_t, uint32_t);
static void	 getone(struct imsgbuf *, struct imsg *);
static void	 raw_write(int, const void *, size_t);
static void	 raw_hdr(unsigned char *, uint32_t, uint32_t);
static uint32_t	 xorshift(uint32_t *);
static void	 send_fds(int, uint32_t, uint32_t, const int *, int);
static int	 is_closed(int);

#include "atf_lsan.h"

static void
mkpair(struct imsgbuf *a, struct imsgbuf *b, int sv[2])
{
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE(imsgbuf_init(a, sv[0]) == 0);
	ATF_REQUIRE(imsgbuf_init(b, sv[1]) == 0);
}

static void
unpair(struct imsgbuf *a, struct imsgbuf *b)
{
	close(a->fd);
	close(b->fd);
	imsgbuf_clear(a);
	imsgbuf_clear(b);
}

static void
set_nonblock(int fd)
{
	int	flags;

	ATF_REQUIRE((flags = fcntl(fd, F_GETFL)) != -1);
	ATF_REQUIRE(fcntl(fd, F_SETFL, flags | O_NONBLOCK) != -1);
}

/* Payload bytes that depend on the message they belong to. */
static void
pattern(unsigned char *p, size_t len, uint32_t seed)
{
	size_t	i;

	for (i = 0; i < len; i++)
		p[i] = (seed * 131 + i * 7 + (i >> 8)) & 0xff;
}

static int
check_pattern(const unsigned char *p, size_t len, uint32_t seed)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (p[i] != ((seed * 131 + i * 7 + (i >> 8)) & 0xff))
			return 0;
	return 1;
}

/* Read from a blocking socket until one message is complete. */
static void
getone(struct imsgbuf *ib, struct imsg *imsg)
{
	ssize_t	n;

	for (;;) {
		n = imsg_get(ib, imsg);
		ATF_REQUIRE_MSG(n != -1, "imsg_get: %s", strerror(errno));
		if (n > 0)
			return;
		ATF_REQUIRE_EQ(imsgbuf_read(ib), 1);
	}
}

static void
raw_write(int fd, const void *data, size_t len)
{
	ATF_REQUIRE_EQ(write(fd, data, len), (ssize_t)len);
}

/* A header as a hostile peer would write it: any len it likes. */
static void
raw_hdr(unsigned char *p, uint32_t type, uint32_t len)
{
	struct imsg_hdr	hdr;

	hdr.type = type;
	hdr.len = len;
	hdr.peerid = 0;
	hdr.pid = 1;
	memcpy(p, &hdr, sizeof(hdr));
}

static uint32_t
xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* A header, and any number of descriptors, in one sendmsg(2). */
static void
send_fds(int sock, uint32_t type, uint32_t len, const int *fds, int nfds)
{
	union {
		struct cmsghdr	hdr;
		unsigned char	buf[CMSG_SPACE(4 * sizeof(int))];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov;
	unsigned char	 wire[IMSG_HEADER_SIZE];

	ATF_REQUIRE(nfds <= 4);
	raw_hdr(wire, type, len);
	iov.iov_base = wire;
	iov.iov_len = sizeof(wire);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cmsgbuf, 0, sizeof(cmsgbuf));
		msg.msg_control = cmsgbuf.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	}
	ATF_REQUIRE_EQ(sendmsg(sock, &msg, 0), (ssize_t)sizeof(wire));
}

/* Is no read end of the pipe whose write end is wfd open anywhere? */
static int
is_closed(int wfd)
{
	return write(wfd, "x", 1) == -1 && errno == EPIPE;
}

ATF_TC_WITHOUT_HEAD(roundtrip);
ATF_TC_BODY(roundtrip, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct ibuf	*wbuf, payload;
	struct iovec	 iov[3];
	struct {
		uint32_t	 n;
		char		 name[12];
	}		 st, st2;
	static unsigned char big[10000];
	char		 str[32];
	uint64_t	 v64;
	uint32_t	 v32;
	uint16_t	 v16;
	int		 sv[2];

	mkpair(&a, &b, sv);
	pattern(big, sizeof(big), 6);

	ATF_REQUIRE_EQ(imsg_compose(&a, 1, 10, 0, -1, NULL, 0), 1);
	ATF_REQUIRE_EQ(imsg_compose(&a, 2, 11, 4242, -1, "hello", 6), 1);
	iov[0].iov_base = "ab";
	iov[0].iov_len = 2;
	iov[1].iov_base = NULL;
	iov[1].iov_len = 0;
	iov[2].iov_base = "cdef";
	iov[2].iov_len = 4;
	ATF_REQUIRE_EQ(imsg_composev(&a, 3, 12, 0, -1, iov, 3), 1);
	memset(&st, 0, sizeof(st));
	st.n = 77;
	strlcpy(st.name, "imapx", sizeof(st.name));
	ATF_REQUIRE((wbuf = imsg_create(&a, 4, 13, 0, sizeof(st))) != NULL);
	ATF_REQUIRE_EQ(imsg_add(wbuf, &st.n, sizeof(st.n)), (int)sizeof(st.n));
	ATF_REQUIRE_EQ(imsg_add(wbuf, st.name, sizeof(st.name)),
	    (int)sizeof(st.name));
	imsg_close(&a, wbuf);
	ATF_REQUIRE((wbuf = ibuf_dynamic(8, 64)) != NULL);
	ATF_REQUIRE(ibuf_add_n16(wbuf, 0xbeef) == 0);
	ATF_REQUIRE(ibuf_add_n32(wbuf, 0xdeadbeef) == 0);
	ATF_REQUIRE(ibuf_add_n64(wbuf, 0x0123456789abcdefULL) == 0);
	ATF_REQUIRE_EQ(imsg_compose_ibuf(&a, 5, 14, 0, wbuf), 1);
	ATF_REQUIRE_EQ(imsg_compose(&a, 6, 15, 0, -1, big, sizeof(big)), 1);
	ATF_REQUIRE(imsgbuf_flush(&a) == 0);
	ATF_REQUIRE_EQ(imsgbuf_queuelen(&a), 0);

	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 1);
	ATF_CHECK_EQ(imsg_get_id(&imsg), 10);
	ATF_CHECK_EQ(imsg_get_pid(&imsg), getpid());
	ATF_CHECK_EQ(imsg_get_len(&imsg), 0);
	ATF_CHECK(imsg.data == NULL);
	ATF_CHECK_EQ(imsg_get_fd(&imsg), -1);
	ATF_CHECK(imsg_get_ibuf(&imsg, &payload) == -1 && errno == EBADMSG);
	imsg_free(&imsg);

	/* imsg_get() counts the header, imsgbuf_get() says yes or no */
	ATF_REQUIRE_EQ(imsg_get(&b, &imsg), IMSG_HEADER_SIZE + 6);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 2);
	ATF_CHECK_EQ(imsg_get_id(&imsg), 11);
	ATF_CHECK_EQ(imsg_get_pid(&imsg), 4242);
	ATF_CHECK_EQ(imsg.hdr.len, IMSG_HEADER_SIZE + 6);
	ATF_CHECK(imsg_get_data(&imsg, str, 5) == -1 && errno == EBADMSG);
	ATF_CHECK(imsg_get_data(&imsg, str, 7) == -1 && errno == EBADMSG);
	ATF_CHECK(imsg_get_data(&imsg, str, 0) == -1 && errno == EINVAL);
	ATF_CHECK(imsg_get_strbuf(&imsg, str, 6) == 0);
	ATF_CHECK_STREQ(str, "hello");
	/* and send it back, payload and all, even though it was read */
	ATF_REQUIRE_EQ(imsg_forward(&b, &imsg), 1);
	imsg_free(&imsg);

	ATF_REQUIRE_EQ(imsgbuf_get(&b, &imsg), 1);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 3);
	ATF_REQUIRE_EQ(imsg_get_len(&imsg), 6);
	ATF_CHECK(memcmp(imsg.data, "abcdef", 6) == 0);
	imsg_free(&imsg);

	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 4);
	ATF_CHECK_EQ(imsg_get_id(&imsg), 13);
	ATF_REQUIRE(imsg_get_data(&imsg, &st2, sizeof(st2)) == 0);
	ATF_CHECK_EQ(st2.n, 77);
	ATF_CHECK_STREQ(st2.name, "imapx");
	imsg_free(&imsg);

	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 5);
	ATF_CHECK_EQ(imsg_get_id(&imsg), 14);
	ATF_REQUIRE(imsg_get_ibuf(&imsg, &payload) == 0);
	ATF_REQUIRE(ibuf_get_n16(&payload, &v16) == 0);
	ATF_REQUIRE(ibuf_get_n32(&payload, &v32) == 0);
	ATF_REQUIRE(ibuf_get_n64(&payload, &v64) == 0);
	ATF_CHECK_EQ(v16, 0xbeef);
	ATF_CHECK_EQ(v32, 0xdeadbeef);
	ATF_CHECK_EQ(v64, 0x0123456789abcdefULL);
	ATF_CHECK(ibuf_get_n8(&payload, (uint8_t *)str) == -1 &&
	    errno == EBADMSG);
	imsg_free(&imsg);

	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 6);
	ATF_REQUIRE_EQ(imsg_get_len(&imsg), sizeof(big));
	ATF_CHECK(check_pattern(imsg.data, sizeof(big), 6));
	imsg_free(&imsg);

	ATF_CHECK_EQ(imsg_get(&b, &imsg), 0);
	ATF_CHECK_EQ(imsgbuf_get(&b, &imsg), 0);

	ATF_REQUIRE(imsgbuf_flush(&b) == 0);
	getone(&a, &imsg);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 2);
	ATF_CHECK_EQ(imsg_get_id(&imsg), 11);
	ATF_CHECK_EQ(imsg_get_pid(&imsg), 4242);
	ATF_REQUIRE_EQ(imsg_get_len(&imsg), 6);
	ATF_CHECK(memcmp(imsg.data, "hello", 6) == 0);
	imsg_free(&imsg);

	unpair(&a, &b);
}

ATF_TC_WITHOUT_HEAD(max_size);
ATF_TC_BODY(max_size, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct ibuf	*wbuf;
	struct iovec	 iov[2];
	static unsigned char big[MAX_IMSGSIZE];
	const size_t	 maxdata = MAX_IMSGSIZE - IMSG_HEADER_SIZE;
	int		 sv[2];

	ATF_REQUIRE_EQ(IMSG_HEADER_SIZE, 16);
	mkpair(&a, &b, sv);
	pattern(big, sizeof(big), 9);

	ATF_REQUIRE_EQ(imsg_compose(&a, 1, 0, 0, -1, big, maxdata), 1);
	errno = 0;
	ATF_CHECK_EQ(imsg_compose(&a, 2, 0, 0, -1, big, maxdata + 1), -1);
	ATF_CHECK_EQ(errno, ERANGE);
	errno = 0;
	ATF_CHECK(imsg_create(&a, 2, 0, 0, maxdata + 1) == NULL);
	ATF_CHECK_EQ(errno, ERANGE);
	iov[0].iov_base = big;
	iov[0].iov_len = maxdata;
	iov[1].iov_base = big;
	iov[1].iov_len = 1;
	errno = 0;
	ATF_CHECK_EQ(imsg_composev(&a, 2, 0, 0, -1, iov, 2), -1);
	ATF_CHECK_EQ(errno, ERANGE);
	/* a message cannot grow past the maximum; imsg_add frees it */
	ATF_REQUIRE((wbuf = imsg_create(&a, 2, 0, 0, 0)) != NULL);
	ATF_CHECK_EQ(imsg_add(wbuf, big, maxdata + 1), -1);
	ATF_CHECK_EQ(imsgbuf_queuelen(&a), 1);

	ATF_REQUIRE(imsgbuf_flush(&a) == 0);
	ATF_REQUIRE_EQ(imsg_get(&b, &imsg), 0);
	do {
		ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
	} while (imsg_get(&b, &imsg) == 0);
	ATF_CHECK_EQ(imsg.hdr.len, MAX_IMSGSIZE);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 1);
	ATF_REQUIRE_EQ(imsg_get_len(&imsg), maxdata);
	ATF_CHECK(check_pattern(imsg.data, maxdata, 9));
	imsg_free(&imsg);

	/* the limit is settable, in payload bytes, and the reader keeps it */
	ATF_CHECK(imsgbuf_set_maxsize(&b, UINT32_MAX) == -1 && errno == ERANGE);
	ATF_CHECK(imsgbuf_set_maxsize(&b, IMSG_FD_MARK) == -1 &&
	    errno == EINVAL);
	ATF_REQUIRE(imsgbuf_set_maxsize(&b, 100) == 0);
	ATF_REQUIRE_EQ(imsg_compose(&a, 3, 0, 0, -1, big, 100), 1);
	ATF_REQUIRE_EQ(imsg_compose(&a, 4, 0, 0, -1, big, 101), 1);
	ATF_REQUIRE(imsgbuf_flush(&a) == 0);
	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 3);
	imsg_free(&imsg);
	while (imsg_get(&b, &imsg) == 0)
		ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
	ATF_CHECK_EQ(errno, ERANGE);
	ATF_REQUIRE(imsgbuf_set_maxsize(&a, 100) == 0);
	ATF_CHECK(imsg_compose(&a, 4, 0, 0, -1, big, 101) == -1 &&
	    errno == ERANGE);

	unpair(&a, &b);
}

#define NMSG	3000

ATF_TC_WITHOUT_HEAD(partial_writes);
ATF_TC_BODY(partial_writes, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	static unsigned char buf[MAX_IMSGSIZE];
	static size_t	 end[NMSG];	/* wire offset where message i ends */
	size_t		 len, sent, k = 0, total = 0;
	ssize_t		 n;
	int		 sv[2], i, got = 0, cut = 0, full = 0, sz = 4096;

	mkpair(&a, &b, sv);
	ATF_REQUIRE(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)) == 0);
	ATF_REQUIRE(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz,
	    sizeof(sz)) == 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);

	for (i = 0; i < NMSG; i++) {
		len = 1 + (i * 7919) % 5000;
		pattern(buf, len, i);
		ATF_REQUIRE_EQ(imsg_compose(&a, i, i, 0, -1, buf, len), 1);
		total += IMSG_HEADER_SIZE + len;
		end[i] = total;
	}
	ATF_REQUIRE_EQ(imsgbuf_queuelen(&a), NMSG);
	ATF_REQUIRE_EQ(imsgbuf_queued_bytes(&a), total);

	while (got < NMSG) {
		ATF_REQUIRE(imsgbuf_write(&a) == 0);
		if (imsgbuf_queuelen(&a) > 0)
			full++;
		/* did the kernel take part of a message and leave the rest? */
		sent = total - imsgbuf_queued_bytes(&a);
		while (k < NMSG && end[k] < sent)
			k++;
		if (k < NMSG && sent > 0 && end[k] != sent &&
		    (k == 0 || end[k - 1] != sent))
			cut++;

		ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
		while ((n = imsg_get(&b, &imsg)) > 0) {
			ATF_REQUIRE_EQ(imsg_get_type(&imsg), (uint32_t)got);
			ATF_REQUIRE_EQ(imsg_get_id(&imsg), (uint32_t)got);
			len = 1 + (got * 7919) % 5000;
			ATF_REQUIRE_EQ(imsg_get_len(&imsg), len);
			ATF_REQUIRE(check_pattern(imsg.data, len, got));
			imsg_free(&imsg);
			got++;
		}
		ATF_REQUIRE_EQ(n, 0);
	}
	ATF_CHECK_EQ(imsgbuf_queuelen(&a), 0);
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), 0);
	ATF_CHECK_MSG(full > 0, "the socket never filled up");
	ATF_CHECK_MSG(cut > 0, "no write ever stopped inside a message");

	unpair(&a, &b);
}

ATF_TC_WITHOUT_HEAD(partial_reads);
ATF_TC_BODY(partial_reads, tc)
{
	struct imsgbuf	 b;
	struct imsg	 imsg;
	unsigned char	 wire[2 * IMSG_HEADER_SIZE + 5];
	size_t		 i;
	ssize_t		 n;
	int		 sv[2], seen = 0;

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE(imsgbuf_init(&b, sv[1]) == 0);
	raw_hdr(wire, 7, IMSG_HEADER_SIZE + 5);
	memcpy(wire + IMSG_HEADER_SIZE, "hello", 5);
	raw_hdr(wire + IMSG_HEADER_SIZE + 5, 8, IMSG_HEADER_SIZE);

	for (i = 0; i < sizeof(wire); i++) {
		raw_write(sv[0], wire + i, 1);
		ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
		n = imsg_get(&b, &imsg);
		if (i + 1 == IMSG_HEADER_SIZE + 5) {
			ATF_REQUIRE_EQ(n, IMSG_HEADER_SIZE + 5);
			ATF_CHECK_EQ(imsg_get_type(&imsg), 7);
			ATF_CHECK_EQ(imsg_get_pid(&imsg), 1);
			ATF_REQUIRE_EQ(imsg_get_len(&imsg), 5);
			ATF_CHECK(memcmp(imsg.data, "hello", 5) == 0);
			imsg_free(&imsg);
			seen++;
		} else if (i + 1 == sizeof(wire)) {
			ATF_REQUIRE_EQ(n, IMSG_HEADER_SIZE);
			ATF_CHECK_EQ(imsg_get_type(&imsg), 8);
			ATF_CHECK_EQ(imsg_get_len(&imsg), 0);
			imsg_free(&imsg);
			seen++;
		} else
			ATF_REQUIRE_EQ_MSG(n, 0, "message early at byte %zu",
			    i);
	}
	ATF_CHECK_EQ(seen, 2);

	close(sv[0]);
	close(sv[1]);
	imsgbuf_clear(&b);
}

/* The child sends descriptors of two pipes; the parent reads through them. */
ATF_TC_WITHOUT_HEAD(fd_pass);
ATF_TC_BODY(fd_pass, tc)
{
	struct imsgbuf	 c, p;
	struct imsg	 imsg;
	char		 got[64];
	pid_t		 pid;
	ssize_t		 n;
	struct ibuf	*wbuf;
	int		 sv[2], p1[2], p2[2], p3[2], fd, status;

	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		close(sv[0]);
		if (imsgbuf_init(&c, sv[1]) == -1 || pipe(p1) == -1 ||
		    pipe(p2) == -1 || pipe(p3) == -1)
			_exit(2);
		imsgbuf_allow_fdpass(&c);
		if (write(p1[1], "through the first pipe", 22) != 22 ||
		    write(p2[1], "and the second", 14) != 14 ||
		    write(p3[1], "via an ibuf", 11) != 11)
			_exit(3);
		close(p1[1]);
		close(p2[1]);
		close(p3[1]);
		if (imsg_compose(&c, 1, 0, 0, p1[0], "one", 3) != 1 ||
		    imsg_compose(&c, 2, 0, 0, -1, "two", 3) != 1 ||
		    imsg_compose(&c, 3, 0, 0, p2[0], "three", 5) != 1)
			_exit(4);
		if ((wbuf = ibuf_open(4)) == NULL ||
		    ibuf_add(wbuf, "four", 4) == -1)
			_exit(4);
		ibuf_fd_set(wbuf, p3[0]);
		if (imsg_compose_ibuf(&c, 4, 0, 0, wbuf) != 1)
			_exit(4);
		if (imsgbuf_flush(&c) == -1)
			_exit(5);
		imsgbuf_clear(&c);
		_exit(0);
	}
	close(sv[1]);
	ATF_REQUIRE(imsgbuf_init(&p, sv[0]) == 0);
	imsgbuf_allow_fdpass(&p);

	getone(&p, &imsg);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), 1);
	ATF_REQUIRE_EQ(imsg_get_len(&imsg), 3);
	ATF_REQUIRE((fd = imsg_get_fd(&imsg)) != -1);
	ATF_CHECK_EQ(imsg_get_fd(&imsg), -1);	/* it is ours now */
	imsg_free(&imsg);
#ifdef MSG_CMSG_CLOEXEC
	ATF_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
#endif
	ATF_REQUIRE_EQ((n = read(fd, got, sizeof(got))), 22);
	ATF_CHECK(memcmp(got, "through the first pipe", 22) == 0);
	ATF_CHECK_EQ(read(fd, got, sizeof(got)), 0);
	close(fd);

	getone(&p, &imsg);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), 2);
	ATF_CHECK_EQ(imsg_get_fd(&imsg), -1);
	imsg_free(&imsg);

	getone(&p, &imsg);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), 3);
	ATF_REQUIRE((fd = imsg_get_fd(&imsg)) != -1);
	imsg_free(&imsg);
	ATF_REQUIRE_EQ((n = read(fd, got, sizeof(got))), 14);
	ATF_CHECK(memcmp(got, "and the second", 14) == 0);
	close(fd);

	getone(&p, &imsg);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), 4);
	ATF_REQUIRE_EQ(imsg_get_len(&imsg), 4);
	ATF_CHECK(memcmp(imsg.data, "four", 4) == 0);
	ATF_REQUIRE((fd = imsg_get_fd(&imsg)) != -1);
	imsg_free(&imsg);
	ATF_REQUIRE_EQ((n = read(fd, got, sizeof(got))), 11);
	ATF_CHECK(memcmp(got, "via an ibuf", 11) == 0);
	close(fd);

	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ATF_CHECK_EQ(imsgbuf_read(&p), 0);
	close(sv[0]);
	imsgbuf_clear(&p);
}

ATF_TC_WITHOUT_HEAD(fd_refused);
ATF_TC_BODY(fd_refused, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct ibuf	*wbuf;
	ssize_t		 n;
	int		 sv[2], pfd[2], first = 0;

	signal(SIGPIPE, SIG_IGN);
	mkpair(&a, &b, sv);
	imsgbuf_allow_fdpass(&a);
	ATF_REQUIRE(pipe(pfd) == 0);

	/* an imsgbuf that does not pass descriptors does not take one */
	ATF_CHECK(imsg_compose(&b, 1, 0, 0, pfd[0], NULL, 0) == -1 &&
	    errno == EINVAL);
	ATF_REQUIRE((wbuf = ibuf_open(1)) != NULL);
	ATF_REQUIRE(ibuf_add(wbuf, "x", 1) == 0);
	ATF_REQUIRE((wbuf->fd = dup(pfd[0])) != -1);
	ATF_CHECK(imsg_compose_ibuf(&b, 1, 0, 0, wbuf) == -1 &&
	    errno == EINVAL);
	ATF_CHECK_EQ(imsgbuf_queuelen(&b), 0);

	ATF_REQUIRE_EQ(imsg_compose(&a, 1, 0, 0, -1, "before", 6), 1);
	ATF_REQUIRE_EQ(imsg_compose(&a, 2, 0, 0, pfd[0], "fd", 2), 1);
	ATF_REQUIRE(imsgbuf_flush(&a) == 0);

	for (;;) {
		n = imsg_get(&b, &imsg);
		if (n == -1)
			break;
		if (n > 0) {
			ATF_CHECK_EQ(imsg_get_type(&imsg), 1);
			imsg_free(&imsg);
			first++;
			continue;
		}
		ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
	}
	ATF_CHECK_EQ(errno, EBADMSG);
	ATF_CHECK_EQ(first, 1);
	ATF_CHECK(imsgbuf_read(&b) == -1 && errno == EBADMSG);
	/* nobody holds the read end any more: the kernel closed it */
	ATF_CHECK(write(pfd[1], "x", 1) == -1 && errno == EPIPE);

	close(pfd[1]);
	unpair(&a, &b);
}

/*
 * A peer that sends descriptors the protocol does not ask for: extra ones
 * are closed, one that no header claims waits alone and is closed when
 * another comes or the imsgbuf is cleared.
 */
ATF_TC_WITHOUT_HEAD(fd_hostile);
ATF_TC_BODY(fd_hostile, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	char		 c;
	int		 sv[2], p[5][2], rfds[3], i, fd;

	signal(SIGPIPE, SIG_IGN);
	mkpair(&a, &b, sv);
	imsgbuf_allow_fdpass(&b);
	for (i = 0; i < 5; i++)
		ATF_REQUIRE(pipe(p[i]) == 0);

	/* three descriptors for one message: it gets the first */
	for (i = 0; i < 3; i++)
		rfds[i] = p[i][0];
	send_fds(sv[0], 1, IMSG_FD_MARK | IMSG_HEADER_SIZE, rfds, 3);
	for (i = 0; i < 3; i++)
		close(p[i][0]);
	getone(&b, &imsg);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), 1);
	ATF_REQUIRE((fd = imsg_get_fd(&imsg)) != -1);
	imsg_free(&imsg);
	ATF_REQUIRE_EQ(write(p[0][1], "a", 1), 1);
	ATF_REQUIRE_EQ(read(fd, &c, 1), 1);
	ATF_CHECK_EQ(c, 'a');
	close(fd);
	ATF_CHECK(is_closed(p[0][1]));
	ATF_CHECK(is_closed(p[1][1]));
	ATF_CHECK(is_closed(p[2][1]));

	/* a mark without a descriptor: nothing to hand out */
	send_fds(sv[0], 2, IMSG_FD_MARK | IMSG_HEADER_SIZE, NULL, 0);
	getone(&b, &imsg);
	ATF_REQUIRE_EQ(imsg_get_type(&imsg), 2);
	ATF_CHECK_EQ(imsg_get_fd(&imsg), -1);
	imsg_free(&imsg);

	/* descriptors without a mark: the next one replaces the first */
	send_fds(sv[0], 3, IMSG_HEADER_SIZE, &p[3][0], 1);
	close(p[3][0]);
	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_fd(&imsg), -1);
	imsg_free(&imsg);
	ATF_CHECK(!is_closed(p[3][1]));
	send_fds(sv[0], 4, IMSG_HEADER_SIZE, &p[4][0], 1);
	close(p[4][0]);
	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_fd(&imsg), -1);
	imsg_free(&imsg);
	ATF_CHECK(is_closed(p[3][1]));
	ATF_CHECK(!is_closed(p[4][1]));
	imsgbuf_clear(&b);
	ATF_CHECK(is_closed(p[4][1]));

	for (i = 0; i < 5; i++)
		close(p[i][1]);
	close(sv[0]);
	close(sv[1]);
	imsgbuf_clear(&a);
}

ATF_TC_WITHOUT_HEAD(garbage_short_len);
ATF_TC_BODY(garbage_short_len, tc)
{
	struct imsgbuf	 b;
	struct imsg	 imsg;
	unsigned char	 wire[64];
	uint32_t	 lens[] = { 0, 1, IMSG_HEADER_SIZE - 1,
			    IMSG_FD_MARK | (IMSG_HEADER_SIZE - 1) };
	size_t		 i;
	int		 sv[2];

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		ATF_REQUIRE(imsgbuf_init(&b, sv[1]) == 0);
		imsgbuf_allow_fdpass(&b);
		memset(wire, 0xa5, sizeof(wire));
		raw_hdr(wire, 1, lens[i]);
		raw_write(sv[0], wire, sizeof(wire));
		ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
		errno = 0;
		ATF_CHECK_EQ(imsg_get(&b, &imsg), -1);
		ATF_CHECK_EQ(errno, ERANGE);
		ATF_CHECK_EQ(imsg_get(&b, &imsg), -1);
		ATF_CHECK(imsgbuf_read(&b) == -1 && errno == ERANGE);
		close(sv[0]);
		close(sv[1]);
		imsgbuf_clear(&b);
	}
}

ATF_TC_WITHOUT_HEAD(garbage_long_len);
ATF_TC_BODY(garbage_long_len, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	unsigned char	 wire[IMSG_HEADER_SIZE];
	uint32_t	 lens[] = { MAX_IMSGSIZE + 1, 0x7fffffff, 0xffffffff };
	size_t		 i;
	int		 sv[2];

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		mkpair(&a, &b, sv);
		/* a good message first: it still gets through */
		ATF_REQUIRE_EQ(imsg_compose(&a, 1, 0, 0, -1, "ok", 2), 1);
		ATF_REQUIRE(imsgbuf_flush(&a) == 0);
		raw_hdr(wire, 2, lens[i]);
		raw_write(sv[0], wire, sizeof(wire));
		getone(&b, &imsg);
		ATF_CHECK_EQ(imsg_get_type(&imsg), 1);
		imsg_free(&imsg);
		while (imsg_get(&b, &imsg) == 0)
			ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
		ATF_CHECK_EQ(errno, ERANGE);
		unpair(&a, &b);
	}
}

/*
 * Random bytes from a peer, checked against a model of the framing: every
 * whole, valid message comes out, then the error or the end of the input.
 */
ATF_TC_WITHOUT_HEAD(garbage_random);
ATF_TC_BODY(garbage_random, tc)
{
	struct imsgbuf	 b;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	unsigned char	 wire[2048];
	uint32_t	 seed, s, len;
	size_t		 size, off, i;
	ssize_t		 n;
	int		 sv[2], fdpass, want, errs = 0, r;

	for (seed = 1; seed <= 300; seed++) {
		s = seed * 2654435761U;
		size = 1 + xorshift(&s) % sizeof(wire);
		for (i = 0; i < size; i++)
			wire[i] = xorshift(&s);
		/* make some headers plausible so messages get through */
		for (off = 0; seed % 3 != 0 && off + IMSG_HEADER_SIZE <= size;
		    off += len) {
			len = IMSG_HEADER_SIZE + xorshift(&s) % 64;
			if (seed % 5 == 0)
				len |= xorshift(&s) & IMSG_FD_MARK;
			if (xorshift(&s) % 8 == 0)
				len = xorshift(&s);
			memcpy(wire + off + offsetof(struct imsg_hdr, len),
			    &len, sizeof(len));
			len &= ~IMSG_FD_MARK;
			if (len < IMSG_HEADER_SIZE)
				break;
		}
		fdpass = seed % 2;

		ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		ATF_REQUIRE(imsgbuf_init(&b, sv[1]) == 0);
		if (fdpass)
			imsgbuf_allow_fdpass(&b);
		raw_write(sv[0], wire, size);
		close(sv[0]);

		for (off = 0; ; off += len) {
			want = 0;
			if (size - off >= IMSG_HEADER_SIZE) {
				memcpy(&hdr, wire + off, sizeof(hdr));
				len = hdr.len & ~IMSG_FD_MARK;
				if (len < IMSG_HEADER_SIZE ||
				    len > MAX_IMSGSIZE)
					want = ERANGE;
				else if (!fdpass && (hdr.len & IMSG_FD_MARK))
					want = EBADMSG;
				else if (len <= size - off)
					want = -1;	/* a message */
			}
			while ((n = imsg_get(&b, &imsg)) == 0) {
				r = imsgbuf_read(&b);
				if (r == 0)
					break;
				ATF_REQUIRE_MSG(r == 1 || want > 0,
				    "seed %u: read: %s", seed, strerror(errno));
				if (r == -1) {
					n = -1;
					break;
				}
			}
			if (want == -1) {
				ATF_REQUIRE_EQ_MSG(n, (ssize_t)len,
				    "seed %u at %zu", seed, off);
				ATF_REQUIRE(memcmp(imsg.data ? imsg.data : "",
				    wire + off + IMSG_HEADER_SIZE,
				    len - IMSG_HEADER_SIZE) == 0);
				ATF_REQUIRE_EQ(imsg_get_fd(&imsg), -1);
				imsg_free(&imsg);
				continue;
			}
			if (want > 0) {
				ATF_REQUIRE_EQ_MSG(n, -1, "seed %u at %zu",
				    seed, off);
				ATF_REQUIRE_EQ(errno, want);
				errs++;
			} else
				ATF_REQUIRE_EQ_MSG(n, 0, "seed %u at %zu",
				    seed, off);
			break;
		}
		close(sv[1]);
		imsgbuf_clear(&b);
	}
	ATF_CHECK(errs > 100);
}

ATF_TC_WITHOUT_HEAD(eof);
ATF_TC_BODY(eof, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	unsigned char	 wire[IMSG_HEADER_SIZE];
	int		 sv[2];

	/* nothing to read is not an error; unread messages are freed */
	mkpair(&a, &b, sv);
	set_nonblock(sv[1]);
	ATF_CHECK_EQ(imsgbuf_read(&b), 1);
	ATF_CHECK_EQ(imsg_get(&b, &imsg), 0);
	ATF_REQUIRE_EQ(imsg_compose(&a, 1, 0, 0, -1, "one", 3), 1);
	ATF_REQUIRE_EQ(imsg_compose(&a, 2, 0, 0, -1, "two", 3), 1);
	ATF_REQUIRE_EQ(imsg_compose(&a, 3, 0, 0, -1, "three", 5), 1);
	ATF_REQUIRE(imsgbuf_flush(&a) == 0);
	ATF_CHECK_EQ(imsgbuf_read(&b), 1);
	unpair(&a, &b);

	/* a message, then the peer goes away */
	mkpair(&a, &b, sv);
	ATF_REQUIRE_EQ(imsg_compose(&a, 1, 0, 0, -1, "bye", 3), 1);
	ATF_REQUIRE(imsgbuf_flush(&a) == 0);
	close(sv[0]);
	imsgbuf_clear(&a);
	getone(&b, &imsg);
	ATF_CHECK_EQ(imsg_get_type(&imsg), 1);
	imsg_free(&imsg);
	ATF_CHECK_EQ(imsg_get(&b, &imsg), 0);
	ATF_CHECK_EQ(imsgbuf_read(&b), 0);
	close(sv[1]);
	imsgbuf_clear(&b);

	/* half a message, then the peer goes away */
	mkpair(&a, &b, sv);
	raw_hdr(wire, 1, IMSG_HEADER_SIZE + 10);
	raw_write(sv[0], wire, sizeof(wire));
	close(sv[0]);
	imsgbuf_clear(&a);
	ATF_CHECK_EQ(imsgbuf_read(&b), 1);
	ATF_CHECK_EQ(imsg_get(&b, &imsg), 0);
	ATF_CHECK_EQ(imsgbuf_read(&b), 0);
	close(sv[1]);
	imsgbuf_clear(&b);

	/* a writer whose peer went away gets an error, not SIGPIPE */
	mkpair(&a, &b, sv);
	close(sv[1]);
	imsgbuf_clear(&b);
	ATF_REQUIRE_EQ(imsg_compose(&a, 1, 0, 0, -1, "lost", 4), 1);
	ATF_CHECK(imsgbuf_write(&a) == -1 && errno == EPIPE);
	ATF_CHECK(imsgbuf_flush(&a) == -1 && errno == EPIPE);
	close(sv[0]);
	imsgbuf_clear(&a);
}

ATF_TC_WITHOUT_HEAD(queued_bytes);
ATF_TC_BODY(queued_bytes, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	struct ibuf	*wbuf;
	static unsigned char buf[1000];
	size_t		 before, want;
	int		 sv[2], sz = 4096;

	mkpair(&a, &b, sv);
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), 0);
	ATF_REQUIRE_EQ(imsg_compose(&a, 1, 0, 0, -1, buf, 100), 1);
	want = IMSG_HEADER_SIZE + 100;
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), want);
	ATF_CHECK_EQ(imsgbuf_queuelen(&a), 1);
	ATF_REQUIRE((wbuf = ibuf_open(50)) != NULL);
	ATF_REQUIRE(ibuf_add_zero(wbuf, 50) == 0);
	ATF_REQUIRE_EQ(imsg_compose_ibuf(&a, 2, 0, 0, wbuf), 1);
	want += IMSG_HEADER_SIZE + 50;
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), want);
	ATF_REQUIRE((wbuf = imsg_create(&a, 3, 0, 0, 10)) != NULL);
	ATF_REQUIRE_EQ(imsg_add(wbuf, buf, 7), 7);
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), want);	/* not yet closed */
	imsg_close(&a, wbuf);
	want += IMSG_HEADER_SIZE + 7;
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), want);
	ATF_REQUIRE(imsgbuf_flush(&a) == 0);
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), 0);
	ATF_CHECK_EQ(imsgbuf_queuelen(&a), 0);

	/* a sender above its bound stops; the queue shrinks as it drains */
	ATF_REQUIRE(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)) == 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	while (imsgbuf_queued_bytes(&a) < 64 * 1024)
		ATF_REQUIRE_EQ(imsg_compose(&a, 4, 0, 0, -1, buf,
		    sizeof(buf)), 1);
	before = imsgbuf_queued_bytes(&a);
	ATF_REQUIRE(imsgbuf_write(&a) == 0);
	ATF_CHECK(imsgbuf_queued_bytes(&a) < before);
	ATF_CHECK(imsgbuf_queued_bytes(&a) > 0);
	before = imsgbuf_queued_bytes(&a);
	ATF_REQUIRE(imsgbuf_write(&a) == 0);	/* socket full: no change */
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), before);
	while (imsgbuf_queued_bytes(&a) > 0) {
		ATF_REQUIRE(imsgbuf_write(&a) == 0);
		ATF_REQUIRE_EQ(imsgbuf_read(&b), 1);
		while (imsg_get(&b, &imsg) > 0)
			imsg_free(&imsg);
	}
	ATF_CHECK_EQ(imsgbuf_queuelen(&a), 0);

	unpair(&a, &b);
}

/* imsgbuf_flush() on a non-blocking socket waits for the reader. */
ATF_TC_WITHOUT_HEAD(flush_nonblocking);
ATF_TC_BODY(flush_nonblocking, tc)
{
	struct imsgbuf	 a, b;
	struct imsg	 imsg;
	static unsigned char buf[4000];
	pid_t		 pid;
	int		 sv[2], i, got, status;

	mkpair(&a, &b, sv);
	ATF_REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		close(sv[0]);
		for (got = 0; got < 500; ) {
			if (imsgbuf_read(&b) != 1)
				_exit(2);
			while (imsg_get(&b, &imsg) > 0) {
				if (imsg_get_type(&imsg) != (uint32_t)got ||
				    imsg_get_len(&imsg) != sizeof(buf) ||
				    !check_pattern(imsg.data, sizeof(buf), got))
					_exit(3);
				imsg_free(&imsg);
				got++;
			}
			usleep(100);
		}
		_exit(0);
	}
	close(sv[1]);
	set_nonblock(sv[0]);
	for (i = 0; i < 500; i++) {
		pattern(buf, sizeof(buf), i);
		ATF_REQUIRE_EQ(imsg_compose(&a, i, 0, 0, -1, buf,
		    sizeof(buf)), 1);
	}
	ATF_REQUIRE(imsgbuf_flush(&a) == 0);
	ATF_CHECK_EQ(imsgbuf_queued_bytes(&a), 0);
	ATF_REQUIRE(waitpid(pid, &status, 0) == pid);
	ATF_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv[0]);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
}

ATF_TC_WITHOUT_HEAD(ibuf_helpers);
ATF_TC_BODY(ibuf_helpers, tc)
{
	struct ibuf	*buf, view;
	char		 str[8], *s;
	uint8_t		 v8;
	uint32_t	 v32;
	unsigned char	*p;

	ATF_CHECK(ibuf_open(0) == NULL && errno == EINVAL);
	ATF_CHECK(ibuf_dynamic(10, 5) == NULL && errno == EINVAL);

	/* a fixed buffer does not grow */
	ATF_REQUIRE((buf = ibuf_open(4)) != NULL);
	ATF_CHECK(ibuf_add_n32(buf, 0x01020304) == 0);
	ATF_CHECK(ibuf_add_n8(buf, 1) == -1 && errno == ERANGE);
	ATF_CHECK_EQ(ibuf_left(buf), 0);
	p = ibuf_data(buf);
	ATF_CHECK(p[0] == 1 && p[3] == 4);
	ATF_CHECK(ibuf_set(buf, 1, "\xff", 1) == 0 && p[1] == 0xff);
	ATF_CHECK(ibuf_seek(buf, 3, 2) == NULL && errno == ERANGE);
	ATF_CHECK(ibuf_get_n8(buf, &v8) == 0 && v8 == 1);
	ATF_CHECK(ibuf_skip(buf, 4) == -1 && errno == EBADMSG);
	ATF_CHECK(ibuf_skip(buf, 3) == 0 && ibuf_size(buf) == 0);
	ibuf_rewind(buf);
	ATF_CHECK_EQ(ibuf_size(buf), 4);
	ibuf_free(buf);

	/* a dynamic one grows up to its limit, and values are checked */
	ATF_REQUIRE((buf = ibuf_dynamic(0, 20)) != NULL);
	ATF_CHECK(ibuf_add_n8(buf, 256) == -1 && errno == EINVAL);
	ATF_CHECK(ibuf_add_n16(buf, 0x10000) == -1 && errno == EINVAL);
	ATF_CHECK(ibuf_add(buf, "abc\0defg\0", 9) == 0);
	ATF_CHECK(ibuf_add_zero(buf, 11) == 0);
	ATF_CHECK(ibuf_add_zero(buf, 1) == -1 && errno == ERANGE);
	ATF_CHECK(ibuf_truncate(buf, 9) == 0 && ibuf_size(buf) == 9);
	ATF_REQUIRE((s = ibuf_get_string(buf, 2)) != NULL);
	ATF_CHECK_STREQ(s, "ab");
	free(s);
	ATF_CHECK(ibuf_get_strbuf(buf, str, 2) == 0);
	ATF_CHECK_STREQ(str, "c");
	ATF_CHECK(ibuf_get_strbuf(buf, str, 3) == -1 && errno == EOVERFLOW);
	ATF_CHECK_STREQ(str, "de");
	ATF_CHECK(ibuf_get_ibuf(buf, 3, &view) == -1 && errno == EBADMSG);
	ATF_CHECK(ibuf_get_ibuf(buf, 2, &view) == 0);
	ATF_CHECK(ibuf_size(&view) == 2 &&
	    memcmp(ibuf_data(&view), "g", 2) == 0);
	ATF_CHECK(ibuf_add(&view, "x", 1) == -1);	/* not ours to grow */
	ATF_CHECK(ibuf_get_n32(&view, &v32) == -1 && errno == EBADMSG);
	ATF_CHECK(ibuf_fd_avail(buf) == 0);
	ibuf_fd_set(buf, dup(0));
	ATF_CHECK(ibuf_fd_avail(buf));
	ibuf_free(buf);		/* closes the descriptor */
	ibuf_free(NULL);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, roundtrip);
	ATF_TP_ADD_TC(tp, max_size);
	ATF_TP_ADD_TC(tp, partial_writes);
	ATF_TP_ADD_TC(tp, partial_reads);
	ATF_TP_ADD_TC(tp, fd_pass);
	ATF_TP_ADD_TC(tp, fd_refused);
	ATF_TP_ADD_TC(tp, fd_hostile);
	ATF_TP_ADD_TC(tp, garbage_short_len);
	ATF_TP_ADD_TC(tp, garbage_long_len);
	ATF_TP_ADD_TC(tp, garbage_random);
	ATF_TP_ADD_TC(tp, eof);
	ATF_TP_ADD_TC(tp, queued_bytes);
	ATF_TP_ADD_TC(tp, flush_nonblocking);
	ATF_TP_ADD_TC(tp, ibuf_helpers);
	return atf_no_error();
}
