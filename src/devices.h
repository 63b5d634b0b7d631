/* `fabscope devices`: every RDMA device and port (state, link layer, rate,
 * MTU, LID, GIDs, NUMA node, nearest cores), as text or --json.  Exit 0
 * when every port is ACTIVE, 1 when one is not or there is no device, 2 on
 * bad usage.  Implemented by the verbs fabric (fabrics/verbs/devices.c), or
 * by a stub that says it was not built. */
#ifndef FSC_DEVICES_H
#define FSC_DEVICES_H

int fsc_devices_main(int argc, char **argv);

#endif
