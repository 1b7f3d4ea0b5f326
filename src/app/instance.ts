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
import { loadRules } from '../config/rules.ts';
import { PUBLIC_BOOTSTRAP_NODES } from './public-nodes.ts';
import { type ClientEvents, ToxtunnelClient } from './client.ts';
import { type Logger, silentLogger } from './logger.ts';
import { RulesWatcher } from './rules-watcher.ts';
import { ToxtunnelServer } from './server.ts';
import type { NetworkOptions } from './tox-runtime.ts';
import type { StatsSnapshot, TunnelInfo } from './tunnel-stats.ts';
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
  status(): Record<string, unknown>;
  list(): TunnelInfo[];
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
/** Where this node can be reached now (for `toxtunnel invite`): DHT key (changes every start) and ports. */
function where(node: ToxNode): Record<string, unknown> {
  return { dhtKey: node.dhtId, udpPort: node.udpPort ?? null, tcpRelayPort: node.tcpPort ?? null };
}

function lastDatagramsSent(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function start(config: ResolvedConfig, log: Logger = silentLogger): Promise<Instance> {
  return config.mode === 'server' ? startServer(config, log) : startClient(config, log);
}

async function startServer(config: ResolvedConfig, log: Logger): Promise<Instance> {
  const policy = config.rulesFile ? loadRules(config.rulesFile) : undefined;
  if (policy) log.info(`rules: ${policy.rules.length} rule(s) from ${config.rulesFile}`);
  const server = await ToxtunnelServer.start(
    {
      ...networkOptions(config),
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
    ? new RulesWatcher(config.rulesFile, loadRules, { apply: (rules, problem) => server.setPolicy(rules, problem), problem: (problem) => server.setRulesProblem(problem) }, log)
    : undefined;
  watcher?.start();
  return {
    mode: 'server',
    toxId: server.toxId,
    server,
    async stop() {
      watcher?.stop();
      server.stop();
      await lastDatagramsSent();
    },
    healthCheck() {
      const network = server.runtime.node.connectionStatus;
      return { ok: network !== 'none', problems: network === 'none' ? ['not connected to the Tox network'] : [], network };
    },
    stats: () => server.stats.snapshot(),
    status: () => ({ ...server.status(), ...where(server.runtime.node), pid: process.pid, dataDir: config.dataDir }),
    list: () => server.stats.list(),
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
  const client = await ToxtunnelClient.start(
    {
      ...networkOptions(config),
      serverId: config.serverId!,
      forwards: config.forwards,
      reverse: config.reverse,
      socks: config.socks,
      extensions: config.extensions,
      onlineWaitMs: config.connectTimeoutMs,
      ...(config.serverHint ? { serverHint: config.serverHint } : {}),
      ...(config.maxWaiting !== undefined ? { maxWaiting: config.maxWaiting } : {}),
      ...(config.sharedSecret !== undefined ? { sharedSecret: config.sharedSecret } : {}),
    },
    log,
  );
  return {
    mode: 'client',
    toxId: client.runtime.node.address.text,
    client,
    async stop() {
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
    status: () => ({ ...client.status(), ...where(client.runtime.node), pid: process.pid, dataDir: config.dataDir }),
    list: () => client.list(),
    close: (ref) => client.closeTunnel(ref),
    on: (event, listener) => void client.on(event, listener),
  };
}
