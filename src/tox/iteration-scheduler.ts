// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * When to call tox_iterate. toxcore says how long it can wait (tox_iteration_interval); we
 * also iterate *at once* when there is work: a socket delivered data, or the application
 * queued packets. tuntox and the C++ toxtunnel sleep up to 50 ms between iterations, which is
 * where their 5–8 ms round trips come from; waking on I/O is what takes ours below 1 ms.
 *
 * Wakes are coalesced: any number of wake() calls before the next turn of the event loop
 * give one iteration (setImmediate runs after pending I/O callbacks, so a burst of datagrams
 * is drained by one tox_iterate).
 *
 * Idle: toxcore asks for an iteration every 50 ms (MIN_RUN_INTERVAL in Messenger.c) even when
 * nothing happens, though its own timers when idle are of seconds (DHT pings every 5 s,
 * net_crypto's request packet every 1 s, friend pings every 8 s). Twenty iterations a second
 * cost a connected, idle process about 1 % of a core. So, while the node is settled (every
 * friend connected: no connection being searched for, where those 50 ms steps matter) and an
 * iteration came from the timer rather than from work, the next one waits twice as long as
 * the last, up to IDLE_MAX_MS. Anything that wakes the node iterates at once as always.
 * What follows depends on what woke it:
 * - a net_crypto data datagram (wakeForPacket: on an idle link, the peer's request packet
 *   each second or a keepalive) is handled by that one iteration when toxcore is then quiet
 *   (owes no confirmation, misses no packet: tt_tox_quiet, patch 0012), and the stretch goes
 *   on; if not, toxcore's 50 ms follow-up serves the confirmation (0001: TT_ACK_MS after the
 *   packet came), and a timer iteration that still leaves toxcore owing (data arriving with a
 *   gap) ends the stretch. Each keepalive used to get that follow-up, and two of them within CLUSTER_MS
 *   (a PING and the PONG to ours cross often) started the stretch again from 50 ms: a settled
 *   pair iterated 5 to 6 times a second for 2 datagrams received;
 * - a handshake datagram (cookie, CRYPTO_HS: wakeForHandshake) starts toxcore's 50 ms rhythm
 *   again: toxcore does some of a handshake's steps at its next iteration rather than at once;
 * - anything else (TCP relay data, the application) gets toxcore's 50 ms follow-up once,
 *   then the stretch goes on where it was, unless sockets woke the node twice within
 *   CLUSTER_MS (a conversation).
 * Sustained work keeps the 50 ms rhythm by itself: it wakes the node (busy(), within()), and
 * toxcore's own short intervals end the stretch.
 * An interval below 50 ms from toxcore (more to send, wasm/tt_cc.c) is never stretched. Likewise DHT and
 * onion datagrams (most of an idle node's traffic: ~15 a second in a small network) wait up
 * to LAZY_WAKE_MS while settled; net_crypto's datagrams, which carry the tunnels, and TCP
 * relay data always wake at once, so a round trip stays below 1 ms.
 */
import { clearImmediate, clearTimeout, setImmediate, setTimeout } from 'node:timers';

/** toxcore's interval when it has nothing pending (Messenger.c MIN_RUN_INTERVAL). */
export const TOX_IDLE_INTERVAL_MS = 50;
/**
 * The longest an idle, settled node waits between iterations. toxcore's own idle timers are of
 * a second and more (net_crypto's request packet: CRYPTO_SEND_PACKET_INTERVAL 1 s; the peer
 * counts a direct path lost after UDP_DIRECT_TIMEOUT 8 s without one), and on a connected link
 * the peer's request packet wakes the node about once a second anyway.
 */
export const IDLE_MAX_MS = 2000;
/** Two wakes from sockets this close together end the stretch (IterationScheduler.wake). */
export const CLUSTER_MS = 300;
/** How long a settled node lets DHT and onion datagrams wait (they are answered in seconds). */
export const LAZY_WAKE_MS = 250;

/**
 * Datagrams a friend connection waits for (toxcore network.h): NET_PACKET_COOKIE_REQUEST 0x18,
 * COOKIE_RESPONSE 0x19, CRYPTO_HS 0x1a, CRYPTO_DATA 0x1b — net_crypto, which carries the
 * tunnels. The rest (DHT pings and node lists 0x00..0x04, NAT pings 0x20, onion and announce
 * 0x80..0x8e, ...) keep the network mapped on a scale of seconds.
 */
export function urgentDatagram(firstByte: number): boolean {
  return firstByte >= 0x18 && firstByte <= 0x1b;
}

/** What the scheduler needs of the host's clock and event loop (tests pass a fake clock). */
export interface SchedulerClock {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  setImmediate(run: () => void): unknown;
  clearImmediate(handle: unknown): void;
}

const HOST_CLOCK: SchedulerClock = {
  now: () => performance.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  setImmediate: (run) => setImmediate(run),
  clearImmediate: (handle) => clearImmediate(handle as ReturnType<typeof setImmediate>),
};

export class IterationScheduler {
  private timer: unknown;
  /** When the pending timer fires (clock.now() ms). */
  private timerDue = 0;
  private immediate: unknown;
  private running = false;
  /** The last timer interval while idle (0: not stretching). */
  private idleMs = 0;
  /** within() was asked since the last iteration: toxcore refused data for want of budget. */
  private sending = false;
  /** When a socket last woke the node (clock.now() ms). */
  private lastPeerWake = -Infinity;
  /** The pending immediate iteration was asked for by net_crypto data only (wakeForPacket). */
  private packetOnly = false;
  private readonly run = (): void => this.iterateNow(false);
  private readonly runTimer = (): void => this.iterateNow(true);

  /**
   * `iterate` runs one iteration and returns the milliseconds until the next is due;
   * `settled` says whether idle iterations may be stretched (asked only when they could be);
   * `quiet` whether toxcore owes no peer a confirmation and misses no packet (tt_tox_quiet).
   */
  constructor(
    private readonly iterate: () => number,
    private readonly settled: () => boolean = () => false,
    private readonly quiet: () => boolean = () => false,
    private readonly clock: SchedulerClock = HOST_CLOCK,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wake();
  }

  /**
   * Asks for an iteration as soon as the current callback returns. `fromPeer`: a socket
   * brought something (TCP data, a handshake datagram): a second such wake within
   * CLUSTER_MS of the last one means a conversation (a handshake, a transfer, a reconnect)
   * rather than an idle keepalive, and the settled node's stretch starts again from 50 ms,
   * since toxcore does some of a handshake's steps at its next iteration rather than at once.
   */
  wake(fromPeer = false): void {
    if (!this.running) return;
    this.packetOnly = false;
    if (this.immediate) return; // (datagrams of one burst count once)
    if (fromPeer) {
      const now = this.clock.now();
      if (now - this.lastPeerWake < CLUSTER_MS) this.idleMs = 0;
      this.lastPeerWake = now;
    }
    this.immediate = this.clock.setImmediate(this.run);
  }

  /**
   * A net_crypto data datagram arrived (CRYPTO_DATA: tunnel data, or on an idle link the peer's
   * request packet or a keepalive): iterate at once; when toxcore is quiet afterwards and
   * nothing else woke the node meanwhile, a settled node's stretch goes on without a follow-up.
   */
  wakeForPacket(): void {
    if (!this.running || this.immediate) return;
    this.packetOnly = true;
    this.immediate = this.clock.setImmediate(this.run);
  }

  /** A handshake datagram arrived (cookie, CRYPTO_HS): a connection is being made, iterate at toxcore's pace. */
  wakeForHandshake(): void {
    this.idleMs = 0;
    this.wake(true);
  }

  /**
   * A packet left at once, outside toxcore's congestion control (a PING, a PONG): an iteration
   * only while the node is not in its idle stretch (as after any send before). Idle, the packet
   * is on its way and toxcore has nothing to do for it.
   */
  sentUncontrolled(): void {
    if (this.idleMs === 0) this.wake();
  }

  /**
   * A datagram nobody waits for arrived (urgentDatagram): at once while the node is not
   * settled (a friend is being searched for through the DHT and onion), else within
   * LAZY_WAKE_MS, together with whatever else arrives meanwhile.
   */
  wakeLazily(): void {
    if (!this.running || this.immediate) return;
    if (this.timer && this.timerDue <= this.clock.now() + LAZY_WAKE_MS) return;
    if (!this.settled()) this.wake();
    else this.arm(LAZY_WAKE_MS);
  }

  /**
   * Asks for an iteration within `ms` (sooner than the pending timer, if that is later): after
   * toxcore refused a packet for want of send budget, the next budget is due then.
   */
  within(ms: number): void {
    // Data is waiting for send budget: the iterations that follow keep toxcore's pace (a
    // stretch would hold a transfer's start to one step per 800 ms).
    this.sending = true;
    this.arm(ms);
  }

  /**
   * Tunnel data went into toxcore's queue: an iteration at once, and the stretch starts again
   * from 50 ms, as after any wake before. toxcore paces a young connection at a few packets a
   * second (intervals of 50 ms and more, which the stretch would take for idleness).
   * Keepalives (PING/PONG) are not data (sentUncontrolled).
   */
  busy(): void {
    this.sending = true;
    this.wake();
  }

  private arm(ms: number): void {
    if (!this.running || this.immediate) return;
    const due = this.clock.now() + Math.max(1, ms);
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = this.clock.setTimeout(this.runTimer, Math.max(1, ms));
  }

  stop(): void {
    this.running = false;
    if (this.timer) this.clock.clearTimeout(this.timer);
    if (this.immediate) this.clock.clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  /** The interval of the timer currently pending, ms (for tests and diagnosis). */
  get idleIntervalMs(): number {
    return this.idleMs;
  }

  private iterateNow(byTimer: boolean): void {
    if (this.immediate) {
      // Work came in as well: this iteration serves it.
      this.clock.clearImmediate(this.immediate);
      byTimer = false;
    }
    this.immediate = undefined;
    const packetOnly = this.packetOnly && !byTimer;
    this.packetOnly = false;
    if (this.timer) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.running) return;
    const sendingBefore = this.sending;
    this.sending = false;
    const due = this.iterate();
    // (within() during this iteration, from a 'drain' listener: set for the next one as well)
    const sending = sendingBefore || this.sending;
    if (this.running && !this.immediate) {
      let ms = Math.max(1, Math.min(due, 1000));
      if (sending || due < TOX_IDLE_INTERVAL_MS || !this.settled() || (byTimer && !this.quiet())) {
        // (by the timer and still owing a confirmation or missing a packet: data is arriving,
        // toxcore asks for missing packets every 10 ms at its next iterations)
        this.idleMs = 0;
      } else if (byTimer) {
        this.idleMs = Math.min(IDLE_MAX_MS, Math.max(ms, this.idleMs * 2));
        ms = this.idleMs;
      } else if (packetOnly && this.idleMs > 0 && this.quiet()) {
        ms = this.idleMs; // a keepalive or request packet, handled: the stretch goes on
      } // else work woke a settled node: toxcore's interval once, then the stretch resumes
      if (this.timer) this.clock.clearTimeout(this.timer); // armed by within() during the iteration
      this.timerDue = this.clock.now() + ms;
      this.timer = this.clock.setTimeout(this.runTimer, ms);
    }
  }
}
