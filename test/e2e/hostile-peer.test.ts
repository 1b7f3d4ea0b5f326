// SPDX-License-Identifier: GPL-3.0-or-later
// A malicious friend against a real server process: random and malformed frames, unknown
// types, 10,000 OPENs, DATA for unknown tunnels, DATA that ignores flow control, ACK and PING
// floods. Meanwhile a legitimate client keeps echoing through the same server. The server must
// stay up, the other friend must be unaffected (every echo byte-exact), the attacker's tunnels
// must stay within the limit, and the server's memory must stay bounded.
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodePacket, MAX_DATA_PAYLOAD } from '../../src/protocol/frame.ts';
import { ToxNode } from '../../src/tox/tox-node.ts';
import { type Service, type TunnelEnv, echo, echoRoundTrip, runCliSync, serverOnline, sha256, startService, startTunnelEnv, testData, rssMiB } from '../helpers/tunnel-env.ts';

const P = { echo: 29601, forward: 29611 };
let env: TunnelEnv;
let service: Service;
let evil: ToxNode;
let friend = -1;
const received = { acks: 0, errors: new Map<string, number>(), pongs: 0 };


test.before(async () => {
  try {
    service = await startService(P.echo, echo);
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 29631, bootstrapTcp: 29632, toxFirst: 0 },
      forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
    });
    await serverOnline(env);
    evil = await ToxNode.create({ udp: true, localDiscovery: false, startPort: 29650, endPort: 29660 });
    await evil.bootstrap('127.0.0.1', env.bootstrapd.udpPort, env.bootstrapd.publicKey);
    friend = evil.addFriend(env.serverId, 'let me in');
    evil.on('losslessPacket', (_f, data) => {
      if (data[1] === 0x04) received.acks++;
      else if (data[1] === 0x11) received.pongs++;
      else if (data[1] === 0x05) {
        const text = Buffer.from(data.subarray(7)).toString();
        received.errors.set(text, (received.errors.get(text) ?? 0) + 1);
      }
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the attacker never got online with the server')), 90_000);
      evil.on('friendConnection', (f, status) => {
        if (f === friend && status !== 'none') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  evil?.close();
  await env?.stop();
  await service?.close();
});

/** Sends every packet in order, waiting on SENDQ (bounded). */
async function sendAll(packets: Iterable<Uint8Array>): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (const packet of packets) {
    for (;;) {
      const result = evil.sendLossless(friend, packet);
      if (result.ok) break;
      if (result.error !== 'SENDQ') throw new Error(`attacker send failed: ${result.error}`);
      if (Date.now() > deadline) throw new Error('attacker send stuck on SENDQ for 120 s');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        evil.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

function* range(count: number, make: (i: number) => Uint8Array) {
  for (let i = 0; i < count; i++) yield make(i);
}

test('the server survives a hostile friend; the other friend is unaffected; memory stays bounded', async () => {
  const serverPid = env.server.child.pid!;
  const rssBefore = rssMiB(serverPid);
  // The legitimate client echoes 100 KB at a time for the whole attack.
  let attacking = true;
  let echoes = 0;
  const legit = (async () => {
    while (attacking) {
      const data = testData(100_000, echoes + 1);
      const back = await echoRoundTrip(P.forward, data, 60_000);
      assert.is(sha256(back), sha256(data), `echo ${echoes} corrupted`);
      echoes++;
    }
  })();

  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 0x1000000;
  // 1. Random packets with our packet id, and specific malformed frames.
  await sendAll(range(3000, () => {
    const packet = new Uint8Array(6 + Math.floor(rand() * 1367));
    for (let i = 0; i < packet.length; i++) packet[i] = Math.floor(rand() * 256);
    packet[0] = 0xa0;
    return packet;
  }));
  const hex = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'));
  await sendAll([
    hex('a0 02 0005 ffff aabb'), // length far beyond the bytes present
    hex('a0 01 0006 0005 ff 3132 0016'), // host_len overrun
    hex('a0 01 0007 0006 02 6100 0016'), // NUL in host
    hex('a0 04 0008 0010 00000001'), // ACK with a wrong payload size
    ...range(200, (i) => hex(`a0 ${(0x40 + i).toString(16).padStart(2, '0').slice(-2)} 0001 0000`)), // unknown types
  ]);
  // 2. 10,000 OPENs to an allowed target: the limit (100 tunnels) and the OPEN rate hold.
  await sendAll(range(10_000, (i) => encodePacket({ kind: 'open', tunnelId: i + 1, host: '127.0.0.1', port: P.echo })));
  // 3. DATA for tunnels that do not exist, ACK and PING floods.
  await sendAll(range(10_000, (i) => encodePacket({ kind: 'data', tunnelId: 20_000 + i, payload: new Uint8Array(100) })));
  await sendAll(range(10_000, (i) => encodePacket({ kind: 'ack', tunnelId: 1 + (i % 100), bytesAcked: 0xffffffff })));
  await sendAll(range(10_000, () => encodePacket({ kind: 'ping' })));
  // 4. DATA on an open tunnel that ignores the window (16 MB, never reading the echo or
  // acknowledging it: once the target's socket backs up, the server must refuse to buffer).
  const chunk = new Uint8Array(MAX_DATA_PAYLOAD).fill(0x55);
  await sendAll(range(Math.ceil(16_000_000 / MAX_DATA_PAYLOAD), () => encodePacket({ kind: 'data', tunnelId: 1, payload: chunk })));
  // Let the server work through it all, then stop the legitimate traffic.
  await env.server.waitForOutput(/tunnel 1 closed \(friend \d+[^\n]*the peer ignored flow control/, 60_000, 'flow-control violation noticed');
  await new Promise((r) => setTimeout(r, 2000));
  attacking = false;
  await legit;

  assert.is(env.server.exitCode, undefined, 'the server is still running');
  assert.ok(echoes >= 5, `the legitimate client kept working (${echoes} echoes)`);
  // Refused by the tunnel limit, the OPEN rate, or the cap on connects in progress.
  const refusals = ['Tunnel limit exceeded', 'Too many opens: slow down', 'Server busy: too many connects in progress'];
  const refusedOpens = () => refusals.reduce((sum, text) => sum + (received.errors.get(text) ?? 0), 0);
  // Not every answer arrives: this process is too busy flooding to take them all, and a server
  // whose link to a friend backs up past 8 MiB clears it (FriendLink). The limit itself is
  // checked below on the server's own count of the attacker's tunnels.
  const limitErrors = refusedOpens();
  assert.ok(limitErrors >= 1_000, `OPENs beyond the limits were refused (${limitErrors}: ${JSON.stringify(refusals.map((t) => [t, received.errors.get(t)]))})`);
  assert.ok(received.acks >= 100, `the first 100 OPENs were accepted (${received.acks} ACKs)`);
  const rssAfter = rssMiB(serverPid);
  console.log(`hostile friend: ${echoes} legitimate echoes meanwhile; server RSS ${rssBefore.toFixed(0)} -> ${rssAfter.toFixed(0)} MiB; ${limitErrors} limit errors, ${received.errors.get('Tunnel not found') ?? 0} not-found, ${received.pongs} PONGs`);
  assert.ok(rssAfter - rssBefore < 150, `server memory grew by ${(rssAfter - rssBefore).toFixed(0)} MiB`);
  // The attacker's tunnels stay within the limit.
  const status = runCliSync(['status', '--json', '-d', join(env.dir, 'server-data')]);
  const friends = (JSON.parse(status.stdout) as { friends: Array<{ publicKey: string; tunnels: number }> }).friends;
  const attacker = friends.find((f) => f.publicKey === evil.publicKey);
  assert.ok(attacker, status.output);
  assert.ok(attacker!.tunnels <= 100, `at most the limit of tunnels open (${attacker!.tunnels})`);
});

test.run();
