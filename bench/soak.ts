// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Soak (a bench, not a test): a server and a client (real processes, loopback) under a mixed
 * load for N minutes — short connections one after another, a 1 MB echo every few seconds, and
 * eight long-lived connections trickling data — while RSS and open file descriptors of both
 * processes are sampled every 10 s. Prints the samples, the growth over the run and its slope;
 * flat means no leak. Every echoed byte is checked.
 *   node --import tsx bench/soak.ts [--minutes 10] [--report]   (--report: docs/soak-report.json)
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { echo, echoRoundTrip, serverOnline, sha256, startService, startTunnelEnv, testData } from '../test/helpers/tunnel-env.ts';

const args = process.argv.slice(2);
const minutes = args.includes('--minutes') ? Number(args[args.indexOf('--minutes') + 1]) : 10;
const P = { echo: 29451, forward: 29461 };
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

const service = await startService(P.echo, echo);
const env = await startTunnelEnv({
  ports: { bootstrapUdp: 29471, bootstrapTcp: 29472, toxFirst: 0 },
  forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
  logLevel: 'info',
});
await serverOnline(env);
const pids = { server: env.server.child.pid!, client: env.client.child.pid! };
const endAt = Date.now() + minutes * 60_000;
const counts = { short: 0, big: 0, trickle: 0, errors: 0 };

async function shortLoop() {
  let i = 0;
  while (Date.now() < endAt) {
    const data = testData(200, i++);
    try {
      const back = await echoRoundTrip(P.forward, data, 30_000);
      if (sha256(back) !== sha256(data)) throw new Error('corrupted');
      counts.short++;
    } catch {
      counts.errors++;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
async function bigLoop() {
  let i = 0;
  while (Date.now() < endAt) {
    const data = testData(1_000_000, 1000 + i++);
    try {
      if (sha256(await echoRoundTrip(P.forward, data, 60_000)) !== sha256(data)) throw new Error('corrupted');
      counts.big++;
    } catch {
      counts.errors++;
    }
    await new Promise((r) => setTimeout(r, 3000));
  }
}
function trickle(n: number) {
  const socket = net.connect(P.forward, '127.0.0.1');
  socket.on('error', () => counts.errors++);
  socket.on('data', (d) => (counts.trickle += d.length));
  const timer = setInterval(() => socket.write(`keepalive ${n} ${Date.now()}\n`), 1000);
  return () => {
    clearInterval(timer);
    socket.destroy();
  };
}

const samples: Array<{ t: number; server: { rss: number; fds: number }; client: { rss: number; fds: number } }> = [];
const sample = () => {
  const s = { t: Math.round((Date.now() - (endAt - minutes * 60_000)) / 1000), server: { rss: rssMiB(pids.server), fds: fds(pids.server) }, client: { rss: rssMiB(pids.client), fds: fds(pids.client) } };
  samples.push(s);
  console.log(`${String(s.t).padStart(5)} s  server ${s.server.rss.toFixed(1)} MiB ${s.server.fds} fds | client ${s.client.rss.toFixed(1)} MiB ${s.client.fds} fds | ${counts.short} short, ${counts.big} x 1 MB, ${counts.errors} errors`);
};
console.log(`# soak: ${minutes} min of mixed load through toxtunnel (loopback)`);
sample();
const sampler = setInterval(sample, 10_000);
const stops = Array.from({ length: 8 }, (_, i) => trickle(i));
await Promise.all([shortLoop(), bigLoop()]);
stops.forEach((s) => s());
clearInterval(sampler);
sample();

/** Least-squares slope of y over t, per minute. */
const slope = (ys: number[], ts: number[]) => {
  const n = ys.length;
  const mt = ts.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  const num = ts.reduce((a, t, i) => a + (t - mt) * (ys[i]! - my), 0);
  const den = ts.reduce((a, t) => a + (t - mt) ** 2, 0);
  return den ? (num / den) * 60 : 0;
};
// Growth comes in steps while heaps and wasm memory find their size, then stays flat: the
// slope is measured over the second half of the run.
const steady = samples.filter((s) => s.t >= (minutes * 60) / 2);
const ts = steady.map((s) => s.t);
const summary = {
  minutes,
  slopeOver: `second half of the run (${(minutes * 30).toFixed(0)}..${(minutes * 60).toFixed(0)} s)`,
  counts,
  server: { rssFirst: samples[0]!.server.rss, rssLast: samples.at(-1)!.server.rss, rssSlopeMiBPerMin: slope(steady.map((s) => s.server.rss), ts), fdsFirst: samples[0]!.server.fds, fdsLast: samples.at(-1)!.server.fds },
  client: { rssFirst: samples[0]!.client.rss, rssLast: samples.at(-1)!.client.rss, rssSlopeMiBPerMin: slope(steady.map((s) => s.client.rss), ts), fdsFirst: samples[0]!.client.fds, fdsLast: samples.at(-1)!.client.fds },
};
console.log(JSON.stringify(summary));
if (args.includes('--report')) {
  writeFileSync(join(process.cwd(), 'docs/soak-report.json'), `${JSON.stringify({ date: new Date().toISOString(), summary, samples }, null, 2)}\n`);
  console.log('wrote docs/soak-report.json');
}
await env.stop();
await service.close();
process.exit(0);
