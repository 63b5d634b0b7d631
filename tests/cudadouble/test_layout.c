/* The stand-in's headers against the real CUDA 13.0 and NCCL 2.28.9 ones:
 * every size, offset and value of layout_facts.h must agree.  Built only
 * where the real headers are installed. */
#include <stdio.h>
#include <stddef.h>

extern const size_t fsc_layout_double[], fsc_layout_real[], fsc_layout_count;
extern const char *const fsc_layout_names[];

int main(void)
{
	int bad = 0;
	for (size_t i = 0; i < fsc_layout_count; i++)
		if (fsc_layout_double[i] != fsc_layout_real[i]) {
			printf("%s: stand-in %zu, real %zu\n", fsc_layout_names[i],
			       fsc_layout_double[i], fsc_layout_real[i]);
			bad = 1;
		}
	printf("%zu facts compared, %s\n", fsc_layout_count, bad ? "MISMATCH" : "all equal");
	return bad;
}
