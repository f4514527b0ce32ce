/*
 * chan: flow control over a socketpair.  A producer that sends as fast
 * as it can never has more than the window in flight, a consumer that
 * holds its messages stops the producer, and releasing them lets it go
 * on until every byte has arrived in order.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <atf-c.h>
#include <errno.h>
#include <event.h>
#include <string.h>

#include "atf_lsan.h"
#include "chan.h"
#include "imsg-types.h"

#define TOTAL		(4 * 1024 * 1024)
#define CHUNK		8000
#define T_DATA		1000

static struct chan	 tx, rx;
static size_t		 sent, received, held_bytes, max_inflight;
static int		 hold, rx_closed, order_ok = 1;
static unsigned char	 expect;

static void
produce(struct chan *c)
{
	unsigned char	buf[CHUNK];
	size_t		i, n;

	while (sent < TOTAL) {
		n = TOTAL - sent < CHUNK ? TOTAL - sent : CHUNK;
		for (i = 0; i < n; i++)
			buf[i] = (unsigned char)(sent + i);
		if (chan_send(c, T_DATA, 0, -1, buf, n) == -1) {
			ATF_REQUIRE_EQ(errno, EAGAIN);
			break;
		}
		sent += n;
		if (c->inflight > max_inflight)
			max_inflight = c->inflight;
	}
}

static void
rx_dispatch(struct chan *c, struct imsg *imsg)
{
	unsigned char	*p = imsg->data;
	size_t		 i, n = imsg_get_len(imsg);

	for (i = 0; i < n; i++)
		if (p[i] != expect++)
			order_ok = 0;
	received += n;
	if (hold) {
		chan_hold(c);
		held_bytes += n;
	}
}

static void
tx_dispatch(struct chan *c, struct imsg *imsg)
{
}

static void
rx_close(struct chan *c)
{
	rx_closed = 1;
}

static void
setup(void)
{
	int	sp[2];

	event_init();
	ATF_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    sp) == 0);
	ATF_REQUIRE(chan_init(&tx, sp[0], 0, tx_dispatch, produce, NULL,
	    NULL) == 0);
	ATF_REQUIRE(chan_init(&rx, sp[1], 0, rx_dispatch, NULL, rx_close,
	    NULL) == 0);
	sent = received = held_bytes = max_inflight = 0;
	expect = 0;
}

static void
pump(int rounds)
{
	while (rounds-- > 0)
		event_loop(EVLOOP_NONBLOCK);
}

ATF_TC_WITHOUT_HEAD(window_bounds_flight);
ATF_TC_BODY(window_bounds_flight, tc)
{
	int	i;

	setup();
	produce(&tx);
	for (i = 0; i < 100000 && received < TOTAL; i++)
		event_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK);
	ATF_CHECK_EQ(received, TOTAL);
	ATF_CHECK(order_ok);
	ATF_CHECK(max_inflight <= CHAN_WINDOW);
	ATF_CHECK(max_inflight > CHAN_WINDOW - CHUNK);
}

ATF_TC_WITHOUT_HEAD(hold_stops_producer);
ATF_TC_BODY(hold_stops_producer, tc)
{
	size_t	before;

	setup();
	hold = 1;
	produce(&tx);
	pump(200);
	/* the consumer holds everything: no more than a window arrives */
	ATF_CHECK(received <= CHAN_WINDOW);
	ATF_CHECK_EQ(sent, received);
	ATF_CHECK(imsgbuf_queued_bytes(&tx.ibuf) == 0);
	before = sent;
	produce(&tx);
	ATF_CHECK_EQ(sent, before);
	/* release: credit flows back and the producer finishes */
	hold = 0;
	chan_consumed(&rx, held_bytes);
	held_bytes = 0;
	while (received < TOTAL) {
		event_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (hold == 0 && received < TOTAL && sent == received &&
		    chan_room(&tx) == 0)
			break;
	}
	ATF_CHECK_EQ(received, TOTAL);
	ATF_CHECK(order_ok);
}

ATF_TC_WITHOUT_HEAD(forged_credit_closes);
ATF_TC_BODY(forged_credit_closes, tc)
{
	struct imsg_credit	cr = { .bytes = 12345 };

	setup();
	/* credit for bytes never sent: the peer lies, the channel closes */
	ATF_REQUIRE(chan_compose(&tx, IMSG_CREDIT, 0, -1, &cr,
	    sizeof(cr)) == 0);
	pump(20);
	ATF_CHECK(rx_closed);
	ATF_CHECK(!rx.open);
}

ATF_TC_WITHOUT_HEAD(control_not_counted);
ATF_TC_BODY(control_not_counted, tc)
{
	int	i;

	setup();
	for (i = 0; i < 1000; i++)
		ATF_REQUIRE(chan_compose(&tx, T_DATA, 0, -1, "x", 1) == 0);
	pump(50);
	ATF_CHECK_EQ(received, 1000);
	ATF_CHECK_EQ(tx.inflight, 0);
	ATF_CHECK(rx.open && tx.open);
}

ATF_TP_ADD_TCS(tp)
{
	ATF_TP_ADD_TC(tp, window_bounds_flight);
	ATF_TP_ADD_TC(tp, hold_stops_producer);
	ATF_TP_ADD_TC(tp, forged_credit_closes);
	ATF_TP_ADD_TC(tp, control_not_counted);
	return atf_no_error();
}
