// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * While connecting, say what we wait for, with the elapsed time: the Tox network (DHT), then
 * (client) the server coming online, and how (direct UDP or a TCP relay). One line per change
 * of state; on a terminal also a reminder every 5 s while still waiting, so a silent screen
 * never leaves the user guessing. Not used in pipe mode (ssh owns that terminal).
 */
import type { Instance } from '../app/instance.ts';
import type { Logger } from '../app/logger.ts';

const REMINDER_MS = 5000;
const HOW = { udp: 'direct (UDP)', tcp: 'through a TCP relay', none: 'offline' } as const;

export function showConnectionProgress(instance: Instance, log: Logger, tty: boolean): () => void {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const runtime = (instance.client ?? instance.server)!.runtime;
  const node = runtime.node;
  let phase: 'dht' | 'server' | 'done' = node.connectionStatus === 'none' ? 'dht' : instance.client ? 'server' : 'done';
  const describe = () =>
    phase === 'dht'
      ? 'waiting for the Tox network (bootstrap nodes, DHT)'
      : 'waiting for the server to come online (it must be running and reachable through the same bootstrap nodes)';
  if (phase !== 'done') log.info(`${describe()}…`);
  const onSelf = (status: 'none' | 'tcp' | 'udp') => {
    if (phase !== 'dht' || status === 'none') return;
    phase = instance.client ? 'server' : 'done';
    log.info(`connected to the Tox network after ${elapsed()}${phase === 'server' ? `; ${describe()}…` : ''}`);
  };
  node.on('selfConnection', onSelf);
  instance.on('server', (ready) => {
    if (!ready || phase === 'done') return;
    phase = 'done';
    const client = instance.client!;
    const status = client.status() as { server: { connection: 'none' | 'tcp' | 'udp' } };
    log.info(`the server is online, ${HOW[status.server.connection]}, after ${elapsed()}: tunnels can open`);
  });
  const timer = tty
    ? setInterval(() => {
        if (phase === 'done') clearInterval(timer);
        else log.info(`still ${describe()} (${elapsed()})`);
      }, REMINDER_MS)
    : undefined;
  timer?.unref?.();
  return () => {
    if (timer) clearInterval(timer);
    node.off('selfConnection', onSelf);
  };
}
