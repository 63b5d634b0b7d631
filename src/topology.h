/* Network topology: which leaf switch each host hangs from.
 *
 * Two sources:
 *   - Slurm's topology.conf (tree plugin), one switch per line:
 *         SwitchName=leaf3 Nodes=h[96-127]
 *         SwitchName=spine0 Switches=leaf[0-7]
 *     `#` starts a comment; blank lines are skipped; keys are matched
 *     without case as Slurm does; LinkSpeed= is accepted and ignored (a note
 *     is kept in `notes`).  A switch with Nodes= is a leaf; a switch with
 *     Switches= sits above the named switches.  Every name in Switches= must
 *     be defined somewhere in the file, a host may hang from one leaf only,
 *     and a switch may not be defined twice.
 *   - A generated fat tree for simulation:
 *         fattree:hosts=1024,leaf=32,oversub=2
 *     hosts h0..h<hosts-1> (names zero-free), `leaf` hosts per leaf switch
 *     leaf0, leaf1, ... (the last may be partial), one spine above them;
 *     oversub (>= 1, default 1) is the ratio of a leaf's host ports to its
 *     uplink ports, kept in `oversub` for the fabric model.
 *
 * Hostlist expressions (Slurm's syntax): `h[0-3,8]`, zero padding kept
 * from the lower bound (`n[001-016]` gives n001..n016), several bracket
 * groups (`r[1-2]n[1-3]`, their product), and comma-separated items at the
 * top level (`h[0-3],login1`).
 *
 * Errors name the place (`file:line`, or the spec) and the bad token. */
#ifndef FSC_TOPOLOGY_H
#define FSC_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

struct fsc_topo {
	int nhosts;
	char **hosts;   /* host names, in the order the leaves list them */
	int *host_leaf; /* leaf index of each host */
	int nleaves;
	char **leaves;   /* leaf switch names */
	int *leaf_first; /* hosts of leaf l: leaf_first[l] .. leaf_first[l+1]-1 */
	int nswitches;   /* every switch, leaves included */
	double oversub;  /* fattree: the oversubscription; topology.conf: 1 */
	char notes[256]; /* what was accepted but not used (LinkSpeed) */
	/* name lookup: open addressing over host indices, -1 = empty */
	int *hash;
	size_t hash_size;
};

/* Expand one hostlist expression into a malloc'ed array of malloc'ed
 * names (*out, *n).  -EINVAL with one line in err naming the bad token;
 * -ENOMEM.  `max` bounds the expansion (a typo must not allocate
 * billions); 0 means 1,000,000. */
int fsc_hostlist_expand(const char *expr, char ***out, int *n, int max, char *err, size_t errlen);

/* Free what fsc_hostlist_expand returned. */
void fsc_hostlist_free(char **names, int n);

/* Parse topology.conf text; `where` names it in errors (a file name). */
int fsc_topo_parse(struct fsc_topo **t, const char *text, const char *where, char *err,
                   size_t errlen);

/* `spec` is "fattree:..." or a file name.  0, -EINVAL (err says why), -ENOENT
 * (a file that cannot be read; err says so), -ENOMEM. */
int fsc_topo_load(struct fsc_topo **t, const char *spec, char *err, size_t errlen);

/* Index of a host by name, or -1. */
int fsc_topo_host(const struct fsc_topo *t, const char *name);

/* Hosts on leaf l. */
static inline int fsc_topo_leaf_size(const struct fsc_topo *t, int l)
{
	return t->leaf_first[l + 1] - t->leaf_first[l];
}

/* Accepts NULL. */
void fsc_topo_free(struct fsc_topo *t);

/* The `topology` pair schedule over a topology's hosts (host indices as in
 * struct fsc_topo): first every leaf runs the circle method on its own
 * hosts, all leaves at once (max leaf size - 1 rounds, or max size when
 * that is odd); then the leaves are paired by the circle method, and a pair
 * of leaves L < M measures every (x, y) with x on L and y on M in k rounds
 * (k = the larger leaf size): in sub-round s the i-th host of L meets the
 * ((i + s) mod k)-th host of M.  Each cross round therefore has every host
 * of a leaf in at most one cross flow, and every leaf's uplink carries the
 * same number of flows (its size, when leaves are equal).  Every unordered
 * pair occurs exactly once.  O(1) per lookup; no table. */
struct fsc_topo_sched {
	const struct fsc_topo *t;
	int kmax;         /* largest leaf */
	int intra_rounds; /* circle rounds inside leaves */
	int leaf_ring;    /* circle places over leaves */
	uint64_t rounds;
};

int fsc_topo_sched_init(struct fsc_topo_sched *s, const struct fsc_topo *t);

/* Partner host of `host` in `round`, or -1 (idle, or out of range). */
int fsc_topo_sched_partner(const struct fsc_topo_sched *s, uint64_t round, int host);

#endif
