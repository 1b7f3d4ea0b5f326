// SPDX-License-Identifier: GPL-3.0-or-later
// Our own Tox TCP relay: the server runs toxcore's TCP server (tox.tcp_port) inside its wasm
// module, driven by our event loop, and a client with UDP off (as behind a firewall that lets
// only TCP out) is given that relay, and no other node, as its bootstrap node and relay. The
// data between them goes through the server's relay (toxcore may also connect to the relay the
// server announces, tox-bootstrapd's; the echo's speed shows that one does not carry it): a
// large echo and parallel tunnels, byte-exact.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Service, type TunnelEnv, echo, echoRoundTrip, serverOnline, sha256, startService, startTunnelEnv, testData } from '../helpers/tunnel-env.ts';

const MB = 1_000_000;
const P = { echo: 29291, forward: 29292, bootstrapUdp: 29293, bootstrapTcp: 29294, ownRelay: 29295 };
let env: TunnelEnv;
let service: Service;

test.before(async () => {
  service = await startService(P.echo, echo);
  env = await startTunnelEnv({
    ports: { bootstrapUdp: P.bootstrapUdp, bootstrapTcp: P.bootstrapTcp, toxFirst: 0 },
    forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
    clientUdp: false,
    serverTcpPort: P.ownRelay,
    clientUsesServerRelay: true,
  });
  await serverOnline(env, 90_000);
});

test.after(async () => {
  await env?.stop();
  await service?.close();
});

/** Remote TCP ports of a process's established connections (/proc/net/tcp of this namespace). */
function establishedRemotePorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  const ports: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st ... inode (field 9); st 01 = ESTABLISHED
    if (f.length > 9 && f[3] === '01' && inodes.has(f[9]!)) ports.push(parseInt(f[2]!.split(':')[1]!, 16));
  }
  return ports;
}

test("own relay: the client (UDP off) is connected to the server's relay, and the friend through TCP", () => {
  assert.match(env.client.output, /Friend connection status: Connected \(TCP\)/);
  assert.not.match(env.client.output, /Connected \(UDP\)/);
  assert.match(env.server.output, new RegExp(`TCP relay port ${P.ownRelay}`));
  const ports = establishedRemotePorts(env.client.child.pid!);
  assert.ok(ports.includes(P.ownRelay), `the client is connected to the server's relay (remote ports ${ports.join(', ')})`);
  // toxcore may also connect to the relays the server announces (tox-bootstrapd's): the next
  // test shows the data does not go through that one.
});

test("own relay: 10 MB echoed and 4 tunnels of 1 MB at once through the server's relay, byte-exact, faster than tox-bootstrapd's relay carries", async () => {
  const started = Date.now();
  const data = testData(10 * MB, 71);
  assert.is(sha256(await echoRoundTrip(P.forward, data, 60_000)), sha256(data));
  const one = Date.now() - started;
  await Promise.all(
    Array.from({ length: 4 }, (_, i) => {
      const d = testData(MB, 80 + i);
      return echoRoundTrip(P.forward, d, 60_000).then((b) => assert.is(sha256(b), sha256(d), `tunnel ${i}`));
    }),
  );
  // 10 MB each way is 20 MB through the relay: tox-bootstrapd's 30 ms loop and 128 KiB buffer
  // carry at most about 4 MB/s on one connection (docs/transport.md), so at least 5 s there.
  assert.ok(one < 5000, `10 MB echoed in ${one} ms: not through tox-bootstrapd's relay`);
  console.log(`own relay: 10 MB echo in ${one} ms, 4 x 1 MB in ${Date.now() - started - one} ms`);
});

test.run();
