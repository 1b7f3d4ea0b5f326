// SPDX-License-Identifier: GPL-3.0-or-later
// One Tunnel's data path against a fake ToxNode (a FriendLink over it, on a fake clock) and
// in-memory streams: the send window, ACKs of flushed bytes, the receive limit, half-close,
// and SENDQ back-pressure. Expected values from ../shared/PROTOCOL.md "Flow control" and
// docs/protocol.md (WIDE_WINDOW, TUNNEL_FIN).
import { createHash } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePacket, type Frame } from '../../src/protocol/frame.ts';
import type { ToxNode } from '../../src/tox/tox-node.ts';
import { FriendLink } from '../../src/tunnel/friend-link.ts';
import { Tunnel } from '../../src/tunnel/tunnel.ts';

const KiB = 1024;
/** PROTOCOL.md: 256 KiB un-acknowledged, ACK at 16 KiB; docs/protocol.md WIDE_WINDOW: 2 MiB. */
const WINDOW = 256 * KiB;
const ACK_EVERY = 16 * KiB;
const WIDE_WINDOW = 2048 * KiB;
/** A lossless custom packet is at most 1373 bytes; DATA has a 1-byte id and 5-byte header. */
const MAX_PAYLOAD = 1373 - 6;
const ID = 7;

/** toxcore's side: takes `budget` packets, then answers SENDQ (no send budget). */
class FakeNode {
  budget = Infinity;
  readonly frames: Frame[] = [];
  sendLossless(_friend: number, packet: Uint8Array) {
    if (this.budget <= 0) return { ok: false as const, error: 'SENDQ' };
    this.budget--;
    const decoded = decodePacket(packet);
    if (!decoded.ok) throw new Error('the tunnel sent a packet that does not decode');
    this.frames.push(decoded.frame);
    return { ok: true as const };
  }
}

/** A local writer whose writes complete only when the test says so (a slow socket). */
class HeldWriter extends Writable {
  readonly held: Array<() => void> = [];
  written = 0;
  constructor() {
    super({ highWaterMark: 64 * 1024 * 1024 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.written += chunk.length;
    this.held.push(() => done());
  }
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.written += chunk.length;
    this.held.push(() => done());
  }
  release(): void {
    for (const done of this.held.splice(0)) done();
  }
}

interface Setup {
  node: FakeNode;
  link: FriendLink;
  tunnel: Tunnel;
  input: PassThrough;
  closed: Array<string | undefined>;
}

function setup(options: { halfClose?: boolean; wide?: boolean; output?: Writable; receiveLimitBytes?: number } = {}): Setup & { output: Writable } {
  const node = new FakeNode();
  let clock = 0;
  const link = new FriendLink(node as unknown as ToxNode, 0, () => {}, () => (clock += 1));
  const input = new PassThrough();
  const output = options.output ?? new PassThrough();
  const closed: Array<string | undefined> = [];
  const tunnel = new Tunnel(ID, input, output, link, { closed: (_t, error) => closed.push(error) }, 'open', {
    target: 'test',
    peerHalfClose: () => options.halfClose === true,
    wideWindow: () => options.wide === true,
    ...(options.receiveLimitBytes !== undefined ? { receiveLimitBytes: options.receiveLimitBytes } : {}),
  });
  return { node, link, tunnel, input, output, closed };
}

/** Lets streams and microtasks run. */
async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

const dataSent = (node: FakeNode) =>
  node.frames.flatMap((f) => (f.kind === 'data' && f.tunnelId === ID ? [f.payload] : []));
const bytesSent = (node: FakeNode) => dataSent(node).reduce((n, p) => n + p.length, 0);
const kinds = (node: FakeNode) => node.frames.map((f) => f.kind);
const pattern = (bytes: number, seed = 1) => Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff);
const hash = (parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

test('sends at most 256 KiB of DATA un-acknowledged, then exactly what each ACK frees', async () => {
  const { node, tunnel, input } = setup();
  input.write(pattern(600 * KiB));
  await settle();
  assert.is(bytesSent(node), WINDOW, 'a full window and no more');
  assert.ok(dataSent(node).every((p) => p.length > 0 && p.length <= MAX_PAYLOAD), 'every DATA fits one lossless packet');
  tunnel.receiveAck(ACK_EVERY);
  await settle();
  assert.is(bytesSent(node), WINDOW + ACK_EVERY, 'an incremental ACK of 16 KiB frees 16 KiB');
  tunnel.receiveAck(10 * WINDOW); // over-acknowledged: the count saturates at 0, the window is no larger
  await settle();
  assert.is(bytesSent(node), WINDOW + ACK_EVERY + WINDOW, 'in flight saturates at 0: one more window, not ten');
});

test('with WIDE_WINDOW the window is 2 MiB', async () => {
  const { node, input } = setup({ wide: true });
  input.write(pattern(3 * 1024 * KiB));
  await settle(20);
  assert.is(bytesSent(node), WIDE_WINDOW);
});

test('the receiver acknowledges bytes once its stream has flushed them, at 16 KiB, incrementally', async () => {
  const writer = new HeldWriter();
  const { node, tunnel } = setup({ output: writer });
  for (let i = 0; i < 20; i++) tunnel.receiveData(pattern(1000, i));
  await settle();
  assert.is(writer.written, 20_000, 'written to the local stream');
  assert.not.ok(node.frames.some((f) => f.kind === 'ack'), 'no ACK before the stream flushed');
  writer.release();
  await settle();
  assert.equal(
    node.frames.filter((f) => f.kind === 'ack'),
    [{ kind: 'ack', tunnelId: ID, bytesAcked: 20_000 }],
    'one ACK carrying the count (>= 16 KiB) delivered since the last',
  );
  for (let i = 0; i < 10; i++) tunnel.receiveData(pattern(1000, i)); // 10,000 < 16 KiB: stays unacknowledged
  await settle();
  writer.release();
  await settle();
  assert.is(node.frames.filter((f) => f.kind === 'ack').length, 1, 'a remainder below 16 KiB is not acknowledged yet');
  for (let i = 0; i < 7; i++) tunnel.receiveData(pattern(1000, i)); // 17,000 since the last ACK
  await settle();
  writer.release();
  await settle();
  assert.equal(node.frames.filter((f) => f.kind === 'ack').at(-1), { kind: 'ack', tunnelId: ID, bytesAcked: 17_000 });
});

test('a peer may fill the window; one that goes on without our ACKs fails the tunnel (bounded buffering)', async () => {
  const writer = new HeldWriter(); // nothing flushes: no ACK goes out
  const { node, tunnel, closed } = setup({ output: writer });
  let received = 0;
  while (received + MAX_PAYLOAD <= WINDOW) {
    tunnel.receiveData(pattern(MAX_PAYLOAD));
    received += MAX_PAYLOAD;
  }
  tunnel.receiveData(pattern(WINDOW - received));
  received = WINDOW;
  await settle();
  assert.is(tunnel.state, 'open', 'a full window from the peer is within the protocol');
  assert.equal(closed, []);
  while (tunnel.state === 'open' && received < WINDOW + 64 * KiB) {
    tunnel.receiveData(pattern(MAX_PAYLOAD));
    received += MAX_PAYLOAD;
  }
  assert.is(tunnel.state, 'closed', `failed within 64 KiB beyond the window (at ${received} bytes)`);
  assert.is(closed.length, 1);
  assert.match(closed[0] ?? '', /ignored flow control/);
  assert.ok(node.frames.some((f) => f.kind === 'close' && f.tunnelId === ID), 'the peer is told: CLOSE');
});

test('with WIDE_WINDOW the receiver accepts 2 MiB un-acknowledged', async () => {
  const writer = new HeldWriter();
  const { tunnel, closed } = setup({ output: writer, wide: true });
  for (let received = 0; received < WIDE_WINDOW; received += 1024) tunnel.receiveData(pattern(1024));
  await settle();
  assert.is(tunnel.state, 'open');
  assert.equal(closed, []);
});

test('an explicit receive limit (a peer without flow control) fails the tunnel one byte past it', async () => {
  const writer = new HeldWriter();
  const { tunnel, closed } = setup({ output: writer, receiveLimitBytes: 10_000 });
  tunnel.receiveData(pattern(10_000));
  assert.is(tunnel.state, 'open', 'the limit itself is allowed');
  tunnel.receiveData(pattern(1));
  assert.is(tunnel.state, 'closed');
  assert.match(closed[0] ?? '', /limit is 10000/);
});

test('half-close: our FIN follows all our DATA, the other direction keeps flowing, CLOSE after both FINs', async () => {
  const { node, tunnel, input, output } = setup({ halfClose: true });
  const sent = pattern(40 * KiB, 3);
  input.end(sent);
  await settle();
  assert.is(hash(dataSent(node)), hash([sent]), 'all data, once, in order');
  assert.is(kinds(node).at(-1), 'fin', 'FIN after the last DATA');
  assert.not.ok(kinds(node).includes('close'), 'no CLOSE while the peer may still send');
  assert.is(tunnel.state, 'open');

  const back: Buffer[] = [];
  let ended = false;
  output.on('data', (c: Buffer) => back.push(c));
  output.on('end', () => (ended = true));
  const reply = [pattern(3000, 4), pattern(2000, 5)];
  for (const r of reply) tunnel.receiveData(r);
  tunnel.receiveFin(); // in the same turn: written before the stream ends
  await settle();
  assert.is(hash(back), hash(reply), 'the reply arrives whole after our FIN');
  assert.ok(ended, "the peer's FIN ends our writing side");
  assert.is(kinds(node).at(-1), 'close', 'CLOSE once both sides sent FIN');
  assert.ok(kinds(node).indexOf('fin') < kinds(node).indexOf('close'));
  assert.is(tunnel.state, 'closed');
});

test("half-close: the peer's FIN first; we go on sending, then FIN and CLOSE; DATA after its FIN is ignored", async () => {
  const { node, tunnel, input, output, closed } = setup({ halfClose: true });
  const back: Buffer[] = [];
  let ended = false;
  output.on('data', (c: Buffer) => back.push(c));
  output.on('end', () => (ended = true));
  tunnel.receiveData(pattern(500, 6));
  tunnel.receiveFin();
  tunnel.receiveData(pattern(100, 7)); // after FIN: not part of the stream
  await settle();
  assert.ok(ended);
  assert.is(hash(back), hash([pattern(500, 6)]));
  const sent = pattern(20 * KiB, 8);
  input.end(sent);
  await settle();
  assert.is(hash(dataSent(node)), hash([sent]), 'our direction still flows after the peer finished');
  assert.equal(kinds(node).slice(-2), ['fin', 'close']);
  assert.equal(closed, [undefined], 'closed without an error');
});

test('half-close: FIN waits for the window like the DATA before it', async () => {
  const { node, tunnel, input } = setup({ halfClose: true });
  input.end(pattern(WINDOW + 1000));
  await settle();
  assert.is(bytesSent(node), WINDOW);
  assert.not.ok(kinds(node).includes('fin'), 'no FIN while 1000 bytes wait for the window');
  tunnel.receiveAck(ACK_EVERY);
  await settle();
  assert.is(bytesSent(node), WINDOW + 1000);
  assert.is(kinds(node).at(-1), 'fin');
});

test('without half-close the end of our input sends CLOSE after the data; the peer\'s CLOSE finishes', async () => {
  const { node, tunnel, input, output, closed } = setup({ halfClose: false });
  let ended = false;
  output.on('data', () => {});
  output.on('end', () => (ended = true));
  input.end(pattern(5000, 9));
  await settle();
  assert.is(bytesSent(node), 5000);
  assert.is(kinds(node).at(-1), 'close');
  assert.not.ok(kinds(node).includes('fin'));
  assert.is(tunnel.state, 'closing');
  tunnel.receiveClose();
  await settle();
  assert.is(tunnel.state, 'closed');
  assert.ok(ended);
  assert.equal(closed, [undefined]);
  assert.is(kinds(node).filter((k) => k === 'close').length, 1, 'no second CLOSE from us');
});

test('SENDQ: the tunnel stops reading at the link\'s high-water mark and resumes; every byte once, in order', async () => {
  const { node, link, tunnel, input } = setup();
  node.budget = 0;
  const chunks = Array.from({ length: 64 }, (_, i) => pattern(16 * KiB, i)); // 1 MiB
  let writable = true;
  for (const c of chunks) writable = input.write(c) && writable;
  await settle();
  assert.is(bytesSent(node), 0);
  const queued = () => Number(/link queue (\d+) bytes/.exec(link.describe())![1]);
  // docs/transport.md: a tunnel stops reading its socket above 128 KiB queued.
  assert.ok(queued() >= 128 * KiB && queued() <= 128 * KiB + MAX_PAYLOAD, `queued ${queued()} bytes`);
  assert.ok(input.isPaused(), 'the local stream is no longer read');
  let acked = 0;
  for (let round = 0; round < 2000 && bytesSent(node) < 1024 * KiB; round++) {
    node.budget = 7; // toxcore takes a few packets per iteration
    link.flush();
    const sent = bytesSent(node);
    if (sent - acked >= ACK_EVERY) {
      tunnel.receiveAck(sent - acked);
      acked = sent;
    }
    await settle(1);
    assert.ok(queued() <= 128 * KiB + MAX_PAYLOAD, 'the link queue stays bounded');
  }
  assert.is(hash(dataSent(node)), hash(chunks), '1 MiB through SENDQ refusals, intact');
});

test('8 tunnels of one friend starting together share the link within 2:1 from the first byte', async () => {
  // The bench's "8 streams" on a fake link: every tunnel has megabytes to send at once,
  // toxcore takes a few dozen packets per iteration (its congestion window), and the peer
  // acknowledges what was sent. Shares are compared at several points of the first 4 MB.
  const node = new FakeNode();
  let clock = 0;
  const link = new FriendLink(node as unknown as ToxNode, 0, () => {}, () => (clock += 1));
  const ids = [1, 2, 3, 4, 5, 6, 7, 8];
  const sentBy = new Map<number, number>(ids.map((id) => [id, 0]));
  const tunnels = ids.map((id) => {
    const input = new PassThrough();
    const tunnel = new Tunnel(id, input, new PassThrough(), link, { closed: () => {} }, 'open', { target: 'test', peerHalfClose: () => false });
    return { id, input, tunnel, acked: 0 };
  });
  node.budget = 48; // toxcore's window has room for a few dozen packets at first
  for (const t of tunnels) for (let i = 0; i < 16; i++) t.input.write(pattern(64 * KiB, t.id * 100 + i)); // 1 MiB each, a socket's reads
  await settle();
  const count = () => {
    for (const id of ids) sentBy.set(id, 0);
    for (const f of node.frames) if (f.kind === 'data') sentBy.set(f.tunnelId, sentBy.get(f.tunnelId)! + f.payload.length);
    return [...sentBy.values()];
  };
  const checkpoints = [512 * KiB, 1024 * KiB, 2048 * KiB, 4096 * KiB];
  const ratios: string[] = [];
  for (let round = 0; round < 20000 && checkpoints.length > 0; round++) {
    node.budget = 24; // per iteration
    link.flush();
    const shares = count();
    const total = shares.reduce((a, b) => a + b, 0);
    if (total >= checkpoints[0]!) {
      checkpoints.shift();
      const ratio = Math.max(...shares) / Math.max(1, Math.min(...shares));
      ratios.push(`${(total / KiB).toFixed(0)} KiB: ${ratio.toFixed(2)}:1`);
      assert.ok(ratio <= 2, `after ${total} bytes the shares are ${shares.join(' ')} (${ratio.toFixed(1)}:1)`);
    }
    // The peer acknowledges what it received (the window frees), as every 16 KiB.
    for (const t of tunnels) {
      const got = sentBy.get(t.id)!;
      if (got - t.acked >= ACK_EVERY) {
        t.tunnel.receiveAck(got - t.acked);
        t.acked = got;
      }
    }
    await settle(1);
  }
  assert.is(checkpoints.length, 0, `all checkpoints reached (${ratios.join(', ')})`);
});

test.run();
