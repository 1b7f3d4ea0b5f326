// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Through-the-tunnel benchmark (issue: server and client). Loopback only.
 *
 * The same measurements on three paths, in the same run:
 *   direct   — straight to the service (the ceiling)
 *   ssh -L   — OpenSSH port forwarding to a local sshd started here (Debian openssh-server;
 *              installed if missing), key auth, on a loopback port
 *   toxtunnel — server and client processes (dist/toxtunnel.mjs) through a local tox-bootstrapd
 *   toxtunnel (relay) — the same with the client's UDP off: every packet through the TCP relay
 * Figures: throughput of one stream and of 8 streams (one way, into a sink that counts bytes),
 * RTT percentiles of 64-byte echoes, time from client start to the first forwarded byte,
 * RSS of each side, CPU per MB (both processes of a path), and the recovery time after the
 * toxtunnel server is killed and restarted (until a new connection echoes).
 *   node --import tsx bench/tunnel.ts [--mb 100] [--report]
 * --report writes docs/bench-report.json and docs/bench-report.svg (a chart of the figures).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoRoundTrip, runCli, serverOnline, startService, startTunnelEnv, testData } from '../test/helpers/tunnel-env.ts';
import { renderChart } from './chart.ts';

const args = process.argv.slice(2);
const MB = 1e6;
const flag = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const streamMB = flag('--mb', 100);
const fmt = (n: number, d = 1) => n.toFixed(d);
const P = { echo: 29501, sink: 29502, sshd: 29522, sshEcho: 29531, sshSink: 29532, ttEcho: 29541, ttSink: 29542 };

// --- services ------------------------------------------------------------------------------
/** Sink: counts bytes per connection; resolves the pending measurement at EOF. */
const sinkDone: Array<(bytes: number) => void> = [];
await startService(P.sink, (socket) => {
  let bytes = 0;
  socket.on('data', (c) => (bytes += c.length));
  socket.on('end', () => {
    sinkDone.shift()?.(bytes);
    socket.end();
  });
});
await startService(P.echo, (socket) => socket.pipe(socket));

async function oneWay(port: number, streams: number, mbEach: number): Promise<number> {
  const data = testData(Math.min(mbEach * MB, 16 * MB), 1);
  const started = performance.now();
  const finished = Array.from({ length: streams }, () => new Promise<number>((resolve) => sinkDone.push(resolve)));
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.on('error', () => {}); // a reset after the measurement (e.g. the restart below) is not ours to report
      socket.resume(); // read the sink's end, so the socket closes
      await new Promise((r) => socket.once('connect', r));
      let left = mbEach * MB;
      while (left > 0) {
        const chunk = data.subarray(0, Math.min(left, data.length));
        left -= chunk.length;
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
      socket.end();
    }),
  );
  const bytes = (await Promise.all(finished)).reduce((a, b) => a + b, 0);
  if (bytes !== streams * mbEach * MB) throw new Error(`sink got ${bytes} of ${streams * mbEach * MB} bytes`);
  return bytes / MB / ((performance.now() - started) / 1000);
}

async function rtt(port: number, count: number): Promise<{ p50: number; p90: number; p99: number }> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await new Promise((r) => socket.once('connect', r));
  const samples: number[] = [];
  const payload = Buffer.alloc(64, 7);
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    let got = 0;
    await new Promise<void>((resolve) => {
      const onData = (c: Buffer) => {
        got += c.length;
        if (got >= payload.length) {
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
      socket.write(payload);
    });
    samples.push(performance.now() - t);
  }
  socket.destroy();
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.floor((p / 100) * samples.length))]!;
  return { p50: at(50), p90: at(90), p99: at(99) };
}

/** CPU time (user + system) of processes, in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pids: Array<number | undefined>): number {
  let sum = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    sum += (Number(fields[11]) + Number(fields[12])) * 10;
  }
  return sum;
}

const rssMiB = (pid: number | undefined) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

interface Row {
  path: string;
  /** The first stream after start (toxcore's congestion control still ramping up). */
  oneCold: number;
  one: number;
  eight: number;
  rtt: { p50: number; p90: number; p99: number };
  firstByteMs?: number;
  rss?: string;
  rssMiB?: Record<string, number>;
  /** CPU ms per MB carried (one-stream runs), both processes of the path. */
  cpuMsPerMB?: number;
  recoveryMs?: number;
  /** Issue 11: a side stopped (SIGTERM) and started again -> first echo of a new connection. */
  restartClientMs?: number;
  restartServerMs?: number;
}
const rows: Row[] = [];

async function measure(path: string, echoPort: number, sinkPort: number, extra: Partial<Row> = {}, pids: Array<number | undefined> = []): Promise<void> {
  const cpuBefore = pids.length ? cpuMs(pids) : 0;
  const oneCold = await oneWay(sinkPort, 1, streamMB);
  const one = await oneWay(sinkPort, 1, streamMB);
  if (pids.length) extra.cpuMsPerMB = (cpuMs(pids) - cpuBefore) / (2 * streamMB);
  const eight = await oneWay(sinkPort, 8, Math.max(1, Math.round(streamMB / 8)));
  const r = await rtt(echoPort, 1000);
  rows.push({ path, oneCold, one, eight, rtt: r, ...extra });
  console.log(
    `${path.padEnd(10)} 1 stream ${fmt(oneCold).padStart(7)} MB/s first, ${fmt(one).padStart(7)} MB/s again | 8 streams ${fmt(eight).padStart(7)} MB/s | ` +
      `RTT p50 ${fmt(r.p50, 3)} p90 ${fmt(r.p90, 3)} p99 ${fmt(r.p99, 3)} ms` +
      (extra.firstByteMs !== undefined ? ` | first byte ${fmt(extra.firstByteMs / 1000, 2)} s after client start` : '') +
      (extra.rss ? ` | RSS ${extra.rss}` : '') +
      (extra.cpuMsPerMB !== undefined ? ` | CPU ${fmt(extra.cpuMsPerMB)} ms/MB` : ''),
  );
}

console.log(`# toxtunnel through-the-tunnel benchmark (loopback, ${streamMB} MB per one-stream run)`);
await measure('direct', P.echo, P.sink);

// --- ssh -L --------------------------------------------------------------------------------
/** The per-connection sshd process (a child of the listening one), for its CPU time. */
function sshdChild(pid: number | undefined): number | undefined {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  return out ? Number(out) : pid;
}
function ensureSsh(): boolean {
  if (spawnSync('sh', ['-c', 'command -v sshd && command -v ssh']).status === 0) return true;
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null'], { stdio: 'inherit' });
  return r.status === 0;
}
const children: ChildProcess[] = [];
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
if (ensureSsh()) {
  const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-bench-ssh-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'user')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user.pub')));
  writeFileSync(
    join(dir, 'sshd_config'),
    [`Port ${P.sshd}`, 'ListenAddress 127.0.0.1', `HostKey ${join(dir, 'host')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'StrictModes no', 'UsePAM no', `PidFile ${join(dir, 'pid')}`].join('\n') + '\n',
  );
  spawnSync('mkdir', ['-p', '/run/sshd']);
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  children.push(sshd);
  await new Promise((r) => setTimeout(r, 500));
  const ssh = spawn(
    'ssh',
    ['-N', '-p', String(P.sshd), '-i', join(dir, 'user'), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
      '-o', 'ExitOnForwardFailure=yes', '-L', `${P.sshEcho}:127.0.0.1:${P.echo}`, '-L', `${P.sshSink}:127.0.0.1:${P.sink}`, `${process.env.USER ?? 'root'}@127.0.0.1`],
    { stdio: 'ignore' },
  );
  children.push(ssh);
  for (let i = 0; i < 50; i++) {
    const ok = await new Promise<boolean>((r) => net.connect(P.sshEcho, '127.0.0.1').on('connect', function (this: net.Socket) { this.destroy(); r(true); }).on('error', () => r(false)));
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await measure('ssh -L', P.sshEcho, P.sshSink, { rss: `ssh ${fmt(rssMiB(ssh.pid))} MiB`, rssMiB: { ssh: rssMiB(ssh.pid) } }, [ssh.pid, sshdChild(sshd.pid)]);
  ssh.kill();
  sshd.kill();
  rmSync(dir, { recursive: true, force: true });
} else {
  console.log('ssh -L     skipped: openssh-server could not be installed');
}

// --- toxtunnel -----------------------------------------------------------------------------
const env = await startTunnelEnv({
  ports: { bootstrapUdp: 29551, bootstrapTcp: 29552, toxFirst: 29560 },
  forwards: [
    { local_port: P.ttEcho, remote_host: '127.0.0.1', remote_port: P.echo },
    { local_port: P.ttSink, remote_host: '127.0.0.1', remote_port: P.sink },
  ],
});
// Time to first byte: the client process started just now; connect at once and wait.
const clientStarted = env.client.startedAt;
const firstByte = await new Promise<number>((resolve, reject) => {
  const socket = net.connect(P.ttEcho, '127.0.0.1');
  socket.on('error', reject);
  socket.once('data', () => {
    socket.destroy();
    resolve(Date.now() - clientStarted);
  });
  socket.write('x');
});
await serverOnline(env, 1000);
const ttPids = [env.server.child.pid, env.client.child.pid];
await measure(
  'toxtunnel',
  P.ttEcho,
  P.ttSink,
  {
    firstByteMs: firstByte,
    rss: `server ${fmt(rssMiB(env.server.child.pid))} MiB, client ${fmt(rssMiB(env.client.child.pid))} MiB`,
    rssMiB: { server: rssMiB(env.server.child.pid), client: rssMiB(env.client.child.pid) },
  },
  ttPids,
);
// Recovery: kill the server (SIGKILL), start it again, time until a new connection echoes.
env.server.kill();
await new Promise((r) => setTimeout(r, 500));
const restarted = Date.now();
await env.restartServer();
// Connections made before the client noticed the old server was gone fail (reset): retry.
for (let attempt = 0; ; attempt++) {
  try {
    await echoRoundTrip(P.ttEcho, testData(10_000, 3), 120_000);
    break;
  } catch (error) {
    if (Date.now() - restarted > 120_000) throw error;
    await new Promise((r) => setTimeout(r, 200));
  }
}
rows.at(-1)!.recoveryMs = Date.now() - restarted;
console.log(`toxtunnel  recovery after a server restart: a new connection echoed ${fmt(rows.at(-1)!.recoveryMs! / 1000, 2)} s after the restart (goal <= 15 s)`);
// Restarts (issue 11): the restarted side reaches the other at its remembered address.
const echoFrom = async (since: number) => {
  for (;;) {
    try {
      await echoRoundTrip(P.ttEcho, testData(100, 3), 60_000);
      return Date.now() - since;
    } catch (error) {
      if (Date.now() - since > 60_000) throw error;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
};
await new Promise((r) => setTimeout(r, 1500)); // both sides note where the other is
env.client.signal('SIGTERM');
await env.client.exited(15_000);
let since = Date.now();
env.client = runCli(['-c', join(env.dir, 'client.yaml')]);
rows.at(-1)!.restartClientMs = await echoFrom(since);
await new Promise((r) => setTimeout(r, 1500));
env.server.signal('SIGTERM');
await env.server.exited(15_000);
since = Date.now();
await env.restartServer();
rows.at(-1)!.restartServerMs = await echoFrom(since);
console.log(`toxtunnel  restart -> first echo: client ${fmt(rows.at(-1)!.restartClientMs! / 1000, 2)} s, server ${fmt(rows.at(-1)!.restartServerMs! / 1000, 2)} s (goal <= 1.5 s)`);
env.client.signal('SIGTERM'); // the restarted client is ours to stop (env.stop() knows the first one)
await env.client.exited(15_000);
await env.stop();

// --- toxtunnel over the TCP relay only ------------------------------------------------------
const relay = await startTunnelEnv({
  ports: { bootstrapUdp: 29571, bootstrapTcp: 29572, toxFirst: 29580 },
  forwards: [
    { local_port: P.ttEcho, remote_host: '127.0.0.1', remote_port: P.echo },
    { local_port: P.ttSink, remote_host: '127.0.0.1', remote_port: P.sink },
  ],
  clientUdp: false,
});
await serverOnline(relay, 150_000);
await measure(
  'toxtunnel (relay)',
  P.ttEcho,
  P.ttSink,
  {
    rss: `server ${fmt(rssMiB(relay.server.child.pid))} MiB, client ${fmt(rssMiB(relay.client.child.pid))} MiB`,
    rssMiB: { server: rssMiB(relay.server.child.pid), client: rssMiB(relay.client.child.pid) },
  },
  [relay.server.child.pid, relay.client.child.pid],
);
await relay.stop();

const direct = rows[0]!;
console.log('\nratios against direct TCP (same run):');
for (const row of rows.slice(1)) {
  console.log(`  ${row.path.padEnd(18)} 1 stream ${fmt(row.one / direct.one, 3)}x, 8 streams ${fmt(row.eight / direct.eight, 3)}x, RTT p50 ${fmt(row.rtt.p50 / direct.rtt.p50, 1)}x`);
}
console.log(JSON.stringify(rows));
if (args.includes('--report')) {
  const report = { date: new Date().toISOString(), machine: `${process.platform} ${process.arch}, node ${process.version}`, streamMB, rows };
  writeFileSync(join(process.cwd(), 'docs/bench-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(process.cwd(), 'docs/bench-report.svg'), renderChart(rows));
  console.log('wrote docs/bench-report.json and docs/bench-report.svg');
}
process.exit(0);
