// SPDX-License-Identifier: GPL-3.0-or-later
// One stream uploaded through the TCP relay only (the client's UDP off), fresh processes:
// prints MB/s. --relay server: through the server's own TCP relay (toxcore's TCP server in our
// wasm; tox.tcp_port) instead of tox-bootstrapd's. Run in a private network namespace:
//   unshare -n sh -c 'ip link set lo up && node --import tsx scripts/relay-speed.ts --mb 20 [--relay server]'
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpuMs } from '../bench/measure.ts';
import { serverOnline, startService, startTunnelEnv, testData } from '../test/helpers/tunnel-env.ts';

const args = process.argv.slice(2);
const MB = 1e6;
const mb = args.includes('--mb') ? Number(args[args.indexOf('--mb') + 1]) : 20;
const own = args.includes('--relay') && args[args.indexOf('--relay') + 1] === 'server';
const profiled = (who: string) => ['sh', '-c', `shift; exec node --cpu-prof --cpu-prof-dir=${process.env.RELAY_PROF}/${who} "$@"`, 'sh'];
const P = { sink: 29602, forward: 29642 };
let resolveSink: (bytes: number) => void = () => {};
const sink = await startService(P.sink, (socket) => {
  let bytes = 0;
  socket.on('data', (c) => (bytes += c.length));
  socket.on('end', () => (resolveSink(bytes), socket.end()));
});
const env = await startTunnelEnv({
  ports: { bootstrapUdp: 29671, bootstrapTcp: 29672, toxFirst: 0 },
  forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.sink }],
  clientUdp: false,
  ...(own ? { serverTcpPort: 29673, clientUsesServerRelay: true } : {}),
  // RELAY_PROF=dir: the server and the client write V8 CPU profiles to dir/server and dir/client when they exit.
  ...(process.env.RELAY_PROF ? { serverWrap: profiled('server'), clientWrap: profiled('client') } : {}),
});
try {
  await serverOnline(env, 150_000);
  const data = testData(mb * MB, 3);
  const done = new Promise<number>((r) => (resolveSink = r));
  const pids = [env.server.child.pid!, env.client.child.pid!];
  const cpu0 = cpuMs(pids);
  const started = performance.now();
  const socket = net.connect({ port: P.forward, host: '127.0.0.1' });
  socket.resume();
  socket.on('error', () => {}); // the tunnel resets it once the sink has ended
  await new Promise((r) => socket.once('connect', r));
  socket.end(data);
  const bytes = await Promise.race([done, new Promise<number>((_, j) => setTimeout(() => j(new Error('timeout')), 120_000))]);
  const s = (performance.now() - started) / 1000;
  if (bytes !== mb * MB) throw new Error(`sink got ${bytes} of ${mb * MB}`);
  const cpu = (cpuMs(pids) - cpu0) / mb;
  console.log(`relay one stream${own ? ' (the server\'s own relay)' : ''}: ${mb} MB in ${s.toFixed(2)} s = ${(mb / s).toFixed(2)} MB/s; CPU ${cpu.toFixed(0)} ms/MB (both processes)`);
} finally {
  // RELAY_DUMP=dir: what both processes printed (e.g. a TT_CC_TRACE build's controller lines).
  if (process.env.RELAY_DUMP) for (const who of ['server', 'client'] as const) writeFileSync(`${process.env.RELAY_DUMP}/${who}.out`, env[who].output);
  await env.stop();
  await sink.close();
}
