// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel [-m server|client] …`: resolve the configuration, start the server or the
 * client (the library's start()), open the control socket, and stay up until SIGINT/SIGTERM
 * (close tunnels, save, exit 0). In pipe mode the process ends when the one tunnel does
 * (stdin EOF included).
 */
import { collectWhenQuiet, tuneHeapForLongRun } from './heap-tuning.ts';
import { type Instance, start } from '../app/instance.ts';
import type { Logger } from '../app/logger.ts';
import { type CliFlags, resolveConfig } from '../config/config.ts';
import { controlSocketPath } from '../control/control-protocol.ts';
import { startControlServer } from '../control/control-server.ts';
import { createServiceLogger } from '../service/service-logger.ts';
import { createServiceNotifier, type ServiceNotifier } from '../service/systemd-notify.ts';
import { createLogger } from './logging.ts';
import { attachPipe, openCarrier } from './pipe-attach.ts';
import { showConnectionProgress } from './progress.ts';
import { type MetricsServer, startMetricsServer } from '../metrics/prometheus.ts';
import { runtimeName } from '../runtime.ts';
import { VERSION } from '../version.ts';

/** `service`: --service (plain stderr logs; systemd readiness, status and watchdog). */
export type RunFlags = CliFlags & { service?: boolean };

export async function run(flags: RunFlags): Promise<void> {
  tuneHeapForLongRun();
  const config = resolveConfig(flags);
  if (config.pipe && config.controlSocket) {
    // A client running with this data dir carries the stream: no second node with our key.
    const attached = await attachPipe(controlSocketPath(config.dataDir), config.pipe.host, config.pipe.port, process.stdin, process.stdout);
    if (attached.attached) {
      if (attached.error) process.stderr.write(`toxtunnel: pipe to ${config.pipe.host}:${config.pipe.port}: ${attached.error}\n`);
      process.exit(attached.error ? 1 : 0);
    }
  }
  const log = flags.service ? createServiceLogger(config.logLevel) : createLogger(config.logLevel, { allToStderr: config.pipe !== undefined });
  // Before start(): systemd counts the watchdog from the moment it started us. A no-op
  // without --service or without NOTIFY_SOCKET; never throws.
  const notifier = flags.service ? createServiceNotifier(process.env, log) : undefined;
  const instance = await start(config, log);
  if (!config.pipe) showConnectionProgress(instance, log, Boolean(process.stderr.isTTY) && !flags.service);
  const control = config.controlSocket && !config.pipe ? await openControl(instance, config.dataDir, log) : undefined;
  let metrics: MetricsServer | undefined;
  if (config.metrics) {
    try {
      metrics = await startMetricsServer(config.metrics, () => instance.observe(), { version: VERSION, runtime: runtimeName() }, log);
    } catch (error) {
      await control?.close().catch(() => {});
      await instance.stop();
      throw error;
    }
  }
  if (notifier) {
    const up = `tunnels up; Tox ID ${instance.toxId}`;
    notifier.ready(up);
    instance.on('server', (ready) => notifier.status(`${up}; server ${ready ? 'reachable' : 'not reachable'}`));
  }
  const stopCollecting = collectWhenQuiet(() => {
    const s = instance.stats();
    return s.bytesIn + s.bytesOut;
  });
  const stop = async () => {
    stopCollecting();
    await control?.close().catch(() => {});
    await metrics?.close().catch(() => {});
    await instance.stop();
  };
  stopOnSignals(stop, log, notifier);
  process.on('SIGUSR2', () => log.info(`state:\n${instance.describe()}`));
  if (config.pipe) {
    const failure = await instance.pipe(process.stdin, process.stdout, config.pipe.host, config.pipe.port);
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
      ...(instance.client ? openCarrier(instance.client) : {}),
    }, log);
  } catch (error) {
    log.warn(`no control socket (toxtunnel status/list/close will not reach this instance): ${(error as Error).message}`);
    return undefined;
  }
}

function stopOnSignals(stop: () => Promise<void>, log: Logger, notifier?: ServiceNotifier): void {
  const onSignal = (signal: NodeJS.Signals) => {
    log.info(`${signal}: closing tunnels and saving`);
    // STOPPING=1 goes out while we close; awaited (bounded, never rejects) before exit.
    const stopping = notifier?.stopping(`${signal}: closing tunnels and saving`);
    stop()
      .catch((error: Error) => log.error(error.message))
      .then(() => stopping)
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}
