// SPDX-License-Identifier: GPL-3.0-or-later
// tuntox framing against the golden vectors of ../shared/TUNTOX.md (§1, §2, §10), written out
// as the spec prints them; and the receive checks in the spec's order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeTuntox,
  encodeForwardId,
  encodeRequest,
  encodeTuntox,
  forwardIdOf,
  isTuntoxPacket,
  parseRequest,
  TUNTOX_PROBE,
  TuntoxType,
} from '../../src/tuntox/frame.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'));

test('golden vectors: PING "Hello", its PONG, TCP_FIN for 0x3420', () => {
  assert.is(hex(encodeTuntox(TuntoxType.PING, 0, new TextEncoder().encode('Hello'))), 'A2 6B 01 08 00 00 00 05 48 65 6C 6C 6F');
  assert.is(hex(TUNTOX_PROBE), 'A2 6B 01 08 00 00 00 05 48 65 6C 6C 6F');
  assert.is(hex(encodeTuntox(TuntoxType.PONG, 0, new TextEncoder().encode('Hello'))), 'A2 6B 01 00 00 00 00 05 48 65 6C 6C 6F');
  assert.is(hex(encodeTuntox(TuntoxType.TCP_FIN, 0x3420)), 'A2 6B 06 01 34 20 00 00');
});

test('golden vectors: REQUESTTUNNEL 127.0.0.1:22 with forward id 0x12345678, and its ACKTUNNEL', () => {
  assert.is(hex(encodeRequest(22, 0x12345678, '127.0.0.1')), 'A2 6B 06 02 00 16 00 0D 12 34 56 78 31 32 37 2E 30 2E 30 2E 31');
  assert.is(hex(encodeForwardId(TuntoxType.ACK_TUNNEL, 0x3420, 0x12345678)), 'A2 6B 06 10 34 20 00 04 12 34 56 78');
});

test('decoding the spec vectors gives their fields back', () => {
  const request = decodeTuntox(bytes('A2 6B 06 02 00 16 00 0D 12 34 56 78 31 32 37 2E 30 2E 30 2E 31'));
  assert.ok(request.ok);
  if (!request.ok) return;
  assert.is(request.frame.type, 0x0602);
  assert.is(request.frame.connid, 22);
  assert.equal(parseRequest(request.frame.data), { forwardId: 0x12345678, host: '127.0.0.1' });
  const ack = decodeTuntox(bytes('A2 6B 06 10 34 20 00 04 12 34 56 78'));
  assert.ok(ack.ok && ack.frame.type === 0x0610 && ack.frame.connid === 0x3420 && forwardIdOf(ack.frame.data) === 0x12345678);
  const fin = decodeTuntox(bytes('A2 6B 06 01 34 20 00 00'));
  assert.ok(fin.ok && fin.frame.type === 0x0601 && fin.frame.connid === 0x3420 && fin.frame.data.length === 0);
});

test('receive checks, in the spec order: length >= 8, magic, length <= present, length <= 1365', () => {
  const short = decodeTuntox(bytes('A2 6B 06 00 00 01 00'));
  assert.ok(!short.ok && /shorter than its 8-byte header/.test(short.reason));
  const v1 = decodeTuntox(bytes('A2 6A 01 08 00 00 00 00'));
  assert.ok(!v1.ok && /version 1/.test(v1.reason), 'V1 magic 0xA26A is dropped and named');
  const foreign = decodeTuntox(bytes('A0 6B 06 00 00 01 00 00'));
  assert.ok(!foreign.ok && /magic/.test(foreign.reason));
  const over = decodeTuntox(bytes('A2 6B 06 00 00 01 00 03 AA BB'));
  assert.ok(!over.ok && /exceeds the 2 data bytes/.test(over.reason));
  const big = new Uint8Array(8 + 1366);
  big.set(bytes('A2 6B 06 00 00 01 05 56'));
  const tooLong = decodeTuntox(big);
  assert.ok(!tooLong.ok && /exceeds 1365/.test(tooLong.reason));
  // Bytes after `length` are ignored.
  const trailing = decodeTuntox(bytes('A2 6B 06 00 00 01 00 01 AA BB CC'));
  assert.ok(trailing.ok && hex(trailing.frame.data) === 'AA');
  // 1365 is the largest payload, and encoding more is refused.
  const max = new Uint8Array(8 + 1365);
  max.set(bytes('A2 6B 06 00 00 01 05 55'));
  assert.ok(decodeTuntox(max).ok);
  assert.throws(() => encodeTuntox(TuntoxType.TCP, 1, new Uint8Array(1366)), /1366 data bytes exceed 1365/);
});

test('REQUESTTUNNEL data: the host stops at the first NUL; shorter than the forward id is refused', () => {
  assert.equal(parseRequest(bytes('00000001 6C6F63616C686F7374 00 6A756E6B')), { forwardId: 1, host: 'localhost' });
  assert.ok('problem' in parseRequest(bytes('000001')), 'length < 4 (a crash in tuntox) is refused');
  assert.ok('problem' in parseRequest(bytes('00000001')), 'empty host');
  assert.ok('problem' in parseRequest(bytes('00000001 61 0A 62')), 'control bytes');
});

test('telling tuntox packets from ours by their first bytes (§10)', () => {
  assert.ok(isTuntoxPacket(bytes('A26B0108')));
  assert.ok(isTuntoxPacket(bytes('A26A0108')), 'V1 is tuntox too (incompatible, but recognised)');
  assert.not.ok(isTuntoxPacket(bytes('A0100000')));
  assert.not.ok(isTuntoxPacket(bytes('A2')));
  assert.not.ok(isTuntoxPacket(bytes('A2000000')));
});

test.run();
