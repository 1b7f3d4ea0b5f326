// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Measurement primitives of the tunnel benchmark: a hashing sink service, timed one-way
 * transfers (with the first-4-MB time and the share of concurrent streams), echo round trips,
 * CPU time and RSS of processes (/proc), the kernel's UDP counters (/proc/net/snmp, per
 * network namespace), medians. Linux only; loopback only.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { echoRoundTrip, sha256, startService, testData } from '../test/helpers/tunnel-env.ts';

export const MB = 1e6;
export const fmt = (n: number | undefined, d = 1) => (n === undefined || !Number.isFinite(n) ? '—' : n.toFixed(d));

export function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[(v.length - 1) >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function machine(): string {
  const [one, five] = loadavg();
  return `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, node ${process.version}; load average ${fmt(one, 2)} (1 min) ${fmt(five, 2)} (5 min) at start`;
}

// --- the sink ----------------------------------------------------------------------------------

interface SinkStream {
  bytes: number;
  /** performance.now() when the sink had received 4 MB of this connection. */
  at4MB?: number;
  hash: ReturnType<typeof createHash>;
}

/** A TCP sink on `port`: counts and hashes each connection; the current measurement reads it. */
export class Sink {
  readonly streams: SinkStream[] = [];
  private readonly done: Array<(s: { bytes: number; sha256: string }) => void> = [];
  /** Called when any stream finishes (for the share snapshot). */
  onFinish: (() => void) | undefined;

  static async start(port: number): Promise<Sink> {
    const sink = new Sink();
    await startService(port, (socket) => {
      const stream: SinkStream = { bytes: 0, hash: createHash('sha256') };
      sink.streams.push(stream);
      socket.on('data', (c: Buffer) => {
        stream.bytes += c.length;
        stream.hash.update(c);
        if (stream.at4MB === undefined && stream.bytes >= 4 * MB) stream.at4MB = performance.now();
      });
      socket.on('end', () => {
        sink.onFinish?.();
        sink.done.shift()?.({ bytes: stream.bytes, sha256: stream.hash.digest('hex') });
        socket.end();
      });
    });
    return sink;
  }

  /** A promise for the next stream to finish. */
  next(): Promise<{ bytes: number; sha256: string }> {
    return new Promise((resolve) => this.done.push(resolve));
  }

  reset(): void {
    this.streams.length = 0;
    this.done.length = 0;
    this.onFinish = undefined;
  }
}

/** The sha256 of `bytes` bytes of the pattern oneWay sends (cached). */
const patternHashes = new Map<number, string>();
const PATTERN = testData(16 * MB, 1);
function patternHash(bytes: number): string {
  let h = patternHashes.get(bytes);
  if (!h) {
    const hash = createHash('sha256');
    for (let left = bytes; left > 0; left -= PATTERN.length) hash.update(PATTERN.subarray(0, Math.min(left, PATTERN.length)));
    h = hash.digest('hex');
    patternHashes.set(bytes, h);
  }
  return h;
}

export interface Transfer {
  /** MB/s over the whole transfer (connect to the sink's last byte), all streams together. */
  mbps: number;
  seconds: number;
  /** One stream: MB/s of its first 4 MB (connect to the sink's 4,000,000th byte). */
  first4MBps?: number;
  /**
   * Several streams: the largest / the smallest byte count at the sink when the first one
   * finished (a stream with nothing yet counts as 1 byte, so the ratio is then huge, not lost).
   */
  shareRatio?: number;
}

/**
 * `streams` connections to `port` at once, each sending `bytesEach` bytes and ending; waits
 * until the sink has all of them, byte-exact (sha256). Throws after `timeoutMs`, saying how
 * far it got.
 */
export async function oneWay(sink: Sink, port: number, streams: number, bytesEach: number, timeoutMs: number): Promise<Transfer> {
  sink.reset();
  const expected = patternHash(bytesEach);
  let shareRatio: number | undefined;
  if (streams > 1) {
    sink.onFinish = () => {
      if (shareRatio !== undefined) return;
      const counts = sink.streams.map((s) => s.bytes);
      while (counts.length < streams) counts.push(0);
      shareRatio = Math.max(...counts) / Math.max(1, Math.min(...counts));
    };
  }
  const started = performance.now();
  const finished = Array.from({ length: streams }, () => sink.next());
  const sockets: net.Socket[] = [];
  const send = async () => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    sockets.push(socket);
    socket.on('error', () => {});
    socket.resume();
    await new Promise((r) => socket.once('connect', r));
    let left = bytesEach;
    while (left > 0) {
      const chunk = PATTERN.subarray(0, Math.min(left, PATTERN.length));
      left -= chunk.length;
      if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
    }
    socket.end();
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const got = sink.streams.reduce((a, s) => a + s.bytes, 0);
      reject(new Error(`incomplete after ${timeoutMs / 1000} s: ${fmt(got / MB, 2)} of ${fmt((streams * bytesEach) / MB, 2)} MB at the sink`));
    }, timeoutMs);
  });
  try {
    const results = await Promise.race([Promise.all([Promise.all(Array.from({ length: streams }, send)), Promise.all(finished)]).then(([, r]) => r), timeout]);
    const seconds = (performance.now() - started) / 1000;
    for (const r of results) {
      if (r.bytes !== bytesEach || r.sha256 !== expected) throw new Error(`a stream arrived damaged: ${r.bytes} of ${bytesEach} bytes, sha256 ${r.sha256.slice(0, 12)}… (expected ${expected.slice(0, 12)}…)`);
    }
    const at4 = sink.streams[0]?.at4MB;
    return {
      mbps: (streams * bytesEach) / MB / seconds,
      seconds,
      ...(streams === 1 && at4 !== undefined ? { first4MBps: 4 / ((at4 - started) / 1000) } : {}),
      ...(shareRatio !== undefined ? { shareRatio } : {}),
    };
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
  }
}

/** `count` 64-byte echoes one after another through `port`; percentiles in ms. */
export async function rtt(port: number, count: number, timeoutMs = 60_000): Promise<{ p50: number; p90: number; p99: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  const samples: number[] = [];
  const payload = Buffer.alloc(64, 7);
  const deadline = Date.now() + timeoutMs;
  try {
    for (let i = 0; i < count && Date.now() < deadline; i++) samples.push(await echoOnce(socket, payload, deadline - Date.now()));
  } finally {
    socket.destroy();
  }
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99) };
}

function echoOnce(socket: net.Socket, payload: Buffer, ms: number): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`no echo within ${ms} ms`)), ms);
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= payload.length) {
        socket.off('data', onData);
        clearTimeout(timer);
        resolve(performance.now() - t);
      }
    };
    socket.on('data', onData);
    socket.write(payload);
  });
}

/**
 * An echo every `everyMs` on its own connection while `during` runs (an ssh session beside an
 * scp); percentiles of their round trips.
 */
export async function echoesBeside<T>(port: number, everyMs: number, during: () => Promise<T>): Promise<{ result: T; p50: number; p99: number; count: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  const samples: number[] = [];
  let running = true;
  const payload = Buffer.alloc(64, 9);
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      samples.push(await echoOnce(socket, payload, 120_000).catch(() => NaN));
      await new Promise((r) => setTimeout(r, Math.max(0, everyMs - (performance.now() - t))));
    }
  })();
  try {
    const result = await during();
    running = false;
    await loop;
    const s = samples.filter(Number.isFinite).sort((a, b) => a - b);
    return { result, p50: percentile(s, 50), p99: percentile(s, 99), count: s.length };
  } finally {
    running = false;
    socket.destroy();
  }
}

// --- processes ---------------------------------------------------------------------------------

/** [user, system] CPU time of processes, all threads, ms (/proc/<pid>/stat utime, stime; 10 ms ticks). */
export function cpuTimes(pids: Array<number | undefined>): [number, number] {
  let user = 0;
  let system = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    user += Number(fields[11]) * 10;
    system += Number(fields[12]) * 10;
  }
  return [user, system];
}

/** CPU time (user + system, all threads) of processes, ms (10 ms ticks). */
export function cpuMs(pids: Array<number | undefined>): number {
  const [user, system] = cpuTimes(pids);
  return user + system;
}

/**
 * Makes the test helpers start the CLI through a wrapper script in `dir`: it runs node with
 * `flags`, then $TT_FLAGS, with $TT_ENV in its environment, and $TT_DIST in place of
 * dist/toxtunnel.mjs when set (A/B of bundles, flags only some processes may have: --cpu-prof
 * is refused in NODE_OPTIONS).
 */
export function runNodeThroughWrapper(dir: string, flags = ''): void {
  const wrapper = join(dir, 'node-wrap.sh');
  writeFileSync(wrapper, `#!/bin/sh\ncli=$1; shift\nexec env $TT_ENV ${JSON.stringify(process.execPath)} ${flags} $TT_FLAGS "\${TT_DIST:-$cli}" "$@"\n`, { mode: 0o755 });
  process.execPath = wrapper;
}

/** The target services of the pair benches (echo, sink) and the client's forwards to them. */
export async function echoAndSink(ports: { echo: number; sink: number; ttEcho: number; ttSink: number }) {
  const sink = await Sink.start(ports.sink);
  await startService(ports.echo, (socket) => socket.pipe(socket));
  const forwards = [
    { local_port: ports.ttEcho, remote_host: '127.0.0.1', remote_port: ports.echo },
    { local_port: ports.ttSink, remote_host: '127.0.0.1', remote_port: ports.sink },
  ];
  return { sink, forwards };
}

export const rssMiB = (pid: number | undefined): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

/** The kernel's UDP RcvbufErrors (datagrams dropped for a full socket buffer), this namespace. */
export function udpRcvbufErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  const names = lines[0]!.split(/\s+/);
  const values = lines[1]!.split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')]);
}

/** Percent of one core each process used over `seconds` of doing nothing. */
export async function idleCpu(pids: number[], seconds: number): Promise<number[]> {
  const before = pids.map((p) => cpuMs([p]));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return pids.map((p, i) => ((cpuMs([p]) - before[i]!) / (seconds * 1000)) * 100);
}

/**
 * Echoes 1000 bytes through `port` until one comes back intact (the friend connection is up);
 * ms from `since`. Gives up after `giveUpMs` from `since`.
 */
export async function firstEcho(port: number, since = Date.now(), giveUpMs = 120_000): Promise<number> {
  const data = testData(1000, 4);
  for (;;) {
    try {
      if (sha256(await echoRoundTrip(port, data, 30_000)) !== sha256(data)) throw new Error('echo damaged');
      return Date.now() - since;
    } catch (error) {
      if (Date.now() - since > giveUpMs) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
