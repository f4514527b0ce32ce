/*
 * imapxd: what the parent and its children share.
 */
#ifndef IMAPXD_H
#define IMAPXD_H

#define IMAPX_PARENT_FD		3	/* a child's channel to the parent */
#define IMAPX_MAX_WORKERS	64

/*
 * The front end's sandbox: sockets it already has or makes towards the
 * backend, descriptors from the parent, no file system, no exec.
 */
#define FRONTEND_PROMISES	"stdio inet recvfd sendfd"

#endif
