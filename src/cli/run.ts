// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel [-m server|client] …`: resolve the configuration, start the server or the
 * client, and stay up until SIGINT/SIGTERM (close tunnels, save, exit 0). In pipe mode the
 * process ends when the one tunnel does (stdin EOF included).
 */
import { ToxtunnelClient } from '../app/client.ts';
import type { Logger } from '../app/logger.ts';
import { PUBLIC_BOOTSTRAP_NODES } from '../app/public-nodes.ts';
import { ToxtunnelServer } from '../app/server.ts';
import type { NetworkOptions } from '../app/tox-runtime.ts';
import { type CliFlags, type ResolvedConfig, resolveConfig } from '../config/config.ts';
import { loadRules } from '../config/rules.ts';
import { createLogger } from './logging.ts';

export type RunFlags = CliFlags;

export function networkOptions(config: ResolvedConfig): NetworkOptions {
  return {
    dataDir: config.dataDir,
    udp: config.udp,
    ipv6: config.ipv6,
    tcpPort: config.tcpPort,
    localDiscovery: config.bootstrapMode === 'lan',
    startPort: config.startPort,
    endPort: config.endPort,
    bootstrapNodes: config.bootstrapMode === 'auto' ? [...config.bootstrapNodes, ...PUBLIC_BOOTSTRAP_NODES] : config.bootstrapNodes,
  };
}

export async function run(flags: RunFlags): Promise<void> {
  const config = resolveConfig(flags);
  const log = createLogger(config.logLevel, { allToStderr: config.pipe !== undefined });
  if (config.mode === 'server') {
    const policy = config.rulesFile ? loadRules(config.rulesFile) : undefined;
    if (policy) log.info(`rules: ${policy.rules.length} rule(s) from ${config.rulesFile}`);
    const server = await ToxtunnelServer.start({ ...networkOptions(config), policy }, log);
    stopOnSignals(() => server.stop(), log);
    process.on('SIGUSR2', () => log.info(`state:\n${server.runtime.describe()}`));
    return;
  }
  const client = await ToxtunnelClient.start(
    { ...networkOptions(config), serverId: config.serverId!, forwards: config.forwards },
    log,
  );
  stopOnSignals(() => client.stop(), log);
  process.on('SIGUSR2', () => log.info(`state:\n${client.runtime.describe()}`));
  if (config.pipe) {
    const error = await client.carry(process.stdin, process.stdout, config.pipe.host, config.pipe.port);
    client.stop();
    if (error) log.error(`pipe to ${config.pipe.host}:${config.pipe.port}: ${error}`);
    process.exit(error ? 1 : 0);
  }
}

function stopOnSignals(stop: () => void, log: Logger): void {
  const onSignal = (signal: NodeJS.Signals) => {
    log.info(`${signal}: closing tunnels and saving`);
    try {
      stop();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
