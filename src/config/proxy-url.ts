// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Proxy addresses as `--proxy`, `tox.proxy` and ALL_PROXY give them (curl's URL form, which
 * tuntox reads from ALL_PROXY too): `socks5://host:port`, `socks5h://host:port` or
 * `http://host:port`; `none` (or empty) for no proxy. IPv6 hosts in brackets.
 *
 * toxcore's proxy client (TCP_client.c) speaks SOCKS5 without authentication and HTTP CONNECT
 * without Proxy-Authorization, and always sends the relay's IP address: so no credentials,
 * and socks5h means the same as socks5 here (no name ever reaches the proxy or the local
 * resolver: with a proxy, bootstrap nodes must be IP addresses).
 */
import type { ProxyOptions } from '../tox/tox-node.ts';
import { ToxtunnelError } from '../errors.ts';

const SCHEMES: Record<string, ProxyOptions['type']> = { 'socks5:': 'socks5', 'socks5h:': 'socks5', 'http:': 'http' };

/** Parses a proxy URL; undefined for "none" or "". `source` names where it came from. */
export function parseProxyUrl(text: string, source: string): ProxyOptions | undefined {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed.toLowerCase() === 'none') return undefined;
  const bad = (problem: string) =>
    new ToxtunnelError('CONFIG_PROXY_INVALID', `${source}: ${JSON.stringify(trimmed)}: ${problem}`, { source });
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw bad('not a proxy URL; expected socks5://host:port or http://host:port (or none)');
  }
  const type = SCHEMES[url.protocol];
  if (!type) throw bad(`the scheme ${url.protocol.slice(0, -1)} is not supported; use socks5://, socks5h:// or http:// (toxcore speaks only SOCKS5 and HTTP CONNECT)`);
  if (url.username || url.password) throw bad('proxy credentials are not supported (toxcore\'s proxy client has no authentication); use a proxy that needs none, e.g. one on 127.0.0.1');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) throw bad('expected only scheme://host:port, nothing after the port');
  if (!url.hostname) throw bad('the host is missing');
  // new URL() drops a port equal to the scheme's default (80 for http): read it from the text.
  const port = url.port ? Number(url.port) : /:(\d+)\/?$/.test(trimmed) ? Number(/:(\d+)\/?$/.exec(trimmed)![1]) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port is missing or not 1..65535 (e.g. socks5://127.0.0.1:9050)');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { type, host, port };
}

/** For logs and status: the proxy without anything secret (there is nothing secret in it). */
export function describeProxy(proxy: ProxyOptions): string {
  const host = proxy.host.includes(':') ? `[${proxy.host}]` : proxy.host;
  return `${proxy.type === 'socks5' ? 'SOCKS5' : 'HTTP CONNECT'} proxy ${host}:${proxy.port}`;
}
