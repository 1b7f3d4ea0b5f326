// SPDX-License-Identifier: GPL-3.0-or-later
// Transfers over a bad path, with real processes: both toxtunnel processes send their UDP
// through the fault layer (TOXTUNNEL_FAULTS: 1% loss, 3±3 ms delay that reorders, 0.5%
// duplicates; the kernel here has no netem). Everything must still arrive byte-exact. On the
// same deployment: a slow reader (back-pressure holds the producer, memory stays bounded), the
// target service down and back, and — every process logging at trace level — no secret in any
// log.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Service, type TunnelEnv, closedWithin, echo, echoRoundTrip, serverOnline, sha256, startService, startTunnelEnv, testData, rssMiB } from '../helpers/tunnel-env.ts';

const SECRET = 'trace-level-secret-0xC0FFEE';
const P = { echo: 29151, source: 29152, fEcho: 29161, fSource: 29162 };
const MB = 1_000_000;
/** The producer has this much to give (far more than any buffer on the way). */
const SOURCE_CHUNKS = 200;
const CHUNK = testData(MB, 77);
let env: TunnelEnv;
let echoService: Service;
let source: Service;
const producers: net.Socket[] = [];

test.before(async () => {
  try {
    echoService = await startService(P.echo, echo);
    // A fast producer: writes SOURCE_CHUNKS x 1 MB as fast as the tunnel lets it.
    source = await startService(P.source, (socket) => {
      producers.push(socket);
      let sent = 0;
      const pump = () => {
        while (sent < SOURCE_CHUNKS) {
          sent++;
          if (!socket.write(CHUNK)) return;
        }
        socket.end();
      };
      socket.on('drain', pump);
      pump();
    });
    env = await startTunnelEnv({
      ports: { bootstrapUdp: 29171, bootstrapTcp: 29172, toxFirst: 0 },
      forwards: [
        { local_port: P.fEcho, remote_host: '127.0.0.1', remote_port: P.echo },
        { local_port: P.fSource, remote_host: '127.0.0.1', remote_port: P.source },
      ],
      serverYaml: [`  shared_secret: "${SECRET}"`],
      clientYaml: [`  shared_secret: "${SECRET}"`],
      processEnv: { TOXTUNNEL_FAULTS: 'loss=0.01,delay=3,jitter=3,duplicate=0.005' },
      logLevel: 'trace',
    });
    await serverOnline(env);
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  await env?.stop();
  await echoService?.close();
  await source?.close();
});

test('over a lossy, reordering, duplicating path: 5 MB each way and 8 parallel tunnels arrive byte-exact', async () => {
  assert.match(env.server.output, /TOXTUNNEL_FAULTS is set/);
  const started = Date.now();
  const data = testData(3 * MB, 21);
  const back = await echoRoundTrip(P.fEcho, data, 180_000);
  assert.is(sha256(back), sha256(data));
  const one = Date.now() - started;
  const runs = Array.from({ length: 8 }, (_, i) => {
    const d = testData(MB / 2, 30 + i);
    return echoRoundTrip(P.fEcho, d, 180_000).then((b) => assert.is(sha256(b), sha256(d), `tunnel ${i}`));
  });
  await Promise.all(runs);
  console.log(`faulty path: 3 MB echo in ${one} ms, 8 x 0.5 MB echoes in ${Date.now() - started - one} ms`);
});


test('a slow reader: the producer is held back, memory stays bounded on both sides, nothing is lost', async () => {
  const pids = { server: env.server.child.pid!, client: env.client.child.pid! };
  const before = { server: rssMiB(pids.server), client: rssMiB(pids.client) };
  const socket = net.connect(P.fSource, '127.0.0.1');
  socket.pause(); // the reader is asleep for a while
  await new Promise((r) => setTimeout(r, 8000));
  const during = { server: rssMiB(pids.server), client: rssMiB(pids.client) };
  const producer = producers.at(-1);
  assert.ok(producer, 'the tunnel reached the producer');
  const produced = producer!.bytesWritten;
  // Then read 3 MB and compare them with what the producer sent.
  const want = 3 * MB;
  const chunks: Buffer[] = [];
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`slow reader: only ${got} bytes after 120 s`)), 120_000);
    socket.on('data', (c) => {
      chunks.push(c);
      got += c.length;
      if (got >= want) {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.on('error', reject);
    socket.resume();
  });
  socket.destroy();
  const received = Buffer.concat(chunks).subarray(0, want);
  assert.is(sha256(received), sha256(Buffer.concat([CHUNK, CHUNK, CHUNK])), 'the first 3 MB arrived intact and in order');
  const growth = Math.max(during.server - before.server, during.client - before.client);
  console.log(`slow reader: the producer got ${(produced / MB).toFixed(1)} of ${SOURCE_CHUNKS} MB out while the reader slept; RSS server ${before.server.toFixed(0)} -> ${during.server.toFixed(0)} MiB, client ${before.client.toFixed(0)} -> ${during.client.toFixed(0)} MiB`);
  assert.ok(produced < 24 * MB, `the producer was held back (${produced} bytes written)`);
  assert.ok(growth < 48, `memory grew by ${growth.toFixed(0)} MiB while the reader slept`);
});

test('the target down, then back: connections fail promptly with the reason, then work again', async () => {
  await echoService.close();
  const ms = await closedWithin(P.fEcho, 20_000);
  await env.client.waitForOutput(/failed: TCP connect failed: 127\.0\.0\.1:29151: ECONNREFUSED/, 5000, 'refused reason');
  console.log(`target down: the local connection was closed ${ms} ms after connecting`);
  echoService = await startService(P.echo, echo);
  const data = testData(100_000, 5);
  assert.is(sha256(await echoRoundTrip(P.fEcho, data, 60_000)), sha256(data));
});

test('no secret reaches the logs at trace level: shared secret, savedata, secret key', async () => {
  const logs = `${env.server.output}\n${env.client.output}`;
  assert.ok(/debug|trace|\[trace\]|tunnel \d+ opening/.test(logs), 'the processes did log');
  assert.not.ok(logs.includes(SECRET), 'the shared secret is in a log');
  for (const side of ['server-data', 'client-data']) {
    const savedata = readFileSync(join(env.dir, side, 'tox_save.dat'));
    const secretKey = secretKeyOf(savedata);
    for (const form of [secretKey.toString('hex'), secretKey.toString('hex').toUpperCase(), secretKey.toString('base64'), savedata.toString('base64').slice(0, 40), savedata.toString('hex').slice(0, 64)]) {
      assert.not.ok(logs.includes(form), `${side}: a form of the secret key or savedata is in a log`);
    }
  }
});

/**
 * The secret key from toxcore savedata: after the 8-byte header, sections of
 * [length:4 LE][type:2 LE][0x01CE:2]; type 1 (NOSPAMKEYS) is nospam(4), public key(32),
 * secret key(32).
 */
function secretKeyOf(savedata: Buffer): Buffer {
  let offset = 8;
  while (offset + 8 <= savedata.length) {
    const length = savedata.readUInt32LE(offset);
    const type = savedata.readUInt16LE(offset + 4);
    if (type === 1) return savedata.subarray(offset + 8 + 4 + 32, offset + 8 + 4 + 64);
    offset += 8 + length;
  }
  throw new Error('no NOSPAMKEYS section in the savedata');
}

test.run();
