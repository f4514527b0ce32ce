/*
 * imapxd parent: the control socket (control.c).
 */
#ifndef IMAPXD_CONTROL_H
#define IMAPXD_CONTROL_H

#include <stddef.h>
#include <stdint.h>

struct control_ops {
	void	(*status)(void *);		/* control_reply() per child */
	int	(*reload)(char *, size_t);	/* 0, or -1 and why */
};

int	control_init(const char *, const struct control_ops *);
void	control_cleanup(void);
void	control_reply(void *, uint32_t, const void *, size_t);

#endif
