#include "p2p.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "runner.h"

int fsc_p2p_peer(const struct fsc_pctx *c)
{
	struct fsc_run_settings s;

	return (int)fsc_pctx_run(c, &s)->peer;
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

int fsc_p2p_rma_impl(const struct fsc_pctx *c)
{
	if (!c->impl)
		return 0;
	return !strcmp(c->impl, "put") ? FSC_REQ_PUT : !strcmp(c->impl, "get") ? FSC_REQ_GET : 0;
}

int fsc_p2p_check_rma(const struct fsc_pctx *c, char *err, size_t len)
{
	int rc = fsc_p2p_check_args(c, err, len);

	if (rc || !fsc_p2p_rma_impl(c) || !c->fab || fsc_fabric_has_rma(c->fab->ops))
		return rc;
	snprintf(err, len, "impl %s needs one-sided transfers, which fabric %s does not offer",
	         c->impl, c->fab->ops->name);
	return -ENOTSUP;
}
