// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The packet path to one friend. Every frame travels in one Tox lossless packet; toxcore may
 * refuse a packet with SENDQ (its send queue or rate limit is full). We never drop: refused
 * packets wait here, in order, and go out when the node signals 'drain'. Tunnels stop
 * reading their TCP sockets while this queue is above its high-water mark ({@link congested})
 * and are told when it has room again.
 */
import type { ToxNode } from '../tox/tox-node.ts';

/** Queued bytes above which tunnels stop reading (resumed below half of it). */
const HIGH_WATER_BYTES = 256 * 1024;

export class FriendLink {
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  private queuedBytes = 0;
  private wasCongested = false;
  private readonly writableListeners = new Set<() => void>();

  constructor(
    private readonly node: ToxNode,
    readonly friendNumber: number,
  ) {}

  /** Sends now, or queues behind earlier packets. */
  send(packet: Uint8Array): void {
    if (this.head === this.queue.length) {
      const result = this.node.sendLossless(this.friendNumber, packet);
      if (result.ok) return;
      if (result.error !== 'SENDQ') return; // offline: the tunnels are being closed anyway
    }
    this.queue.push(packet);
    this.queuedBytes += packet.length;
    if (this.queuedBytes >= HIGH_WATER_BYTES) this.wasCongested = true;
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
    while (this.head < this.queue.length) {
      const packet = this.queue[this.head]!;
      const result = this.node.sendLossless(this.friendNumber, packet);
      if (!result.ok && result.error === 'SENDQ') break;
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

  /** The friend went away: nothing queued can be delivered any more. */
  clear(): void {
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }
}
