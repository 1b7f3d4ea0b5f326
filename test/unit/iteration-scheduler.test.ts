// SPDX-License-Identifier: GPL-3.0-or-later
// When tox_iterate runs (src/tox/iteration-scheduler.ts), with a stand-in for toxcore that
// records each call and answers an interval, on the real event loop (the scheduler is made of
// setImmediate and setTimeout): work is served at once, idle iterations of a settled node
// stretch, toxcore's short intervals are kept, DHT/onion datagrams wait a little.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IterationScheduler, urgentDatagram } from '../../src/tox/iteration-scheduler.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function scheduler(due: number, settled: boolean) {
  const calls: number[] = [];
  const s = new IterationScheduler(
    () => {
      calls.push(performance.now());
      return due;
    },
    () => settled,
  );
  return { s, calls };
}

test('an unsettled node iterates at toxcore\'s 50 ms, as toxcore asks', async () => {
  const { s, calls } = scheduler(50, false);
  s.start();
  await sleep(1000);
  s.stop();
  // 1 s / 50 ms = 20 (timers on a busy machine come late, never early)
  assert.ok(calls.length >= 12 && calls.length <= 21, `${calls.length} iterations`);
});

test('a settled, idle node stretches its iterations to at most one per 800 ms', async () => {
  const { s, calls } = scheduler(50, true);
  s.start();
  await sleep(3000);
  s.stop();
  // 0, 50, 100, 200, 400, 800, 800… : by 3 s at most 0+50+100+200+400+800+800 = 2350 → 7, +1 slack
  assert.ok(calls.length >= 4 && calls.length <= 8, `${calls.length} iterations`);
  const gaps = calls.slice(1).map((t, i) => t - calls[i]!);
  assert.ok(gaps.every((g) => g <= 800 + 200), `gaps ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
  assert.ok(Math.max(...gaps) >= 700, 'it does reach the long interval');
});

test('a wake during a stretched wait iterates at once (a round trip must not wait for the timer)', async () => {
  const { s, calls } = scheduler(50, true);
  s.start();
  await sleep(1700); // well into the stretched intervals
  const before = calls.length;
  const woke = performance.now();
  s.wake();
  await sleep(20);
  s.stop();
  assert.is(calls.length, before + 1);
  assert.ok(calls.at(-1)! - woke < 15, `served ${(calls.at(-1)! - woke).toFixed(1)} ms after the wake`);
});

test('after a wake, a settled node iterates once more at toxcore\'s 50 ms, then its stretched interval resumes (no new climb from 50 ms)', async () => {
  const { s, calls } = scheduler(50, true);
  s.start();
  await sleep(2400); // 0, 50, 100, 200, 400, 800 ms: the stretch is at its 800 ms
  const woke = performance.now();
  s.wake();
  await sleep(1100);
  s.stop();
  const after = calls.filter((t) => t >= woke);
  const gaps = after.slice(1).map((t, i) => t - after[i]!);
  // The wake, ~50 ms later the follow-up, then 800 ms (before: 50, 100, 200, 400 ms).
  assert.ok(after.length === 3, `${after.length} iterations in the 1.1 s after the wake; gaps ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
  assert.ok(gaps[0]! >= 45 && gaps[0]! < 200, `follow-up after ${gaps[0]!.toFixed(0)} ms`);
  assert.ok(gaps[1]! >= 700, `then ${gaps[1]!.toFixed(0)} ms`);
});

test('two wakes from sockets within 300 ms (a handshake, not a keepalive) start the 50 ms rhythm again', async () => {
  const { s, calls } = scheduler(50, true);
  s.start();
  await sleep(2400); // the stretch is at its 800 ms
  s.wake(true);
  await sleep(100);
  const second = performance.now();
  s.wake(true);
  await sleep(400);
  s.stop();
  const after = calls.filter((t) => t >= second);
  // The wake, then 50, 50, 100, 200 ms: by 400 ms at least 4 iterations (a resumed stretch: 2).
  assert.ok(after.length >= 4, `${after.length} iterations in the 400 ms after the second wake`);
});

test('data waiting for send budget (within()) ends a settled node\'s stretch: a transfer\'s start is not held to one step per 800 ms', async () => {
  const { s, calls } = scheduler(50, true);
  s.start();
  await sleep(2400); // the stretch is at its 800 ms
  const asked = performance.now();
  s.within(50);
  await sleep(400);
  s.stop();
  const after = calls.filter((t) => t >= asked);
  // 50 ms (the budget), then 50, 50, 100 ms: 3 or more by 400 ms (stretched: 1).
  assert.ok(after.length >= 3, `${after.length} iterations in the 400 ms after within(50)`);
});

test('toxcore\'s short intervals (more to send) are never stretched', async () => {
  const { s, calls } = scheduler(5, true);
  s.start();
  await sleep(500);
  s.stop();
  assert.ok(calls.length >= 40, `${calls.length} iterations in 500 ms at 5 ms intervals`);
});

test('DHT and onion datagrams: at once while unsettled, within 250 ms (together) while settled; net_crypto ones are urgent', async () => {
  // toxcore network.h: 0x18..0x1b are NET_PACKET_COOKIE_REQUEST, COOKIE_RESPONSE, CRYPTO_HS, CRYPTO_DATA.
  assert.equal([0x18, 0x19, 0x1a, 0x1b].map(urgentDatagram), [true, true, true, true]);
  assert.equal([0x00, 0x01, 0x02, 0x04, 0x20, 0x80, 0x83, 0x84, 0x8e].map(urgentDatagram), Array(9).fill(false));

  const unsettled = scheduler(1000, false);
  unsettled.s.start();
  await sleep(30);
  let t = performance.now();
  unsettled.s.wakeLazily();
  await sleep(10);
  unsettled.s.stop();
  assert.is(unsettled.calls.length, 2, 'served at once');
  assert.ok(unsettled.calls[1]! - t < 10);

  const settled = scheduler(1000, true);
  settled.s.start();
  await sleep(30);
  t = performance.now();
  for (let i = 0; i < 5; i++) settled.s.wakeLazily();
  await sleep(100);
  assert.is(settled.calls.length, 1, 'not at once');
  await sleep(250);
  settled.s.stop();
  assert.is(settled.calls.length, 2, 'five datagrams, one iteration');
  assert.ok(settled.calls[1]! - t >= 240 && settled.calls[1]! - t <= 350, `${(settled.calls[1]! - t).toFixed(0)} ms`);
});

test('stop() ends all iterations', async () => {
  const { s, calls } = scheduler(1, false);
  s.start();
  await sleep(20);
  s.stop();
  const n = calls.length;
  s.wake();
  s.within(1);
  s.wakeLazily();
  await sleep(50);
  assert.is(calls.length, n);
});

test.run();
