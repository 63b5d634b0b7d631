/* `fabscope devices` when the verbs fabric is not built. */
#include <stdio.h>

#include "devices.h"
#include "err.h"

int fsc_devices_main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr,
	        "fabscope devices: built without libibverbs (the verbs fabric is not built; "
	        "apt-get install libibverbs-dev and reconfigure)\n");
	return FSC_EXIT_USAGE;
}
