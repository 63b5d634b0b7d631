#include "err.h"

#include <errno.h>
#include <string.h>

const char *fsc_strerror(int rc)
{
	switch (-rc) {
	case 0: return "success";
	case EINVAL: return "invalid argument";
	case ENOTSUP: return "not supported";
	case ETIMEDOUT: return "timed out";
	case EIO: return "I/O or verification error";
	case ENOMEM: return "out of memory";
	case ENODEV: return "no usable device";
	case ECONNABORTED: return "aborted: a rank stopped answering";
	default: return rc < 0 ? strerror(-rc) : "unknown error";
	}
}
