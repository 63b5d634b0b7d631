/* Fuzz target: the topology.conf reader (src/topology.c) and, on what it
 * accepts, the topology schedule.  The input is the file's content.  A
 * rejected file must say why in one "fuzz.conf:LINE: ..." or "fuzz.conf:
 * ..." line; an accepted one must map every host to a leaf that lists it,
 * find every host by name, and give every pair of hosts at most once in
 * its first rounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "topology.h"

#define FUZZ_MAX_BYTES 4096
#define FUZZ_MAX_HOSTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fsc_topo *t = 0;
	struct fsc_topo_sched s;
	char err[1024];
	char *text = fuzz_cstring(data, size < FUZZ_MAX_BYTES ? size : FUZZ_MAX_BYTES);

	if (!text)
		return 0;
	err[0] = 0;
	if (fsc_topo_parse(&t, text, "fuzz.conf", err, sizeof(err))) {
		FUZZ_CHECK(!t && !strncmp(err, "fuzz.conf", 9) && !strchr(err, '\n'));
		free(text);
		return 0;
	}
	FUZZ_CHECK(t && t->nleaves >= 1 && t->leaf_first[t->nleaves] == t->nhosts);
	for (int i = 0; i < t->nhosts; i++) {
		int l = t->host_leaf[i];

		FUZZ_CHECK(l >= 0 && l < t->nleaves);
		FUZZ_CHECK(i >= t->leaf_first[l] && i < t->leaf_first[l + 1]);
		FUZZ_CHECK(fsc_topo_host(t, t->hosts[i]) == i);
	}
	if (t->nhosts >= 2 && t->nhosts <= FUZZ_MAX_HOSTS && !fsc_topo_sched_init(&s, t)) {
		unsigned char seen[FUZZ_MAX_HOSTS * FUZZ_MAX_HOSTS] = {0};

		for (uint64_t r = 0; r < s.rounds && r < 512; r++)
			for (int h = 0; h < t->nhosts; h++) {
				int p = fsc_topo_sched_partner(&s, r, h);

				if (p < 0)
					continue;
				FUZZ_CHECK(p != h && p < t->nhosts);
				FUZZ_CHECK(fsc_topo_sched_partner(&s, r, p) == h);
				if (h < p) {
					FUZZ_CHECK(!seen[h * FUZZ_MAX_HOSTS + p]);
					seen[h * FUZZ_MAX_HOSTS + p] = 1;
				}
			}
	}
	fsc_topo_free(t);
	free(text);
	return 0;
}
