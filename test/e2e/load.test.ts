// SPDX-License-Identifier: GPL-3.0-or-later
// Load with real processes: 100 concurrent tunnels of mixed sizes (1 KB to 4 MB, all at once,
// each byte-exact), then 10,000 sequential short connections on one forward; the client's
// and server's open file descriptors are back where they started afterwards (no leak).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Service, type TunnelEnv, echo, echoRoundTrip, serverOnline, sha256, startService, startTunnelEnv, testData, openFds } from '../helpers/tunnel-env.ts';

const P = { echo: 29351, forward: 29361 };
let env: TunnelEnv;
let service: Service;

test.before(async () => {
  try {
    service = await startService(P.echo, echo);
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 29371, bootstrapTcp: 29372, toxFirst: 0 },
      forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
    });
    await serverOnline(env).catch(() => undefined);
    await echoRoundTrip(P.forward, testData(1000, 1), 90_000); // the server is reachable
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  await env?.stop();
  await service?.close();
});

test('100 concurrent tunnels of mixed sizes (1 KB .. 4 MB), all byte-exact', async () => {
  const sizes = Array.from({ length: 100 }, (_, i) => [1_000, 20_000, 300_000, 1_000_000, 4_000_000][i % 5]!);
  const started = Date.now();
  const results = await Promise.allSettled(
    sizes.map((size, i) => {
      const data = testData(size, 500 + i);
      return echoRoundTrip(P.forward, data, 240_000).then((back) => {
        if (sha256(back) !== sha256(data)) throw new Error(`tunnel ${i} (${size} bytes) corrupted`);
      });
    }),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`#${i}: ${(r.reason as Error).message}`] : []));
  assert.equal(failed, [], failed.join('\n'));
  const total = sizes.reduce((a, b) => a + b, 0);
  console.log(`100 concurrent: ${(total / 1e6).toFixed(1)} MB each way in ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('10,000 sequential short connections; no descriptor leak on either side', async () => {
  const pids = { server: env.server.child.pid!, client: env.client.child.pid! };
  await new Promise((r) => setTimeout(r, 1000));
  const before = { server: openFds(pids.server), client: openFds(pids.client) };
  const started = Date.now();
  for (let i = 0; i < 10_000; i++) {
    const data = testData(64 + (i % 64), 10_000 + i);
    const back = await echoRoundTrip(P.forward, data, 30_000);
    if (sha256(back) !== sha256(data)) assert.unreachable(`connection ${i} corrupted`);
  }
  const seconds = (Date.now() - started) / 1000;
  // Closes finish asynchronously (CLOSE echo, linger): give them a moment.
  await new Promise((r) => setTimeout(r, 6000));
  const after = { server: openFds(pids.server), client: openFds(pids.client) };
  console.log(`10,000 sequential connections in ${seconds.toFixed(1)} s (${(10_000 / seconds).toFixed(0)}/s); fds server ${before.server} -> ${after.server}, client ${before.client} -> ${after.client}`);
  assert.ok(after.server <= before.server + 5, `server fds ${before.server} -> ${after.server}`);
  assert.ok(after.client <= before.client + 5, `client fds ${before.client} -> ${after.client}`);
});

test.run();
