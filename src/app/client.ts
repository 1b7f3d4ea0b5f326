// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The client: listens on local ports (127.0.0.1 unless told otherwise) and carries each
 * accepted connection to the server as a tunnel: TUNNEL_OPEN(id, host, port), then data
 * once the server's ACK(0) says it connected. Pipe mode carries stdin/stdout instead (for
 * ssh's ProxyCommand); SOCKS listeners take the target from each connection (ssh -D); reverse
 * specs ask the server to listen for us and carry its connections back (ssh -R, extension).
 *
 * Connections accepted while the server is offline or not answering wait for it (bounded)
 * instead of being dropped; an OPEN the server does not answer in time fails with a clear
 * message. When the server goes away (offline, or silent to the keepalive) the open tunnels
 * fail, the forwards stay up, and new connections work again as soon as it is back.
 */
import net from 'node:net';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { ClientProtocol, Forward, ReverseForward, SocksListener } from '../config/specs.ts';
import { ToxtunnelError } from '../errors.ts';
import { osErrorText } from '../os-errors.ts';
import { canonicalAddress, isLoopback } from '../net/target-host.ts';
import { CLIENT_TUNNEL_IDS, SERVER_TUNNEL_IDS, TunnelIdAllocator } from '../protocol/flow-control.ts';
import { Capability, ErrorCode, type Frame, OUR_CAPABILITIES, ReverseStatus } from '../protocol/frame.ts';
import { acceptSocks5, type SocksOptions } from '../socks/socks5.ts';
import { socksReplyFor } from '../socks/reply-codes.ts';
import { parseToxId } from '../tox/tox-id.ts';
import { MAX_FRIEND_REQUEST_LENGTH } from '../tox/tox-node.ts';
import type { InviteHint } from '../config/invite.ts';
import { TypedEmitter } from '../tox/typed-emitter.ts';
import type { FriendSession } from '../tunnel/friend-session.ts';
import type { Tunnel } from '../tunnel/tunnel.ts';
import type { Logger } from './logger.ts';
import { ThrottledLog } from './rate-limit.ts';
import { type NetworkOptions, ToxRuntime } from './tox-runtime.ts';
import { type TunnelInfo, type TunnelKind, TunnelStats } from './tunnel-stats.ts';

export type { Forward, ReverseForward, SocksListener };

export interface ClientOptions extends NetworkOptions {
  serverId: string;
  forwards: Forward[];
  reverse?: ReverseForward[];
  socks?: SocksListener[];
  /** Friend request message: the shared secret, when the server asks for one. */
  sharedSecret?: string;
  /** Our protocol extensions (half-close, reverse); false = behave as a base-protocol peer. */
  extensions?: boolean;
  /** Where the server is (an invite's hint): tried directly beside the DHT/onion search. */
  serverHint?: InviteHint;
  /** How long a local connection waits for the server to come online. */
  onlineWaitMs?: number;
  /** Local connections that may wait for the server at once (more are refused, logged once). */
  maxWaiting?: number;
  /** How long the server has to answer a TUNNEL_OPEN. */
  openTimeoutMs?: number;
  /** Keepalive timings (tests shorten them). */
  keepalive?: { pingAfterMs?: number; deadAfterMs?: number };
  /** The server's protocol: detected (default), or only ours, or only tuntox's (docs/tuntox.md). */
  protocol?: ClientProtocol;
}

export type ListenerState = 'connecting' | 'active' | 'reconnecting' | 'failed' | 'closed';

export interface ListenerHandle {
  kind: 'forward' | 'socks';
  description: string;
  /** The address listened on. */
  bind: string;
  /** The actual port (differs from the configured one when that was 0). */
  port: number;
  server: net.Server;
  /** Local connections accepted since it opened, and the ones still open. */
  connections: number;
  readonly open: Set<net.Socket>;
  /** Bytes of closed connections: read from them (out, to the server) and written to them (in). */
  closedBytesOut: number;
  closedBytesIn: number;
}

/** Connections and bytes of a listener, open connections included (out: towards the server). */
export function listenerCounters(handle: ListenerHandle): { connections: number; active: number; bytesIn: number; bytesOut: number } {
  let bytesIn = handle.closedBytesIn;
  let bytesOut = handle.closedBytesOut;
  for (const socket of handle.open) {
    bytesIn += socket.bytesWritten;
    bytesOut += socket.bytesRead;
  }
  return { connections: handle.connections, active: handle.open.size, bytesIn, bytesOut };
}

export const PROBE_CLOSED_UNCONFIRMED = 'the tunnel closed before the server confirmed it';

/** What probe() found: the server connected to the target (and the tunnel was closed at once), or why not. */
export type ProbeResult = { ok: true; ackMs: number } | ({ ok: false } & CarryFailure);

export interface ReverseHandle {
  spec: ReverseForward;
  requestId: number;
  state: 'requested' | 'listening' | 'refused' | 'waiting';
  /** The port the server listens on, once it does. */
  remotePort?: number;
  message?: string;
}

/** What carry() resolves to: undefined when the tunnel closed normally. */
export interface CarryFailure {
  error: string;
  peerErrorCode?: number;
}

export interface ClientEvents {
  [event: string]: unknown[];
  /** The server is reachable and answering (true) or not (false). */
  server: [ready: boolean];
  tunnelOpened: [info: { id: number; target: string; kind: TunnelKind }];
  tunnelClosed: [info: { id: number; target: string; bytesIn: number; bytesOut: number }, error: string | undefined];
  reverse: [handle: ReverseHandle];
}

const DEFAULT_REQUEST_MESSAGE = 'toxtunnel';
/** Local connections waiting for the server, at most (each waits up to onlineWaitMs). */
export const DEFAULT_MAX_WAITING = 256;
/**
 * While the server is away and we are on the Tox network, our friend request is sent again
 * (the server may have removed us and given access back since): at start, then this often for
 * the first five minutes of an absence, then every minute (toxcore itself re-sends a pending
 * request after 5 s, doubling each time).
 */
const REREQUEST_EARLY_MS = 8_000;
const REREQUEST_LATE_MS = 60_000;
const REREQUEST_EARLY_PERIOD_MS = 5 * 60_000;
/** After this long away, the log says that we are asking again (once a minute at most). */
const REREQUEST_NOTICE_MS = 30_000;
/** Friend requests sent straight to an invite's address, one a second from the start (requestDirect). */
const DIRECT_REQUEST_TRIES = 5;
/** After the first direct request, the server is reached again this much later (requestDirect). */
const DIRECT_REACH_AGAIN_MS = 100;

/**
 * The friend request's message. A tuntox server compares the secret as a C string that must
 * end in 0x00 (TUNTOX.md §5), so unless the protocol is ours only, the secret goes with a NUL
 * (our server ignores one trailing NUL).
 */
function requestMessage(options: ClientOptions): string | Uint8Array {
  if (options.sharedSecret === undefined) return DEFAULT_REQUEST_MESSAGE;
  const secret = new TextEncoder().encode(options.sharedSecret);
  // No room for the NUL in a friend request (1016 bytes): tuntox reads at most 920 anyway.
  if (options.protocol === 'toxtunnel' || secret.length >= MAX_FRIEND_REQUEST_LENGTH) return options.sharedSecret;
  const message = new Uint8Array(secret.length + 1);
  message.set(secret);
  return message;
}

export class ToxtunnelClient extends TypedEmitter<ClientEvents> {
  readonly localListeners: ListenerHandle[] = [];
  readonly reverse: ReverseHandle[];
  readonly stats = new TunnelStats();
  private readonly serverFriend: number;
  private readonly requestMessage: string | Uint8Array;
  private serverAwaySince = Date.now();
  private lastRerequest = 0;
  /** Friend requests sent straight to an invite's address (requestDirect). */
  private directRequests = 0;
  private rerequestTimer: ReturnType<typeof setInterval> | undefined;
  private waiting = 0;
  private readonly throttled: ThrottledLog;
  private readonly ids = new TunnelIdAllocator(CLIENT_TUNNEL_IDS);
  private readyWaiters: Array<() => void> = [];
  /** Resolvers of carry() calls, by tunnel id. */
  private readonly finished = new Map<number, (failure: CarryFailure | undefined) => void>();
  private readonly kinds = new Map<number, TunnelKind>();
  private wasReady = false;
  private stopped = false;

  private constructor(
    readonly runtime: ToxRuntime,
    private readonly options: ClientOptions,
    private readonly log: Logger,
  ) {
    super();
    this.reverse = (options.reverse ?? []).map((spec, i) => ({ spec, requestId: i + 1, state: 'waiting' }));
    this.throttled = new ThrottledLog((text) => log.warn(text));
    const serverId = parseToxId(options.serverId);
    this.requestMessage = requestMessage(options);
    const existing = runtime.node.friendByPublicKey(serverId.publicKeyHex);
    this.serverFriend = existing ?? runtime.node.addFriend(serverId.text, this.requestMessage);
    if (options.serverHint && options.addressHints !== false) {
      const where = options.serverHint.address ? ` ${options.serverHint.address.host}:${options.serverHint.address.port}` : '';
      try {
        runtime.node.reachFriend(this.serverFriend, options.serverHint);
        log.info(`trying the server directly at the invite's address${where}`);
        if (existing === undefined) this.requestDirect();
      } catch (error) {
        // A host name (toxcore takes IP addresses here): it still serves as a bootstrap node.
        log.warn(`the invite's address${where} is not tried directly: ${(error as Error).message}`);
      }
    }
    if (existing === undefined) {
      runtime.save();
      log.info(`sent a friend request to the server ${serverId.publicKeyHex.slice(0, 8)}…${options.sharedSecret !== undefined ? ' (with the shared secret)' : ''}`);
    } else {
      // Known from an earlier run: ask again at once, in case the server removed us meanwhile.
      this.rerequest();
    }
    runtime.node.on('friendConnection', (friend, status) => {
      if (friend !== this.serverFriend) return;
      this.watchAway(status === 'none');
      this.checkReady();
    });
    this.watchAway(runtime.node.friendConnectionStatus(this.serverFriend) === 'none');
  }

  /**
   * While the server is away, looks each second whether to send our friend request again; while
   * it is connected there is nothing to look at (a 1 s timer then only woke an idle process).
   */
  private watchAway(away: boolean): void {
    if (!away || this.stopped) {
      clearInterval(this.rerequestTimer);
      this.rerequestTimer = undefined;
      return;
    }
    if (this.rerequestTimer) return;
    this.serverAwaySince = Date.now();
    this.rerequestTimer = setInterval(() => this.maybeRerequest(), 1_000);
    this.rerequestTimer.unref?.();
  }

  /** Sends our friend request again while the server is away (see REREQUEST_*). */
  private maybeRerequest(): void {
    const node = this.runtime.node;
    if (node.friendConnectionStatus(this.serverFriend) !== 'none') return;
    if (this.directRequests > 0) this.requestDirect();
    if (node.connectionStatus === 'none') return;
    const now = Date.now();
    const away = now - this.serverAwaySince;
    const interval = away < REREQUEST_EARLY_PERIOD_MS ? REREQUEST_EARLY_MS : REREQUEST_LATE_MS;
    if (away < REREQUEST_EARLY_MS || now - this.lastRerequest < interval) return;
    if (away >= REREQUEST_NOTICE_MS) {
      this.throttled.log(
        'rerequest',
        `the server has not been connected for ${Math.round(away / 1000)} s: sending our friend request again (if its operator removed us, they must add our public key ${node.publicKey} back)`,
      );
    }
    this.rerequest();
  }

  /**
   * An invite with the server's onion data key: our friend request goes straight to its
   * address too (seconds before onion paths exist), and, until the server answers, again each
   * second for the first DIRECT_REQUEST_TRIES seconds (a lost datagram, a server not yet up).
   */
  private requestDirect(): void {
    const hint = this.options.serverHint;
    if (!hint?.onionKey || !hint.address || this.directRequests >= DIRECT_REQUEST_TRIES) return;
    this.directRequests++;
    try {
      if (this.runtime.node.requestFriendDirect(this.serverFriend, hint.onionKey, hint.address) === 'not-pending') {
        this.directRequests = DIRECT_REQUEST_TRIES;
        return;
      }
      if (this.directRequests > 1) return;
      this.log.info(`sent the friend request straight to the invite's address ${hint.address.host}:${hint.address.port} too`);
      // Our handshake raced the request and lost (the server drops it from a non-friend and
      // toxcore sends it again only after 1 s): once the server has had a moment to accept,
      // tell it our DHT key again there, and it connects to us at once.
      const again = setTimeout(() => {
        if (!this.stopped && this.runtime.node.friendConnectionStatus(this.serverFriend) === 'none') this.runtime.node.reachFriend(this.serverFriend, hint);
      }, DIRECT_REACH_AGAIN_MS);
      again.unref?.();
    } catch (error) {
      this.directRequests = DIRECT_REQUEST_TRIES;
      this.log.debug(`could not send the friend request to the invite's address: ${(error as Error).message}`);
    }
  }

  private rerequest(): void {
    this.lastRerequest = Date.now();
    try {
      this.runtime.node.resendFriendRequest(this.serverFriend, this.requestMessage);
    } catch (error) {
      this.log.debug(`could not queue the friend request again: ${(error as Error).message}`);
    }
  }

  /** What a user should know about the server's side of the friendship (doctor, status). */
  get serverAwayMs(): number {
    return this.runtime.node.friendConnectionStatus(this.serverFriend) === 'none' ? Date.now() - this.serverAwaySince : 0;
  }

  static async start(options: ClientOptions, log: Logger): Promise<ToxtunnelClient> {
    parseToxId(options.serverId); // a bad ID fails before any socket is opened
    let client: ToxtunnelClient | undefined;
    const runtime = await ToxRuntime.start(options, log, {
      capabilities: options.extensions === false ? 0 : OUR_CAPABILITIES,
      ...(options.keepalive ? { liveness: options.keepalive } : {}),
      tunnelOpened: (_session, tunnel) => client?.emit('tunnelOpened', { id: tunnel.id, target: tunnel.target, kind: client.kinds.get(tunnel.id) ?? 'forward' }),
      tunnelClosed: (_session, tunnel, error) => client?.onTunnelClosed(tunnel.id, tunnel, error),
      badFrame: (_session, reason) => log.debug(`dropped a frame from the server: ${reason}`),
      livenessChanged: (_session, state, silentMs) => {
        if (state === 'unresponsive') log.warn(`the server stopped answering (nothing heard for ${(silentMs / 1000).toFixed(1)} s): tunnels closed, reconnecting`);
        else log.info('the server answers again');
        client?.checkReady();
      },
      hello: (session) => client?.onHello(session),
      reverseResult: (_session, result) => client?.onReverseResult(result),
      reverseOpen: (session, open) => client?.onReverseOpen(session, open),
      ...(options.protocol === 'toxtunnel' ? {} : { tuntox: { role: 'client' as const, mode: options.protocol ?? 'auto' } }),
      protocolChosen: (_session, protocol) => client?.onProtocol(protocol),
      peerWarning: (_session, message) => log.warn(`the server: ${message}`),
    });
    try {
      client = new ToxtunnelClient(runtime, options, log);
      for (const forward of options.forwards) await client.addForward(forward);
      for (const socks of options.socks ?? []) await client.addSocks(socks);
    } catch (error) {
      client?.stop();
      runtime.stop();
      throw error;
    }
    return client;
  }

  /** The server is connected (toxcore) and answers our keepalive. */
  get serverReady(): boolean {
    return this.runtime.node.friendConnectionStatus(this.serverFriend) !== 'none' && this.session().responsive;
  }

  private session(): FriendSession {
    return this.runtime.session(this.serverFriend);
  }

  private checkReady(): void {
    const ready = this.serverReady;
    if (ready) for (const wake of this.readyWaiters.splice(0)) wake();
    if (ready !== this.wasReady) {
      this.wasReady = ready;
      this.emit('server', ready);
      if (!ready) for (const handle of this.reverse) if (handle.state !== 'refused') handle.state = 'waiting';
    }
  }

  /** Listens for a local forward (ssh -L); its connections become tunnels to the target. */
  addForward(forward: Forward): Promise<ListenerHandle> {
    return this.listen('forward', forward.bind ?? '127.0.0.1', forward.localPort, `${forward.remoteHost}:${forward.remotePort}`, (socket) =>
      void this.carry(socket, socket, forward.remoteHost, forward.remotePort, { kind: 'forward' }),
    );
  }

  /** Listens as a SOCKS5 proxy (ssh -D); each CONNECT becomes a tunnel. */
  addSocks(socks: SocksListener): Promise<ListenerHandle> {
    const socksOptions: SocksOptions = socks.credentials ? { credentials: socks.credentials } : {};
    return this.listen('socks', socks.bind ?? '127.0.0.1', socks.port, 'SOCKS5 (dynamic)', (socket) => void this.socks(socket, socksOptions), socks.credentials !== undefined);
  }

  /** Stops a listener and closes its open connections (their tunnels close with them). */
  closeListener(handle: ListenerHandle): void {
    const at = this.localListeners.indexOf(handle);
    if (at >= 0) this.localListeners.splice(at, 1);
    handle.server.close();
    for (const socket of handle.open) socket.destroy();
    this.log.info(`stopped ${handle.kind === 'socks' ? 'the SOCKS5 proxy on' : 'forwarding'} ${handle.description}`);
  }

  /** Asks the server to listen for us (ssh -R); sent now if it announced reverse support, else after its HELLO. */
  addReverse(spec: ReverseForward): ReverseHandle {
    const handle: ReverseHandle = { spec, requestId: Math.max(0, ...this.reverse.map((h) => h.requestId)) + 1, state: 'waiting' };
    this.reverse.push(handle);
    const session = this.runtime.sessions.get(this.serverFriend);
    if (session?.supports(Capability.REVERSE)) {
      handle.state = 'requested';
      session.send({ kind: 'reverse-listen', requestId: handle.requestId, port: spec.remotePort, bind: spec.remoteBind ?? '' });
    }
    return handle;
  }

  /** Withdraws a reverse forward: the server stops listening for it. */
  cancelReverse(handle: ReverseHandle): void {
    const at = this.reverse.indexOf(handle);
    if (at >= 0) this.reverse.splice(at, 1);
    const session = this.runtime.sessions.get(this.serverFriend);
    if (handle.state === 'listening' && session?.supports(Capability.REVERSE)) session.send({ kind: 'reverse-cancel', requestId: handle.requestId });
    handle.state = 'refused';
    handle.message = 'closed';
  }

  /**
   * Opens a tunnel to host:port and closes it as soon as the server confirms (ACK 0): no data
   * is sent. Tells whether the server may and can connect there (rules, target up).
   */
  async probe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
    const target = `${host}:${port}`;
    const input = new PassThrough();
    const output = new PassThrough();
    output.resume();
    const started = Date.now();
    let ackMs: number | undefined;
    const onOpened = (info: { id: number; target: string }) => {
      if (info.target !== target || ackMs !== undefined) return;
      ackMs = Date.now() - started;
      setImmediate(() => this.closeTunnel(String(info.id)));
    };
    this.on('tunnelOpened', onOpened);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const guard = new Promise<CarryFailure>((resolve) => {
        timer = setTimeout(() => resolve({ error: `no answer from the server within ${timeoutMs / 1000} s` }), timeoutMs);
      });
      const failure = await Promise.race([this.carry(input, output, host, port, { kind: 'forward' }), guard]);
      if (ackMs !== undefined) return { ok: true, ackMs };
      return { ok: false, ...(failure ?? { error: PROBE_CLOSED_UNCONFIRMED }) };
    } finally {
      clearTimeout(timer);
      this.off('tunnelOpened', onOpened);
      input.destroy();
      output.destroy();
    }
  }

  /** Round trip of one keepalive PING to the server, ms (undefined: no PONG in time, or offline). */
  measureRtt(timeoutMs = 3000): Promise<number | undefined> {
    if (!this.serverReady) return Promise.resolve(undefined);
    return this.session().measureRtt(timeoutMs);
  }

  private async listen(kind: 'forward' | 'socks', bind: string, port: number, to: string, onConnection: (socket: net.Socket) => void, hasAuth = false): Promise<ListenerHandle> {
    let handle: ListenerHandle | undefined;
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => {
      const h = handle!;
      h.connections++;
      h.open.add(socket);
      socket.once('close', () => {
        h.open.delete(socket);
        h.closedBytesIn += socket.bytesWritten;
        h.closedBytesOut += socket.bytesRead;
      });
      onConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new ToxtunnelError(
            'FORWARD_LISTEN_FAILED',
            `cannot listen on ${bind}:${port} for ${to}: ${error.code === 'EADDRINUSE' ? 'the port is in use (choose another local port)' : error.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges: choose a port from 1024 up)' : osErrorText(error)}`,
            { bind, port },
          ),
        ),
      );
      server.listen({ host: bind, port }, () => resolve());
    });
    const actual = (server.address() as net.AddressInfo).port;
    const local = canonicalAddress(bind);
    if (!local || !isLoopback(local)) {
      if (kind === 'forward') this.log.warn(`forward on ${bind}:${actual} is reachable beyond this machine: anyone who can reach it can use the tunnel to ${to}`);
      else if (!hasAuth) this.log.warn(`SOCKS5 proxy on ${bind}:${actual} is reachable beyond this machine without a username and password: anyone who can reach it can use the tunnel (set socks credentials, or bind 127.0.0.1)`);
    }
    handle = { kind, description: `${bind}:${actual} -> ${to}`, bind, port: actual, server, connections: 0, open: new Set(), closedBytesIn: 0, closedBytesOut: 0 };
    this.localListeners.push(handle);
    this.log.info(`${kind === 'socks' ? 'SOCKS5 proxy on' : 'forwarding'} ${bind}:${actual}${kind === 'socks' ? '' : ` -> ${to}`}`);
    return handle;
  }

  /** One SOCKS5 connection: handshake, then a tunnel to the host:port it asked for. */
  private async socks(socket: net.Socket, options: SocksOptions): Promise<void> {
    socket.on('error', () => {}); // handled by the handshake or the tunnel
    let request;
    try {
      request = await acceptSocks5(socket, options);
    } catch (error) {
      this.log.warn(`SOCKS5 connection refused: ${(error as Error).message}`);
      this.stats.failed();
      return;
    }
    const { host, port } = request;
    await this.carry(socket, socket, host, port, {
      kind: 'socks',
      opened: () => request.reply(0),
      refused: (message, peerCode) => request.reply(socksReplyFor(message, peerCode)),
    });
  }

  /**
   * Carries one stream (a local connection, or stdin/stdout) to remoteHost:remotePort.
   * Resolves when the tunnel is finished: undefined if it closed normally, else why it failed.
   */
  async carry(
    input: Readable,
    output: Writable,
    remoteHost: string,
    remotePort: number,
    how: { kind?: TunnelKind; opened?: () => void; refused?: (message: string, peerCode: number | undefined) => void } = {},
  ): Promise<CarryFailure | undefined> {
    input.pause();
    const target = `${remoteHost}:${remotePort}`;
    const refuse = (error: string): CarryFailure => {
      this.stats.failed();
      if (how.refused) how.refused(error, undefined);
      else {
        input.destroy();
        if (output !== (input as unknown)) output.destroy();
      }
      return { error };
    };
    if (!this.serverReady && this.waiting >= (this.options.maxWaiting ?? DEFAULT_MAX_WAITING)) {
      const why = `${this.waiting} connections are already waiting for the server`;
      this.throttled.log('waiting-cap', `${why} (client.max_waiting): refused a connection to ${target}`);
      return refuse(why);
    }
    this.waiting++;
    const ready = await this.waitReady().finally(() => this.waiting--);
    if (!ready) {
      const why = this.stopped ? 'the client is stopping' : `the server did not come online within ${(this.options.onlineWaitMs ?? 60_000) / 1000} s`;
      this.log.error(`${why}: dropped a connection to ${target}`);
      return refuse(why);
    }
    const id = this.ids.allocate();
    if (id === undefined) {
      this.log.error('all tunnel ids are in use');
      return refuse('all tunnel ids are in use');
    }
    const session = this.session();
    this.kinds.set(id, how.kind ?? 'forward');
    const tunnel = session.addTunnel(id, input, output, 'opening', target, how.refused);
    this.stats.added(session, tunnel, how.kind ?? 'forward');
    const done = new Promise<CarryFailure | undefined>((resolve) => {
      this.finished.set(id, (failure) => {
        clearTimeout(timer);
        resolve(failure);
      });
    });
    if (how.opened) {
      const opened = how.opened;
      const onOpened = (info: { id: number }) => {
        if (info.id !== id) return;
        this.off('tunnelOpened', onOpened);
        opened();
      };
      this.on('tunnelOpened', onOpened);
      void done.then(() => this.off('tunnelOpened', onOpened));
    }
    session.send({ kind: 'open', tunnelId: id, host: remoteHost, port: remotePort });
    this.log.info(`tunnel ${id} opening -> ${target}`);
    const timeoutMs = this.options.openTimeoutMs ?? 20_000;
    const timer = setTimeout(() => {
      if (tunnel.state === 'opening') tunnel.fail(`the server did not answer the open of ${target} within ${timeoutMs / 1000} s`, true);
    }, timeoutMs);
    return done;
  }

  private onTunnelClosed(id: number, tunnel: Tunnel, error: string | undefined): void {
    if (id >= CLIENT_TUNNEL_IDS.first && id <= CLIENT_TUNNEL_IDS.last) this.ids.release(id);
    this.stats.closed(tunnel, error);
    this.kinds.delete(id);
    const finished = this.finished.get(id);
    this.finished.delete(id);
    finished?.(error === undefined ? undefined : { error, ...(tunnel.peerErrorCode !== undefined ? { peerErrorCode: tunnel.peerErrorCode } : {}) });
    if (error) this.log.error(`tunnel ${id} (${tunnel.target}) failed: ${error}`);
    else this.log.info(`tunnel ${id} closed (${tunnel.stats.bytesOut} bytes sent, ${tunnel.stats.bytesIn} received)`);
    this.emit('tunnelClosed', { id, target: tunnel.target, bytesIn: tunnel.stats.bytesIn, bytesOut: tunnel.stats.bytesOut }, error);
  }

  private waitReady(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (this.serverReady) return Promise.resolve(true);
    const waitMs = this.options.onlineWaitMs ?? 60_000;
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(!this.stopped);
      };
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== wake);
        resolve(false);
      }, waitMs);
      this.readyWaiters.push(wake);
    });
  }

  private onProtocol(protocol: 'toxtunnel' | 'tuntox'): void {
    if (protocol === 'tuntox') {
      this.log.info('the server speaks tuntox: tunnels use its protocol (no half-close, keepalive or reverse tunnels)');
      if (this.reverse.length > 0) this.log.error(`a tuntox server cannot listen for us: ${this.reverse.length} reverse forward(s) unused`);
    } else this.log.debug('the server speaks toxtunnel');
    this.checkReady();
  }

  // --- reverse tunnels (extension) ---

  /** The server's HELLO: ask it to listen for our reverse specs, if it can. */
  private onHello(session: FriendSession): void {
    if (session.friendNumber !== this.serverFriend || this.reverse.length === 0) return;
    if (!session.supports(Capability.REVERSE)) {
      this.log.error(`the server does not support reverse tunnels (it is a base-protocol peer, or extensions are off): ${this.reverse.length} reverse forward(s) unused`);
      return;
    }
    for (const handle of this.reverse) {
      if (handle.state === 'refused') continue;
      handle.state = 'requested';
      session.send({ kind: 'reverse-listen', requestId: handle.requestId, port: handle.spec.remotePort, bind: handle.spec.remoteBind ?? '' });
    }
  }

  private onReverseResult(result: Extract<Frame, { kind: 'reverse-result' }>): void {
    const handle = this.reverse.find((h) => h.requestId === result.requestId);
    if (!handle) return;
    const to = `${handle.spec.localHost}:${handle.spec.localPort}`;
    handle.message = result.message;
    if (result.status === ReverseStatus.LISTENING) {
      handle.state = 'listening';
      handle.remotePort = result.port;
      this.log.info(`reverse tunnel: the server listens on port ${result.port} -> ${to} here`);
    } else {
      handle.state = 'refused';
      this.log.error(`reverse tunnel to ${to} refused by the server: ${result.message}`);
    }
    this.emit('reverse', handle);
  }

  /** The server accepted a connection on one of our reverse listeners: connect locally. */
  private onReverseOpen(session: FriendSession, open: Extract<Frame, { kind: 'reverse-open' }>): void {
    const { tunnelId, requestId } = open;
    if (session.friendNumber !== this.serverFriend) {
      session.sendError(tunnelId, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, 'Reverse tunnels are accepted only from the configured server');
      this.throttled.log(`reverse-stranger:${session.publicKey}`, `refused a reverse open from friend ${session.friendNumber} (${session.publicKey.slice(0, 8)}…), which is not the configured server`);
      return;
    }
    if (tunnelId < SERVER_TUNNEL_IDS.first || tunnelId > SERVER_TUNNEL_IDS.last) {
      session.sendError(tunnelId, ErrorCode.DNS_FAILED_OR_ID_IN_USE, `Reverse tunnel ids are ${SERVER_TUNNEL_IDS.first}..${SERVER_TUNNEL_IDS.last}`);
      return;
    }
    const handle = this.reverse.find((h) => h.requestId === requestId);
    if (!handle) {
      session.sendError(tunnelId, ErrorCode.ACCESS_DENIED_OR_NOT_FOUND, `No reverse forward ${requestId} here`);
      return;
    }
    if (session.isInUse(tunnelId)) {
      session.sendError(tunnelId, ErrorCode.DNS_FAILED_OR_ID_IN_USE, 'Tunnel ID in use');
      return;
    }
    const { localHost, localPort } = handle.spec;
    const socket = net.connect({ host: localHost, port: localPort, allowHalfOpen: true, noDelay: true });
    session.beginPending(tunnelId, () => socket.destroy());
    socket.once('connect', () => {
      if (!session.endPending(tunnelId)) {
        socket.destroy();
        return;
      }
      const tunnel = session.addTunnel(tunnelId, socket, socket, 'open', `reverse :${handle.remotePort ?? handle.spec.remotePort} -> ${localHost}:${localPort}`);
      this.kinds.set(tunnelId, 'reverse');
      this.stats.added(session, tunnel, 'reverse');
      session.send({ kind: 'ack', tunnelId, bytesAcked: 0 });
      this.log.info(`tunnel ${tunnelId} open: reverse -> ${localHost}:${localPort}`);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (session.tunnels.has(tunnelId) || !session.endPending(tunnelId)) return;
      this.stats.failed();
      session.sendError(tunnelId, ErrorCode.CONNECT_FAILED_OR_LIMIT, `TCP connect failed: ${localHost}:${localPort}: ${error.code ?? error.message}`);
      this.log.warn(`reverse tunnel: connect to ${localHost}:${localPort} failed: ${osErrorText(error)}`);
    });
  }

  // --- the manager's view ---

  status(): Record<string, unknown> {
    const node = this.runtime.node;
    const session = this.session();
    const serverState = this.stopped ? 'closed' : this.serverReady ? 'active' : this.stats.snapshot().connectionsTotal > 0 || this.wasReady ? 'reconnecting' : 'connecting';
    return {
      mode: 'client',
      toxId: node.address.text,
      network: node.connectionStatus,
      server: {
        publicKey: node.friendPublicKey(this.serverFriend),
        connection: node.friendConnectionStatus(this.serverFriend),
        keepalive: session.liveness.state,
        state: serverState,
        extensions: session.peerCapabilities,
        protocol: session.protocol,
      },
      listeners: this.localListeners.map((l) => ({ kind: l.kind, listen: l.description, state: this.stopped ? 'closed' : serverState })),
      reverse: this.reverse.map((h) => ({ remote: `${h.spec.remoteBind || '(server default)'}:${h.remotePort ?? h.spec.remotePort}`, local: `${h.spec.localHost}:${h.spec.localPort}`, state: h.state, message: h.message })),
      ...this.stats.snapshot(),
    };
  }

  list(): TunnelInfo[] {
    return this.stats.list();
  }

  /** Closes one tunnel by its ref ("friend:tunnel" or the tunnel id). */
  closeTunnel(ref: string): boolean {
    const entry = this.stats.find(ref);
    if (!entry) return false;
    entry.tunnel.fail('closed by the operator', true);
    return true;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.rerequestTimer);
    for (const handle of this.localListeners) handle.server.close();
    for (const wake of this.readyWaiters.splice(0)) wake();
    const session = this.runtime.sessions.get(this.serverFriend);
    if (session?.supports(Capability.REVERSE)) {
      for (const handle of this.reverse) if (handle.state === 'listening') session.send({ kind: 'reverse-cancel', requestId: handle.requestId });
    }
    this.runtime.stop();
    this.removeAllListeners();
  }
}
