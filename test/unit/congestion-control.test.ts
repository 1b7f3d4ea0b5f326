// SPDX-License-Identifier: GPL-3.0-or-later
// The congestion controller of our net_crypto build (wasm/tt_cc.c), alone, against a simulated
// link with a simulated clock: a bottleneck of fixed capacity with a drop-tail queue,
// propagation delay, random loss, and confirmations that come back in batches (as toxcore's
// request packets do). Lost packets are resent when the receiver's next request reaches the
// sender, as in net_crypto. Deterministic: a seeded PRNG, 1 ms steps.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

interface Sim {
  sim_init(i: number, now: number): void;
  sim_restart(i: number, now: number): void;
  sim_update(i: number, now: number): void;
  sim_on_acked(i: number, count: number): void;
  sim_on_rtt(i: number, now: number, rtt: number): void;
  sim_on_resent(i: number, count: number): void;
  sim_on_refused(i: number): void;
  sim_on_written(i: number): void;
  sim_allowance(i: number): number;
  sim_tokens(i: number): number;
  sim_take(i: number, count: number): void;
  sim_rate(i: number): number;
}

const wasm = new WebAssembly.Instance(new WebAssembly.Module(readFileSync('build/wasm/tt_cc_sim.wasm')), {});
const cc = wasm.exports as unknown as Sim;

interface LinkSpec {
  /** Bottleneck capacity in packets per ms at time t. */
  capacity: (t: number) => number;
  /** One-way propagation delay, ms. */
  delayMs: number;
  /** Packets the bottleneck queue holds; more are dropped. */
  queueLimit: number;
  /** Random loss probability per packet. */
  loss: number;
  /** The receiver confirms what arrived every this many ms. */
  ackEveryMs: number;
  /** Packets each flow has to send (Infinity: always backlogged). */
  packets: number;
  flows: number;
  durationMs: number;
  /** At this ms every flow's connection moves to another path (tt_cc_restart). */
  restartAt?: number;
  /** Told of every group of new packets a flow sends in one iteration (1 ms step). */
  onSend?: (flow: number, t: number, count: number) => void;
}

interface FlowResult {
  /** Packets delivered in each ms (new and resent). */
  deliveredAt: Uint32Array;
  /** The ms at which the flow's last packet was delivered (when it had a finite amount). */
  doneAt: number | undefined;
}

interface SimResult {
  flows: FlowResult[];
  /** Per ms: mean time the packets served in that ms spent in the bottleneck queue. */
  queueDelayAt: Float64Array;
  /** Per ms: packets dropped at the full queue. */
  dropsAt: Uint32Array;
}

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function simulate(spec: LinkSpec, seed = 1): SimResult {
  const random = prng(seed);
  const queue: { flow: number; sentAt: number; resent: boolean; enqueuedAt: number }[] = [];
  let queueHead = 0;
  const acks = new Map<number, { flow: number; count: number; newest: number }[]>();
  const resends = new Map<number, { flow: number; count: number }[]>();
  const flows = Array.from({ length: spec.flows }, () => ({
    written: 0,
    resendReady: 0,
    delivered: 0,
    deliveredAt: new Uint32Array(spec.durationMs),
    doneAt: undefined as number | undefined,
  }));
  const queueDelayAt = new Float64Array(spec.durationMs);
  const dropsAt = new Uint32Array(spec.durationMs);
  for (let f = 0; f < spec.flows; f++) cc.sim_init(f, 0);
  // When the receiver's next request (sent every ackEveryMs) reaches the sender.
  const feedbackAt = (arrival: number) => Math.ceil(arrival / spec.ackEveryMs) * spec.ackEveryMs + spec.delayMs;
  const later = <T>(map: Map<number, T[]>, at: number, item: T) => {
    const list = map.get(at);
    if (list) list.push(item);
    else map.set(at, [item]);
  };
  let credit = 0;
  for (let t = 0; t < spec.durationMs; t++) {
    for (const ack of acks.get(t) ?? []) {
      cc.sim_on_acked(ack.flow, ack.count);
      if (ack.newest >= 0) cc.sim_on_rtt(ack.flow, t, t - ack.newest);
    }
    acks.delete(t);
    for (const r of resends.get(t) ?? []) flows[r.flow]!.resendReady += r.count;
    resends.delete(t);

    // The flows take turns in a rotating order: with a full drop-tail queue, the first to
    // send after the bottleneck frees a slot gets it, and a fixed order would lock the others out.
    if (t === spec.restartAt) for (let f = 0; f < spec.flows; f++) cc.sim_restart(f, t);
    for (let k = 0; k < spec.flows; k++) {
      const f = (k + t) % spec.flows;
      const flow = flows[f]!;
      cc.sim_update(f, t);
      const enqueue = (resent: boolean) => {
        if (queue.length - queueHead >= spec.queueLimit) {
          dropsAt[t]!++;
          later(resends, feedbackAt(t + spec.delayMs), { flow: f, count: 1 });
        } else {
          queue.push({ flow: f, sentAt: t, resent, enqueuedAt: t });
        }
      };
      // Resends first, from the same tokens (as in the patched send_crypto_packets).
      const resend = Math.min(flow.resendReady, cc.sim_tokens(f));
      if (resend > 0) {
        cc.sim_take(f, resend);
        cc.sim_on_resent(f, resend);
        flow.resendReady -= resend;
        for (let i = 0; i < resend; i++) enqueue(true);
      }
      const want = spec.packets - flow.written;
      const send = Math.min(want, cc.sim_allowance(f));
      if (send > 0) cc.sim_take(f, send);
      if (send > 0) spec.onSend?.(f, t, send);
      for (let i = 0; i < send; i++) {
        cc.sim_on_written(f);
        flow.written++;
        enqueue(false);
      }
      if (spec.packets - flow.written > 0) cc.sim_on_refused(f); // more to send than allowed
    }

    // The bottleneck serves capacity(t) packets per ms.
    credit += spec.capacity(t);
    let served = 0;
    let waited = 0;
    const batch = new Map<number, { count: number; newest: number }>();
    while (credit >= 1 && queueHead < queue.length) {
      credit--;
      const packet = queue[queueHead++]!;
      served++;
      waited += t - packet.enqueuedAt;
      if (random() < spec.loss) {
        later(resends, feedbackAt(t + spec.delayMs), { flow: packet.flow, count: 1 });
        continue;
      }
      const flow = flows[packet.flow]!;
      flow.deliveredAt[t]!++;
      flow.delivered++;
      if (flow.delivered === spec.packets) flow.doneAt = t + spec.delayMs;
      const b = batch.get(packet.flow) ?? { count: 0, newest: -1 };
      b.count++;
      if (!packet.resent) b.newest = Math.max(b.newest, packet.sentAt);
      batch.set(packet.flow, b);
    }
    if (queueHead === queue.length) {
      queue.length = 0;
      queueHead = 0;
      credit = Math.min(credit, 1); // an idle link does not bank capacity
    }
    if (served > 0) queueDelayAt[t] = waited / served;
    for (const [flow, b] of batch) later(acks, feedbackAt(t + spec.delayMs), { flow, ...b });
  }
  return { flows: flows.map((f) => ({ deliveredAt: f.deliveredAt, doneAt: f.doneAt })), queueDelayAt, dropsAt };
}

const sum = (a: ArrayLike<number>, from: number, to: number) => {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]!;
  return s;
};
const mean = (a: ArrayLike<number>, from: number, to: number) => sum(a, from, to) / (to - from);

/** 1.37 kB per packet (a full lossless packet): packets per ms for a rate in MB/s. */
const perMs = (megabytesPerSecond: number) => (megabytesPerSecond * 1e6) / 1373 / 1000;

test('a fresh connection moves its first 4 MB at >= 15 MB/s (issue 10) on a fast link', () => {
  const packets = Math.ceil(4e6 / 1373);
  const r = simulate({ capacity: () => perMs(40), delayMs: 1, queueLimit: 4000, loss: 0, ackEveryMs: 4, packets, flows: 1, durationMs: 2000 });
  const done = r.flows[0]!.doneAt;
  assert.ok(done !== undefined, 'all of it arrived');
  const mbps = 4e6 / 1e6 / (done! / 1000);
  assert.ok(mbps >= 15, `first 4 MB at ${mbps.toFixed(1)} MB/s`);
});

// A fresh connection often comes up through a TCP relay (~2 MB/s through tox-bootstrapd) and
// moves to direct UDP a second or two later. The rate learnt through the relay must not hold
// the direct path back: without a restart the controller climbs from it by PROBE's 1.25 gain
// once every 8 rounds (seconds), with one (net_crypto calls tt_cc_restart when the path
// becomes direct) it is at the new capacity within a few rounds.
test('after a move from a slow path to a fast one (relay -> UDP), a restart reaches the new capacity within 1 s', () => {
  const spec = { capacity: (t: number) => (t < 2000 ? perMs(2) : perMs(40)), delayMs: 1, queueLimit: 4000, loss: 0, ackEveryMs: 4, packets: Infinity, flows: 1, durationMs: 3000 };
  const restarted = mean(simulate({ ...spec, restartAt: 2000 }).flows[0]!.deliveredAt, 2000, 3000);
  const kept = mean(simulate(spec).flows[0]!.deliveredAt, 2000, 3000);
  const mbps = (perMsRate: number) => (perMsRate * 1373 * 1000) / 1e6;
  console.log(`  second after the move: ${mbps(restarted).toFixed(1)} MB/s with a restart, ${mbps(kept).toFixed(1)} MB/s without`);
  assert.ok(restarted >= 0.6 * perMs(40), `with a restart: ${mbps(restarted).toFixed(1)} MB/s of 40`);
  assert.ok(kept < 0.5 * restarted, `the restart is what makes the difference (${mbps(kept).toFixed(1)} MB/s without)`);
});

test('bulk converges to the bottleneck capacity without a standing queue or overflow', () => {
  const capacity = perMs(13.7); // 10 packets/ms
  const r = simulate({ capacity: () => capacity, delayMs: 10, queueLimit: 1000, loss: 0, ackEveryMs: 10, packets: Infinity, flows: 1, durationMs: 6000 });
  const rate = mean(r.flows[0]!.deliveredAt, 3000, 6000);
  assert.ok(rate >= 0.85 * capacity, `steady delivery ${rate.toFixed(2)} packets/ms of ${capacity}`);
  const delay = mean(r.queueDelayAt, 3000, 6000);
  assert.ok(delay <= 20, `mean queueing delay ${delay.toFixed(1)} ms (one 20 ms round trip at most)`);
  assert.is(sum(r.dropsAt, 3000, 6000), 0, 'no queue overflow once converged');
});

test('random loss is not congestion: 1 % loss keeps >= 70 % of capacity, 5 % keeps >= 50 %', () => {
  const capacity = perMs(13.7);
  for (const [loss, share] of [[0.01, 0.7], [0.05, 0.5]] as const) {
    const r = simulate({ capacity: () => capacity, delayMs: 10, queueLimit: 1000, loss, ackEveryMs: 10, packets: Infinity, flows: 1, durationMs: 6000 }, 7);
    const rate = mean(r.flows[0]!.deliveredAt, 2000, 6000);
    // Reno's ceiling at 1 % loss and 20 ms RTT is about 0.8 MB/s: 6 % of this link.
    assert.ok(rate >= share * capacity, `${loss * 100} % loss: ${rate.toFixed(2)} packets/ms of ${capacity}`);
  }
});

test('yields to real congestion: when capacity drops to a quarter, the queue drains within 2 s', () => {
  const high = perMs(27.4);
  const low = high / 4;
  const r = simulate({ capacity: (t) => (t < 3000 ? high : low), delayMs: 5, queueLimit: 2000, loss: 0, ackEveryMs: 5, packets: Infinity, flows: 1, durationMs: 8000 });
  const delay = mean(r.queueDelayAt, 5000, 8000);
  assert.ok(delay <= 20, `mean queueing delay ${delay.toFixed(1)} ms after the drop`);
  const rate = mean(r.flows[0]!.deliveredAt, 5000, 8000);
  assert.ok(rate >= 0.8 * low, `delivery ${rate.toFixed(2)} packets/ms of ${low.toFixed(2)} after the drop`);
  assert.ok(sum(r.dropsAt, 5000, 8000) <= 0.01 * sum(r.flows[0]!.deliveredAt, 5000, 8000), 'little overflow after the drop');
});

test('two connections through one bottleneck share it within 2:1', () => {
  const capacity = perMs(27.4);
  const r = simulate({ capacity: () => capacity, delayMs: 5, queueLimit: 2000, loss: 0, ackEveryMs: 5, packets: Infinity, flows: 2, durationMs: 10000 });
  const a = sum(r.flows[0]!.deliveredAt, 4000, 10000);
  const b = sum(r.flows[1]!.deliveredAt, 4000, 10000);
  assert.ok(Math.max(a, b) <= 2 * Math.min(a, b), `shares ${a} : ${b}`);
  assert.ok(a + b >= 0.85 * capacity * 6000, `together ${((a + b) / 6000).toFixed(2)} packets/ms of ${capacity.toFixed(2)}`);
});


// wasm/tt_cc.h TT_CC_WAKE_TOKENS: a backlogged connection sends new packets this many at a time.
const SEND_QUANTUM = 4;

test(`15 backlogged flows sharing ~10 MB/s, iterated every ms, send in groups of ${SEND_QUANTUM} (not one packet per iteration), and still fill the link`, () => {
  const groups: number[] = [];
  const capacity = perMs(10);
  const r = simulate({
    // A queue deep enough that nothing is dropped (groups are for paths without resends).
    capacity: () => capacity, delayMs: 1, queueLimit: 30000, loss: 0, ackEveryMs: 4, packets: Infinity, flows: 15, durationMs: 6000,
    onSend: (_flow, t, count) => {
      if (t >= 3000) groups.push(count);
    },
  });
  // Each flow's share is ~0.5 packets per ms: one packet per iteration if sent as tokens come.
  const single = groups.filter((g) => g < SEND_QUANTUM).length;
  assert.ok(groups.length > 0);
  assert.ok(single <= groups.length * 0.05, `${single} of ${groups.length} groups below ${SEND_QUANTUM} packets`);
  assert.is(sum(r.dropsAt, 0, 6000), 0, 'nothing dropped');
  const delivered = r.flows.reduce((n, f) => n + sum(f.deliveredAt, 3000, 6000), 0);
  assert.ok(delivered >= 0.9 * capacity * 3000, `delivered ${delivered} of ${Math.round(capacity * 3000)} packets the link could carry`);
});

test('a connection that is resending (5 % random loss, ~0.5 MB/s) does not hold new packets back for a group', () => {
  let small = 0;
  let all = 0;
  simulate({
    capacity: () => perMs(0.5), delayMs: 10, queueLimit: 30000, loss: 0.05, ackEveryMs: 10, packets: Infinity, flows: 1, durationMs: 4000,
    onSend: (_flow, t, count) => {
      if (t < 1000) return;
      all++;
      if (count < SEND_QUANTUM) small++;
    },
  }, 7);
  assert.ok(all > 0 && small > all * 0.2, `${small} of ${all} groups below ${SEND_QUANTUM} packets`);
});

test('a connection with nothing waiting sends a lone packet at once (a keystroke is not held for a group)', () => {
  const flow = 15; // a controller of its own
  cc.sim_init(flow, 0);
  for (let t = 0; t <= 2000; t += 100) cc.sim_update(flow, t); // idle: tokens fill, never refused
  assert.ok(cc.sim_allowance(flow) >= 1, 'allowed at once');
  cc.sim_take(flow, 1);
  cc.sim_on_written(flow);
  assert.ok(cc.sim_allowance(flow) >= 1, 'and the next one too (its tokens are full)');
});

test.run();
