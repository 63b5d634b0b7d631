#include <errno.h>
#include <string.h>

#include "pattern.h"

static const struct {
	const char *name;
	size_t size;
	const char *aliases[3];
} dtypes[FSC_DTYPE_COUNT] = {
        [FSC_F32] = {"float32", 4, {"float", "f32", 0}},
        [FSC_F64] = {"float64", 8, {"double", "f64", 0}},
        [FSC_I32] = {"int32", 4, {"i32", "int", 0}},
        [FSC_I64] = {"int64", 8, {"i64", "long", 0}},
        [FSC_BF16] = {"bfloat16", 2, {"bf16", 0, 0}},
        [FSC_F16] = {"float16", 2, {"fp16", "half", 0}},
};

static const char *const redops[FSC_REDOP_COUNT] = {"sum", "max", "min"};

const char *fsc_dtype_name(enum fsc_dtype dt)
{
	return (unsigned)dt < FSC_DTYPE_COUNT ? dtypes[dt].name : "?";
}

size_t fsc_dtype_size(enum fsc_dtype dt)
{
	return (unsigned)dt < FSC_DTYPE_COUNT ? dtypes[dt].size : 0;
}

const char *fsc_redop_name(enum fsc_redop op)
{
	return (unsigned)op < FSC_REDOP_COUNT ? redops[op] : "?";
}

int fsc_dtype_parse(const char *s, enum fsc_dtype *out)
{
	for (int i = 0; i < FSC_DTYPE_COUNT; i++) {
		int hit = !strcmp(s, dtypes[i].name);
		for (int a = 0; !hit && a < 3 && dtypes[i].aliases[a]; a++)
			hit = !strcmp(s, dtypes[i].aliases[a]);
		if (hit) {
			*out = (enum fsc_dtype)i;
			return 0;
		}
	}
	return -EINVAL;
}

int fsc_redop_parse(const char *s, enum fsc_redop *out)
{
	for (int i = 0; i < FSC_REDOP_COUNT; i++)
		if (!strcmp(s, redops[i])) {
			*out = (enum fsc_redop)i;
			return 0;
		}
	return -EINVAL;
}
