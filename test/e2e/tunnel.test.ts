// SPDX-License-Identifier: GPL-3.0-or-later
// The product end to end: a native tox-bootstrapd, `toxtunnel -m server` and
// `toxtunnel -m client` as real processes (dist/toxtunnel.mjs) on loopback, real TCP
// services behind them. Every byte is checked with sha256.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type Service,
  type TunnelEnv,
  closedWithin,
  echo,
  echoRoundTrip,
  serverOnline,
  sha256,
  startService,
  startTunnelEnv,
  testData,
} from '../helpers/tunnel-env.ts';

const MB = 1024 * 1024;
const P = { echo: 29001, refused: 29002, forwardEcho: 29011, forwardRefused: 29012, forwardNoDns: 29013, forwardEcho2: 29014 };

let env: TunnelEnv;
let echoService: Service;

test.before(async () => {
  try {
    await setUp();
  } catch (error) {
    // uvu does not print a failing hook's error: say it here.
    console.error('setup failed:', error);
    throw error;
  }
});

async function setUp() {
  echoService = await startService(P.echo, echo);
  env = await startTunnelEnv({
    ports: { bootstrapUdp: 29101, bootstrapTcp: 29102, toxFirst: 29110 },
    forwards: [
      { local_port: P.forwardEcho, remote_host: '127.0.0.1', remote_port: P.echo },
      { local_port: P.forwardRefused, remote_host: '127.0.0.1', remote_port: P.refused },
      { local_port: P.forwardNoDns, remote_host: 'no-such-host.invalid', remote_port: 80 },
      { local_port: P.forwardEcho2, remote_host: 'localhost', remote_port: P.echo },
    ],
  });
}

test.after(async () => {
  await env?.stop();
  await echoService?.close();
});

test('a connection made before the server is online waits for it, then goes through', async () => {
  // Connect at once: the client has just started and the server is not online yet.
  const data = testData(64 * 1024, 1);
  const echoed = await echoRoundTrip(P.forwardEcho, data, 120_000);
  assert.is(sha256(echoed), sha256(data));
  await serverOnline(env, 1000);
  assert.match(env.server.output, /Friend connection status: Connected \((UDP|TCP)\)/);
  assert.match(env.client.output, /tunnel 1 open|tunnel 1 opening/);
});

test('100 MB through one tunnel, each way at once (echo), sha256 equal', async () => {
  const data = testData(100 * MB, 2);
  const started = Date.now();
  const echoed = await echoRoundTrip(P.forwardEcho, data, 300_000);
  assert.is(echoed.length, data.length);
  assert.is(sha256(echoed), sha256(data));
  console.log(`  100 MB each way in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('8 parallel tunnels of 8 MB each way, on two forwards, all byte-exact', async () => {
  const runs = Array.from({ length: 8 }, (_, i) => {
    const data = testData(8 * MB, 100 + i);
    return echoRoundTrip(i % 2 ? P.forwardEcho : P.forwardEcho2, data, 120_000).then((echoed) => {
      assert.is(sha256(echoed), sha256(data), `tunnel ${i}`);
    });
  });
  const results = await Promise.allSettled(runs);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw new Error(`${String((failed as PromiseRejectedResult).reason)}\n${await env.dumpState()}`);
});

test('1000 sequential connections on one forward all work', async () => {
  const started = Date.now();
  for (let i = 0; i < 1000; i++) {
    const data = testData(100 + (i % 50), 1000 + i);
    const echoed = await echoRoundTrip(P.forwardEcho, data, 30_000);
    if (sha256(echoed) !== sha256(data)) assert.unreachable(`connection ${i} corrupted`);
  }
  console.log(`  1000 connections in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('a refused target closes the local socket promptly and the client logs the server\'s error', async () => {
  const ms = await closedWithin(P.forwardRefused, 15_000);
  assert.ok(ms < 10_000, `closed after ${ms} ms`);
  await env.client.waitForOutput(/TCP connect failed: 127\.0\.0\.1:29002: ECONNREFUSED/, 5000, 'connect error text at the client');
});

test('an unresolvable target closes the local socket and the client logs the DNS error', async () => {
  const ms = await closedWithin(P.forwardNoDns, 15_000);
  assert.ok(ms < 10_000, `closed after ${ms} ms`);
  await env.client.waitForOutput(/DNS resolution failed: no-such-host\.invalid/, 5000, 'DNS error text at the client');
});

test('100 concurrent tunnels work; the 101st is refused with the limit error', async () => {
  const sockets: net.Socket[] = [];
  try {
    // Open 100 tunnels and prove each carries data, keeping them open.
    for (let i = 0; i < 100; i++) {
      const socket = net.connect({ port: P.forwardEcho, host: '127.0.0.1' });
      sockets.push(socket);
      socket.on('error', () => {});
    }
    await Promise.all(
      sockets.map(
        (socket, i) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`tunnel ${i} did not echo`)), 60_000);
            socket.once('data', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.write(`hello ${i}`);
          }),
      ),
    );
    const before = env.client.output.length;
    const ms = await closedWithin(P.forwardEcho, 15_000);
    assert.ok(ms < 10_000);
    await env.client.waitForOutput(/Tunnel limit exceeded/, 5000, 'limit error at the client');
    assert.ok(env.client.output.slice(before).includes('Tunnel limit exceeded'));
  } finally {
    for (const s of sockets) s.destroy();
  }
  // Once they are closed, new connections work again.
  await new Promise((r) => setTimeout(r, 500));
  const data = testData(1000, 5);
  assert.is(sha256(await echoRoundTrip(P.forwardEcho, data, 30_000)), sha256(data));
});

test('SIGTERM closes tunnels, saves and exits 0 on both sides', async () => {
  env.client.signal('SIGTERM');
  env.server.signal('SIGTERM');
  assert.is(await env.client.exited(10_000), 0);
  assert.is(await env.server.exited(10_000), 0);
});

test.run();
