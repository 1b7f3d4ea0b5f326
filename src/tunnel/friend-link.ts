// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The packet path to one friend. Every frame travels in one Tox lossless packet; toxcore may
 * refuse a packet with SENDQ (our congestion controller in wasm/tt_cc.c has no send budget
 * left, or its buffer is full). We never drop: refused packets wait here and go out when the
 * node signals 'drain'.
 *
 * All tunnels of a friend share toxcore's one ordered stream, so what waits here is scheduled
 * (toxcore's own queue stays a congestion window deep, a few round trips):
 *   1. urgent frames (ACK, PONG: their order against data does not matter);
 *   2. frames of tunnel 0 (HELLO, PING, reverse-tunnel control);
 *   3. tunnels whose next frame is small (a keystroke, an OPEN, a CLOSE) before bulk data;
 *   4. bulk data by deficit round-robin: each tunnel with data may send up to QUANTUM_BYTES
 *      per turn (one full packet), so shares are equal in bytes.
 * Order within a tunnel is kept. Fair from the first byte: a tunnel stops reading its socket
 * while its own queue is above its share of HIGH_WATER_BYTES (split evenly among the tunnels
 * with data queued; at least MIN_SHARE_BYTES, at most TUNNEL_HIGH_WATER_BYTES) and resumes below
 * half of it ({@link congestedFor}). There is no friend-wide pool for the first tunnel to fill:
 * with one, the tunnels that read first filled it, and the rest (woken in the same fixed order)
 * found it full again: 8 streams shared 2.4:1 (median) and once 48:1.
 *
 * Control frames (not DATA) may skip toxcore's congestion control, within a budget of their
 * own, when nothing of theirs is queued: they are few, and an ACK must not wait behind the
 * data it unblocks. DATA never skips it.
 */
import { setImmediate } from 'node:timers';
import { FrameType, HEADER_SIZE } from '../protocol/frame.ts';
import type { ToxNode } from '../tox/tox-node.ts';

/** Queued bytes of the friend, split among its tunnels with data (best-effort replies drop above it). */
const HIGH_WATER_BYTES = 512 * 1024;
/** Most bytes one tunnel may queue (resumed below half). */
const TUNNEL_HIGH_WATER_BYTES = 128 * 1024;
/** Least share of a tunnel, however many tunnels have data (a dozen full packets). */
const MIN_SHARE_BYTES = 16 * 1024;
/** Bytes a tunnel may send per round-robin turn: one full lossless packet. */
const QUANTUM_BYTES = 1373;
/**
 * Tunnels stop at their high-water marks, so only a peer that makes us answer a flood of
 * requests while taking none of our packets can queue this much: its tunnels fail and the
 * queue goes.
 */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** Frames up to this size count as small: scheduled before bulk data; control frames may skip. */
const SMALL_PACKET_BYTES = 256;
/** The skip budget: a burst of this many, refilled at UNCONTROLLED_PER_SECOND. */
const UNCONTROLLED_BURST = 128;
const UNCONTROLLED_PER_SECOND = 2000;
/** Urgent packets queued above which best-effort replies are dropped. */
const MAX_BEST_EFFORT_QUEUED = 256;
/** Queue key of tunnel-0 frames (tunnel ids are 1..65535). */
const CONTROL = 0;

/** The frame type and tunnel id of an encoded packet (0xA0, type, id:2, length:2, payload). */
function frameType(packet: Uint8Array): number {
  return packet.length > HEADER_SIZE ? packet[1]! : -1;
}
/** Frames whose id field is not a tunnel's (HELLO, and reverse-tunnel requests by request id). */
const CONTROL_TYPES: ReadonlySet<number> = new Set([FrameType.HELLO, FrameType.REVERSE_LISTEN, FrameType.REVERSE_RESULT, FrameType.REVERSE_CANCEL]);
/** Which queue a packet joins: its tunnel's, or CONTROL. */
function queueOf(packet: Uint8Array): number {
  if (packet.length <= HEADER_SIZE || CONTROL_TYPES.has(packet[1]!)) return CONTROL;
  return (packet[2]! << 8) | packet[3]!;
}

/** One tunnel's packets, in order. */
class PacketQueue {
  private packets: Uint8Array[] = [];
  private head = 0;
  bytes = 0;
  /** Deficit round-robin: bytes this queue may still send in its current turn. */
  deficit = 0;

  get empty(): boolean {
    return this.head === this.packets.length;
  }

  get length(): number {
    return this.packets.length - this.head;
  }

  peek(): Uint8Array | undefined {
    return this.packets[this.head];
  }

  push(packet: Uint8Array): void {
    this.packets.push(packet);
    this.bytes += packet.length;
  }

  shift(): void {
    this.bytes -= this.packets[this.head]!.length;
    this.head++;
    if (this.head === this.packets.length) {
      this.packets = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.packets.length) {
      this.packets.splice(0, this.head);
      this.head = 0;
    }
  }
}

export class FriendLink {
  /** ACK and PONG frames: they overtake queued data (never a CLOSE, which must follow its data). */
  private readonly urgent = new PacketQueue();
  /** Per tunnel id (CONTROL for tunnel 0); only non-empty queues are kept. */
  private readonly queues = new Map<number, PacketQueue>();
  private queuedBytes = 0;
  /** Tunnels told to stop reading ({@link congestedFor}), in the order they were. */
  private readonly blocked = new Set<number>();
  /** Best-effort replies dropped because the link was full. */
  droppedReplies = 0;
  /** Packets sent outside toxcore's congestion control. */
  uncontrolledSent = 0;
  private budget = UNCONTROLLED_BURST;
  private budgetAt: number | undefined;
  private readonly writableListeners = new Map<number, Set<() => void>>();

  /**
   * `undeliverable` is told when toxcore refuses a packet for good (the friend is not
   * connected): the caller must fail its tunnels, since bytes can no longer arrive in order.
   */
  constructor(
    private readonly node: ToxNode,
    readonly friendNumber: number,
    private readonly undeliverable: (reason: string) => void,
    private readonly now: () => number = () => performance.now(),
    /** Rewrites each packet before it is sent (tuntox peers: src/tuntox/translator.ts). */
    private readonly transform?: (packet: Uint8Array) => Uint8Array[],
  ) {}

  /** Sends now, or queues behind earlier packets of the same tunnel. */
  send(packet: Uint8Array): void {
    // The queue is chosen from our frame, before a tuntox peer's translation rewrites it.
    const id = queueOf(packet);
    if (this.transform) for (const each of this.transform(packet)) this.sendOne(each, id);
    else this.sendOne(packet, id);
  }

  private sendOne(packet: Uint8Array, id: number): void {
    const queue = this.queues.get(id);
    // A small frame (a keystroke, an OPEN, a CLOSE) with nothing of its tunnel waiting goes at
    // once, past other tunnels' bulk data. Bulk data always waits for the flush at the end of
    // this turn of the event loop: sent at once, the first tunnel to read its socket filled
    // toxcore's window (up to 128 packets) before the others, reading in the same turn, were
    // queued at all; now they share from the first byte.
    if (packet.length <= SMALL_PACKET_BYTES) {
      if (!queue && this.urgent.empty && this.trySend(packet)) return;
    } else {
      this.scheduleFlush();
    }
    if (this.queuedBytes + packet.length > MAX_QUEUED_BYTES) {
      this.undeliverable(`the friend takes none of our packets (${MAX_QUEUED_BYTES >> 20} MiB queued)`);
      return;
    }
    let target = queue;
    if (!target) this.queues.set(id, (target = new PacketQueue()));
    target.push(packet);
    this.queuedBytes += packet.length;
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
      if (this.urgent.empty && this.trySend(each)) continue;
      this.urgent.push(each);
    }
  }

  /** One packet from the skip budget, if there is one left. */
  private takeBudget(): boolean {
    const now = this.now();
    this.budget = Math.min(UNCONTROLLED_BURST, this.budget + ((now - (this.budgetAt ?? now)) * UNCONTROLLED_PER_SECOND) / 1000);
    this.budgetAt = now;
    if (this.budget < 1) return false;
    this.budget--;
    return true;
  }

  /** true: sent (or dropped as undeliverable); false: SENDQ, keep it. */
  private trySend(packet: Uint8Array): boolean {
    const control = packet.length <= SMALL_PACKET_BYTES && frameType(packet) !== FrameType.DATA;
    if (control && this.takeBudget()) {
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

  /** True while the friend's queue is above its high-water mark (best-effort replies drop). */
  get congested(): boolean {
    return this.queuedBytes >= HIGH_WATER_BYTES;
  }

  /**
   * The most a tunnel may queue now: an even split of HIGH_WATER_BYTES among the tunnels with
   * data queued (this one included), within [MIN_SHARE_BYTES, TUNNEL_HIGH_WATER_BYTES].
   */
  private shareOf(tunnelId: number): number {
    const tunnels = this.queues.size - (this.queues.has(CONTROL) ? 1 : 0) + (this.queues.has(tunnelId) ? 0 : 1);
    return Math.min(TUNNEL_HIGH_WATER_BYTES, Math.max(MIN_SHARE_BYTES, HIGH_WATER_BYTES / Math.max(1, tunnels)));
  }

  /**
   * True while the tunnel should stop reading its socket (its queue is at its share); its
   * {@link onWritable} listeners are called once the queue is below half of it.
   */
  congestedFor(tunnelId: number): boolean {
    const congested = (this.queues.get(tunnelId)?.bytes ?? 0) >= this.shareOf(tunnelId);
    if (congested) this.blocked.add(tunnelId);
    return congested;
  }

  /** `listener` is called when tunnel `tunnelId`, told it was congested, may read again. */
  onWritable(tunnelId: number, listener: () => void): () => void {
    let set = this.writableListeners.get(tunnelId);
    if (!set) this.writableListeners.set(tunnelId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.writableListeners.get(tunnelId) === set) this.writableListeners.delete(tunnelId);
    };
  }

  private flushScheduled = false;
  private readonly scheduledFlush = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** A flush once the I/O callbacks of this event-loop turn have run (setImmediate). */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.scheduledFlush);
  }

  /** Called on the node's 'drain': sends what toxcore now accepts, in the order described above. */
  flush(): void {
    let open = this.flushQueue(this.urgent) && this.flushQueue(this.queues.get(CONTROL), CONTROL);
    // Small heads first: whatever waits behind them in their tunnel waits its turn below.
    for (const [id, queue] of this.queues) {
      if (!open) break;
      while (open && !queue.empty && queue.peek()!.length <= SMALL_PACKET_BYTES) open = this.sendHead(queue);
      if (queue.empty) this.queues.delete(id);
    }
    // Bulk: deficit round-robin, QUANTUM_BYTES per tunnel per turn. The map's order is least
    // recently served first: a tunnel served goes to its end; one that toxcore refused mid-turn
    // stays first with what is left of its turn, so the next flush goes on where this one stopped.
    while (open && this.queues.size > 0) {
      const [id, queue] = this.queues.entries().next().value!;
      if (queue.deficit < queue.peek()!.length) queue.deficit += QUANTUM_BYTES;
      while (!queue.empty && queue.peek()!.length <= queue.deficit) {
        const length = queue.peek()!.length;
        if (!(open = this.sendHead(queue))) break;
        queue.deficit -= length;
      }
      if (!open) break;
      this.queues.delete(id);
      if (queue.empty) queue.deficit = 0;
      else this.queues.set(id, queue);
    }
    this.notifyWritable();
  }

  /** Tells the blocked tunnels whose queue fell below half their share that they may read. */
  private notifyWritable(): void {
    if (this.blocked.size === 0) return;
    const ready: number[] = [];
    for (const id of this.blocked) if ((this.queues.get(id)?.bytes ?? 0) < this.shareOf(id) / 2) ready.push(id);
    for (const id of ready) {
      this.blocked.delete(id);
      for (const listener of [...(this.writableListeners.get(id) ?? [])]) listener();
    }
  }

  /** Sends a queue's packets in order until toxcore refuses; false when it refused. */
  private flushQueue(queue: PacketQueue | undefined, id?: number): boolean {
    if (!queue) return true;
    while (!queue.empty) if (!this.sendHead(queue)) return false;
    if (id !== undefined) this.queues.delete(id);
    return true;
  }

  private sendHead(queue: PacketQueue): boolean {
    const packet = queue.peek()!;
    if (!this.trySend(packet)) return false;
    queue.shift();
    if (queue !== this.urgent) this.queuedBytes -= packet.length;
    return true;
  }

  describe(): string {
    let packets = 0;
    for (const queue of this.queues.values()) packets += queue.length;
    return `link queue ${this.queuedBytes} bytes in ${packets} packets of ${this.queues.size} tunnel(s) (+${this.urgent.length} urgent), ${this.uncontrolledSent} sent outside congestion control${this.congested ? ', congested' : ''}${this.droppedReplies ? `, ${this.droppedReplies} replies dropped` : ''}`;
  }

  /** The friend went away: nothing queued can be delivered any more. */
  clear(): void {
    while (!this.urgent.empty) this.urgent.shift();
    this.queues.clear();
    this.queuedBytes = 0;
    this.blocked.clear();
  }
}
