// SPDX-License-Identifier: GPL-3.0-or-later
// Rules end to end (allowed, denied, no-rule friend, wildcard and port cases), pipe mode
// (ssh ProxyCommand style: stdin/stdout as one tunnel), and the CLI's errors for bad input.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeToxId } from '../../src/tox/tox-id.ts';
import {
  CLI,
  type Service,
  type TunnelEnv,
  closedWithin,
  echo,
  echoRoundTrip,
  runCliSync,
  serverOnline,
  sha256,
  startService,
  startTunnelEnv,
  testData,
} from '../helpers/tunnel-env.ts';

const P = { echo: 29201, other: 29202, fAllowed: 29211, fDeniedHost: 29212, fDeniedPort: 29213 };
let env: TunnelEnv;
let services: Service[] = [];
const pipeData = mkdtempSync(join(tmpdir(), 'toxtunnel-pipe-'));
const strangerData = mkdtempSync(join(tmpdir(), 'toxtunnel-stranger-'));
const keyOf = (dataDir: string) => /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', dataDir]).stdout)![0].slice(0, 64);

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
  services = [await startService(P.echo, echo), await startService(P.other, echo)];
  const pipeKey = keyOf(pipeData);
  env = await startTunnelEnv({
    ports: { bootstrapUdp: 29301, bootstrapTcp: 29302, toxFirst: 29310 },
    forwards: [
      { local_port: P.fAllowed, remote_host: '127.0.0.1', remote_port: P.echo },
      { local_port: P.fDeniedHost, remote_host: 'localhost', remote_port: P.echo },
      { local_port: P.fDeniedPort, remote_host: '127.0.0.1', remote_port: P.other },
    ],
    rules: (clientKey) => `rules:
  - friend_pk: ${clientKey.toLowerCase()}
    allow:
      - host: "127.0.0.*"
        ports: [${P.echo}]
      - host: localhost
    deny:
      - host: LOCALHOST
  - friend: ${pipeKey}
    allow:
      - host: 127.0.0.1
        ports: [${P.echo}]
`,
  });
  await serverOnline(env);
}

test.after(async () => {
  await env?.stop();
  for (const s of services) await s.close();
});

test('an allowed target (matched by the wildcard 127.0.0.*, listed port) carries data', async () => {
  const data = testData(300_000, 1);
  assert.is(sha256(await echoRoundTrip(P.fAllowed, data, 60_000)), sha256(data));
  assert.match(env.server.output, /tunnel \d+ open: friend \d+ \([^)]*\) -> 127\.0\.0\.1:29201/);
});

test('a denied host (deny beats allow) and an unlisted port are refused with "Access denied"', async () => {
  const before = services[1]!.connections;
  assert.ok((await closedWithin(P.fDeniedHost, 15_000)) < 10_000);
  assert.ok((await closedWithin(P.fDeniedPort, 15_000)) < 10_000);
  await env.client.waitForOutput(/failed: Access denied[^]*failed: Access denied/, 5000, 'two Access denied errors');
  assert.is(services[1]!.connections, before, 'the server never connected to the denied target');
  assert.match(env.server.output, /denied localhost:29201: denied by the rule/);
  // Denials of one friend are logged once a minute, the rest counted into the next line.
  assert.not.match(env.server.output, /denied 127\.0\.0\.1:29202/);
});

let nextPipePort = 29400;
function clientYaml(dataDir: string): string {
  // Each pipe client gets UDP ports of its own: a new identity on the port a node just left
  // is not found until the peers forget the old one.
  const startPort = (nextPipePort += 20);
  return env.file(
    `pipe-${Date.now()}.yaml`,
    [
      'mode: client',
      `data_dir: ${dataDir}`,
      'tox:',
      '  bootstrap_mode: none',
      `  start_port: ${startPort}`,
      '  bootstrap_nodes:',
      '    - address: 127.0.0.1',
      `      port: ${env.bootstrapd.udpPort}`,
      `      public_key: ${env.bootstrapd.publicKey}`,
      'client:',
      `  server_id: ${env.serverId}`,
      '',
    ].join('\n'),
  );
}

function runPipe(dataDir: string, data: Uint8Array, closeStdinAfterBytes: number, extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve, reject) => {
    // -l info: pipe mode logs only warnings unless asked (the test reads the tunnel's lines).
    const child = spawn(process.execPath, [CLI, '-c', clientYaml(dataDir), '--pipe', `127.0.0.1:${P.echo}`, '-l', 'info'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...extraEnv },
    });
    const out: Buffer[] = [];
    let received = 0;
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pipe client did not finish in 120 s; ${received} bytes back; stderr:\n${stderr}`));
    }, 120_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out.push(chunk);
      received += chunk.length;
      if (received >= closeStdinAfterBytes) child.stdin.end();
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.on('error', () => {});
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.write(data);
  });
}

test('a friend with no rule is denied, and its pipe exits non-zero with the server\'s reason', async () => {
  // A friend with no rule is not even accepted: its request is refused, it never comes online.
  const result = await runPipe(strangerData, testData(10, 1), 1, { TOXTUNNEL_CONNECT_TIMEOUT: '15' });
  assert.is(result.code, 1);
  assert.is(result.stdout.length, 0);
  assert.ok(/did not come online within 15 s/.test(result.stderr), result.stderr);
  assert.match(env.server.output, new RegExp(`refused a friend request from ${keyOf(strangerData)}: no rule for this friend`));
});

test('pipe mode: stdin/stdout round trip through the tunnel; EOF on stdin exits 0; logs only on stderr', async () => {
  const data = testData(200_000, 7);
  const result = await runPipe(pipeData, data, data.length);
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout.length, data.length, 'stdout carries only the tunnel');
  assert.is(sha256(result.stdout), sha256(data));
  assert.match(result.stderr, /tunnel 1 open/);
});

test('CLI errors are one clear line and exit code 2: bad checksum, unknown key, bad port', () => {
  const id = makeToxId(new Uint8Array(32).fill(3), 1).text;
  const badChecksum = id.slice(0, 75) + (id.endsWith('A') ? 'B' : 'A');
  const r1 = runCliSync(['-m', 'client', '--server-id', badChecksum, '-L', '2222:127.0.0.1:22']);
  assert.is(r1.status, 2);
  assert.match(r1.stderr, /^toxtunnel: error: --server-id: invalid Tox ID: the checksum/);
  const bad = env.file('bad.yaml', 'mode: server\nserver:\n  rules_file: r.yaml\n  friend_public_key: x\n');
  const r2 = runCliSync(['-c', bad]);
  assert.is(r2.status, 2);
  assert.match(r2.stderr, /bad\.yaml:4:3: server\.friend_public_key: unknown key/);
  const r3 = runCliSync(['-m', 'client', '--server-id', id, '-L', '99999:127.0.0.1:22']);
  assert.is(r3.status, 2);
  assert.match(r3.stderr, /bad local port "99999"/);
  for (const r of [r1, r2, r3]) {
    assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
    assert.is(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});

test.run();
