// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Everything toxtunnel does with one friend: its link (ordered packets with SENDQ
 * back-pressure), its tunnels by id, and the dispatch of the frames it sends us.
 *
 * Tolerant where the protocol says so: a duplicate CLOSE, a CLOSE or ACK for an unknown id,
 * DATA racing a CLOSE (for an id closed a moment ago) are ignored. DATA for an id never seen
 * is answered with ERROR 1 "Tunnel not found", as the existing implementation does. Frames
 * that fail validation are counted and dropped, or rejected with an ERROR, never acted on.
 */
import type { Readable, Writable } from 'node:stream';
import { Capability, type Frame, decodePacket, encodePacket, ErrorCode, HELLO_VERSION } from '../protocol/frame.ts';
import type { ToxNode } from '../tox/tox-node.ts';
import { isTuntoxPacket } from '../tuntox/frame.ts';
import { TUNTOX_RECEIVE_LIMIT_BYTES, TuntoxTranslator } from '../tuntox/translator.ts';
import { FriendLink } from './friend-link.ts';
import { type LivenessOptions, PeerLiveness } from './liveness.ts';
import { Tunnel } from './tunnel.ts';

/** Ids closed recently enough that late frames for them are ignored, not answered. */
const RECENTLY_CLOSED_LIMIT = 1024;

export interface OpenRequest {
  tunnelId: number;
  host: string;
  port: number;
}

/** The protocol a friend speaks; 'unknown' until its first frame (docs/tuntox.md). */
export type PeerProtocol = 'unknown' | 'toxtunnel' | 'tuntox';

type FrameOf<K extends Frame['kind']> = Extract<Frame, { kind: K }>;

export interface SessionHandlers {
  /** Our HELLO capabilities (0: extensions off, we behave as a base-protocol peer). */
  capabilities: number;
  liveness?: LivenessOptions;
  /** The peer's HELLO arrived: extensions it shares with us may be used from now on. */
  hello?(session: FriendSession): void;
  /** The keepalive's verdict changed. */
  livenessChanged?(session: FriendSession, state: 'alive' | 'unresponsive', silentMs: number): void;
  /** A tunnel was confirmed by the peer (ACK 0). */
  tunnelOpened?(session: FriendSession, tunnel: Tunnel): void;
  /** toxcore says the friend is gone (its tunnels are failed right after). */
  sessionOffline?(session: FriendSession): void;
  /** Reverse tunnels (extension): server side. */
  reverseListen?(session: FriendSession, request: FrameOf<'reverse-listen'>): void;
  reverseCancel?(session: FriendSession, requestId: number): void;
  /** Reverse tunnels (extension): client side. */
  reverseResult?(session: FriendSession, result: FrameOf<'reverse-result'>): void;
  reverseOpen?(session: FriendSession, open: FrameOf<'reverse-open'>): void;
  /** A TUNNEL_OPEN arrived (server side); undefined means OPEN is not accepted here. */
  open?(session: FriendSession, request: OpenRequest): void;
  /** A tunnel finished; `error` is the reason if it failed (peer ERROR text, timeout, …). */
  tunnelClosed(session: FriendSession, tunnel: Tunnel, error: string | undefined): void;
  /** A frame was dropped or rejected (for stats and debug logs). */
  badFrame?(session: FriendSession, reason: string): void;
  /**
   * tuntox peers (src/tuntox/): a server accepts them next to ours; a client detects the
   * protocol ('auto') or speaks tuntox only. Absent: our protocol only.
   */
  tuntox?: { role: 'server' } | { role: 'client'; mode: 'auto' | 'tuntox' };
  /** The friend's protocol became known (first frame, or the answer to our probe). */
  protocolChosen?(session: FriendSession, protocol: 'toxtunnel' | 'tuntox'): void;
  /** Something a person should see about a peer (an incompatible tuntox version). */
  peerWarning?(session: FriendSession, message: string): void;
}

export class FriendSession {
  readonly link: FriendLink;
  readonly tunnels = new Map<number, Tunnel>();
  private readonly recentlyClosed = new Set<number>();
  /** OPEN requests being handled (server: resolving or connecting), each with its cancel. */
  private readonly pending = new Map<number, () => void>();
  droppedFrames = 0;
  /** The peer's HELLO capabilities (0 until it sends one: a base-protocol peer never does). */
  peerCapabilities = 0;
  private helloSent = false;
  readonly liveness: PeerLiveness;
  protocol: PeerProtocol;
  private readonly initialProtocol: PeerProtocol;
  private readonly tuntox: TuntoxTranslator | undefined;
  /** measureRtt() calls waiting for a PONG. */
  private pongWaiters: Array<() => void> = [];

  constructor(
    node: ToxNode,
    readonly friendNumber: number,
    readonly publicKey: string,
    private readonly handlers: SessionHandlers,
  ) {
    const tuntox = handlers.tuntox;
    this.initialProtocol = this.protocol = !tuntox ? 'toxtunnel' : tuntox.role === 'client' && tuntox.mode === 'tuntox' ? 'tuntox' : 'unknown';
    this.tuntox = tuntox
      ? new TuntoxTranslator(tuntox.role, {
          deliver: (frame) => this.dispatch(frame),
          sendRaw: (packet, bestEffort) => (bestEffort ? this.link.sendBestEffort(packet) : this.link.send(packet)),
          isInUse: (id) => this.isInUse(id),
          dropped: (reason, warn) => {
            this.droppedFrames++;
            if (warn) this.handlers.peerWarning?.(this, reason);
            else this.handlers.badFrame?.(this, reason);
          },
        })
      : undefined;
    const translate = this.tuntox ? (packet: Uint8Array) => (this.protocol === 'tuntox' ? this.tuntox!.outbound(packet) : [packet]) : undefined;
    this.link = new FriendLink(node, friendNumber, (reason) => this.closeAll(reason), undefined, translate);
    this.liveness = new PeerLiveness(
      () => this.link.sendUrgent(encodePacket({ kind: 'ping' })),
      (state, silentMs) => {
        if (state === 'unresponsive') this.closeAll(`the peer stopped answering (nothing heard for ${(silentMs / 1000).toFixed(1)} s)`);
        this.handlers.livenessChanged?.(this, state, silentMs);
      },
      // Our own round trip every 5 s while the link is idle (status, metrics), whatever the peer
      // pings; toxcore hearing the peer (its request packet each second) counts as a sign of life.
      {
        rttEveryMs: 5000,
        heardAgo: () => {
          const ms = node.friendHeardMs(friendNumber);
          return ms < 0 ? undefined : ms;
        },
        ...handlers.liveness,
      },
    );
  }

  /**
   * Round trip of a PING (base protocol: every peer answers PONG), in ms; undefined when no
   * PONG came within timeoutMs. A PONG to a keepalive PING sent just before may end it early.
   */
  measureRtt(timeoutMs: number): Promise<number | undefined> {
    const started = performance.now();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(performance.now() - started);
      };
      const timer = setTimeout(() => {
        this.pongWaiters = this.pongWaiters.filter((w) => w !== wake);
        resolve(undefined);
      }, timeoutMs);
      this.pongWaiters.push(wake);
      this.link.sendUrgent(encodePacket({ kind: 'ping' }));
    });
  }

  /** True when both sides announced the capability. */
  supports(capability: number): boolean {
    return (this.handlers.capabilities & this.peerCapabilities & capability) !== 0;
  }

  /**
   * True while the friend is connected (toxcore) and answering (keepalive). tuntox peers have
   * no keepalive (toxcore's view decides); a client detecting the protocol waits for it.
   */
  get responsive(): boolean {
    if (this.protocol === 'tuntox') return true;
    if (this.protocol === 'unknown' && this.tuntox?.role === 'client') return false;
    return this.liveness.state === 'alive';
  }

  /** toxcore says the friend is connected: announce our extensions, start the keepalive. */
  online(): void {
    if (this.protocol === 'tuntox') return; // no HELLO, no keepalive: extensions are off for tuntox peers
    this.peerCapabilities = 0;
    this.helloSent = false;
    this.sendHello();
    this.liveness.start();
    if (this.protocol === 'unknown' && this.tuntox) for (const packet of this.tuntox.probe()) this.link.send(packet);
  }

  private choose(protocol: 'toxtunnel' | 'tuntox'): void {
    this.protocol = protocol;
    if (protocol === 'tuntox') {
      // A blocking tuntox stalls for seconds (connect, writes): no keepalive verdicts on it.
      this.liveness.stop();
      this.peerCapabilities = 0;
    }
    this.handlers.protocolChosen?.(this, protocol);
  }

  /** toxcore says the friend is gone. */
  offline(reason: string): void {
    this.handlers.sessionOffline?.(this);
    this.liveness.stop();
    this.peerCapabilities = 0;
    this.helloSent = false;
    this.closeAll(reason);
    this.tuntox?.reset();
    this.protocol = this.initialProtocol;
  }

  private sendHello(): void {
    if (this.handlers.capabilities === 0 || this.helloSent) return;
    this.helloSent = true;
    this.send({ kind: 'hello', version: HELLO_VERSION, capabilities: this.handlers.capabilities });
  }

  /** Number of tunnels open or being opened (the per-friend limit counts these). */
  get activeCount(): number {
    return this.tunnels.size + this.pending.size;
  }

  /** OPENs being handled (resolving or connecting). */
  get pendingCount(): number {
    return this.pending.size;
  }

  isInUse(id: number): boolean {
    return this.tunnels.has(id) || this.pending.has(id);
  }

  /** An OPEN is being handled; `cancel` stops its work (CLOSE, offline, revocation). */
  beginPending(id: number, cancel: () => void): void {
    this.pending.set(id, cancel);
  }

  isPending(id: number): boolean {
    return this.pending.has(id);
  }

  /** The pending OPEN is done (tunnel added or refused); false if it was cancelled meanwhile. */
  endPending(id: number): boolean {
    return this.pending.delete(id);
  }

  /** Cancels a pending OPEN (its connect or lookup is abandoned, the socket destroyed). */
  cancelPending(id: number): void {
    const cancel = this.pending.get(id);
    if (!cancel) return;
    this.pending.delete(id);
    cancel();
  }

  send(frame: Frame): void {
    this.link.send(encodePacket(frame));
  }

  sendError(tunnelId: number, code: number, description: string): void {
    this.send({ kind: 'error', tunnelId, code, description });
  }

  addTunnel(
    id: number,
    input: Readable,
    output: Writable,
    state: 'opening' | 'open',
    target: string,
    refused?: (message: string, peerErrorCode: number | undefined) => void,
  ): Tunnel {
    this.recentlyClosed.delete(id);
    const events = {
      opened: (t: Tunnel) => this.handlers.tunnelOpened?.(this, t),
      closed: (t: Tunnel, error: string | undefined) => {
        if (this.tunnels.get(t.id) === t) this.tunnels.delete(t.id);
        this.rememberClosed(t.id);
        this.handlers.tunnelClosed(this, t, error);
      },
    };
    const tunnel = new Tunnel(id, input, output, this.link, events, state, {
      target,
      peerHalfClose: () => this.supports(Capability.HALF_CLOSE),
      ...(this.protocol === 'tuntox' ? { receiveLimitBytes: TUNTOX_RECEIVE_LIMIT_BYTES } : {}),
      wideWindow: () => this.supports(Capability.WIDE_WINDOW),
      ...(refused ? { refused } : {}),
    });
    this.tunnels.set(id, tunnel);
    return tunnel;
  }

  /** One lossless packet from this friend. */
  receive(packet: Uint8Array): void {
    if (this.tuntox && isTuntoxPacket(packet)) {
      // Our peers send one of our frames before anything tuntox (probe()), so a tuntox packet first means tuntox.
      if (this.protocol === 'unknown') this.choose('tuntox');
      if (this.protocol === 'tuntox') this.tuntox.inbound(packet);
      else {
        this.droppedFrames++;
        this.handlers.badFrame?.(this, 'a tuntox packet from a toxtunnel peer');
      }
      return;
    }
    if (this.protocol === 'tuntox') {
      this.droppedFrames++;
      this.handlers.badFrame?.(this, `a packet with id ${packet[0]} from a tuntox peer`);
      return;
    }
    this.liveness.heard();
    const decoded = decodePacket(packet);
    if (decoded.ok && this.protocol === 'unknown') this.choose('toxtunnel');
    if (!decoded.ok) {
      this.droppedFrames++;
      this.handlers.badFrame?.(this, decoded.reason);
      if (decoded.action === 'reject' && decoded.tunnelId !== 0) {
        this.link.sendBestEffort(encodePacket({ kind: 'error', tunnelId: decoded.tunnelId, code: ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, description: `Malformed frame: ${decoded.reason}` }));
      }
      return;
    }
    // Anything but the keepalive itself is traffic: no round-trip probes while it flows.
    if (decoded.frame.kind !== 'ping' && decoded.frame.kind !== 'pong') this.liveness.traffic();
    this.dispatch(decoded.frame);
  }

  /** Acts on one frame (ours, or translated from tuntox). */
  private dispatch(frame: Frame): void {
    switch (frame.kind) {
      case 'ping':
        this.link.sendBestEffort(encodePacket({ kind: 'pong' }));
        return;
      case 'pong':
        this.liveness.pong();
        for (const wake of this.pongWaiters.splice(0)) wake();
        return;
      case 'open':
        if (!this.handlers.open) {
          this.sendError(frame.tunnelId, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied');
          return;
        }
        this.handlers.open(this, { tunnelId: frame.tunnelId, host: frame.host, port: frame.port });
        return;
      case 'data': {
        const tunnel = this.tunnels.get(frame.tunnelId);
        if (tunnel) tunnel.receiveData(frame.payload);
        else if (!this.recentlyClosed.has(frame.tunnelId) && !this.pending.has(frame.tunnelId)) {
          this.link.sendBestEffort(encodePacket({ kind: 'error', tunnelId: frame.tunnelId, code: ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, description: 'Tunnel not found' }));
        }
        return;
      }
      case 'ack':
        this.tunnels.get(frame.tunnelId)?.receiveAck(frame.bytesAcked);
        return;
      case 'close':
        this.tunnels.get(frame.tunnelId)?.receiveClose();
        this.cancelPending(frame.tunnelId);
        return;
      case 'error':
        this.tunnels.get(frame.tunnelId)?.receiveError(frame.code, frame.description);
        return;
      case 'hello':
        // Answer in kind (once per online period), then use what both sides announced.
        this.peerCapabilities = frame.capabilities >>> 0;
        this.sendHello();
        this.handlers.hello?.(this);
        return;
      case 'fin':
        if (this.handlers.capabilities & Capability.HALF_CLOSE) this.tunnels.get(frame.tunnelId)?.receiveFin();
        return;
      case 'reverse-listen':
        if (this.handlers.capabilities & Capability.REVERSE && this.handlers.reverseListen) this.handlers.reverseListen(this, frame);
        return;
      case 'reverse-cancel':
        if (this.handlers.capabilities & Capability.REVERSE) this.handlers.reverseCancel?.(this, frame.requestId);
        return;
      case 'reverse-result':
        if (this.handlers.capabilities & Capability.REVERSE) this.handlers.reverseResult?.(this, frame);
        return;
      case 'reverse-open':
        if (this.handlers.capabilities & Capability.REVERSE && this.handlers.reverseOpen) this.handlers.reverseOpen(this, frame);
        else this.sendError(frame.tunnelId, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Reverse tunnels are not enabled here');
        return;
    }
  }

  /** The friend went offline or is being removed: every tunnel fails. */
  closeAll(reason: string): void {
    this.link.clear();
    for (const tunnel of [...this.tunnels.values()]) tunnel.fail(reason);
    for (const id of [...this.pending.keys()]) this.cancelPending(id);
  }

  private rememberClosed(id: number): void {
    this.recentlyClosed.add(id);
    if (this.recentlyClosed.size > RECENTLY_CLOSED_LIMIT) {
      const oldest = this.recentlyClosed.values().next().value;
      if (oldest !== undefined) this.recentlyClosed.delete(oldest);
    }
  }
}
