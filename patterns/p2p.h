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

/* impl "put" or "get" (one-sided transfers, src/fabric.h): -ENOTSUP with a
 * reason when the run's fabric has none (a recorded skip).  0 otherwise,
 * also before a fabric exists (planning). */
int fsc_p2p_check_rma(const struct fsc_pctx *c, char *err, size_t len);
/* 1 for impl "put", 2 for "get" (enum fsc_req_rma), 0 for the others. */
int fsc_p2p_rma_impl(const struct fsc_pctx *c);

#endif
