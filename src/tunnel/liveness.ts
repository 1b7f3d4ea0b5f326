// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Application keepalive for one friend. toxcore notices a vanished friend only after about
 * 32 s; we notice in seconds. Any packet from the peer counts as a sign of life. When the
 * peer has been quiet for `pingAfterMs` we send a PING (base protocol: every peer, the C++
 * toxtunnel included, answers PONG); after `deadAfterMs` of silence the peer is declared
 * unresponsive, and from then on probed with PINGs at exponentially growing intervals
 * (1 s, 2 s, 4 s, … capped), until it answers again.
 */

export interface LivenessOptions {
  pingAfterMs?: number;
  deadAfterMs?: number;
  firstProbeMs?: number;
  maxProbeMs?: number;
  /**
   * Also PING this often while alive and without traffic for pingAfterMs, even when the peer
   * is heard (off when absent): the peer's own PINGs keep us from ever being silent, and each
   * side wants its own round trip. Never while data flows: a probe then measures queues, and
   * extra packets on a loaded relay path are the last thing it needs.
   */
  rttEveryMs?: number;
  /**
   * Milliseconds since the layer below last heard the peer (toxcore: any packet on the
   * friend's connection, such as the request packet a connected peer sends each second), or
   * undefined. Asked at each check while the peer is alive, before a PING for silence would go
   * out or the peer would be declared unresponsive: a peer heard there is not silent, so an idle link needs no PINGs to stay
   * alive (they were one each way every pingAfterMs, and the PONGs, waking both processes).
   * It never revives an unresponsive peer: only a packet of ours does (heard()).
   */
  heardAgo?: () => number | undefined;
}

/** The shortest wait between two checks (a moment just passed is checked this soon). */
const MIN_CHECK_MS = 50;

export type LivenessState = 'stopped' | 'alive' | 'unresponsive';

export class PeerLiveness {
  state: LivenessState = 'stopped';
  lastHeard = 0;
  /** When the friend came online (start()), 0 while stopped. */
  since = 0;
  /** The round trip of the last PING answered by a PONG (ms), undefined before the first. */
  rttMs: number | undefined;
  private lastPing = 0;
  private lastTraffic = 0;
  private pingOutstanding = false;
  private probeDelay: number;
  private nextProbe = 0;
  /** The next check, armed for the earliest moment tick() can have something to do. */
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly pingAfterMs: number;
  private readonly deadAfterMs: number;
  private readonly firstProbeMs: number;
  private readonly maxProbeMs: number;
  private readonly rttEveryMs: number | undefined;
  private readonly heardAgo: (() => number | undefined) | undefined;

  constructor(
    private readonly sendPing: () => void,
    private readonly changed: (state: 'alive' | 'unresponsive', silentMs: number) => void,
    options: LivenessOptions = {},
  ) {
    this.pingAfterMs = options.pingAfterMs ?? 2000;
    this.deadAfterMs = options.deadAfterMs ?? 8000;
    this.firstProbeMs = options.firstProbeMs ?? 1000;
    this.maxProbeMs = options.maxProbeMs ?? 30_000;
    this.rttEveryMs = options.rttEveryMs;
    this.heardAgo = options.heardAgo;
    this.probeDelay = this.firstProbeMs;
  }

  /** The friend came online (toxcore's view): start watching. */
  start(now = Date.now()): void {
    this.stop();
    this.state = 'alive';
    this.lastHeard = now;
    this.since = now;
    this.rttMs = undefined;
    this.lastPing = this.rttEveryMs === undefined ? 0 : now - this.rttEveryMs;
    this.lastTraffic = now;
    this.pingOutstanding = false;
    this.probeDelay = this.firstProbeMs;
    this.arm(now);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.state = 'stopped';
    this.since = 0;
  }

  /** A packet arrived from the peer. */
  heard(now = Date.now()): void {
    this.lastHeard = now;
    if (this.state === 'unresponsive') {
      this.state = 'alive';
      this.probeDelay = this.firstProbeMs;
      if (this.timer) this.arm(now); // the next probe may be far off; the next ping is not
      this.changed('alive', 0);
    }
  }

  /**
   * Arms the timer for the earliest moment tick() may act (a ping due, the dead time reached,
   * the next probe). This used to be a 500 ms interval per friend: two wakes a second of an
   * otherwise idle process, for each friend online. Packets that arrive meanwhile only move
   * these moments later: the timer then finds nothing to do and is armed again.
   */
  private arm(now: number): void {
    if (this.timer) clearTimeout(this.timer);
    let due: number;
    if (this.state === 'alive') {
      due = Math.min(this.lastHeard + this.deadAfterMs, Math.max(this.lastHeard, this.lastPing) + this.pingAfterMs);
      if (this.rttEveryMs !== undefined) due = Math.min(due, Math.max(this.lastPing + this.rttEveryMs, this.lastTraffic + this.pingAfterMs));
    } else {
      due = this.nextProbe;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'stopped') return;
      const at = Date.now();
      this.tick(at);
      if ((this.state as LivenessState) !== 'stopped' && !this.timer) this.arm(at);
    }, Math.max(MIN_CHECK_MS, due - now));
    this.timer.unref?.();
  }

  /** A packet other than PING/PONG arrived: the link carries traffic. */
  traffic(now = Date.now()): void {
    this.lastTraffic = now;
  }

  /** A PONG arrived: the round trip of the PING it answers (the latest one sent). */
  pong(now = Date.now()): void {
    if (this.pingOutstanding) this.rttMs = now - this.lastPing;
    this.pingOutstanding = false;
  }

  private ping(now: number): void {
    this.lastPing = now;
    this.pingOutstanding = true;
    this.sendPing();
  }

  /** One step of the watch (public for tests with a fake clock). */
  tick(now = Date.now()): void {
    if (this.state === 'alive' && this.heardAgo) {
      const ago = this.heardAgo();
      if (ago !== undefined && ago >= 0 && now - ago > this.lastHeard) this.lastHeard = now - ago;
    }
    const silent = now - this.lastHeard;
    if (this.state === 'alive') {
      if (silent >= this.deadAfterMs) {
        this.state = 'unresponsive';
        this.nextProbe = now + this.probeDelay;
        this.changed('unresponsive', silent);
      } else if (
        (silent >= this.pingAfterMs && now - this.lastPing >= this.pingAfterMs) ||
        (this.rttEveryMs !== undefined && now - this.lastPing >= this.rttEveryMs && now - this.lastTraffic >= this.pingAfterMs)
      ) {
        this.ping(now);
      }
    } else if (this.state === 'unresponsive' && now >= this.nextProbe) {
      this.ping(now);
      this.probeDelay = Math.min(this.probeDelay * 2, this.maxProbeMs);
      this.nextProbe = now + this.probeDelay;
    }
  }
}
