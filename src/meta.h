/* Run metadata for the results document: who ran what, where, with which
 * libraries and timer.  Collective (gathers placement from every rank). */
#ifndef FSC_META_H
#define FSC_META_H

#include <jansson.h>

#include "boot.h"
#include "clock.h"
#include "options.h"

/* Fill `meta` (rank 0's object; NULL elsewhere) with: tool and schema
 * versions, command line, start time, hosts, per-rank placement (host,
 * core, NUMA node, pid), host topology summary (hwloc), library versions,
 * timer figures, the effective configuration and relevant environment
 * variables (OMPI_*, UCX_*, NCCL_*, FSC_*, SLURM_JOB_*). */
int fsc_meta_collect(struct fsc_boot *b, int argc, char **argv, const struct fsc_timer_info *ti,
                     const struct fsc_config *cfg, json_t *meta);

#endif
