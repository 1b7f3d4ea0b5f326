// SPDX-License-Identifier: GPL-3.0-or-later
// The socket host's buffering (src/net/socket-table.ts) with real loopback sockets and a plain
// byte array as wasm memory: TCP reads pause at the buffer's mark and every byte comes out
// once, in order; writes answer "would block" while the host's queue is full and wake the
// owner when it drains; UDP datagrams queue in order with their sender's address in the
// layout of wasm/tt_host.h, bounded, drops counted.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostError, HostFamily, HostSocketType } from '../../src/net/host-errors.ts';
import { reserveUdp, SocketTable } from '../../src/net/socket-table.ts';
import { testData } from '../helpers/tunnel-env.ts';

const MiB = 1 << 20;
const memory = new Uint8Array(4 * MiB);
const IP = 0; // 127.0.0.1 at memory[0..4]
memory.set([127, 0, 0, 1], IP);
const BUF = 1 * MiB;
const ADDR = 64;

class Owner {
  wakes = 0;
  wake(): void {
    this.wakes++;
  }
  async waitForWake(after: number, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.wakes <= after) {
      if (Date.now() > deadline) throw new Error('no wake');
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

function table(): { t: SocketTable; owner: Owner } {
  const t = new SocketTable(() => memory);
  const owner = new Owner();
  t.currentOwner = owner;
  return { t, owner };
}

const pattern = testData;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listen(onConnection: (s: net.Socket) => void): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer(onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port };
}

test('TCP: connect completes in the background; reading pauses at 1 MiB buffered; every byte once, in order', async () => {
  const sent = pattern(24 * MiB, 1); // more than the kernel's socket buffers hold
  let serverWrote = 0;
  const { server, port } = await listen(async (socket) => {
    for (let at = 0; at < sent.length; at += 64 * 1024) {
      const chunk = sent.subarray(at, at + 64 * 1024);
      serverWrote += chunk.length;
      if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
    }
    socket.end();
  });
  const { t, owner } = table();
  const fd = t.socket(HostFamily.INET, HostSocketType.STREAM);
  try {
    assert.is(t.connect(fd, HostFamily.INET, IP, port), -HostError.INPROGRESS);
    assert.is(t.recv(fd, BUF, 100), -HostError.NOTCONN, 'not connected yet');
    await owner.waitForWake(0);
    await sleep(300); // the peer writes as fast as we let it
    const buffered = t.recvbuf(fd);
    // socket-table.ts: TCP_READ_HIGH_WATER = 1 MiB, then the host socket is paused (a read
    // brings at most 64 KiB past the mark).
    assert.ok(buffered >= MiB && buffered <= MiB + 64 * 1024, `buffered ${buffered}`);
    await sleep(200);
    assert.is(t.recvbuf(fd), buffered, 'no more is read while the buffer is full');
    assert.ok(serverWrote < sent.length, `the peer is held back (${serverWrote} bytes written)`);
    const got: Buffer[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
      const n = t.recv(fd, BUF, 100_003);
      if (n === 0) break;
      if (n === -HostError.WOULDBLOCK) {
        await sleep(1);
        continue;
      }
      assert.ok(n > 0 && n <= 100_003, `recv returned ${n}`);
      assert.ok(t.recvbuf(fd) >= 0);
      got.push(Buffer.from(memory.subarray(BUF, BUF + n)));
    }
    const all = Buffer.concat(got);
    assert.is(all.length, sent.length, 'every byte');
    assert.is(sha(all), sha(sent), 'in order, once');
    assert.is(t.recv(fd, BUF, 100), 0, 'then end of stream');
  } finally {
    assert.is(t.close(fd), 0);
    server.close();
  }
});

test('TCP: send answers WOULDBLOCK while the host write queue is full, wakes the owner on drain, loses nothing', async () => {
  let peer: net.Socket | undefined;
  const received: Buffer[] = [];
  const { server, port } = await listen((socket) => {
    peer = socket;
    socket.pause(); // a slow reader
    socket.on('data', (c: Buffer) => received.push(c));
  });
  const { t, owner } = table();
  const fd = t.socket(HostFamily.INET, HostSocketType.STREAM);
  try {
    t.connect(fd, HostFamily.INET, IP, port);
    assert.is(t.send(fd, BUF, 10), -HostError.WOULDBLOCK, 'nothing is written before the connection is up');
    await owner.waitForWake(0);
    const data = pattern(64 * MiB, 2);
    let offset = 0;
    let blocked = false;
    while (offset < data.length) {
      const n = Math.min(64 * 1024, data.length - offset);
      memory.set(data.subarray(offset, offset + n), BUF);
      const r = t.send(fd, BUF, n);
      if (r === -HostError.WOULDBLOCK) {
        blocked = true;
        break;
      }
      assert.is(r, n);
      offset += n;
      if (offset % MiB === 0) await sleep(1); // let the kernel take what it takes
    }
    assert.ok(blocked, `send never refused (${offset} bytes taken)`);
    const wakes = owner.wakes;
    peer!.resume();
    await owner.waitForWake(wakes, 10_000); // 'drain'
    // Once the queue drained, the rest goes in.
    while (offset < data.length) {
      const n = Math.min(64 * 1024, data.length - offset);
      memory.set(data.subarray(offset, offset + n), BUF);
      const r = t.send(fd, BUF, n);
      if (r === -HostError.WOULDBLOCK) {
        await sleep(1);
        continue;
      }
      offset += r;
    }
    for (const deadline = Date.now() + 20_000; received.reduce((a, c) => a + c.length, 0) < data.length && Date.now() < deadline; ) await sleep(5);
    assert.is(sha(Buffer.concat(received)), sha(data), 'every byte once, in order');
  } finally {
    t.close(fd);
    peer?.destroy();
    server.close();
  }
});

test("UDP: datagrams come out in order with the sender's address (tt_host.h layout); WOULDBLOCK when none; truncated to the buffer", async () => {
  const reserved = await reserveUdp(false, 29391, 29399);
  const { t, owner } = table();
  t.offer(reserved, undefined);
  const fd = t.socket(HostFamily.INET, HostSocketType.DGRAM);
  assert.is(t.bind(fd, HostFamily.INET, IP, reserved.port), 0);
  const sender = dgram.createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  try {
    const datagrams = [pattern(1, 3), pattern(1373, 4), pattern(600, 5)];
    for (const d of datagrams) sender.send(d, reserved.port, '127.0.0.1');
    for (let i = 0; i < 500 && owner.wakes < 3; i++) await sleep(2);
    assert.is(owner.wakes, 3, 'one wake per datagram');
    const senderPort = sender.address().port;
    for (const d of datagrams) {
      const n = t.recvfrom(fd, BUF, 2048, ADDR);
      assert.is(n, d.length);
      assert.is(sha(memory.subarray(BUF, BUF + n)), sha(d));
      // [family:1][ip:16][port:2, little endian]
      assert.is(memory[ADDR], HostFamily.INET);
      assert.equal([...memory.subarray(ADDR + 1, ADDR + 17)], [127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      assert.is(memory[ADDR + 17]! | (memory[ADDR + 18]! << 8), senderPort);
    }
    assert.is(t.recvfrom(fd, BUF, 2048, ADDR), -HostError.WOULDBLOCK);
    sender.send(pattern(100, 6), reserved.port, '127.0.0.1');
    for (let i = 0; i < 500 && owner.wakes < 4; i++) await sleep(2);
    assert.is(t.recvfrom(fd, BUF, 40, ADDR), 40, 'a datagram longer than the buffer is cut to it');
    assert.is(sha(memory.subarray(BUF, BUF + 40)), sha(pattern(100, 6).subarray(0, 40)));
  } finally {
    sender.close();
    t.close(fd);
  }
});

/** The kernel's UDP receive-buffer drops in this network namespace (/proc/net/snmp). */
function kernelDrops(): number {
  const [names, values] = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:')).map((l) => l.split(/\s+/));
  return Number(values![names!.indexOf('RcvbufErrors')]);
}

test('UDP: at most 16384 datagrams wait; beyond that new ones are dropped and counted, as a kernel would', async () => {
  const reserved = await reserveUdp(false, 29391, 29399);
  const { t } = table();
  t.offer(reserved, undefined);
  const fd = t.socket(HostFamily.INET, HostSocketType.DGRAM);
  t.bind(fd, HostFamily.INET, IP, reserved.port);
  const sender = dgram.createSocket('udp4');
  await new Promise<void>((r) => sender.bind(0, '127.0.0.1', r));
  const kernel0 = kernelDrops();
  const total = 16384 + 700;
  try {
    const payload = Buffer.alloc(8);
    for (let i = 0; i < total; i++) {
      payload.writeUInt32LE(i, 0);
      await new Promise((r) => sender.send(payload, reserved.port, '127.0.0.1', r));
      // A send's callback comes without a turn of the poll phase: give the receiver one before
      // the kernel's buffer (~270 small datagrams) fills (libuv reads 32 per wake).
      if (i % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    await sleep(300);
    const arrived = total - (kernelDrops() - kernel0);
    assert.ok(arrived > 16384, `only ${arrived} datagrams got past the kernel: the bound is not reached`);
    let queued = 0;
    let last = -1;
    let ordered = true;
    while (t.recvfrom(fd, BUF, 64, ADDR) === 8) {
      const n = memory[BUF]! | (memory[BUF + 1]! << 8) | (memory[BUF + 2]! << 16);
      if (n <= last) ordered = false;
      last = n;
      queued++;
    }
    // socket-table.ts: UDP_QUEUE_LIMIT = 16384 datagrams per socket.
    assert.is(queued, 16384, 'the queue holds its limit');
    assert.ok(ordered, 'in the order they arrived');
    assert.is(t.stats().udpDropped, arrived - 16384, 'the rest are counted as dropped');
  } finally {
    sender.close();
    t.close(fd);
  }
});

test.run();
