/* Shared set-up of the point-to-point patterns (latency, bandwidth):
 * rank 0 and --peer take part, everyone else waits. */
#ifndef FSC_PATTERNS_P2P_H
#define FSC_PATTERNS_P2P_H

#include "pattern.h"

/* The partner of rank 0 (from --peer). */
int fsc_p2p_peer(const struct fsc_pctx *c);
/* Only rank 0 and the peer are active. */
int fsc_p2p_active(const struct fsc_pctx *c);
/* -EINVAL when --peer is not a valid rank other than 0. */
int fsc_p2p_check_args(const struct fsc_pctx *c, char *err, size_t len);

#endif
