// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel [-m server|client] …`: resolve the configuration, start the server or the
 * client (the library's start()), open the control socket, and stay up until SIGINT/SIGTERM
 * (close tunnels, save, exit 0). In pipe mode the process ends when the one tunnel does
 * (stdin EOF included).
 */
import { type Instance, start } from '../app/instance.ts';
import type { Logger } from '../app/logger.ts';
import { type CliFlags, resolveConfig } from '../config/config.ts';
import { controlSocketPath } from '../control/control-protocol.ts';
import { startControlServer } from '../control/control-server.ts';
import { createLogger } from './logging.ts';

export type RunFlags = CliFlags;
export { networkOptions } from '../app/instance.ts';

export async function run(flags: RunFlags): Promise<void> {
  const config = resolveConfig(flags);
  const log = createLogger(config.logLevel, { allToStderr: config.pipe !== undefined });
  const instance = await start(config, log);
  const control = config.controlSocket && !config.pipe ? await openControl(instance, config.dataDir, log) : undefined;
  const stop = async () => {
    await control?.close().catch(() => {});
    await instance.stop();
  };
  stopOnSignals(stop, log);
  process.on('SIGUSR2', () => log.info(`state:\n${(instance.server ?? instance.client)!.runtime.describe()}`));
  if (config.pipe && instance.client) {
    const failure = await instance.client.carry(process.stdin, process.stdout, config.pipe.host, config.pipe.port, { kind: 'pipe' });
    await stop();
    if (failure) log.error(`pipe to ${config.pipe.host}:${config.pipe.port}: ${failure.error}`);
    process.exit(failure ? 1 : 0);
  }
}

/** The local control socket (toxtunnel status/list/close); a failure to open it is a warning. */
async function openControl(instance: Instance, dataDir: string, log: Logger): Promise<{ close(): Promise<void> } | undefined> {
  try {
    return await startControlServer(controlSocketPath(dataDir), {
      status: () => instance.status(),
      list: () => instance.list(),
      close: (ref) => instance.close(ref),
    }, log);
  } catch (error) {
    log.warn(`no control socket (toxtunnel status/list/close will not reach this instance): ${(error as Error).message}`);
    return undefined;
  }
}

function stopOnSignals(stop: () => Promise<void>, log: Logger): void {
  const onSignal = (signal: NodeJS.Signals) => {
    log.info(`${signal}: closing tunnels and saving`);
    stop()
      .catch((error: Error) => log.error(error.message))
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
