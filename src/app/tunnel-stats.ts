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
    if (error) this.errors++;
    if (!this.open.delete(tunnel)) return;
    this.closedBytesIn += tunnel.stats.bytesIn;
    this.closedBytesOut += tunnel.stats.bytesOut;
    this.lastActivity = Math.max(this.lastActivity, tunnel.stats.lastActivity);
  }

  /** A connection that failed before it became a tunnel (refused, offline, denied…). */
  failed(): void {
    this.errors++;
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
      tunnel: tunnel.id,
      bytesIn: tunnel.stats.bytesIn,
      bytesOut: tunnel.stats.bytesOut,
      openedAt: new Date(tunnel.stats.openedAt).toISOString(),
      lastActivity: new Date(tunnel.stats.lastActivity).toISOString(),
    }));
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
