// SPDX-License-Identifier: GPL-3.0-or-later
// toxtunnel and tuntox, both ways, on loopback with a local tox-bootstrapd:
//
//   fixture tuntox client  ->  our server (started with tuntox's flags: -C DIR holding a tuntox
//                               identity, -f host:port rules, -s secret; our own clients use the
//                               same identity)
//   our client (auto)      ->  fixture tuntox server, with -L, -D (SOCKS5) and -W (pipe)
//
// The fixture (test/fixtures/tuntox-peer.mjs) is written from ../shared/TUNTOX.md, not from our
// code. Checked: 1 MB byte-exact (SHA-256) and small echoes each way, targets the other side's
// rules deny, wrong secrets each way, and that our rules, stats and status cover tuntox friends.
import { spawn } from 'node:child_process';
import { renameSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, type Runtime } from '../helpers/peer.ts';
import { type Bootstrapd, startBootstrapd } from '../helpers/bootstrapd.ts';
import { CliProcess, type Service, echo, echoRoundTrip, runCli, runCliSync, sha256, startService, testData } from '../helpers/tunnel-env.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const P = {
  bootstrapUdp: 28401,
  bootstrapTcp: 28402,
  echoOurs: 28411, // reached through our server
  echoTheirs: 28412, // reached through the fixture server
  ourL: 28421, // our client -L -> fixture server -> echoTheirs
  ourDenied: 28422, // our client -L -> fixture server -> echoOurs (not in the fixture's rules)
  ourSocks: 28423,
  fixtureL: 28431, // fixture client -> our server -> echoOurs
  fixtureDenied: 28432, // fixture client -> our server -> echoTheirs (not in our rules)
  fixtureWrongL: 28433,
  forcedL: 28425, // our client --protocol tuntox -> our server -> echoOurs
  forcedDenied: 28426, // ... -> echoTheirs (not in our rules)
  toxFirst: 28440,
};
/** Our processes' runtime (the fixture always runs on Node): TUNTOX_E2E_RUNTIME=bun|deno. */
const RUNTIME = (process.env.TUNTOX_E2E_RUNTIME ?? 'node') as Runtime;
const OUR_SECRET = 'our-shared-secret';
const THEIR_SECRET = 'sekrit';

const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-tuntox-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const procs: CliProcess[] = [];
let bootstrapd: Bootstrapd;
let services: Service[] = [];
let ourServer: CliProcess;
let ourClient: CliProcess;
let wrongClient: CliProcess;
let forcedClient: CliProcess;
let fixtureServer: CliProcess;
let fixtureClient: CliProcess;
let fixtureWrong: CliProcess;
let serverId = '';
let fixtureServerId = '';
let deniedEarly: Promise<{ bytes: number; ms: number }>;

function fixture(config: Record<string, unknown>): CliProcess {
  const child = spawn(process.execPath, [join(ROOT, 'test/fixtures/tuntox-peer.mjs')], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TUNTOX_PEER: JSON.stringify({ ...config, bootstrap: { host: '127.0.0.1', port: bootstrapd.udpPort, key: bootstrapd.publicKey } }) },
  });
  const p = new CliProcess(child);
  procs.push(p);
  return p;
}

const toxYaml = (udpFirst: number) => [
  'tox:',
  '  udp_enabled: true',
  '  ipv6_enabled: false',
  '  tcp_port: 0',
  `  start_port: ${udpFirst}`,
  `  end_port: ${udpFirst + 4}`,
  '  bootstrap_mode: none',
  '  bootstrap_nodes:',
  '    - address: 127.0.0.1',
  `      port: ${bootstrapd.udpPort}`,
  `      public_key: ${bootstrapd.publicKey}`,
  `      tcp_ports: [${bootstrapd.tcpPort}]`,
  '',
].join('\n');

const keyOf = (dataDir: string) => /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', dataDir]).stdout)![0];

test.before(async () => {
  try {
    bootstrapd = await startBootstrapd(P.bootstrapUdp, P.bootstrapTcp);
    services = [await startService(P.echoOurs, echo), await startService(P.echoTheirs, echo)];

    // Our server, started as a tuntox server would be: -C (a tuntox identity: tox_save), -f, -s.
    const tuntoxDir = join(dir, 'etc-tuntox');
    serverId = keyOf(tuntoxDir);
    renameSync(join(tuntoxDir, 'tox_save.dat'), join(tuntoxDir, 'tox_save'));
    const rules = file('tuntox-rules', `# tuntox -f format\n127.0.0.1:${P.echoOurs}\n`);
    ourServer = runCli(['-c', file('server.yaml', `logging:\n  level: debug\ncontrol_socket: true\n${toxYaml(P.toxFirst)}`), '-C', tuntoxDir, '-f', rules, '-s', OUR_SECRET], { runtime: RUNTIME });
    procs.push(ourServer);
    const started = await ourServer.waitForOutput(/Tox ID: ([0-9A-F]{76})/, 30_000, 'our server start');
    assert.is(started[1], serverId, 'the tuntox identity in -C DIR (tox_save) is the one in use');

    fixtureServer = fixture({ role: 'server', startPort: P.toxFirst + 10, endPort: P.toxFirst + 14, secret: THEIR_SECRET, rules: `127.0.0.1:${P.echoTheirs}\n` });
    fixtureServerId = JSON.parse((await fixtureServer.waitForOutput(/\{"event":"ready"[^\n]*\}/, 30_000, 'fixture server ready'))[0]).address;

    // Our client: tuntox-style flags, no mode anywhere (-i and -L make it a client).
    const clientYaml = file('client.yaml', `data_dir: ${join(dir, 'client-data')}\nlogging:\n  level: debug\n${toxYaml(P.toxFirst + 20)}`);
    ourClient = runCli(['-c', clientYaml, '-i', fixtureServerId, '-s', THEIR_SECRET, '-L', `${P.ourL}:127.0.0.1:${P.echoTheirs}`, '-L', `${P.ourDenied}:127.0.0.1:${P.echoOurs}`, '-D', String(P.ourSocks)], { runtime: RUNTIME });
    procs.push(ourClient);
    wrongClient = runCli(['-c', file('wrong.yaml', `data_dir: ${join(dir, 'wrong-data')}\n${toxYaml(P.toxFirst + 30)}`), '-i', fixtureServerId, '-s', 'not-the-secret', '-L', '28424:127.0.0.1:1'], { runtime: RUNTIME });
    procs.push(wrongClient);

    // Our client speaking tuntox only, to our own server: both translators, and our DENYTUNNEL.
    forcedClient = runCli(['-c', file('forced.yaml', `data_dir: ${join(dir, 'forced-data')}\n${toxYaml(P.toxFirst + 70)}`), '--protocol', 'tuntox', '-i', serverId, '-s', OUR_SECRET, '-L', `${P.forcedL}:127.0.0.1:${P.echoOurs}`, '-L', `${P.forcedDenied}:127.0.0.1:${P.echoTheirs}`], { runtime: RUNTIME });
    procs.push(forcedClient);

    fixtureClient = fixture({
      role: 'client',
      startPort: P.toxFirst + 40,
      endPort: P.toxFirst + 44,
      serverId,
      secret: OUR_SECRET,
      forwards: [
        { localPort: P.fixtureL, host: '127.0.0.1', port: P.echoOurs },
        { localPort: P.fixtureDenied, host: '127.0.0.1', port: P.echoTheirs },
      ],
    });
    fixtureWrong = fixture({ role: 'client', startPort: P.toxFirst + 50, endPort: P.toxFirst + 54, serverId, secret: 'wrong', forwards: [{ localPort: P.fixtureWrongL, host: '127.0.0.1', port: P.echoOurs }] });

    await Promise.all([
      ourClient.waitForOutput(/the server speaks tuntox/, 90_000, 'our client online with the fixture server (tuntox detected)'),
      fixtureClient.waitForOutput(/"event":"online"/, 90_000, 'fixture client online with our server'),
      forcedClient.waitForOutput(/Friend connection status: Connected/, 90_000, 'our tuntox-only client online with our server'),
    ]);
    // Started now, checked at the end: a tuntox server denies by silence, so our client gives up after its open timeout.
    deniedEarly = bytesUntilClosed(P.ourDenied, 60_000);
  } catch (error) {
    console.error('setup failed:', error, '\nour server:', ourServer?.output.slice(-3000), '\nour client:', ourClient?.output.slice(-3000));
    throw error;
  }
});

test.after(async () => {
  for (const p of procs) p.signal('SIGTERM');
  await Promise.all(procs.map((p) => p.exited(10_000).catch(() => p.kill())));
  bootstrapd?.stop();
  for (const s of services) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Connects, writes a little, and counts what comes back until the other side closes. */
function bytesUntilClosed(port: number, ms: number): Promise<{ bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let bytes = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${ms} ms`));
    }, ms);
    socket.on('data', (d) => (bytes += d.length));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ bytes, ms: Date.now() - started });
    });
    socket.write('hello?');
  });
}

/** Several small messages, each echoed before the next is sent (an interactive session). */
async function smallEchoes(port: number, count: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let buffer = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (d) => {
    buffer += d.toString();
    waiters.shift()?.();
  });
  try {
    for (let i = 0; i < count; i++) {
      const line = `line ${i} ${'x'.repeat(i * 7)}\n`;
      buffer = '';
      socket.write(line);
      const deadline = Date.now() + 30_000;
      while (buffer.length < line.length) {
        if (Date.now() > deadline) throw new Error(`echo ${i} incomplete: ${JSON.stringify(buffer)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 500);
        });
      }
      assert.is(buffer, line);
    }
  } finally {
    socket.destroy();
  }
}

/** SOCKS5 CONNECT to 127.0.0.1:port, then an echo of `data` through it. */
function socksEcho(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(P.ourSocks, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('SOCKS echo incomplete after 60 s'));
    }, 60_000);
    let stage = 0;
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 0 && buffer.length >= 2) {
        assert.equal([...buffer.subarray(0, 2)], [5, 0]);
        buffer = buffer.subarray(2);
        stage = 1;
        const target = Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff]);
        socket.write(target);
      }
      if (stage === 1 && buffer.length >= 10) {
        assert.is(buffer[1], 0, 'SOCKS5 reply: succeeded');
        buffer = buffer.subarray(10);
        stage = 2;
        socket.write(data);
      }
      if (stage === 2 && buffer.length >= data.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(buffer);
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.write(Buffer.from([5, 1, 0]));
  });
}

test('fixture tuntox client -> our server: 1 MB echoed byte-exact, then small echoes', async () => {
  const data = testData(1_000_000, 11);
  const started = Date.now();
  const back = await echoRoundTrip(P.fixtureL, data, 120_000);
  console.log(`tuntox client -> our server: 1 MB each way in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.is(back.length, data.length);
  assert.is(sha256(back), sha256(data));
  await smallEchoes(P.fixtureL, 10);
  assert.match(ourServer.output, /friend \d+ speaks tuntox/);
});

test('our client -> fixture tuntox server: 1 MB echoed byte-exact through -L, small echoes, SOCKS5 (-D)', async () => {
  const data = testData(1_000_000, 22);
  const started = Date.now();
  const back = await echoRoundTrip(P.ourL, data, 120_000);
  console.log(`our client -> tuntox server: 1 MB each way in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.is(sha256(back), sha256(data));
  await smallEchoes(P.ourL, 10);
  const socksData = testData(50_000, 33);
  assert.is(sha256(await socksEcho(P.echoTheirs, socksData)), sha256(socksData));
  // The fixture server saw our requests as tuntox REQUESTTUNNELs and answered them.
  assert.match(fixtureServer.output, /"event":"requested","host":"127\.0\.0\.1","port":28412,"forwardId":\d+,"allowed":true/);
});

test('our client -> fixture tuntox server: --pipe (-W) carries stdin/stdout', async () => {
  const yaml = file('pipe.yaml', `data_dir: ${join(dir, 'pipe-data')}\n${toxYaml(P.toxFirst + 60)}`);
  const pipe = runCli(['-c', yaml, '-i', fixtureServerId, '-W', `127.0.0.1:${P.echoTheirs}`], { stdin: 'pipe', env: { TUNTOX_SHARED_SECRET: THEIR_SECRET }, runtime: RUNTIME });
  procs.push(pipe);
  const data = testData(100_000, 44);
  const hex = data.toString('hex'); // printable, so the collected output can be searched
  pipe.child.stdin!.write(hex);
  await pipe.waitForOutput(new RegExp(hex.slice(-64)), 90_000, 'the piped data echoed back');
  assert.ok(pipe.output.includes(hex), 'the whole pipe payload came back in order');
  pipe.child.stdin!.end();
  assert.is(await pipe.exited(30_000), 0, pipe.output.slice(-2000));
});

test('denied targets: each side refuses what its rules do not allow, and nothing leaks', async () => {
  // Fixture client -> our server -> a target our tuntox rules do not list: our server denies
  // (logged, counted) and answers DENYTUNNEL, which tuntox ignores.
  const denied = await Promise.race([bytesUntilClosed(P.fixtureDenied, 8_000).then(() => 'closed'), new Promise((r) => setTimeout(() => r('silent'), 6_000))]);
  assert.is(denied, 'silent', 'a tuntox client gets no data for a denied target (it waits, as tuntox does)');
  await ourServer.waitForOutput(new RegExp(`denied 127\\.0\\.0\\.1:${P.echoTheirs}: no tuntox rule matches`), 10_000, 'our server denied the target');
  await fixtureClient.waitForOutput(/"event":"ignored","type":1540/, 10_000, 'the fixture ignored our DENYTUNNEL (0x0604)');
  // Our client -> fixture server -> a target its rules do not list: silence, then our open timeout.
  const early = await deniedEarly;
  assert.is(early.bytes, 0, 'no bytes from a denied target');
  assert.match(fixtureServer.output, new RegExp(`"event":"requested","host":"127\\.0\\.0\\.1","port":${P.echoOurs},"forwardId":\\d+,"allowed":false`));
  // The log line and the local socket's close race each other: wait for the line.
  await ourClient.waitForOutput(/did not answer the open of 127\.0\.0\.1:28411/, 5_000, 'our client timed the open out');
});

test('our client in tuntox mode -> our server: echo byte-exact; a denied target fails at once with the reason', async () => {
  const data = testData(200_000, 55);
  assert.is(sha256(await echoRoundTrip(P.forcedL, data, 60_000)), sha256(data));
  const denied = await bytesUntilClosed(P.forcedDenied, 15_000);
  assert.is(denied.bytes, 0);
  assert.ok(denied.ms < 10_000, `closed in ${denied.ms} ms (DENYTUNNEL), not after the 20 s open timeout`);
  await forcedClient.waitForOutput(/tunnel \d+ \(127\.0\.0\.1:28412\) failed: Access denied/, 5_000, 'the reason shown');
  assert.not.match(forcedClient.output, /\bHELLO\b|the server speaks toxtunnel/);
});

test('wrong secrets: refused both ways, no friendship', async () => {
  const wrongKey = keyOf(join(dir, 'wrong-data')).slice(0, 64);
  await fixtureServer.waitForOutput(new RegExp(`"event":"request","publicKey":"${wrongKey}","accepted":false,"why":"wrong or missing secret"`), 60_000, 'fixture refused our wrong secret');
  await ourServer.waitForOutput(/refused a friend request from [0-9A-F]{64}: wrong shared secret/, 60_000, 'our server refused the fixture\'s wrong secret');
  assert.not.match(wrongClient.output, /Friend connection status: Connected/);
  assert.not.match(fixtureWrong.output, /"event":"online"/);
});

test('our rules, stats and status cover the tuntox friend', async () => {
  const status = runCliSync(['status', '--json', '-d', join(dir, 'etc-tuntox')]);
  const parsed = JSON.parse(status.stdout) as { friends: Array<{ protocol: string; keepalive: string }>; connectionsTotal: number; errors: number; bytesIn: number };
  const tuntoxFriends = parsed.friends.filter((f) => f.protocol === 'tuntox');
  assert.is(tuntoxFriends.length, 2, `the fixture client and our tuntox-only client: ${status.output}`);
  assert.is(tuntoxFriends[0]!.keepalive, 'stopped', 'no keepalive for a tuntox peer');
  assert.ok(parsed.connectionsTotal >= 2, `tunnels counted (${parsed.connectionsTotal})`);
  assert.ok(parsed.errors >= 1, 'the denied open counted as an error');
  assert.ok(parsed.bytesIn >= 1_000_000, `bytes counted (${parsed.bytesIn})`);
});

test('revocation: a rules change that drops the target closes the tuntox friend\'s open tunnel', async () => {
  const socket = net.connect(P.fixtureL, '127.0.0.1');
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  socket.write('ping');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const changed = Date.now();
  writeFileSync(join(dir, 'tuntox-rules'), `# tuntox -f format, target removed\n127.0.0.1:1\n`);
  const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
  assert.ok(at > 0, `the tunnel was still open 10 s after the rules changed:\n${ourServer.output.slice(-2000)}`);
  console.log(`revoked tuntox tunnel closed ${at - changed} ms after the rules file changed`);
  // The log line and the CLOSE datagram leave the server through different channels: the
  // tunnel may close here before the line is read from the server's output.
  await ourServer.waitForOutput(/access revoked: no tuntox rule matches 127\.0\.0\.1:28411/, 5_000, 'the revocation logged');
});

test.run();
