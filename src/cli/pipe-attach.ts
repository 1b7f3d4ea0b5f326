// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel --pipe host:port` beside a running client with the same data directory: the
 * stream goes through that instance's control socket ("carry", control-protocol.ts) instead
 * of a second Tox node with the same identity (which would make both flap and fight over
 * tox_save.dat, and wait ~10 s for the network). stdin/stdout stay the stream; EOF on stdin is
 * carried as a half-close; when the stream ends, the instance says how ("carried").
 *
 * The instance side (openCarrier) keeps how the last streams ended, for that question.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { ToxtunnelClient } from '../app/client.ts';
import { controlRequest } from '../control/control-client.ts';
import type { ControlTarget } from '../control/control-protocol.ts';

/** How a pipe attached to a running instance ended. */
export type AttachResult = { attached: false } | { attached: true; error?: string };

/**
 * Carries input/output through the instance listening on controlPath. { attached: false }
 * when none listens there (the caller then runs its own node); otherwise the stream's end.
 */
export async function attachPipe(controlPath: string, host: string, port: number, input: Readable, output: Writable): Promise<AttachResult> {
  const socket = await connect(controlPath);
  if (!socket) return { attached: false };
  socket.write(`${JSON.stringify({ cmd: 'carry', host, port })}\n`);
  const answer = await firstLine(socket);
  let response: { ok?: boolean; result?: { token?: string }; error?: { message?: string } };
  try {
    response = JSON.parse(answer ?? '') as typeof response;
  } catch {
    socket.destroy();
    return { attached: true, error: 'the running toxtunnel gave no valid answer on its control socket' };
  }
  if (response.ok !== true || typeof response.result?.token !== 'string') {
    socket.destroy();
    return { attached: true, error: response.error?.message ?? 'the running toxtunnel refused the stream' };
  }
  const token = response.result.token;
  await new Promise<void>((resolve) => {
    input.pipe(socket); // EOF on stdin ends our side (half-close), as ssh expects
    socket.pipe(output);
    socket.on('error', () => {});
    socket.once('close', () => resolve());
  });
  input.unpipe(socket);
  try {
    const outcome = (await controlRequest(controlPath, { cmd: 'carried', token }, 3000)) as { error: string | null };
    return outcome.error ? { attached: true, error: outcome.error } : { attached: true };
  } catch (error) {
    return { attached: true, error: `the running toxtunnel went away: ${(error as Error).message}` };
  }
}

function connect(path: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ path, allowHalfOpen: true });
    socket.once('connect', () => {
      socket.off('error', fail);
      resolve(socket);
    });
    const fail = () => resolve(undefined);
    socket.once('error', fail);
  });
}

/** Reads one line, leaving what follows it in the socket for the stream. */
function firstLine(socket: Socket): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      const newline = chunk.indexOf(10);
      if (newline === -1) {
        chunks.push(chunk);
        return;
      }
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (newline + 1 < chunk.length) socket.unshift(chunk.subarray(newline + 1));
      chunks.push(chunk.subarray(0, newline));
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onEnd = () => resolve(undefined);
    socket.on('data', onData);
    socket.once('end', onEnd);
  });
}

/** The control socket's carry/carried for a running client. */
export function openCarrier(client: ToxtunnelClient): Pick<Required<ControlTarget>, 'carry' | 'carried'> {
  const outcomes = new Map<string, string | null>();
  return {
    async carry(stream, host, port, how) {
      const token = randomBytes(12).toString('hex');
      const failure = await client.carry(stream, stream, host, port, {
        kind: 'pipe',
        opened: () => how.opened(token),
        refused: (message) => how.refused(message),
      });
      outcomes.set(token, failure?.error ?? null);
      if (outcomes.size > 64) outcomes.delete(outcomes.keys().next().value!);
    },
    carried: (token) => (outcomes.has(token) ? { error: outcomes.get(token)! } : undefined),
  };
}
