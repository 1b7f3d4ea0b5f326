// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * One read-only view of a running instance, for people and for monitoring: the Tox network
 * state, each friend (name, key, transport, online since, keepalive round trip, tunnels,
 * bytes) and the tunnel counters. `toxtunnel status`, `status --watch` and /metrics are made
 * from it; it reads the runtime and the stats and changes nothing.
 */
import type { Connection } from '../tox/tox-node.ts';
import type { ToxRuntime } from './tox-runtime.ts';
import type { TunnelStats } from './tunnel-stats.ts';

export interface FriendView {
  friend: number;
  /** 64 hex, upper case. */
  publicKey: string;
  name?: string;
  /** toxcore's view: none (offline), tcp (through a relay) or udp (direct). */
  connection: Connection;
  /** Our keepalive's view: alive, unresponsive, or stopped (offline). */
  keepalive: string;
  /** When the friend came online (ISO time), if it is. */
  onlineSince?: string;
  /** Round trip of the last keepalive PING (ms); measured when the link is idle. */
  rttMs?: number;
  tunnels: number;
  bytesIn: number;
  bytesOut: number;
  /** Bytes per second over the last second or so (in: from the friend, out: to it). */
  rateIn: number;
  rateOut: number;
}

export interface Observation {
  mode: 'server' | 'client';
  toxId: string;
  network: Connection;
  startedAt: string;
  uptimeSeconds: number;
  friends: FriendView[];
  tunnelsOpen: number;
  tunnelsOpenedTotal: number;
  bytesIn: number;
  bytesOut: number;
  rateIn: number;
  rateOut: number;
  errors: Record<string, number>;
}

/**
 * Current rates from byte counters: sample() every second or so keeps the two latest samples
 * per key; rate() is the difference over their interval (0 before two samples, or when the
 * counter went down, e.g. a friend removed and added again).
 */
export class RateMeter {
  private readonly samples = new Map<string, { previous: [number, number]; latest: [number, number] }>();

  sample(key: string, bytes: number, now = Date.now()): void {
    const entry = this.samples.get(key);
    if (!entry) this.samples.set(key, { previous: [now, bytes], latest: [now, bytes] });
    else {
      entry.previous = entry.latest;
      entry.latest = [now, bytes];
    }
  }

  rate(key: string): number {
    const entry = this.samples.get(key);
    if (!entry) return 0;
    const dt = entry.latest[0] - entry.previous[0];
    const db = entry.latest[1] - entry.previous[1];
    return dt > 0 && db > 0 ? (db * 1000) / dt : 0;
  }

  /** Samples every key again at `now` with its latest bytes (nothing moved since). */
  hold(now: number): void {
    for (const entry of this.samples.values()) {
      entry.previous = entry.latest;
      entry.latest = [now, entry.latest[1]];
    }
  }

  forget(keep: (key: string) => boolean): void {
    for (const key of this.samples.keys()) if (!keep(key)) this.samples.delete(key);
  }
}

/**
 * Samples an instance's counters into a RateMeter every second (unref'd: it keeps nothing
 * alive). `total` (all bytes in and out, cheap) lets an idle instance skip the full look, which
 * asks toxcore for every friend and its key: while it stays the same, every rate is 0 and
 * stays 0; when it moves, the keys are sampled once more at the last quiet tick, so the next
 * rate is over the last second, not over the whole quiet time.
 */
export function startRateSampling(meter: RateMeter, look: () => Observation, total?: () => number): () => void {
  let lastTotal: number | undefined;
  /** The last tick found nothing moved; quietAt: when it ran. */
  let quiet = false;
  let quietAt = 0;
  const tick = () => {
    const now = Date.now();
    if (total) {
      const bytes = total();
      if (bytes === lastTotal) {
        if (!quiet) meter.hold(now); // the rates of the last second are 0 from now on
        quiet = true;
        quietAt = now;
        return;
      }
      if (quiet) meter.hold(quietAt);
      quiet = false;
      lastTotal = bytes;
    }
    const seen = look();
    meter.sample('in', seen.bytesIn, now);
    meter.sample('out', seen.bytesOut, now);
    for (const f of seen.friends) {
      meter.sample(`${f.publicKey}:in`, f.bytesIn, now);
      meter.sample(`${f.publicKey}:out`, f.bytesOut, now);
    }
    const keys = new Set(seen.friends.flatMap((f) => [`${f.publicKey}:in`, `${f.publicKey}:out`]).concat(['in', 'out']));
    meter.forget((key) => keys.has(key));
  };
  tick();
  const timer = setInterval(tick, 1000);
  timer.unref?.();
  return () => clearInterval(timer);
}

/** A friend's name (rules file `name:` or whitelist), or undefined. */
export type FriendNames = (publicKey: string) => string | undefined;

export function observe(
  mode: 'server' | 'client',
  runtime: ToxRuntime,
  stats: TunnelStats,
  names: FriendNames,
  startedAt: number,
  rates?: RateMeter,
  now = Date.now(),
): Observation {
  const node = runtime.node;
  const friends = node.friends().map((friend): FriendView => {
    const publicKey = node.friendPublicKey(friend) ?? '';
    const session = runtime.sessions.get(friend);
    const liveness = session?.liveness;
    const name = names(publicKey);
    return {
      friend,
      publicKey,
      ...(name ? { name } : {}),
      connection: node.friendConnectionStatus(friend),
      keepalive: liveness?.state ?? 'stopped',
      ...(liveness?.since ? { onlineSince: new Date(liveness.since).toISOString() } : {}),
      ...(liveness?.rttMs !== undefined ? { rttMs: liveness.rttMs } : {}),
      ...stats.friend(publicKey),
      rateIn: rates?.rate(`${publicKey}:in`) ?? 0,
      rateOut: rates?.rate(`${publicKey}:out`) ?? 0,
    };
  });
  const snapshot = stats.snapshot();
  return {
    mode,
    toxId: node.address.text,
    network: node.connectionStatus,
    startedAt: new Date(startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.round((now - startedAt) / 1000)),
    friends,
    tunnelsOpen: snapshot.connectionsActive,
    tunnelsOpenedTotal: snapshot.connectionsTotal,
    bytesIn: snapshot.bytesIn,
    bytesOut: snapshot.bytesOut,
    rateIn: rates?.rate('in') ?? 0,
    rateOut: rates?.rate('out') ?? 0,
    errors: stats.errorsByKind(),
  };
}

/** "alice (1A2B3C4D…)" or "1A2B3C4D…": how a friend is shown to people. */
export function friendLabel(publicKey: string, name?: string): string {
  const short = `${publicKey.slice(0, 8)}…`;
  return name ? `${name} (${short})` : short;
}
