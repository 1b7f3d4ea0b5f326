// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel status`, `toxtunnel list` and `toxtunnel close ID`: ask the toxtunnel running
 * with a data directory, over its control socket (../control/control-protocol.ts), and print
 * the answer for people (aligned `key: value` lines, a table of tunnels) or, with --json, as
 * the JSON the instance sent. Text that comes from the instance (host names a peer chose,
 * for one) is printed with control characters escaped, so it cannot drive the terminal.
 */
import { resolve as resolvePath } from 'node:path';
import { defaultDataDir } from '../config/data-dir.ts';
import { controlRequest } from '../control/control-client.ts';
import { type ControlCommand, type ControlRequest, controlSocketPath } from '../control/control-protocol.ts';
import { lockHolder } from '../app/data-dir-lock.ts';
import { isToxtunnelError, ToxtunnelError } from '../errors.ts';

export interface ControlCommandOptions {
  dataDir: string;
  json: boolean;
  tunnel?: string;
}

/** The data directory as `run` resolves it without a config file: -d, TOXTUNNEL_DATA_DIR, the OS default. */
export function controlDataDir(flag: string | undefined, env: Record<string, string | undefined> = process.env): string {
  if (flag) return resolvePath(flag);
  if (env.TOXTUNNEL_DATA_DIR) return resolvePath(env.TOXTUNNEL_DATA_DIR);
  return defaultDataDir();
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
  const lines = cmd === 'list' && Array.isArray(result) ? formatTunnelList(result) : formatKeyValues(result);
  for (const line of lines) out(line);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Human output

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Control characters (C0, DEL, C1) shown as escapes: the text may come from a peer. */
export function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
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

/** `key: value` lines, keys of one level aligned, nested objects indented by two spaces. */
export function formatKeyValues(value: unknown, indent = ''): string[] {
  if (!isPlain(value)) {
    if (Array.isArray(value)) return value.length === 0 ? [`${indent}(none)`] : value.map((item) => `${indent}- ${compact(item)}`);
    return [`${indent}${compact(value)}`];
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return [`${indent}(empty)`];
  const width = Math.max(...entries.map(([k]) => clean(k).length)) + 1;
  const lines: string[] = [];
  for (const [k, v] of entries) {
    const key = `${clean(k)}:`;
    if (isPlain(v) && Object.keys(v).length > 0) {
      lines.push(`${indent}${key}`, ...formatKeyValues(v, `${indent}  `));
    } else if (Array.isArray(v) && v.some((item) => typeof item === 'object' && item !== null)) {
      lines.push(`${indent}${key}`, ...formatKeyValues(v, `${indent}  `));
    } else if (Array.isArray(v)) {
      lines.push(`${indent}${key.padEnd(width)} ${v.length === 0 ? '(none)' : v.map(compact).join(', ')}`);
    } else {
      lines.push(`${indent}${key.padEnd(width)} ${isPlain(v) ? '(empty)' : compact(v)}`);
    }
  }
  return lines;
}

export function formatBytes(value: unknown): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return compact(value);
  if (Math.abs(value) < 1024) return `${value} B`;
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

function formatTarget(value: unknown): string {
  if (isPlain(value) && (typeof value.host === 'string' || typeof value.port === 'number') && Object.keys(value).length <= 2) {
    const host = typeof value.host === 'string' ? clean(value.host) : '?';
    return `${host.includes(':') ? `[${host}]` : host}:${compact(value.port)}`;
  }
  return compact(value);
}

const COLUMNS = [
  { key: 'id', title: 'ID', format: compact },
  { key: 'state', title: 'STATE', format: compact },
  { key: 'target', title: 'TARGET', format: formatTarget },
  { key: 'bytesIn', title: 'IN', format: formatBytes },
  { key: 'bytesOut', title: 'OUT', format: formatBytes },
] as const;
const KNOWN = new Set<string>(COLUMNS.map((c) => c.key));

/** A header line and one aligned row per tunnel; fields beyond the known ones go last as `k=v`. */
export function formatTunnelList(items: readonly unknown[]): string[] {
  if (items.length === 0) return ['no tunnels'];
  if (!items.every(isPlain)) return items.map((item) => compact(item));
  const rows = items.map((item) => {
    const cells: string[] = COLUMNS.map((c) => (item[c.key] === undefined ? '-' : c.format(item[c.key])));
    const extra = Object.fromEntries(Object.entries(item).filter(([k]) => !KNOWN.has(k)));
    cells.push(Object.keys(extra).length > 0 ? compact(extra) : '');
    return cells;
  });
  const header: string[] = [...COLUMNS.map((c) => c.title), rows.some((r) => r.at(-1) !== '') ? 'OTHER' : ''];
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  // Byte counts (IN, OUT) right-aligned, the last column unpadded.
  const align = (cell: string, i: number, last: boolean) => (last ? cell : i === 3 || i === 4 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!));
  return table.map((row) => row.map((cell, i) => align(cell, i, i === row.length - 1)).join('  ').trimEnd());
}
