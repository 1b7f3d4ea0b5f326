// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A Tox node: c-toxcore (in WebAssembly) with host sockets, driven by our own iteration loop.
 *
 *   const node = await ToxNode.create({ localDiscovery: false });
 *   await node.bootstrap('127.0.0.1', 33445, dhtKeyHex);
 *   node.on('losslessPacket', (friend, data) => …);
 *   node[Symbol.dispose]();
 *
 * This class is the only place that holds a `Tox*`. Events from C are queued while toxcore
 * runs and dispatched after tox_iterate returns, so listeners never run inside toxcore and
 * may call back into the node (send, add friends, close) freely.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ToxtunnelError } from '../errors.ts';
import { reserveTcpListener, reserveUdp } from '../net/socket-table.ts';
import type { BytePtr, ErrPtr, ToxPtr, ToxcoreExports } from '../wasm/ffi.ts';
import { readCString, withScratch } from '../wasm/memory.ts';
import { loadToxcore, type NodeEventSink, type ToxcoreModule } from '../wasm/module.ts';
import { IterationScheduler, urgentDatagram } from './iteration-scheduler.ts';
import { CUSTOM_PACKET_ERRORS, type CustomPacketError, bootstrapError, friendAddError, toxNewError } from './tox-errors.ts';
import { ADDRESS_SIZE, PUBLIC_KEY_SIZE, type ToxId, parsePublicKey, parseToxId, toHex, toxIdFromBytes } from './tox-id.ts';
import { TypedEmitter } from './typed-emitter.ts';

/** Tox_Connection: how we (or a friend) are connected to the network. */
export type Connection = 'none' | 'tcp' | 'udp';
const CONNECTIONS: readonly Connection[] = ['none', 'tcp', 'udp'];
const connection = (value: number): Connection => CONNECTIONS[value] ?? 'none';

/** TOX_MAX_CUSTOM_PACKET_SIZE: the largest lossless packet, first byte included. */
export const MAX_LOSSLESS_PACKET_SIZE = 1373;
/** toxcore accepts lossless custom packets whose first byte is 160..191. */
export const LOSSLESS_PACKET_ID_MIN = 160;
export const LOSSLESS_PACKET_ID_MAX = 191;
/** TOX_MAX_FRIEND_REQUEST_LENGTH. */
export const MAX_FRIEND_REQUEST_LENGTH = 1016;

export interface ToxNodeOptions {
  /** IPv6 (dual-stack) sockets. Default true. */
  ipv6?: boolean;
  /** UDP; when false, only TCP relays are used. Default true. */
  udp?: boolean;
  /**
   * LAN discovery (broadcasts to 255.255.255.255 and ff02::1). Default false: broadcasts are
   * traffic to other machines, so it must be asked for.
   */
  localDiscovery?: boolean;
  /** UDP hole punching. Default true. */
  holePunching?: boolean;
  /** UDP port range to bind, first free port wins. Default 33445..33545. */
  startPort?: number;
  endPort?: number;
  /** Run a TCP relay server on this port (0 = none). Default 0. */
  tcpPort?: number;
  /** toxcore save data (tox_get_savedata) to restore an identity and its friends. */
  savedata?: Uint8Array;
  /**
   * Reach the network only through this proxy: toxcore connects every TCP socket to it and
   * does the SOCKS5 or HTTP CONNECT handshake itself. Needs `udp: false` (UDP would bypass the
   * proxy) and no LAN discovery; bootstrap nodes and relays must then be IP addresses, since
   * resolving their names here would ask the local resolver. The proxy's own host name, if
   * any, is resolved here (that reveals only the proxy).
   */
  proxy?: ProxyOptions;
  /** Receives toxcore's own log lines (enables toxcore logging, which costs time). */
  onToxcoreLog?: (entry: ToxcoreLogEntry) => void;
  /** After how long offline a friend no longer keeps iterations fast (ms). Default OFFLINE_SETTLED_MS; for tests. */
  offlineSettledMs?: number;
}

export interface ProxyOptions {
  type: 'socks5' | 'http';
  host: string;
  port: number;
}
/** Tox_Proxy_Type (tox_options.h): NONE 0, HTTP 1, SOCKS5 2. */
const PROXY_TYPES = { http: 1, socks5: 2 } as const;

export interface ToxcoreLogEntry {
  level: 'trace' | 'debug' | 'info' | 'warning' | 'error';
  file: string;
  line: number;
  func: string;
  message: string;
}
const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error'] as const;

export interface FriendRequest {
  /** The requester's public key, 64 upper-case hex characters. */
  publicKey: string;
  message: Uint8Array;
}

/** Where a friend was reachable: its DHT key (changes every session) and direct UDP address. */
export interface FriendHint {
  dhtKey: string;
  address?: { host: string; port: number };
}

export type SendResult = { ok: true } | { ok: false; error: CustomPacketError };
const SENT: SendResult = { ok: true };
/** toxcore network.h: NET_PACKET_CRYPTO_DATA, the datagrams of an established connection. */
const NET_PACKET_CRYPTO_DATA = 0x1b;
/** A friend offline this long is no longer looked for with fast iterations (ToxNode.settled). */
export const OFFLINE_SETTLED_MS = 120_000;

export type ToxNodeEvents = {
  selfConnection: [status: Connection];
  friendRequest: [request: FriendRequest];
  friendConnection: [friendNumber: number, status: Connection];
  losslessPacket: [friendNumber: number, data: Uint8Array];
  /** After an iteration, when a send since the previous one was refused with SENDQ: try again. */
  drain: [];
  /** After every iteration (for code that polls toxcore state). */
  iterate: [];
};

type PendingEvent = () => void;
/** The tag of a queued event that is not a packet (packets are queued as friend number, data). */
const EVENT = -1;

export class ToxNode extends TypedEmitter<ToxNodeEvents> implements NodeEventSink {
  private readonly x: ToxcoreExports;
  private readonly scheduler: IterationScheduler;
  private tox: ToxPtr | 0;
  private readonly id: number;
  private readonly sendBuffer: BytePtr;
  private readonly errBuffer: ErrPtr;
  /**
   * Events of the current iteration, in order, two slots each: (friend number, packet) for a
   * received packet, (EVENT, closure) for anything else. No closure per packet: a receiver
   * queues one per 1.4 kB.
   */
  private readonly pending: Array<number | Uint8Array | PendingEvent> = [];
  private sendqRefused = false;
  /** SENDQ answers so far (iterateOnce: did the listeners of an iteration meet a refusal?). */
  private refusals = 0;
  private closed = false;
  /** Set when all traffic goes through a proxy: names are then never resolved locally. */
  private readonly proxied: boolean;
  private readonly onToxcoreLog: ((entry: ToxcoreLogEntry) => void) | undefined;

  /** Creates a node: binds its sockets, then starts iterating. */
  static async create(options: ToxNodeOptions = {}): Promise<ToxNode> {
    const toxcore = await loadToxcore();
    const ipv6 = options.ipv6 ?? true;
    const udp = options.udp ?? !options.proxy;
    const proxy = options.proxy ? await proxyAddress(options.proxy, udp, options.localDiscovery === true) : undefined;
    const startPort = options.startPort ?? 33445;
    const endPort = options.endPort ?? Math.max(startPort, options.startPort === undefined ? 33545 : startPort);
    validatePortRange(startPort, endPort);
    const tcpPort = options.tcpPort ?? 0;
    if (!Number.isInteger(tcpPort) || tcpPort < 0 || tcpPort > 65535) {
      throw new ToxtunnelError('TOX_BAD_OPTION', `tcpPort ${tcpPort} is not a port (0..65535, 0 = no relay server)`);
    }
    const reservedUdp = udp ? await reserveUdp(ipv6, startPort, endPort) : undefined;
    let reservedListener;
    try {
      reservedListener = tcpPort ? await reserveTcpListener(ipv6, tcpPort) : undefined;
    } catch (error) {
      reservedUdp?.socket.close();
      throw error;
    }
    return new ToxNode(toxcore, options, { ipv6, udp, proxy, reservedUdp, reservedListener });
  }

  private constructor(
    private readonly toxcore: ToxcoreModule,
    options: ToxNodeOptions,
    prepared: {
      ipv6: boolean;
      udp: boolean;
      proxy: ProxyOptions | undefined;
      reservedUdp: Awaited<ReturnType<typeof reserveUdp>> | undefined;
      reservedListener: Awaited<ReturnType<typeof reserveTcpListener>> | undefined;
    },
  ) {
    super();
    this.x = toxcore.exports;
    this.onToxcoreLog = options.onToxcoreLog;
    this.offlineSettledMs = options.offlineSettledMs ?? OFFLINE_SETTLED_MS;
    this.id = toxcore.register(this);
    this.scheduler = new IterationScheduler(
      () => this.iterateOnce(),
      () => this.settled(),
      () => this.tox !== 0 && this.x.tt_tox_quiet(this.tox) === 1,
    );
    const udpPort = prepared.reservedUdp?.port ?? 0;
    const tcpPort = prepared.reservedListener?.port ?? 0;
    const savedata = options.savedata;
    const proxy = prepared.proxy;
    this.proxied = proxy !== undefined;
    try {
      this.tox = withScratch(this.x, (scratch) => {
        const err = scratch.err();
        const saved = savedata && savedata.length > 0 ? scratch.copyIn(savedata) : 0;
        toxcore.sockets.offer(prepared.reservedUdp, prepared.reservedListener);
        const tox = toxcore.callAs(this, () =>
          this.x.tt_tox_new(
            this.id,
            prepared.ipv6 ? 1 : 0,
            prepared.udp ? 1 : 0,
            options.localDiscovery ? 1 : 0,
            options.holePunching === false ? 0 : 1,
            udpPort,
            udpPort,
            tcpPort,
            proxy ? PROXY_TYPES[proxy.type] : 0,
            proxy ? scratch.cString(proxy.host) : 0,
            proxy?.port ?? 0,
            saved,
            savedata?.length ?? 0,
            this.onToxcoreLog ? 1 : 0,
            err,
          ),
        );
        if (tox === 0) throw toxNewError(scratch.readErr(err), savedata?.length ?? 0);
        return tox;
      });
    } catch (error) {
      toxcore.unregister(this.id);
      throw error;
    } finally {
      toxcore.sockets.withdrawOffers();
    }
    this.sendBuffer = this.x.malloc(MAX_LOSSLESS_PACKET_SIZE) as BytePtr;
    this.errBuffer = this.x.malloc(4) as ErrPtr;
    this.scheduler.start();
  }

  // --- identity -------------------------------------------------------------------------------

  /** Our Tox ID (public key + nospam + checksum), what friends add. */
  get address(): ToxId {
    return toxIdFromBytes(this.readBytes(ADDRESS_SIZE, (out) => this.x.tox_self_get_address(this.ptr(), out)));
  }

  /** Our long-term public key, 64 hex characters. */
  get publicKey(): string {
    return toHex(this.readBytes(PUBLIC_KEY_SIZE, (out) => this.x.tox_self_get_public_key(this.ptr(), out)));
  }

  /** Our DHT public key (what others bootstrap to), 64 hex characters. */
  get dhtId(): string {
    return toHex(this.readBytes(PUBLIC_KEY_SIZE, (out) => this.x.tox_self_get_dht_id(this.ptr(), out)));
  }

  /**
   * Our onion data key, 64 hex characters: what friends encrypt onion data to us with (our
   * onion announcements give it to the nodes we announce to; new at every start). An invite
   * carries it so a new client can send its friend request straight here (requestFriendDirect).
   */
  get onionKey(): string {
    return toHex(this.readBytes(PUBLIC_KEY_SIZE, (out) => this.x.tt_self_get_onion_key(this.ptr(), out)));
  }

  /** The UDP port toxcore is bound to, or undefined with UDP off. */
  get udpPort(): number | undefined {
    return this.portOf((err) => this.x.tox_self_get_udp_port(this.ptr(), err));
  }

  /** The port of our TCP relay server, or undefined when not running one. */
  get tcpPort(): number | undefined {
    return this.portOf((err) => this.x.tox_self_get_tcp_port(this.ptr(), err));
  }

  get connectionStatus(): Connection {
    return connection(this.x.tox_self_get_connection_status(this.ptr()));
  }

  /** toxcore save data: identity (secret key!), nospam, friends. Treat as a secret. */
  savedata(): Uint8Array {
    const tox = this.ptr();
    const size = this.x.tox_get_savedata_size(tox);
    return this.readBytes(size, (out) => this.x.tox_get_savedata(tox, out));
  }

  // --- network --------------------------------------------------------------------------------

  /** Adds a DHT bootstrap node. Names are resolved here; every address found is used. */
  async bootstrap(host: string, port: number, publicKeyHex: string): Promise<void> {
    await this.addNetworkNode('BOOTSTRAP', host, port, publicKeyHex, (h, k, e) => this.x.tox_bootstrap(this.ptr(), h, port, k, e));
  }

  /** Adds a TCP relay (needed to reach friends with UDP off). */
  async addTcpRelay(host: string, port: number, publicKeyHex: string): Promise<void> {
    await this.addNetworkNode('TCP_RELAY', host, port, publicKeyHex, (h, k, e) => this.x.tox_add_tcp_relay(this.ptr(), h, port, k, e));
  }

  private async addNetworkNode(
    what: 'BOOTSTRAP' | 'TCP_RELAY',
    host: string,
    port: number,
    publicKeyHex: string,
    call: (host: BytePtr, key: BytePtr, err: ErrPtr) => number,
  ): Promise<void> {
    const key = parsePublicKey(publicKeyHex);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw bootstrapError(3, what, host, port);
    if (this.proxied && !isIP(host)) {
      throw new ToxtunnelError(
        'TOX_PROXY_NAME',
        `${JSON.stringify(host)} is a name: with a proxy, names are not resolved (the local resolver would see them) and toxcore's proxy handshake takes IP addresses only; give this node's IP address`,
        { host },
      );
    }
    const addresses = isIP(host) ? [host] : await resolve(host);
    this.ptr();
    for (const address of addresses) {
      withScratch(this.x, (scratch) => {
        const err = scratch.err();
        const ok = this.toxcore.callAs(this, () => call(scratch.cString(address), scratch.copyIn(key), err));
        if (!ok) throw bootstrapError(scratch.readErr(err), what, host, port);
      });
    }
    this.scheduler.wake();
  }

  // --- friends --------------------------------------------------------------------------------

  /** Sends a friend request to a Tox ID; returns the new friend number. */
  addFriend(toxId: string, message: string | Uint8Array): number {
    const id = parseToxId(toxId);
    const text = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    return withScratch(this.x, (scratch) => {
      const err = scratch.err();
      const friend = this.x.tox_friend_add(this.ptr(), scratch.copyIn(id.bytes), scratch.copyIn(text), text.length, err);
      if (scratch.readErr(err) !== 0) throw friendAddError(scratch.readErr(err));
      this.offlineSince.set(friend >>> 0, performance.now());
      this.settledUntil = -Infinity;
      this.scheduler.wake();
      return friend >>> 0;
    });
  }

  /** Adds a friend by public key without a request (accepting one, or a known peer). */
  addFriendNoRequest(publicKeyHex: string): number {
    const key = parsePublicKey(publicKeyHex);
    return withScratch(this.x, (scratch) => {
      const err = scratch.err();
      const friend = this.x.tox_friend_add_norequest(this.ptr(), scratch.copyIn(key), err);
      if (scratch.readErr(err) !== 0) throw friendAddError(scratch.readErr(err));
      this.offlineSince.set(friend >>> 0, performance.now());
      this.settledUntil = -Infinity;
      this.scheduler.wake();
      return friend >>> 0;
    });
  }

  /**
   * Sends our friend request to this friend again (with `message`), as toxcore does for a
   * friend just added: for a peer that may have removed us. Returns false when the friend is
   * online (nothing to do) or does not exist.
   */
  resendFriendRequest(friendNumber: number, message: string | Uint8Array): boolean {
    const text = typeof message === 'string' ? new TextEncoder().encode(message) : message;
    if (text.length < 1 || text.length > MAX_FRIEND_REQUEST_LENGTH) throw new RangeError(`a friend request message is 1..${MAX_FRIEND_REQUEST_LENGTH} bytes, got ${text.length}`);
    const result = withScratch(this.x, (scratch) => this.x.tt_friend_rerequest(this.ptr(), friendNumber, scratch.copyIn(text), text.length));
    if (result === 0) this.scheduler.wake();
    return result === 0;
  }

  /**
   * Lets toxcore hear friend requests from this key again (it ignores repeats from the last 32
   * keys that asked): for a request refused now that may be accepted later.
   */
  forgetFriendRequest(publicKeyHex: string): void {
    const key = parsePublicKey(publicKeyHex);
    withScratch(this.x, (scratch) => this.x.tt_forget_friend_request(this.ptr(), scratch.copyIn(key)));
  }

  /** Removes a friend; false if there was no such friend. */
  deleteFriend(friendNumber: number): boolean {
    this.offlineSince.delete(friendNumber);
    this.settledUntil = -Infinity;
    return withScratch(this.x, (scratch) => this.x.tox_friend_delete(this.ptr(), friendNumber, scratch.err()) !== 0);
  }

  /** The friend number of a public key, or undefined. */
  friendByPublicKey(publicKeyHex: string): number | undefined {
    const key = parsePublicKey(publicKeyHex);
    return withScratch(this.x, (scratch) => {
      const err = scratch.err();
      const friend = this.x.tox_friend_by_public_key(this.ptr(), scratch.copyIn(key), err);
      return scratch.readErr(err) === 0 ? friend >>> 0 : undefined;
    });
  }

  /** A friend's public key (64 hex), or undefined if there is no such friend. */
  friendPublicKey(friendNumber: number): string | undefined {
    return withScratch(this.x, (scratch) => {
      const out = scratch.bytes(PUBLIC_KEY_SIZE);
      const ok = this.x.tox_friend_get_public_key(this.ptr(), friendNumber, out, scratch.err());
      return ok ? toHex(scratch.copyOut(out, PUBLIC_KEY_SIZE)) : undefined;
    });
  }

  friendConnectionStatus(friendNumber: number): Connection {
    return withScratch(this.x, (scratch) =>
      connection(this.x.tox_friend_get_connection_status(this.ptr(), friendNumber, scratch.err())),
    );
  }

  /** What toxcore knows now of where a friend is (wasm/tt_connect.c), or undefined. */
  friendHint(friendNumber: number): FriendHint | undefined {
    return withScratch(this.x, (scratch) => {
      const key = scratch.bytes(PUBLIC_KEY_SIZE);
      const address = scratch.bytes(64);
      const port = scratch.err();
      const found = this.x.tt_friend_get_hint(this.ptr(), friendNumber, key, address, 64, port);
      if (found < 0) return undefined;
      const dhtKey = toHex(scratch.copyOut(key, PUBLIC_KEY_SIZE));
      if (found === 0) return { dhtKey };
      return { dhtKey, address: { host: readCString(scratch.heap(), address, 64), port: scratch.readErr(port) } };
    });
  }

  /**
   * Points toxcore at a friend's remembered DHT key and address (wasm/tt_connect.c): it tries
   * a direct connection at once, beside the usual DHT/onion search. Only a hint: the friend
   * must still prove its long-term key in the handshake. 'connected' when it already is.
   */
  reachFriend(friendNumber: number, hint: FriendHint): 'ok' | 'connected' {
    const key = parsePublicKey(hint.dhtKey);
    return withScratch(this.x, (scratch) => {
      const host = hint.address ? scratch.cString(hint.address.host) : scratch.cString('');
      const code = this.toxcore.callAs(this, () =>
        this.x.tt_friend_reach(this.ptr(), this.id, friendNumber, scratch.copyIn(key), host, hint.address?.port ?? 0),
      );
      this.dispatchPending();
      if (code === 1) throw new ToxtunnelError('TOX_FRIEND_NOT_FOUND', `no friend ${friendNumber}`);
      if (code === 2) throw new ToxtunnelError('TOX_BAD_OPTION', `bad address ${hint.address?.host}:${hint.address?.port}`);
      this.scheduler.wake();
      return code === 3 ? 'connected' : 'ok';
    });
  }

  /**
   * Whether a friend that still calls our previous DHT key (it kept running while we restarted
   * at the same address) is told our current one at once (wasm/tt_connect.c, patch 0005): on
   * for a new node; off when the user turns address hints off.
   */
  answerStaleCalls(on: boolean): void {
    this.x.tt_answer_stale_calls(this.ptr(), on ? 1 : 0);
  }

  /** How many calls to our previous DHT key were answered so far (see answerStaleCalls). */
  get staleCallsAnswered(): number {
    return this.x.tt_stale_calls_answered(this.ptr()) >>> 0;
  }

  /**
   * Sends our pending friend request to a friend straight to its address, sealed to its onion
   * data key (from an invite), beside the copy that goes through the onion (wasm/tt_connect.c):
   * the same packet the friend's announce node would deliver. 'sent', or 'not-pending' when the
   * friend accepted us already (nothing sent).
   */
  requestFriendDirect(friendNumber: number, onionKey: string, address: { host: string; port: number }): 'sent' | 'not-pending' {
    const key = parsePublicKey(onionKey);
    return withScratch(this.x, (scratch) => {
      const code = this.x.tt_friend_request_direct(this.ptr(), friendNumber, scratch.copyIn(key), scratch.cString(address.host), address.port);
      if (code === 1) throw new ToxtunnelError('TOX_FRIEND_NOT_FOUND', `no friend ${friendNumber}`);
      if (code === 2) throw new ToxtunnelError('TOX_BAD_OPTION', `bad address ${address.host}:${address.port}`);
      if (code === 4) throw new ToxtunnelError('TOX_SEND_FAILED', `the friend request could not be sent to ${address.host}:${address.port}`);
      this.scheduler.wake();
      return code === 3 ? 'not-pending' : 'sent';
    });
  }

  /** All friend numbers. */
  friends(): number[] {
    const tox = this.ptr();
    const count = this.x.tox_self_get_friend_list_size(tox);
    const bytes = this.readBytes(count * 4, (out) => this.x.tox_self_get_friend_list(tox, out as number as never));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: count }, (_, i) => view.getUint32(i * 4, true));
  }

  /**
   * Sends one lossless custom packet (byte 0 must be 160..191). SENDQ is the normal
   * back-pressure answer: keep the data and try again after 'drain'.
   */
  sendLossless(friendNumber: number, packet: Uint8Array, options: { uncontrolled?: boolean } = {}): SendResult {
    const tox = this.ptr();
    if (packet.length > MAX_LOSSLESS_PACKET_SIZE) return { ok: false, error: 'TOO_LONG' };
    this.toxcore.heap().set(packet, this.sendBuffer);
    let code: number;
    if (options.uncontrolled) {
      // Outside toxcore's congestion control (wasm/tt_glue.c): for small, latency-critical frames.
      code = this.x.tt_friend_send_lossless_uncontrolled(tox, friendNumber, this.sendBuffer, packet.length);
    } else {
      const ok = this.x.tox_friend_send_lossless_packet(tox, friendNumber, this.sendBuffer, packet.length, this.errBuffer);
      code = ok ? 0 : this.readErrBuffer();
    }
    if (code === 0) {
      if (options.uncontrolled) this.scheduler.sentUncontrolled();
      else this.scheduler.busy();
      return SENT;
    }
    const error = (CUSTOM_PACKET_ERRORS[code] ?? 'INVALID') as CustomPacketError;
    // 'drain' follows the next iteration, which comes when toxcore's next send budget is due
    // (our congestion controller, wasm/tt_cc.h, says when: tt_iteration_interval).
    // Once per iteration is enough (asking toxcore for the interval and arming a timer per
    // refused packet showed in profiles).
    if (error === 'SENDQ') this.refusals++;
    if (error === 'SENDQ' && !this.sendqRefused) {
      this.sendqRefused = true;
      this.scheduler.within(this.x.tt_iteration_interval(tox));
    }
    return { ok: false, error };
  }

  // --- iteration ------------------------------------------------------------------------------

  /** SocketOwner: a socket of ours has data or room (`firstByte`: a datagram's kind). */
  wake(firstByte?: number): void {
    if (firstByte === undefined) this.scheduler.wake(true);
    else if (firstByte === NET_PACKET_CRYPTO_DATA) this.scheduler.wakeForPacket();
    else if (urgentDatagram(firstByte)) this.scheduler.wakeForHandshake();
    else this.scheduler.wakeLazily();
  }

  /**
   * Milliseconds since toxcore last received a packet on the friend's connection (toxcore's own
   * request packets, which a connected peer sends at least once a second, count), or -1 when
   * the friend is not connected.
   */
  friendHeardMs(friendNumber: number): number {
    if (this.closed || this.tox === 0) return -1;
    return this.x.tt_friend_heard_ms(this.tox, friendNumber);
  }

  private iterateOnce(): number {
    if (this.closed || this.tox === 0) return 1000;
    const tox = this.tox;
    const due = this.toxcore.callAs(this, () => this.x.tt_tox_iterate(tox, this.id));
    const refusals = this.refusals;
    this.dispatchPending();
    if (this.closed) return 1000;
    if (this.sendqRefused) {
      this.sendqRefused = false;
      this.emit('drain');
    }
    this.emit('iterate');
    // `due` was asked before the listeners above ran; when toxcore refused what they sent, the
    // next send budget may be due sooner (wasm/tt_cc.c), so ask again.
    if (this.closed) return 1000;
    return this.refusals !== refusals ? Math.min(due, this.x.tt_iteration_interval(tox)) : due;
  }

  /**
   * Idle iterations may wait longer (IterationScheduler) when no friend is being looked for in
   * earnest: every friend is connected directly (UDP), or has been offline or behind a TCP relay
   * only for OFFLINE_SETTLED_MS (since it
   * went offline, was added, or this node started); a node without friends once it has run
   * that long. A server whose other friends come online
   * once a week iterated 20 times a second all week; toxcore's own search for an offline
   * friend runs on timers of seconds (onion announce requests every 3 s, doubling with every
   * unanswered round; DHT requests every 20 s), and the packets of a friend that comes back
   * (cookie, handshake, data) wake the node at once whether it is settled or not.
   */
  private settled(): boolean {
    if (this.closed || this.tox === 0) return false;
    // Asked after most iterations; the answer changes only with a friend's connection status
    // (onFriendConnection), a friend added or deleted (all of which ask again), or when a
    // friend's OFFLINE_SETTLED_MS run out, which is when it is asked again by itself.
    const now = performance.now();
    if (now < this.settledUntil) return this.settledCache;
    const friends = this.friends();
    let until = Infinity;
    let settled = true;
    if (friends.length === 0) {
      // a new node without friends: getting onto the network, waiting for its first request
      settled = now - this.createdAt >= this.offlineSettledMs;
      if (!settled) until = this.createdAt + this.offlineSettledMs;
    }
    for (const f of friends) {
      if (this.friendConnectionStatus(f) === 'udp') continue;
      const settlesAt = (this.offlineSince.get(f) ?? this.createdAt) + this.offlineSettledMs;
      if (settlesAt > now) {
        settled = false;
        until = Math.min(until, settlesAt);
      }
    }
    this.settledCache = settled;
    this.settledUntil = until;
    return settled;
  }
  /** settledCache holds until this time (performance.now() ms); an event sets it to -Infinity. */
  private settledUntil = -Infinity;
  private settledCache = false;
  private readonly createdAt = performance.now();
  private readonly offlineSettledMs: number;
  /** When each friend went offline or was added (performance.now()); none: since createdAt. */
  private readonly offlineSince = new Map<number, number>();

  private dispatchPending(): void {
    // Events queued during tox_iterate; a listener may close the node, which stops the rest.
    const pending = this.pending;
    for (let i = 0; i < pending.length && !this.closed; i += 2) {
      const tag = pending[i] as number;
      if (tag === EVENT) (pending[i + 1] as PendingEvent)();
      else this.emit('losslessPacket', tag, pending[i + 1] as Uint8Array);
    }
    pending.length = 0;
  }

  private queueEvent(event: PendingEvent): void {
    this.pending.push(EVENT, event);
  }

  onSelfConnection(status: number): void {
    this.queueEvent(() => this.emit('selfConnection', connection(status)));
  }

  onFriendRequest(publicKey: Uint8Array, message: Uint8Array): void {
    this.queueEvent(() => this.emit('friendRequest', { publicKey: toHex(publicKey), message }));
  }

  onFriendConnection(friendNumber: number, status: number): void {
    // Offline, or through a TCP relay only, while toxcore looks for a direct UDP path (its DHT
    // searches and hole punching run on its iterations): not settled for OFFLINE_SETTLED_MS.
    if (connection(status) !== 'udp') this.offlineSince.set(friendNumber, performance.now());
    else this.offlineSince.delete(friendNumber);
    this.settledUntil = -Infinity; // asked again at the next iteration
    this.queueEvent(() => this.emit('friendConnection', friendNumber, connection(status)));
  }

  onFriendLosslessPacket(friendNumber: number, data: Uint8Array): void {
    this.pending.push(friendNumber, data);
  }

  onLog(level: number, file: string, line: number, func: string, message: string): void {
    this.onToxcoreLog?.({ level: LOG_LEVELS[level] ?? 'error', file, line, func, message });
  }

  /** Host socket counters (shared by the nodes of this process), for diagnostics. */
  socketStats(): string {
    const stats = this.toxcore.sockets.stats();
    return `${stats.open} host sockets, ${stats.udpDropped} datagrams dropped by the UDP queue`;
  }

  // --- lifetime -------------------------------------------------------------------------------

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops iterating, kills the toxcore instance and closes its sockets. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.stop();
    const tox = this.tox;
    this.tox = 0;
    if (tox !== 0) this.toxcore.callAs(this, () => this.x.tox_kill(tox));
    this.x.free(this.sendBuffer);
    this.x.free(this.errBuffer);
    this.toxcore.unregister(this.id);
    this.pending.length = 0;
    this.removeAllListeners();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private ptr(): ToxPtr {
    if (this.tox === 0) throw new ToxtunnelError('TOX_NODE_CLOSED', 'this Tox node was closed');
    return this.tox;
  }

  private readBytes(length: number, fill: (out: BytePtr) => void): Uint8Array {
    return withScratch(this.x, (scratch) => {
      const out = scratch.bytes(length);
      fill(out);
      return scratch.copyOut(out, length);
    });
  }

  private readErrBuffer(): number {
    const heap = this.toxcore.heap();
    const p = this.errBuffer;
    return heap[p]! | (heap[p + 1]! << 8) | (heap[p + 2]! << 16) | (heap[p + 3]! << 24);
  }

  private portOf(call: (err: ErrPtr) => number): number | undefined {
    return withScratch(this.x, (scratch) => {
      const err = scratch.err();
      const port = call(err);
      return scratch.readErr(err) === 0 ? port : undefined;
    });
  }
}

function validatePortRange(startPort: number, endPort: number): void {
  const ok = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
  if (!ok(startPort) || !ok(endPort) || endPort < startPort) {
    throw new ToxtunnelError(
      'TOX_BAD_OPTION',
      `bad UDP port range ${startPort}..${endPort}: ports must be 1..65535 and start <= end`,
      { startPort, endPort },
    );
  }
}

/** Checks the proxy options and gives the proxy as an IP literal (toxcore resolves nothing). */
async function proxyAddress(proxy: ProxyOptions, udp: boolean, localDiscovery: boolean): Promise<ProxyOptions> {
  const bad = (message: string) => new ToxtunnelError('TOX_BAD_OPTION', message, { proxy: `${proxy.type}://${proxy.host}:${proxy.port}` });
  if (!(proxy.type in PROXY_TYPES)) throw bad(`proxy type ${JSON.stringify(proxy.type)} is not socks5 or http`);
  if (!Number.isInteger(proxy.port) || proxy.port < 1 || proxy.port > 65535) throw bad(`proxy port ${proxy.port} is not a port (1..65535)`);
  if (udp) throw bad('a proxy needs UDP off: UDP traffic would go around the proxy');
  if (localDiscovery) throw bad('a proxy needs LAN discovery off: its broadcasts would go around the proxy');
  if (isIP(proxy.host)) return proxy;
  const [address] = await resolve(proxy.host);
  return { ...proxy, host: address! };
}

async function resolve(host: string): Promise<string[]> {
  try {
    const found = await lookup(host, { all: true });
    return [...new Set(found.map((a) => a.address))];
  } catch (error) {
    throw new ToxtunnelError('TOX_HOST_UNRESOLVED', `cannot resolve ${JSON.stringify(host)}: ${(error as Error).message}`, { host }, { cause: error });
  }
}
