// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * What the server and the client share: a Tox node made from the options (identity loaded
 * from and saved to data_dir), bootstrapped, with one FriendSession per friend fed by the
 * node's events, and the status lines people look for in the log.
 */
import type { BootstrapNode } from '../config/specs.ts';
import { ToxtunnelError } from '../errors.ts';
import { faultsFromEnvironment } from '../net/faults.ts';
import { describeProxy } from '../config/proxy-url.ts';
import { type Connection, type ProxyOptions, ToxNode } from '../tox/tox-node.ts';
import { FriendSession, type SessionHandlers } from '../tunnel/friend-session.ts';
import { loadHints, sameHint, saveHints, type StoredHint } from './address-hints.ts';
import { type DataDirLock, lockDataDir } from './data-dir-lock.ts';
import { loadSavedata, prepareDataDir, writeSavedata } from './identity.ts';
import type { Logger } from './logger.ts';

export type { BootstrapNode };

export interface NetworkOptions {
  dataDir: string;
  udp: boolean;
  ipv6: boolean;
  /** Our own TCP relay port (0 = none). */
  tcpPort: number;
  /** LAN discovery broadcasts (bootstrap_mode: lan). */
  localDiscovery: boolean;
  bootstrapNodes: BootstrapNode[];
  startPort?: number;
  endPort?: number;
  /** A friend's name (rules file, whitelist) for log lines, by public key. */
  friendName?: (publicKey: string) => string | undefined;
  /** Remember where friends were (data_dir/tox_hints.json) and reach them there first. Default true. */
  addressHints?: boolean;
  /** Every Tox connection through this proxy (needs udp false). */
  proxy?: ProxyOptions;
}

/** While off the Tox network, the bootstrap nodes are asked again this often (rebootstrap). */
const REBOOTSTRAP_MS = 5000;
const STATUS_TEXT: Record<Connection, string> = { none: 'Offline', tcp: 'Connected (TCP)', udp: 'Connected (UDP)' };

export class ToxRuntime {
  readonly sessions = new Map<number, FriendSession>();
  private stopped = false;
  /** Address hints by friend public key (see address-hints.ts); undefined when hints are off. */
  private readonly hints: Map<string, StoredHint> | undefined;
  /** node.staleCallsAnswered when we last logged it. */
  private staleCallsLogged = 0;
  private hintTimer: ReturnType<typeof setTimeout> | undefined;
  private rebootstrapTimer: ReturnType<typeof setInterval> | undefined;
  /** This instance's hold on data_dir (one instance per identity). */
  lock: DataDirLock | undefined;

  private constructor(
    readonly node: ToxNode,
    private readonly options: NetworkOptions,
    private readonly log: Logger,
    private readonly handlers: SessionHandlers,
  ) {
    this.hints = options.addressHints === false ? undefined : loadHints(options.dataDir);
    // Hints off: nothing of reconnecting from memory, not even answering a friend that still
    // calls our previous DHT key (wasm/tt_connect.c).
    if (!this.hints) node.answerStaleCalls(false);
    // A throwing handler is a bug, but one friend's bad luck must not stop the others' tunnels.
    node.onListenerError((error, event) => log.error(`internal error while handling "${event}" (the server keeps running): ${(error as Error)?.stack ?? String(error)}`));
    node.on('selfConnection', (status) =>
      status === 'none' ? log.warn('Tox network: offline') : log.info(`Tox network: ${STATUS_TEXT[status]}`),
    );
    node.on('friendConnection', (friend, status) => this.onFriendConnection(friend, status));
    node.on('losslessPacket', (friend, data) => this.session(friend).receive(data));
    node.on('drain', () => {
      for (const session of this.sessions.values()) session.link.flush();
    });
  }

  static async start(options: NetworkOptions, log: Logger, handlers: SessionHandlers): Promise<ToxRuntime> {
    prepareDataDir(options.dataDir);
    const lock = lockDataDir(options.dataDir, 'serverId' in options ? 'client' : 'server');
    try {
      const runtime = await ToxRuntime.startLocked(options, log, handlers);
      runtime.lock = lock;
      return runtime;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  private static async startLocked(options: NetworkOptions, log: Logger, handlers: SessionHandlers): Promise<ToxRuntime> {
    const savedata = loadSavedata(options.dataDir);
    const node = await ToxNode.create({
      udp: options.udp,
      ipv6: options.ipv6,
      tcpPort: options.tcpPort,
      localDiscovery: options.localDiscovery,
      startPort: options.startPort,
      endPort: options.endPort,
      savedata,
      ...(options.proxy ? { proxy: options.proxy } : {}),
    });
    const runtime = new ToxRuntime(node, options, log, handlers);
    const faults = faultsFromEnvironment();
    if (faults) log.warn(`TOXTUNNEL_FAULTS is set: UDP sends are dropped/delayed/duplicated on purpose (${JSON.stringify(faults)})`);
    if (!savedata) {
      try {
        writeSavedata(options.dataDir, node.savedata());
      } catch (error) {
        node.close();
        throw error;
      }
      log.info(`created a new Tox identity in ${options.dataDir}`);
    }
    const udpPort = node.udpPort;
    log.info(
      udpPort
        ? `Tox node up: UDP port ${udpPort}, DHT key ${node.dhtId}${node.tcpPort ? `, TCP relay port ${node.tcpPort}` : ''} (other nodes may bootstrap from these)`
        : `Tox node up: TCP only${node.tcpPort ? `, TCP relay port ${node.tcpPort}` : ''}`,
    );
    if (options.proxy) log.info(`every Tox connection goes through the ${describeProxy(options.proxy)} (UDP off)`);
    try {
      await runtime.bootstrap();
    } catch (error) {
      node.close();
      throw error;
    }
    runtime.reachRemembered();
    return runtime;
  }

  /** Points toxcore at every friend's remembered DHT key and address (a restarted node's shortcut). */
  private reachRemembered(): void {
    if (!this.hints) return;
    for (const friend of this.node.friends()) {
      const key = this.node.friendPublicKey(friend);
      const hint = key === undefined ? undefined : this.hints.get(key);
      if (!hint || !key) continue;
      try {
        this.node.reachFriend(friend, hint);
        const where = hint.address ? ` at ${hint.address.host}:${hint.address.port}` : '';
        this.log.info(`reaching friend ${friend} (${key.slice(0, 8)}…) directly${where}, as last seen ${hint.seen} (the DHT and onion search as well)`);
      } catch (error) {
        this.log.debug(`address hint for friend ${friend} unusable: ${(error as Error).message}`);
      }
    }
  }

  /** Records where the connected friends are now (written when something changed). */
  private rememberFriends(): void {
    if (!this.hints || this.node.isClosed) return;
    let changed = false;
    const friends = this.node.friends();
    const keys = new Set(friends.map((f) => this.node.friendPublicKey(f)));
    for (const key of this.hints.keys()) {
      if (!keys.has(key)) changed = this.hints.delete(key); // no longer a friend: forget where it was
    }
    for (const friend of friends) {
      if (this.node.friendConnectionStatus(friend) === 'none') continue;
      const key = this.node.friendPublicKey(friend);
      const hint = this.node.friendHint(friend);
      if (!key || !hint || sameHint(hint, this.hints.get(key))) continue;
      this.hints.set(key, { ...hint, seen: new Date().toISOString() });
      changed = true;
    }
    if (!changed) return;
    try {
      saveHints(this.options.dataDir, this.hints);
    } catch (error) {
      this.log.warn(`address hints not saved: ${(error as Error).message}`);
    }
  }

  /** A friend came online: its address settles within a moment (the handshake's source, the DHT). */
  private rememberSoon(): void {
    if (!this.hints || this.hintTimer) return;
    this.hintTimer = setTimeout(() => {
      this.hintTimer = undefined;
      this.rememberFriends();
    }, 1000);
    this.hintTimer.unref?.();
  }

  private async bootstrap(): Promise<void> {
    if (this.options.bootstrapNodes.length === 0 && !this.options.localDiscovery) {
      this.log.warn('no bootstrap nodes and LAN discovery off: this node can only be reached by nodes that bootstrap to it');
    }
    const usable: BootstrapNode[] = [];
    for (const entry of this.options.bootstrapNodes) {
      try {
        await this.node.bootstrap(entry.host, entry.port, entry.publicKey);
        for (const tcpPort of entry.tcpPorts ?? []) await this.node.addTcpRelay(entry.host, tcpPort, entry.publicKey);
        if (!this.options.udp) await this.node.addTcpRelay(entry.host, entry.tcpPorts?.[0] ?? entry.port, entry.publicKey);
        usable.push(entry);
      } catch (error) {
        this.log.warn(`bootstrap node ${entry.host}:${entry.port} skipped: ${(error as Error).message}`);
      }
    }
    if (this.options.bootstrapNodes.length > 0 && usable.length === 0) {
      throw new ToxtunnelError('BOOTSTRAP_NONE_USABLE', 'none of the bootstrap nodes could be used (see the warnings above)');
    }
    if (this.options.udp && usable.length > 0) {
      this.rebootstrapTimer = setInterval(() => this.rebootstrap(usable), REBOOTSTRAP_MS);
      this.rebootstrapTimer.unref?.();
    }
  }

  /**
   * While we are off the Tox network, asks the bootstrap nodes again. toxcore sends one nodes
   * request per bootstrap call and never repeats it: when that datagram or its answer is lost
   * (or the node was not up yet), the DHT's node list stays empty and nothing is ever asked
   * again (DHT.c, do_close only asks nodes it has heard from). Seen with 1 % loss in the
   * native-peer test: a client stayed offline for good.
   */
  private rebootstrap(nodes: BootstrapNode[]): void {
    if (this.stopped || this.node.connectionStatus !== 'none') return;
    for (const entry of nodes) {
      this.node.bootstrap(entry.host, entry.port, entry.publicKey).catch((error: Error) => this.log.debug(`bootstrap node ${entry.host}:${entry.port} again: ${error.message}`));
    }
  }

  /** The session of a friend (made on first use). */
  session(friendNumber: number): FriendSession {
    let session = this.sessions.get(friendNumber);
    if (!session) {
      const publicKey = this.node.friendPublicKey(friendNumber) ?? '';
      session = new FriendSession(this.node, friendNumber, publicKey, this.handlers);
      this.sessions.set(friendNumber, session);
    }
    return session;
  }

  private onFriendConnection(friend: number, status: Connection): void {
    const key = this.node.friendPublicKey(friend) ?? '?';
    const name = this.options.friendName?.(key);
    this.log.info(`Friend connection status: ${STATUS_TEXT[status]} (${name ? `${name}, ` : ''}friend ${friend}, ${key.slice(0, 8)}…)`);
    const session = this.session(friend);
    if (status !== 'none') this.rememberSoon();
    const answered = this.node.staleCallsAnswered;
    if (status !== 'none' && answered > this.staleCallsLogged) {
      this.staleCallsLogged = answered;
      this.log.info(`a friend still called our previous DHT key: told it our new one (${answered} call(s) answered since the start)`);
    }
    const wasOnline = session.liveness.state !== 'stopped';
    if (status === 'none') session.offline('the friend went offline');
    else if (!wasOnline) session.online();
  }

  /** A multi-line summary of friends, links and tunnels (for SIGUSR2 and debugging). */
  describe(names: (publicKey: string) => string | undefined = () => undefined): string {
    const lines = [`Tox network: ${STATUS_TEXT[this.node.connectionStatus]}; ${this.sessions.size} friend session(s); ${this.node.socketStats()}`];
    for (const session of this.sessions.values()) {
      const name = names(session.publicKey);
      const who = `${name ? `${name} ` : ''}(${session.publicKey.slice(0, 8)}…, friend ${session.friendNumber})`;
      lines.push(`friend ${who} ${STATUS_TEXT[this.node.friendConnectionStatus(session.friendNumber)]} (${session.protocol}, ${session.liveness.state}, peer capabilities 0x${session.peerCapabilities.toString(16)}): ${session.link.describe()}, dropped frames ${session.droppedFrames}`);
      for (const tunnel of session.tunnels.values()) lines.push(`  ${tunnel.describe()}`);
    }
    return lines.join('\n');
  }

  /** Removes a friend and fails its tunnels. */
  removeFriend(friend: number, reason: string): void {
    this.sessions.get(friend)?.offline(reason);
    this.sessions.delete(friend);
    this.node.deleteFriend(friend);
    this.save();
  }

  /**
   * Writes the identity and friend list (atomically, 0600). A failure (a full disk, a
   * read-only file system) is logged, not thrown: the node keeps running with what it has in
   * memory, and the next change tries again.
   */
  save(): boolean {
    try {
      writeSavedata(this.options.dataDir, this.node.savedata());
      return true;
    } catch (error) {
      this.log.error(`${(error as Error).message}: the friend list in memory is kept and saved at the next change`);
      return false;
    }
  }

  stop(reason = 'shutting down'): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.hintTimer);
    clearInterval(this.rebootstrapTimer);
    this.rememberFriends();
    for (const session of this.sessions.values()) session.offline(reason);
    this.save();
    this.node.close();
    this.lock?.release();
  }
}
