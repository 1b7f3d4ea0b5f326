// SPDX-License-Identifier: GPL-3.0-or-later
// Rotating the shared secret, with real processes: a client admitted with the old secret is
// removed when the server starts with a new one (it is not let back in with the old one), a
// client that knows the new secret is admitted again by itself, and a friend admitted with the
// current secret survives a restart.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type CliProcess, type Service, type TunnelEnv, echo, echoRoundTrip, runCli, serverOnline, sha256, startService, startTunnelEnv, testData } from '../helpers/tunnel-env.ts';

const P = { echo: 28201, forward: 28211, bootUdp: 28231, bootTcp: 28232 };
let env: TunnelEnv;
let service: Service;
let client: CliProcess | undefined;

test.before(async () => {
  service = await startService(P.echo, echo);
  env = await startTunnelEnv({
    ports: { bootstrapUdp: P.bootUdp, bootstrapTcp: P.bootTcp, toxFirst: 0 },
    forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
    serverYaml: ['  shared_secret: "old secret"'],
    clientYaml: ['  shared_secret: "old secret"'],
  });
  await serverOnline(env);
});

test.after(async () => {
  client?.signal('SIGTERM');
  await client?.exited(10_000).catch(() => client?.kill());
  await env?.stop();
  await service?.close();
});

/** Echoes through the forward until it works; returns the seconds it took (or Infinity). */
async function echoWithin(seconds: number): Promise<number> {
  const started = Date.now();
  const data = testData(10_000, 3);
  while (Date.now() - started < seconds * 1000) {
    try {
      const back = await echoRoundTrip(P.forward, data, 5_000);
      if (sha256(back) === sha256(data)) return (Date.now() - started) / 1000;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return Infinity;
}

function rewrite(file: string, from: string, to: string): void {
  const path = join(env.dir, file);
  writeFileSync(path, readFileSync(path, 'utf8').replace(from, to));
}

test('a new secret removes the friend admitted with the old one; the old secret does not get it back', async () => {
  assert.ok((await echoWithin(30)) < 30, 'works with the old secret');
  env.server.signal('SIGTERM');
  await env.server.exited(10_000);
  rewrite('server.yaml', '"old secret"', '"new secret"');
  const server = await env.restartServer();
  await server.waitForOutput(
    new RegExp(`at start: friend \\d+ \\(${env.clientPublicKey.slice(0, 8)}…\\) admitted with another shared secret \\(or before it was set\\): closing \\d+ tunnel\\(s\\) and removing the friendship`),
    10_000,
    'old friend removed at start',
  );
  // The client (still with the old secret) asks again; the server refuses it.
  await server.waitForOutput(new RegExp(`refused a friend request from ${env.clientPublicKey}: wrong shared secret`), 60_000, 'old secret refused');
  assert.is(await echoWithin(3), Infinity, 'no tunnel with the old secret');
  assert.not.match(server.output, /old secret|new secret/, 'the secret is never logged');
});

test('the client with the new secret is admitted again by itself, and stays admitted across a restart', async () => {
  env.client.signal('SIGTERM');
  await env.client.exited(10_000);
  rewrite('client.yaml', '"old secret"', '"new secret"');
  client = runCli(['-c', join(env.dir, 'client.yaml')]);
  const seconds = await echoWithin(45);
  console.log(`client with the new secret: echo ${seconds.toFixed(1)} s after it started`);
  assert.ok(seconds < 45, 'admitted with the new secret');
  await env.server.waitForOutput(new RegExp(`accepted friend request from ${env.clientPublicKey}`), 1000, 'accepted');

  env.server.signal('SIGTERM');
  await env.server.exited(10_000);
  const server = await env.restartServer();
  assert.ok((await echoWithin(45)) < 45, 'works after a restart with the same secret');
  assert.not.match(server.output, /admitted with another shared secret/, 'the friend admitted with the current secret is kept');
});

test.run();
