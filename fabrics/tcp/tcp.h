/* TCP fabric: POSIX sockets and epoll.  See README.md in this folder.
 *
 * The fabric itself is used through fsc_fabric_tcp and the generic
 * fsc_fabric_* calls; the function below lets tests look inside, so they
 * can wait for a state instead of sleeping and hoping.
 */
#ifndef FSC_TCP_H
#define FSC_TCP_H

#include <stddef.h>

#include "fabric.h"

extern const struct fsc_fabric_ops fsc_fabric_tcp;

/* Messages from `peer` that arrived before a receive claimed them: *msgs
 * counts those whose header was read (complete or not), *filling is 1 while
 * the payload of the last one is still arriving.  Not collective; no
 * progress is made.  0, or -EINVAL (not a tcp fabric, or no such peer). */
int fsc_tcp_unexpected(const struct fsc_fabric *f, int peer, size_t *msgs, int *filling);

#endif
