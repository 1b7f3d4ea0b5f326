// SPDX-License-Identifier: GPL-3.0-or-later
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePacket, encodePacket, type Frame, MAX_DATA_PAYLOAD } from '../../src/protocol/frame.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'));

test('byte layouts match PROTOCOL.md exactly', () => {
  // OPEN tunnel 1 to "127.0.0.1":22 — A0 | 01 | 0001 | 000c | 09 "127.0.0.1" 0016
  assert.is(hex(encodePacket({ kind: 'open', tunnelId: 1, host: '127.0.0.1', port: 22 })), 'a0' + '01' + '0001' + '000c' + '09' + Buffer.from('127.0.0.1').toString('hex') + '0016');
  assert.is(hex(encodePacket({ kind: 'data', tunnelId: 0x1234, payload: bytes('cafe') })), 'a002' + '1234' + '0002' + 'cafe');
  assert.is(hex(encodePacket({ kind: 'close', tunnelId: 7 })), 'a00300070000');
  assert.is(hex(encodePacket({ kind: 'ack', tunnelId: 7, bytesAcked: 16384 })), 'a00400070004' + '00004000');
  assert.is(hex(encodePacket({ kind: 'error', tunnelId: 9, code: 3, description: 'Tunnel limit exceeded' })), 'a0050009' + '0016' + '03' + Buffer.from('Tunnel limit exceeded').toString('hex'));
  assert.is(hex(encodePacket({ kind: 'ping' })), 'a01000000000');
  assert.is(hex(encodePacket({ kind: 'pong' })), 'a01100000000');
});

test('every frame kind round-trips', () => {
  const frames: Frame[] = [
    { kind: 'open', tunnelId: 65535, host: 'ümlaut.example', port: 65535 },
    { kind: 'data', tunnelId: 2, payload: new Uint8Array(MAX_DATA_PAYLOAD).fill(5) },
    { kind: 'close', tunnelId: 3 },
    { kind: 'ack', tunnelId: 4, bytesAcked: 0xffffffff },
    { kind: 'error', tunnelId: 5, code: 1, description: 'Access denied' },
    { kind: 'ping' },
    { kind: 'pong' },
  ];
  for (const frame of frames) {
    const decoded = decodePacket(encodePacket(frame));
    assert.ok(decoded.ok, frame.kind);
    if (decoded.ok) assert.equal(decoded.frame, frame);
  }
});

test('encoding refuses frames the protocol forbids', () => {
  assert.throws(() => encodePacket({ kind: 'data', tunnelId: 1, payload: new Uint8Array(MAX_DATA_PAYLOAD + 1) }), /DATA payload/);
  assert.throws(() => encodePacket({ kind: 'data', tunnelId: 1, payload: new Uint8Array(0) }), /DATA payload/);
  assert.throws(() => encodePacket({ kind: 'open', tunnelId: 1, host: 'x'.repeat(256), port: 1 }), /host/);
  assert.throws(() => encodePacket({ kind: 'open', tunnelId: 1, host: 'x', port: 0 }), /port/);
  assert.throws(() => encodePacket({ kind: 'close', tunnelId: 70000 }), /tunnel id/);
});

function bad(h: string) {
  const r = decodePacket(bytes(h));
  assert.not.ok(r.ok, h);
  return r as { ok: false; action: string; tunnelId: number; reason: string };
}

test('strict decoding: drop what is not ours, reject what is malformed', () => {
  assert.is(bad('a0010001').action, 'drop'); // shorter than a header
  assert.is(bad('a1 02 0001 0001 ff').action, 'drop'); // not 0xA0
  const overrun = bad('a0 02 0005 0010 aabb');
  assert.is(overrun.action, 'reject');
  assert.is(overrun.tunnelId, 5);
  assert.match(overrun.reason, /exceeds/);
  assert.match(bad('a0 01 0001 0005 09 3132 0016').reason, /overruns/); // host_len 9, 2 bytes
  assert.match(bad('a0 01 0001 0005 02 6100 0016').reason, /control/); // "a\0"
  assert.match(bad('a0 01 0001 0004 01 61 0000').reason, /port 0/);
  assert.match(bad('a0 04 0001 0002 0000').reason, /ACK payload/);
  assert.match(bad('a0 02 0001 0000').reason, /without payload/);
  const unknown = bad('a0 7f 0003 0000');
  assert.is(unknown.action, 'drop');
  assert.match(unknown.reason, /unknown frame type 0x7f/);
});

test('trailing bytes after the payload are ignored (tolerant, as the existing implementation)', () => {
  const r = decodePacket(bytes('a0 03 0002 0000 deadbeef'));
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.frame, { kind: 'close', tunnelId: 2 });
});

test('20,000 random and mutated packets never throw and stay within the packet', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 0x1000000;
  const valid = [
    encodePacket({ kind: 'open', tunnelId: 1, host: 'example.com', port: 443 }),
    encodePacket({ kind: 'data', tunnelId: 2, payload: new Uint8Array(100).fill(1) }),
    encodePacket({ kind: 'ack', tunnelId: 3, bytesAcked: 16384 }),
    encodePacket({ kind: 'error', tunnelId: 4, code: 2, description: 'DNS resolution failed: x' }),
  ];
  for (let i = 0; i < 20_000; i++) {
    let packet: Uint8Array;
    if (i % 2) {
      packet = Uint8Array.from({ length: Math.floor(rand() * 1400) }, () => Math.floor(rand() * 256));
      if (packet.length) packet[0] = 0xa0;
    } else {
      packet = valid[i % valid.length]!.slice();
      for (let m = 0; m < 3; m++) packet[Math.floor(rand() * packet.length)] = Math.floor(rand() * 256);
      if (rand() < 0.3) packet = packet.subarray(0, Math.floor(rand() * packet.length));
    }
    const r = decodePacket(packet);
    if (r.ok && r.frame.kind === 'data') assert.ok(r.frame.payload.buffer === packet.buffer && r.frame.payload.length <= packet.length);
  }
});

test.run();
