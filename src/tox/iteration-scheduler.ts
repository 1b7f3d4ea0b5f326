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
 * the last, up to IDLE_MAX_MS. Anything that wakes the node iterates at once as always, and
 * the next iteration follows at toxcore's 50 ms (its 4 ms confirmations and 10 ms hole
 * requests after a burst are served by that timer, as before); after that the stretch goes on
 * where it was, unless sockets woke the node twice within CLUSTER_MS (a conversation). An idle
 * connection still wakes each end every second or so (net_crypto's
 * request packet each second, the tunnels' PING/PONG every 2 s): when each such wake started
 * the stretch again from 50 ms (50, 50, 100, 200, 400 ms), an idle process iterated about 8
 * times a second instead of 2 to 3. Sustained work keeps the 50 ms rhythm by itself: it wakes
 * the node, and toxcore's own short intervals end the stretch.
 * An interval below 50 ms from toxcore (more to send, wasm/tt_cc.c) is never stretched. Likewise DHT and
 * onion datagrams (most of an idle node's traffic: ~15 a second in a small network) wait up
 * to LAZY_WAKE_MS while settled; net_crypto's datagrams, which carry the tunnels, and TCP
 * relay data always wake at once, so a round trip stays below 1 ms.
 */
import { clearImmediate, setImmediate } from 'node:timers';

/** toxcore's interval when it has nothing pending (Messenger.c MIN_RUN_INTERVAL). */
export const TOX_IDLE_INTERVAL_MS = 50;
/** The longest an idle, settled node waits between iterations. */
export const IDLE_MAX_MS = 800;
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

export class IterationScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the pending timer fires (performance.now() ms). */
  private timerDue = 0;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private running = false;
  /** The last timer interval while idle (0: not stretching). */
  private idleMs = 0;
  /** within() was asked since the last iteration: toxcore refused data for want of budget. */
  private sending = false;
  /** When a socket last woke the node (performance.now() ms). */
  private lastPeerWake = -Infinity;
  private readonly run = (): void => this.iterateNow(false);
  private readonly runTimer = (): void => this.iterateNow(true);

  /**
   * `iterate` runs one iteration and returns the milliseconds until the next is due;
   * `settled` says whether idle iterations may be stretched (asked only when they could be).
   */
  constructor(
    private readonly iterate: () => number,
    private readonly settled: () => boolean = () => false,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wake();
  }

  /**
   * Asks for an iteration as soon as the current callback returns. `fromPeer`: a socket
   * brought something (a net_crypto datagram, TCP data): a second such wake within
   * CLUSTER_MS of the last one means a conversation (a handshake, a transfer, a reconnect)
   * rather than an idle keepalive, and the settled node's stretch starts again from 50 ms,
   * since toxcore does some of a handshake's steps at its next iteration rather than at once.
   */
  wake(fromPeer = false): void {
    if (!this.running || this.immediate) return; // (datagrams of one burst count once)
    if (fromPeer) {
      const now = performance.now();
      if (now - this.lastPeerWake < CLUSTER_MS) this.idleMs = 0;
      this.lastPeerWake = now;
    }
    this.immediate = setImmediate(this.run);
  }

  /**
   * A datagram nobody waits for arrived (urgentDatagram): at once while the node is not
   * settled (a friend is being searched for through the DHT and onion), else within
   * LAZY_WAKE_MS, together with whatever else arrives meanwhile.
   */
  wakeLazily(): void {
    if (!this.running || this.immediate) return;
    if (this.timer && this.timerDue <= performance.now() + LAZY_WAKE_MS) return;
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
   * Tunnel data went into toxcore's queue: the stretch starts again from 50 ms, as after any
   * wake before. toxcore paces a young connection at a few packets a second (intervals of 50 ms
   * and more, which the stretch would take for idleness). Keepalives (PING/PONG) are not data.
   */
  busy(): void {
    this.sending = true;
  }

  private arm(ms: number): void {
    if (!this.running || this.immediate) return;
    const due = performance.now() + Math.max(1, ms);
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(this.runTimer, Math.max(1, ms));
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
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
      clearImmediate(this.immediate);
      byTimer = false;
    }
    this.immediate = undefined;
    if (this.timer) {
      clearTimeout(this.timer);
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
      if (sending || due < TOX_IDLE_INTERVAL_MS || !this.settled()) {
        this.idleMs = 0;
      } else if (byTimer) {
        this.idleMs = Math.min(IDLE_MAX_MS, Math.max(ms, this.idleMs * 2));
        ms = this.idleMs;
      } // else work woke a settled node: toxcore's interval once, then the stretch resumes
      if (this.timer) clearTimeout(this.timer); // armed by within() during the iteration
      this.timerDue = performance.now() + ms;
      this.timer = setTimeout(this.runTimer, ms);
    }
  }
}
