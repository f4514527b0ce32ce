/*
 * A service daemon's channel to imapxd's parent (execd, submitd, ...).
 *
 * The parent starts a service with its channel on fd 3 and sends on it
 * one IMSG_PEER_CHANNEL per frontend worker, each with one end of a
 * socketpair.  svcchan_init() watches the channel: peer() gets each
 * frontend's descriptor (non-blocking, close-on-exec) and its worker
 * index; gone() is called when the parent closes the channel, and must
 * not return.  The service dies with the parent too (PR_SET_PDEATHSIG):
 * call svcchan_init() after the last uid change, which clears it.
 */
#ifndef IMAPX_SVCCHAN_H
#define IMAPX_SVCCHAN_H

#include <stdint.h>

#define SVCCHAN_FD	3

void	svcchan_init(void (*)(int, uint32_t), void (*)(void));
void	svcchan_nonblock(int);

#endif
