// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A whole toxtunnel deployment on loopback for one test: a native tox-bootstrapd, the
 * toxtunnel server and client as real processes (the built CLI, dist/toxtunnel.mjs, from
 * YAML config files in a temporary directory), and helpers to run TCP services and clients.
 * Bootstrap mode "none": only the test's bootstrapd is used; local discovery is off.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bootstrapd, startBootstrapd } from './bootstrapd.ts';
import { ROOT, type Runtime, runtimeCommand } from './peer.ts';

/** The CLI under test; TOXTUNNEL_CLI names another bundle (A/B benchmarks of two builds). */
export const CLI = process.env.TOXTUNNEL_CLI ?? join(ROOT, 'dist/toxtunnel.mjs');
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class CliProcess {
  output = '';
  /** When the process was spawned (Date.now()). */
  readonly startedAt = Date.now();
  exitCode: number | null | undefined;
  private waiters: Array<() => void> = [];

  constructor(readonly child: ChildProcess) {
    live.add(child);
    const collect = (d: Buffer) => {
      this.output += d.toString();
      for (const w of this.waiters.splice(0)) w();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('exit', (code) => {
      this.exitCode = code;
      live.delete(child);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Waits until the output matches; returns the match. Throws after `ms` or on exit. */
  async waitForOutput(pattern: RegExp, ms: number, what = String(pattern)): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const match = this.output.match(pattern);
      if (match) return match;
      if (this.exitCode !== undefined) throw new Error(`process exited (${this.exitCode}) before ${what}:\n${this.output}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; output:\n${this.output.slice(-3000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async exited(ms: number): Promise<number | null> {
    if (this.exitCode !== undefined) return this.exitCode;
    await this.waitForOutput(/(?!)/, ms, 'exit').catch(() => undefined);
    if (this.exitCode === undefined) throw new Error(`process did not exit within ${ms} ms:\n${this.output.slice(-2000)}`);
    return this.exitCode;
  }

  signal(name: NodeJS.Signals): void {
    if (this.exitCode === undefined) this.child.kill(name);
  }

  kill(): void {
    this.signal('SIGKILL');
  }
}

export function runCli(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; runtime?: Runtime; stdin?: 'pipe' | 'ignore'; wrap?: string[] } = {},
): CliProcess {
  const [runtime, prefix] = runtimeCommand(options.runtime ?? 'node', CLI);
  // `wrap`: a command that runs ours (e.g. unshare with a private /etc/hosts).
  const [command, ...rest] = [...(options.wrap ?? []), runtime, ...prefix, ...args];
  const child = spawn(command!, rest, {
    cwd: options.cwd ?? ROOT,
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...options.env },
  });
  return new CliProcess(child);
}

/** Runs the CLI to completion (for flag and config errors, print-id). */
export function runCliSync(args: string[], env: Record<string, string> = {}, cwd = ROOT) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, output: result.stdout + result.stderr };
}

export interface TunnelEnv {
  dir: string;
  clientPublicKey: string;
  bootstrapd: Bootstrapd;
  serverId: string;
  server: CliProcess;
  client: CliProcess;
  /** Date.now() when the client process was started (cold-start timings). */
  clientStartedAt: number;
  /** Asks both processes for their state (SIGUSR2) and returns what they printed. */
  dumpState(): Promise<string>;
  /** Writes a file into the environment's directory, returns its path. */
  file(name: string, text: string): string;
  /** Starts the server again from its config (after it was killed); waits for its Tox ID line. */
  restartServer(): Promise<CliProcess>;
  stop(): Promise<void>;
}

export interface TunnelEnvOptions {
  /** client.forwards entries. */
  forwards: Array<{ local_port: number; remote_host: string; remote_port: number }>;
  /** Rules file text (YAML) given the client's public key; undefined = no rules file. */
  rules?: (clientPublicKey: string) => string;
  ports: { bootstrapUdp: number; bootstrapTcp: number; toxFirst: number };
  clientUdp?: boolean;
  logLevel?: string;
  extraClientArgs?: string[];
  /** Extra YAML lines under "server:" and "client:" (indented by two spaces already). */
  serverYaml?: string[];
  clientYaml?: string[];
  /** Wait for this many "forwarding"/"SOCKS5 proxy on" lines (default: forwards.length). */
  listeners?: number;
  /** Extra environment of the server and client processes (e.g. TOXTUNNEL_FAULTS). */
  processEnv?: Record<string, string>;
  /** A command the server runs under (runCli's `wrap`). */
  serverWrap?: string[];
  /** A command the client runs under (runCli's `wrap`). */
  clientWrap?: string[];
  /** Extra environment of the client process only. */
  clientEnv?: Record<string, string>;
  /** Extra YAML lines under "tox:" (indented by two spaces already); server UDP (default true). */
  serverTox?: string[];
  clientTox?: string[];
  serverUdp?: boolean;
  /** The TCP relay port the client is given (a proxy in front of the bootstrapd's relay port). */
  clientRelayPort?: number;
  /**
   * The server's own Tox TCP relay (tox.tcp_port; default none). With `clientUsesServerRelay`
   * the client is given that relay, and no other node, as its bootstrap node and TCP relay: with
   * its UDP off, every packet between them goes through toxcore's TCP server in the server.
   */
  serverTcpPort?: number;
  clientUsesServerRelay?: boolean;
}

function bootstrapYaml(b: Pick<Bootstrapd, 'udpPort' | 'tcpPort' | 'publicKey'>, relayPort = b.tcpPort): string {
  return [
    '  bootstrap_mode: none',
    '  bootstrap_nodes:',
    `    - address: 127.0.0.1`,
    `      port: ${b.udpPort}`,
    `      public_key: ${b.publicKey}`,
    `      tcp_ports: [${relayPort}]`,
  ].join('\n');
}

export async function startTunnelEnv(options: TunnelEnvOptions): Promise<TunnelEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-e2e-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const bootstrapd = await startBootstrapd(options.ports.bootstrapUdp, options.ports.bootstrapTcp);
  const processes: CliProcess[] = [];
  const stop = async () => {
    for (const p of processes) p.signal('SIGTERM');
    await Promise.all(processes.map((p) => p.exited(10_000).catch(() => p.kill())));
    bootstrapd.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const clientKey = /[0-9A-F]{76}/.exec(runCliSync(['print-id', '-d', join(dir, 'client-data')]).stdout)?.[0]?.slice(0, 64);
    if (!clientKey) throw new Error('print-id gave no client Tox ID');
    // Without rules, secret or whitelist a server admits nobody: such tests run it open on purpose.
    const admission = options.rules !== undefined || (options.serverYaml ?? []).some((l) => /shared_secret|whitelist|allow_any/.test(l));
    const rulesLine = options.rules !== undefined ? `  rules_file: ${file('rules.yaml', options.rules(clientKey))}` : admission ? '' : '  allow_any: true';
    const serverConfig = file(
      'server.yaml',
      [
        'mode: server',
        `data_dir: ${join(dir, 'server-data')}`,
        'logging:',
        `  level: ${options.logLevel ?? 'info'}`,
        'tox:',
        `  udp_enabled: ${options.serverUdp ?? true}`,
        `  tcp_port: ${options.serverTcpPort ?? 0}`,
        ...(options.serverTox ?? []),
        bootstrapYaml(bootstrapd),
        'server:',
        rulesLine,
        ...(options.serverYaml ?? []),
        '',
      ].join('\n'),
    );
    const id = runCliSync(['print-id', '-d', join(dir, 'server-data')]);
    const serverId = /[0-9A-F]{76}/.exec(id.stdout)?.[0];
    if (!serverId) throw new Error(`print-id gave no Tox ID: ${id.output}`);
    const server = runCli(['-c', serverConfig], { env: options.processEnv ?? {}, ...(options.serverWrap ? { wrap: options.serverWrap } : {}) });
    processes.push(server);
    await server.waitForOutput(/Tox ID: [0-9A-F]{76}/, 30_000, 'server start');
    let clientBootstrap = bootstrapYaml(bootstrapd, options.clientRelayPort);
    if (options.clientUsesServerRelay) {
      const up = /Tox node up: UDP port (\d+), DHT key ([0-9A-F]{64}), TCP relay port (\d+)/.exec(server.output);
      if (!up) throw new Error(`the server printed no UDP port, DHT key and TCP relay port: ${server.output}`);
      clientBootstrap = bootstrapYaml({ udpPort: Number(up[1]), publicKey: up[2]!, tcpPort: Number(up[3]) });
    }

    const clientConfig = file(
      'client.yaml',
      [
        'mode: client',
        `data_dir: ${join(dir, 'client-data')}`,
        'logging:',
        `  level: ${options.logLevel ?? 'info'}`,
        'tox:',
        `  udp_enabled: ${options.clientUdp ?? true}`,
        ...(options.clientTox ?? []),
        clientBootstrap,
        'client:',
        `  server_id: ${serverId}`,
        '  forwards:',
        ...options.forwards.flatMap((f) => [`    - local_port: ${f.local_port}`, `      remote_host: ${f.remote_host}`, `      remote_port: ${f.remote_port}`]),
        ...(options.clientYaml ?? []),
        '',
      ].join('\n'),
    );
    const clientStartedAt = Date.now();
    const client = runCli(['-c', clientConfig, ...(options.extraClientArgs ?? [])], {
      env: { ...options.processEnv, ...options.clientEnv },
      ...(options.clientWrap ? { wrap: options.clientWrap } : {}),
    });
    processes.push(client);
    const listeners = options.listeners ?? options.forwards.length;
    const listening = new RegExp(`((forwarding|SOCKS5 proxy on) [^\\n]*\\n[^]*){${listeners}}`);
    if (listeners > 0) await client.waitForOutput(listening, 30_000, 'client listening on its forwards');
    const dumpState = async () => {
      client.signal('SIGUSR2');
      env.server.signal('SIGUSR2');
      await new Promise((r) => setTimeout(r, 500));
      const last = (p: CliProcess) => p.output.split('state:').at(-1)?.split('\n').slice(0, 40).join('\n');
      return `client state:${last(client)}\nserver state:${last(env.server)}`;
    };
    const restartServer = async () => {
      const again = runCli(['-c', serverConfig], { env: options.processEnv ?? {}, ...(options.serverWrap ? { wrap: options.serverWrap } : {}) });
      processes.push(again);
      env.server = again;
      await again.waitForOutput(/Tox ID: [0-9A-F]{76}/, 30_000, 'server restart');
      return again;
    };
    const env: TunnelEnv = { dir, clientPublicKey: clientKey, bootstrapd, serverId, server, client, clientStartedAt, file, stop, dumpState, restartServer };
    return env;
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Waits until the client logs the server online. */
export function serverOnline(env: TunnelEnv, ms = 90_000) {
  return env.client.waitForOutput(/Friend connection status: Connected \((UDP|TCP)\)/, ms, 'server online at the client');
}

// --- TCP services and clients for tests ------------------------------------------------------

export interface Service {
  port: number;
  connections: number;
  close(): Promise<void>;
}

/** A TCP service on 127.0.0.1: `handle` gets each connection. */
export async function startService(port: number, handle: (socket: net.Socket) => void): Promise<Service> {
  const sockets = new Set<net.Socket>();
  const service: Service = { port, connections: 0, close: async () => {} };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    service.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  service.port = (server.address() as net.AddressInfo).port;
  service.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return service;
}

/** Echo: writes back what it reads; ends when the other side ends. */
export const echo = (socket: net.Socket) => socket.pipe(socket);

/** Deterministic test data. */
export function testData(bytes: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

export const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/**
 * Sends `data` to 127.0.0.1:port and reads until as many bytes came back (an echo service),
 * then closes. The base protocol has no half-close, so the sender does not end() first.
 */
export function echoRoundTrip(port: number, data: Uint8Array, ms: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`echo of ${data.length} bytes incomplete after ${ms} ms (${received} bytes back)`));
    }, ms);
    socket.on('data', (c) => {
      chunks.push(c);
      received += c.length;
      if (received >= data.length) {
        clearTimeout(timer);
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (received < data.length) reject(new Error(`connection closed after ${received} of ${data.length} echoed bytes`));
    });
    socket.write(data);
  });
}

/** Connects and waits for the connection to be closed by the other side; returns ms taken. */
export function closedWithin(port: number, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`still open after ${ms} ms`));
    }, ms);
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

// --- process figures ---------------------------------------------------------------------------

/** Resident memory of a process, MiB (Linux /proc). */
export const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** Open file descriptors of a process (Linux /proc). */
export const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
