// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The packet path to one friend. Every frame travels in one Tox lossless packet; toxcore may
 * refuse a packet with SENDQ (its send queue or rate limit is full). We never drop: refused
 * packets wait here, in order, and go out when the node signals 'drain'. Tunnels stop
 * reading their TCP sockets while this queue is above its high-water mark ({@link congested})
 * and are told when it has room again.
 *
 * Small frames (control frames, ACKs, PONGs, small DATA) skip toxcore's congestion control
 * when nothing is queued ahead of them, within a budget of their own: after a quiet period
 * toxcore's send budget refills at 4 packets/s, which would add up to hundreds of
 * milliseconds to opening a tunnel or to the first keystroke of an SSH session. Order is
 * kept: both paths append to the same toxcore stream, and a frame only skips when our queue
 * is empty (ACK and PONG may overtake data anyway).
 */
import type { ToxNode } from '../tox/tox-node.ts';

/** Queued bytes above which tunnels stop reading (resumed below half of it). */
const HIGH_WATER_BYTES = 256 * 1024;
/**
 * Tunnels stop at HIGH_WATER_BYTES, so only a peer that makes us answer a flood of requests
 * while taking none of our packets can queue this much: its tunnels fail and the queue goes.
 */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** Frames up to this size may skip toxcore's congestion control (see above). */
const SMALL_PACKET_BYTES = 256;
/** The skip budget: a burst of this many, refilled at UNCONTROLLED_PER_SECOND. */
const UNCONTROLLED_BURST = 128;
const UNCONTROLLED_PER_SECOND = 2000;
/** Urgent packets queued above which best-effort replies are dropped. */
const MAX_BEST_EFFORT_QUEUED = 256;

export class FriendLink {
  /** ACK and PONG frames: they overtake queued data (never a CLOSE, which must follow its data). */
  private readonly urgent: Uint8Array[] = [];
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;
  private wasCongested = false;
  /** Best-effort replies dropped because the link was full. */
  droppedReplies = 0;
  /** Packets sent outside toxcore's congestion control. */
  uncontrolledSent = 0;
  private budget = UNCONTROLLED_BURST;
  private budgetAt = performance.now();
  private readonly writableListeners = new Set<() => void>();

  /**
   * `undeliverable` is told when toxcore refuses a packet for good (the friend is not
   * connected): the caller must fail its tunnels, since bytes can no longer arrive in order.
   */
  constructor(
    private readonly node: ToxNode,
    readonly friendNumber: number,
    private readonly undeliverable: (reason: string) => void,
    /** Rewrites each packet before it is sent (tuntox peers: src/tuntox/translator.ts). */
    private readonly transform?: (packet: Uint8Array) => Uint8Array[],
  ) {}

  /** Sends now, or queues behind earlier packets. */
  send(packet: Uint8Array): void {
    if (this.transform) for (const each of this.transform(packet)) this.sendOne(each);
    else this.sendOne(packet);
  }

  private sendOne(packet: Uint8Array): void {
    if (this.isIdle() && this.trySend(packet, packet.length <= SMALL_PACKET_BYTES)) return;
    if (this.queuedBytes + packet.length > MAX_QUEUED_BYTES) {
      this.undeliverable(`the friend takes none of our packets (${MAX_QUEUED_BYTES >> 20} MiB queued)`);
      return;
    }
    this.queue.push(packet);
    this.queuedBytes += packet.length;
    if (this.queuedBytes >= HIGH_WATER_BYTES) this.wasCongested = true;
  }

  /**
   * For answers to what the peer sent unasked (PONG, ERROR for a malformed frame): sent if the
   * link has room, else dropped — a peer flooding us must not grow our queues.
   */
  sendBestEffort(packet: Uint8Array): void {
    if (this.congested || this.urgent.length >= MAX_BEST_EFFORT_QUEUED) {
      this.droppedReplies++;
      return;
    }
    this.sendUrgent(packet);
  }

  /** Sends now, or ahead of queued data (for frames whose order against data does not matter). */
  sendUrgent(packet: Uint8Array): void {
    for (const each of this.transform ? this.transform(packet) : [packet]) {
      if (this.urgent.length === 0 && this.trySend(each, true)) continue;
      this.urgent.push(each);
    }
  }

  private isIdle(): boolean {
    return this.urgent.length === 0 && this.head === this.queue.length;
  }

  /** One packet from the skip budget, if there is one left. */
  private takeBudget(): boolean {
    const now = performance.now();
    this.budget = Math.min(UNCONTROLLED_BURST, this.budget + ((now - this.budgetAt) * UNCONTROLLED_PER_SECOND) / 1000);
    this.budgetAt = now;
    if (this.budget < 1) return false;
    this.budget--;
    return true;
  }

  /**
   * true: sent (or dropped as undeliverable); false: SENDQ, keep it. `small`: the packet may
   * skip toxcore's congestion control (budget permitting).
   */
  private trySend(packet: Uint8Array, small = false): boolean {
    if (small && this.takeBudget()) {
      const fast = this.node.sendLossless(this.friendNumber, packet, { uncontrolled: true });
      if (fast.ok) {
        this.uncontrolledSent++;
        return true;
      }
      if (fast.error !== 'SENDQ') {
        this.undeliverable(`toxcore refused a packet: ${fast.error}`);
        return true;
      }
    }
    const result = this.node.sendLossless(this.friendNumber, packet);
    if (result.ok) return true;
    if (result.error === 'SENDQ') return false;
    this.undeliverable(`toxcore refused a packet: ${result.error}`);
    return true;
  }

  /** True while tunnels should stop reading their sockets. */
  get congested(): boolean {
    return this.queuedBytes >= HIGH_WATER_BYTES;
  }

  onWritable(listener: () => void): () => void {
    this.writableListeners.add(listener);
    return () => this.writableListeners.delete(listener);
  }

  /** Called on the node's 'drain': sends what toxcore now accepts. */
  flush(): void {
    while (this.urgent.length > 0) {
      if (!this.trySend(this.urgent[0]!, true)) return;
      this.urgent.shift();
    }
    while (this.head < this.queue.length) {
      const packet = this.queue[this.head]!;
      if (!this.trySend(packet)) break;
      this.head++;
      this.queuedBytes -= packet.length;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head > 4096) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.wasCongested && this.queuedBytes < HIGH_WATER_BYTES / 2) {
      this.wasCongested = false;
      for (const listener of [...this.writableListeners]) listener();
    }
  }

  describe(): string {
    return `link queue ${this.queuedBytes} bytes in ${this.queue.length - this.head} packets (+${this.urgent.length} urgent), ${this.uncontrolledSent} sent outside congestion control${this.congested ? ', congested' : ''}${this.droppedReplies ? `, ${this.droppedReplies} replies dropped` : ''}`;
  }

  /** The friend went away: nothing queued can be delivered any more. */
  clear(): void {
    this.urgent.length = 0;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }
}
