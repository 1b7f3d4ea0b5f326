// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The client side of the control socket (protocol: ./control-protocol.ts): one connection,
 * one request, one response line. Resolves with the server's `result`; every failure is a
 * ToxtunnelError — CONTROL_NOT_RUNNING, CONTROL_TIMEOUT, CONTROL_ACCESS_DENIED,
 * CONTROL_PROTOCOL, or the code the server answered with.
 */
import { createConnection } from 'node:net';
import { dirname } from 'node:path';
import { ToxtunnelError } from '../errors.ts';
import { type ControlRequest, maxSocketPathBytes } from './control-protocol.ts';

/** A response larger than this is not from a toxtunnel. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export async function controlRequest(path: string, request: ControlRequest, timeoutMs = 5000): Promise<unknown> {
  const bytes = Buffer.byteLength(path);
  if (bytes > maxSocketPathBytes()) {
    throw new ToxtunnelError(
      'CONTROL_PATH_TOO_LONG',
      `control socket path ${path} is ${bytes} bytes, longer than the ${maxSocketPathBytes()} bytes Unix sockets allow here; no toxtunnel can be listening on it`,
      { path },
    );
  }
  const line = await exchange(path, `${JSON.stringify(request)}\n`, timeoutMs);
  let response: unknown;
  try {
    response = JSON.parse(line);
  } catch {
    throw protocolError(path, 'the answer is not JSON');
  }
  if (typeof response !== 'object' || response === null) throw protocolError(path, 'the answer is not a JSON object');
  const { ok, result, error } = response as { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
  if (ok === true) return result;
  if (ok === false && typeof error?.code === 'string' && typeof error.message === 'string') {
    throw new ToxtunnelError(error.code, error.message, { path, request: request.cmd });
  }
  throw protocolError(path, 'the answer has neither "ok":true nor a well-formed "error"');
}

/** Sends `payload`, returns the first line the server answers (without the newline). */
function exchange(path: string, payload: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: ToxtunnelError | undefined, line?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(line!);
    };
    const timer = setTimeout(
      () =>
        finish(
          new ToxtunnelError('CONTROL_TIMEOUT', `toxtunnel did not answer on its control socket ${path} within ${timeoutMs} ms; it may be stuck or busy`, {
            path,
            timeoutMs,
          }),
        ),
      timeoutMs,
    );
    socket.once('connect', () => socket.write(payload));
    socket.on('data', (chunk: Buffer) => {
      const newline = chunk.indexOf(10);
      if (newline !== -1) {
        chunks.push(chunk.subarray(0, newline));
        return finish(undefined, Buffer.concat(chunks).toString('utf8'));
      }
      chunks.push(chunk);
      received += chunk.length;
      if (received > MAX_RESPONSE_BYTES) finish(protocolError(path, `the answer is larger than ${MAX_RESPONSE_BYTES} bytes`));
    });
    socket.once('end', () => finish(protocolError(path, 'the connection closed before an answer arrived')));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(connectError(path, error)));
  });
}

function connectError(path: string, error: NodeJS.ErrnoException): ToxtunnelError {
  const dataDir = dirname(path);
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
    return new ToxtunnelError('CONTROL_NOT_RUNNING', `no toxtunnel is running with data dir ${dataDir} (no live control socket at ${path}); start it, or point at it with -c CONFIG or -d DIR`, { path }, { cause: error });
  }
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new ToxtunnelError(
      'CONTROL_ACCESS_DENIED',
      `permission denied on the control socket ${path}; run this as the user that runs toxtunnel`,
      { path },
      { cause: error },
    );
  }
  return new ToxtunnelError('CONTROL_FAILED', `cannot talk to toxtunnel on its control socket ${path}: ${error.message}`, { path }, { cause: error });
}

function protocolError(path: string, what: string): ToxtunnelError {
  return new ToxtunnelError('CONTROL_PROTOCOL', `unexpected answer on the control socket ${path}: ${what}`, { path });
}
