#include "registry.h"

#include <string.h>

const struct fsc_fabric_ops *fsc_fabric_find(const char *name)
{
	for (size_t i = 0; fsc_fabrics[i]; i++)
		if (!strcmp(fsc_fabrics[i]->name, name))
			return fsc_fabrics[i];
	return 0;
}

const struct fsc_pattern_ops *fsc_pattern_find(const char *name)
{
	for (size_t i = 0; fsc_patterns[i]; i++)
		if (!strcmp(fsc_patterns[i]->name, name))
			return fsc_patterns[i];
	return 0;
}
