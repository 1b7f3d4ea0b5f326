// SPDX-License-Identifier: GPL-3.0-or-later
// Our negotiated extensions and the "who may connect" features, end to end with real
// processes on loopback: half-close (the reply after a FIN arrives), reverse tunnels (-R) with
// two services plus a refused and an in-use port, SOCKS5 (curl and raw replies), the shared
// secret (a wrong one is refused and never logged), the control socket (status/list/close),
// a base-protocol client (extensions off), and revoking a friend by editing the rules file.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type CliProcess,
  type Service,
  type TunnelEnv,
  echo,
  echoRoundTrip,
  runCli,
  runCliSync,
  serverOnline,
  sha256,
  startService,
  startTunnelEnv,
  testData,
} from '../helpers/tunnel-env.ts';

const SECRET = 'correct horse battery staple';
const P = {
  echo: 29401,
  digest: 29402, // reads until EOF, then answers with the sha256 of what it read
  http: 29403,
  closed: 29404, // nothing listens here
  local1: 29405, // services on the client's side, for reverse tunnels
  local2: 29406,
  fEcho: 29411,
  fDigest: 29412,
  socks: 29413,
  r1: 29421,
  r2: 29422,
  rDenied: 29423,
  rInUse: 29424,
};
let env: TunnelEnv;
let services: Service[] = [];
let inUse: net.Server;
const extraClients: CliProcess[] = [];

/** The rule of the environment's client (rules.yaml lines, under "rules:"). */
const mainClientRule = (key: string) => `  - friend: ${key}
    allow:
      - host: 127.0.0.1
        ports: [${P.echo}, ${P.digest}, ${P.closed}]
      - host: localhost
        ports: [${P.http}]
    listen:
      - ports: [${P.r1}, ${P.r2}, ${P.rInUse}]
`;

const digestService = (socket: net.Socket) => {
  // (Not `for await`: the async iterator destroys the socket at EOF, so no answer could follow.)
  const hash = createHash('sha256');
  socket.on('data', (chunk) => hash.update(chunk));
  socket.on('end', () => socket.end(hash.digest('hex')));
};

const httpService = (socket: net.Socket) => {
  socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'));
};

test.before(async () => {
  try {
    services = [
      await startService(P.echo, echo),
      await startService(P.digest, digestService),
      await startService(P.http, httpService),
      await startService(P.local1, (s) => s.end('service one\n')),
      await startService(P.local2, echo),
    ];
    inUse = net.createServer().listen(P.rInUse, '127.0.0.1');
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 29431, bootstrapTcp: 29432, toxFirst: 0 },
      forwards: [
        { local_port: P.fEcho, remote_host: '127.0.0.1', remote_port: P.echo },
        { local_port: P.fDigest, remote_host: '127.0.0.1', remote_port: P.digest },
      ],
      rules: (key) => `rules:\n${mainClientRule(key)}`,
      serverYaml: [`  shared_secret: "${SECRET}"`],
      clientYaml: [
        `  shared_secret: "${SECRET}"`,
        '  reverse:',
        `    - { remote_port: ${P.r1}, local_host: 127.0.0.1, local_port: ${P.local1} }`,
        `    - { remote_port: ${P.r2}, local_host: 127.0.0.1, local_port: ${P.local2} }`,
        `    - { remote_port: ${P.rDenied}, local_host: 127.0.0.1, local_port: ${P.local2} }`,
        `    - { remote_port: ${P.rInUse}, local_host: 127.0.0.1, local_port: ${P.local2} }`,
        '  socks:',
        `    - { port: ${P.socks} }`,
      ],
      listeners: 3,
      logLevel: 'debug',
    });
    await serverOnline(env);
    await env.client.waitForOutput(new RegExp(`server listens on port ${P.r2}`), 30_000, 'reverse listeners');
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  for (const c of extraClients) c.kill();
  await env?.stop();
  inUse?.close();
  for (const s of services) await s.close();
});

/** Writes data, half-closes, and reads everything until the other side ends. */
function sendThenRead(port: number, data: Uint8Array, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end within ${ms} ms (${Buffer.concat(chunks).length} bytes back)`));
    }, ms);
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.end();
      resolve(Buffer.concat(chunks));
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.end(data);
  });
}

test('half-close: after our FIN the reply still comes back (ssh -L semantics)', async () => {
  const data = testData(3_000_000, 11);
  const reply = await sendThenRead(P.fDigest, data, 60_000);
  assert.is(reply.toString(), sha256(data), 'the service saw every byte and its answer after EOF arrived');
  const echoed = await sendThenRead(P.fEcho, data, 60_000);
  assert.is(echoed.length, data.length);
  assert.is(sha256(echoed), sha256(data));
});

test('reverse tunnels: two services of the client reached through the server; refused and in-use ports say so', async () => {
  const one = await sendThenRead(P.r1, new Uint8Array(0), 30_000);
  assert.is(one.toString(), 'service one\n');
  const data = testData(500_000, 12);
  const back = await echoRoundTrip(P.r2, data, 30_000);
  assert.is(sha256(back), sha256(data));
  await env.client.waitForOutput(new RegExp(`reverse tunnel to 127.0.0.1:${P.local2} refused by the server: Not allowed to listen on 127.0.0.1:${P.rDenied}`), 10_000, 'denied reverse');
  await env.client.waitForOutput(new RegExp(`refused by the server: Port 127.0.0.1:${P.rInUse} is in use on the server`), 10_000, 'in-use reverse');
  await new Promise<void>((resolve) => {
    const s = net.connect(P.rDenied, '127.0.0.1');
    s.on('error', (e: NodeJS.ErrnoException) => {
      assert.is(e.code, 'ECONNREFUSED', 'nothing listens on a denied port');
      resolve();
    });
    s.on('connect', () => assert.unreachable('a denied reverse port is listening'));
  });
});

function curlAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).status === 0;
}

test('SOCKS5: curl --socks5-hostname reaches an allowed HTTP service by name', async () => {
  if (!curlAvailable()) throw new Error('curl is needed for this test (apt-get install curl)');
  const env2 = { ...process.env };
  for (const k of ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY']) delete env2[k];
  // Asynchronously: the HTTP service runs in this process and must keep answering.
  const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '30', '--socks5-hostname', `127.0.0.1:${P.socks}`, `http://localhost:${P.http}/`], { env: env2 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  assert.is(result.status, 0, `${result.stderr}\nclient:\n${env.client.output.slice(-3000)}`);
  assert.is(result.stdout, 'hello');
});

/** A raw SOCKS5 CONNECT; resolves with the reply code. */
function socksConnect(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(P.socks, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no SOCKS reply within 30 s'));
    }, 30_000);
    let stage = 0;
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 0 && buffer.length >= 2) {
        assert.equal([...buffer.subarray(0, 2)], [5, 0]);
        buffer = buffer.subarray(2);
        stage = 1;
        const name = Buffer.from(host);
        const port2 = Buffer.alloc(2);
        port2.writeUInt16BE(port);
        socket.write(Buffer.concat([Buffer.from([5, 1, 0, 3, name.length]), name, port2]));
      }
      if (stage === 1 && buffer.length >= 10) {
        clearTimeout(timer);
        socket.destroy();
        resolve(buffer[1]!);
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.write(Buffer.from([5, 1, 0]));
  });
}

test('SOCKS5: denied and refused targets get the matching reply codes, never a false success', async () => {
  assert.is(await socksConnect('127.0.0.1', P.http), 0x02, 'not allowed by the rules: 0x02');
  assert.is(await socksConnect('127.0.0.1', P.closed), 0x05, 'allowed but nothing listens: 0x05 connection refused');
  assert.is(await socksConnect('127.0.0.1', P.echo), 0x00, 'allowed and listening: success');
});

test('control socket: status, list and close talk to the running client', async () => {
  const dataDir = join(env.dir, 'client-data');
  const status = runCliSync(['status', '-d', dataDir, '--json']);
  assert.is(status.status, 0, status.output);
  const parsed = JSON.parse(status.stdout) as { mode: string; server: { state: string }; connectionsTotal: number };
  assert.is(parsed.mode, 'client');
  assert.is(parsed.server.state, 'active');
  assert.ok(parsed.connectionsTotal > 0);
  // Keep one tunnel open, find it with list, close it with close.
  const socket = net.connect(P.fEcho, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('ping');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const list = runCliSync(['list', '-d', dataDir, '--json']);
  const tunnels = JSON.parse(list.stdout) as Array<{ id: string; target: string; state: string }>;
  const mine = tunnels.find((t) => t.target === `127.0.0.1:${P.echo}` && t.state === 'open');
  assert.ok(mine, list.stdout);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const close = runCliSync(['close', mine!.id, '-d', dataDir]);
  assert.is(close.status, 0, close.output);
  assert.match(close.stdout, /closed tunnel/);
  await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('socket still open 5 s after close')), 5000))]);
  assert.is(runCliSync(['close', '9999', '-d', dataDir]).status, 1, 'no such tunnel: exit 1');
});

test('shared secret: a friend request with a wrong secret is refused, and no secret is ever logged', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'toxtunnel-wrong-secret-'));
  const key = /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', dataDir]).stdout)![0].slice(0, 64);
  const config = env.file('wrong-secret.yaml', clientConfigFor(dataDir, 29441));
  const wrong = runCli(['-c', config], { env: { TOXTUNNEL_SHARED_SECRET: 'guess-1234' } });
  extraClients.push(wrong);
  await env.server.waitForOutput(new RegExp(`refused a friend request from ${key}: wrong shared secret`), 60_000, 'wrong secret refused');
  wrong.kill();
  for (const [who, output] of [['server', env.server.output], ['client', env.client.output], ['wrong client', wrong.output]] as const) {
    assert.not.ok(output.includes(SECRET), `${who} log contains the shared secret`);
    assert.not.ok(output.includes('guess-1234'), `${who} log contains the wrong secret`);
  }
});

/** A client config like the environment's, with its own data dir and forward port. */
function clientConfigFor(dataDir: string, localPort: number, extra: string[] = []): string {
  const b = env.bootstrapd;
  return [
    'mode: client',
    `data_dir: ${dataDir}`,
    'logging:',
    '  level: debug',
    'tox:',
    '  bootstrap_mode: none',
    // Own UDP ports: a new identity on ports another node just left is slow to be found.
    `  start_port: ${localPort + 200}`,
    '  bootstrap_nodes:',
    `    - { address: 127.0.0.1, port: ${b.udpPort}, public_key: ${b.publicKey}, tcp_ports: [${b.tcpPort}] }`,
    'client:',
    `  server_id: ${env.serverId}`,
    '  forwards:',
    `    - { local_port: ${localPort}, remote_host: 127.0.0.1, remote_port: ${P.digest} }`,
    ...extra,
    '',
  ].join('\n');
}

test('a base-protocol client (extensions off) still works with our server; half-close falls back to CLOSE', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'toxtunnel-base-'));
  const key = /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', dataDir]).stdout)![0].slice(0, 64);
  // The rules must know it (a friend without a rule is not accepted): add a rule, reload.
  const rules = `rules:
${mainClientRule(env.clientPublicKey)}  - friend: ${key}
    allow:
      - host: 127.0.0.1
        ports: [${P.echo}, ${P.digest}]
`;
  writeFileSync(join(env.dir, 'rules.yaml'), rules);
  await env.server.waitForOutput(/rules reloaded \(file changed\): 2 rule\(s\)/, 10_000, 'rules reload');
  const config = env.file('base.yaml', clientConfigFor(dataDir, 29442, [`  shared_secret: "${SECRET}"`]).replace(`remote_port: ${P.digest}`, `remote_port: ${P.echo}`));
  const base = runCli(['-c', config], { env: { TOXTUNNEL_EXTENSIONS: '0' } });
  extraClients.push(base);
  await base.waitForOutput(/Friend connection status: Connected/, 90_000, 'base client online');
  const data = testData(1_000_000, 13);
  const back = await echoRoundTrip(29442, data, 60_000);
  assert.is(sha256(back), sha256(data));
  base.signal('SIGTERM');
  assert.is(await base.exited(10_000), 0);
  assert.not.match(base.output, /FIN|reverse/i);
});

test('revoking a friend in the rules file closes its open tunnels within a second and removes it', async () => {
  const socket = net.connect(P.fEcho, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write('x');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  const started = Date.now();
  writeFileSync(join(env.dir, 'rules.yaml'), 'rules: []\n');
  const at = await Promise.race([closed, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('tunnel still open 5 s after revocation')), 5000))]);
  console.log(`revocation closed the live tunnel ${at - started} ms after the rules file was written`);
  assert.ok(at - started < 2000, `took ${at - started} ms`);
  await env.server.waitForOutput(/rules changed: friend \d+ \([0-9A-F]{8}…\) no rule for this friend in the rules file: closing \d+ tunnel\(s\) and removing the friendship/, 5000, 'friend removed');
  // A bad rules file afterwards keeps the rules in force and says why.
  writeFileSync(join(env.dir, 'rules.yaml'), 'rules:\n  - friend_public_key: 00\n');
  await env.server.waitForOutput(/rules not reloaded \(file changed\): the rules file \S+ is not valid, the previous rules stay in force: .*rules\.yaml:2:5: .*unknown key "friend_public_key"/, 5000, 'bad rules kept old');
});

test.run();
