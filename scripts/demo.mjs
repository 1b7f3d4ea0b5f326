#!/usr/bin/env node
// SPDX-License-Identifier: GPL-3.0-or-later
// `npm run demo`: a toxtunnel server and client on this machine, a demo web service behind
// the server, and one HTTP request through the tunnel. Loopback only: local discovery off,
// no public bootstrap node — the client bootstraps from the server's own Tox node.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'dist', 'toxtunnel.mjs');
const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-demo-'));
const children = [];
const LIMIT_MS = 120_000;
const started = Date.now();
const step = (text) => console.log(`[demo ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${text}`);

function cleanup() {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  } catch {
    // a process still saving: the temporary directory stays, nothing else
  }
}
process.on('exit', cleanup);

/** SIGTERM to both processes, and wait (bounded) until they have saved and exited. */
async function shutdown() {
  const exits = children.filter((c) => c.exitCode === null).map((c) => new Promise((resolve) => c.once('exit', resolve)));
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 10_000))]);
  cleanup();
}
const deadline = setTimeout(() => {
  console.error(`demo: no result within ${LIMIT_MS / 1000} s`);
  process.exit(1);
}, LIMIT_MS);

function start(name, config) {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, config);
  const child = spawn(process.execPath, [cli, '-c', path], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  children.push(child);
  let output = '';
  const waiters = [];
  const onData = (d) => {
    output += d;
    for (const line of String(d).split('\n').filter(Boolean)) console.log(`  ${name} | ${line}`);
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return {
    waitFor: (pattern) =>
      new Promise((resolve) => {
        const check = () => {
          const m = output.match(pattern);
          if (m) resolve(m);
          return m;
        };
        if (!check()) waiters.push(check);
      }),
  };
}

// 1. The service the tunnel will reach: a small web server on 127.0.0.1.
const service = http.createServer((_req, res) => res.end('Hello from the far side of a Tox tunnel!\n'));
await new Promise((r) => service.listen(0, '127.0.0.1', r));
const servicePort = service.address().port;
step(`demo web service on 127.0.0.1:${servicePort}`);

// 2. The server's identity and its Tox ID (what a client needs).
const serverData = join(dir, 'server-data');
const serverId = spawnSync(process.execPath, [cli, 'print-id', '-d', serverData], { encoding: 'utf8' }).stdout.trim();
step(`server Tox ID: ${serverId}`);

// 3. The client's identity, and a rules file that lets exactly that client reach exactly the
// demo service (a server with no access configured admits nobody).
const clientData = join(dir, 'client-data');
const clientKey = spawnSync(process.execPath, [cli, 'print-id', '-d', clientData], { encoding: 'utf8' }).stdout.trim().slice(0, 64);
const rulesFile = join(dir, 'rules.yaml');
writeFileSync(rulesFile, `rules:\n  - friend: ${clientKey}\n    name: demo-client\n    allow:\n      - host: 127.0.0.1\n        ports: [${servicePort}]\n`);
step(`rules: client ${clientKey.slice(0, 8)}… may reach 127.0.0.1:${servicePort}, nothing else`);

// 4. The server: no bootstrap nodes, no LAN discovery.
const server = start(
  'server',
  `mode: server\ndata_dir: ${serverData}\ntox:\n  bootstrap_mode: none\n  udp_enabled: true\nserver:\n  rules_file: ${rulesFile}\n`,
);
const [, udpPort, dhtKey] = await server.waitFor(/UDP port (\d+), DHT key ([0-9A-F]{64})/);

// 5. The client: bootstraps from the server's node, forwards a local port to the service.
const client = start(
  'client',
  [
    'mode: client',
    `data_dir: ${clientData}`,
    'tox:',
    '  bootstrap_mode: none',
    '  bootstrap_nodes:',
    `    - { address: 127.0.0.1, port: ${udpPort}, public_key: ${dhtKey} }`,
    'client:',
    `  server_id: ${serverId}`,
    '  forwards:',
    `    - { local_port: 0, remote_host: 127.0.0.1, remote_port: ${servicePort} }`,
    '',
  ].join('\n'),
);
const [, localPort] = await client.waitFor(/forwarding 127\.0\.0\.1:(\d+) ->/);
step(`client listens on 127.0.0.1:${localPort}; waiting for the server to come online (about 10 s)…`);
await client.waitFor(/Friend connection status: Connected/);

// 6. One request through the tunnel.
const t = performance.now();
const body = await new Promise((resolve, reject) => {
  http.get({ host: '127.0.0.1', port: Number(localPort), path: '/' }, (res) => {
    let text = '';
    res.on('data', (d) => (text += d));
    res.on('end', () => resolve(text));
  }).on('error', reject);
});
step(`GET http://127.0.0.1:${localPort}/ through Tox (${(performance.now() - t).toFixed(1)} ms): ${body.trim()}`);
clearTimeout(deadline);
service.close();
await shutdown();
step('done: stopped the server and the client');
process.exit(body.includes('far side') ? 0 : 1);
