// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Idle cost of a connected pair (issue 10: idle RSS ≤ 50 MiB per process, a connected but idle
 * pair ≤ 0.2 % of a core each). Loopback only; run it in a private network namespace:
 *   unshare -n sh -c 'ip link set lo up && node --import tsx bench/idle.ts [--runs 3] [--idle 60] [--mb 500]'
 * Per fresh pair (new identities, a new native bootstrapd, dist/toxtunnel.mjs on Node): the
 * first echo, 5 s to settle, then RSS of each process, its CPU over the idle window
 * (/proc/<pid>/stat, 10 ms ticks), and, with --mb, RSS again after that many MB one way and
 * a second idle window, and with --settled S a third one of S seconds starting a minute after
 * the transfer ended (the settled state). Each figure: the median of the runs; every run printed.
 * --env K=V (repeatable) sets a variable for both processes (NODE_OPTIONS=..., say).
 * --dist a.mjs,b.mjs: bundles to compare, one per run in turn (A/B on a noisy machine; the
 * medians are then per bundle). --node-flags '...': node flags for both processes; with
 * IDLE_DUMP=DIR each process's output is saved there (--node-flags --trace-gc: its GCs).
 * --runtime bun|deno runs both on that runtime (--dist and --node-flags are for Node).
 * --breakdown: where each process's RSS is (bench/smaps.ts), the median of each part, per role.
 */
import { realpathSync } from 'node:fs';
import { cpuMs, echoAndSink, firstEcho, fmt, idleCpu, MB, median, oneWay, rssMiB, runNodeThroughWrapper } from './measure.ts';
import { PARTS, rssParts } from './smaps.ts';
import { type Runtime, runtimeCommand } from '../test/helpers/peer.ts';
import { CLI, serverOnline, startTunnelEnv } from '../test/helpers/tunnel-env.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const runs = flag('--runs', 3);
const idleSeconds = flag('--idle', 60);
const mb = flag('--mb', 0);
const settledSeconds = flag('--settled', 0);
const env: Record<string, string> = {};
args.forEach((a, i) => {
  if (a === '--env') {
    const [k, ...v] = args[i + 1]!.split('=');
    env[k!] = v.join('=');
  }
});
/** --server-flags '--cpu-prof ...': node flags for the server only (NODE_OPTIONS refuses some). */
const serverFlags = args.includes('--server-flags') ? args[args.indexOf('--server-flags') + 1] : undefined;
const runtime = (args.includes('--runtime') ? args[args.indexOf('--runtime') + 1] : 'node') as Runtime;
/** The runtime's binary (before the wrapper below takes process.execPath's place): its file pages are the `runtime binary` part. */
const executable = realpathSync(runtimeCommand(runtime, CLI)[0]);
const breakdown = args.includes('--breakdown');
const dists = args.includes('--dist') ? args[args.indexOf('--dist') + 1]!.split(',').filter(Boolean) : [];
/** --node-flags '...': node flags for both processes (--trace-gc: with IDLE_DUMP=DIR to keep the output). */
if (args.includes('--node-flags')) process.env.TT_FLAGS = args[args.indexOf('--node-flags') + 1];
if (dists.length || process.env.TT_FLAGS) {
  // The processes start through a wrapper that runs $TT_DIST in place of dist/toxtunnel.mjs.
  runNodeThroughWrapper(mkdtempSync(join(tmpdir(), 'idle-')));
}
const P = { echo: 29401, sink: 29402, ttEcho: 29441, ttSink: 29442 };
const { sink, forwards } = await echoAndSink(P);
const figures: Record<string, number[]> = {};
let tag = '';
const note = (name: string, v: number) => (figures[tag + name] ??= []).push(v);
console.log(`# idle probe: ${runs} fresh pairs on ${runtime}, idle window ${idleSeconds} s${mb ? `, then ${mb} MB and again` : ''}; env ${JSON.stringify(env)}`);
/** RSS by part (--breakdown) of the server and the client, noted as `<when>:<role>:<part>`. */
const partFigures: Record<string, number[]> = {};
const noteParts = (when: string, pids: number[]) => {
  if (!breakdown) return;
  pids.forEach((pid, i) => {
    const role = i ? 'client' : 'server';
    const parts = rssParts(pid, executable);
    for (const part of PARTS) (partFigures[`${tag}${when}:${role}:${part}`] ??= []).push(parts[part]);
    console.log(`  ${when} ${role}: ` + PARTS.map((p) => `${p} ${fmt(parts[p])}`).join(', '));
  });
};
let portBase = 29800;
for (let run = 0; run < runs; run++) {
  portBase += 4;
  if (dists.length) {
    process.env.TT_DIST = dists[run % dists.length];
    tag = `${process.env.TT_DIST!.split('/').slice(-2).join('/')} `; // (dir/file: A and B may share a file name)
  }
  const tenv = await startTunnelEnv({
    ports: { bootstrapUdp: portBase, bootstrapTcp: portBase + 1, toxFirst: 0 },
    forwards,
    processEnv: env,
    runtime,
    ...(serverFlags ? { serverWrap: ['sh', '-c', `n=$1; shift; exec "$n" ${serverFlags} "$@"`, 'sh'] } : {}),
  });
  try {
    await serverOnline(tenv, 150_000);
    await firstEcho(P.ttEcho);
    const pids = [tenv.server.child.pid!, tenv.client.child.pid!];
    await new Promise((r) => setTimeout(r, 5000));
    const rss0 = pids.map(rssMiB);
    noteParts('connected', pids);
    const idle = await idleCpu(pids, idleSeconds);
    const rss1 = pids.map(rssMiB);
    let line = `${tag}run ${run + 1} (pids ${pids.join(' / ')}): connected RSS ${fmt(rss0[0])} / ${fmt(rss0[1])} MiB; idle CPU ${fmt(idle[0], 3)} % / ${fmt(idle[1], 3)} %, RSS after ${fmt(rss1[0])} / ${fmt(rss1[1])} MiB`;
    note('rssConnectedServer', rss0[0]!);
    note('rssConnectedClient', rss0[1]!);
    note('idleCpuServer', idle[0]!);
    note('idleCpuClient', idle[1]!);
    note('rssIdleServer', rss1[0]!);
    note('rssIdleClient', rss1[1]!);
    if (mb) {
      const cpu0 = cpuMs(pids);
      const t = await oneWay(sink, P.ttSink, 1, mb * MB, 600_000);
      const ended = Date.now();
      const perMB = (cpuMs(pids) - cpu0) / mb;
      await new Promise((r) => setTimeout(r, 3000));
      const idle2 = await idleCpu(pids, idleSeconds);
      let idle3: number[] | undefined;
      if (settledSeconds) {
        await new Promise((r) => setTimeout(r, Math.max(0, ended + 60_000 - Date.now())));
        idle3 = await idleCpu(pids, settledSeconds);
        note('idle3CpuServer', idle3[0]!);
        note('idle3CpuClient', idle3[1]!);
      }
      const rss2 = pids.map(rssMiB);
      noteParts('after', pids);
      note('mbps', t.mbps);
      if (t.first4MBps !== undefined) note('first4MBps', t.first4MBps);
      note('cpuMsPerMB', perMB);
      note('idle2CpuServer', idle2[0]!);
      note('idle2CpuClient', idle2[1]!);
      note('rssAfterServer', rss2[0]!);
      note('rssAfterClient', rss2[1]!);
      line += `; ${mb} MB at ${fmt(t.mbps)} MB/s (first 4 MB ${fmt(t.first4MBps)}), CPU ${fmt(perMB)} ms/MB; then idle CPU ${fmt(idle2[0], 3)} % / ${fmt(idle2[1], 3)} %, RSS ${fmt(rss2[0])} / ${fmt(rss2[1])} MiB${idle3 ? `; settled (${settledSeconds} s from 1 min after) ${fmt(idle3[0], 3)} % / ${fmt(idle3[1], 3)} %` : ''}`;
    }
    console.log(line);
    // IDLE_DUMP=DIR: both processes' output (say, with --env NODE_OPTIONS=--trace-gc) saved there.
    if (process.env.IDLE_DUMP) {
      writeFileSync(join(process.env.IDLE_DUMP, `server-${run + 1}.log`), tenv.server.output);
      writeFileSync(join(process.env.IDLE_DUMP, `client-${run + 1}.log`), tenv.client.output);
    }
  } finally {
    await tenv.stop();
  }
}
if (breakdown) {
  for (const key of Object.keys(partFigures).filter((k) => k.endsWith(`:${PARTS[0]}`))) {
    const prefix = key.slice(0, -PARTS[0].length);
    console.log(`median ${prefix.replace(/:/g, ' ').trim()}: ` + PARTS.map((p) => `${p} ${fmt(median(partFigures[prefix + p]!))}`).join(', '));
  }
}
for (const [k, v] of Object.entries(figures)) console.log(`${k}: median ${fmt(median(v), 3)}  [${v.map((x) => fmt(x, 3)).join(' ')}]`);
process.exit(0);
