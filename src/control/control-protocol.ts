// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The local control protocol: how `toxtunnel status`, `toxtunnel list` and
 * `toxtunnel close ID` talk to a running toxtunnel instance.
 *
 * Transport: a Unix domain socket `control.sock` in the instance's data directory, mode 0600
 * (only the owner may connect; that is the whole access control). Newline-delimited JSON:
 * the client writes one request object per line, the server answers each line with exactly
 * one response line, in order.
 *
 *   → {"cmd":"status"}
 *   ← {"ok":true,"result":{…}}
 *   → {"cmd":"close","tunnel":"3"}
 *   ← {"ok":true,"result":false}                       (no such tunnel)
 *   → {"cmd":"bogus"}
 *   ← {"ok":false,"error":{"code":"CONTROL_BAD_REQUEST","message":"…"}}
 *
 * A request line longer than MAX_REQUEST_LINE_BYTES gets an error response and the
 * connection is closed.
 *
 * Carrying a stream (`toxtunnel --pipe` beside a running client: no second Tox node):
 *
 *   → {"cmd":"carry","host":"127.0.0.1","port":22}
 *   ← {"ok":true,"result":{"token":"…"}}                (once the server opened the tunnel)
 *   ⇄ raw bytes both ways: the connection IS the stream from here on (half-close carried)
 *
 * or an error response (the server refused, or is not reachable) and the connection ends.
 * After the stream ends, a new connection may ask how it ended:
 *
 *   → {"cmd":"carried","token":"…"}
 *   ← {"ok":true,"result":{"error":"the server went offline"}}   (null: it closed normally)
 */
import { join } from 'node:path';

export type ControlRequest =
  | { cmd: 'status' }
  | { cmd: 'list' }
  | { cmd: 'close'; tunnel: string }
  | { cmd: 'carry'; host: string; port: number }
  | { cmd: 'carried'; token: string };
export type ControlCommand = ControlRequest['cmd'];

export interface ControlErrorBody {
  code: string;
  message: string;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: ControlErrorBody };

/** What the running instance exposes to the control socket. */
export interface ControlTarget {
  /** A JSON-serialisable summary of the instance (mode, Tox ID, connection, …). */
  status(): unknown;
  /** One JSON-serialisable object per open tunnel (id, state, target, bytesIn, bytesOut, …). */
  list(): unknown[];
  /** Closes the tunnel `tunnelRef` names; false when there is no such tunnel. */
  close(tunnelRef: string): boolean | Promise<boolean>;
  /**
   * Carries `stream` to host:port through the instance's tunnel (client instances). Calls
   * `opened(token)` when the tunnel is open (the caller then answers and the stream flows) or
   * `refused(message)`; resolves when the stream is finished.
   */
  carry?(stream: import('node:net').Socket, host: string, port: number, how: { opened(token: string): void; refused(message: string): void }): Promise<void>;
  /** How the carried stream `token` ended: undefined (unknown token), null (normally) or why not. */
  carried?(token: string): { error: string | null } | undefined;
}

/** Largest request line the server accepts, in bytes, newline excluded. */
export const MAX_REQUEST_LINE_BYTES = 64 * 1024;

/** Error codes carried in `{ok:false}` responses (besides codes the target itself throws). */
export const ControlErrorCode = {
  BAD_REQUEST: 'CONTROL_BAD_REQUEST',
  REQUEST_TOO_LARGE: 'CONTROL_REQUEST_TOO_LARGE',
  INTERNAL: 'CONTROL_INTERNAL',
} as const;

export const CONTROL_SOCKET_NAME = 'control.sock';

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET_NAME);
}

/**
 * The longest Unix socket path, in bytes, the kernel accepts: sizeof(sun_path) minus the
 * terminating NUL — 108 - 1 on Linux, 104 - 1 on macOS and the BSDs.
 */
export function maxSocketPathBytes(platform: string = process.platform): number {
  return platform === 'linux' || platform === 'android' ? 107 : 103;
}

export function isControlCommand(value: unknown): value is ControlCommand {
  return value === 'status' || value === 'list' || value === 'close' || value === 'carry' || value === 'carried';
}

/** Parses one request line; never throws. */
export function parseControlRequest(line: string): { ok: true; request: ControlRequest } | { ok: false; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, message: 'request is not valid JSON (one JSON object per line, e.g. {"cmd":"status"})' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'request must be a JSON object, e.g. {"cmd":"status"}' };
  }
  const cmd = (value as { cmd?: unknown }).cmd;
  if (!isControlCommand(cmd)) {
    const shown = typeof cmd === 'string' ? `"${cmd.slice(0, 40)}"` : cmd === undefined ? 'missing' : typeof cmd;
    return { ok: false, message: `unknown cmd (${shown}); expected "status", "list", "close", "carry" or "carried"` };
  }
  if (cmd === 'carry') {
    const { host, port } = value as { host?: unknown; port?: unknown };
    if (typeof host !== 'string' || host.length === 0 || host.length > 255 || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
      return { ok: false, message: 'carry needs "host" (a non-empty string) and "port" (1..65535)' };
    }
    return { ok: true, request: { cmd, host, port: port as number } };
  }
  if (cmd === 'carried') {
    const token = (value as { token?: unknown }).token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 64) return { ok: false, message: 'carried needs "token" (the carry answer\'s token)' };
    return { ok: true, request: { cmd, token } };
  }
  if (cmd === 'close') {
    const tunnel = (value as { tunnel?: unknown }).tunnel;
    if (typeof tunnel !== 'string' || tunnel.length === 0) {
      return { ok: false, message: 'close needs "tunnel": a non-empty string naming the tunnel' };
    }
    return { ok: true, request: { cmd, tunnel } };
  }
  return { ok: true, request: { cmd } };
}
