// SPDX-License-Identifier: GPL-3.0-or-later
// Issue 11, "connected in a second": a cold start (fresh server and client, one tox-bootstrapd)
// echoes within 5 s; after a restart of either side, a new connection echoes within 1.5 s (the
// restarted side reaches the other at its remembered DHT key and address,
// data_dir/tox_hints.json), also after a crash; a new client with only an invite echoes within
// 3 s (its friend request goes straight to the invite's address), still pairs when the
// invite's onion key is stale or its address a host name, and is refused when the rules do
// not name it; with a stale hint (wrong DHT key and port) the client still connects within
// the cold-start target; one data directory runs once (a second instance is
// refused, naming the PID); the server dying under a pipe ends the pipe with a clear message
// and exit code 1. Timings are printed; the bounds allow 1 s for machine noise over each target.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CLI,
  type CliProcess,
  type Service,
  type TunnelEnv,
  echo,
  echoRoundTrip,
  runCli,
  runCliSync,
  sha256,
  startService,
  startTunnelEnv,
  testData,
} from '../helpers/tunnel-env.ts';

const P = { echo: 28101, forward: 28111, invited: 28112, stale: 28113, stranger: 28114, named: 28115, staleUdp: 28120, namedUdp: 28125 };
/** The target, and what a loaded 2-core machine may add to it. */
const TARGET_MS = 1500;
const NOISE_MS = 1000;
/** Issue 11: a cold start (one bootstrap node on loopback), client start -> first echo. */
const COLD_TARGET_MS = 5000;
/** Issue 11: the very first pairing through an invite, client start -> first echo. */
const INVITE_TARGET_MS = 3000;
let env: TunnelEnv;
/** Client start -> first echo of the cold start in test.before. */
let coldMs = -1;
let service: Service;
/** A fresh identity (its data directory and public key). */
function identity(name: string): { data: string; key: string } {
  const data = mkdtempSync(join(tmpdir(), `toxtunnel-${name}-`));
  return { data, key: /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', data]).stdout)![0].slice(0, 64) };
}
const { data: inviteeData, key: inviteeKey } = identity('invitee');
/** In the rules too: pairs with an invite whose onion key is stale. */
const stale = identity('stale');
/** In the rules too: pairs with an invite that names the server by host name. */
const named = identity('named');
/** Not in the rules: its request, sent straight to the server, is refused all the same. */
const stranger = identity('stranger');
const extra: CliProcess[] = [];

test.before(async () => {
  try {
    service = await startService(P.echo, echo);
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 28201, bootstrapTcp: 28202, toxFirst: 28210 },
      forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
      rules: (clientKey) =>
        [clientKey, inviteeKey, stale.key, named.key].map((key) => `  - friend: ${key}\n    allow:\n      - host: 127.0.0.1\n        ports: [${P.echo}]\n`).join('').replace(/^/, 'rules:\n'),
    });
    // Cold: server and client start together, one fresh tox-bootstrapd, nothing remembered.
    coldMs = await echoUntil(30_000, env.clientStartedAt); // (and both sides saw each other's address)
    await new Promise((r) => setTimeout(r, 1500)); // hints are written a second after connecting
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  for (const p of extra) p.kill();
  await env?.stop();
  await service?.close();
});

const clientConfig = () => join(env.dir, 'client.yaml');
const clientData = () => join(env.dir, 'client-data');

/** Connects to the forward until one echo comes back; returns ms from `since`. */
async function echoUntil(withinMs: number, since = Date.now()): Promise<number> {
  const deadline = since + withinMs;
  const data = testData(64, 5);
  for (;;) {
    try {
      const back = await echoRoundTrip(P.forward, data, Math.max(100, deadline - Date.now()));
      assert.equal(back, data);
      return Date.now() - since;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`no echo within ${withinMs} ms: ${(error as Error).message}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function restartClient(signal: NodeJS.Signals): Promise<number> {
  env.client.signal(signal);
  await env.client.exited(15_000);
  const started = Date.now();
  env.client = runCli(['-c', clientConfig()]);
  extra.push(env.client);
  return echoUntil(30_000, started);
}

test('cold start (fresh server and client, one tox-bootstrapd): the first echo within the target', () => {
  console.log(`  cold start: client start -> first echo ${coldMs} ms (target ${COLD_TARGET_MS} ms)`);
  assert.ok(coldMs > 0 && coldMs <= COLD_TARGET_MS + NOISE_MS, `${coldMs} ms`);
});

test('the client restarted (SIGTERM): a new connection echoes within the target', async () => {
  assert.ok(existsSync(join(clientData(), 'tox_hints.json')), 'the client remembered the server');
  assert.is(statSync(join(clientData(), 'tox_hints.json')).mode & 0o777, 0o600);
  const ms = await restartClient('SIGTERM');
  console.log(`  client restart (SIGTERM) -> first echo ${ms} ms (target ${TARGET_MS})`);
  assert.match(env.client.output, /reaching friend 0 \([0-9A-F]{8}…\) directly at 127\.0\.0\.1:\d+/);
  assert.ok(ms <= TARGET_MS + NOISE_MS, `${ms} ms`);
});

test('the client crashed (SIGKILL): its lock is not left stale and it is back within the target', async () => {
  await new Promise((r) => setTimeout(r, 1500)); // the restarted client writes its new hints
  const ms = await restartClient('SIGKILL');
  console.log(`  client restart after SIGKILL -> first echo ${ms} ms (target ${TARGET_MS})`);
  assert.ok(ms <= TARGET_MS + NOISE_MS, `${ms} ms`);
});

test('the server restarted (SIGTERM): a new connection echoes within the target', async () => {
  await new Promise((r) => setTimeout(r, 1500));
  env.server.signal('SIGTERM');
  await env.server.exited(15_000);
  const started = Date.now();
  await env.restartServer();
  const ms = await echoUntil(30_000, started);
  console.log(`  server restart -> first echo ${ms} ms (target ${TARGET_MS})`);
  assert.ok(ms <= TARGET_MS + NOISE_MS, `${ms} ms`);
});

test('invite round trip: the running server\'s invite (ID, DHT and onion keys, address) alone gets a new client in within the target', async () => {
  const made = runCliSync(['invite', '-c', join(env.dir, 'server.yaml'), '--address', '127.0.0.1']);
  assert.is(made.status, 0, made.output);
  const line = made.stdout.trim();
  const dhtKey = [...env.server.output.matchAll(/DHT key ([0-9A-F]{64})/g)].at(-1)![1]!;
  assert.match(line, new RegExp(`^toxtunnel://invite\\?id=${env.serverId}&dht=${dhtKey}&onion=[0-9A-F]{64}&udp=127\\.0\\.0\\.1%3A\\d+$`));
  assert.match(made.stderr, /this invite reveals the Tox ID .*this machine's address\(es\) 127\.0\.0\.1 and UDP port/);
  // The client knows nothing but the invite: no bootstrap node of its own.
  const started = Date.now();
  const invited = runCli(['-m', 'client', '-d', inviteeData, '--invite', line, '-L', `${P.invited}:127.0.0.1:${P.echo}`], {
    env: { TOXTUNNEL_BOOTSTRAP_MODE: 'none' },
  });
  extra.push(invited);
  const data = testData(1000, 3);
  let ms = -1;
  while (Date.now() - started < 60_000) {
    try {
      assert.equal(await echoRoundTrip(P.invited, data, 60_000 - (Date.now() - started)), data);
      ms = Date.now() - started;
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  console.log(`  first pairing with an invite (friend request straight to the invite's address) -> first echo ${ms} ms (target ${INVITE_TARGET_MS} ms)`);
  assert.ok(ms > 0, invited.output);
  assert.ok(ms <= INVITE_TARGET_MS + NOISE_MS, `${ms} ms`);
  assert.match(invited.output, /trying the server directly at the invite's address 127\.0\.0\.1:\d+/);
  assert.match(invited.output, /sent the friend request straight to the invite's address 127\.0\.0\.1:\d+/);
  // The server decided on it as on any request: by its rules, which name this client.
  assert.match(env.server.output, new RegExp(`accepted friend request from ${inviteeKey}`));
  invited.signal('SIGTERM');
  await invited.exited(15_000);
});

/** The running server's invite line for 127.0.0.1. */
function inviteLine(): string {
  const made = runCliSync(['invite', '-c', join(env.dir, 'server.yaml'), '--address', '127.0.0.1']);
  assert.is(made.status, 0, made.output);
  return made.stdout.trim();
}

/**
 * Starts a client of identity `who` from an invite line alone (YAML client.invite, no bootstrap
 * node of its own) on its own UDP port, and waits for its first echo; returns the client and
 * ms from its start. Its own port: an invited client above just left 127.0.0.1:33447, and
 * toxcore hands every packet from an address to the connection it has there (net_crypto's
 * crypto_id_ip_port), so until the server drops its connection to that friend (~2 min) a
 * different key at the same address cannot finish a handshake.
 */
async function pairFromInvite(name: string, who: { data: string }, line: string, ports: { udp: number; forward: number }) {
  const config = env.file(
    `${name}.yaml`,
    [
      'mode: client',
      `data_dir: ${who.data}`,
      'tox:',
      `  start_port: ${ports.udp}`,
      '  bootstrap_mode: none',
      'client:',
      `  invite: "${line}"`,
      '  forwards:',
      `    - {local_port: ${ports.forward}, remote_host: 127.0.0.1, remote_port: ${P.echo}}`,
      '',
    ].join('\n'),
  );
  const started = Date.now();
  const client = runCli(['-c', config]);
  extra.push(client);
  const data = testData(500, 4);
  let ms = -1;
  while (Date.now() - started < 60_000 && ms < 0) {
    ms = await echoRoundTrip(ports.forward, data, 60_000 - (Date.now() - started)).then(
      (back) => (assert.equal(back, data), Date.now() - started),
      () => new Promise<number>((r) => setTimeout(() => r(-1), 50)),
    );
  }
  assert.ok(ms > 0, `${client.output}\nserver:\n${env.server.output.slice(-4000)}`);
  return { client, ms };
}

test('an invite with a stale onion key (the server restarted since): the request still goes through the onion and pairs', async () => {
  const line = inviteLine().replace(/onion=[0-9A-F]{64}/, `onion=${'5A'.repeat(32)}`);
  const { client, ms } = await pairFromInvite('stale', stale, line, { udp: P.staleUdp, forward: P.stale });
  console.log(`  invite with a stale onion key (request through the onion) -> first echo ${ms} ms`);
  assert.match(client.output, /sent the friend request straight to the invite's address/);
  client.signal('SIGTERM');
  await client.exited(15_000);
});

test('an invite naming the server by host name: not tried directly (toxcore takes IP addresses), yet it bootstraps there and pairs', async () => {
  const made = runCliSync(['invite', '-c', join(env.dir, 'server.yaml'), '--address', 'localhost']);
  assert.is(made.status, 0, made.output);
  const { client, ms } = await pairFromInvite('named', named, made.stdout.trim(), { udp: P.namedUdp, forward: P.named });
  console.log(`  invite with a host name (request through the onion) -> first echo ${ms} ms`);
  assert.match(client.output, /the invite's address localhost:\d+ is not tried directly/);
  assert.not.match(client.output, /sent the friend request straight/);
  client.signal('SIGTERM');
  await client.exited(15_000);
});

test('a client the rules do not name is refused, though its request came straight to the server', async () => {
  const client = runCli(['-m', 'client', '-d', stranger.data, '--invite', inviteLine(), '-L', `${P.stranger}:127.0.0.1:${P.echo}`], { env: { TOXTUNNEL_BOOTSTRAP_MODE: 'none' } });
  extra.push(client);
  await client.waitForOutput(/sent the friend request straight to the invite's address/, 10_000, 'the direct request');
  await env.server.waitForOutput(new RegExp(`refused a friend request from ${stranger.key}`), 10_000, 'the refusal');
  assert.not.match(env.server.output, new RegExp(`accepted friend request from ${stranger.key}`));
  assert.not.match(client.output, /Friend connection status: Connected/);
  client.signal('SIGTERM');
  await client.exited(15_000);
});

test('a second instance on the same data directory is refused, naming the PID that holds it', async () => {
  const second = runCli(['-c', clientConfig()]);
  extra.push(second);
  const code = await second.exited(20_000);
  assert.is(code, 1);
  assert.match(second.output, new RegExp(`data directory ${clientData().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by toxtunnel PID ${env.client.child.pid} \\(client`));
  assert.not.match(second.output, /Tox node up/, 'refused before a node started');
  assert.is(await echoUntil(5000) < 5000, true, 'the running client is undisturbed');
});

test('a stale address hint (wrong DHT key and port): the client still connects within the cold-start target, and the hint is replaced', async () => {
  await new Promise((r) => setTimeout(r, 1500));
  env.client.signal('SIGTERM');
  await env.client.exited(15_000);
  const path = join(clientData(), 'tox_hints.json');
  const hints = JSON.parse(readFileSync(path, 'utf8')) as { friends: Record<string, { dhtKey: string; address: { port: number } }> };
  const [serverKey, real] = Object.entries(hints.friends)[0]!;
  hints.friends[serverKey] = { ...real, dhtKey: 'AB'.repeat(32), address: { host: '127.0.0.1', port: 9 } } as never;
  writeFileSync(path, JSON.stringify(hints));
  const started = Date.now();
  env.client = runCli(['-c', clientConfig()]);
  extra.push(env.client);
  // The server kept running and still calls the client's previous DHT key at this address;
  // the client answers such a request with its new DHT key (wasm/patches/0005, tt_connect.c).
  // Without that, 9 runs in 13 waited 31-33 s here for toxcore's next onion announcement
  // (ONION_DHTPK_SEND_INTERVAL), the first one lost on onion paths through the old node.
  const ms = await echoUntil(COLD_TARGET_MS + NOISE_MS, started);
  const answered = /a friend still called our previous DHT key/.test(env.client.output); // (or the onion was quicker)
  console.log(`  stale hint -> first echo ${ms} ms (target ${COLD_TARGET_MS}, as a cold start; answered the server's call: ${answered})`);
  assert.match(env.client.output, /reaching friend 0 \([0-9A-F]{8}…\) directly at 127\.0\.0\.1:9,/, 'the stale hint was tried');
  await new Promise((r) => setTimeout(r, 1500));
  const after = JSON.parse(readFileSync(path, 'utf8')) as typeof hints;
  assert.is(after.friends[serverKey]!.dhtKey, real.dhtKey, 'the real DHT key replaced the stale one');
});

test('--pipe beside the running client goes through its control socket: no second node, first byte fast, bytes both ways, EOF', async () => {
  const data = testData(300_000, 11);
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, '-c', clientConfig(), '--pipe', `127.0.0.1:${P.echo}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const chunks: Buffer[] = [];
  let received = 0;
  let firstByteMs = -1;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.stdout.on('data', (d: Buffer) => {
    if (firstByteMs < 0) firstByteMs = Date.now() - started;
    chunks.push(d);
    received += d.length;
    if (received >= data.length) child.stdin.end(); // then EOF, as ssh does
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.stdin.write(data.subarray(0, 1)); // one byte first: time its echo
  while (firstByteMs < 0 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 5));
  child.stdin.write(data.subarray(1));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await exited;
  clearTimeout(timer);
  console.log(`  --pipe through the running client: first byte back after ${firstByteMs} ms (target 500, process start included)`);
  assert.is(code, 0, stderr);
  assert.is(sha256(Buffer.concat(chunks)), sha256(data), 'every byte came back, in order');
  assert.is(stderr, '', 'pipe mode logs nothing on success (warn level)');
  assert.ok(firstByteMs >= 0 && firstByteMs <= 500 + NOISE_MS, `${firstByteMs} ms`);
  assert.match(env.client.output, /tunnel \d+ opening -> 127\.0\.0\.1:28101/, 'the running client carried it');
});

test('the server dies under a pipe: the pipe ends with a clear message and exit code 1, no crash', async () => {
  // The pipe runs with the client's identity (the rules allow it): stop the client first.
  env.client.signal('SIGTERM');
  await env.client.exited(15_000);
  const child = spawn(process.execPath, [CLI, '-c', clientConfig(), '--pipe', `127.0.0.1:${P.echo}`, '-l', 'info'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = Buffer.alloc(0);
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout = Buffer.concat([stdout, d])));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  child.stdin.write('hello');
  const deadline = Date.now() + 30_000;
  while (stdout.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.is(stdout.toString(), 'hello', stderr);
  env.server.kill(); // SIGKILL: no goodbye from the server
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  const code = await exited;
  clearTimeout(timer);
  assert.is(code, 1, stderr);
  assert.match(stderr, /pipe to 127\.0\.0\.1:\d+: .*(stopped answering|went offline)/);
  assert.not.match(stderr, /ERR_INVALID_HANDLE_TYPE|unexpected error|    at /);
});

test.run();
