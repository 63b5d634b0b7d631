/* The software HCA's wire between processes: every packet is this header
 * (host byte order) and then `len` bytes of payload, over TCP.  Shared by
 * the double and by its tests that play one end of the wire themselves. */
#ifndef IBDOUBLE_WIRE_H
#define IBDOUBLE_WIRE_H

#include <stdint.h>

#define DBL_MAGIC 0x49424431u /* "IBD1" */

enum { PKT_REQ = 1, PKT_ACK, PKT_READ_RESP };
enum { ACK_OK = 0, ACK_RNR, ACK_REM_ACCESS, ACK_REM_INV_REQ, ACK_REM_OP };

struct pkt {
	uint32_t magic;
	uint8_t type, opcode, syndrome, rnr_timer;
	uint32_t src_ip;
	uint16_t src_port, pad;
	uint32_t src_qpn, dst_qpn;
	uint32_t psn;
	uint32_t imm;
	uint32_t rkey;
	uint32_t len;
	uint64_t raddr;
};

#endif
