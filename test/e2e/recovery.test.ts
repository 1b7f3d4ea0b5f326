// SPDX-License-Identifier: GPL-3.0-or-later
// Faults with real processes on loopback: the server killed (SIGKILL) in the middle of a
// transfer — the interrupted connection fails loudly (reset, never a clean but truncated end),
// the client notices through its keepalive, and after the server restarts a new connection
// works again (the time is printed); then the client killed — the server notices and frees
// that friend's tunnels and target sockets.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Service, type TunnelEnv, echoRoundTrip, serverOnline, sha256, startService, startTunnelEnv, testData } from '../helpers/tunnel-env.ts';

const P = { echo: 29501, forward: 29511 };
let env: TunnelEnv;
let service: Service;
const targetSockets = new Set<net.Socket>();

test.before(async () => {
  try {
    service = await startService(P.echo, (socket) => {
      targetSockets.add(socket);
      socket.on('close', () => targetSockets.delete(socket));
      socket.pipe(socket);
    });
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 29531, bootstrapTcp: 29532, toxFirst: 0 },
      forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
    });
    await serverOnline(env);
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  await env?.stop();
  await service?.close();
});

/** Streams data into an echo connection; resolves with how it ended and how much came back. */
function streamUntilBroken(port: number, ms: number) {
  const socket = net.connect(port, '127.0.0.1');
  let received = 0;
  let sent = 0;
  const chunk = testData(64 * 1024, 5);
  const ended = new Promise<{ how: string; received: number; sent: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connection still open ${ms} ms after the server was killed (${received} bytes back)`));
    }, ms);
    socket.on('data', (d) => (received += d.length));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ how: e.code ?? e.message, received, sent });
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve({ how: 'clean end', received, sent });
    });
  });
  const pump = () => {
    while (!socket.destroyed && socket.write(chunk)) {
      sent += chunk.length;
      if (sent > 2e9) return;
    }
    sent += chunk.length;
  };
  socket.on('connect', pump);
  socket.on('drain', pump);
  return { ended, progress: () => received };
}

test('server killed mid-transfer: the connection is reset, and after a restart new connections work', async () => {
  const stream = streamUntilBroken(P.forward, 60_000);
  const deadline = Date.now() + 30_000;
  while (stream.progress() < 2_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(stream.progress() >= 2_000_000, 'the transfer was flowing before the kill');
  const killedAt = Date.now();
  env.server.kill();
  const outcome = await stream.ended;
  const noticedMs = Date.now() - killedAt;
  console.log(`server killed: the client failed the live connection after ${noticedMs} ms (${outcome.how}, ${outcome.received} of ${outcome.sent} bytes echoed)`);
  assert.is.not(outcome.how, 'clean end', 'an interrupted connection must not end cleanly');
  await env.client.waitForOutput(/the server stopped answering|Friend connection status: Offline/, 30_000, 'client notices');

  const restartedAt = Date.now();
  await env.restartServer();
  const data = testData(200_000, 9);
  const back = await echoRoundTrip(P.forward, data, 90_000);
  const recoveryMs = Date.now() - restartedAt;
  assert.is(sha256(back), sha256(data));
  console.log(`server restarted: a new connection worked ${recoveryMs} ms after the restart (goal: within 15000 ms)`);
});

test('client killed: the server notices and frees its tunnels and target sockets', async () => {
  const sockets = [0, 1, 2].map(() => net.connect(P.forward, '127.0.0.1'));
  for (const s of sockets) s.on('error', () => {});
  await Promise.all(sockets.map((s) => echoOnce(s)));
  assert.is(targetSockets.size, 3, 'three tunnels reach the target');
  const killedAt = Date.now();
  env.client.kill();
  const deadline = Date.now() + 40_000;
  while (targetSockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.is(targetSockets.size, 0, 'the server closed its sockets to the target');
  console.log(`client killed: the server freed its 3 tunnels after ${Date.now() - killedAt} ms`);
  await env.server.waitForOutput(/friend 0 (\([^)]*\) )?stopped answering|Friend connection status: Offline/, 5000, 'server log');
  for (const s of sockets) s.destroy();
});

function echoOnce(socket: net.Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no echo within 30 s')), 30_000);
    socket.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.write('hello');
  });
}

test.run();
