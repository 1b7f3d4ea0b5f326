// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Forward specs as ssh writes them: `-L [bind_address:]port:host:hostport` (IPv6 addresses
 * in brackets, e.g. `-L 2222:[::1]:22`), `-R [bind_address:]port:host:hostport` (the server
 * listens on port, connections come to host:hostport here), `-D [bind_address:]port` (SOCKS5),
 * and `--pipe host:port`.
 */
import { ToxtunnelError } from '../errors.ts';
import type { Forward, ReverseForward, SocksListener } from './specs.ts';

export interface HostPort {
  host: string;
  port: number;
}

function cliError(message: string): ToxtunnelError {
  return new ToxtunnelError('CLI_INVALID', message);
}

export function parsePort(text: string, what: string, context: string, allowZero = false): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  const min = allowZero ? 0 : 1;
  if (!Number.isInteger(port) || port < min || port > 65535) {
    throw cliError(`bad ${what} ${JSON.stringify(text)} in ${context}: must be a number ${min}..65535`);
  }
  return port;
}

/** Splits on ':' outside [brackets]; brackets are removed from the parts. */
function splitColons(spec: string): string[] {
  const parts: string[] = [];
  let current = '';
  let depth = 0;
  for (const ch of spec) {
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if (ch === ':' && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    if (ch !== '[' && ch !== ']') current += ch;
  }
  parts.push(current);
  return parts;
}

export function parseForwardSpec(spec: string): Forward {
  const context = `-L ${spec}`;
  const parts = splitColons(spec);
  if (parts.length !== 3 && parts.length !== 4) {
    throw cliError(`bad forward ${JSON.stringify(spec)}: expected [bind_address:]port:host:hostport, e.g. -L 2222:127.0.0.1:22`);
  }
  const [bind, local, host, remote] = parts.length === 4 ? parts : [undefined, ...parts];
  if (!host) throw cliError(`bad forward ${JSON.stringify(spec)}: the remote host is empty`);
  return {
    ...(bind ? { bind } : {}),
    localPort: parsePort(local!, 'local port', context, true),
    remoteHost: host,
    remotePort: parsePort(remote!, 'remote port', context),
  };
}

export function parseHostPort(spec: string, context: string): HostPort {
  const parts = splitColons(spec);
  if (parts.length !== 2 || !parts[0]) throw cliError(`bad ${context} ${JSON.stringify(spec)}: expected host:port, e.g. 127.0.0.1:22`);
  return { host: parts[0], port: parsePort(parts[1]!, 'port', `${context} ${spec}`) };
}

export function parseReverseSpec(spec: string): ReverseForward {
  const context = `-R ${spec}`;
  const parts = splitColons(spec);
  if (parts.length !== 3 && parts.length !== 4) {
    throw cliError(`bad reverse forward ${JSON.stringify(spec)}: expected [bind_address:]port:host:hostport, e.g. -R 8080:127.0.0.1:80 (the server listens on 8080)`);
  }
  const [bind, remote, host, local] = parts.length === 4 ? parts : [undefined, ...parts];
  if (!host) throw cliError(`bad reverse forward ${JSON.stringify(spec)}: the local host is empty`);
  return {
    ...(bind ? { remoteBind: bind } : {}),
    remotePort: parsePort(remote!, 'server port', context),
    localHost: host,
    localPort: parsePort(local!, 'local port', context),
  };
}

export function parseSocksSpec(spec: string): SocksListener {
  const parts = splitColons(spec);
  if (parts.length > 2 || parts.some((p) => p === '')) throw cliError(`bad SOCKS listener ${JSON.stringify(spec)}: expected [bind_address:]port, e.g. -D 1080`);
  const [bind, port] = parts.length === 2 ? parts : [undefined, parts[0]!];
  return { ...(bind ? { bind } : {}), port: parsePort(port!, 'SOCKS port', `-D ${spec}`, true) };
}

/** A bootstrap node as `--bootstrap host:port:key` writes it (IPv6 in brackets); the key is the node's 64-hex DHT key. */
export function parseBootstrapSpec(spec: string): { host: string; port: number; publicKey: string } {
  const parts = splitColons(spec.trim());
  if (parts.length !== 3 || !parts[0]) {
    throw cliError(`bad bootstrap node ${JSON.stringify(spec)}: expected host:port:public_key, e.g. --bootstrap 127.0.0.1:33445:<64 hex> (IPv6 in brackets)`);
  }
  const [host, port, key] = parts as [string, string, string];
  if (!/^[0-9a-fA-F]{64}$/.test(key)) throw cliError(`bad bootstrap node ${JSON.stringify(spec)}: the key must be the node's DHT public key, 64 hex characters (got ${key.length})`);
  return { host, port: parsePort(port, 'port', `--bootstrap ${spec}`), publicKey: key.toUpperCase() };
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/i;

/**
 * Where to serve /metrics: `[bind:]port`, bind 127.0.0.1 when absent. Binding anywhere but
 * loopback must be written out as an address (0.0.0.0, ::, or one of this machine's); an empty
 * or "*" bind is refused, since it would publish friend keys and traffic to the network by accident.
 */
export function parseMetricsSpec(spec: string, context: string): { host: string; port: number; loopback: boolean } {
  const parts = splitColons(spec.trim());
  if (parts.length > 2 || parts.at(-1) === '') throw cliError(`bad ${context} ${JSON.stringify(spec)}: expected [bind:]port, e.g. 9464 or 127.0.0.1:9464`);
  const [bind, port] = parts.length === 2 ? parts : ['127.0.0.1', parts[0]!];
  if (bind === '' || bind === '*') {
    throw cliError(`${context} ${JSON.stringify(spec)}: an empty or "*" address would publish the metrics (friend keys, traffic) to every network; write 0.0.0.0:${port} if that is meant, or 127.0.0.1:${port}`);
  }
  return { host: bind!, port: parsePort(port!, 'metrics port', `${context} ${spec}`), loopback: LOOPBACK.test(bind!) };
}
