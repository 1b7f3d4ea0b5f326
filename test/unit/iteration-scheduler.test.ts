// SPDX-License-Identifier: GPL-3.0-or-later
// When tox_iterate runs (src/tox/iteration-scheduler.ts), with a stand-in for toxcore that
// records each call and answers an interval. Most tests run on a fake clock (timers and
// immediates in order, time moved by hand), so counts and gaps are exact; one runs on the real
// event loop. Work is served at once, idle iterations of a settled node stretch, toxcore's
// short intervals are kept, DHT/onion datagrams wait a little, and the keepalive traffic of a
// connected, idle link costs about one iteration per datagram received, no more.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLUSTER_MS, IDLE_MAX_MS, IterationScheduler, LAZY_WAKE_MS, type SchedulerClock, TOX_IDLE_INTERVAL_MS, urgentDatagram } from '../../src/tox/iteration-scheduler.ts';

/** Timers and immediates run in order as time is moved on (immediates before any later timer). */
class FakeClock implements SchedulerClock {
  t = 0;
  private seq = 0;
  private timers = new Map<number, { due: number; run: () => void }>();
  private immediates = new Map<number, () => void>();
  now = () => this.t;
  setTimeout = (run: () => void, ms: number) => {
    const id = ++this.seq;
    this.timers.set(id, { due: this.t + Math.max(1, ms), run });
    return id;
  };
  clearTimeout = (id: unknown) => void this.timers.delete(id as number);
  setImmediate = (run: () => void) => {
    const id = ++this.seq;
    this.immediates.set(id, run);
    return id;
  };
  clearImmediate = (id: unknown) => void this.immediates.delete(id as number);
  /** Runs what is due now: immediates, then timers due, then the immediates those queued. */
  private drain(): void {
    for (;;) {
      const [id, run] = this.immediates.entries().next().value ?? [];
      if (id !== undefined) {
        this.immediates.delete(id);
        run!();
        continue;
      }
      const next = [...this.timers.entries()].sort((a, b) => a[1].due - b[1].due || a[0] - b[0])[0];
      if (!next || next[1].due > this.t) return;
      this.timers.delete(next[0]);
      next[1].run();
    }
  }
  /** Moves time to `until`, running everything due on the way at its time. */
  advanceTo(until: number): void {
    this.drain();
    for (;;) {
      const next = [...this.timers.values()].reduce((m, x) => Math.min(m, x.due), Infinity);
      if (next > until) break;
      this.t = next;
      this.drain();
    }
    this.t = until;
    this.drain();
  }
  advance(ms: number): void {
    this.advanceTo(this.t + ms);
  }
}

function scheduler(due: number | ((t: number) => number), settled: boolean, quiet: () => boolean = () => true) {
  const clock = new FakeClock();
  const calls: number[] = [];
  const s = new IterationScheduler(
    () => {
      calls.push(clock.t);
      return typeof due === 'number' ? due : due(clock.t);
    },
    () => settled,
    quiet,
    clock,
  );
  const gaps = () => calls.slice(1).map((t, i) => t - calls[i]!);
  return { s, calls, clock, gaps };
}

test("an unsettled node iterates at toxcore's 50 ms, as toxcore asks", () => {
  const { s, calls, clock } = scheduler(50, false);
  s.start();
  clock.advanceTo(1000);
  assert.is(calls.length, 21); // 0, 50, ..., 1000
});

test('a settled, idle node stretches its iterations, doubling from 50 ms to one per IDLE_MAX_MS', () => {
  const { s, calls, clock, gaps } = scheduler(50, true);
  s.start();
  clock.advanceTo(60_000);
  // 0, toxcore's 50 ms once (start() is a wake), then 50, 100, 200, 400, 800, 1600, then
  // 2000 each (toxcore's own idle timers are of a second and more): 8 by 3200 ms, then one per 2 s.
  assert.equal(gaps().slice(0, 8), [50, 50, 100, 200, 400, 800, 1600, 2000]);
  assert.ok(gaps().slice(7).every((g) => g === IDLE_MAX_MS));
  assert.is(calls.length, 8 + Math.floor((60_000 - 3200) / IDLE_MAX_MS));
});

test('a wake during a stretched wait iterates at once (a round trip must not wait for the timer)', () => {
  const { s, calls, clock } = scheduler(50, true);
  s.start();
  clock.advanceTo(5000);
  const before = calls.length;
  s.wakeForPacket();
  clock.advance(0);
  assert.is(calls.length, before + 1);
  assert.is(calls.at(-1), 5000);
});

test('a connected, idle pair: each datagram received costs one iteration; a packet toxcore must confirm, one more 50 ms later', () => {
  // One side of a settled UDP link for a minute: the peer's request packet each second
  // (net_crypto: CRYPTO_SEND_PACKET_INTERVAL), a PING from the peer every 5 s (our PONG, sent
  // while handling it, confirms it: quiet), the PONG to our own PING every 5 s (confirmed at
  // the next iteration: not quiet until then), a DHT or onion datagram every 3 s.
  let owes = false;
  let owedSince = 0;
  const { s, calls, clock } = scheduler(
    (t) => {
      if (owes && t >= owedSince + 4) owes = false; // toxcore confirms at its first iteration TT_ACK_MS after
      return 50;
    },
    true,
    () => !owes,
  );
  s.start();
  clock.advanceTo(10_000); // stretched to IDLE_MAX_MS by now
  const start = calls.length;
  const served: number[] = [];
  const events: Array<[number, () => void]> = [];
  for (let t = 10_000; t < 70_000; t += 1000) events.push([t + 137, () => s.wakeForPacket()]);
  for (let t = 10_000; t < 70_000; t += 5000) {
    events.push([t + 2500, () => s.wakeForPacket()]); // the peer's PING
    events.push([
      t + 4400,
      () => {
        owes = true; // the PONG to ours: toxcore confirms it at its next iteration
        owedSince = clock.t;
        s.wakeForPacket();
      },
    ]);
  }
  for (let t = 10_000; t < 70_000; t += 3000) events.push([t + 900, () => s.wakeLazily()]);
  events.sort((a, b) => a[0] - b[0]);
  for (const [at, datagram] of events) {
    clock.advanceTo(at);
    const n = calls.length;
    datagram();
    clock.advance(0);
    if (calls.length > n) served.push(at);
    if (owes) {
      clock.advance(TOX_IDLE_INTERVAL_MS - 1);
      assert.is(calls.length, n + 1, 'the follow-up is not early');
      clock.advance(1);
      assert.is(calls.at(-1), at + TOX_IDLE_INTERVAL_MS, 'the confirmation is sent 50 ms later');
      assert.not.ok(owes);
    }
  }
  clock.advanceTo(70_000);
  const urgent = events.length - 20; // all but the 20 lazy datagrams
  // every net_crypto datagram served at once
  assert.is(served.length, urgent, 'every net_crypto datagram served at once, no DHT or onion one');
  const iterations = calls.length - start;
  // 60 request packets + 12 PINGs + 12 PONGs (+12 follow-ups) + at most 20 lazy: at most 116 in
  // 60 s, under 2 a second (it was 5 to 6 a second: a 50 ms follow-up after every datagram,
  // and the stretch started again from 50 ms whenever two came within CLUSTER_MS).
  assert.ok(iterations <= 116, `${iterations} iterations in 60 s`);
  assert.ok(iterations >= 96, `${iterations} iterations in 60 s`);
});

test('a keepalive that leaves toxcore owing a confirmation is followed up at 50 ms, then the stretch goes on', () => {
  let owes = false;
  const { s, calls, clock } = scheduler(50, true, () => !owes);
  s.start();
  clock.advanceTo(10_000);
  owes = true;
  s.wakeForPacket();
  clock.advance(0);
  owes = false;
  const woke = calls.at(-1)!;
  clock.advance(TOX_IDLE_INTERVAL_MS);
  assert.is(calls.at(-1), woke + TOX_IDLE_INTERVAL_MS);
  clock.advance(IDLE_MAX_MS);
  assert.is(calls.at(-1), woke + TOX_IDLE_INTERVAL_MS + IDLE_MAX_MS, 'no new climb from 50 ms');
});

test('data arriving with a gap (toxcore still misses a packet after the follow-up) ends the stretch: it asks again at its own pace', () => {
  let owes = false;
  const { s, calls, clock } = scheduler(50, true, () => !owes);
  s.start();
  clock.advanceTo(10_000);
  owes = true; // a data packet after a missing one: toxcore asks for it again every 10 ms
  s.wakeForPacket();
  clock.advance(0);
  const woke = calls.at(-1)!;
  clock.advance(300);
  assert.equal(calls.filter((t) => t >= woke), [woke, woke + 50, woke + 100, woke + 150, woke + 200, woke + 250, woke + 300]);
  owes = false; // the packet came: the stretch climbs again
  clock.advance(1000);
  assert.equal(calls.filter((t) => t > woke + 300), [woke + 350, woke + 400, woke + 500, woke + 700, woke + 1100]);
});

test("after a wake by the application, a settled node iterates once more at toxcore's 50 ms, then its stretched interval resumes", () => {
  const { s, calls, clock } = scheduler(50, true);
  s.start();
  clock.advanceTo(10_000);
  s.wake();
  clock.advance(0);
  const woke = calls.at(-1)!;
  clock.advance(TOX_IDLE_INTERVAL_MS + IDLE_MAX_MS);
  const after = calls.filter((t) => t >= woke);
  assert.equal(after, [woke, woke + TOX_IDLE_INTERVAL_MS, woke + TOX_IDLE_INTERVAL_MS + IDLE_MAX_MS]);
});

test('a handshake datagram (cookie, CRYPTO_HS) starts the 50 ms rhythm again: toxcore does some steps at its next iteration', () => {
  const { s, calls, clock } = scheduler(50, true);
  s.start();
  clock.advanceTo(10_000);
  s.wakeForHandshake();
  clock.advance(0);
  const woke = calls.at(-1)!;
  clock.advance(400);
  // the wake, then 50, 50, 100, 200 ms
  assert.equal(calls.filter((t) => t >= woke), [woke, woke + 50, woke + 100, woke + 200, woke + 400]);
});

test('two wakes from TCP sockets within CLUSTER_MS (a conversation through a relay) start the 50 ms rhythm again', () => {
  const { s, calls, clock } = scheduler(50, true);
  s.start();
  clock.advanceTo(10_000);
  s.wake(true);
  clock.advance(CLUSTER_MS - 200);
  s.wake(true);
  clock.advance(0);
  const second = calls.at(-1)!;
  clock.advance(400);
  assert.ok(calls.filter((t) => t >= second).length >= 4);
});

test("data waiting for send budget (within()) ends a settled node's stretch: a transfer's start is not held to one step per IDLE_MAX_MS", () => {
  const { s, calls, clock } = scheduler(50, true);
  s.start();
  clock.advanceTo(10_000);
  const asked = clock.t;
  s.within(50);
  clock.advance(400);
  assert.ok(calls.filter((t) => t >= asked).length >= 3);
});

test("toxcore's short intervals (more to send) are never stretched", () => {
  const { s, calls, clock } = scheduler(5, true);
  s.start();
  clock.advanceTo(500);
  assert.is(calls.length, 101);
});

test('DHT and onion datagrams: at once while unsettled, within 250 ms (together) while settled; net_crypto ones are urgent', () => {
  // toxcore network.h: 0x18..0x1b are NET_PACKET_COOKIE_REQUEST, COOKIE_RESPONSE, CRYPTO_HS, CRYPTO_DATA.
  assert.equal([0x18, 0x19, 0x1a, 0x1b].map(urgentDatagram), [true, true, true, true]);
  assert.equal([0x00, 0x01, 0x02, 0x04, 0x20, 0x80, 0x83, 0x84, 0x8e].map(urgentDatagram), Array(9).fill(false));

  const unsettled = scheduler(1000, false);
  unsettled.s.start();
  unsettled.clock.advanceTo(30);
  unsettled.s.wakeLazily();
  unsettled.clock.advance(0);
  assert.equal(unsettled.calls, [0, 30], 'served at once');

  const settled = scheduler(1000, true);
  settled.s.start();
  settled.clock.advanceTo(30);
  for (let i = 0; i < 5; i++) settled.s.wakeLazily();
  settled.clock.advance(LAZY_WAKE_MS - 1);
  assert.equal(settled.calls, [0], 'not at once');
  settled.clock.advance(1);
  assert.equal(settled.calls, [0, 30 + LAZY_WAKE_MS], 'five datagrams, one iteration');
});

test('a PING or PONG sent outside congestion control wakes no iteration while the node is idle, and one while it is not', () => {
  const idle = scheduler(50, true);
  idle.s.start();
  idle.clock.advanceTo(10_000);
  const n = idle.calls.length;
  idle.s.sentUncontrolled();
  idle.clock.advance(0);
  assert.is(idle.calls.length, n, 'the packet left already: nothing for toxcore to do');

  const busy = scheduler(50, false);
  busy.s.start();
  busy.clock.advanceTo(10);
  busy.s.sentUncontrolled();
  busy.clock.advance(0);
  assert.equal(busy.calls, [0, 10]);
});

test('stop() ends all iterations', () => {
  const { s, calls, clock } = scheduler(1, false);
  s.start();
  clock.advanceTo(20);
  s.stop();
  const n = calls.length;
  s.wake();
  s.wakeForPacket();
  s.wakeForHandshake();
  s.within(1);
  s.wakeLazily();
  clock.advance(50);
  assert.is(calls.length, n);
});

test('on the real event loop: a wake during a stretched wait is served within milliseconds, and the stretch holds between wakes', async () => {
  const calls: number[] = [];
  const s = new IterationScheduler(
    () => {
      calls.push(performance.now());
      return 50;
    },
    () => true,
    () => true,
  );
  s.start();
  await new Promise((r) => setTimeout(r, 1700)); // 0, 50, 150, 350, 750, 1550 ms: stretched
  const before = calls.length;
  const woke = performance.now();
  s.wakeForPacket();
  await new Promise((r) => setTimeout(r, 300));
  s.stop();
  assert.ok(before >= 4 && before <= 7, `${before} iterations in 1.7 s`);
  assert.is(calls.length, before + 1, 'one iteration for the packet, no follow-up');
  assert.ok(calls.at(-1)! - woke < 15, `served ${(calls.at(-1)! - woke).toFixed(1)} ms after the wake`);
});

test.run();
