// SPDX-License-Identifier: GPL-3.0-or-later
// The TCP-relay-only path: the client runs with UDP disabled, so every packet between it and
// the server goes through the native tox-bootstrapd's TCP relay. The same transfers as over
// UDP: a large echo and eight parallel tunnels, byte-exact. The client reaches the relay
// through a proxy of ours, which can stop passing its bytes on as a stalled relay does.
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Service, type TunnelEnv, echo, echoRoundTrip, serverOnline, sha256, startService, startTunnelEnv, testData } from '../helpers/tunnel-env.ts';

const MB = 1_000_000;
const P = { echo: 29251, forward: 29261, relayProxy: 29273 };
let env: TunnelEnv;
let service: Service;
let proxy: RelayProxy;

/**
 * A TCP proxy in front of the relay. freeze() makes the connections open now stop passing the
 * client's bytes to the relay (kept, never dropped: the stream stays valid), while the relay's
 * bytes still reach the client: what tox-bootstrapd does when it stops reading a connection
 * (wasm/patches/0003). Connections made afterwards pass everything.
 */
interface RelayProxy {
  /** Connections accepted so far. */
  accepted: number;
  freeze(): void;
  close(): Promise<void>;
}

async function startRelayProxy(port: number, relayPort: number): Promise<RelayProxy> {
  const pairs = new Set<{ client: net.Socket; relay: net.Socket; frozen: boolean }>();
  const proxy: RelayProxy = {
    accepted: 0,
    freeze: () => {
      for (const pair of pairs) {
        pair.frozen = true;
        pair.client.pause();
      }
    },
    close: () => new Promise<void>((resolve) => {
      for (const { client, relay } of pairs) (client.destroy(), relay.destroy());
      server.close(() => resolve());
    }),
  };
  const server = net.createServer((client) => {
    proxy.accepted++;
    const relay = net.connect({ port: relayPort, host: '127.0.0.1', noDelay: true });
    client.setNoDelay(true);
    const pair = { client, relay, frozen: false };
    pairs.add(pair);
    client.on('data', (chunk) => {
      if (!pair.frozen) relay.write(chunk);
    });
    relay.on('data', (chunk) => client.write(chunk));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      relay.destroy();
    };
    for (const socket of [client, relay]) (socket.on('close', end), socket.on('error', end));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return proxy;
}

test.before(async () => {
  try {
    service = await startService(P.echo, echo);
    proxy = await startRelayProxy(P.relayProxy, 29272);
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 29271, bootstrapTcp: 29272, toxFirst: 0 },
      forwards: [{ local_port: P.forward, remote_host: '127.0.0.1', remote_port: P.echo }],
      clientUdp: false,
      clientRelayPort: P.relayProxy,
    });
    await serverOnline(env, 150_000);
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  await env?.stop();
  await proxy?.close();
  await service?.close();
});

test('relay only: the client is connected through TCP, not UDP', () => {
  assert.match(env.client.output, /Friend connection status: Connected \(TCP\)/);
  assert.not.match(env.client.output, /Friend connection status: Connected \(UDP\)/);
});

test('relay only: 10 MB each way and 8 parallel tunnels of 1 MB, byte-exact', async () => {
  try {
    await transfers();
  } catch (error) {
    // Why a tunnel failed is in the processes' logs.
    const why = (p: { output: string }) => p.output.split('\n').filter((l) => /fail|closed|stopped|WARN|ERROR/.test(l)).slice(-12).join('\n');
    console.log(`client:\n${why(env.client)}\nserver:\n${why(env.server)}`);
    throw error;
  }
});

async function transfers(): Promise<void> {
  const started = Date.now();
  const data = testData(10 * MB, 41);
  assert.is(sha256(await echoRoundTrip(P.forward, data, 180_000)), sha256(data));
  const one = Date.now() - started;
  // Eight tunnels at once right after the bulk transfer: tox-bootstrapd's TCP server used to
  // stop reading one of the nodes' connections for good under this load (wasm/patches/0003),
  // and the keepalive then dropped the friend 8 s later.
  await Promise.all(
    Array.from({ length: 8 }, (_, i) => {
      const d = testData(MB, 50 + i);
      return echoRoundTrip(P.forward, d, 60_000).then((b) => assert.is(sha256(b), sha256(d), `tunnel ${i}`));
    }),
  );
  console.log(`relay only: 10 MB echo in ${one} ms, 8 x 1 MB in ${Date.now() - started - one} ms`);
}

test('relay only: a relay connection that stops taking our packets is replaced within seconds; 4 MB each way, byte-exact', async () => {
  const data = testData(4 * MB, 61);
  const echoed = echoRoundTrip(P.forward, data, 60_000);
  await new Promise((r) => setTimeout(r, 500)); // the tunnel is open and data flows
  const accepted = proxy.accepted;
  const logs = [env.client, env.server].map((p) => ({ p, from: p.output.length }));
  const frozenAt = Date.now();
  proxy.freeze();
  const back = await echoed;
  const took = Date.now() - frozenAt;
  assert.is(sha256(back), sha256(data));
  // The client connected to the relay again (without the renewal it would wait for the
  // relay's ping timeout, 30 + 10 s, and the keepalive drops the friend after 8 s).
  assert.ok(proxy.accepted > accepted, 'a new connection to the relay');
  for (const { p, from } of logs) assert.not.match(p.output.slice(from), /stopped answering|failed/);
  assert.ok(took < 30_000, `4 MB echoed ${took} ms after the stall`);
  console.log(`relay only: stalled relay connection: 4 MB echo done ${took} ms after the stall`);
});

test.run();
