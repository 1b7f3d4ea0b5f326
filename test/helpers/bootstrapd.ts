// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A native Tox bootstrap node (Debian's tox-bootstrapd, toxcore-utils) on 127.0.0.1 for a
 * test: IPv4 only, no LAN discovery, no bootstrap nodes of its own, so it talks to nobody
 * but the test's nodes. Killed by PID when stopped or when the test process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface Bootstrapd {
  udpPort: number;
  tcpPort: number;
  publicKey: string;
  stop(): void;
}

export async function startBootstrapd(udpPort: number, tcpPort: number, withinMs = 15_000): Promise<Bootstrapd> {
  const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-bootstrapd-'));
  const config = join(dir, 'bootstrapd.conf');
  writeFileSync(
    config,
    [
      `port = ${udpPort}`,
      `keys_file_path = "${join(dir, 'keys')}"`,
      `pid_file_path = "${join(dir, 'pid')}"`,
      'enable_ipv6 = false',
      'enable_ipv4_fallback = true',
      'enable_lan_discovery = false',
      'enable_tcp_relay = true',
      `tcp_relay_ports = [${tcpPort}]`,
      'enable_motd = false',
      'motd = "toxtunnel test"',
      'bootstrap_nodes = ()',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('tox-bootstrapd', ['--config', config, '--foreground', '--log-backend', 'stdout'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  const output: string[] = [];
  const publicKey = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tox-bootstrapd printed no public key within ${withinMs} ms: ${output.join('\n')}`)), withinMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start tox-bootstrapd (apt-get install toxcore-utils): ${error.message}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tox-bootstrapd exited (${code}): ${output.join('\n')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      const match = /Public Key: ([0-9A-F]{64})/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  }).catch((error) => {
    stop();
    throw error;
  });
  return { udpPort, tcpPort, publicKey, stop };
}
