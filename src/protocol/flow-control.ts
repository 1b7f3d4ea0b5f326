// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Flow control of the base protocol, per tunnel and direction (PROTOCOL.md "Flow control"),
 * and tunnel id allocation. Pure arithmetic; the tunnel decides what to pause.
 */

/** At most this much TUNNEL_DATA payload may be un-acknowledged. */
export const SEND_WINDOW_BYTES = 256 * 1024;
/** The receiver acknowledges once this much payload has been delivered since its last ACK. */
export const ACK_THRESHOLD_BYTES = 16 * 1024;
/**
 * With the WIDE_WINDOW extension (both peers announced it): the base window allows only
 * 256 KiB per round trip, 13 MB/s at 20 ms, less while a lost packet is being resent.
 */
export const WIDE_SEND_WINDOW_BYTES = 2 * 1024 * 1024;
export const WIDE_ACK_THRESHOLD_BYTES = 64 * 1024;

/**
 * The sender's view: payload bytes sent and not yet acknowledged. A full window means stop
 * reading the source, never drop. The peer acknowledges in 16 KiB steps and a remainder
 * below that may never be acknowledged, so the window need not drain to zero.
 */
export class SendWindow {
  private inFlight = 0;

  /** The size may change while data is in flight (WIDE_WINDOW is negotiated after tunnels open). */
  constructor(public size = SEND_WINDOW_BYTES) {}

  available(): number {
    return Math.max(0, this.size - this.inFlight);
  }

  get unacknowledged(): number {
    return this.inFlight;
  }

  onSent(bytes: number): void {
    this.inFlight += bytes;
  }

  /** bytes_acked is incremental; the count saturates at 0 (a peer may over-acknowledge). */
  onAck(bytes: number): void {
    if (!Number.isFinite(bytes) || bytes <= 0) return;
    this.inFlight = Math.max(0, this.inFlight - bytes);
  }
}

/** The receiver's view: bytes delivered to the local stream since the last ACK. */
export class AckCounter {
  private count = 0;

  constructor(public threshold = ACK_THRESHOLD_BYTES) {}

  /** Counts delivered bytes; returns the ACK value to send when one is due, and resets. */
  delivered(bytes: number): number | undefined {
    this.count += bytes;
    if (this.count < this.threshold) return undefined;
    const ack = this.count;
    this.count = 0;
    return ack;
  }
}

/**
 * Tunnel ids of one friend: 1..65535 (0 is PING/PONG), handed out incrementing and
 * wrapping, skipping ids still in use. Our client uses 1..0x7FFF and, with the REVERSE
 * extension, the server opens its tunnels with 0x8000..0xFFFF, so the two never collide
 * (any subset is valid for a base-protocol server).
 */
export const CLIENT_TUNNEL_IDS = { first: 1, last: 0x7fff } as const;
export const SERVER_TUNNEL_IDS = { first: 0x8000, last: 0xffff } as const;

export class TunnelIdAllocator {
  private readonly inUse = new Set<number>();
  private next: number;

  constructor(private readonly range: { first: number; last: number } = CLIENT_TUNNEL_IDS) {
    this.next = range.first;
  }

  allocate(): number | undefined {
    if (this.inUse.size >= this.range.last - this.range.first + 1) return undefined;
    for (;;) {
      const id = this.next;
      this.next = id === this.range.last ? this.range.first : id + 1;
      if (!this.inUse.has(id)) {
        this.inUse.add(id);
        return id;
      }
    }
  }

  release(id: number): void {
    this.inUse.delete(id);
  }

  get size(): number {
    return this.inUse.size;
  }
}
