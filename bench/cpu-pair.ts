// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * CPU per MB of the bulk path, per process, user and system time apart (issue 10, "CPU <= 20 ms
 * per MB"): fresh pairs, each one cold and `--warm` warm one-way streams of `--mb` MB
 * (byte-exact, sha256), then 200 echoes and an echo every 50 ms beside an upload. Medians at
 * the end. Loopback only; run it in a private network namespace:
 *   unshare -n sh -c 'ip link set lo up && node --import tsx bench/cpu-pair.ts [--pairs 3] [--warm 3] [--mb 100]'
 * --dist a.mjs,b.mjs    bundles compared A/B, one per pair in turn ("a.mjs@--flag" adds node flags,
 *                       "a.mjs@--flag@K=V K2=V2" also sets environment variables, e.g. glibc's MALLOC_*)
 * --prof DIR            both processes run with --cpu-prof (profiles written when they stop)
 * --perf DIR            `perf record` (cpu-clock: on-CPU samples only, all threads) of both
 *                       processes during the warm streams (--perf-from 0: from the cold one
 *                       on); JIT names in /tmp/perf-PID.map
 * --node-flags '...'    flags for both processes (--trace-gc: GC counts printed, logs in tmpdir)
 */
import { serverOnline, startTunnelEnv } from '../test/helpers/tunnel-env.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuTimes, echoAndSink, echoesBeside, firstEcho, fmt, median, MB, oneWay, rtt, runNodeThroughWrapper } from './measure.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const pairs = Number(flag('--pairs', '3'));
const warmRuns = Number(flag('--warm', '3'));
const mb = Number(flag('--mb', '100'));
const prof = flag('--prof', '');
/** --perf DIR: `perf record` (cpu-clock, on-CPU samples only) of both processes during the warm streams. */
const perfDir = flag('--perf', '');
/** --perf-from N: start recording at stream N (0 = the cold one; default 1, the first warm). */
const perfFrom = Number(flag('--perf-from', '1'));
/** --node-flags '...': extra flags for both processes (e.g. --trace-gc: GC counts printed). */
const nodeFlags = flag('--node-flags', '');
/** --dist a.mjs,b.mjs: bundles to compare, one per pair in turn (A/B on a noisy machine). */
const dists = flag('--dist', '').split(',').filter(Boolean);
if (prof || perfDir || nodeFlags || dists.length) {
  // --cpu-prof is not allowed in NODE_OPTIONS: the processes are started through a wrapper.
  const dir = prof || perfDir || mkdtempSync(join(tmpdir(), 'cpu-pair-'));
  const flags = `${prof ? `--cpu-prof --cpu-prof-dir=${JSON.stringify(prof)}` : perfDir ? '--perf-basic-prof' : ''} ${nodeFlags}`;
  runNodeThroughWrapper(dir, flags);
}
const P = { echo: 29501, sink: 29502, ttEcho: 29541, ttSink: 29542 };
const { sink, forwards } = await echoAndSink(P);
const all: Record<string, number[]> = {};
let tag = '';
const note = (k: string, v: number | undefined) => v !== undefined && Number.isFinite(v) && (all[tag + k] ??= []).push(v);
let portBase = 29700;
for (let pair = 0; pair < pairs; pair++) {
  portBase += 4;
  const variant = dists.length ? dists[pair % dists.length]! : '';
  // A variant is a bundle, optionally with node flags and environment: "a.mjs", "a.mjs@--flag --flag", "a.mjs@@K=V".
  if (variant) {
    process.env.TT_DIST = variant.split('@')[0];
    process.env.TT_FLAGS = variant.split('@')[1] ?? '';
    process.env.TT_ENV = variant.split('@')[2] ?? '';
  }
  tag = variant ? `${variant.replace(/.*\//, '')} ` : '';
  const env = await startTunnelEnv({ ports: { bootstrapUdp: portBase, bootstrapTcp: portBase + 1, toxFirst: 0 }, forwards });
  try {
    await serverOnline(env, 150_000);
    await firstEcho(P.ttEcho); // the friend connection is up
    const pids = [env.server.child.pid!, env.client.child.pid!];
    const line: string[] = [];
    let perf: ReturnType<typeof spawn> | undefined;
    for (let run = 0; run <= warmRuns; run++) {
      if (run === perfFrom && perfDir) {
        perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', '2000', '-g', '-o', join(perfDir, `perf-${pair}.data`), '-p', `${pids[0]},${pids[1]}`], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 500));
      }
      const s0 = cpuTimes([pids[0]]);
      const k0 = cpuTimes([pids[1]]);
      const t = await oneWay(sink, P.ttSink, 1, mb * MB, 300_000);
      const s1 = cpuTimes([pids[0]]);
      const k1 = cpuTimes([pids[1]]);
      const su = (s1[0] - s0[0]) / mb, ss = (s1[1] - s0[1]) / mb, cu = (k1[0] - k0[0]) / mb, cs = (k1[1] - k0[1]) / mb;
      const key = run === 0 ? 'cold' : 'warm';
      note(`${key} ms/MB`, su + ss + cu + cs);
      note(`${key} server user`, su);
      note(`${key} server sys`, ss);
      note(`${key} client user`, cu);
      note(`${key} client sys`, cs);
      note(`${key} MB/s`, t.mbps);
      const s = su + ss, c = cu + cs;
      line.push(`${key} ${fmt(s + c)} (${fmt(s)}+${fmt(c)}) ms/MB ${fmt(t.mbps)} MB/s`);
    }
    if (perf) {
      perf.kill('SIGINT');
      await new Promise((r) => perf!.once('exit', r));
    }
    const r = await rtt(P.ttEcho, 200);
    note('rtt p50', r.p50);
    const beside = await echoesBeside(P.ttEcho, 50, () => oneWay(sink, P.ttSink, 1, mb * MB, 300_000));
    note('beside p50', beside.p50);
    note('beside p99', beside.p99);
    if (nodeFlags.includes('trace-gc')) {
      for (const [name, proc] of [['server', env.server], ['client', env.client]] as const) {
        const out = proc.output;
        writeFileSync(join(tmpdir(), `cpu-pair-${name}-${pair}.log`), out);
        console.log(`  ${name}: ${(out.match(/Mark-Compact/g) ?? []).length} mark-compact, ${(out.match(/Scavenge/g) ?? []).length} scavenges`);
        console.log(out.split('\n').filter((l) => /Mark-Compact|Start marking|\[IncrementalMarking\] Start/.test(l)).slice(-6).join('\n'));
      }
    }
    console.log(`${tag}pair ${pair + 1}: ${line.join(', ')}; rtt p50 ${fmt(r.p50, 3)} ms; beside p50 ${fmt(beside.p50)} p99 ${fmt(beside.p99)} ms`);
  } finally {
    await env.stop();
  }
}
for (const [k, v] of Object.entries(all).sort((a, b) => (a[0] < b[0] ? -1 : 1))) console.log(`${k}: median ${fmt(median(v), 2)}  [${v.map((x) => fmt(x, 1)).join(' ')}]`);
process.exit(0);
