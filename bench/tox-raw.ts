// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Raw Tox node benchmark (issue: portable toxcore). Loopback only, local discovery off.
 * Prints: wasm and bundle sizes; lossless-packet throughput one way between two processes
 * over UDP and over a TCP relay (cold: the first transfer of a fresh pair; warm: the same again;
 * each from the first to the last byte, no best window picked out); round-trip percentiles of 64-byte echoes; RSS of an idle node; CPU per MB.
 * Baseline measured in the same run: plain node:dgram datagrams of the same size between two
 * sockets of one process (the ceiling of the socket layer every runtime gives us).
 *   node --import tsx bench/tox-raw.ts [--mb 150] [--no-tcp]
 */
import dgram from 'node:dgram';
import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { befriendedPair } from '../test/helpers/pair.ts';
import { Peer, type PeerEvent } from '../test/helpers/peer.ts';

const args = process.argv.slice(2);
const MB = 1e6;
const transferMB = args.includes('--mb') ? Number(args[args.indexOf('--mb') + 1]) : 150;
const withTcp = !args.includes('--no-tcp');
const fmt = (n: number, d = 1) => n.toFixed(d);
const sizeOf = (f: string) => statSync(f).size;
const gz = (f: string) => gzipSync(readFileSync(f), { level: 9 }).length;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function dgramBaseline(seconds: number): Promise<number> {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const port = rx.address().port;
  let received = 0;
  rx.on('message', (m) => (received += m.length));
  const packet = Buffer.alloc(1373, 7);
  const deadline = Date.now() + seconds * 1000;
  let inFlight = 0;
  await new Promise<void>((done) => {
    const pump = () => {
      if (Date.now() > deadline) return done();
      while (inFlight < 64) {
        inFlight++;
        tx.send(packet, port, '127.0.0.1', () => {
          inFlight--;
          if (inFlight === 0) setImmediate(pump);
        });
      }
    };
    pump();
  });
  await new Promise((r) => setTimeout(r, 200));
  rx.close();
  tx.close();
  return received / MB / seconds;
}

async function usage(peer: Peer): Promise<{ rss: number; cpuSeconds: number }> {
  const from = peer.events.length;
  peer.send({ cmd: 'usage' });
  const e = await peer.waitFor((x) => x.event === 'usage', 10_000, 'usage', from);
  return { rss: e.rss as number, cpuSeconds: e.cpuSeconds as number };
}

async function oneWay(sender: Peer, receiver: Peer, bytes: number) {
  const [cpuS0, cpuR0] = [await usage(sender), await usage(receiver)];
  const from = receiver.events.length;
  receiver.send({ cmd: 'expect', bytes });
  sender.send({ cmd: 'send', friend: 0, bytes, seed: 5 });
  const got: PeerEvent = await receiver.waitFor((e) => e.event === 'received', 600_000, 'transfer', from);
  const [cpuS1, cpuR1] = [await usage(sender), await usage(receiver)];
  const mb = bytes / MB;
  return {
    overall: mb / (got.seconds as number),
    cpuPerMB: ((cpuS1.cpuSeconds - cpuS0.cpuSeconds + cpuR1.cpuSeconds - cpuR0.cpuSeconds) / mb) * 1000,
  };
}

const report: Record<string, unknown> = {};
console.log('# toxtunnel raw Tox node benchmark (loopback)');
const wasm = 'build/wasm/toxcore.wasm';
const bundle = 'dist/index.mjs';
report.sizes = { wasm: sizeOf(wasm), wasmGzip: gz(wasm), bundle: sizeOf(bundle), bundleGzip: gz(bundle) };
console.log(`wasm ${fmt(sizeOf(wasm) / 1024)} KiB (${fmt(gz(wasm) / 1024)} KiB gzip); bundle ${fmt(sizeOf(bundle) / 1024)} KiB (${fmt(gz(bundle) / 1024)} KiB gzip) — goal <= 1536 KiB`);

const baseline = await dgramBaseline(3);
report.dgramBaselineMBps = baseline;
console.log(`baseline: node:dgram 1373-byte datagrams, one process: ${fmt(baseline)} MB/s`);

const pair = await befriendedPair({ startPort: 27001, endPort: 27100 }, { startPort: 27001, endPort: 27100 });
try {
  await new Promise((r) => setTimeout(r, 5000));
  const idle = await usage(pair.b);
  report.idleRssMiB = idle.rss / 2 ** 20;
  console.log(`UDP: friend online after ${pair.onlineAfterMs} ms; idle node RSS ${fmt(idle.rss / 2 ** 20)} MiB`);
  const cold = await oneWay(pair.a, pair.b, transferMB * MB);
  const udp = await oneWay(pair.a, pair.b, transferMB * MB);
  report.udp = { cold, warm: udp };
  console.log(
    `UDP one way, ${transferMB} MB: cold ${fmt(cold.overall)} MB/s, warm ${fmt(udp.overall)} MB/s ` +
      `(${fmt(udp.overall / baseline, 2)}x of baseline); CPU ${fmt(cold.cpuPerMB)} / ${fmt(udp.cpuPerMB)} ms/MB (both ends)`,
  );
  // toxcore's congestion control starts a quiet direction at a few packets a second and
  // raises the rate with use, so the first echoes wait in SENDQ: report rounds separately.
  // Rounds 4 and 5 send the echoes outside toxcore's congestion control, as the tunnel sends
  // its small frames (src/tunnel/friend-link.ts).
  const rounds = [];
  for (let round = 1; round <= 5; round++) {
    const from = pair.a.events.length;
    const fast = round > 3;
    pair.a.send({ cmd: 'rtt', friend: 0, count: 500, size: 64, fast });
    const rtt = await pair.a.waitFor((e) => e.event === 'rtt', 120_000, 'rtt', from);
    const samples = (rtt.samples as number[]).sort((x, y) => x - y);
    const r = { p50: percentile(samples, 50), p90: percentile(samples, 90), p99: percentile(samples, 99) };
    rounds.push({ ...r, path: fast ? 'small-frame' : 'congestion-controlled' });
    console.log(
      `UDP RTT of 64-byte echoes, round ${round} (500${fast ? ', small-frame path' : ''}): p50 ${fmt(r.p50, 3)} ms, p90 ${fmt(r.p90, 3)} ms, p99 ${fmt(r.p99, 3)} ms` +
        ` (goal p50 <= 1 ms; tuntox/C++ toxtunnel: 5-8 ms)`,
    );
  }
  report.rttMs = rounds;
} finally {
  pair.stop();
}

if (withTcp) {
  const relay = Peer.start({ startPort: 27101, endPort: 27200, tcpPort: 27201 });
  const helper = Peer.start({ startPort: 27101, endPort: 27200 });
  const tcpOnly = Peer.start({ udp: false });
  try {
    const [ra, rc] = await Promise.all([relay.ready(), helper.ready(), tcpOnly.ready()]);
    relay.send({ cmd: 'acceptAll' });
    relay.send({ cmd: 'bootstrap', host: '127.0.0.1', port: rc.udpPort, key: rc.dhtId });
    helper.send({ cmd: 'bootstrap', host: '127.0.0.1', port: ra.udpPort, key: ra.dhtId });
    tcpOnly.send({ cmd: 'relay', host: '127.0.0.1', port: ra.tcpPort, key: ra.dhtId });
    tcpOnly.send({ cmd: 'bootstrap', host: '127.0.0.1', port: ra.udpPort, key: ra.dhtId });
    tcpOnly.send({ cmd: 'add', toxId: ra.address });
    const started = Date.now();
    await tcpOnly.waitFor((e) => e.event === 'friend' && e.status === 'tcp', 150_000, 'online over TCP');
    await relay.waitFor((e) => e.event === 'friend' && e.status !== 'none', 60_000, 'relay sees friend');
    const online = Date.now() - started;
    const tcp = await oneWay(tcpOnly, relay, Math.min(transferMB, 50) * MB);
    report.tcpRelay = { onlineMs: online, ...tcp };
    console.log(`TCP relay: online after ${online} ms; one way ${Math.min(transferMB, 50)} MB, cold: ${fmt(tcp.overall)} MB/s; CPU ${fmt(tcp.cpuPerMB)} ms/MB`);
  } finally {
    relay.kill();
    helper.kill();
    tcpOnly.kill();
  }
}
console.log(JSON.stringify(report));
