// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * toxtunnel as a library: `start(config)` runs a server or a client from a resolved config
 * (the same one the CLI builds) and returns a handle with stop(), healthCheck(), stats(),
 * list(), close() and typed events. The CLI is a thin shell over this.
 *
 *   import { resolveConfig, start } from 'toxtunnel';
 *   const tunnel = await start(resolveConfig({ mode: 'client', serverId, local: ['2222:127.0.0.1:22'] }));
 *   tunnel.on('server', (ready) => …);
 *   …
 *   await tunnel.stop();
 */
import { setImmediate } from 'node:timers';
import type { ResolvedConfig } from '../config/config.ts';
import { loadAnyRules } from '../tuntox/rules-file.ts';
import { ToxtunnelError } from '../errors.ts';
import { PUBLIC_BOOTSTRAP_NODES } from './public-nodes.ts';
import { type CarryFailure, type ClientEvents, ToxtunnelClient } from './client.ts';
import type { Readable, Writable } from 'node:stream';
import type { Connection } from '../tox/tox-node.ts';
import type { ToxRuntime } from './tox-runtime.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RulesWatcher } from './rules-watcher.ts';
import { ToxtunnelServer } from './server.ts';
import type { NetworkOptions } from './tox-runtime.ts';
import type { StatsSnapshot, TunnelInfo } from './tunnel-stats.ts';
import { FriendNameBook } from './friend-names.ts';
import { type FriendNames, type Observation, observe, RateMeter, startRateSampling } from './observe.ts';
import type { AccessPolicy } from '../config/rules.ts';
import type { ToxNode } from '../tox/tox-node.ts';

export interface Health {
  ok: boolean;
  /** What is wrong when not ok (e.g. "the server is not reachable"). */
  problems: string[];
  network: 'none' | 'tcp' | 'udp';
}

export interface Instance {
  readonly mode: 'server' | 'client';
  readonly toxId: string;
  readonly server?: ToxtunnelServer;
  readonly client?: ToxtunnelClient;
  stop(): Promise<void>;
  healthCheck(): Health;
  stats(): StatsSnapshot;
  /** Network, friends (name, key, transport, RTT, bytes) and counters: what status and /metrics show. */
  observe(): Observation;
  status(): Record<string, unknown>;
  list(): TunnelInfo[];
  /** A multi-line dump of friends, links and tunnels (SIGUSR2). */
  describe(): string;
  /** The Tox network connection now: none, tcp (relay) or udp. */
  network(): Connection;
  /** Calls `listener` on every change of the Tox network connection; returns the unsubscribe. */
  onNetwork(listener: (status: Connection) => void): () => void;
  /** Client: carries one byte stream (stdin/stdout: ssh ProxyCommand) to host:port through the server. */
  pipe(input: Readable, output: Writable, host: string, port: number): Promise<CarryFailure | undefined>;
  /** Closes one tunnel ("friend:tunnel", or the tunnel id); false when there is none. */
  close(ref: string): boolean;
  /** Client events (server ready, tunnels opened/closed, reverse results). */
  on<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): void;
}

export function networkOptions(config: ResolvedConfig): NetworkOptions {
  return {
    dataDir: config.dataDir,
    udp: config.udp,
    ipv6: config.ipv6,
    tcpPort: config.tcpPort,
    localDiscovery: config.bootstrapMode === 'lan',
    startPort: config.startPort,
    endPort: config.endPort,
    addressHints: config.addressHints,
    ...(config.proxy ? { proxy: config.proxy } : {}),
    bootstrapNodes: config.bootstrapMode === 'auto' ? [...config.bootstrapNodes, ...PUBLIC_BOOTSTRAP_NODES] : config.bootstrapNodes,
  };
}

/**
 * Resolves once the datagrams toxcore sent while stopping have left (node's dgram sends one
 * tick after send()): among them the kill packets that tell friends we left, so that they
 * accept our next start at once. A process that exits right after stop() would drop them.
 */
/** Where this node can be reached now (for `toxtunnel invite`): DHT and onion data keys (new every start) and ports. */
function where(node: ToxNode): Record<string, unknown> {
  return { dhtKey: node.dhtId, onionKey: node.onionKey, udpPort: node.udpPort ?? null, tcpRelayPort: node.tcpPort ?? null };
}

function lastDatagramsSent(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function start(config: ResolvedConfig, log: Logger = silentLogger): Promise<Instance> {
  return config.mode === 'server' ? startServer(config, log) : startClient(config, log);
}

/** The library's status(), with uptime and, per friend, its name, online time, RTT and bytes. */
function statusWith(base: Record<string, unknown>, seen: Observation): Record<string, unknown> {
  const byKey = new Map(seen.friends.map((f) => [f.publicKey, f]));
  const more = (entry: unknown) => {
    const f = byKey.get(String((entry as { publicKey?: unknown }).publicKey ?? ''));
    if (!f) return entry;
    const { onlineSince, rttMs, bytesIn, bytesOut, rateIn, rateOut } = f;
    return { ...(entry as object), ...(f.name ? { name: f.name } : {}), onlineSince, rttMs, bytesIn, bytesOut, rateIn, rateOut };
  };
  return {
    ...base,
    startedAt: seen.startedAt,
    uptimeSeconds: seen.uptimeSeconds,
    rateIn: seen.rateIn,
    rateOut: seen.rateOut,
    ...(Array.isArray(base.friends) ? { friends: base.friends.map(more) } : {}),
    ...(base.server && typeof base.server === 'object' ? { server: more(base.server) } : {}),
  };
}

/** network() and onNetwork() of an instance, from its runtime. */
function networkView(runtime: ToxRuntime): Pick<Instance, 'network' | 'onNetwork'> {
  return {
    network: () => runtime.node.connectionStatus,
    onNetwork(listener) {
      runtime.node.on('selfConnection', listener);
      return () => void runtime.node.off('selfConnection', listener);
    },
  };
}

async function startServer(config: ResolvedConfig, log: Logger): Promise<Instance> {
  const startedAt = Date.now();
  const policy: AccessPolicy | undefined = config.rulesFile ? loadAnyRules(config.rulesFile) : undefined;
  const loaded = policy as ReturnType<typeof loadAnyRules> | undefined;
  const book = new FriendNameBook(config.friendNames, policy);
  const names = book.nameOf;
  if (loaded) log.info(`rules: ${loaded.rules.length} rule(s) from ${config.rulesFile}${'format' in loaded ? ' (tuntox format)' : ''}`);
  if (loaded && 'format' in loaded) {
    for (const warning of loaded.warnings) log.warn(warning);
    if (config.sharedSecret === undefined && !config.whitelist) log.warn('tuntox rules apply to every friend: with no shared secret (-s) or whitelist (-i), anyone who knows this Tox ID may reach those targets');
  }
  const server = await ToxtunnelServer.start(
    {
      ...networkOptions(config),
      friendName: names,
      policy,
      extensions: config.extensions,
      ...(config.sharedSecret !== undefined ? { sharedSecret: config.sharedSecret } : {}),
      ...(config.whitelist ? { whitelist: config.whitelist } : {}),
      allowAny: config.allowAny,
      ...(config.maxFriends !== undefined ? { maxFriends: config.maxFriends } : {}),
    },
    log,
  );
  const watcher = config.rulesFile
    ? new RulesWatcher(
        config.rulesFile,
        loadAnyRules,
        {
          apply: (rules, problem) => {
            const node = server.runtime.node;
            book.replaceRules(rules, node.friends().flatMap((friend) => node.friendPublicKey(friend) ?? []));
            server.setPolicy(rules, problem);
          },
          problem: (problem) => server.setRulesProblem(problem),
        },
        log,
      )
    : undefined;
  const rates = new RateMeter();
  const seen = () => observe('server', server.runtime, server.stats, names, startedAt, rates);
  const stopSampling = startRateSampling(rates, seen, () => server.stats.totalBytes());
  watcher?.start();
  return {
    mode: 'server',
    toxId: server.toxId,
    server,
    async stop() {
      stopSampling();
      watcher?.stop();
      server.stop();
      await lastDatagramsSent();
    },
    healthCheck() {
      const network = server.runtime.node.connectionStatus;
      return { ok: network !== 'none', problems: network === 'none' ? ['not connected to the Tox network'] : [], network };
    },
    stats: () => server.stats.snapshot(),
    observe: seen,
    status: () => ({ ...statusWith(server.status(), seen()), ...where(server.runtime.node), pid: process.pid, dataDir: config.dataDir }),
    list: () => server.stats.list().map((t) => ({ ...t, ...(names(t.publicKey) ? { name: names(t.publicKey) } : {}) })),
    describe: () => server.runtime.describe(names),
    ...networkView(server.runtime),
    pipe: () => Promise.reject(new ToxtunnelError('CLI_INVALID', 'pipe mode is a client mode (-m client --pipe host:port)')),
    close(ref) {
      const entry = server.stats.find(ref);
      if (!entry) return false;
      entry.tunnel.fail('closed by the operator', true);
      return true;
    },
    on() {},
  };
}

async function startClient(config: ResolvedConfig, log: Logger): Promise<Instance> {
  const startedAt = Date.now();
  const names: FriendNames = (key) => (key.toUpperCase() === config.serverId?.slice(0, 64) ? 'server' : undefined);
  const client = await ToxtunnelClient.start(
    {
      ...networkOptions(config),
      friendName: names,
      serverId: config.serverId!,
      forwards: config.forwards,
      reverse: config.reverse,
      socks: config.socks,
      extensions: config.extensions,
      onlineWaitMs: config.connectTimeoutMs,
      protocol: config.protocol,
      ...(config.serverHint ? { serverHint: config.serverHint } : {}),
      ...(config.maxWaiting !== undefined ? { maxWaiting: config.maxWaiting } : {}),
      ...(config.sharedSecret !== undefined ? { sharedSecret: config.sharedSecret } : {}),
    },
    log,
  );
  const rates = new RateMeter();
  const seen = () => observe('client', client.runtime, client.stats, names, startedAt, rates);
  const stopSampling = startRateSampling(rates, seen, () => client.stats.totalBytes());
  return {
    mode: 'client',
    toxId: client.runtime.node.address.text,
    client,
    async stop() {
      stopSampling();
      client.stop();
      await lastDatagramsSent();
    },
    healthCheck() {
      const network = client.runtime.node.connectionStatus;
      const problems: string[] = [];
      if (network === 'none') problems.push('not connected to the Tox network');
      if (!client.serverReady) problems.push('the server is not reachable');
      for (const r of client.reverse) if (r.state === 'refused') problems.push(`reverse forward to ${r.spec.localHost}:${r.spec.localPort} refused: ${r.message ?? ''}`);
      return { ok: problems.length === 0, problems, network };
    },
    stats: () => client.stats.snapshot(),
    observe: seen,
    status: () => ({ ...statusWith(client.status(), seen()), ...where(client.runtime.node), pid: process.pid, dataDir: config.dataDir }),
    list: () => client.list(),
    describe: () => client.runtime.describe(names),
    ...networkView(client.runtime),
    pipe: (input, output, host, port) => client.carry(input, output, host, port, { kind: 'pipe' }),
    close: (ref) => client.closeTunnel(ref),
    on: (event, listener) => void client.on(event, listener),
  };
}
