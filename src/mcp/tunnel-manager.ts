// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * What `toxtunnel mcp` manages: one toxtunnel client (the library's start()) and the tunnels
 * made on it — local forwards (ssh -L), SOCKS5 listeners (ssh -D) and reverse forwards
 * (ssh -R) — each with an id ("t1", "t2", …), a state, counters and rates. Failures are
 * ToxtunnelErrors whose messages are the sentences the CLI prints for the same failure.
 *
 * One server per session: the one in the config (client.server_id) or the first server_id a
 * tunnel_create names; another one may be named once no tunnel is open (the client is then
 * started again for it: one Tox identity runs one node). Results never hold anything secret
 * (no shared secret, no SOCKS password, no save data); Tox IDs and public keys are public.
 */
import type { ListenerHandle, ReverseHandle, ReverseForward, ToxtunnelClient } from '../app/client.ts';
import { listenerCounters } from '../app/client.ts';
import { loadSavedata, writeSavedata } from '../app/identity.ts';
import { type Instance, start } from '../app/instance.ts';
import type { Logger } from '../app/logger.ts';
import type { ResolvedConfig } from '../config/config.ts';
import { describeProxy } from '../config/proxy-url.ts';
import { ToxtunnelError } from '../errors.ts';
import { Capability } from '../protocol/frame.ts';
import { parseToxId } from '../tox/tox-id.ts';
import { ToxNode } from '../tox/tox-node.ts';

export type TunnelType = 'local' | 'remote' | 'dynamic';

export type CreateRequest =
  | { type: 'local'; localPort: number; bind: string; remoteHost: string; remotePort: number }
  | { type: 'dynamic'; localPort: number; bind: string }
  | { type: 'remote'; remotePort: number; remoteBind: string | undefined; localHost: string; localPort: number };

export interface CreateOptions {
  serverId?: string;
  /** How long to wait for the server (and its answer) before returning. */
  waitMs: number;
}

export interface TunnelView {
  id: string;
  type: TunnelType;
  /** "config" (from the config file) or "tool" (made by tunnel_create). */
  origin: 'config' | 'tool';
  /** active | waiting for the server | requested | refused | closed */
  state: string;
  /** Where to connect here (local and dynamic). */
  local_address?: string;
  /** What the connections reach: "host:port" (local), "any (SOCKS5)" (dynamic), "server 127.0.0.1:8080 -> 127.0.0.1:80 here" (remote). */
  target: string;
  note?: string;
  connections_total: number;
  connections_active: number;
  /** Bytes from the server to this side, and from this side to the server. */
  bytes_in: number;
  bytes_out: number;
  /** Over the last few seconds, bytes per second. */
  rate_in_bps: number;
  rate_out_bps: number;
  created_at: string;
}

interface Sample {
  at: number;
  bytesIn: number;
  bytesOut: number;
}

interface Managed {
  id: string;
  type: TunnelType;
  origin: 'config' | 'tool';
  createdAt: number;
  listener?: ListenerHandle;
  reverse?: ReverseHandle;
  /** Reverse tunnels: connections carried so far (the client's events), by target prefix. */
  reverseCounters?: { total: number; active: number; closedIn: number; closedOut: number };
  closed: boolean;
  samples: Sample[];
  note?: string;
}

const SAMPLE_EVERY_MS = 1000;
const RATE_WINDOW = 5;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class TunnelManager {
  private instance: Instance | undefined;
  private serverId: string | undefined;
  private readonly tunnels = new Map<string, Managed>();
  private nextId = 1;
  private readonly sampler: ReturnType<typeof setInterval>;
  private stopped = false;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly log: Logger,
  ) {
    this.sampler = setInterval(() => this.sample(), SAMPLE_EVERY_MS);
    this.sampler.unref?.();
  }

  /** Starts the client of the config's server now (with the config's forwards), if it names one. */
  async startConfigured(): Promise<void> {
    if (!this.config.serverId) return;
    const client = await this.startClient(this.config.serverId, true);
    for (const listener of client.localListeners) this.register(listener.kind === 'socks' ? 'dynamic' : 'local', 'config', { listener });
    for (const reverse of client.reverse) this.register('remote', 'config', { reverse });
  }

  // --- tools --------------------------------------------------------------------------------

  async create(request: CreateRequest, options: CreateOptions): Promise<TunnelView> {
    const client = await this.clientFor(options.serverId);
    const ready = await this.waitReady(client, options.waitMs);
    switch (request.type) {
      case 'local': {
        const listener = await client.addForward({ bind: request.bind, localPort: request.localPort, remoteHost: request.remoteHost, remotePort: request.remotePort });
        const tunnel = this.register('local', 'tool', { listener });
        if (!ready) {
          tunnel.note = `the server is not reachable yet: connections wait for it (up to ${this.config.connectTimeoutMs / 1000} s each); ${request.remoteHost}:${request.remotePort} is checked when it is`;
          return this.view(tunnel);
        }
        // Ask the server to connect once (no data) so that a refused target is an error now.
        const probe = await client.probe(request.remoteHost, request.remotePort, options.waitMs);
        if (!probe.ok) {
          this.closeManaged(tunnel);
          throw new ToxtunnelError('MCP_TUNNEL_REFUSED', `tunnel to ${request.remoteHost}:${request.remotePort} failed: ${probe.error} (the local port was closed again)`, {
            target: `${request.remoteHost}:${request.remotePort}`,
            ...(probe.peerErrorCode !== undefined ? { peerErrorCode: probe.peerErrorCode } : {}),
          });
        }
        tunnel.note = `the server connected to ${request.remoteHost}:${request.remotePort} (checked in ${probe.ackMs} ms)`;
        return this.view(tunnel);
      }
      case 'dynamic': {
        const listener = await client.addSocks({ bind: request.bind, port: request.localPort });
        const tunnel = this.register('dynamic', 'tool', { listener });
        if (!ready) tunnel.note = 'the server is not reachable yet: connections wait for it';
        return this.view(tunnel);
      }
      case 'remote':
        return this.createRemote(client, request, ready, options.waitMs);
    }
  }

  private async createRemote(client: ToxtunnelClient, request: Extract<CreateRequest, { type: 'remote' }>, ready: boolean, waitMs: number): Promise<TunnelView> {
    if (!this.config.extensions) {
      throw new ToxtunnelError('MCP_REVERSE_UNSUPPORTED', 'reverse forwards need the extensions, and extensions: false here');
    }
    const spec: ReverseForward = { ...(request.remoteBind ? { remoteBind: request.remoteBind } : {}), remotePort: request.remotePort, localHost: request.localHost, localPort: request.localPort };
    const to = `${spec.localHost}:${spec.localPort}`;
    const capabilities = () => (client.status().server as { extensions: number }).extensions;
    if (ready) {
      // Our HELLO is answered at once by a toxtunnel with extensions; a base-protocol peer never answers.
      await this.until(() => capabilities() !== 0, Math.min(2000, waitMs));
      if (!(capabilities() & Capability.REVERSE)) {
        throw new ToxtunnelError('MCP_REVERSE_UNSUPPORTED', 'the server does not support reverse tunnels (it is a base-protocol peer, or extensions are off)');
      }
    }
    const handle = client.addReverse(spec);
    const tunnel = this.register('remote', 'tool', { reverse: handle });
    if (ready) await this.until(() => handle.state === 'listening' || handle.state === 'refused', waitMs);
    if (handle.state === 'refused') {
      const message = handle.message ?? '';
      this.closeManaged(tunnel);
      throw new ToxtunnelError('MCP_TUNNEL_REFUSED', `reverse tunnel to ${to} refused by the server: ${message}`, { target: to });
    }
    if (handle.state !== 'listening') tunnel.note = ready ? 'the server has not answered yet' : 'the server is not reachable yet: the request goes out when it is';
    return this.view(tunnel);
  }

  list(): TunnelView[] {
    return [...this.tunnels.values()].map((t) => this.view(t));
  }

  /** Closes one tunnel: its listener (or the server's, for remote) and its open connections. */
  close(id: string): TunnelView {
    const tunnel = this.find(id);
    this.closeManaged(tunnel);
    return this.view(tunnel);
  }

  /** One tunnel's view, or the totals of the session. */
  stats(id?: string): Record<string, unknown> {
    if (id !== undefined) return { tunnel: this.view(this.find(id)) };
    const views = this.list();
    const snapshot = this.instance?.stats();
    return {
      tunnels_open: views.length,
      connections_total: snapshot?.connectionsTotal ?? 0,
      connections_active: snapshot?.connectionsActive ?? 0,
      errors: snapshot?.errors ?? 0,
      bytes_in: snapshot?.bytesIn ?? 0,
      bytes_out: snapshot?.bytesOut ?? 0,
      rate_in_bps: views.reduce((sum, v) => sum + v.rate_in_bps, 0),
      rate_out_bps: views.reduce((sum, v) => sum + v.rate_out_bps, 0),
      last_activity: snapshot?.lastActivity ?? null,
    };
  }

  async serverStatus(serverId?: string): Promise<Record<string, unknown>> {
    const client = await this.clientFor(serverId);
    const status = client.status() as { network: string; server: { publicKey?: string; connection: string; keepalive: string; state: string; extensions: number } };
    const online = client.serverReady;
    const rtt = online ? await client.measureRtt(3000) : undefined;
    const caps = status.server.extensions;
    return {
      server_id: this.serverId,
      online,
      state: status.server.state,
      // Our own link to the Tox network, and the server's friend connection: udp = direct, tcp = through a TCP relay.
      network: status.network,
      server_connection: status.server.connection,
      via: status.server.connection === 'udp' ? 'UDP (direct)' : status.server.connection === 'tcp' ? 'TCP relay' : 'offline',
      rtt_ms: rtt === undefined ? null : Math.round(rtt * 10) / 10,
      extensions: [caps & Capability.HALF_CLOSE ? 'half-close' : '', caps & Capability.REVERSE ? 'reverse' : ''].filter(Boolean),
      proxy: this.config.proxy ? describeProxy(this.config.proxy) : null,
      tunnels_open: this.tunnels.size,
    };
  }

  /** Our Tox ID (public: what a server's whitelist or rules name, by its first 64 characters). */
  async printId(): Promise<{ tox_id: string; public_key: string }> {
    if (this.instance) {
      const id = this.instance.toxId;
      return { tox_id: id, public_key: id.slice(0, 64) };
    }
    const savedata = loadSavedata(this.config.dataDir);
    // UDP off and no relay port: toxcore opens no socket (as `toxtunnel print-id`).
    const node = await ToxNode.create({ udp: false, tcpPort: 0, localDiscovery: false, savedata });
    try {
      if (!savedata) {
        writeSavedata(this.config.dataDir, node.savedata());
        this.log.info(`created a new Tox identity in ${this.config.dataDir}`);
      }
      return { tox_id: node.address.text, public_key: node.publicKey };
    } finally {
      node.close();
    }
  }

  /** Closes every tunnel and stops the client (stdin ended). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sampler);
    for (const tunnel of this.tunnels.values()) this.closeManaged(tunnel);
    await this.instance?.stop();
    this.instance = undefined;
  }

  // --- the client ---------------------------------------------------------------------------

  private async clientFor(serverIdText: string | undefined): Promise<ToxtunnelClient> {
    if (this.stopped) throw new ToxtunnelError('MCP_STOPPED', 'toxtunnel mcp is shutting down');
    let wanted: string | undefined;
    if (serverIdText !== undefined) {
      try {
        wanted = parseToxId(serverIdText).text;
      } catch (error) {
        throw new ToxtunnelError('CONFIG_SERVER_ID_INVALID', `server_id: ${(error as Error).message}`);
      }
    }
    const current = this.instance?.client;
    if (current && (wanted === undefined || wanted.slice(0, 64) === this.serverId!.slice(0, 64))) return current;
    const target = wanted ?? this.config.serverId;
    if (!target) {
      throw new ToxtunnelError(
        'MCP_NO_SERVER',
        "no server yet: give server_id (the server's Tox ID, 76 hex characters; `toxtunnel print-id` on the server prints it), or set client.server_id in the config file (toxtunnel mcp -c client.yaml)",
      );
    }
    if (current) {
      if (this.tunnels.size > 0) {
        throw new ToxtunnelError('MCP_OTHER_SERVER', `this session uses the server ${this.serverId!.slice(0, 8)}…; close its ${this.tunnels.size} tunnel(s) (tunnel_close) before using another server`);
      }
      await this.instance!.stop();
      this.instance = undefined;
    }
    return this.startClient(target, false);
  }

  private async startClient(serverId: string, withConfiguredTunnels: boolean): Promise<ToxtunnelClient> {
    const config: ResolvedConfig = {
      ...this.config,
      mode: 'client',
      serverId,
      ...(withConfiguredTunnels ? {} : { forwards: [], socks: [], reverse: [] }),
      pipe: undefined,
    };
    const instance = await start(config, this.log);
    this.instance = instance;
    this.serverId = serverId;
    const client = instance.client!;
    // Reverse connections are counted from the client's events (they have no local listener).
    client.on('tunnelOpened', (info) => {
      if (info.kind === 'reverse') for (const t of this.reverseTunnelsFor(info.target)) t.reverseCounters!.total++, t.reverseCounters!.active++;
    });
    client.on('tunnelClosed', (info) => {
      for (const t of this.reverseTunnelsFor(info.target)) {
        t.reverseCounters!.active = Math.max(0, t.reverseCounters!.active - 1);
        t.reverseCounters!.closedIn += info.bytesIn;
        t.reverseCounters!.closedOut += info.bytesOut;
      }
    });
    this.log.info(`toxtunnel mcp: client of the server ${serverId.slice(0, 8)}… started`);
    return client;
  }

  /** A reverse tunnel's target reads "reverse :PORT -> host:port" (client.ts). */
  private reverseTunnelsFor(target: string): Managed[] {
    return [...this.tunnels.values()].filter((t) => t.reverse && !t.closed && target.startsWith(`reverse :${t.reverse.remotePort ?? t.reverse.spec.remotePort} -> `));
  }

  private async waitReady(client: ToxtunnelClient, waitMs: number): Promise<boolean> {
    return this.until(() => client.serverReady, waitMs);
  }

  private async until(condition: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!condition()) {
      if (Date.now() >= deadline || this.stopped) return condition();
      await sleep(100);
    }
    return true;
  }

  // --- bookkeeping --------------------------------------------------------------------------

  private register(type: TunnelType, origin: Managed['origin'], handles: { listener?: ListenerHandle; reverse?: ReverseHandle }): Managed {
    const tunnel: Managed = { id: `t${this.nextId++}`, type, origin, createdAt: Date.now(), closed: false, samples: [], ...handles };
    if (handles.reverse) tunnel.reverseCounters = { total: 0, active: 0, closedIn: 0, closedOut: 0 };
    this.tunnels.set(tunnel.id, tunnel);
    return tunnel;
  }

  private find(id: string): Managed {
    const tunnel = this.tunnels.get(id.trim());
    if (!tunnel) {
      const known = [...this.tunnels.keys()];
      throw new ToxtunnelError('MCP_NO_SUCH_TUNNEL', `no tunnel ${JSON.stringify(id)}${known.length ? ` (open: ${known.join(', ')})` : ' (none is open)'}; tunnel_list shows them`);
    }
    return tunnel;
  }

  private closeManaged(tunnel: Managed): void {
    if (tunnel.closed) return;
    tunnel.closed = true;
    this.tunnels.delete(tunnel.id);
    const client = this.instance?.client;
    if (tunnel.listener) client?.closeListener(tunnel.listener);
    if (tunnel.reverse) {
      client?.cancelReverse(tunnel.reverse);
      // Its open connections: the ones whose target names its server port.
      const prefix = `reverse :${tunnel.reverse.remotePort ?? tunnel.reverse.spec.remotePort} -> `;
      for (const info of client?.list() ?? []) if (info.kind === 'reverse' && info.target.startsWith(prefix)) client?.closeTunnel(info.id);
    }
  }

  private counters(tunnel: Managed): Sample & { total: number; active: number } {
    if (tunnel.listener) {
      const c = listenerCounters(tunnel.listener);
      return { at: Date.now(), bytesIn: c.bytesIn, bytesOut: c.bytesOut, total: c.connections, active: c.active };
    }
    const r = tunnel.reverseCounters!;
    let bytesIn = r.closedIn;
    let bytesOut = r.closedOut;
    const prefix = `reverse :${tunnel.reverse!.remotePort ?? tunnel.reverse!.spec.remotePort} -> `;
    for (const info of this.instance?.client?.list() ?? []) {
      if (info.kind === 'reverse' && info.target.startsWith(prefix)) {
        bytesIn += info.bytesIn;
        bytesOut += info.bytesOut;
      }
    }
    return { at: Date.now(), bytesIn, bytesOut, total: r.total, active: r.active };
  }

  private sample(): void {
    for (const tunnel of this.tunnels.values()) {
      const { at, bytesIn, bytesOut } = this.counters(tunnel);
      tunnel.samples.push({ at, bytesIn, bytesOut });
      if (tunnel.samples.length > RATE_WINDOW) tunnel.samples.shift();
    }
  }

  private view(tunnel: Managed): TunnelView {
    const now = this.counters(tunnel);
    const oldest = tunnel.samples[0];
    const seconds = oldest ? (now.at - oldest.at) / 1000 : 0;
    const rate = (bytes: number, then: number) => (seconds > 0.2 ? Math.round(Math.max(0, bytes - then) / seconds) : 0);
    const ready = this.instance?.client?.serverReady ?? false;
    let state: string;
    let localAddress: string | undefined;
    let target: string;
    if (tunnel.listener) {
      state = tunnel.closed ? 'closed' : ready ? 'active' : 'waiting for the server';
      localAddress = `${tunnel.listener.bind.includes(':') ? `[${tunnel.listener.bind}]` : tunnel.listener.bind}:${tunnel.listener.port}`;
      target = tunnel.type === 'dynamic' ? 'any host:port a SOCKS5 client asks for' : tunnel.listener.description.split(' -> ')[1]!;
    } else {
      const r = tunnel.reverse!;
      state = tunnel.closed ? 'closed' : r.state === 'listening' ? 'active' : r.state === 'waiting' ? 'waiting for the server' : r.state;
      target = `server ${r.spec.remoteBind || '127.0.0.1'}:${r.remotePort ?? r.spec.remotePort} -> ${r.spec.localHost}:${r.spec.localPort} here`;
    }
    return {
      id: tunnel.id,
      type: tunnel.type,
      origin: tunnel.origin,
      state,
      ...(localAddress ? { local_address: localAddress } : {}),
      target,
      ...(tunnel.note && !tunnel.closed ? { note: tunnel.note } : {}),
      connections_total: now.total,
      connections_active: now.active,
      bytes_in: now.bytesIn,
      bytes_out: now.bytesOut,
      rate_in_bps: oldest ? rate(now.bytesIn, oldest.bytesIn) : 0,
      rate_out_bps: oldest ? rate(now.bytesOut, oldest.bytesOut) : 0,
      created_at: new Date(tunnel.createdAt).toISOString(),
    };
  }
}
