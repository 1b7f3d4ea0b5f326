// SPDX-License-Identifier: GPL-3.0-or-later
// toxtunnel as a library, from the built bundle (dist/index.mjs) as another program would
// import it: start() a server and a client in one process from resolved configs, wait for
// the client's 'server' event, carry a connection, read stats(), healthCheck() and list(),
// then stop() both.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBootstrapd } from '../helpers/bootstrapd.ts';
import { echo, echoRoundTrip, sha256, startService, testData } from '../helpers/tunnel-env.ts';

type Lib = typeof import('../../src/index.ts');
const lib = (await import(join(process.cwd(), 'dist/index.mjs'))) as Lib;

test('start() runs a server and a client; stats, health and list describe them; stop() ends them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-lib-'));
  const bootstrapd = await startBootstrapd(29931, 29932);
  const service = await startService(29901, echo);
  const instances: Array<{ stop(): Promise<void> }> = [];
  try {
    const network = { TOXTUNNEL_BOOTSTRAP_MODE: 'none' };
    const nodes = [{ address: '127.0.0.1', port: bootstrapd.udpPort, public_key: bootstrapd.publicKey }];
    const yaml = (mode: string, extra: string[]) => {
      const path = join(dir, `${mode}.yaml`);
      const text = [
        `mode: ${mode}`,
        `data_dir: ${join(dir, mode)}`,
        'control_socket: false',
        'tox:',
        `  start_port: ${mode === 'server' ? 29940 : 29950}`,
        '  bootstrap_nodes:',
        ...nodes.map((n) => `    - { address: ${n.address}, port: ${n.port}, public_key: ${n.public_key} }`),
        ...extra,
        '',
      ].join('\n');
      writeFileSync(path, text);
      return path;
    };
    const server = await lib.start(lib.resolveConfig({ config: yaml('server', ['server:', '  allow_any: true']) }, network));
    instances.push(server);
    assert.match(server.toxId, /^[0-9A-F]{76}$/);
    const client = await lib.start(
      lib.resolveConfig({ config: yaml('client', ['client:', `  server_id: ${server.toxId}`, '  forwards:', '    - { local_port: 29911, remote_host: 127.0.0.1, remote_port: 29901 }']) }, network),
    );
    instances.push(client);
    assert.not.ok(client.healthCheck().ok, 'not healthy before the server is reachable');
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no server event within 90 s')), 90_000);
      client.on('server', (ready) => {
        if (ready) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const opened: string[] = [];
    client.on('tunnelOpened', (info) => opened.push(info.target));
    const data = testData(300_000, 3);
    assert.is(sha256(await echoRoundTrip(29911, data, 30_000)), sha256(data));
    assert.equal(opened, ['127.0.0.1:29901']);
    const health = client.healthCheck();
    assert.ok(health.ok, health.problems.join('; '));
    const stats = client.stats();
    assert.is(stats.connectionsTotal, 1);
    assert.ok(stats.bytesOut >= data.length, `bytesOut ${stats.bytesOut}`);
    assert.ok(server.stats().connectionsTotal >= 1);
    assert.ok(Array.isArray(client.list()));
  } finally {
    for (const instance of instances.reverse()) await instance.stop();
    await service.close();
    bootstrapd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
