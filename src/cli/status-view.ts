// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel status` for people: uptime, the Tox network, each friend (name and short key,
 * online since, UDP or relay, keepalive RTT, tunnels, bytes and current rate) in human units,
 * and the tunnel counters. Made from the JSON the instance answers (../app/instance.ts
 * status()); `--json` prints that JSON unchanged, numbers raw. Fields this view does not know
 * are shown after it as `key: value` lines, so nothing the instance says is hidden.
 */
import { Capability } from '../protocol/frame.ts';

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Control characters (C0, DEL, C1) shown as escapes: the text may come from a peer. */
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** 1023 B, 1.0 KiB, 12.3 MiB … (binary units, as `ls -h` and `du -h`). */
export function humanBytes(value: number): string {
  if (Math.abs(value) < 1024) return `${Math.round(value)} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let scaled = value;
  let unit = 'B';
  for (const next of units) {
    if (Math.abs(scaled) < 1024) break;
    scaled /= 1024;
    unit = next;
  }
  return `${scaled.toFixed(1)} ${unit}`;
}

export const humanRate = (bytesPerSecond: number) => `${humanBytes(bytesPerSecond)}/s`;

/** 45s, 3m 05s, 2h 03m, 4d 02h. */
export function humanDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${two(Math.floor((s % 86400) / 3600))}h`;
}

const CONNECTION: Record<string, string> = { none: 'offline', udp: 'online, direct (UDP)', tcp: 'online, through a TCP relay' };

/** A friend as people know it: "name (1A2B3C4D…)" or "1A2B3C4D…". */
export function friendName(entry: Plain): string {
  const key = str(entry.publicKey);
  const short = key ? `${clean(key.slice(0, 8))}…` : `friend ${String(entry.friend ?? '?')}`;
  const name = str(entry.name);
  return name ? `${clean(name)} (${short})` : short;
}

function capabilities(mask: number): string {
  const names = [mask & Capability.HALF_CLOSE ? 'half-close' : '', mask & Capability.REVERSE ? 'reverse tunnels' : ''].filter(Boolean);
  return names.length ? names.join(', ') : 'none (a base-protocol peer)';
}

function since(iso: string | undefined, now: number): string | undefined {
  const at = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(at) ? undefined : `${humanDuration((now - at) / 1000)}`;
}

/** One friend's line: where it is, since when, how fast. */
function friendLine(f: Plain, now: number): string {
  const parts = [CONNECTION[String(f.connection)] ?? clean(String(f.connection ?? '?'))];
  const online = since(str(f.onlineSince), now);
  if (online && f.connection !== 'none') parts.push(`for ${online}`);
  if (f.keepalive === 'unresponsive') parts.push('NOT ANSWERING');
  const rtt = num(f.rttMs);
  if (rtt !== undefined) parts.push(`RTT ${rtt} ms`);
  if (num(f.tunnels) !== undefined) parts.push(`${f.tunnels} tunnel(s)`);
  if (num(f.bytesIn) !== undefined) parts.push(`in ${humanBytes(num(f.bytesIn)!)} (${humanRate(num(f.rateIn) ?? 0)})`);
  if (num(f.bytesOut) !== undefined) parts.push(`out ${humanBytes(num(f.bytesOut)!)} (${humanRate(num(f.rateOut) ?? 0)})`);
  return parts.join(', ');
}

const SHOWN = new Set([
  'mode', 'toxId', 'network', 'startedAt', 'uptimeSeconds', 'friends', 'server', 'connectionsTotal', 'connectionsActive',
  'errors', 'bytesIn', 'bytesOut', 'rateIn', 'rateOut', 'lastActivity', 'listeners', 'reverse', 'reverseListeners',
]);

/** The status answer as aligned lines for people. */
export function formatStatus(status: unknown, now = Date.now()): string[] {
  if (!isPlain(status)) return [clean(JSON.stringify(status) ?? String(status))];
  const rows: Array<[string, string]> = [];
  const uptime = num(status.uptimeSeconds);
  rows.push(['toxtunnel', `${clean(String(status.mode ?? '?'))}${uptime !== undefined ? `, up ${humanDuration(uptime)}` : ''}`]);
  if (str(status.toxId)) rows.push(['Tox ID', clean(str(status.toxId)!)]);
  rows.push(['Tox network', CONNECTION[String(status.network)]?.replace('online', 'connected').replace('offline', 'OFFLINE (not connected)') ?? clean(String(status.network))]);
  if (isPlain(status.server)) {
    const s = status.server;
    rows.push(['server', `${friendName(s)}: ${friendLine(s, now)}`]);
    if (str(s.state)) rows.push(['', `state ${clean(str(s.state)!)}`]);
    if (num(s.extensions) !== undefined) rows.push(['', `extensions: ${capabilities(num(s.extensions)!)}`]);
  }
  if (Array.isArray(status.friends)) {
    if (status.friends.length === 0) rows.push(['friends', 'none yet']);
    status.friends.filter(isPlain).forEach((f, i) => rows.push([i === 0 ? 'friends' : '', `${friendName(f)}: ${friendLine(f, now)}`]));
  }
  const friendsByNumber = new Map((Array.isArray(status.friends) ? status.friends.filter(isPlain) : []).map((f) => [f.friend, f]));
  const host = (h: unknown, p: unknown) => `${String(h).includes(':') ? `[${clean(String(h))}]` : clean(String(h))}:${clean(String(p))}`;
  const views: Array<[string, string, (l: Plain) => string]> = [
    ['listeners', 'listening', (l) => [l.kind, l.listen, l.state].filter((v) => v !== undefined).map((v) => clean(String(v))).join(' ')],
    // client: the server listens for us (ssh -R)
    ['reverse', 'reverse', (l) => `server ${clean(String(l.remote))} -> ${clean(String(l.local))} here: ${clean(String(l.state))}${l.message && l.state !== 'listening' ? ` (${clean(String(l.message))})` : ''}`],
    // server: where it listens on a friend's behalf
    ['reverseListeners', 'reverse', (l) => `${host(l.bind, l.port)} for ${friendsByNumber.has(l.friend) ? friendName(friendsByNumber.get(l.friend)!) : `friend ${clean(String(l.friend))}`}`],
  ];
  for (const [key, title, show] of views) {
    const list = status[key];
    if (!Array.isArray(list) || list.length === 0) continue;
    list.forEach((l, i) => rows.push([i === 0 ? title : '', isPlain(l) ? show(l) : clean(String(l))]));
  }
  rows.push([
    'tunnels',
    `${num(status.connectionsActive) ?? 0} open, ${num(status.connectionsTotal) ?? 0} opened since start, ${num(status.errors) ?? 0} error(s)`,
  ]);
  if (num(status.bytesIn) !== undefined) {
    rows.push([
      'traffic',
      `in ${humanBytes(num(status.bytesIn)!)} (${humanRate(num(status.rateIn) ?? 0)}), out ${humanBytes(num(status.bytesOut) ?? 0)} (${humanRate(num(status.rateOut) ?? 0)})`,
    ]);
  }
  const last = since(str(status.lastActivity), now);
  if (last) rows.push(['last activity', `${last} ago`]);
  for (const [k, v] of Object.entries(status)) if (!SHOWN.has(k)) rows.push([clean(k), isPlain(v) || Array.isArray(v) ? clean(JSON.stringify(v)) : clean(String(v))]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${(k ? `${k}:` : '').padEnd(width)} ${v}`);
}

const SPARKS = '▁▂▃▄▅▆▇█';

/** A sparkline of rates (the highest is the full block; all zero is the lowest block). */
export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values.map((v) => SPARKS[max > 0 ? Math.min(SPARKS.length - 1, Math.round((v / max) * (SPARKS.length - 1))) : 0]).join('');
}

/** Rows padded to aligned columns (two spaces apart); columns listed in `right` are right-aligned; the last is not padded. */
export function alignColumns(table: string[][], right: ReadonlySet<number> = new Set()): string[] {
  const widths: number[] = [];
  for (const row of table) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return table.map((row) =>
    row
      .map((cell, i) => {
        if (i === row.length - 1 && !right.has(i)) return cell;
        const pad = ' '.repeat(widths[i]! - [...cell].length);
        return right.has(i) ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd(),
  );
}
