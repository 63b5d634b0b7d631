/* Bootstrap helpers shared by every implementation. */
#include "boot.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void fsc_boot_destroy(struct fsc_boot *b)
{
	if (!b)
		return;
	free(b->hosts);
	b->hosts = 0;
	free(b->rank_host);
	b->rank_host = 0;
	fsc_watchdog_destroy(b);
	if (b->ops && b->ops->destroy)
		b->ops->destroy(b); /* frees b itself */
}

int fsc_boot_init_hosts(struct fsc_boot *b)
{
	int rc;

	rc = b->wd ? 0 : fsc_watchdog_create(b);
	if (rc)
		return rc;
	b->hosts = calloc((size_t)b->size, FSC_HOST_MAX);
	b->rank_host = calloc((size_t)b->size, sizeof(int));
	if (!b->hosts || !b->rank_host)
		return -ENOMEM;
	rc = fsc_boot_allgather(b, b->host, b->hosts, FSC_HOST_MAX);
	if (rc)
		return rc;
	/* Host index = order of first appearance in rank order. */
	b->nhosts = 0;
	b->local_rank = 0;
	b->local_size = 0;
	for (int r = 0; r < b->size; r++) {
		int h = -1;

		for (int q = 0; q < r && h < 0; q++)
			if (!strncmp(b->hosts[q], b->hosts[r], FSC_HOST_MAX))
				h = b->rank_host[q];
		b->rank_host[r] = h >= 0 ? h : b->nhosts++;
	}
	b->host_index = b->rank_host[b->rank];
	for (int r = 0; r < b->size; r++) {
		if (b->rank_host[r] != b->host_index)
			continue;
		if (r < b->rank)
			b->local_rank++;
		b->local_size++;
	}
	return 0;
}

int fsc_boot_agree(struct fsc_boot *b, int rc, int *first_rank)
{
	/* Two values: lowest failing rank, and (separately) its code. */
	int64_t v = rc ? b->rank : INT_MAX;
	int64_t code[1];
	int err;

	err = fsc_boot_allreduce(b, &v, 1, FSC_BOOT_I64, FSC_BOOT_MIN);
	if (err)
		return err;
	if (first_rank)
		*first_rank = v == INT_MAX ? -1 : (int)v;
	if (v == INT_MAX)
		return 0;
	code[0] = b->rank == v ? rc : 0;
	err = fsc_boot_allreduce(b, code, 1, FSC_BOOT_I64, FSC_BOOT_MIN);
	if (err)
		return err;
	return (int)code[0];
}
