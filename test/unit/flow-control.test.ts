// SPDX-License-Identifier: GPL-3.0-or-later
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AckCounter, SendWindow, SERVER_TUNNEL_IDS, TunnelIdAllocator } from '../../src/protocol/flow-control.ts';

test('the send window is 256 KiB, shrinks with sends, grows with incremental ACKs, saturates at 0', () => {
  const w = new SendWindow();
  assert.is(w.available(), 262144);
  w.onSent(262144 - 100);
  assert.is(w.available(), 100);
  w.onSent(100);
  assert.is(w.available(), 0);
  w.onAck(16384);
  assert.is(w.available(), 16384);
  w.onAck(16384);
  assert.is(w.available(), 32768);
  w.onAck(10_000_000); // an over-acknowledging peer cannot make the window larger than 256 KiB
  assert.is(w.available(), 262144);
  w.onAck(-5);
  w.onAck(Number.NaN);
  assert.is(w.unacknowledged, 0);
});

test('the receiver acknowledges every 16 KiB delivered, incrementally; a remainder stays unacknowledged', () => {
  const a = new AckCounter();
  assert.is(a.delivered(1367 * 11), undefined); // 15037
  assert.is(a.delivered(1367), 16404); // crosses 16384: ack the count, reset
  assert.is(a.delivered(1000), undefined);
  assert.is(a.delivered(20000), 21000);
  assert.is(a.delivered(5), undefined); // this remainder may never be acknowledged
});

test('client tunnel ids run 1..0x7FFF, wrap, and skip ids in use', () => {
  const ids = new TunnelIdAllocator();
  assert.is(ids.allocate(), 1);
  assert.is(ids.allocate(), 2);
  ids.release(1);
  for (let i = 3; i <= 0x7fff; i++) assert.is(ids.allocate(), i);
  assert.is(ids.allocate(), 1, 'wraps to 1 (never 0), skipping 2 which is in use');
  assert.is(ids.allocate(), undefined, 'all 32767 in use');
  ids.release(20000);
  assert.is(ids.allocate(), 20000);
});

test('server (reverse) tunnel ids run 0x8000..0xFFFF', () => {
  const ids = new TunnelIdAllocator(SERVER_TUNNEL_IDS);
  assert.is(ids.allocate(), 0x8000);
  for (let i = 0x8001; i <= 0xffff; i++) assert.is(ids.allocate(), i);
  assert.is(ids.allocate(), undefined);
  ids.release(0x8000);
  assert.is(ids.allocate(), 0x8000, 'never 0 or a client id');
});

test.run();
