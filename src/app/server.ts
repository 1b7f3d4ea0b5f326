// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The server: runs where the target services are reachable. It accepts friend requests,
 * and for each TUNNEL_OPEN applies the access rules (keyed by the friend's public key),
 * resolves the host (IPv4 and IPv6), connects, and answers ACK(0) — "connected" — or a
 * TUNNEL_ERROR whose text the client shows.
 */
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { ErrorCode } from '../protocol/frame.ts';
import type { FriendSession, OpenRequest } from '../tunnel/friend-session.ts';
import type { Logger } from './logger.ts';
import { type NetworkOptions, ToxRuntime } from './tox-runtime.ts';

/** Decides whether a friend may open a tunnel to host:port (the rules file). */
export interface AccessPolicy {
  decide(friendPublicKey: string, host: string, port: number): { allowed: boolean; reason: string };
}

export interface ServerOptions extends NetworkOptions {
  /** undefined = no rules file: every friend may reach every host (warned at start). */
  policy: AccessPolicy | undefined;
  /** The protocol's limit: 100 concurrent tunnels per friend. */
  maxTunnelsPerFriend?: number;
  /** Time to connect to a target before answering "TCP connect failed". */
  connectTimeoutMs?: number;
}

export class ToxtunnelServer {
  private constructor(
    readonly runtime: ToxRuntime,
    private readonly options: ServerOptions,
    private readonly log: Logger,
  ) {
    runtime.node.on('friendRequest', (request) => {
      // Like the existing server: accept every request; rules apply at TUNNEL_OPEN.
      const friend = runtime.node.addFriendNoRequest(request.publicKey);
      runtime.save();
      log.info(`accepted friend request from ${request.publicKey} (friend ${friend})`);
    });
  }

  static async start(options: ServerOptions, log: Logger): Promise<ToxtunnelServer> {
    if (!options.policy) {
      log.warn('NO RULES FILE: every friend may open tunnels to ANY host and port this machine reaches. Set server.rules_file to restrict access.');
    }
    let server: ToxtunnelServer | undefined;
    const runtime = await ToxRuntime.start(options, log, {
      open: (session, request) => server?.open(session, request),
      tunnelClosed: (session, tunnel, error) =>
        log.info(`tunnel ${tunnel.id} closed (friend ${session.friendNumber}; ${tunnel.stats.bytesIn} bytes in, ${tunnel.stats.bytesOut} out)${error ? `: ${error}` : ''}`),
      badFrame: (session, reason) => log.debug(`dropped a frame from friend ${session.friendNumber}: ${reason}`),
    });
    server = new ToxtunnelServer(runtime, options, log);
    log.info(`Tox ID: ${runtime.node.address.text}`);
    return server;
  }

  get toxId(): string {
    return this.runtime.node.address.text;
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
      this.log.warn(`friend ${session.friendNumber}: tunnel limit (${limit}) reached, refused ${host}:${port}`);
      return;
    }
    if (this.options.policy) {
      const decision = this.options.policy.decide(session.publicKey, host, port);
      if (!decision.allowed) {
        session.sendError(tunnelId, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied');
        this.log.warn(`friend ${session.friendNumber}: denied ${host}:${port}: ${decision.reason}`);
        return;
      }
    }
    session.pendingOpens.add(tunnelId);
    void this.connect(session, request);
  }

  private async connect(session: FriendSession, { tunnelId, host, port }: OpenRequest): Promise<void> {
    const stillWanted = () => session.pendingOpens.has(tunnelId);
    let address: string;
    try {
      address = net.isIP(host) ? host : (await lookup(host)).address;
    } catch (error) {
      if (!stillWanted()) return;
      session.pendingOpens.delete(tunnelId);
      session.sendError(tunnelId, ErrorCode.DNS_FAILED_OR_ID_IN_USE, `DNS resolution failed: ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      this.log.warn(`friend ${session.friendNumber}: cannot resolve ${host}`);
      return;
    }
    if (!stillWanted()) return;
    const socket = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      if (!stillWanted()) {
        socket.destroy();
        return;
      }
      session.pendingOpens.delete(tunnelId);
      session.addTunnel(tunnelId, socket, socket, 'open');
      session.send({ kind: 'ack', tunnelId, bytesAcked: 0 });
      this.log.info(`tunnel ${tunnelId} open: friend ${session.friendNumber} -> ${host}:${port}`);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (session.tunnels.has(tunnelId) || !stillWanted()) return; // the tunnel handles later errors
      session.pendingOpens.delete(tunnelId);
      session.sendError(tunnelId, ErrorCode.CONNECT_FAILED_OR_LIMIT, `TCP connect failed: ${host}:${port}: ${error.code ?? error.message}`);
      this.log.warn(`friend ${session.friendNumber}: connect to ${host}:${port} failed: ${error.code ?? error.message}`);
    });
  }

  stop(): void {
    this.runtime.stop();
  }
}
