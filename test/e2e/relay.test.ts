// SPDX-License-Identifier: GPL-3.0-or-later
// The TCP-relay-only path: the client runs with UDP disabled, so every packet between it and
// the server goes through the native tox-bootstrapd's TCP relay. The same transfers as over
// UDP: a large echo and eight parallel tunnels, byte-exact.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Service, type TunnelEnv, echo, echoRoundTrip, serverOnline, sha256, startService, startTunnelEnv, testData } from '../helpers/tunnel-env.ts';

const MB = 1_000_000;
const P = { echo: 29251, forward: 29261 };
let env: TunnelEnv;
let service: Service;

test.before(async () => {
  try {
    service = await startService(P.echo, echo);
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 29271, bootstrapTcp: 29272, toxFirst: 0 },
      forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
      clientUdp: false,
    });
    await serverOnline(env, 150_000);
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  await env?.stop();
  await service?.close();
});

test('relay only: the client is connected through TCP, not UDP', () => {
  assert.match(env.client.output, /Friend connection status: Connected \(TCP\)/);
  assert.not.match(env.client.output, /Friend connection status: Connected \(UDP\)/);
});

test('relay only: 10 MB each way and 8 parallel tunnels of 1 MB, byte-exact', async () => {
  try {
    await transfers();
  } catch (error) {
    // Why a tunnel failed is in the processes' logs.
    const why = (p: { output: string }) => p.output.split('\n').filter((l) => /fail|closed|stopped|WARN|ERROR/.test(l)).slice(-12).join('\n');
    console.log(`client:\n${why(env.client)}\nserver:\n${why(env.server)}`);
    throw error;
  }
});

async function transfers(): Promise<void> {
  const started = Date.now();
  const data = testData(10 * MB, 41);
  assert.is(sha256(await echoRoundTrip(P.forward, data, 180_000)), sha256(data));
  const one = Date.now() - started;
  // Eight tunnels at once right after the bulk transfer: tox-bootstrapd's TCP server used to
  // stop reading one of the nodes' connections for good under this load (wasm/patches/0003),
  // and the keepalive then dropped the friend 8 s later.
  await Promise.all(
    Array.from({ length: 8 }, (_, i) => {
      const d = testData(MB, 50 + i);
      return echoRoundTrip(P.forward, d, 60_000).then((b) => assert.is(sha256(b), sha256(d), `tunnel ${i}`));
    }),
  );
  console.log(`relay only: 10 MB echo in ${one} ms, 8 x 1 MB in ${Date.now() - started - one} ms`);
}

test.run();
