/* Preloaded by scripts/sanitize into every process of the sanitizer pass:
 * dlclose() does nothing, so plug-ins that Open MPI, PMIx, UCX or hwloc
 * unload before exit stay mapped.  LeakSanitizer then attributes the
 * plug-ins' allocations to their library (so tests/sanitize/lsan.supp can
 * name it) instead of to an "<unknown module>" that it can neither match
 * nor symbolize, and that it re-reads /proc/self/maps for on every frame
 * (minutes per process).  Built without sanitizers: it also loads into
 * uninstrumented programs (mpirun, orted, python3). */
#include <dlfcn.h>

int dlclose(void *handle)
{
	(void)handle;
	return 0;
}
