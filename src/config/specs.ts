// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * What a configuration describes, as plain data: forwards (-L), reverse forwards (-R), SOCKS
 * listeners (-D), bootstrap nodes, and the server protocols a client speaks. Here, not in src/app, so that the config layer does not
 * depend on the application it configures; src/app imports (and re-exports) them.
 */

/** ssh -L [bind:]port:host:hostport — we listen locally, the server connects to host:hostport. */
export interface Forward {
  /** Local address to listen on; default 127.0.0.1. */
  bind?: string;
  localPort: number;
  remoteHost: string;
  remotePort: number;
}

/** ssh -R [bind:]remote_port:local_host:local_port — the server listens, we connect locally. */
export interface ReverseForward {
  /** Address the server listens on; default (empty) = the server's 127.0.0.1. */
  remoteBind?: string;
  remotePort: number;
  localHost: string;
  localPort: number;
}

/** ssh -D [bind:]port — a local SOCKS5 server whose CONNECTs become tunnels. */
export interface SocksListener {
  bind?: string;
  port: number;
  /** Require RFC 1929 username/password from SOCKS clients. */
  credentials?: { username: string; password: string };
}

/** A Tox bootstrap node. */
export interface BootstrapNode {
  host: string;
  port: number;
  publicKey: string;
  /** TCP relay ports of that node (added as relays), if any. */
  tcpPorts?: number[];
}

/** The server's protocol, as a client sees it: detected, ours only, or tuntox's only (docs/tuntox.md). */
export const CLIENT_PROTOCOLS = ['auto', 'toxtunnel', 'tuntox'] as const;
export type ClientProtocol = (typeof CLIENT_PROTOCOLS)[number];
