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
  const isClient = instance.mode === 'client';
  let phase: 'dht' | 'server' | 'done' = instance.network() === 'none' ? 'dht' : isClient ? 'server' : 'done';
  const describe = () =>
    phase === 'dht'
      ? 'waiting for the Tox network (bootstrap nodes, DHT)'
      : 'waiting for the server to come online (it must be running and reachable through the same bootstrap nodes)';
  if (phase !== 'done') log.info(`${describe()}…`);
  const onSelf = (status: 'none' | 'tcp' | 'udp') => {
    if (phase !== 'dht' || status === 'none') return;
    phase = isClient ? 'server' : 'done';
    log.info(`connected to the Tox network after ${elapsed()}${phase === 'server' ? `; ${describe()}…` : ''}`);
  };
  const unsubscribe = instance.onNetwork(onSelf);
  instance.on('server', (ready) => {
    if (!ready || phase === 'done') return;
    phase = 'done';
    const seen = instance.observe().friends;
    const server = seen.find((f) => f.name === 'server') ?? seen[0];
    log.info(`the server is online, ${HOW[server?.connection ?? 'none']}, after ${elapsed()}: tunnels can open`);
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
    unsubscribe();
  };
}
