// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The control socket server a running toxtunnel instance opens in its data directory
 * (protocol: ./control-protocol.ts).
 *
 * The socket file is mode 0600 from the moment it exists: the umask is 0177 while the socket
 * is bound (Node binds synchronously inside listen()), then restored, then the mode is set
 * again with chmod in case the umask could not be changed (worker threads). A socket file
 * left behind by a crashed instance (connecting is refused) is removed; a live one means
 * another instance owns this data directory, and we refuse to start. Requests on one
 * connection are answered one at a time, in order.
 */
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { isToxtunnelError, ToxtunnelError } from '../errors.ts';
import {
  ControlErrorCode,
  type ControlRequest,
  type ControlResponse,
  type ControlTarget,
  MAX_REQUEST_LINE_BYTES,
  maxSocketPathBytes,
  parseControlRequest,
} from './control-protocol.ts';

export interface ControlServer {
  /** Stops listening, drops every connection and removes the socket file. Idempotent. */
  close(): Promise<void>;
  readonly path: string;
}

type Log = { warn(msg: string): void };

/** How long the start-up probe waits for an existing socket to accept. */
const PROBE_TIMEOUT_MS = 1000;
/** How long a connection closed for an oversized request may linger before it is destroyed. */
const LINGER_MS = 1000;

export async function startControlServer(path: string, target: ControlTarget, log?: Log): Promise<ControlServer> {
  checkPathLength(path);
  await clearStaleSocket(path, log);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });

  const sockets = new Set<Socket>();
  // allowHalfOpen: a carried stream (cmd "carry") half-closes like the TCP connection it stands for.
  const server = createServer({ allowHalfOpen: true }, (socket) => serveConnection(socket, sockets, target, log));
  await listen(server, path, log);
  try {
    chmodSync(path, 0o600);
  } catch (error) {
    server.close();
    throw new ToxtunnelError('CONTROL_LISTEN_FAILED', `cannot make the control socket ${path} private (chmod 0600): ${errorText(error)}`, { path }, { cause: error });
  }
  const inode = statSync(path).ino;
  server.on('error', (error) => log?.warn(`control socket ${path}: ${errorText(error)}`));

  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }).then(() => {
        // Node removes the file itself on close; remove it only if it is still ours.
        try {
          if (lstatSync(path).ino === inode) unlinkSync(path);
        } catch {
          // already gone
        }
      });
      return closing;
    },
  };
}

function checkPathLength(path: string): void {
  const bytes = Buffer.byteLength(path);
  const max = maxSocketPathBytes();
  if (bytes > max) {
    throw new ToxtunnelError(
      'CONTROL_PATH_TOO_LONG',
      `control socket path ${path} is ${bytes} bytes, but Unix socket paths can be at most ${max} bytes on this system; use a data directory with a shorter path (-d DIR)`,
      { path, bytes, max },
    );
  }
}

/** Removes a socket file nobody listens on; refuses if someone does or if it is not a socket. */
async function clearStaleSocket(path: string, log?: Log): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw new ToxtunnelError('CONTROL_LISTEN_FAILED', `cannot inspect the control socket path ${path}: ${errorText(error)}`, { path }, { cause: error });
  }
  if (!isSocket) {
    throw new ToxtunnelError('CONTROL_PATH_NOT_SOCKET', `${path} exists and is not a socket; toxtunnel needs that name for its control socket: move the file away`, { path });
  }
  const probe = await probeSocket(path);
  if (probe === 'listening') throw inUse(path);
  if (probe === 'gone') return;
  if (probe !== 'refused') {
    throw new ToxtunnelError('CONTROL_LISTEN_FAILED', `cannot tell whether the control socket ${path} is in use: ${probe}`, { path });
  }
  try {
    unlinkSync(path);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') {
      throw new ToxtunnelError('CONTROL_LISTEN_FAILED', `cannot remove the stale control socket ${path}: ${errorText(error)}`, { path }, { cause: error });
    }
  }
  log?.warn(`removed a stale control socket ${path} (left behind by a toxtunnel that did not exit cleanly)`);
}

/** 'listening', 'refused' (stale), 'gone' (vanished meanwhile) or a description of the error. */
function probeSocket(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const done = (result: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    // A live but busy instance may not accept at once: treat silence as "in use".
    const timer = setTimeout(() => done('listening'), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done('listening'));
    socket.once('error', (error) => {
      const code = errnoCode(error);
      done(code === 'ECONNREFUSED' ? 'refused' : code === 'ENOENT' ? 'gone' : errorText(error));
    });
  });
}

function inUse(path: string): ToxtunnelError {
  return new ToxtunnelError(
    'CONTROL_IN_USE',
    `another toxtunnel is already running with this data directory (its control socket ${path} is live); stop it, or give this one its own data directory (-d DIR)`,
    { path },
  );
}

function listen(server: Server, path: string, log?: Log): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error) => {
      if (errnoCode(error) === 'EADDRINUSE') reject(inUse(path));
      else reject(new ToxtunnelError('CONTROL_LISTEN_FAILED', `cannot listen on the control socket ${path}: ${errorText(error)}`, { path }, { cause: error }));
    });
    let previousMask: number | undefined;
    try {
      previousMask = process.umask(0o177);
    } catch {
      log?.warn('cannot set the umask here (worker thread?); the control socket is made private by chmod right after it is created');
    }
    try {
      // Binds synchronously: the socket file is created under the 0177 umask, i.e. 0600.
      server.listen(path, () => {
        server.removeAllListeners('error');
        resolve();
      });
    } finally {
      if (previousMask !== undefined) process.umask(previousMask);
    }
  });
}

function serveConnection(socket: Socket, sockets: Set<Socket>, target: ControlTarget, log?: Log): void {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
  let carrying = false;
  socket.on('end', () => {
    if (!carrying) socket.end(); // a request connection ends with its client
  });

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let rejecting = false;
  let queue = Promise.resolve();

  const send = (response: ControlResponse) => {
    if (!socket.destroyed && socket.writable) socket.write(`${encodeResponse(response)}\n`);
  };
  const enqueue = (line: string) => {
    queue = queue.then(async () => {
      if (socket.destroyed) return;
      send(await answer(line, target, log));
    });
  };
  const tooLarge = () => {
    rejecting = true;
    pending = [];
    queue = queue.then(() => {
      send({
        ok: false,
        error: { code: ControlErrorCode.REQUEST_TOO_LARGE, message: `request line longer than ${MAX_REQUEST_LINE_BYTES} bytes; closing the connection` },
      });
      socket.end();
      // Keep reading (and discarding) until the client hangs up, so it sees the answer.
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    });
  };

  const onData = (chunk: Buffer) => {
    if (rejecting) return;
    let start = 0;
    for (let newline = chunk.indexOf(10, start); newline !== -1; newline = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, newline);
      if (pendingBytes + piece.length > MAX_REQUEST_LINE_BYTES) return tooLarge();
      const line = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingBytes = 0;
      start = newline + 1;
      const carry = carryRequest(line.toString('utf8'));
      if (carry && target.carry) {
        // The rest of the connection is the stream: no more request lines.
        carrying = true;
        socket.off('data', onData);
        socket.pause();
        if (start < chunk.length) socket.unshift(chunk.subarray(start));
        queue = queue.then(() => startCarry(socket, carry, target, send));
        return;
      }
      enqueue(line.toString('utf8'));
    }
    const rest = chunk.subarray(start);
    if (pendingBytes + rest.length > MAX_REQUEST_LINE_BYTES) return tooLarge();
    if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  };
  socket.on('data', onData);
}

function carryRequest(rawLine: string): { host: string; port: number } | undefined {
  const parsed = parseControlRequest(rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine);
  return parsed.ok && parsed.request.cmd === 'carry' ? parsed.request : undefined;
}

/** Hands the connection to the instance as a stream to carry; answers once it is open (or refused). */
async function startCarry(socket: Socket, to: { host: string; port: number }, target: ControlTarget, send: (response: ControlResponse) => void): Promise<void> {
  await target.carry!(socket, to.host, to.port, {
    opened: (token) => {
      send({ ok: true, result: { token } });
      socket.resume();
    },
    refused: (message) => {
      send({ ok: false, error: { code: 'CONTROL_CARRY_REFUSED', message } });
      socket.end();
    },
  }).catch(() => socket.destroy());
}

async function answer(rawLine: string, target: ControlTarget, log?: Log): Promise<ControlResponse> {
  const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
  const parsed = parseControlRequest(line);
  if (!parsed.ok) return { ok: false, error: { code: ControlErrorCode.BAD_REQUEST, message: parsed.message } };
  try {
    return { ok: true, result: (await dispatch(parsed.request, target)) ?? null };
  } catch (error) {
    if (isToxtunnelError(error)) return { ok: false, error: { code: error.code, message: error.message } };
    log?.warn(`control request ${parsed.request.cmd} failed: ${errorText(error)}`);
    return { ok: false, error: { code: ControlErrorCode.INTERNAL, message: `${parsed.request.cmd} failed: ${errorText(error)}` } };
  }
}

async function dispatch(request: ControlRequest, target: ControlTarget): Promise<unknown> {
  switch (request.cmd) {
    case 'status':
      return target.status();
    case 'list':
      return target.list();
    case 'close':
      return (await target.close(request.tunnel)) === true;
    case 'carried': {
      const outcome = target.carried?.(request.token);
      if (!outcome) throw new ToxtunnelError('CONTROL_UNKNOWN_TOKEN', `no carried stream ${request.token} here (it ended long ago, or never was)`);
      return outcome;
    }
    case 'carry':
      throw new ToxtunnelError(ControlErrorCode.BAD_REQUEST, 'this instance carries no streams (it is a server)');
  }
}

function encodeResponse(response: ControlResponse): string {
  try {
    return JSON.stringify(response);
  } catch (error) {
    return JSON.stringify({ ok: false, error: { code: ControlErrorCode.INTERNAL, message: `the answer cannot be encoded as JSON: ${errorText(error)}` } });
  }
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
