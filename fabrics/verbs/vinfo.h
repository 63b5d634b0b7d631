/* Helpers shared by the verbs fabric and `fabscope devices`: port rates,
 * MTUs, GID types and where an HCA sits (NUMA node, nearest cores). */
#ifndef FSC_VERBS_VINFO_H
#define FSC_VERBS_VINFO_H

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

static inline int vinfo_mtu_bytes(enum ibv_mtu m)
{
	return 128 << (int)m;
}

/* "4X HDR = 200 Gb/s", from the port's active_width and active_speed codes
 * (IB spec: width 1/2/4/8/16 = 1X/4X/8X/12X/2X; speed per lane). */
static inline void vinfo_rate(uint8_t width, uint8_t speed, char *out, size_t len)
{
	static const struct {
		uint8_t code;
		int lanes;
	} widths[] = {{1, 1}, {2, 4}, {4, 8}, {8, 12}, {16, 2}};
	static const struct {
		uint8_t code;
		const char *name;
		double gbps;
	} speeds[] = {{1, "SDR", 2.5}, {2, "DDR", 5},   {4, "QDR", 10},  {8, "FDR10", 10},
	              {16, "FDR", 14}, {32, "EDR", 25}, {64, "HDR", 50}, {128, "NDR", 100}};
	int lanes = 0;
	const char *name = "?";
	double g = 0;

	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++)
		if (widths[i].code == width)
			lanes = widths[i].lanes;
	for (size_t i = 0; i < sizeof(speeds) / sizeof(speeds[0]); i++)
		if (speeds[i].code == speed) {
			name = speeds[i].name;
			g = speeds[i].gbps;
		}
	snprintf(out, len, "%dX %s = %g Gb/s", lanes, name, lanes * g);
}

static inline const char *vinfo_gid_type(uint32_t t)
{
	return t == IBV_GID_TYPE_ROCE_V2 ? "RoCE v2" : t == IBV_GID_TYPE_ROCE_V1 ? "RoCE v1" : "IB";
}

/* NUMA node and local CPU list of an HCA from sysfs (-1 / "" when the
 * kernel does not say, e.g. a software HCA). */
static inline int vinfo_numa(struct ibv_device *d)
{
	char path[sizeof(d->ibdev_path) + 32];
	FILE *fp;
	int node = -1;

	snprintf(path, sizeof(path), "%s/device/numa_node", d->ibdev_path);
	fp = fopen(path, "r");
	if (fp) {
		if (fscanf(fp, "%d", &node) != 1)
			node = -1;
		fclose(fp);
	}
	return node;
}

static inline void vinfo_cpulist(struct ibv_device *d, char *out, size_t len)
{
	char path[sizeof(d->ibdev_path) + 32];
	FILE *fp;

	out[0] = 0;
	snprintf(path, sizeof(path), "%s/device/local_cpulist", d->ibdev_path);
	fp = fopen(path, "r");
	if (fp) {
		if (fgets(out, (int)len, fp))
			out[strcspn(out, "\n")] = 0;
		fclose(fp);
	}
}

/* How many of the CPUs in `mine` the HCA's local_cpulist ("0-3,8-11")
 * holds; -1 when the kernel does not say. */
static inline int vinfo_near_cpus(struct ibv_device *d, const cpu_set_t *mine)
{
	char list[256], *p, *end;
	int n = 0;

	vinfo_cpulist(d, list, sizeof(list));
	if (!list[0])
		return -1;
	for (p = list; *p;) {
		long a = strtol(p, &end, 10), b = a;

		if (end == p)
			break;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && c < CPU_SETSIZE; c++)
			n += CPU_ISSET((int)c, mine) ? 1 : 0;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return n;
}

#endif
