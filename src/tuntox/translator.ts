// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Speaks tuntox to one friend by translating, so that everything above the wire — the
 * server's rules, limits, stats and revocation, the client's forwards, SOCKS and pipe, the
 * tunnels themselves — is the same code for tuntox peers as for ours:
 *
 *   ours (what the session and its tunnels send)     tuntox (on the wire)
 *   OPEN(id, host, port)          (client)   ->  REQUESTTUNNEL(connid=port, forward id + host)
 *   ACK(id, 0) "connected"        (server)   ->  ACKTUNNEL(connid=id, forward id)
 *   ERROR(id) before the ACK      (server)   ->  DENYTUNNEL(connid 0, forward id + reason)
 *   DATA(id, ≤1367 bytes)                    ->  TCP(remote id), split at 1365 bytes
 *   CLOSE(id), ERROR(id) on an open tunnel   ->  TCP_FIN(remote id) (never echoed back)
 *   ACK(id, n>0), PING, PONG, HELLO, FIN, REVERSE_*  -> nothing: tuntox has no flow control,
 *                                                 keepalive or extensions
 *
 * and back: REQUESTTUNNEL -> OPEN with a tunnel id we pick (random, 1..65535, unused);
 * ACKTUNNEL -> ACK(0) (an ACK for a forward id we gave up on is answered with TCP_FIN, which
 * frees the server's orphaned tunnel, TUNTOX.md §8.1); DENYTUNNEL -> ERROR; TCP -> DATA;
 * TCP_FIN -> CLOSE; PING -> PONG with the same data.
 *
 * No data is ever lost for want of flow control: each DATA handed to the link is acknowledged
 * to our tunnel at once (the peer will never ACK), so the tunnel's window never closes, and
 * what holds our sender back is the link — toxcore's SENDQ queues packets in order and pauses
 * the tunnel's socket while they wait. The receiving direction cannot push back on a tuntox
 * peer; our tunnels buffer (bounded, see TUNTOX_RECEIVE_LIMIT_BYTES) instead of dropping.
 *
 * DENYTUNNEL is defined by tuntox and never sent by it; its C client ignores it (TUNTOX.md
 * §8.1), so we send it for refusals: connid 0, the forward id, then (ours) the reason text.
 */
import { randomInt } from 'node:crypto';
import { decodePacket, ErrorCode, type Frame, encodePacket } from '../protocol/frame.ts';
import {
  decodeTuntox,
  encodeForwardId,
  encodeRequest,
  encodeTuntox,
  forwardIdOf,
  isTuntoxPacket,
  parseRequest,
  TUNTOX_MAX_DATA,
  TUNTOX_PROBE,
  TuntoxType,
} from './frame.ts';

/** A tuntox peer has no flow control: our tunnels may buffer this much of its data for a slow local reader. */
export const TUNTOX_RECEIVE_LIMIT_BYTES = 32 * 1024 * 1024;
/** Forward ids we gave up on, remembered to free the server's tunnel if its ACK comes late. */
const EXPIRED_LIMIT = 1024;

export type TuntoxRole = 'server' | 'client';

/** What the translator needs from the friend session. */
export interface TranslatorHost {
  /** A frame, as if the peer had sent it in our protocol. */
  deliver(frame: Frame): void;
  /**
   * A tuntox packet to the peer, in order (the link passes tuntox packets through untouched);
   * `bestEffort`: an answer the peer asked for (PONG), dropped if the link is full.
   */
  sendRaw(packet: Uint8Array, bestEffort?: boolean): void;
  /** A tunnel id is taken (open, or being opened). */
  isInUse(id: number): boolean;
  /** A frame was dropped; `warn` for what a person should see (an incompatible peer). */
  dropped(reason: string, warn?: boolean): void;
}

const utf8Lenient = new TextDecoder('utf-8');

export class TuntoxTranslator {
  /** Live tunnels: our id -> the peer's id, and back. On the server both are the same. */
  private readonly toRemote = new Map<number, number>();
  private readonly toOurs = new Map<number, number>();
  /** Server: opens being decided, our id -> the client's forward id. */
  private readonly pendingById = new Map<number, number>();
  /** Client: requests sent, forward id -> our id. */
  private readonly pendingByForward = new Map<number, number>();
  private readonly expired = new Set<number>();
  /** tuntox starts its counter at rand() and increments it for each request. */
  private nextForward = randomInt(0, 2 ** 32);

  constructor(
    readonly role: TuntoxRole,
    private readonly host: TranslatorHost,
  ) {}

  /**
   * Sent when a friend whose protocol is unknown comes online: our PING first (so a toxtunnel
   * peer always sees one of our frames before anything tuntox, and decides "toxtunnel"), then
   * tuntox's PING, which every V2 tuntox peer answers with a PONG.
   */
  probe(): Uint8Array[] {
    return [encodePacket({ kind: 'ping' }), TUNTOX_PROBE];
  }

  /** The friend went offline: tunnels are gone on both sides. */
  reset(): void {
    this.toRemote.clear();
    this.toOurs.clear();
    this.pendingById.clear();
    this.pendingByForward.clear();
  }

  /** One of our packets -> what goes on the wire to a tuntox peer (maybe nothing). */
  outbound(packet: Uint8Array): Uint8Array[] {
    if (isTuntoxPacket(packet)) return [packet];
    const decoded = decodePacket(packet);
    if (!decoded.ok) return [];
    const frame = decoded.frame;
    switch (frame.kind) {
      case 'open': {
        if (this.role !== 'client') return [];
        const forwardId = this.nextForward = (this.nextForward + 1) >>> 0;
        this.pendingByForward.set(forwardId, frame.tunnelId);
        return [encodeRequest(frame.port, forwardId, frame.host)];
      }
      case 'ack': {
        const forwardId = this.pendingById.get(frame.tunnelId);
        if (frame.bytesAcked !== 0 || forwardId === undefined) return []; // flow control: tuntox has none
        this.pendingById.delete(frame.tunnelId);
        this.map(frame.tunnelId, frame.tunnelId);
        return [encodeForwardId(TuntoxType.ACK_TUNNEL, frame.tunnelId, forwardId)];
      }
      case 'error': {
        const forwardId = this.pendingById.get(frame.tunnelId);
        if (forwardId !== undefined) {
          this.pendingById.delete(frame.tunnelId);
          return [encodeForwardId(TuntoxType.DENY_TUNNEL, 0, forwardId, frame.description)];
        }
        return this.finish(frame.tunnelId);
      }
      case 'data': {
        const remote = this.toRemote.get(frame.tunnelId);
        if (remote === undefined) return [];
        const out: Uint8Array[] = [];
        for (let at = 0; at < frame.payload.length; at += TUNTOX_MAX_DATA) {
          out.push(encodeTuntox(TuntoxType.TCP, remote, frame.payload.subarray(at, at + TUNTOX_MAX_DATA)));
        }
        // The peer never acknowledges: the link's queue is the window (see above).
        const { tunnelId } = frame;
        const bytesAcked = frame.payload.length;
        queueMicrotask(() => this.host.deliver({ kind: 'ack', tunnelId, bytesAcked }));
        return out;
      }
      case 'close': {
        const out = this.finish(frame.tunnelId);
        if (out.length > 0) {
          // tuntox never answers a FIN: end our tunnel's wait for the peer's CLOSE now.
          const { tunnelId } = frame;
          queueMicrotask(() => this.host.deliver({ kind: 'close', tunnelId }));
        }
        return out;
      }
      default:
        return [];
    }
  }

  /** A packet from the tuntox peer. */
  inbound(packet: Uint8Array): void {
    const decoded = decodeTuntox(packet);
    if (!decoded.ok) {
      this.host.dropped(decoded.reason, decoded.reason.includes('version 1'));
      return;
    }
    const { type, connid, data } = decoded.frame;
    switch (type) {
      case TuntoxType.PING:
        // Both sides answer any PING: connid 0, the same data.
        this.host.sendRaw(encodeTuntox(TuntoxType.PONG, 0, data), true);
        return;
      case TuntoxType.PONG:
        return;
      case TuntoxType.REQUEST_TUNNEL:
        if (this.role === 'server') this.request(connid, data);
        else this.host.dropped('a tuntox REQUESTTUNNEL sent to a client', true);
        return;
      case TuntoxType.ACK_TUNNEL:
        if (this.role === 'client') this.acked(connid, data);
        else this.host.dropped('a tuntox ACKTUNNEL sent to a server', true);
        return;
      case TuntoxType.DENY_TUNNEL:
        if (this.role === 'client') this.denied(data);
        return;
      case TuntoxType.TCP: {
        const ours = this.toOurs.get(connid);
        // Data for an unknown tunnel (closed a moment ago) is ignored, as tuntox does; length 0 is a no-op.
        if (ours !== undefined && data.length > 0) this.host.deliver({ kind: 'data', tunnelId: ours, payload: data });
        return;
      }
      case TuntoxType.TCP_FIN: {
        const ours = this.toOurs.get(connid);
        if (ours === undefined) return;
        this.unmap(ours);
        this.host.deliver({ kind: 'close', tunnelId: ours });
        return;
      }
      default:
        this.host.dropped(`unknown tuntox frame type 0x${type.toString(16).padStart(4, '0')}`);
    }
  }

  /** Server: a client asks for host:port. */
  private request(port: number, data: Uint8Array): void {
    const parsed = parseRequest(data);
    if ('problem' in parsed) {
      this.host.dropped(parsed.problem, true);
      return;
    }
    if (port === 0) {
      this.host.dropped('a tuntox REQUESTTUNNEL for port 0', true);
      return;
    }
    const id = this.freeId();
    if (id === undefined) {
      this.host.sendRaw(encodeForwardId(TuntoxType.DENY_TUNNEL, 0, parsed.forwardId, 'Tunnel limit exceeded'));
      return;
    }
    this.pendingById.set(id, parsed.forwardId);
    this.host.deliver({ kind: 'open', tunnelId: id, host: parsed.host, port });
  }

  /** Client: the server connected a request of ours. */
  private acked(remote: number, data: Uint8Array): void {
    const forwardId = forwardIdOf(data);
    const ours = forwardId === undefined ? undefined : this.pendingByForward.get(forwardId);
    if (ours === undefined) {
      // Too late (we gave up) or not ours: free the server's tunnel.
      if (forwardId !== undefined && this.expired.delete(forwardId)) this.host.sendRaw(encodeTuntox(TuntoxType.TCP_FIN, remote));
      else this.host.dropped(`a tuntox ACKTUNNEL for an unknown forward id ${forwardId ?? '(none)'}`);
      return;
    }
    this.pendingByForward.delete(forwardId!);
    const previous = this.toOurs.get(remote);
    if (previous !== undefined) {
      // The server reuses ids only after a tunnel ended: it must have lost our FIN or its own.
      this.unmap(previous);
      this.host.deliver({ kind: 'error', tunnelId: previous, code: ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, description: 'the tuntox server reused this tunnel id' });
    }
    this.map(ours, remote);
    this.host.deliver({ kind: 'ack', tunnelId: ours, bytesAcked: 0 });
  }

  /** Client: a refusal (only toxtunnel servers send one; tuntox is silent). */
  private denied(data: Uint8Array): void {
    const forwardId = forwardIdOf(data);
    const ours = forwardId === undefined ? undefined : this.pendingByForward.get(forwardId);
    if (ours === undefined) return;
    this.pendingByForward.delete(forwardId!);
    const description = utf8Lenient.decode(data.subarray(4)).replace(/[\u0000-\u001f\u007f]/g, '?') || 'refused by the server';
    // The reason's family, as TUNNEL_ERROR's overloaded codes have it (for SOCKS replies).
    const code = /dns/i.test(description) ? ErrorCode.DNS_FAILED_OR_ID_IN_USE : /connect failed|limit/i.test(description) ? ErrorCode.CONNECT_FAILED_OR_LIMIT : ErrorCode.ACCESS_DENIED_OR_NOT_FOUND;
    this.host.deliver({ kind: 'error', tunnelId: ours, code, description });
  }

  /** Our side ends tunnel `ours`: TCP_FIN if it is live; a pending request is given up. */
  private finish(ours: number): Uint8Array[] {
    const remote = this.toRemote.get(ours);
    if (remote !== undefined) {
      this.unmap(ours);
      return [encodeTuntox(TuntoxType.TCP_FIN, remote)];
    }
    for (const [forwardId, id] of this.pendingByForward) {
      if (id !== ours) continue;
      this.pendingByForward.delete(forwardId);
      this.expired.add(forwardId);
      if (this.expired.size > EXPIRED_LIMIT) this.expired.delete(this.expired.values().next().value!);
      break;
    }
    return [];
  }

  private map(ours: number, remote: number): void {
    this.toRemote.set(ours, remote);
    this.toOurs.set(remote, ours);
  }

  private unmap(ours: number): void {
    const remote = this.toRemote.get(ours);
    this.toRemote.delete(ours);
    if (remote !== undefined && this.toOurs.get(remote) === ours) this.toOurs.delete(remote);
  }

  /** Server: a random unused tunnel id, 1..65535 (tuntox also uses 0; we keep 0 for PING/PONG). */
  private freeId(): number | undefined {
    const taken = (id: number) => this.host.isInUse(id) || this.pendingById.has(id) || this.toOurs.has(id);
    for (let i = 0; i < 64; i++) {
      const id = randomInt(1, 65536);
      if (!taken(id)) return id;
    }
    for (let id = 1; id <= 0xffff; id++) if (!taken(id)) return id;
    return undefined;
  }
}
