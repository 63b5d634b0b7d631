/* Helpers shared by the fuzz targets (header only: each target is one
 * executable). */
#ifndef FSC_FUZZ_COMMON_H
#define FSC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A property the target checks: on failure, say which and abort, so that
 * libFuzzer saves the input as a crash and the replay test fails. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The bytes up to the first NUL (or all of them) as a malloc'ed C string;
 * NULL when out of memory. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t len = nul ? (size_t)(nul - data) : size;
	char *s = malloc(len + 1);

	if (s) {
		if (len)
			memcpy(s, data, len);
		s[len] = 0;
	}
	return s;
}

#endif
