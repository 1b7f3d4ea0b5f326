// SPDX-License-Identifier: GPL-3.0-or-later
// PeerLiveness on real timers (src/tunnel/liveness.ts): the check runs when something is due
// (a ping, the dead time, a probe), not on a fixed 500 ms beat that woke an idle process
// twice a second per friend. The rules themselves are tested with a fake clock in
// extensions.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PeerLiveness } from '../../src/tunnel/liveness.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a peer heard just now is not checked before its first ping is due; pings, the dead time and revival keep their times', async () => {
  const t0 = Date.now();
  const pings: number[] = [];
  const changes: Array<[string, number]> = [];
  const live = new PeerLiveness(() => pings.push(Date.now() - t0), (state) => changes.push([state, Date.now() - t0]), {
    pingAfterMs: 400,
    deadAfterMs: 1200,
    firstProbeMs: 300,
    maxProbeMs: 300,
  });
  let ticks = 0;
  const tick = live.tick.bind(live);
  live.tick = (now?: number) => {
    ticks++;
    tick(now);
  };
  live.start(t0);
  await sleep(370);
  // A fixed beat (the old one: pingAfterMs / 2 = 200 ms here) would have checked once by now.
  assert.is(ticks, 0, 'no check before the ping is due');
  await sleep(1000);
  // Silent peer: pings at 400 and 800 ms, unresponsive at 1200 ms, a probe 300 ms later.
  assert.ok(pings.length >= 2 && pings[0]! >= 400 && pings[0]! < 500 && pings[1]! >= 800 && pings[1]! < 950, `pings at ${pings.join(', ')} ms`);
  assert.is(changes[0]?.[0], 'unresponsive');
  assert.ok(changes[0]![1] >= 1200 && changes[0]![1] < 1350, `unresponsive at ${changes[0]![1]} ms`);
  assert.ok(ticks <= 6, `${ticks} checks in 1.37 s`);
  live.heard();
  assert.is(changes[1]?.[0], 'alive');
  const revived = Date.now() - t0;
  const pingsBefore = pings.length;
  await sleep(550);
  live.stop();
  const next = pings.slice(pingsBefore);
  assert.ok(next.length === 1 && next[0]! - revived >= 400 && next[0]! - revived < 520, `after revival at ${revived} ms: pings at ${next.join(', ')} ms`);
  const ticksAtStop = ticks;
  await sleep(450);
  assert.is(ticks, ticksAtStop, 'stop() ends the checks');
});

test('a peer that toxcore hears (its request packet each second) is not silent: no keepalive PINGs, only the round-trip one; silence below as well is still found', () => {
  // Driven by tick(now) alone (synchronous: the real timer cannot fire meanwhile).
  const t0 = Date.now();
  let below: number | undefined = 0; // when toxcore last heard the peer (ms from t0)
  const pings: number[] = [];
  const changes: string[] = [];
  let now = t0;
  const live = new PeerLiveness(() => pings.push(now - t0), (state) => changes.push(state), {
    pingAfterMs: 2000,
    deadAfterMs: 8000,
    rttEveryMs: 5000,
    heardAgo: () => (below === undefined ? undefined : now - t0 - below),
  });
  live.start(t0);
  // 60 s of an idle link: toxcore hears the peer every second; our ticks every 250 ms.
  for (let ms = 0; ms <= 60_000; ms += 250) {
    now = t0 + ms;
    if (ms % 1000 === 0) below = ms;
    live.tick(now);
  }
  // The round-trip PING only: first once the link had no traffic for pingAfterMs, then every
  // rttEveryMs (without heardAgo: a PING at every 2 s of silence as well, 30 in a minute).
  assert.equal(pings, [2000, 7000, 12000, 17000, 22000, 27000, 32000, 37000, 42000, 47000, 52000, 57000], 'one PING per rttEveryMs');
  assert.equal(changes, []);
  // Now toxcore hears nothing either (the peer vanished): PINGs after 2 s, unresponsive at 8 s.
  const quietFrom = 60_000;
  for (let ms = quietFrom + 250; ms <= quietFrom + 8000; ms += 250) {
    now = t0 + ms;
    live.tick(now);
  }
  assert.ok(pings.includes(quietFrom + 2000), `pings at ${pings.slice(-4).join(', ')}`);
  assert.equal(changes, ['unresponsive']);
  // toxcore hearing the peer again does not revive it: only a packet of ours does.
  below = quietFrom + 8000;
  now += 250;
  live.tick(now);
  assert.is(live.state, 'unresponsive');
  live.heard(now);
  assert.is(live.state, 'alive');
  live.stop();
});

test.run();
