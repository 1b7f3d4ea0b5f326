// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The bench's "friends" workload alone, for diagnosis (issue 10): one server, N client
 * processes (N friends), each echoing M MB at once through its own forward. Per run: the
 * aggregate one-way MB/s, failed echoes, the kernel's UdpRcvbufErrors, CPU of the server and
 * of the clients together, and (--profile DIR) a V8 CPU profile of the server. Loopback only;
 * run it inside a private network namespace:
 *   unshare -n sh -c 'ip link set lo up && node --import tsx bench/friends-probe.ts [--friends 15] [--mb 5] [--runs 1] [--profile DIR] [--syscalls] [--warm]'
 * --syscalls: `perf stat` counts of the event loop's wakes (epoll_wait) and the socket calls of
 * the server and of the clients together during the transfer (needs perf and tracepoints).
 * --perf DIR: `perf record -g` of the server and of client 1 during the transfer (DIR/server.data,
 * DIR/client.data; start the probe with NODE_OPTIONS=--perf-basic-prof for JavaScript names).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CliProcess, echoRoundTrip, runCli, sha256, startService, startTunnelEnv, testData } from '../test/helpers/tunnel-env.ts';
import { cpuMs, cpuTimes, fmt, MB, median, udpRcvbufErrors } from './measure.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const friends = Number(flag('--friends', '15'));
const mb = Number(flag('--mb', '5'));
const runs = Number(flag('--runs', '1'));
const profile = args.includes('--profile') ? flag('--profile', '') : undefined;
const ECHO = 29801;
/**
 * runCli's `wrap` for a profiled process: it runs `wrap... node <cli> args`; the wrapper adds
 * --cpu-prof and, with TT_PROFILE_CLI set, runs that bundle instead (one whose wasm was linked
 * with --profiling-funcs, so the profile names C functions).
 */
const profiled = (dir: string) => ['sh', '-c', `n=$0; cli=$1; shift; exec "$n" --cpu-prof --cpu-prof-dir=${dir} "\${TT_PROFILE_CLI:-$cli}" "$@"`];
const FIRST = 29900;

const SYSCALLS = ['epoll_wait', 'epoll_pwait', 'sendmsg', 'sendmmsg', 'recvmsg', 'recvmmsg', 'write', 'writev', 'read'];

/** perf stat of the syscalls above for `pids` until the returned function is called (then: the counts). */
function countSyscalls(pids: number[]): () => Promise<Map<string, number>> {
  const events = SYSCALLS.map((name) => `syscalls:sys_enter_${name}`).join(',');
  const perf: ChildProcess = spawn('perf', ['stat', '-x', ',', '-e', events, '-p', pids.join(',')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  perf.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return async () => {
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.once('exit', resolve));
    const counts = new Map<string, number>();
    for (const line of text.split('\n')) {
      const [value, , event] = line.split(',');
      const name = event?.replace('syscalls:sys_enter_', '');
      if (name && Number.isFinite(Number(value))) counts.set(name, Number(value));
    }
    return counts;
  };
}

/** Datagrams the kernel dropped at each process's UDP sockets (/proc/net/udp{,6} "drops"). */
function socketDrops(pids: number[]): Map<number, number> {
  const byInode = new Map<string, number>();
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 13) byInode.set(f[9]!, Number(f[f.length - 1]));
    }
  }
  const out = new Map<number, number>();
  for (const pid of pids) {
    let sum = 0;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec((() => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } })());
      if (m) sum += byInode.get(m[1]!) ?? 0;
    }
    out.set(pid, sum);
  }
  return out;
}

process.setMaxListeners(64);
await startService(ECHO, (socket) => socket.pipe(socket));
const rates: number[] = [];
for (let run = 0; run < runs; run++) {
  const base = 29810 + run * 4;
  const port = (i: number) => FIRST + i;
  if (profile) mkdirSync(profile, { recursive: true });
  const env = await startTunnelEnv({
    ports: { bootstrapUdp: base, bootstrapTcp: base + 1, toxFirst: 0 },
    forwards: [{ local_port: port(0), remote_host: '127.0.0.1', remote_port: ECHO }],
    // runCli runs `wrap... node <cli> args`: the wrapper runs it with --cpu-prof.
    ...(profile ? { serverWrap: profiled(profile) } : {}),
  });
  const clients: CliProcess[] = [env.client];
  try {
    const b = env.bootstrapd;
    for (let i = 1; i < friends; i++) {
      const config = env.file(
        `client${i}.yaml`,
        [
          'mode: client', `data_dir: ${join(env.dir, `client${i}-data`)}`, 'logging:', '  level: info', 'tox:', '  udp_enabled: true',
          '  bootstrap_mode: none', '  bootstrap_nodes:', '    - address: 127.0.0.1', `      port: ${b.udpPort}`, `      public_key: ${b.publicKey}`, `      tcp_ports: [${b.tcpPort}]`,
          'client:', `  server_id: ${env.serverId}`, '  forwards:', `    - local_port: ${port(i)}`, '      remote_host: 127.0.0.1', `      remote_port: ${ECHO}`, '',
        ].join('\n'),
      );
      // --profile: client 1 is profiled too.
      clients.push(runCli(['-c', config], profile && i === 1 ? { wrap: profiled(`${profile}/client`) } : {}));
    }
    await Promise.all(clients.map((c) => c.waitForOutput(/Friend connection status: Connected/, 180_000, 'server online')));
    await Promise.all(clients.map((_, i) => echoRoundTrip(port(i), testData(1000, i), 120_000)));
    // --warm: every friend echoes M MB once before the measured transfer (its JIT warmed up:
    // what the measured figures then lack is the processes' start-up, compilation included).
    if (args.includes('--warm')) await Promise.all(clients.map((_, i) => echoRoundTrip(port(i), testData(mb * MB, 50 + i), 300_000)));
    const serverPid = env.server.child.pid!;
    const clientPids = clients.map((c) => c.child.pid!);
    const drops = udpRcvbufErrors();
    const socketDrops0 = socketDrops([serverPid, ...clientPids]);
    const server0 = cpuMs([serverPid]);
    const switches = (pid: number) => (/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0') + '/' + (/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0');
    const switches0 = switches(serverPid);
    const clients0 = cpuMs(clientPids);
    const us0 = [cpuTimes([serverPid]), cpuTimes(clientPids)];
    const syscalls = args.includes('--syscalls') ? [countSyscalls([serverPid]), countSyscalls(clientPids)] : [];
    const perfDir = args.includes('--perf') ? flag('--perf', '') : undefined;
    if (perfDir) mkdirSync(perfDir, { recursive: true });
    const recorders = perfDir
      ? [[serverPid, 'server'], [clientPids[1]!, 'client']].map(([pid, name]) =>
          spawn('perf', ['record', '-F', '1999', '-g', '-o', join(perfDir, `${name}.data`), '-p', String(pid)], { stdio: 'ignore' }),
        )
      : [];
    const started = performance.now();
    const windowStart = process.hrtime.bigint() / 1000n; // CLOCK_MONOTONIC µs, as the profiles' timestamps
    const data = testData(mb * MB, 77);
    const want = sha256(data);
    const done: number[] = [];
    // --ss: the kernel's view of the UDP sockets 2 s in (receive buffer granted: skmem rb).
    if (args.includes('--ss')) setTimeout(() => console.log(execFileSync('ss', ['-uamn'], { encoding: 'utf8' })), 2000);
    const results = await Promise.allSettled(
      clients.map((_, i) =>
        echoRoundTrip(port(i), data, 300_000).then((r) => {
          done.push((performance.now() - started) / 1000);
          return r;
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    if (profile) console.log(`profile window (monotonic µs): ${windowStart} ${process.hrtime.bigint() / 1000n}`);
    const failed = results.filter((r) => r.status === 'rejected' || sha256(r.value) !== want).length;
    const total = (friends - failed) * mb;
    const serverMs = cpuMs([serverPid]) - server0;
    const clientsMs = cpuMs(clientPids) - clients0;
    rates.push(total / seconds);
    done.sort((a, b) => a - b);
    console.log(
      `run ${run + 1}: ${friends - failed}/${friends} x ${mb} MB in ${fmt(seconds, 2)} s: ${fmt(total / seconds)} MB/s; UdpRcvbufErrors +${udpRcvbufErrors() - drops}; ` +
        `CPU server ${serverMs} ms (${fmt(serverMs / (seconds * 10))} % of a core, ${fmt(serverMs / (2 * total))} ms/MB), clients ${clientsMs} ms; ` +
        `finished at ${fmt(done[0], 1)} .. ${fmt(done[Math.floor(done.length / 2)], 1)} .. ${fmt(done.at(-1), 1)} s`,
    );
    for (const recorder of recorders) recorder.kill('SIGINT');
    await Promise.all(recorders.map((r) => new Promise((resolve) => r.once('exit', resolve))));
    for (const [i, stop] of syscalls.entries()) {
      const counts = await stop();
      console.log(`  syscalls per MB echoed, ${i === 0 ? 'server' : 'clients together'}: ${[...counts].map(([name, n]) => `${name} ${fmt(n / total, 0)}`).join(', ')}`);
    }
    const socketDrops1 = socketDrops([serverPid, ...clientPids]);
    const delta = [serverPid, ...clientPids].map((pid) => (socketDrops1.get(pid) ?? 0) - (socketDrops0.get(pid) ?? 0));
    const us1 = [cpuTimes([serverPid]), cpuTimes(clientPids)];
    console.log(`  user/system ms: server ${us1[0]![0]! - us0[0]![0]!}/${us1[0]![1]! - us0[0]![1]!}, clients ${us1[1]![0]! - us0[1]![0]!}/${us1[1]![1]! - us0[1]![1]!}`);
    console.log(`  server context switches (involuntary/voluntary) before ${switches0}, after ${switches(serverPid)}`);
    console.log(`  drops at the server's socket ${delta[0]}, at the clients' ${delta.slice(1).join(' ')}`);
    // --trace FILE: the controller's trace lines (a bundle built with -DTT_CC_TRACE, TT_PROFILE_CLI).
    if (args.includes('--trace')) {
      const lines = (text: string) => text.split('\n').filter((l) => l.includes('cc t=')).join('\n');
      writeFileSync(`${flag('--trace', '')}.server`, lines(env.server.output));
      writeFileSync(`${flag('--trace', '')}.client`, lines(clients[1]!.output));
    }
    if (args.includes('--state')) console.log((await env.dumpState()).split('client state:')[1]);
  } finally {
    for (const c of clients.slice(1)) c.signal('SIGTERM');
    await Promise.all(clients.slice(1).map((c) => c.exited(10_000).catch(() => c.kill())));
    await env.stop();
  }
}
console.log(`median ${fmt(median(rates))} MB/s over ${runs} run(s)`);
process.exit(0);
