// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel status`, `toxtunnel list` and `toxtunnel close ID`: ask the toxtunnel running
 * with a data directory, over its control socket (../control/control-protocol.ts), and print
 * the answer for people (./status-view.ts; a table of tunnels) or, with --json, as the JSON
 * the instance sent. `status --watch` redraws the view every second with per-tunnel rates.
 * The data directory comes from -c/-d as every subcommand resolves it (resolveConfigSource). Text that comes from the instance (host names a peer chose,
 * for one) is printed with control characters escaped, so it cannot drive the terminal.
 */
import { resolve as resolvePath } from 'node:path';
import { controlRequest } from '../control/control-client.ts';
import { type ControlCommand, type ControlRequest, controlSocketPath } from '../control/control-protocol.ts';
import { lockHolder } from '../app/data-dir-lock.ts';
import { isToxtunnelError, ToxtunnelError } from '../errors.ts';
import { alignColumns, clean, formatStatus, friendName, humanBytes, humanDuration, humanRate, sparkline } from './status-view.ts';

export interface ControlCommandOptions {
  dataDir: string;
  json: boolean;
  tunnel?: string;
}

/** Runs one control command; returns the exit code (1: `close` found no such tunnel). Throws ToxtunnelError. */
export async function runControlCommand(cmd: Exclude<ControlCommand, 'carry' | 'carried'>, options: ControlCommandOptions, out: (line: string) => void): Promise<number> {
  const path = controlSocketPath(resolvePath(options.dataDir));
  let request: ControlRequest;
  if (cmd === 'close') {
    const tunnel = options.tunnel?.trim();
    if (!tunnel) throw new ToxtunnelError('CLI_INVALID', 'close needs the tunnel to close: toxtunnel close ID (see toxtunnel list)');
    request = { cmd, tunnel };
  } else {
    request = { cmd };
  }
  const result = await controlRequest(path, request).catch((error: unknown) => {
    const holder = isToxtunnelError(error, 'CONTROL_NOT_RUNNING') ? lockHolder(resolvePath(options.dataDir)) : undefined;
    if (!holder) throw error;
    throw new ToxtunnelError(
      'CONTROL_NOT_RUNNING',
      `toxtunnel PID ${holder.pid}${holder.mode ? ` (${holder.mode})` : ''} holds ${options.dataDir}${holder.since ? ` since ${holder.since}` : ''}, but it has no control socket (control_socket: false, or it is still starting)`,
      { path, pid: holder.pid },
    );
  });

  if (cmd === 'close') {
    const closed = result === true;
    if (options.json) out(JSON.stringify(result, null, 2));
    else out(closed ? `closed tunnel ${clean(options.tunnel!.trim())}` : `no tunnel ${clean(options.tunnel!.trim())}`);
    return closed ? 0 : 1;
  }
  if (options.json) {
    out(JSON.stringify(result ?? null, null, 2));
    return 0;
  }
  const lines = cmd === 'list' && Array.isArray(result) ? formatTunnelList(result) : formatStatus(result);
  for (const line of lines) out(line);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Human output

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One value on one line: scalars as text, objects as `k=v k=v`, arrays as JSON. */
function compact(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return clean(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (isPlain(value)) {
    return Object.entries(value)
      .map(([k, v]) => `${clean(k)}=${isPlain(v) || Array.isArray(v) ? clean(JSON.stringify(v)) : compact(v)}`)
      .join(' ');
  }
  return clean(JSON.stringify(value) ?? String(value));
}

const bytes = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? humanBytes(v) : compact(v));
const age = (v: unknown, now: number) => {
  const at = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? '-' : humanDuration((now - at) / 1000);
};

const COLUMNS: Array<{ title: string; keys: string[]; cell: (t: Plain, now: number) => string; right?: boolean }> = [
  { title: 'ID', keys: ['id'], cell: (t) => compact(t.id) },
  { title: 'FRIEND', keys: ['friend', 'publicKey', 'name'], cell: (t) => (t.publicKey !== undefined || t.name !== undefined ? friendName(t) : compact(t.friend)) },
  { title: 'KIND', keys: ['kind'], cell: (t) => compact(t.kind) },
  { title: 'STATE', keys: ['state'], cell: (t) => compact(t.state) },
  { title: 'TARGET', keys: ['target'], cell: (t) => compact(t.target) },
  { title: 'IN', keys: ['bytesIn'], cell: (t) => bytes(t.bytesIn), right: true },
  { title: 'OUT', keys: ['bytesOut'], cell: (t) => bytes(t.bytesOut), right: true },
  { title: 'OPEN FOR', keys: ['openedAt'], cell: (t, now) => age(t.openedAt, now), right: true },
];
const KNOWN = new Set<string>([...COLUMNS.flatMap((c) => c.keys), 'tunnel', 'lastActivity']);

/** A header line and one aligned row per tunnel (columns only for the fields present); other fields go last as `k=v`. */
export function formatTunnelList(items: readonly unknown[], now = Date.now()): string[] {
  if (items.length === 0) return ['no tunnels'];
  if (!items.every(isPlain)) return items.map((item) => compact(item));
  const columns = COLUMNS.filter((c) => items.some((t) => c.keys.some((k) => t[k] !== undefined)));
  const extras = items.map((t) => compact(Object.fromEntries(Object.entries(t).filter(([k]) => !KNOWN.has(k)))));
  const withOther = extras.some((e) => e !== '');
  const table = [
    [...columns.map((c) => c.title), ...(withOther ? ['OTHER'] : [])],
    ...items.map((t, i) => [...columns.map((c) => (c.keys.every((k) => t[k] === undefined) ? '-' : c.cell(t, now))), ...(withOther ? [extras[i]!] : [])]),
  ];
  return alignColumns(table, new Set(columns.flatMap((c, i) => (c.right ? [i] : []))));
}

// ---------------------------------------------------------------------------------------------
// status --watch

const HISTORY = 30;

/** The live view: status and tunnels with rates and sparklines, redrawn every second until q, Ctrl-C or the instance goes away. */
export async function watchStatus(dataDir: string, io: { stdin: NodeJS.ReadStream; stdout: NodeJS.WriteStream } = { stdin: process.stdin, stdout: process.stdout }, intervalMs = 1000): Promise<number> {
  const path = controlSocketPath(resolvePath(dataDir));
  const tty = io.stdout.isTTY === true;
  const history = new Map<string, { bytes: number; at: number; rates: number[] }>();
  let stopped = false;
  let wake: (() => void) | undefined;
  const quit = () => {
    stopped = true;
    wake?.();
  };
  const onKey = (chunk: Buffer | string) => {
    const text = String(chunk);
    if (text.includes('q') || text.includes('Q') || text.includes('\u0003')) quit();
  };
  if (io.stdin.isTTY) io.stdin.setRawMode?.(true);
  io.stdin.on('data', onKey);
  io.stdin.resume();
  process.once('SIGINT', quit);
  process.once('SIGTERM', quit);
  if (tty) io.stdout.write('\u001b[?25l'); // hide the cursor
  try {
    while (!stopped) {
      const [status, list] = await Promise.all([controlRequest(path, { cmd: 'status' }), controlRequest(path, { cmd: 'list' })]);
      const now = Date.now();
      const lines = formatStatus(status, now);
      const tunnels = Array.isArray(list) ? list.filter(isPlain) : [];
      const seen = new Set<string>();
      const table = [['ID', 'FRIEND', 'TARGET', 'IN', 'OUT', 'RATE', `LAST ${HISTORY}s`]];
      for (const t of tunnels) {
        const id = String(t.id);
        seen.add(id);
        const total = (Number(t.bytesIn) || 0) + (Number(t.bytesOut) || 0);
        const h = history.get(id) ?? { bytes: total, at: now, rates: [] };
        const rate = now > h.at ? (Math.max(0, total - h.bytes) * 1000) / (now - h.at) : 0;
        if (history.has(id)) h.rates.push(rate);
        if (h.rates.length > HISTORY) h.rates.shift();
        history.set(id, { bytes: total, at: now, rates: h.rates });
        table.push([clean(id), friendName(t), compact(t.target), bytes(t.bytesIn), bytes(t.bytesOut), humanRate(rate), sparkline(h.rates)]);
      }
      for (const id of history.keys()) if (!seen.has(id)) history.delete(id);
      const frame = [
        ...lines,
        '',
        ...(tunnels.length ? alignColumns(table, new Set([3, 4, 5])) : ['no tunnels open']),
        '',
        `${new Date(now).toLocaleTimeString()} — refreshed every ${intervalMs / 1000} s; q or Ctrl-C quits`,
      ];
      io.stdout.write(`${tty ? '\u001b[H\u001b[2J' : ''}${frame.join('\n')}\n`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, intervalMs).unref?.();
      });
    }
    return 0;
  } finally {
    if (tty) io.stdout.write('\u001b[?25h');
    io.stdin.off('data', onKey);
    if (io.stdin.isTTY) io.stdin.setRawMode?.(false);
    io.stdin.pause();
    process.off('SIGINT', quit);
    process.off('SIGTERM', quit);
  }
}
