// SPDX-License-Identifier: GPL-3.0-or-later
// Wire compatibility with a native c-toxcore peer (issue 10): the pinned toxcore, unpatched,
// built with gcc (test/fixtures/native-peer.c, an echo server of the base protocol). Our client
// — with its own congestion controller — sends to it, and it sends back with toxcore's stock
// controller: both directions byte-exact (SHA-256), once on a clean path and once with our
// fault layer (1 % loss, 5 ms delay on every datagram our client sends).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Bootstrapd, startBootstrapd } from '../helpers/bootstrapd.ts';
import { startNativePeer } from '../helpers/native-peer.ts';
import { type CliProcess, echoRoundTrip, runCli, sha256, testData } from '../helpers/tunnel-env.ts';

const P = { bootstrapUdp: 28401, bootstrapTcp: 28402, native: 28450, forward: 28411, forwardLossy: 28412 };
const BYTES = 3_000_000;
let bootstrapd: Bootstrapd;
let native: CliProcess;
let nativeId: string;
const clients: Record<string, CliProcess> = {};
const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-native-'));

test.before(async () => {
  bootstrapd = await startBootstrapd(P.bootstrapUdp, P.bootstrapTcp);
  ({ peer: native, id: nativeId } = await startNativePeer(P.native, bootstrapd.udpPort, bootstrapd.publicKey));
  // Both clients at once: a DHT of a few nodes finds friends much sooner than one of three.
  clients.clean = startClient('clean', P.forward, {});
  clients.lossy = startClient('lossy', P.forwardLossy, { TOXTUNNEL_FAULTS: 'loss=0.01,delay=5' });
});

test.after(async () => {
  for (const client of Object.values(clients)) {
    client.signal('SIGTERM');
    await client.exited(10_000).catch(() => client.kill());
  }
  native?.signal('SIGTERM');
  await native?.exited(5000).catch(() => native.kill());
  bootstrapd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function startClient(name: string, port: number, env: Record<string, string>): CliProcess {
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      'mode: client',
      `data_dir: ${join(dir, name)}`,
      'logging:',
      '  level: info',
      'tox:',
      '  udp_enabled: true',
      '  bootstrap_mode: none',
      '  bootstrap_nodes:',
      '    - address: 127.0.0.1',
      `      port: ${bootstrapd.udpPort}`,
      `      public_key: ${bootstrapd.publicKey}`,
      'client:',
      `  server_id: ${nativeId}`,
      '  forwards:',
      `    - local_port: ${port}`,
      '      remote_host: 127.0.0.1',
      '      remote_port: 7',
      '',
    ].join('\n'),
  );
  return runCli(['-c', config], { env });
}

async function roundTrip(name: string, port: number, seed: number) {
  const client = clients[name]!;
  {
    await client.waitForOutput(/Friend connection status: Connected/, 90_000, 'the native peer online').catch((error: Error) => {
      throw new Error(`${error.message.slice(0, 200)}\nnative peer:\n${native.output.slice(-2000)}`);
    });
    const data = testData(BYTES, seed);
    const back = await echoRoundTrip(port, data, 120_000).catch((error: Error) => {
      throw new Error(`${error.message}\nclient:\n${client.output.slice(-3000)}\nnative peer:\n${native.output.slice(-2000)}`);
    });
    assert.is(back.length, BYTES);
    assert.is(sha256(back), sha256(data), 'what came back from the native peer is what we sent');
    // The native side counts what it received: the upload direction on its own.
    const closed = await native.waitForOutput(new RegExp(`tunnel \\d+ closed after (\\d+) bytes[^]*$`), 15_000, 'the native peer closing the tunnel');
    assert.is(Number(closed[1]), BYTES, 'the native peer received every byte once');
    assert.not.match(client.output, /HELLO|capabilit/i, 'no extension was used with a base-protocol peer');
  }
}

test('a native c-toxcore peer: 3 MB echoed byte-exact both ways', async () => {
  await roundTrip('clean', P.forward, 11);
});

test('a native c-toxcore peer through 1 % loss and 5 ms delay: byte-exact both ways', async () => {
  native.output = ''; // the next "closed after" line is this tunnel's
  await roundTrip('lossy', P.forwardLossy, 12);
});

test.run();
