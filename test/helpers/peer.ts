// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Drives test/fixtures/tox-peer.mjs in a child process (Node, Bun or Deno). Every wait has a
 * deadline; every process started is killed by PID when the test ends (or the test process
 * exits), so no test leaves a node running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export type Runtime = 'node' | 'bun' | 'deno';

export type PeerEvent = { event: string; [key: string]: unknown };

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export function runtimeCommand(runtime: Runtime, script: string): [string, string[]] {
  switch (runtime) {
    case 'node':
      return [process.execPath, [script]];
    case 'bun':
      return [join(ROOT, 'node_modules/.bin/bun'), [script]];
    case 'deno':
      return [join(ROOT, 'node_modules/.bin/deno'), ['run', '-A', '--quiet', script]];
  }
}

export class Peer {
  readonly events: PeerEvent[] = [];
  private waiters: Array<() => void> = [];
  readonly stderr: string[] = [];
  exited: number | null | undefined;

  private constructor(readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as PeerEvent);
      } catch {
        this.events.push({ event: 'stdout', line });
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
    child.stderr!.on('data', (d) => this.stderr.push(String(d)));
    child.on('exit', (code) => {
      this.exited = code;
      live.delete(child);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static start(options: Record<string, unknown> = {}, runtime: Runtime = 'node', env: Record<string, string> = {}): Peer {
    const [command, args] = runtimeCommand(runtime, join(ROOT, 'test/fixtures/tox-peer.mjs'));
    const child = spawn(command, args, {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TOX_PEER_OPTIONS: JSON.stringify(options), NO_COLOR: '1', ...env },
    });
    live.add(child);
    return new Peer(child);
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin!.write(JSON.stringify(command) + '\n');
  }

  /** Waits for the first event (from index `from`) matching; throws after `ms`. */
  async waitFor(match: (e: PeerEvent) => boolean, ms: number, what = 'event', from = 0): Promise<PeerEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      const error = this.events.find((e) => e.event === 'error');
      if (error && !match(error)) throw new Error(`peer reported ${error.code}: ${error.message}`);
      if (this.exited !== undefined) throw new Error(`peer exited (${this.exited}) before ${what}; stderr: ${this.stderr.join('')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; events: ${JSON.stringify(this.events.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  ready(ms = 30_000): Promise<PeerEvent> {
    return this.waitFor((e) => e.event === 'ready', ms, 'ready');
  }

  kill(): void {
    if (this.exited === undefined) this.child.kill('SIGKILL');
  }
}
