// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The server: runs where the target services are reachable. It accepts friends (all of them,
 * as the existing server does, unless a shared secret, a whitelist or a rules file says
 * otherwise), and for each TUNNEL_OPEN applies the access rules (keyed by the friend's public
 * key), resolves the host (IPv4 and IPv6), connects, and answers ACK(0) — "connected" — or a
 * TUNNEL_ERROR whose text the client shows. With the REVERSE extension it also listens on a
 * friend's behalf (ssh -R), see reverse-listeners.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { ErrorCode, OUR_CAPABILITIES } from '../protocol/frame.ts';
import type { FriendSession, OpenRequest } from '../tunnel/friend-session.ts';
import type { Tunnel } from '../tunnel/tunnel.ts';
import type { Logger } from './logger.ts';
import { ReverseListeners } from './reverse-listeners.ts';
import { TunnelStats } from './tunnel-stats.ts';
import { type NetworkOptions, ToxRuntime } from './tox-runtime.ts';

/** Decides who may connect and where to (the rules file). */
export interface AccessPolicy {
  decide(friendPublicKey: string, host: string, port: number): { allowed: boolean; reason: string };
  /** A friend with no rule in force is not accepted (and is removed when revoked). */
  admits(friendPublicKey: string): boolean;
  decideListen(friendPublicKey: string, bind: string, port: number): { allowed: boolean; reason: string };
  nextExpiry(): Date | undefined;
}

export interface ServerOptions extends NetworkOptions {
  /** undefined = no rules file: every friend may reach every host (warned at start). */
  policy: AccessPolicy | undefined;
  /** Friend requests must carry this message (tuntox's -s); compared in constant time. */
  sharedSecret?: string;
  /** Only these public keys (64 hex) are accepted as friends. */
  whitelist?: string[];
  /** Our protocol extensions (half-close, reverse); false = behave as a base-protocol peer. */
  extensions?: boolean;
  /** The protocol's limit: 100 concurrent tunnels per friend. */
  maxTunnelsPerFriend?: number;
  /** Time to connect to a target before answering "TCP connect failed". */
  connectTimeoutMs?: number;
}

/** Fixed-length digests, so the comparison takes the same time whatever the lengths. */
function secretMatches(given: Uint8Array, expected: string): boolean {
  const digest = (b: Uint8Array | string) => createHash('sha256').update(b).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export class ToxtunnelServer {
  readonly stats = new TunnelStats();
  private policy: AccessPolicy | undefined;
  private readonly reverse: ReverseListeners;
  /** Where each forward tunnel goes, to re-check it when the rules change. */
  private readonly targets = new WeakMap<Tunnel, { host: string; port: number }>();
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    readonly runtime: ToxRuntime,
    private readonly options: ServerOptions,
    private readonly log: Logger,
  ) {
    this.policy = options.policy;
    this.reverse = new ReverseListeners(runtime, log, this.stats, {
      decide: (session, bind, port) =>
        this.policy ? this.policy.decideListen(session.publicKey, bind, port) : { allowed: true, reason: 'no rules file' },
      maxTunnelsPerFriend: options.maxTunnelsPerFriend ?? 100,
    });
    runtime.node.on('friendRequest', (request) => {
      const refusal = this.refusal(request.publicKey, request.message);
      if (refusal) {
        // Never log the message: it may be a (wrong) shared secret.
        log.warn(`refused a friend request from ${request.publicKey}: ${refusal}`);
        return;
      }
      const friend = runtime.node.addFriendNoRequest(request.publicKey);
      runtime.save();
      log.info(`accepted friend request from ${request.publicKey} (friend ${friend})`);
    });
  }

  static async start(options: ServerOptions, log: Logger): Promise<ToxtunnelServer> {
    if (!options.policy) {
      log.warn('NO RULES FILE: every friend may open tunnels to ANY host and port this machine reaches. Set server.rules_file to restrict access.');
    }
    if (options.sharedSecret === undefined && !options.whitelist && !options.policy) {
      log.warn('every friend request is accepted (no shared secret, whitelist or rules file)');
    }
    let server: ToxtunnelServer | undefined;
    const runtime = await ToxRuntime.start(options, log, {
      capabilities: options.extensions === false ? 0 : OUR_CAPABILITIES,
      open: (session, request) => server?.open(session, request),
      tunnelClosed: (session, tunnel, error) => {
        server?.stats.closed(tunnel, error);
        log.info(`tunnel ${tunnel.id} closed (friend ${session.friendNumber}; ${tunnel.stats.bytesIn} bytes in, ${tunnel.stats.bytesOut} out)${error ? `: ${error}` : ''}`);
      },
      badFrame: (session, reason) => log.debug(`dropped a frame from friend ${session.friendNumber}: ${reason}`),
      livenessChanged: (session, state, silentMs) =>
        state === 'unresponsive'
          ? log.warn(`friend ${session.friendNumber} stopped answering (${(silentMs / 1000).toFixed(1)} s): its tunnels are closed`)
          : log.info(`friend ${session.friendNumber} answers again`),
      sessionOffline: (session) => server?.reverse.closeFriend(session.friendNumber),
      reverseListen: (session, request) => void server?.reverse.listen(session, request),
      reverseCancel: (session, requestId) => server?.reverse.cancel(session.friendNumber, requestId),
    });
    server = new ToxtunnelServer(runtime, options, log);
    server.enforcePolicy('at start');
    log.info(`Tox ID: ${runtime.node.address.text}`);
    return server;
  }

  get toxId(): string {
    return this.runtime.node.address.text;
  }

  /** Why a friend is not accepted, or undefined. `message` is a friend request's message. */
  private refusal(publicKey: string, message?: Uint8Array): string | undefined {
    if (message !== undefined && this.options.sharedSecret !== undefined && !secretMatches(message, this.options.sharedSecret)) return 'wrong shared secret';
    if (this.options.whitelist && !this.options.whitelist.some((k) => k.toUpperCase() === publicKey.toUpperCase())) return 'not on the whitelist';
    if (this.policy && !this.policy.admits(publicKey)) return 'no rule for this friend in the rules file';
    return undefined;
  }

  /** New rules (reload): from now on they decide; friends they revoke are removed. */
  setPolicy(policy: AccessPolicy | undefined): void {
    this.policy = policy;
    this.enforcePolicy('rules changed');
  }

  /**
   * Applies the rules to what exists: a friend with no rule in force (revoked, expired, or not
   * on the whitelist) loses its tunnels and the friendship; a tunnel or reverse listener the
   * rules no longer allow is closed. Re-runs itself when the next rule expires.
   */
  enforcePolicy(why: string): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const friend of this.runtime.node.friends()) {
      const key = this.runtime.node.friendPublicKey(friend) ?? '';
      const refusal = this.refusal(key);
      if (!refusal) continue;
      const session = this.runtime.sessions.get(friend);
      const open = session?.activeCount ?? 0;
      this.log.warn(`${why}: friend ${friend} (${key.slice(0, 8)}…) ${refusal}: closing ${open} tunnel(s) and removing the friendship`);
      this.reverse.closeFriend(friend);
      this.runtime.removeFriend(friend, `access revoked (${refusal})`);
    }
    if (this.policy) {
      for (const session of this.runtime.sessions.values()) {
        for (const tunnel of [...session.tunnels.values()]) {
          const target = this.targets.get(tunnel);
          if (!target) continue;
          const decision = this.policy.decide(session.publicKey, target.host, target.port);
          if (!decision.allowed) {
            session.sendError(tunnel.id, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied (rules changed)');
            tunnel.fail(`access revoked: ${decision.reason}`);
          }
        }
      }
    }
    this.reverse.recheck();
    const next = this.policy?.nextExpiry();
    if (next) {
      // setTimeout holds at most ~24.8 days; re-check at least that often.
      const delay = Math.min(Math.max(0, next.getTime() - Date.now()) + 50, 2 ** 31 - 1);
      this.expiryTimer = setTimeout(() => this.enforcePolicy('a rule expired'), delay);
      this.expiryTimer.unref?.();
    }
  }

  private open(session: FriendSession, request: OpenRequest): void {
    const { tunnelId, host, port } = request;
    const limit = this.options.maxTunnelsPerFriend ?? 100;
    if (session.isInUse(tunnelId)) {
      session.sendError(tunnelId, ErrorCode.DNS_FAILED_OR_ID_IN_USE, 'Tunnel ID in use');
      return;
    }
    if (session.activeCount >= limit) {
      session.sendError(tunnelId, ErrorCode.CONNECT_FAILED_OR_LIMIT, 'Tunnel limit exceeded');
      this.stats.failed();
      this.log.warn(`friend ${session.friendNumber}: tunnel limit (${limit}) reached, refused ${host}:${port}`);
      return;
    }
    if (this.policy) {
      const decision = this.policy.decide(session.publicKey, host, port);
      if (!decision.allowed) {
        session.sendError(tunnelId, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied');
        this.stats.failed();
        this.log.warn(`friend ${session.friendNumber}: denied ${host}:${port}: ${decision.reason}`);
        return;
      }
    }
    session.pendingOpens.add(tunnelId);
    void this.connect(session, request);
  }

  private async connect(session: FriendSession, { tunnelId, host, port }: OpenRequest): Promise<void> {
    const stillWanted = () => session.pendingOpens.has(tunnelId);
    const refuse = (code: number, text: string) => {
      session.pendingOpens.delete(tunnelId);
      session.sendError(tunnelId, code, text);
      this.stats.failed();
    };
    let address: string;
    try {
      address = net.isIP(host) ? host : (await lookup(host)).address;
    } catch (error) {
      if (!stillWanted()) return;
      refuse(ErrorCode.DNS_FAILED_OR_ID_IN_USE, `DNS resolution failed: ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      this.log.warn(`friend ${session.friendNumber}: cannot resolve ${host}`);
      return;
    }
    if (!stillWanted()) return;
    const socket = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      if (!stillWanted()) {
        socket.destroy();
        return;
      }
      session.pendingOpens.delete(tunnelId);
      const tunnel = session.addTunnel(tunnelId, socket, socket, 'open', `${host}:${port}`);
      this.targets.set(tunnel, { host, port });
      this.stats.added(session, tunnel, 'inbound');
      session.send({ kind: 'ack', tunnelId, bytesAcked: 0 });
      this.log.info(`tunnel ${tunnelId} open: friend ${session.friendNumber} -> ${host}:${port}`);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (session.tunnels.has(tunnelId) || !stillWanted()) return; // the tunnel handles later errors
      refuse(ErrorCode.CONNECT_FAILED_OR_LIMIT, `TCP connect failed: ${host}:${port}: ${error.code ?? error.message}`);
      this.log.warn(`friend ${session.friendNumber}: connect to ${host}:${port} failed: ${error.code ?? error.message}`);
    });
  }

  /** A snapshot for `toxtunnel status` and the library's healthCheck(). */
  status(): Record<string, unknown> {
    const node = this.runtime.node;
    return {
      mode: 'server',
      toxId: node.address.text,
      network: node.connectionStatus,
      friends: node.friends().map((friend) => {
        const session = this.runtime.sessions.get(friend);
        return {
          friend,
          publicKey: node.friendPublicKey(friend),
          connection: node.friendConnectionStatus(friend),
          keepalive: session?.liveness.state ?? 'stopped',
          tunnels: session?.activeCount ?? 0,
        };
      }),
      reverseListeners: this.reverse.list(),
      ...this.stats.snapshot(),
    };
  }

  stop(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.reverse.closeAll();
    this.runtime.stop();
  }
}
