// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The server: runs where the target services are reachable. Access is closed by default: it
 * admits a friend only when a rules file, a shared secret or a whitelist says so (or when the
 * operator passed --allow-any), and for each TUNNEL_OPEN it
 *   1. refuses ids in use, the per-friend tunnel limit (open + pending), the per-friend OPEN
 *      rate, and too much work in flight (pending connects and name lookups);
 *   2. puts the host in canonical form (net/target-host.ts) and, for a name, resolves every
 *      address once (target-resolver.ts);
 *   3. lets the rules decide on the name *and* every address (deny wins), never dialling the
 *      unspecified, broadcast or multicast addresses;
 *   4. connects to exactly the address that was checked, and checks again when the connect
 *      completes (the friend may have been revoked meanwhile);
 * then answers ACK(0) — "connected" — or a TUNNEL_ERROR whose text the client shows. A CLOSE
 * for a pending OPEN cancels its connect. With the REVERSE extension it also listens on a
 * friend's behalf (ssh -R), see reverse-listeners.ts. No event handler can take it down: a
 * failure is logged with the friend, and the others are served on.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import net from 'node:net';
import type { AccessPolicy, Decision, ResolvedTarget } from '../config/rules.ts';
import { ToxtunnelError } from '../errors.ts';
import { type CanonicalHost, canonicalHost, HostError } from '../net/target-host.ts';
import { ErrorCode, OUR_CAPABILITIES } from '../protocol/frame.ts';
import type { FriendSession, OpenRequest } from '../tunnel/friend-session.ts';
import type { Tunnel } from '../tunnel/tunnel.ts';
import { AdmissionLedger } from './admissions.ts';
import type { Logger } from './logger.ts';
import { ThrottledLog, TokenBucket } from './rate-limit.ts';
import { ReverseListeners } from './reverse-listeners.ts';
import { forbiddenAddress, LookupBusyError, TargetResolver } from './target-resolver.ts';
import { TunnelStats } from './tunnel-stats.ts';
import { DialQueue, type DialTicket } from './dial-queue.ts';
import { type NetworkOptions, ToxRuntime } from './tox-runtime.ts';

export type { AccessPolicy } from '../config/rules.ts';

export interface ServerOptions extends NetworkOptions {
  /** The rules file; undefined = no rules: admitted friends may reach any target, never listen. */
  policy: AccessPolicy | undefined;
  /** Friend requests must carry this message (tuntox's -s); compared in constant time. */
  sharedSecret?: string;
  /** Only these public keys (64 hex) are accepted as friends. */
  whitelist?: string[];
  /** Admit every friend when nothing else configures access (--allow-any): warned at start. */
  allowAny?: boolean;
  /** Our protocol extensions (half-close, reverse); false = behave as a base-protocol peer. */
  extensions?: boolean;
  /** The protocol's limit: 100 concurrent tunnels per friend (open and pending). */
  maxTunnelsPerFriend?: number;
  /** Friends kept at most; further friend requests are refused. */
  maxFriends?: number;
  /** OPENs being resolved or connected at once, per friend and for the whole server (more wait their turn). */
  maxPendingPerFriend?: number;
  maxPendingTotal?: number;
  /** OPENs waiting for one of those slots, for the whole server; beyond it they are refused. */
  maxWaitingOpens?: number;
  /** OPENs a friend may send per second (sustained), and in a burst. */
  opensPerSecond?: number;
  opensBurst?: number;
  /** Time to connect to a target before answering "TCP connect failed". */
  connectTimeoutMs?: number;
  /** Accept tuntox clients too (protocol chosen per friend, docs/tuntox.md); default true. */
  tuntox?: boolean;
}

export const SERVER_LIMITS = {
  maxTunnelsPerFriend: 100,
  maxFriends: 100,
  maxPendingPerFriend: 32,
  maxPendingTotal: 512,
  maxWaitingOpens: 4096,
  opensPerSecond: 2000,
  opensBurst: 2000,
  connectTimeoutMs: 10_000,
} as const;

/**
 * Fixed-length digests, so the comparison takes the same time whatever the lengths. One
 * trailing NUL is ignored: tuntox clients send the secret followed by 0x00 (TUNTOX.md §5).
 */
function secretMatches(given: Uint8Array, expected: string): boolean {
  const digest = (b: Uint8Array | string) => createHash('sha256').update(b).digest();
  const message = given.length > 0 && given[given.length - 1] === 0 ? given.subarray(0, -1) : given;
  return timingSafeEqual(digest(message), digest(expected));
}

/** Where each forward tunnel goes: what was checked, to check it again when the rules change. */
interface TunnelTarget {
  target: ResolvedTarget;
  port: number;
  dialled: string;
}

/**
 * An OPEN between its first checks and its connect: ended once, by finish() when the lookup or
 * connect settles, or by its CLOSE (or the friend leaving), which sets `cancelled`.
 */
interface PendingOpen {
  readonly session: FriendSession;
  readonly request: OpenRequest;
  readonly canonical: CanonicalHost;
  socket: net.Socket | undefined;
  cancelled: boolean;
  /** Its place among the server's dials (DialQueue). */
  dial: DialTicket | undefined;
  finish(): boolean;
  refuse(code: number, text: string, logText: string, kind: string): void;
}

export class ToxtunnelServer {
  readonly stats = new TunnelStats();
  private policy: AccessPolicy | undefined;
  private rulesProblem: string | undefined;
  private readonly reverse: ReverseListeners;
  private readonly targets = new WeakMap<Tunnel, TunnelTarget>();
  private readonly resolver = new TargetResolver();
  private readonly openRates = new Map<number, TokenBucket>();
  private readonly ledger: AdmissionLedger;
  private readonly throttled: ThrottledLog;
  private readonly dials: DialQueue<FriendSession>;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly limits: typeof SERVER_LIMITS;

  private constructor(
    readonly runtime: ToxRuntime,
    private readonly options: ServerOptions,
    private readonly log: Logger,
  ) {
    this.policy = options.policy;
    this.limits = { ...SERVER_LIMITS, ...definedOnly(options) };
    this.dials = new DialQueue(this.limits.maxPendingPerFriend, this.limits.maxPendingTotal, this.limits.maxWaitingOpens);
    this.throttled = new ThrottledLog((text) => log.warn(text));
    this.ledger = AdmissionLedger.open(options.dataDir);
    this.reverse = new ReverseListeners(runtime, log, this.stats, {
      decide: (session, bind, port) =>
        this.policy
          ? this.policy.decideListen(session.publicKey, bind, port)
          : { allowed: false, reason: 'reverse tunnels need a listen entry in a rules file' },
      maxTunnelsPerFriend: this.limits.maxTunnelsPerFriend,
      label: (session) => this.label(session.friendNumber, session.publicKey),
    });
    runtime.node.on('friendRequest', (request) => this.onFriendRequest(request.publicKey, request.message));
  }

  static async start(options: ServerOptions, log: Logger): Promise<ToxtunnelServer> {
    const admission = options.policy || options.sharedSecret !== undefined || options.whitelist;
    if (!admission && !options.allowAny) {
      throw new ToxtunnelError(
        'CONFIG_NO_ACCESS',
        'no access is configured, so this server would admit nobody. Write a least-privilege setup with `toxtunnel init ssh` (or another scenario), or set server.rules_file, a shared secret (TOXTUNNEL_SHARED_SECRET) or server.whitelist; --allow-any lets every friend reach every host (not recommended)',
      );
    }
    if (!admission) {
      log.warn('--allow-any: ANYONE who knows this Tox ID may become a friend and open tunnels to ANY host and port this machine reaches.');
    } else if (!options.policy) {
      log.warn('no rules file: admitted friends may open tunnels to ANY host and port this machine reaches (reverse tunnels stay off). Set server.rules_file to restrict them.');
    }
    let server: ToxtunnelServer | undefined;
    const runtime = await ToxRuntime.start(options, log, {
      capabilities: options.extensions === false ? 0 : OUR_CAPABILITIES,
      open: (session, request) => server?.open(session, request),
      tunnelClosed: (session, tunnel, error) => {
        server?.stats.closed(tunnel, error);
        log.info(`tunnel ${tunnel.id} closed (${server?.label(session.friendNumber, session.publicKey)}; ${tunnel.stats.bytesIn} bytes in, ${tunnel.stats.bytesOut} out)${error ? `: ${error}` : ''}`);
      },
      badFrame: (session, reason) => log.debug(`dropped a frame from friend ${session.friendNumber}: ${reason}`),
      livenessChanged: (session, state, silentMs) =>
        state === 'unresponsive'
          ? log.warn(`${server?.label(session.friendNumber, session.publicKey)} stopped answering (${(silentMs / 1000).toFixed(1)} s): its tunnels are closed`)
          : log.info(`${server?.label(session.friendNumber, session.publicKey)} answers again`),
      sessionOffline: (session) => server?.reverse.closeFriend(session.friendNumber),
      reverseListen: (session, request) => void server?.reverse.listen(session, request),
      reverseCancel: (session, requestId) => server?.reverse.cancel(session.friendNumber, requestId),
      ...(options.tuntox === false ? {} : { tuntox: { role: 'server' as const } }),
      protocolChosen: (session, protocol) => log.info(`friend ${session.friendNumber} speaks ${protocol === 'tuntox' ? 'tuntox (its protocol V2; our extensions and keepalive are off for it)' : 'toxtunnel'}`),
      peerWarning: (session, message) => log.warn(`friend ${session.friendNumber}: ${message}`),
    });
    server = new ToxtunnelServer(runtime, options, log);
    server.enforcePolicy('at start');
    log.info(`Tox ID: ${runtime.node.address.text}`);
    return server;
  }

  get toxId(): string {
    return this.runtime.node.address.text;
  }

  /** "friend 3 (alice, 0123ABCD…)": the rules' name when there is one, and the short key. */
  label(friend: number, publicKey: string | undefined): string {
    const key = (publicKey ?? this.runtime.node.friendPublicKey(friend) ?? '').toUpperCase();
    const name = key ? this.options.friendName?.(key) : undefined;
    return `friend ${friend} (${name ? `${name}, ` : ''}${key.slice(0, 8)}…)`;
  }

  private onFriendRequest(publicKey: string, message: Uint8Array): void {
    const node = this.runtime.node;
    if (node.friendByPublicKey(publicKey) !== undefined) return; // a repeat: already a friend
    const refusal = this.refusal(publicKey, message) ?? (node.friends().length >= this.limits.maxFriends ? `the server keeps at most ${this.limits.maxFriends} friends` : undefined);
    if (refusal) {
      // Never log the message: it may be a (wrong) shared secret.
      this.throttled.log(`request:${publicKey}`, `refused a friend request from ${publicKey}: ${refusal}`);
      // Hear it again when it asks again (its access may be given back, or its secret fixed).
      node.forgetFriendRequest(publicKey);
      return;
    }
    const friend = node.addFriendNoRequest(publicKey);
    if (this.options.sharedSecret !== undefined) this.ledger.record(publicKey, this.options.sharedSecret);
    this.runtime.save();
    this.log.info(`accepted friend request from ${publicKey}: ${this.label(friend, publicKey)}`);
  }

  /**
   * Why a friend is not (or no longer) accepted, or undefined. `message` is a friend request's
   * message; without one (a friend we have) the shared secret it was admitted with counts.
   */
  private refusal(publicKey: string, message?: Uint8Array): string | undefined {
    const secret = this.options.sharedSecret;
    if (secret !== undefined) {
      if (message !== undefined && !secretMatches(message, secret)) return 'wrong shared secret';
      if (message === undefined && !this.ledger.admittedWith(publicKey, secret)) return 'admitted with another shared secret (or before it was set)';
    }
    if (this.options.whitelist && !this.options.whitelist.some((k) => k.toUpperCase() === publicKey.toUpperCase())) return 'not on the whitelist';
    if (this.policy && !this.policy.admits(publicKey)) return 'no rule for this friend in the rules file';
    return undefined;
  }

  /** New rules (reload): from now on they decide; friends they revoke are removed. */
  setPolicy(policy: AccessPolicy | undefined, problem?: string): void {
    this.policy = policy;
    this.rulesProblem = problem;
    this.enforcePolicy('rules changed');
  }

  /** The rules file could not be reloaded: the rules stay, the problem shows in status. */
  setRulesProblem(problem: string | undefined): void {
    this.rulesProblem = problem;
  }

  /**
   * Applies the rules to what exists: a friend with no rule in force (revoked, expired, not on
   * the whitelist, or admitted with an old secret) loses its tunnels and the friendship; a
   * tunnel or reverse listener the rules no longer allow is closed. Re-runs itself when the
   * next rule expires.
   */
  enforcePolicy(why: string): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    for (const friend of this.runtime.node.friends()) {
      const key = this.runtime.node.friendPublicKey(friend) ?? '';
      const refusal = this.refusal(key);
      if (!refusal) continue;
      const session = this.runtime.sessions.get(friend);
      const open = session?.activeCount ?? 0;
      this.log.warn(`${why}: ${this.label(friend, key)} ${refusal}: closing ${open} tunnel(s) and removing the friendship`);
      this.reverse.closeFriend(friend);
      this.runtime.removeFriend(friend, `access revoked (${refusal})`);
      this.openRates.delete(friend);
    }
    for (const session of this.runtime.sessions.values()) {
      for (const tunnel of [...session.tunnels.values()]) {
        const where = this.targets.get(tunnel);
        if (!where) continue;
        const decision = this.decide(session, where.target, where.port);
        if (!decision.allowed || decision.address?.text !== where.dialled) {
          session.sendError(tunnel.id, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied (rules changed)');
          tunnel.fail(`access revoked: ${decision.reason}`);
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

  /** The rules' decision, or (no rules file) everything that may be dialled at all. */
  private decide(session: FriendSession, target: ResolvedTarget, port: number): Decision {
    const forbidden = forbiddenAddress(target);
    if (forbidden) return { allowed: false, reason: forbidden };
    if (this.refusal(session.publicKey)) return { allowed: false, reason: 'the friend is no longer admitted' };
    if (!this.policy) return { allowed: true, reason: 'no rules file', ...(target.addresses[0] ? { address: target.addresses[0] } : {}) };
    return this.policy.decide(session.publicKey, target, port);
  }

  private open(session: FriendSession, request: OpenRequest): void {
    const { tunnelId, host, port } = request;
    const who = this.label(session.friendNumber, session.publicKey);
    const refuse = (code: number, text: string, logText: string, kind: string) => {
      session.sendError(tunnelId, code, text);
      this.stats.failed();
      this.throttled.log(`${kind}:${session.publicKey}`, `${who}: ${logText}`);
    };
    if (session.isInUse(tunnelId)) {
      session.sendError(tunnelId, ErrorCode.DNS_FAILED_OR_ID_IN_USE, 'Tunnel ID in use');
      return;
    }
    let rate = this.openRates.get(session.friendNumber);
    if (!rate) this.openRates.set(session.friendNumber, (rate = new TokenBucket(this.limits.opensPerSecond, this.limits.opensBurst)));
    if (!rate.take()) {
      return refuse(ErrorCode.CONNECT_FAILED_OR_LIMIT, 'Too many opens: slow down', `more than ${this.limits.opensPerSecond} OPENs per second: refused ${host}:${port}`, 'rate');
    }
    if (session.activeCount >= this.limits.maxTunnelsPerFriend) {
      return refuse(ErrorCode.CONNECT_FAILED_OR_LIMIT, 'Tunnel limit exceeded', `tunnel limit (${this.limits.maxTunnelsPerFriend}, open and pending) reached: refused ${host}:${port}`, 'limit');
    }
    let canonical;
    try {
      canonical = canonicalHost(host);
    } catch (error) {
      if (!(error instanceof HostError)) throw error;
      return refuse(ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, `Access denied: ${error.message}`, `refused ${JSON.stringify(host)}:${port}: ${error.message}`, 'denied');
    }
    if (canonical.kind === 'name' && this.policy) {
      const early = this.policy.mayResolve(session.publicKey, canonical.text, port);
      if (!early.allowed) return refuse(ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied', `denied ${canonical.text}:${port}: ${early.reason}`, 'denied');
    }
    const pending: PendingOpen = {
      session,
      request,
      canonical,
      socket: undefined,
      cancelled: false,
      dial: undefined,
      // Ends a pending OPEN that was not cancelled; false when it was.
      finish: () => {
        if (pending.cancelled || !session.endPending(tunnelId)) return false;
        pending.dial?.release();
        return true;
      },
      refuse,
    };
    session.beginPending(tunnelId, () => {
      pending.cancelled = true;
      pending.dial?.release();
      pending.socket?.destroy();
    });
    // Dialled now, or when one of this friend's (and the server's) connects in progress ends.
    const dial = this.dials.submit(session, (ticket) => {
      pending.dial = ticket;
      void this.resolveAndConnect(pending).catch((error: unknown) => {
        if (pending.finish()) refuse(ErrorCode.CONNECT_FAILED_OR_LIMIT, 'Internal error', `open of ${host}:${port} failed: ${(error as Error).message}`, 'internal');
        pending.socket?.destroy();
      });
    });
    if (!dial) {
      session.endPending(tunnelId);
      return refuse(ErrorCode.CONNECT_FAILED_OR_LIMIT, 'Server busy: too many connects in progress', `too many opens in progress (${this.dials.running} connecting, ${this.dials.waiting} waiting): refused ${host}:${port}`, 'busy');
    }
    pending.dial = dial;
  }

  private async resolveAndConnect(pending: PendingOpen): Promise<void> {
    const { session, request: { tunnelId, port }, canonical, finish, refuse } = pending;
    const shown = `${canonical.text}:${port}`;
    let target: ResolvedTarget;
    try {
      target = await this.resolver.resolve(session.publicKey, canonical);
    } catch (error) {
      if (!finish()) return;
      if (error instanceof LookupBusyError) return refuse(ErrorCode.CONNECT_FAILED_OR_LIMIT, 'Server busy: too many name lookups in progress', `lookup of ${canonical.text} refused: ${error.message}`, 'busy');
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      return refuse(ErrorCode.DNS_FAILED_OR_ID_IN_USE, `DNS resolution failed: ${canonical.text}: ${code}`, `cannot resolve ${canonical.text}: ${code}`, 'dns');
    }
    if (pending.cancelled) return;
    const decision = this.decide(session, target, port);
    if (!decision.allowed || !decision.address) {
      if (!finish()) return;
      return refuse(ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied', `denied ${shown}: ${decision.reason}`, 'denied');
    }
    const address = decision.address;
    const socket = net.connect({ host: address.text, port, allowHalfOpen: true, noDelay: true });
    pending.socket = socket;
    const timeoutMs = this.limits.connectTimeoutMs;
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      if (!finish()) {
        socket.destroy();
        return;
      }
      // The friend may have been revoked, or the rules changed, while we connected.
      const again = this.decide(session, target, port);
      if (!again.allowed || again.address?.text !== address.text) {
        socket.destroy();
        return refuse(ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Access denied', `denied ${shown} as it connected: ${again.reason}`, 'denied');
      }
      const via = target.name ? ` (${address.text})` : '';
      const tunnel = session.addTunnel(tunnelId, socket, socket, 'open', `${shown}${via}`);
      this.targets.set(tunnel, { target, port, dialled: address.text });
      this.stats.added(session, tunnel, 'inbound');
      session.send({ kind: 'ack', tunnelId, bytesAcked: 0 });
      this.log.info(`tunnel ${tunnelId} open: ${this.label(session.friendNumber, session.publicKey)} -> ${shown}${via}`);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (session.tunnels.has(tunnelId) || !finish()) return; // the tunnel handles later errors
      refuse(ErrorCode.CONNECT_FAILED_OR_LIMIT, `TCP connect failed: ${shown}: ${error.code ?? error.message}`, `connect to ${shown}${target.name ? ` (${address.text})` : ''} failed: ${error.code ?? error.message}`, 'connect');
    });
  }

  /** A snapshot for `toxtunnel status` and the library's healthCheck(). */
  status(): Record<string, unknown> {
    const node = this.runtime.node;
    return {
      mode: 'server',
      toxId: node.address.text,
      network: node.connectionStatus,
      access: this.options.policy || this.policy ? 'rules' : this.options.sharedSecret !== undefined || this.options.whitelist ? 'secret/whitelist' : 'any',
      ...(this.rulesProblem ? { rulesProblem: this.rulesProblem } : {}),
      pendingOpens: this.dials.running + this.dials.waiting,
      lookupsInFlight: this.resolver.lookupsInFlight,
      friends: node.friends().map((friend) => {
        const session = this.runtime.sessions.get(friend);
        const publicKey = node.friendPublicKey(friend);
        const name = publicKey ? this.options.friendName?.(publicKey) : undefined;
        return {
          friend,
          ...(name ? { name } : {}),
          publicKey,
          connection: node.friendConnectionStatus(friend),
          protocol: session?.protocol ?? 'unknown',
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

/** The options that were given (undefined ones keep the defaults). */
function definedOnly(options: ServerOptions): Partial<typeof SERVER_LIMITS> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(SERVER_LIMITS) as Array<keyof typeof SERVER_LIMITS>) {
    const value = options[key];
    if (typeof value === 'number') out[key] = value;
  }
  return out as Partial<typeof SERVER_LIMITS>;
}
