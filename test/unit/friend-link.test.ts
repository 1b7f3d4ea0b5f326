// SPDX-License-Identifier: GPL-3.0-or-later
// FriendLink's scheduling against a fake ToxNode that accepts a given number of packets and
// then answers SENDQ, as toxcore does when its send budget is spent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePacket, encodePacket, type Frame } from '../../src/protocol/frame.ts';
import type { ToxNode } from '../../src/tox/tox-node.ts';
import { FriendLink } from '../../src/tunnel/friend-link.ts';

interface Sent {
  frame: Frame;
  uncontrolled: boolean;
}

class FakeNode {
  /** Packets toxcore takes before answering SENDQ (Infinity: all). */
  budget = Infinity;
  /** Answer this error instead (a friend that went offline). */
  failWith: string | undefined;
  readonly sent: Sent[] = [];

  sendLossless(_friend: number, packet: Uint8Array, options: { uncontrolled?: boolean } = {}) {
    if (this.failWith) return { ok: false as const, error: this.failWith };
    if (this.budget <= 0) return { ok: false as const, error: 'SENDQ' };
    this.budget--;
    const decoded = decodePacket(packet);
    if (!decoded.ok) throw new Error('the link sent a packet that does not decode');
    this.sent.push({ frame: decoded.frame, uncontrolled: options.uncontrolled === true });
    return { ok: true as const };
  }
}

function setup() {
  const node = new FakeNode();
  const failures: string[] = [];
  let clock = 0;
  const link = new FriendLink(node as unknown as ToxNode, 0, (reason) => failures.push(reason), () => clock);
  return { node, link, failures, advance: (ms: number) => (clock += ms) };
}

const data = (tunnelId: number, length: number, fill = tunnelId) =>
  encodePacket({ kind: 'data', tunnelId, payload: new Uint8Array(length).fill(fill & 0xff) });
const dataOf = (sent: Sent[], tunnelId: number) =>
  sent.filter((s) => s.frame.kind === 'data' && s.frame.tunnelId === tunnelId).map((s) => (s.frame as { payload: Uint8Array }).payload);

test('order within a tunnel survives SENDQ and flushes; nothing is lost or sent twice', () => {
  const { node, link } = setup();
  node.budget = 3;
  const payloads = Array.from({ length: 40 }, (_, i) => encodePacket({ kind: 'data', tunnelId: 5, payload: new Uint8Array([i, i, i]) }));
  for (const p of payloads) link.send(p);
  link.send(encodePacket({ kind: 'close', tunnelId: 5 }));
  for (let round = 0; round < 20; round++) {
    node.budget = 3;
    link.flush();
  }
  const frames = node.sent.map((s) => s.frame);
  assert.is(frames.length, 41);
  frames.slice(0, 40).forEach((f, i) => assert.equal(f, { kind: 'data', tunnelId: 5, payload: new Uint8Array([i, i, i]) }));
  assert.equal(frames[40], { kind: 'close', tunnelId: 5 }, 'CLOSE follows all of its data');
});

test('a keystroke on one tunnel goes before bulk data queued on another', () => {
  const { node, link } = setup();
  node.budget = 0;
  for (let i = 0; i < 100; i++) link.send(data(1, 1367));
  link.send(data(2, 1, 0x6b)); // refused too: it waits, but not behind tunnel 1
  node.budget = 1;
  link.flush();
  assert.is(node.sent.length, 1);
  assert.equal(node.sent[0]!.frame, { kind: 'data', tunnelId: 2, payload: new Uint8Array([0x6b]) });
  node.budget = Infinity;
  link.flush();
  assert.is(dataOf(node.sent, 1).length, 100);
});

test('a small frame is sent at once past queued bulk data when toxcore has room', () => {
  const { node, link } = setup();
  node.budget = 0;
  for (let i = 0; i < 10; i++) link.send(data(1, 1367));
  node.budget = 1;
  link.send(data(2, 1));
  assert.is(node.sent.length, 1);
  assert.equal(node.sent[0]!.frame, { kind: 'data', tunnelId: 2, payload: new Uint8Array([2]) });
});

test('bulk data of two tunnels is sent round-robin (fair shares), whatever the budget per flush', () => {
  const { node, link } = setup();
  node.budget = 0;
  for (let i = 0; i < 200; i++) link.send(data(1, 1367));
  for (let i = 0; i < 200; i++) link.send(data(2, 1367));
  for (const budget of [1, 2, 3, 5, 7, 11, 13, 1, 1, 17]) {
    node.budget = budget;
    link.flush();
    const a = dataOf(node.sent, 1).length;
    const b = dataOf(node.sent, 2).length;
    assert.ok(Math.abs(a - b) <= 1, `after ${node.sent.length} packets: ${a} vs ${b}`);
  }
});

test('ACKs overtake queued data; DATA never skips congestion control, control frames may', () => {
  const { node, link } = setup();
  node.budget = 0;
  link.send(data(1, 1367));
  link.sendUrgent(encodePacket({ kind: 'ack', tunnelId: 9, bytesAcked: 65536 }));
  node.budget = 2;
  link.flush();
  assert.equal(node.sent.map((s) => s.frame.kind), ['ack', 'data']);
  assert.ok(node.sent[0]!.uncontrolled, 'the ACK went outside congestion control');
  assert.not.ok(node.sent[1]!.uncontrolled, 'DATA did not');
  node.budget = 1;
  link.send(data(3, 10));
  assert.is(node.sent.length, 3);
  assert.not.ok(node.sent[2]!.uncontrolled, 'small DATA does not either');
});

test('a tunnel above its high-water mark stops reading, others do not; it resumes below half', () => {
  const { node, link } = setup();
  node.budget = 0;
  let writable = 0;
  link.onWritable(1, () => writable++);
  for (let i = 0; i < 100; i++) link.send(data(1, 1367)); // 136.8 kB: above 128 KiB
  assert.ok(link.congestedFor(1));
  assert.not.ok(link.congestedFor(2), 'another tunnel of the friend may still read');
  node.budget = 30;
  link.flush(); // 70 left: 95.7 kB, above half of 128 KiB
  assert.is(writable, 0);
  node.budget = 30;
  link.flush(); // 40 left: 54.7 kB
  assert.is(writable, 1);
  assert.not.ok(link.congestedFor(1));
});

test('a refusal other than SENDQ fails the friend (bytes could no longer arrive in order)', () => {
  const { node, link, failures } = setup();
  node.failWith = 'FRIEND_NOT_CONNECTED';
  link.send(data(1, 100));
  assert.is(failures.length, 1);
  assert.match(failures[0]!, /FRIEND_NOT_CONNECTED/);
});

test('the control-frame budget is bounded: beyond it control frames take the controlled path', () => {
  const { node, link } = setup();
  for (let i = 0; i < 200; i++) link.sendUrgent(encodePacket({ kind: 'ack', tunnelId: 1, bytesAcked: 1 }));
  const fast = node.sent.filter((s) => s.uncontrolled).length;
  assert.is(fast, 128, 'a burst of 128');
  assert.is(node.sent.length, 200, 'the rest went through congestion control');
});

test('clear() forgets everything queued', () => {
  const { node, link } = setup();
  node.budget = 0;
  for (let i = 0; i < 10; i++) link.send(data(1, 1367));
  link.sendUrgent(encodePacket({ kind: 'ack', tunnelId: 1, bytesAcked: 1 }));
  link.clear();
  node.budget = Infinity;
  link.flush();
  assert.is(node.sent.length, 0);
  assert.not.ok(link.congestedFor(1));
});

test('bulk shares are equal in bytes, not packets (deficit round-robin)', () => {
  const { node, link } = setup();
  node.budget = 0;
  for (let i = 0; i < 400; i++) link.send(data(1, 600)); // half-size packets
  for (let i = 0; i < 200; i++) link.send(data(2, 1367));
  for (let round = 0; round < 30; round++) {
    node.budget = 9;
    link.flush();
    const a = dataOf(node.sent, 1).reduce((n, p) => n + p.length, 0);
    const b = dataOf(node.sent, 2).reduce((n, p) => n + p.length, 0);
    // Within one turn (a full packet of 1373 bytes with its header) of each other.
    assert.ok(Math.abs(a - b) <= 1373, `after ${node.sent.length} packets: ${a} vs ${b} bytes`);
  }
});

test('with 8 tunnels queued each may queue only its share; the first to read cannot take them all', () => {
  const { node, link } = setup();
  node.budget = 0;
  let blocked = 0;
  for (let id = 1; id <= 8; id++) {
    let queued = 0;
    while (!link.congestedFor(id)) {
      link.send(data(id, 1367));
      queued += 1373;
    }
    blocked++;
    // A share is 512 KiB split among the tunnels with data, at most 128 KiB: the 8th tunnel
    // still gets 64 KiB (docs/transport.md), never nothing.
    assert.ok(queued >= 64 * 1024, `tunnel ${id} queued ${queued} bytes before it was stopped`);
  }
  assert.is(blocked, 8);
});

test.run();
