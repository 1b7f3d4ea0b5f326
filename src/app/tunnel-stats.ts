// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The tunnel manager's bookkeeping, shared by server and client: what is open (with its kind,
 * state and target), and counters since start. `list()` and `snapshot()` feed the control
 * socket (`toxtunnel status` / `list`) and the library's `stats()`.
 */
import type { FriendSession } from '../tunnel/friend-session.ts';
import type { Tunnel } from '../tunnel/tunnel.ts';

export type TunnelKind = 'forward' | 'reverse' | 'socks' | 'pipe' | 'inbound';

export interface TunnelInfo {
  /** "friend:tunnel", what `toxtunnel close` takes. */
  id: string;
  kind: TunnelKind;
  state: string;
  target: string;
  friend: number;
  /** The friend's public key (64 hex). */
  publicKey: string;
  /** The friend's name (rules file or whitelist), when it has one. */
  name?: string;
  tunnel: number;
  bytesIn: number;
  bytesOut: number;
  openedAt: string;
  lastActivity: string;
}

export interface StatsSnapshot {
  connectionsTotal: number;
  connectionsActive: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  lastActivity: string | undefined;
}

interface Entry {
  session: FriendSession;
  tunnel: Tunnel;
  kind: TunnelKind;
}

export class TunnelStats {
  private readonly open = new Map<Tunnel, Entry>();
  private connectionsTotal = 0;
  private errors = 0;
  /** Errors by kind: "tunnel" (a tunnel ended with an error), "open" (refused before it opened). */
  private readonly errorKinds = new Map<string, number>();
  /** Bytes of closed tunnels per friend public key. */
  private readonly closedByFriend = new Map<string, { bytesIn: number; bytesOut: number }>();
  /** Bytes of tunnels already closed (open ones are added from their own counters). */
  private closedBytesIn = 0;
  private closedBytesOut = 0;
  private lastActivity = 0;

  added(session: FriendSession, tunnel: Tunnel, kind: TunnelKind): void {
    this.connectionsTotal++;
    this.lastActivity = Date.now();
    this.open.set(tunnel, { session, tunnel, kind });
  }

  closed(tunnel: Tunnel, error: string | undefined): void {
    if (error) this.countError('tunnel');
    const entry = this.open.get(tunnel);
    if (!entry || !this.open.delete(tunnel)) return;
    this.closedBytesIn += tunnel.stats.bytesIn;
    this.closedBytesOut += tunnel.stats.bytesOut;
    const friend = this.closedByFriend.get(entry.session.publicKey) ?? { bytesIn: 0, bytesOut: 0 };
    friend.bytesIn += tunnel.stats.bytesIn;
    friend.bytesOut += tunnel.stats.bytesOut;
    this.closedByFriend.set(entry.session.publicKey, friend);
    this.lastActivity = Math.max(this.lastActivity, tunnel.stats.lastActivity);
  }

  /** A connection that failed before it became a tunnel (refused, offline, denied…). */
  failed(kind = 'open'): void {
    this.countError(kind);
  }

  private countError(kind: string): void {
    this.errors++;
    this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
  }

  /** Errors so far by kind (for metrics). */
  errorsByKind(): Record<string, number> {
    return Object.fromEntries(this.errorKinds);
  }

  /** Bytes and open tunnels of one friend (by public key), closed tunnels included in the bytes. */
  friend(publicKey: string): { bytesIn: number; bytesOut: number; tunnels: number } {
    const closed = this.closedByFriend.get(publicKey);
    let bytesIn = closed?.bytesIn ?? 0;
    let bytesOut = closed?.bytesOut ?? 0;
    let tunnels = 0;
    for (const { session, tunnel } of this.open.values()) {
      if (session.publicKey !== publicKey) continue;
      bytesIn += tunnel.stats.bytesIn;
      bytesOut += tunnel.stats.bytesOut;
      tunnels++;
    }
    return { bytesIn, bytesOut, tunnels };
  }

  find(ref: string): Entry | undefined {
    const [a, b] = ref.split(':');
    for (const entry of this.open.values()) {
      if (b === undefined ? String(entry.tunnel.id) === a : String(entry.session.friendNumber) === a && String(entry.tunnel.id) === b) return entry;
    }
    return undefined;
  }

  list(): TunnelInfo[] {
    return [...this.open.values()].map(({ session, tunnel, kind }) => ({
      id: `${session.friendNumber}:${tunnel.id}`,
      kind,
      state: tunnel.state,
      target: tunnel.target,
      friend: session.friendNumber,
      publicKey: session.publicKey,
      tunnel: tunnel.id,
      bytesIn: tunnel.stats.bytesIn,
      bytesOut: tunnel.stats.bytesOut,
      openedAt: new Date(tunnel.stats.openedAt).toISOString(),
      lastActivity: new Date(tunnel.stats.lastActivity).toISOString(),
    }));
  }

  /** Bytes in and out of every tunnel since the start, together (cheap: for rate sampling). */
  totalBytes(): number {
    let bytes = this.closedBytesIn + this.closedBytesOut;
    for (const { tunnel } of this.open.values()) bytes += tunnel.stats.bytesIn + tunnel.stats.bytesOut;
    return bytes;
  }

  snapshot(): StatsSnapshot {
    let bytesIn = this.closedBytesIn;
    let bytesOut = this.closedBytesOut;
    let last = this.lastActivity;
    for (const { tunnel } of this.open.values()) {
      bytesIn += tunnel.stats.bytesIn;
      bytesOut += tunnel.stats.bytesOut;
      last = Math.max(last, tunnel.stats.lastActivity);
    }
    return {
      connectionsTotal: this.connectionsTotal,
      connectionsActive: this.open.size,
      errors: this.errors,
      bytesIn,
      bytesOut,
      lastActivity: last ? new Date(last).toISOString() : undefined,
    };
  }
}
