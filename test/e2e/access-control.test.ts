// SPDX-License-Identifier: GPL-3.0-or-later
// Access control as an attacker would try it, against real processes. The server runs in a
// mount namespace with its own /etc/hosts (sneaky.test → 127.0.0.1, good.test → 127.0.0.2);
// its rules allow every host on the echo port but deny loopback by three names (127.0.0.1,
// localhost, ::1), as in the issue. A friend then tries every other spelling of loopback:
// - over raw TUNNEL_OPEN frames (a ToxNode in this process speaking the protocol), and
// - over SOCKS5 through the real client (ATYP 1, 3 and 4),
// while the same target reached as 127.0.0.2 / good.test still works (echoed byte-exact).
// Then: an OPEN+CLOSE flood against a target whose connects hang (fds stay bounded, pending
// connects are capped), two friend requests from one key at once (the server stays up), and
// revoke → re-grant with the same identities (echo again within 15 s).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodePacket } from '../../src/protocol/frame.ts';
import { ToxNode } from '../../src/tox/tox-node.ts';
import { sendAllLossless } from '../helpers/send-all.ts';
import { type TunnelEnv, echoRoundTrip, openFds, serverOnline, sha256, startTunnelEnv, testData } from '../helpers/tunnel-env.ts';

const P = { echo: 28101, slow: 28102, forward: 28111, socks: 28112, bootUdp: 28131, bootTcp: 28132, prober: 28150, twin: 28160 };
const DENY_LOOPBACK = ['      - host: 127.0.0.1', '      - host: localhost', '      - host: "::1"'];
let env: TunnelEnv;
const services: net.Server[] = [];
let slowTarget: ChildProcess | undefined;
let slotTaker: net.Socket | undefined;
let prober: ToxNode;
let proberFriend = -1;
const twins: ToxNode[] = [];
/** Answers to the prober's OPENs, by tunnel id. */
const answers = new Map<number, (answer: string) => void>();

function rulesFor(clientKey: string, withClient = true): string {
  const lines = ['rules:'];
  if (withClient) {
    lines.push(`  - friend: ${clientKey}`, '    name: laptop', '    allow:', '      - host: "*"', `        ports: [${P.echo}]`, '    deny:', ...DENY_LOOPBACK);
  }
  lines.push(`  - friend: ${prober.publicKey}`, '    name: prober', '    allow:', '      - host: "*"', `        ports: [${P.echo}, ${P.slow}]`, '    deny:', ...DENY_LOOPBACK);
  lines.push(`  - friend: ${twins[0]!.publicKey}`, '    allow:', '      - host: 127.0.0.2', `        ports: [${P.echo}]`);
  return `${lines.join('\n')}\n`;
}

async function echoService(host: string, port: number): Promise<void> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  services.push(server);
}

test.before(async () => {
  try {
    await setUp();
  } catch (error) {
    console.error('setup failed:', error);
    await tearDown(); // uvu skips after() when before() fails: nothing may keep running
    throw error;
  }
});

async function setUp(): Promise<void> {
  await echoService('127.0.0.1', P.echo);
  await echoService('127.0.0.2', P.echo);
  // A target whose connects hang: a listener with a backlog of 0 that never accepts (its one
  // slot is taken below), so every further SYN waits.
  slowTarget = spawn('python3', ['-c', `import socket,time\ns=socket.socket()\ns.bind(("127.0.0.3",${P.slow}))\ns.listen(0)\nprint("ready",flush=True)\ntime.sleep(600)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => slowTarget!.stdout!.once('data', () => resolve()));
  slotTaker = net.connect(P.slow, '127.0.0.3').on('error', () => {});

  prober = await ToxNode.create({ udp: true, localDiscovery: false, startPort: P.prober, endPort: P.prober + 9 });
  const maker = await ToxNode.create({ udp: true, localDiscovery: false, startPort: P.twin, endPort: P.twin + 9 });
  const twinSave = maker.savedata();
  maker.close();
  for (let i = 0; i < 2; i++) twins.push(await ToxNode.create({ udp: true, localDiscovery: false, startPort: P.twin + 10 * (i + 1), endPort: P.twin + 10 * (i + 1) + 9, savedata: twinSave }));

  const dir = execFileSync('mktemp', ['-d']).toString().trim();
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, '127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 sneaky.test\n127.0.0.2 good.test\n');
  env = await startTunnelEnv({
    ports: { bootstrapUdp: P.bootUdp, bootstrapTcp: P.bootTcp, toxFirst: 0 },
    forwards: [{ local_port: P.forward, remote_host: 'good.test', remote_port: P.echo }],
    clientYaml: ['  socks:', `    - port: ${P.socks}`],
    listeners: 2,
    rules: (clientKey) => rulesFor(clientKey),
    // The server sees the test's hosts file and nothing else changes for it.
    serverWrap: ['unshare', '-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && exec "$@"`, 'sh'],
  });
  prober.on('losslessPacket', (_f, data) => {
    const id = (data[2]! << 8) | data[3]!;
    if (data[1] === 0x04 && data.length >= 10 && new DataView(data.buffer, data.byteOffset + 6, 4).getUint32(0) === 0) answers.get(id)?.('connected');
    else if (data[1] === 0x05) answers.get(id)?.(`refused: ${Buffer.from(data.subarray(7)).toString()}`);
  });
  for (const node of [prober, ...twins]) await node.bootstrap('127.0.0.1', env.bootstrapd.udpPort, env.bootstrapd.publicKey);
  proberFriend = prober.addFriend(env.serverId, 'let me in');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the prober never got online with the server')), 90_000);
    prober.on('friendConnection', (f, status) => {
      if (f === proberFriend && status !== 'none') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await serverOnline(env);
}

async function tearDown(): Promise<void> {
  for (const node of [prober, ...twins]) node?.close();
  await env?.stop();
  slowTarget?.kill();
  slotTaker?.destroy();
  for (const s of services) s.close();
}

test.after(tearDown);

let nextId = 1;
/** Sends TUNNEL_OPEN(host, port) as the prober; resolves with "connected" or "refused: …". */
async function probe(host: string, port = P.echo): Promise<string> {
  const id = nextId++;
  const answer = new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('no answer'), 15_000);
    answers.set(id, (text) => {
      clearTimeout(timer);
      answers.delete(id);
      resolve(text);
    });
  });
  await sendAll([encodePacket({ kind: 'open', tunnelId: id, host, port })]);
  const result = await answer;
  if (result === 'connected') await sendAll([encodePacket({ kind: 'close', tunnelId: id })]);
  return result;
}

const sendAll = (packets: Uint8Array[]) => sendAllLossless(prober, proberFriend, packets, 60_000);

const LOOPBACK_SPELLINGS = [
  '127.0.0.1', '127.1', '127.0.1', '0x7f.0.0.1', '0x7f.1', '0x7f000001', '017700000001', '0177.0.0.1', '2130706433', '127.0.0.1.',
  'LOCALHOST', 'localhost.', 'LocalHost.', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '[::ffff:7f00:1]', '0:0:0:0:0:ffff:7f00:1',
  '１２７.０.０.１', 'ｌｏｃａｌｈｏｓｔ', 'local\u00adhost', 'loca\u200blhost', '0.0.0.0', '0', '0x0', '::', '[::]', 'sneaky.test', 'SNEAKY.test.',
];
const ALLOWED_SPELLINGS = ['127.0.0.2', 'good.test', 'GOOD.TEST.', '0x7f.0.0.2', '2130706434', '[::ffff:127.0.0.2]'];

test(`raw OPEN frames: ${LOOPBACK_SPELLINGS.length} spellings of loopback are all refused; ${ALLOWED_SPELLINGS.length} spellings of 127.0.0.2 connect`, async () => {
  const through: string[] = [];
  for (const host of LOOPBACK_SPELLINGS) {
    const answer = await probe(host);
    if (!answer.startsWith('refused')) through.push(`${JSON.stringify(host)} → ${answer}`);
  }
  assert.equal(through, [], `got through: ${through.join(', ')}`);
  for (const host of ALLOWED_SPELLINGS) assert.is(await probe(host), 'connected', host);
  assert.match(await probe('127.0.0.2', P.echo + 50), /^refused: Access denied/, 'another port');
  assert.match(env.server.output, /prober, [0-9A-F]{8}…\): denied/, 'denials are logged with the friend\'s name');
});

/** One SOCKS5 CONNECT through the client; returns the reply code (0 = succeeded) and the socket. */
async function socksConnect(atyp: 1 | 3 | 4, address: Buffer, port: number): Promise<{ reply: number; socket: net.Socket }> {
  const socket = net.connect(P.socks, '127.0.0.1');
  socket.on('error', () => {});
  const read = (n: number) =>
    new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('SOCKS5 reply timed out')), 30_000);
      const tryRead = () => {
        const chunk = socket.read(n) as Buffer | null;
        if (chunk) {
          clearTimeout(timer);
          resolve(chunk);
        } else socket.once('readable', tryRead);
      };
      tryRead();
    });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(Buffer.from([5, 1, 0]));
  assert.equal([...(await read(2))], [5, 0]);
  const portBytes = Buffer.from([port >> 8, port & 0xff]);
  const addressField = atyp === 3 ? Buffer.concat([Buffer.from([address.length]), address]) : address;
  socket.write(Buffer.concat([Buffer.from([5, 1, 0, atyp]), addressField, portBytes]));
  const head = await read(4);
  const rest = head[3] === 1 ? 6 : head[3] === 4 ? 18 : 1 + (await read(1))[0]! + 2;
  if (head[3] !== 3) await read(rest);
  else await read(rest - 1);
  return { reply: head[1]!, socket };
}

const v4 = (text: string) => Buffer.from(text.split('.').map(Number));
const v6 = (groups: number[]) => Buffer.from(groups.flatMap((g) => [g >> 8, g & 0xff]));

test('SOCKS5 through the real client: loopback by ATYP 1, 3 and 4 is refused; 127.0.0.2 and good.test work byte-exact', async () => {
  const denied: Array<[1 | 3 | 4, Buffer, string]> = [
    [1, v4('127.0.0.1'), 'ATYP 1 127.0.0.1'],
    [1, v4('0.0.0.0'), 'ATYP 1 0.0.0.0'],
    [3, Buffer.from('127.1'), 'ATYP 3 127.1'],
    [3, Buffer.from('2130706433'), 'ATYP 3 2130706433'],
    [3, Buffer.from('localhost'), 'ATYP 3 localhost'],
    [3, Buffer.from('sneaky.test'), 'ATYP 3 sneaky.test'],
    [3, Buffer.from('ｌｏｃａｌｈｏｓｔ'), 'ATYP 3 fullwidth localhost'],
    [3, Buffer.from('[::ffff:127.0.0.1]'), 'ATYP 3 [::ffff:127.0.0.1]'],
    [4, v6([0, 0, 0, 0, 0, 0, 0, 1]), 'ATYP 4 ::1'],
    [4, v6([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]), 'ATYP 4 ::ffff:127.0.0.1'],
  ];
  for (const [atyp, address, what] of denied) {
    const { reply, socket } = await socksConnect(atyp, address, P.echo);
    socket.destroy();
    assert.ok(reply !== 0, `${what}: SOCKS5 reply ${reply}, expected a refusal`);
  }
  const allowed: Array<[1 | 3 | 4, Buffer, string]> = [
    [1, v4('127.0.0.2'), 'ATYP 1 127.0.0.2'],
    [3, Buffer.from('good.test'), 'ATYP 3 good.test'],
    [4, v6([0, 0, 0, 0, 0, 0xffff, 0x7f00, 2]), 'ATYP 4 ::ffff:127.0.0.2'],
  ];
  for (const [atyp, address, what] of allowed) {
    const { reply, socket } = await socksConnect(atyp, address, P.echo);
    assert.is(reply, 0, `${what}: SOCKS5 reply`);
    const data = testData(50_000, atyp);
    const back = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let got = 0;
      const timer = setTimeout(() => reject(new Error(`${what}: echo incomplete (${got} bytes)`)), 30_000);
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        got += c.length;
        if (got >= data.length) {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks));
        }
      });
      socket.resume();
      socket.write(data);
    });
    socket.destroy();
    assert.is(sha256(back), sha256(data), `${what}: echoed byte-exact`);
  }
  // And the forward to good.test (a name resolved through the server's hosts file).
  const data = testData(100_000, 42);
  assert.is(sha256(await echoRoundTrip(P.forward, data, 30_000)), sha256(data));
});

test('OPEN+CLOSE flood against hanging connects: fds stay bounded; at most 32 connects at once, the rest wait (none refused)', async () => {
  const pid = env.server.child.pid!;
  const before = openFds(pid);
  const first = nextId;
  const flood: Uint8Array[] = [];
  for (let i = 0; i < 1000; i++) {
    const id = first + (i % 200);
    flood.push(encodePacket({ kind: 'open', tunnelId: id, host: '127.0.0.3', port: P.slow }), encodePacket({ kind: 'close', tunnelId: id }));
  }
  await sendAll(flood);
  nextId = first + 200;
  await new Promise((r) => setTimeout(r, 3000));
  const afterFlood = openFds(pid);
  console.log(`server fds: ${before} before, ${afterFlood} after 1000 OPEN+CLOSE to a hanging target`);
  assert.ok(afterFlood - before < 40, `fds grew from ${before} to ${afterFlood}`);

  // 100 OPENs that stay pending: at most 32 connect at once (src/app/dial-queue.ts), the rest
  // wait their turn instead of being refused "busy"; CLOSE cancels both kinds.
  const opens = Array.from({ length: 100 }, () => probe('127.0.0.3', P.slow));
  await new Promise((r) => setTimeout(r, 2000));
  const pendingFds = openFds(pid) - before;
  await sendAll(Array.from({ length: 100 }, (_, i) => encodePacket({ kind: 'close', tunnelId: nextId - 100 + i })));
  const results = await Promise.all(opens);
  const busy = results.filter((r) => /Server busy/.test(r)).length;
  console.log(`100 hanging OPENs: ${busy} refused as busy; +${pendingFds} fds while pending`);
  assert.is(busy, 0, `${busy} refused as busy`);
  assert.ok(pendingFds <= 32 + 10, `${pendingFds} fds while pending`);
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(openFds(pid) - before < 40, 'cancelled connects released their sockets');
});

test('two friend requests from one key at once: the server stays up and admits it once', async () => {
  for (const twin of twins) twin.addFriend(env.serverId, 'twin');
  await env.server.waitForOutput(new RegExp(`accepted friend request from ${twins[0]!.publicKey}`), 60_000, 'twin accepted');
  await new Promise((r) => setTimeout(r, 3000));
  assert.is(env.server.exitCode, undefined, 'the server is still running');
  const accepted = env.server.output.split('\n').filter((l) => l.includes(`accepted friend request from ${twins[0]!.publicKey}`));
  assert.is(accepted.length, 1, accepted.join('\n'));
  assert.not.match(env.server.output, /internal error/);
  twins[1]!.close(); // two nodes with one key would flap for the rest of the run
});

test('revoke, then re-grant with the same identities: revoked at once, echo again within 15 s', async () => {
  const data = testData(20_000, 7);
  assert.is(sha256(await echoRoundTrip(P.forward, data, 30_000)), sha256(data), 'works before');
  writeFileSync(join(env.dir, 'rules.yaml'), rulesFor(env.clientPublicKey, false));
  await env.server.waitForOutput(/rules changed: friend \d+ \(laptop, [0-9A-F]{8}…\) no rule for this friend in the rules file: closing/, 10_000, 'client revoked');
  const whileRevoked = await echoRoundTrip(P.forward, data, 3_000).then(() => 'echoed', () => 'failed');
  assert.is(whileRevoked, 'failed', 'no echo while revoked');
  await new Promise((r) => setTimeout(r, 5000));
  const granted = Date.now();
  writeFileSync(join(env.dir, 'rules.yaml'), rulesFor(env.clientPublicKey, true));
  let seconds = Infinity;
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      const back = await echoRoundTrip(P.forward, data, 5_000);
      assert.is(sha256(back), sha256(data));
      seconds = (Date.now() - granted) / 1000;
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  console.log(`re-grant: echo again ${seconds.toFixed(1)} s after the rules file gave access back`);
  assert.ok(seconds <= 15, `echo again after ${seconds} s`);
});

test.run();
