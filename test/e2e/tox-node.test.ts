// SPDX-License-Identifier: GPL-3.0-or-later
// Real toxcore (wasm) nodes in separate processes, real sockets, loopback only; local
// discovery stays off (ToxNode's default), so nothing leaves 127.0.0.1.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBootstrapd } from '../helpers/bootstrapd.ts';
import { befriendedPair, exchange } from '../helpers/pair.ts';
import { Peer } from '../helpers/peer.ts';

const MB = 1024 * 1024;

test('two nodes over UDP move 10 MB of lossless packets each way, sha256 equal', async () => {
  const pair = await befriendedPair({ startPort: 25001, endPort: 25100 }, { startPort: 25001, endPort: 25100 });
  try {
    const r = await exchange(pair, 10 * MB, 120_000);
    assert.is(r.receivedB.bytes, 10 * MB);
    assert.is(r.receivedA.bytes, 10 * MB);
    assert.is(r.receivedB.sha256, r.sentA.sha256, 'a -> b hash');
    assert.is(r.receivedA.sha256, r.sentB.sha256, 'b -> a hash');
    assert.is.not(r.sentA.sha256, r.sentB.sha256, 'the two directions carry different data');
    const friend = pair.a.events.find((e) => e.event === 'friend' && e.status !== 'none');
    assert.is(friend?.status, 'udp');
    console.log(`  udp: online after ${pair.onlineAfterMs} ms; a->b ${(10 / (r.receivedB.seconds as number)).toFixed(1)} MiB/s`);
  } finally {
    pair.stop();
  }
});

test('with UDP off on one side, the pair connects through the other side\'s TCP relay port and moves 10 MB each way', async () => {
  // toxcore needs onion paths: the relay side gets a second UDP node to make a small DHT.
  const relay = Peer.start({ startPort: 25101, endPort: 25200, tcpPort: 25201 });
  const dhtHelper = Peer.start({ startPort: 25101, endPort: 25200 });
  const tcpOnly = Peer.start({ udp: false });
  try {
    const [ra, rc, rb] = await Promise.all([relay.ready(), dhtHelper.ready(), tcpOnly.ready()]);
    assert.is(ra.tcpPort, 25201);
    assert.is(rb.udpPort, null, 'the UDP-less node has no UDP port');
    relay.send({ cmd: 'acceptAll' });
    relay.send({ cmd: 'bootstrap', host: '127.0.0.1', port: rc.udpPort, key: rc.dhtId });
    dhtHelper.send({ cmd: 'bootstrap', host: '127.0.0.1', port: ra.udpPort, key: ra.dhtId });
    tcpOnly.send({ cmd: 'relay', host: '127.0.0.1', port: ra.tcpPort, key: ra.dhtId });
    tcpOnly.send({ cmd: 'bootstrap', host: '127.0.0.1', port: ra.udpPort, key: ra.dhtId });
    tcpOnly.send({ cmd: 'add', toxId: ra.address });
    const started = Date.now();
    const online = await tcpOnly.waitFor((e) => e.event === 'friend' && e.status !== 'none', 150_000, 'friend online over TCP');
    assert.is(online.status, 'tcp');
    await relay.waitFor((e) => e.event === 'friend' && e.status !== 'none', 60_000, 'relay side sees the friend');
    const onlineMs = Date.now() - started;
    const r = await exchange({ a: tcpOnly, b: relay, readyA: rb, readyB: ra, onlineAfterMs: onlineMs, stop() {} }, 10 * MB, 300_000);
    assert.is(r.receivedB.bytes, 10 * MB);
    assert.is(r.receivedB.sha256, r.sentA.sha256, 'tcp-only -> relay hash');
    assert.is(r.receivedA.sha256, r.sentB.sha256, 'relay -> tcp-only hash');
    console.log(`  tcp relay: online after ${onlineMs} ms; ${(10 / (r.receivedB.seconds as number)).toFixed(2)} MiB/s`);
  } finally {
    relay.kill();
    dhtHelper.kill();
    tcpOnly.kill();
  }
});

test('both nodes find each other through a native tox-bootstrapd only (interoperability with C toxcore)', async () => {
  const daemon = await startBootstrapd(25301, 25302);
  const a = Peer.start({ startPort: 25311, endPort: 25400 });
  const b = Peer.start({ startPort: 25311, endPort: 25400 });
  try {
    const [ra, rb] = await Promise.all([a.ready(), b.ready()]);
    for (const peer of [a, b]) peer.send({ cmd: 'bootstrap', host: '127.0.0.1', port: daemon.udpPort, key: daemon.publicKey });
    b.send({ cmd: 'acceptAll' });
    a.send({ cmd: 'add', toxId: rb.address });
    const started = Date.now();
    await b.waitFor((e) => e.event === 'request' && e.publicKey === ra.publicKey, 90_000, 'friend request through the DHT');
    await a.waitFor((e) => e.event === 'friend' && e.status !== 'none', 90_000, 'friend online at a');
    await b.waitFor((e) => e.event === 'friend' && e.status !== 'none', 90_000, 'friend online at b');
    const r = await exchange({ a, b, readyA: ra, readyB: rb, onlineAfterMs: 0, stop() {} }, 1 * MB, 120_000);
    assert.is(r.receivedB.sha256, r.sentA.sha256);
    assert.is(r.receivedA.sha256, r.sentB.sha256);
    console.log(`  via tox-bootstrapd: online after ${Date.now() - started} ms`);
  } finally {
    a.kill();
    b.kill();
    daemon.stop();
  }
});

test.run();
