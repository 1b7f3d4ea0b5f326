// SPDX-License-Identifier: GPL-3.0-or-later
// Tox through real proxies on loopback (docs/proxy.md): the server reaches the network only
// through a SOCKS5 proxy (Debian's microsocks, `tox.proxy` in its YAML), the client only
// through an HTTP CONNECT proxy (Debian's tinyproxy, ALL_PROXY as tuntox reads it). Both run
// with UDP off; the only TCP relay is the native tox-bootstrapd's. Proof that every Tox
// connection went through a proxy: each proxy's log shows a CONNECT to the relay, and neither
// process owns a UDP socket or a TCP connection to anything but its proxy (and, for the server,
// the echo service it connects to for the tunnel) — read from /proc (the test's own network
// namespace, see the preamble: test/run.mjs under `unshare -n`).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Service, type TunnelEnv, echo, echoRoundTrip, runCliSync, serverOnline, sha256, startService, startTunnelEnv, testData } from '../helpers/tunnel-env.ts';

const P = { echo: 29551, forward: 29552, socks: 29553, http: 29554, bootstrapUdp: 29555, bootstrapTcp: 29556 };
let env: TunnelEnv;
let service: Service;
const proxies: Array<{ child: ChildProcess; log: () => string }> = [];

/** A proxy process whose stdout+stderr is kept (its log); killed by PID at the end. */
function startProxy(command: string, args: string[]): { child: ChildProcess; log: () => string } {
  let log = '';
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  child.on('error', (error) => (log += `cannot start ${command} (apt-get install microsocks tinyproxy): ${error.message}`));
  process.on('exit', () => child.kill('SIGKILL'));
  const proxy = { child, log: () => log };
  proxies.push(proxy);
  return proxy;
}

async function waitFor(what: string, ms: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let socks: ReturnType<typeof startProxy>;
let http: ReturnType<typeof startProxy>;
let proxyDir = '';
/** Client start to "Friend connection status: Connected (TCP)" at the client, ms. */
let firstConnectionMs = 0;

test.before(async () => {
  try {
    socks = startProxy('microsocks', ['-i', '127.0.0.1', '-p', String(P.socks)]);
    proxyDir = mkdtempSync(join(tmpdir(), 'toxtunnel-tinyproxy-'));
    const conf = join(proxyDir, 'tinyproxy.conf');
    // ConnectPort: tinyproxy tunnels to the relay's port and nothing else.
    writeFileSync(conf, `Port ${P.http}\nListen 127.0.0.1\nTimeout 600\nLogLevel Connect\nMaxClients 50\nAllow 127.0.0.1\nConnectPort ${P.bootstrapTcp}\n`);
    http = startProxy('tinyproxy', ['-d', '-c', conf]);
    await waitFor('tinyproxy to start', 10_000, () => /Initializing tinyproxy|Setting the various signals/.test(http.log()));
    service = await startService(P.echo, echo);
    env = await startTunnelEnv({
      ports: { bootstrapUdp: P.bootstrapUdp, bootstrapTcp: P.bootstrapTcp, toxFirst: 0 },
      forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
      rules: (key) => `rules:\n  - friend_pk: ${key}\n    allow:\n      - host: 127.0.0.1\n        ports: [${P.echo}]\n`,
      serverUdp: false,
      serverTox: [`  proxy: socks5://127.0.0.1:${P.socks}`],
      // UDP stays "on" in the client's YAML: the proxy must turn it off by itself.
      clientUdp: true,
      clientEnv: { ALL_PROXY: `http://127.0.0.1:${P.http}` },
    });
    await serverOnline(env, 150_000);
    firstConnectionMs = Date.now() - env.clientStartedAt;
  } catch (error) {
    console.error('setup failed:', error, '\nmicrosocks:', socks?.log(), '\ntinyproxy:', http?.log());
    throw error;
  }
});

test.after(async () => {
  await env?.stop();
  await service?.close();
  for (const p of proxies) p.child.kill('SIGKILL');
  if (proxyDir) rmSync(proxyDir, { recursive: true, force: true });
});

test('both sides say where their Tox traffic goes and that UDP is off', () => {
  assert.match(env.server.output, new RegExp(`every Tox connection goes through the SOCKS5 proxy 127\\.0\\.0\\.1:${P.socks} \\(UDP off\\)`));
  assert.match(env.client.output, new RegExp(`every Tox connection goes through the HTTP CONNECT proxy 127\\.0\\.0\\.1:${P.http} \\(UDP off\\)`));
  assert.match(env.server.output, /Tox node up: TCP only/);
  assert.match(env.client.output, /Tox node up: TCP only/);
  assert.match(env.client.output, /Friend connection status: Connected \(TCP\)/);
});

// Both sides TCP-only: the relay is the only way between them. toxcore tied the relay to a new
// friend connection only at the friend's next DHT key packet, 30 s (ONION_DHTPK_SEND_INTERVAL)
// after the first (wasm/patches/0004): ~32 s before, ~2-3 s now; 12 s leaves room for a
// loaded machine and still fails well before the 30 s wait.
test('with UDP off on both sides, the first friend connection comes up within 12 s of the client start', () => {
  assert.ok(firstConnectionMs > 0 && firstConnectionMs < 12_000, `first connection after ${firstConnectionMs} ms`);
});

test('1 MB echo through the tunnel, byte-exact', async () => {
  const data = testData(1_000_000, 77);
  assert.is(sha256(await echoRoundTrip(P.forward, data, 120_000)), sha256(data));
});

test('each proxy logged a CONNECT to the TCP relay', () => {
  assert.match(socks.log(), new RegExp(`connected to 127\\.0\\.0\\.1:${P.bootstrapTcp}`), `microsocks log:\n${socks.log()}`);
  assert.match(http.log(), new RegExp(`CONNECT 127\\.0\\.0\\.1:${P.bootstrapTcp} HTTP/1\\.1`), `tinyproxy log:\n${http.log()}`);
});

test('neither process has a UDP socket or a TCP connection that bypasses its proxy', () => {
  const server = socketsOf(env.server.child.pid!);
  const client = socketsOf(env.client.child.pid!);
  assert.equal(server.udp, [], 'server UDP sockets');
  assert.equal(client.udp, [], 'client UDP sockets');
  // Outgoing connections: remote port is the proxy's (or, for the server, the tunnel's target).
  const outgoing = (s: ReturnType<typeof socketsOf>, listening: number[]) => s.tcp.filter((c) => c.state === ESTABLISHED && !listening.includes(c.localPort));
  const serverRemote = new Set(outgoing(server, []).map((c) => c.remotePort));
  const clientRemote = new Set(outgoing(client, [P.forward]).map((c) => c.remotePort));
  assert.ok(serverRemote.has(P.socks), `the server is connected to its proxy (${[...serverRemote]})`);
  assert.ok(clientRemote.has(P.http), `the client is connected to its proxy (${[...clientRemote]})`);
  for (const port of serverRemote) assert.ok(port === P.socks || port === P.echo, `server connected to port ${port}`);
  for (const port of clientRemote) assert.is(port, P.http, `client connected to port ${port}`);
});

test('with a proxy, a bootstrap node given by name is refused, never resolved', () => {
  const config = env.file(
    'named.yaml',
    `mode: server\ndata_dir: ${join(env.dir, 'named-data')}\ntox:\n  bootstrap_mode: none\n  bootstrap_nodes:\n    - {address: tox.example.org, port: 33445, public_key: ${env.bootstrapd.publicKey}}\n`,
  );
  const run = runCliSync(['-c', config, '--proxy', `socks5://127.0.0.1:${P.socks}`]);
  assert.is(run.status, 2);
  assert.match(run.stderr, /tox\.bootstrap_nodes\[0\]\.address: "tox\.example\.org" is a name; with a proxy, names are not resolved/);
  assert.not.match(run.output, /    at /, 'no stack trace');
});

// --- sockets of a process, from /proc -----------------------------------------------------------

const ESTABLISHED = '01';

/** The inodes of a process's sockets, matched against /proc/net/{tcp,tcp6,udp,udp6}. */
function socketsOf(pid: number) {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {}
  }
  // Columns: sl local_address rem_address st … inode (the 10th); ports are hex after the ':'.
  const table = (name: string) =>
    readFileSync(`/proc/net/${name}`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols.length > 9 && inodes.has(cols[9]!))
      .map((cols) => ({ localPort: parseInt(cols[1]!.split(':')[1]!, 16), remotePort: parseInt(cols[2]!.split(':')[1]!, 16), state: cols[3]! }));
  return { tcp: [...table('tcp'), ...table('tcp6')], udp: [...table('udp'), ...table('udp6')] };
}

test.run();
