// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Reverse tunnels, server side (REVERSE extension, docs/protocol.md): a friend asks us to
 * listen on bind:port (REVERSE_LISTEN); the rules decide (a `listen` entry), we answer with
 * REVERSE_RESULT, and every connection accepted there becomes a tunnel we open towards the
 * friend with REVERSE_OPEN, using ids 0x8000..0xFFFF so they never collide with the client's.
 * The friend connects to its local service and answers ACK(0) or TUNNEL_ERROR, as a server
 * answers an OPEN. Listeners go away when the friend goes offline or cancels.
 */
import net from 'node:net';
import type { Decision } from '../config/rules.ts';
import { type CanonicalAddress, canonicalHost, classifyAddress, HostError } from '../net/target-host.ts';
import { type Frame, ReverseStatus } from '../protocol/frame.ts';
import { SERVER_TUNNEL_IDS, TunnelIdAllocator } from '../protocol/flow-control.ts';
import type { FriendSession } from '../tunnel/friend-session.ts';
import type { Logger } from './logger.ts';
import type { ToxRuntime } from './tox-runtime.ts';
import type { TunnelStats } from './tunnel-stats.ts';

/** The default bind address of a reverse listener: loopback, as ssh -R does. */
export const DEFAULT_REVERSE_BIND = '127.0.0.1';
/** Listeners one friend may hold at once. */
const MAX_LISTENERS_PER_FRIEND = 32;
/** Time the friend has to answer a REVERSE_OPEN. */
const OPEN_TIMEOUT_MS = 20_000;

interface Listener {
  friend: number;
  requestId: number;
  bind: CanonicalAddress;
  port: number;
  server: net.Server;
}

export interface ReversePolicy {
  decide(session: FriendSession, bind: CanonicalAddress, port: number): Decision;
  maxTunnelsPerFriend: number;
  /** How a friend is named in the log. */
  label(session: FriendSession): string;
}

/**
 * The address a REVERSE_LISTEN asks for: "" and "localhost" are 127.0.0.1, "*" is 0.0.0.0 (as
 * ssh -R), other text must be an address (a name would need a lookup); never multicast.
 */
export function listenAddress(bind: string): CanonicalAddress {
  const text = bind === '' || bind === 'localhost' ? DEFAULT_REVERSE_BIND : bind === '*' ? '0.0.0.0' : bind;
  const host = canonicalHost(text);
  if (host.kind === 'name') throw new HostError(bind, 'a reverse listener binds to an address, not a name');
  const kind = classifyAddress(host);
  if (kind === 'multicast' || kind === 'broadcast' || kind === 'this-network' || kind === 'ipv4-compatible') throw new HostError(bind, `a ${kind} address cannot be listened on`);
  return host;
}

export class ReverseListeners {
  private readonly listeners = new Map<string, Listener>();
  private readonly ids = new Map<number, TunnelIdAllocator>();

  constructor(
    private readonly runtime: ToxRuntime,
    private readonly log: Logger,
    private readonly stats: TunnelStats,
    private readonly policy: ReversePolicy,
  ) {}

  async listen(session: FriendSession, request: Extract<Frame, { kind: 'reverse-listen' }>): Promise<void> {
    const { requestId, port } = request;
    const answer = (status: number, actualPort: number, message: string) =>
      session.send({ kind: 'reverse-result', requestId, status, port: actualPort, message });
    const key = `${session.friendNumber}:${requestId}`;
    if (this.listeners.has(key)) {
      answer(ReverseStatus.INVALID, 0, `request id ${requestId} is already listening`);
      return;
    }
    if (this.countFor(session.friendNumber) >= MAX_LISTENERS_PER_FRIEND) {
      answer(ReverseStatus.INVALID, 0, `at most ${MAX_LISTENERS_PER_FRIEND} reverse listeners per friend`);
      return;
    }
    let bindAddress: CanonicalAddress;
    try {
      bindAddress = listenAddress(request.bind);
    } catch (error) {
      if (!(error instanceof HostError)) throw error;
      answer(ReverseStatus.INVALID, 0, error.message);
      this.log.warn(`${this.policy.label(session)}: reverse listen refused: ${error.message}`);
      return;
    }
    const bind = bindAddress.text;
    const decision = this.policy.decide(session, bindAddress, port);
    if (!decision.allowed) {
      answer(ReverseStatus.NOT_ALLOWED, 0, `Not allowed to listen on ${bind}:${port}`);
      this.log.warn(`${this.policy.label(session)}: reverse listen on ${bind}:${port} denied: ${decision.reason}`);
      return;
    }
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
      this.accept(key, socket),
    );
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: bind, port, exclusive: true, ipv6Only: bindAddress.kind === 'ipv6' }, () => resolve());
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      answer(ReverseStatus.LISTEN_FAILED, 0, code === 'EADDRINUSE' ? `Port ${bind}:${port} is in use on the server` : `Cannot listen on ${bind}:${port}: ${code}`);
      this.log.warn(`${this.policy.label(session)}: reverse listen on ${bind}:${port} failed: ${code}`);
      return;
    }
    // The friend may have gone, or lost the right, while we were binding.
    if (this.runtime.sessions.get(session.friendNumber) !== session || !session.responsive) {
      server.close();
      return;
    }
    const again = this.policy.decide(session, bindAddress, port);
    if (!again.allowed) {
      server.close();
      answer(ReverseStatus.NOT_ALLOWED, 0, `Not allowed to listen on ${bind}:${port}`);
      this.log.warn(`${this.policy.label(session)}: reverse listen on ${bind}:${port} revoked while binding: ${again.reason}`);
      return;
    }
    const actualPort = (server.address() as net.AddressInfo).port;
    this.listeners.set(key, { friend: session.friendNumber, requestId, bind: bindAddress, port: actualPort, server });
    server.on('error', (error) => this.log.warn(`reverse listener ${bind}:${actualPort}: ${error.message}`));
    answer(ReverseStatus.LISTENING, actualPort, `listening on ${bind}:${actualPort}`);
    this.log.info(`reverse tunnel: listening on ${bind}:${actualPort} for ${this.policy.label(session)}`);
  }

  private accept(key: string, socket: net.Socket): void {
    const listener = this.listeners.get(key);
    const session = listener && this.runtime.sessions.get(listener.friend);
    if (!listener || !session?.responsive) {
      socket.destroy();
      return;
    }
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    if (session.activeCount >= this.policy.maxTunnelsPerFriend) {
      this.log.warn(`reverse ${listener.bind.text}:${listener.port}: friend ${listener.friend} is at its tunnel limit; dropped a connection from ${from}`);
      this.stats.failed();
      socket.destroy();
      return;
    }
    let ids = this.ids.get(listener.friend);
    if (!ids) this.ids.set(listener.friend, (ids = new TunnelIdAllocator(SERVER_TUNNEL_IDS)));
    let id = ids.allocate();
    while (id !== undefined && session.isInUse(id)) id = ids.allocate();
    if (id === undefined) {
      socket.destroy();
      return;
    }
    const tunnelId = id;
    const tunnel = session.addTunnel(tunnelId, socket, socket, 'opening', `reverse ${listener.bind.text}:${listener.port} <- ${from}`);
    this.stats.added(session, tunnel, 'reverse');
    session.send({ kind: 'reverse-open', tunnelId, requestId: listener.requestId });
    const timer = setTimeout(() => {
      if (tunnel.state === 'opening') tunnel.fail(`the client did not answer the reverse open within ${OPEN_TIMEOUT_MS / 1000} s`, true);
    }, OPEN_TIMEOUT_MS);
    timer.unref?.();
    socket.once('close', () => {
      clearTimeout(timer);
      ids.release(tunnelId);
    });
    this.log.info(`tunnel ${tunnelId} opening: ${listener.bind.text}:${listener.port} <- ${from} -> friend ${listener.friend}`);
  }

  cancel(friend: number, requestId: number): void {
    this.close(`${friend}:${requestId}`, 'cancelled by the friend');
  }

  closeFriend(friend: number): void {
    for (const [key, listener] of this.listeners) if (listener.friend === friend) this.close(key, 'the friend went away');
    this.ids.delete(friend);
  }

  /** After a rules change: close listeners no longer allowed. */
  recheck(): void {
    for (const [key, listener] of this.listeners) {
      const session = this.runtime.sessions.get(listener.friend);
      if (!session || !this.policy.decide(session, listener.bind, listener.port).allowed) this.close(key, 'no longer allowed by the rules');
    }
  }

  closeAll(): void {
    for (const key of [...this.listeners.keys()]) this.close(key, 'shutting down');
  }

  list(): Array<{ friend: number; bind: string; port: number }> {
    return [...this.listeners.values()].map(({ friend, bind, port }) => ({ friend, bind: bind.text, port }));
  }

  private close(key: string, why: string): void {
    const listener = this.listeners.get(key);
    if (!listener) return;
    this.listeners.delete(key);
    listener.server.close();
    this.log.info(`reverse tunnel: stopped listening on ${listener.bind.text}:${listener.port} (${why})`);
  }

  private countFor(friend: number): number {
    let n = 0;
    for (const listener of this.listeners.values()) if (listener.friend === friend) n++;
    return n;
  }
}
