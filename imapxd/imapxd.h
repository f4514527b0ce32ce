/*
 * imapxd: what the parent and its children share.
 */
#ifndef IMAPXD_H
#define IMAPXD_H

#define IMAPX_PARENT_FD		3	/* a child's channel to the parent */
#define IMAPX_MAX_WORKERS	64

#endif
