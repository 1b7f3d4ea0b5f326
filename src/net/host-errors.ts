// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Symbolic error codes the JavaScript socket host returns to C (negated), mirrored from
 * wasm/tt_host.h, where tt_network.c maps them to the errno values toxcore expects.
 * (errno numbers inside emscripten are WASI numbers, so numbers never cross the boundary.)
 * test/unit/host-abi.test.ts checks these against the header.
 */
export const HostError = {
  WOULDBLOCK: 1,
  INPROGRESS: 2,
  ADDRINUSE: 3,
  CONNREFUSED: 4,
  CONNRESET: 5,
  NOTCONN: 6,
  BADF: 7,
  INVAL: 8,
  AFNOSUPPORT: 9,
  NETUNREACH: 10,
  ADDRNOTAVAIL: 11,
  MSGSIZE: 12,
  ACCES: 13,
} as const;

/** Address families and socket types as tt_host.h defines them. */
export const HostFamily = { INET: 4, INET6: 6 } as const;
export const HostSocketType = { STREAM: 1, DGRAM: 2 } as const;
/** Socket options the host acts on (tt_host.h TT_OPT_*). */
export const HostOption = { BROADCAST: 1, JOIN_FF02_1: 2, RCVBUF: 3, SNDBUF: 4 } as const;

/** Maps a Node socket error code (err.code) to the host code C understands. */
export function hostErrorFromNode(code: string | undefined): number {
  switch (code) {
    case 'ECONNREFUSED':
      return HostError.CONNREFUSED;
    case 'EADDRINUSE':
      return HostError.ADDRINUSE;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return HostError.NETUNREACH;
    case 'EADDRNOTAVAIL':
      return HostError.ADDRNOTAVAIL;
    case 'EACCES':
    case 'EPERM':
      return HostError.ACCES;
    default:
      return HostError.CONNRESET;
  }
}
