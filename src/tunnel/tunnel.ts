// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * One tunnel: a byte stream (a TCP socket, or stdin/stdout in pipe mode) carried as
 * TUNNEL_DATA frames over a friend link, with the protocol's flow control:
 *
 * - sending: at most 256 KiB of DATA payload un-acknowledged. A full window, or a congested
 *   friend link, pauses reading from the stream — bytes wait in the stream, never dropped;
 * - receiving: bytes count as delivered once the stream has flushed them (the write
 *   callback), and every 16 KiB delivered is acknowledged. A slow writer therefore stops the
 *   ACKs, which stops the peer's sender: back-pressure end to end, one tunnel at a time;
 * - closing: stream EOF or error sends TUNNEL_CLOSE; a TUNNEL_CLOSE from the peer ends the
 *   stream after everything received has been written;
 * - half-close (extension, when the peer announced it): stream EOF sends TUNNEL_FIN instead
 *   and the other direction keeps flowing; a FIN from the peer shuts down our writing side
 *   once everything before it is written. When both directions are finished, CLOSE.
 */
import type { Readable, Writable } from 'node:stream';
import { type Frame, encodePacket, MAX_DATA_PAYLOAD } from '../protocol/frame.ts';
import { ACK_THRESHOLD_BYTES, AckCounter, SEND_WINDOW_BYTES, SendWindow, WIDE_ACK_THRESHOLD_BYTES, WIDE_SEND_WINDOW_BYTES } from '../protocol/flow-control.ts';
import type { FriendLink } from './friend-link.ts';

export type TunnelState = 'opening' | 'open' | 'closing' | 'closed';

export interface TunnelStats {
  bytesIn: number;
  bytesOut: number;
  openedAt: number;
  lastActivity: number;
}

export interface TunnelEvents {
  /** The peer confirmed the open (ACK 0): data flows from now on. */
  opened?(tunnel: Tunnel): void;
  /** The tunnel is finished (either side closed it, or it failed); `error` if it failed. */
  closed(tunnel: Tunnel, error: string | undefined): void;
}

export interface TunnelOptions {
  /** What this tunnel reaches, for people: "host:port" or a listener's description. */
  target: string;
  /** Whether the peer understands TUNNEL_FIN (decided when our input ends). */
  peerHalfClose: () => boolean;
  /** Whether both peers announced WIDE_WINDOW (2 MiB window, ACK every 64 KiB). */
  wideWindow?: () => boolean;
  /**
   * Called instead of destroying the streams when the tunnel fails before it opened (a SOCKS
   * front end writes its failure reply here, then closes the socket itself).
   */
  refused?: (message: string, peerErrorCode: number | undefined) => void;
  /** Un-acknowledged bytes received beyond which the peer is failed (a tuntox peer has no flow control). */
  receiveLimitBytes?: number;
}

/**
 * A peer keeps at most 256 KiB un-acknowledged, so more than that received and not yet
 * acknowledged by us means it ignores flow control: we fail the tunnel rather than buffer
 * without bound (a little slack for packets crossing our ACKs).
 */
const RECEIVE_SLACK_BYTES = 4 * MAX_DATA_PAYLOAD;

/** How long a locally closed tunnel waits for the peer's CLOSE before ending the stream. */
const CLOSE_LINGER_MS = 5000;

export class Tunnel {
  state: TunnelState;
  readonly stats: TunnelStats = { bytesIn: 0, bytesOut: 0, openedAt: Date.now(), lastActivity: Date.now() };
  /** The peer's TUNNEL_ERROR code, when the peer failed the tunnel. */
  peerErrorCode: number | undefined;
  private readonly window = new SendWindow();
  private readonly acks = new AckCounter();
  private pendingOut: Uint8Array[] = [];
  /**
   * DATA payloads received in this turn of the event loop, written to the stream together at
   * its end (one write per iteration, not one per 1.4 kB packet: the syscalls were a tenth of
   * the receiver's CPU).
   */
  private inbox: Uint8Array[] = [];
  private inboxBytes = 0;
  private inputEnded = false;
  private closeSent = false;
  private finSent = false;
  /** DATA payload received from the peer and not yet acknowledged by us. */
  private receivedUnacked = 0;
  private finReceived = false;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly stopWatchingLink: () => void;

  constructor(
    readonly id: number,
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly link: FriendLink,
    private readonly events: TunnelEvents,
    initialState: 'opening' | 'open',
    private readonly options: TunnelOptions,
  ) {
    this.state = initialState;
    this.stopWatchingLink = link.onWritable(id, () => this.pump());
    input.pause();
    input.on('data', (chunk: Uint8Array) => {
      this.pendingOut.push(chunk);
      this.pump();
    });
    input.on('end', () => {
      this.inputEnded = true;
      this.pump();
    });
    input.on('error', (error: Error) => this.fail(`local stream error: ${error.message}`, true));
    if (output !== (input as unknown)) output.on('error', (error: Error) => this.fail(`local stream error: ${error.message}`, true));
    input.on('close', () => {
      // A socket destroyed under us (reset) counts as an end of input.
      if (!this.inputEnded && this.state !== 'closed') {
        this.inputEnded = true;
        this.pump();
      }
    });
    if (initialState === 'open') input.resume();
  }

  /** The peer confirmed the OPEN (ACK 0): start carrying data. */
  confirm(): void {
    if (this.state !== 'opening') return;
    this.state = 'open';
    this.events.opened?.(this);
    this.pump();
  }

  get target(): string {
    return this.options.target;
  }

  /** DATA from the peer. */
  receiveData(payload: Uint8Array): void {
    if (this.state === 'closed' || this.finReceived) return;
    this.stats.bytesIn += payload.length;
    this.stats.lastActivity = Date.now();
    this.receivedUnacked += payload.length;
    const window = this.options.wideWindow?.() ? WIDE_SEND_WINDOW_BYTES : SEND_WINDOW_BYTES;
    const limit = this.options.receiveLimitBytes ?? window + RECEIVE_SLACK_BYTES;
    if (this.receivedUnacked > limit) {
      this.fail(`the peer ignored flow control (${this.receivedUnacked} bytes un-acknowledged, the ${this.options.receiveLimitBytes ? 'limit' : 'window'} is ${this.options.receiveLimitBytes ?? window})`, true);
      return;
    }
    if (this.inbox.length === 0) queueMicrotask(this.flushInbox);
    this.inbox.push(payload);
    this.inboxBytes += payload.length;
  }

  /** Writes what DATA brought since the last flush (in order, before any end of the stream). */
  private readonly flushInbox = (): void => {
    if (this.inbox.length === 0 || this.state === 'closed') return;
    const chunks = this.inbox;
    const bytes = this.inboxBytes;
    this.inbox = [];
    this.inboxBytes = 0;
    this.output.write(chunks.length === 1 ? chunks[0]! : concat(chunks, bytes), (error) => {
      if (error || this.state === 'closed') return;
      this.acks.threshold = this.options.wideWindow?.() ? WIDE_ACK_THRESHOLD_BYTES : ACK_THRESHOLD_BYTES;
      const ack = this.acks.delivered(bytes);
      if (ack === undefined) return;
      this.receivedUnacked -= ack;
      // ACKs overtake queued data: they must not wait behind the very data they unblock.
      this.link.sendUrgent(encodePacket({ kind: 'ack', tunnelId: this.id, bytesAcked: ack }));
    });
  };

  /** ACK from the peer (incremental count of payload bytes it delivered). */
  receiveAck(bytes: number): void {
    if (this.state === 'opening' && bytes === 0) {
      this.confirm();
      return;
    }
    this.window.onAck(bytes);
    this.pump();
  }

  /** CLOSE from the peer: write out what we have, then end the stream. */
  receiveClose(): void {
    if (this.state === 'closed') return;
    if (!this.closeSent) {
      this.closeSent = true;
      this.sendFrame({ kind: 'close', tunnelId: this.id });
    }
    this.finish(undefined);
  }

  /** FIN from the peer (half-close): it sends no more; shut down our writing side after the rest. */
  receiveFin(): void {
    if (this.state === 'closed' || this.finReceived) return;
    this.finReceived = true;
    this.flushInbox();
    this.output.end();
    if (this.finSent) this.bothDirectionsDone();
  }

  /** ERROR from the peer. */
  receiveError(code: number, description: string): void {
    this.peerErrorCode = code;
    this.fail(description || `error code ${code}`);
  }

  /** A timeout, or a local failure. */
  fail(message: string, notifyPeer = false): void {
    if (this.state === 'closed') return;
    if (notifyPeer && !this.closeSent) {
      this.closeSent = true;
      this.sendFrame({ kind: 'close', tunnelId: this.id });
    }
    const wasOpening = this.state === 'opening';
    this.state = 'closed';
    this.cleanup();
    if (wasOpening && this.options.refused) {
      this.options.refused(message, this.peerErrorCode);
    } else {
      // A failed tunnel must not look like a clean end of stream: reset TCP sockets (RST),
      // so the application sees an error instead of silently truncated data.
      abort(this.input);
      if (this.output !== (this.input as unknown)) abort(this.output);
    }
    this.events.closed(this, message);
  }

  describe(): string {
    const pending = this.pendingOut.reduce((n, c) => n + c.length, 0);
    return `tunnel ${this.id} ${this.state} ${this.target}${this.finSent ? ' fin-sent' : ''}${this.finReceived ? ' fin-received' : ''}: in ${this.stats.bytesIn}, out ${this.stats.bytesOut}, unacked ${this.window.unacknowledged}, pending ${pending}, input ${this.input.isPaused() ? 'paused' : 'flowing'}${this.inputEnded ? ' (ended)' : ''}, output queue ${this.output.writableLength}`;
  }

  /** Moves pending input into DATA frames while the window and the link allow. */
  private pump(): void {
    if (this.state !== 'open' && this.state !== 'closing') return;
    this.window.size = this.options.wideWindow?.() ? WIDE_SEND_WINDOW_BYTES : SEND_WINDOW_BYTES;
    while (this.pendingOut.length > 0 && !this.link.congestedFor(this.id)) {
      const room = Math.min(this.window.available(), MAX_DATA_PAYLOAD);
      if (room <= 0) break;
      const chunk = this.pendingOut[0]!;
      const take = Math.min(room, chunk.length);
      const payload = chunk.subarray(0, take);
      if (take === chunk.length) this.pendingOut.shift();
      else this.pendingOut[0] = chunk.subarray(take);
      this.window.onSent(take);
      this.stats.bytesOut += take;
      this.stats.lastActivity = Date.now();
      this.sendFrame({ kind: 'data', tunnelId: this.id, payload });
    }
    if (this.pendingOut.length > 0) {
      this.input.pause();
    } else if (this.inputEnded) {
      if (this.options.peerHalfClose()) this.sendFin();
      else this.closeLocally();
    } else if (this.state === 'open') {
      this.input.resume();
    }
  }

  /** Our input ended and is fully sent, and the peer understands half-close. */
  private sendFin(): void {
    if (this.finSent) return;
    this.finSent = true;
    this.sendFrame({ kind: 'fin', tunnelId: this.id });
    if (this.finReceived) this.bothDirectionsDone();
  }

  /** Both sides sent FIN: CLOSE (after our FIN, so the peer has all our data) and finish. */
  private bothDirectionsDone(): void {
    if (!this.closeSent) {
      this.closeSent = true;
      this.sendFrame({ kind: 'close', tunnelId: this.id });
    }
    this.finish(undefined);
  }

  /** Our input ended and is fully sent: tell the peer, then wait for its CLOSE (bounded). */
  private closeLocally(): void {
    if (this.closeSent) return;
    this.closeSent = true;
    this.state = 'closing';
    this.sendFrame({ kind: 'close', tunnelId: this.id });
    this.lingerTimer = setTimeout(() => this.finish(undefined), CLOSE_LINGER_MS);
  }

  private finish(error: string | undefined): void {
    if (this.state === 'closed') return;
    this.flushInbox();
    this.state = 'closed';
    this.cleanup();
    // end() after the writes already queued: everything received is flushed first.
    const done = () => this.input.destroy();
    if (this.output.writableFinished) done();
    else if (this.output.writableEnded) this.output.once('finish', done);
    else this.output.end(done);
    this.events.closed(this, error);
  }

  private cleanup(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.stopWatchingLink();
    this.pendingOut = [];
  }

  private sendFrame(frame: Frame): void {
    this.link.send(encodePacket(frame));
  }
}

function concat(chunks: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function abort(stream: Readable | Writable): void {
  const socket = stream as Readable & { resetAndDestroy?: () => void };
  if (typeof socket.resetAndDestroy === 'function') {
    // A TCP connection is reset (RST), as the peer's was. stdin/stdout in pipe mode are
    // net.Sockets too, over pipes: resetAndDestroy throws ERR_INVALID_HANDLE_TYPE on those.
    try {
      socket.resetAndDestroy();
      return;
    } catch {
      // not TCP: destroy below
    }
  }
  stream.destroy();
}
