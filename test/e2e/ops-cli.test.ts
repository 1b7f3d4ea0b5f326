// SPDX-License-Identifier: GPL-3.0-or-later
// The operator's tool end to end, with the built CLI as real processes: a server (explicit
// rules file naming the client "alice", --metrics) and a client (YAML forwards written as -L
// strings, --bootstrap flag) through a native tox-bootstrapd; then every subcommand with -c,
// status and list for people, /metrics scraped before and after traffic and read with the
// reference parser, a closed stdout (EPIPE), `status --watch` quitting on q, SIGUSR2's dump,
// timestamped log lines, and print-id keeping what it prints.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Bootstrapd, startBootstrapd } from '../helpers/bootstrapd.ts';
import { CLI, type CliProcess, echo, echoRoundTrip, runCli, runCliSync, type Service, sha256, startService, testData } from '../helpers/tunnel-env.ts';

const P = { bootstrapUdp: 28101, bootstrapTcp: 28102, echo: 28111, forward: 28121, metrics: 28131, toxServer: 28141, toxClient: 28151 };
const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-ops-'));
let bootstrapd: Bootstrapd;
let echoService: Service;
let server: CliProcess;
let client: CliProcess;
let serverYaml: string;
let clientYaml: string;
let serverId: string;
let clientKey: string;
let clientId: string;

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const idIn = (text: string) => /[0-9A-F]{76}/.exec(text)?.[0];

function scrape(): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const request = get({ host: '127.0.0.1', port: P.metrics, path: '/metrics', timeout: 5000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (d) => (body += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    });
    request.on('error', reject);
    request.on('timeout', () => request.destroy(new Error('scrape timed out')));
  });
}

/** The samples of a scrape as the reference parser (prometheus_client) reads them. */
function parseMetrics(text: string): Array<[string, Record<string, string>, number]> {
  const script = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]))`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the reference parser rejected /metrics:\n${r.stderr}\n${text}`);
  return JSON.parse(r.stdout);
}
const sum = (samples: Array<[string, Record<string, string>, number]>, name: string, labels: Record<string, string> = {}) =>
  samples.filter(([n, l]) => n === name && Object.entries(labels).every(([k, v]) => l[k] === v)).reduce((total, [, , v]) => total + v, 0);

test.before(async () => {
  try {
    bootstrapd = await startBootstrapd(P.bootstrapUdp, P.bootstrapTcp);
    echoService = await startService(P.echo, echo);
    // print-id -c creates the identities in the configs' data_dirs (relative to the file).
    const tox = (port: number) => `tox:\n  udp_enabled: true\n  start_port: ${port}\n  end_port: ${port + 5}\n  bootstrap_mode: none\n`;
    clientYaml = file('client.yaml', `mode: client\ndata_dir: client-data\n${tox(P.toxClient)}`);
    const clientPrint = runCliSync(['print-id', '-c', clientYaml]);
    clientId = idIn(clientPrint.stdout)!;
    assert.ok(clientId, clientPrint.output);
    clientKey = runCliSync(['print-id', '--public-key', '-c', clientYaml]).stdout.trim();
    const rules = file('rules.yaml', `rules:\n  - friend: ${clientKey}\n    name: alice\n    allow:\n      - host: 127.0.0.1\n        ports: [${P.echo}]\n`);
    serverYaml = file(
      'server.yaml',
      `mode: server\ndata_dir: server-data\n${tox(P.toxServer)}  bootstrap_nodes:\n    - {address: 127.0.0.1, port: ${bootstrapd.udpPort}, public_key: "${bootstrapd.publicKey}"}\nserver:\n  rules_file: ${rules}\n`,
    );
    server = runCli(['-c', serverYaml, '--metrics', `127.0.0.1:${P.metrics}`]);
    serverId = (await server.waitForOutput(/Tox ID: ([0-9A-F]{76})/, 30_000, 'server start'))[1]!;
    // The client: forwards as -L writes them, its bootstrap node as a flag.
    writeFileSync(clientYaml, `mode: client\ndata_dir: client-data\n${tox(P.toxClient)}client:\n  server_id: ${serverId}\n  forwards: ["${P.forward}:127.0.0.1:${P.echo}"]\n`);
    client = runCli(['-c', clientYaml, '--bootstrap', `127.0.0.1:${bootstrapd.udpPort}:${bootstrapd.publicKey}`]);
    await client.waitForOutput(/forwarding [^\n]*28121/, 30_000, 'client listening');
    await client.waitForOutput(/Friend connection status: Connected/, 90_000, 'server online at the client');
  } catch (error) {
    console.error('setup failed:', error);
    throw error;
  }
});

test.after(async () => {
  for (const p of [client, server]) p?.signal('SIGTERM');
  for (const p of [client, server]) await p?.exited(10_000).catch(() => p.kill());
  await echoService?.close();
  bootstrapd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('print-id -c names the identity the running instances use (the config\'s data_dir)', () => {
  assert.is(idIn(runCliSync(['print-id', '-c', serverYaml]).stdout), serverId);
  assert.is(idIn(runCliSync(['print-id', '-c', clientYaml]).stdout), clientId);
  assert.match(client.output, new RegExp(`created a new Tox identity|Tox node up`));
  assert.is(clientKey, clientId.slice(0, 64), '--public-key is the first 64 hex characters');
});

test('/metrics: Prometheus text with the issue\'s names, loopback only, values rise with traffic', async () => {
  const before = await scrape();
  assert.is(before.status, 200);
  assert.match(before.type, /^text\/plain; version=0\.0\.4/);
  const a = parseMetrics(before.body);
  for (const name of ['toxtunnel_tox_connected', 'toxtunnel_friend_connected', 'toxtunnel_tunnels_open', 'toxtunnel_tunnels_opened_total', 'toxtunnel_bytes_total', 'toxtunnel_errors_total', 'toxtunnel_build_info']) {
    assert.ok(a.some(([n]) => n === name), `${name} in\n${before.body}`);
  }
  assert.ok(a.some(([n, l]) => n === 'toxtunnel_build_info' && l.runtime === 'node' && /^\d+\.\d+\.\d+/.test(l.version!)), 'build_info: version, runtime');
  assert.is(sum(a, 'toxtunnel_friend_connected', { friend: 'alice' }), 1, 'the client is online, named by the rules file');

  const data = testData(100_000, 7);
  assert.is(sha256(await echoRoundTrip(P.forward, data, 60_000)), sha256(data));
  const b = parseMetrics((await scrape()).body);
  assert.ok(sum(b, 'toxtunnel_tunnels_opened_total') >= sum(a, 'toxtunnel_tunnels_opened_total') + 1, 'tunnels_opened_total rose');
  // The server counts what the friend sent (in) and what went back (out): 100 kB each way.
  assert.ok(sum(b, 'toxtunnel_bytes_total', { friend: 'alice', direction: 'in' }) >= sum(a, 'toxtunnel_bytes_total', { friend: 'alice', direction: 'in' }) + 100_000);
  assert.ok(sum(b, 'toxtunnel_bytes_total', { friend: 'alice', direction: 'out' }) >= sum(a, 'toxtunnel_bytes_total', { friend: 'alice', direction: 'out' }) + 100_000);
  assert.is(sum(b, 'toxtunnel_tox_connected'), 1);
  const missing = await new Promise<number>((resolve, reject) => get({ host: '127.0.0.1', port: P.metrics, path: '/' }, (r) => (r.resume(), resolve(r.statusCode ?? 0))).on('error', reject));
  assert.is(missing, 404);
});

test('status -c: uptime, network, the friend by name and key, traffic in human units', async () => {
  // Idle for a few seconds: the keepalive PING/PONG then measures the round trip.
  await new Promise((r) => setTimeout(r, 3500));
  const s = runCliSync(['status', '-c', serverYaml]);
  assert.is(s.status, 0, s.output);
  assert.match(s.stdout, /^toxtunnel: +server, up (\d+[dhms] ?)+$/m);
  assert.match(s.stdout, /^Tox network: +connected, (direct \(UDP\)|through a TCP relay)$/m);
  assert.match(s.stdout, new RegExp(`^friends: +alice \\(${clientKey.slice(0, 8)}…\\): online, [^\\n]*for (\\d+[dhms] ?)+, RTT \\d+ ms, \\d+ tunnel\\(s\\), in [\\d.]+ (KiB|MiB) \\([^)]+/s\\), out [\\d.]+ (KiB|MiB)`, 'm'));
  assert.match(s.stdout, /^tunnels: +\d+ open, [1-9]\d* opened since start, 0 error\(s\)$/m);
  const c = runCliSync(['status', '-c', clientYaml]);
  assert.is(c.status, 0, c.output);
  assert.match(c.stdout, new RegExp(`^server: +server \\(${serverId.slice(0, 8)}…\\): online`, 'm'));
  assert.match(c.stdout, /^ +extensions: half-close, reverse tunnels$/m);
  const json = JSON.parse(runCliSync(['status', '--json', '-c', clientYaml]).stdout) as Record<string, unknown>;
  assert.is(typeof json.uptimeSeconds, 'number', '--json keeps raw numbers');
  assert.is(typeof json.bytesIn, 'number');
});

test('list -c and close -c reach the instance of the config; list shows the friend\'s name', async () => {
  // A connection kept open, so there is a tunnel to list and close.
  const net = await import('node:net');
  const socket = net.connect(P.forward, '127.0.0.1');
  socket.on('error', () => {});
  socket.write('x');
  await new Promise<void>((resolve) => socket.once('data', () => resolve()));
  const l = runCliSync(['list', '-c', serverYaml]);
  assert.is(l.status, 0, l.output);
  const [header, ...rows] = l.stdout.trimEnd().split('\n');
  assert.match(header!, /^ID +FRIEND +KIND +STATE +TARGET +IN +OUT +OPEN FOR$/);
  const row = rows.find((r) => r.includes(`127.0.0.1:${P.echo}`));
  assert.ok(row, l.stdout);
  assert.match(row!, new RegExp(`alice \\(${clientKey.slice(0, 8)}…\\) +inbound +open`));
  assert.is(row!.length, header!.length, 'the last column (right-aligned) ends where the header does');
  const id = row!.split(/\s+/)[0]!;
  const closed = runCliSync(['close', id, '-c', serverYaml]);
  assert.is(closed.status, 0, closed.output);
  assert.is(closed.stdout.trim(), `closed tunnel ${id}`);
  socket.destroy();
  assert.is(runCliSync(['close', id, '-c', serverYaml]).status, 1, 'a second close finds nothing');
});

test('a closed stdout ends status quietly (no EPIPE, no stack trace)', async () => {
  for (const args of [['status', '-c', serverYaml], ['list', '-c', serverYaml], ['--help']]) {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader went away before the first line
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.is(stderr, '', `${args.join(' ')}: ${stderr}`);
    assert.is(code, 0, args.join(' '));
  }
  const piped = spawnSync('sh', ['-c', `node ${CLI} status -c ${serverYaml} | head -1`], { encoding: 'utf8' });
  assert.match(piped.stdout, /^toxtunnel: +server/);
  assert.is(piped.stderr, '');
});

test('status --watch: a live view with per-tunnel rates, quits on q', async () => {
  const watch = runCli(['status', '--watch', '-c', serverYaml], { stdin: 'pipe' });
  const first = await watch.waitForOutput(/refreshed every 1 s; q or Ctrl-C quits/, 10_000, 'a frame');
  assert.ok(first);
  assert.match(watch.output, /^friends: +alice/m);
  // A transfer while watching, on a connection kept open until the view has shown it (a fast
  // path moves 2 MB in well under the 1 s refresh): the tunnel row shows a rate and a sparkline.
  const data = testData(2_000_000, 9);
  const socket = net.connect(P.forward, '127.0.0.1');
  const chunks: Buffer[] = [];
  let received = 0;
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    received += c.length;
  });
  socket.on('error', () => {});
  socket.write(data);
  try {
    await watch.waitForOutput(/^\S+ +alice \(\w{8}…\) +127\.0\.0\.1:28111 +[\d.]+ \w?i?B +[\d.]+ \w?i?B +[\d.]+ \w?i?B\/s +[▁▂▃▄▅▆▇█]+$/m, 20_000, 'a tunnel row with rate and sparkline');
    for (let waited = 0; received < data.length && waited < 60_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
    assert.is(sha256(Buffer.concat(chunks)), sha256(data));
  } finally {
    socket.destroy();
  }
  watch.child.stdin!.write('q');
  assert.is(await watch.exited(5000), 0);
  assert.not.match(watch.output, /Error|    at /);
  // `top` is the same view.
  const top = runCli(['top', '-c', serverYaml], { stdin: 'pipe' });
  await top.waitForOutput(/refreshed every 1 s; q or Ctrl-C quits/, 10_000, 'a frame of top');
  top.child.stdin!.write('q');
  assert.is(await top.exited(5000), 0);
});

test('logs: local timestamps to the ms on every line, no blank lines; SIGUSR2 dump names the friend', async () => {
  server.signal('SIGUSR2');
  await server.waitForOutput(/state:\n    Tox network: /, 5000, 'the SIGUSR2 dump');
  const lines = server.output.split('\n').slice(0, -1);
  assert.not.ok(lines.some((l) => l.trim() === ''), 'no blank lines');
  // Every entry starts with the time; the lines of a multi-line entry are indented under it.
  const entries = lines.filter((l) => !l.startsWith('    '));
  assert.ok(entries.length >= 5, server.output);
  for (const line of entries) assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} (INFO |WARN |ERROR|DEBUG) /, line);
  assert.match(server.output, new RegExp(`INFO  Friend connection status: Connected \\((UDP|TCP)\\) \\(alice, friend \\d+, ${clientKey.slice(0, 8)}…\\)`), 'the log names the friend');
  assert.match(client.output, new RegExp(`Friend connection status: Connected \\((UDP|TCP)\\) \\(server, friend \\d+, ${serverId.slice(0, 8)}…\\)`));
  assert.match(server.output, new RegExp(`    friend alice \\(${clientKey.slice(0, 8)}…, friend \\d+\\) Connected \\((UDP|TCP)\\)`));
});

test('print-id on an empty tox_save.dat saves a new identity (0600) and prints that one, every time', () => {
  const data = join(dir, 'empty-id');
  mkdirSync(data);
  writeFileSync(join(data, 'tox_save.dat'), '');
  const first = runCliSync(['print-id', '-d', data]);
  const second = runCliSync(['print-id', '-d', data]);
  assert.is(first.status, 0, first.output);
  assert.ok(idIn(first.stdout));
  assert.is(idIn(second.stdout), idIn(first.stdout));
  assert.is(statSync(join(data, 'tox_save.dat')).mode & 0o777, 0o600);
  assert.ok(statSync(join(data, 'tox_save.dat')).size > 0);
  assert.match(first.stderr, /created a new Tox identity/);
  assert.is(second.stderr, '');
});

test('errors: a sentence with the fix, exit 2 for usage/config, never a stack trace', () => {
  const cases: Array<[string[], number, RegExp]> = [
    [['-c', join(dir, 'nope.yaml')], 2, /cannot read config file .*nope\.yaml: no such file or directory \(check the path given to -c/],
    [['print-id', '-c', dir], 2, /: it is a directory, not a file/],
    [['-c', file('norules.yaml', `mode: server\ndata_dir: nr\ntox:\n  bootstrap_mode: none\nserver:\n  rules_file: missing-rules.yaml\n`)], 2, /cannot read rules file .*missing-rules\.yaml: no such file or directory/],
    [['-m', 'client', '--server-id', clientKey, '-L', '1:h:2'], 2, /this is a public key \(64 hex characters\), not a whole Tox ID/],
    [['init', 'ssh', '-p', '2200', '-o', join(dir, 'init-p'), '--yes'], 2, /init has no -p: the service port is --port/],
    [['print-id', '-L', '1:h:2'], 2, /unknown option -L for toxtunnel print-id \(see toxtunnel print-id --help\)/],
    // A long flag is named as typed (cac would say --serverId), with the closest real one.
    [['-m', 'client', '--serverid', clientKey], 2, /unknown option --serverid for the server\/client run — did you mean "--server-id"\? \(see toxtunnel --help\)/],
    [['status', '--jsn'], 2, /unknown option --jsn for toxtunnel status — did you mean "--json"\?/],
    [['-m', 'server', '-d', join(dir, 'm'), '--metrics', ':9464'], 2, /would publish the metrics/],
    [['bogus'], 2, /unknown command "bogus"/],
    [['close', '-c', serverYaml], 2, /close needs the tunnel to close: toxtunnel close ID/],
    [['-L'], 2, /-L, --local needs a value/],
    [['list', 'extra'], 2, /unexpected argument extra \(see toxtunnel list --help\)/],
    [[], 2, /no mode: use -m server or -m client .*`toxtunnel init` writes ready configs/],
    [['status', '-d', join(dir, 'nothing-runs')], 1, /no toxtunnel is running with data dir .*nothing-runs/],
    [['-c', serverYaml, '-d', join(dir, 'second-server'), '--metrics', `127.0.0.1:${P.echo}`], 1, /cannot serve metrics on 127\.0\.0\.1:28111: the address is in use \(another program listens there\) \(choose another port/],
  ];
  for (const [args, code, message] of cases) {
    const r = runCliSync(args, {}, dir);
    assert.is(r.status, code, `${args.join(' ')}: ${r.output}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.not.match(r.output, /\n\s+at /, `${args.join(' ')}: no stack trace`);
  }
  // print-id never prints an ID it could not keep.
  const unwritable = runCliSync(['print-id', '-d', join(serverYaml, 'sub')], {}, dir);
  assert.is(unwritable.status, 1, unwritable.output);
  assert.is(unwritable.stdout, '');
  assert.match(unwritable.stderr, /cannot (read|write|create the data dir) .*server\.yaml\/sub[^:]*: a part of the path is not a directory/);
  const ok = runCliSync(['init', 'ssh', '--port', '2200', '-o', join(dir, 'init-port'), '--yes'], {}, dir);
  assert.is(ok.status, 0, ok.output);
});

test.run();
