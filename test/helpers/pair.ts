// SPDX-License-Identifier: GPL-3.0-or-later
/** Two peers that befriend each other on loopback, each bootstrapping to the other. */
import { Peer, type PeerEvent, type Runtime } from './peer.ts';

export interface Pair {
  a: Peer;
  b: Peer;
  readyA: PeerEvent;
  readyB: PeerEvent;
  onlineAfterMs: number;
  stop(): void;
}

export async function befriendedPair(
  optionsA: Record<string, unknown>,
  optionsB: Record<string, unknown>,
  runtimes: [Runtime, Runtime] = ['node', 'node'],
  onlineWithinMs = 90_000,
): Promise<Pair> {
  const a = Peer.start(optionsA, runtimes[0]);
  const b = Peer.start(optionsB, runtimes[1]);
  const stop = () => {
    a.kill();
    b.kill();
  };
  try {
    const [readyA, readyB] = await Promise.all([a.ready(), b.ready()]);
    b.send({ cmd: 'acceptAll' });
    const started = Date.now();
    if (readyA.udpPort) b.send({ cmd: 'bootstrap', host: '127.0.0.1', port: readyA.udpPort, key: readyA.dhtId });
    if (readyB.udpPort) a.send({ cmd: 'bootstrap', host: '127.0.0.1', port: readyB.udpPort, key: readyB.dhtId });
    a.send({ cmd: 'add', toxId: readyB.address });
    await Promise.all([
      a.waitFor((e) => e.event === 'friend' && e.status !== 'none', onlineWithinMs, 'friend online at a'),
      b.waitFor((e) => e.event === 'friend' && e.status !== 'none', onlineWithinMs, 'friend online at b'),
    ]);
    return { a, b, readyA, readyB, onlineAfterMs: Date.now() - started, stop };
  } catch (error) {
    stop();
    throw error;
  }
}

/** Sends `bytes` from each side to the other at once; returns both sides' sent/received reports. */
export async function exchange(pair: Pair, bytes: number, withinMs: number) {
  const { a, b } = pair;
  const from = { a: a.events.length, b: b.events.length };
  a.send({ cmd: 'expect', bytes });
  b.send({ cmd: 'expect', bytes });
  a.send({ cmd: 'send', friend: 0, bytes, seed: 1234 });
  b.send({ cmd: 'send', friend: 0, bytes, seed: 98765 });
  const wait = (p: Peer, event: string, start: number) => p.waitFor((e) => e.event === event, withinMs, event, start);
  const [sentA, sentB, receivedA, receivedB] = await Promise.all([
    wait(a, 'sent', from.a),
    wait(b, 'sent', from.b),
    wait(a, 'received', from.a),
    wait(b, 'received', from.b),
  ]);
  return { sentA, sentB, receivedA, receivedB };
}
