#include "p2p.h"

#include <errno.h>
#include <stdio.h>

int fsc_p2p_peer(const struct fsc_pctx *c)
{
	return c->cfg && fsc_cfg_has(c->cfg, "peer") ? (int)fsc_cfg_int(c->cfg, "peer") : 1;
}

int fsc_p2p_active(const struct fsc_pctx *c)
{
	return c->rank == 0 || c->rank == fsc_p2p_peer(c);
}

int fsc_p2p_check_args(const struct fsc_pctx *c, char *err, size_t len)
{
	int peer = fsc_p2p_peer(c);

	if (peer <= 0 || peer >= c->size) {
		snprintf(err, len, "invalid value '%d' for --peer: expected a rank from 1 to %d",
		         peer, c->size - 1);
		return -EINVAL;
	}
	return 0;
}
