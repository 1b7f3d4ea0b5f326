// SPDX-License-Identifier: GPL-3.0-or-later
// `toxtunnel doctor` (runDoctor, in process) against a real deployment on loopback: a native
// tox-bootstrapd and a toxtunnel server process (the built CLI) with a rules file. A healthy
// client config passes every check (probe ACKed by the server); a forward the rules deny
// fails the probe with the server's "Access denied"; a config error, a 0644 identity, a
// local port in use and an over-broad rules file are each reported with their fix; a client
// already running with the data dir is examined through its control socket.
// Ports: 29800-29899 only; every node has its own tox.start_port range. TCP ports we listen
// on are picked free from a small sub-range: 398xx is inside Linux's ephemeral range, so any
// outgoing connection on the machine may hold one of them for a while.
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { saveFilePath, writeSavedata } from '../../src/app/identity.ts';
import { type CheckResult, runDoctor } from '../../src/doctor/doctor.ts';
import { ToxNode } from '../../src/tox/tox-node.ts';
import { type Bootstrapd, startBootstrapd } from '../helpers/bootstrapd.ts';
import { type CliProcess, echo, runCli, type Service, startService } from '../helpers/tunnel-env.ts';

const P = {
  bootstrapUdp: 29800,
  bootstrapTcp: 29801,
  /** Sub-ranges for TCP listeners (echo service; forwards and the busy port). */
  echo: [29810, 29819],
  local: [29830, 29839],
  server: 29820,
  toxHealthy: 29840,
  toxDenied: 29843,
  toxMode: 29846,
  toxRules: 29849,
  toxRunning: 29852,
};
const TIMEOUT = '60';

const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-doctor-e2e-'));
// One client identity per scenario that talks to the server: an identity used by a node that
// just stopped can take the server ~30 s to see again (it waits for the old connection to time out).
const clientData = join(dir, 'client-data');
const deniedData = join(dir, 'denied-data');
const runningData = join(dir, 'running-data');
let bootstrapd: Bootstrapd | undefined;
let service: Service | undefined;
let server: CliProcess | undefined;
let serverId = '';
let clientKey = '';
let deniedKey = '';
let echoPort = 0;

/** The first port of [from, to] that 127.0.0.1 can listen on now. */
async function freePort([from, to]: number[]): Promise<number> {
  for (let port = from!; port <= to!; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port in ${from}..${to}`);
}
const processes: CliProcess[] = [];

/** A new identity in dataDir (a node that opens no socket); its Tox ID and public key. */
async function makeIdentity(dataDir: string): Promise<{ toxId: string; publicKey: string }> {
  const node = await ToxNode.create({ udp: false, tcpPort: 0, localDiscovery: false });
  try {
    writeSavedata(dataDir, node.savedata());
    return { toxId: node.address.text, publicKey: node.publicKey };
  } finally {
    node.close();
  }
}

function file(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const tox = (startPort: number) => [
  'tox:',
  `  start_port: ${startPort}`,
  `  end_port: ${startPort + 2}`,
  '  bootstrap_mode: none',
  '  bootstrap_nodes:',
  '    - address: 127.0.0.1',
  `      port: ${bootstrapd!.udpPort}`,
  `      public_key: ${bootstrapd!.publicKey}`,
  `      tcp_ports: [${bootstrapd!.tcpPort}]`,
];

function clientConfig(name: string, startPort: number, localPort: number, targetPort: number, dataDir = clientData): string {
  return file(name, [
    'mode: client',
    `data_dir: ${dataDir}`,
    ...tox(startPort),
    'client:',
    `  server_id: ${serverId}`,
    '  forwards:',
    `    - local_port: ${localPort}`,
    '      remote_host: 127.0.0.1',
    `      remote_port: ${targetPort}`,
  ]);
}

/** runDoctor in process; the printed lines, the exit code, and (with --json) the checks. */
async function doctor(flags: Parameters<typeof runDoctor>[0]): Promise<{ code: number; lines: string[]; checks: CheckResult[] }> {
  const lines: string[] = [];
  const code = await runDoctor({ timeout: TIMEOUT, ...flags }, (line) => lines.push(line), { env: {} });
  const checks = flags.json ? (JSON.parse(lines.join('\n')) as CheckResult[]) : [];
  return { code, lines, checks };
}

const named = (checks: CheckResult[], name: string) => {
  const found = checks.find((c) => c.name === name);
  assert.ok(found, `no check "${name}" in ${JSON.stringify(checks.map((c) => c.name))}`);
  return found!;
};
const show = (checks: CheckResult[]) => JSON.stringify(checks, null, 2);

test.before(async () => {
  try {
    bootstrapd = await startBootstrapd(P.bootstrapUdp, P.bootstrapTcp);
    echoPort = await freePort(P.echo);
    service = await startService(echoPort, echo);
    clientKey = (await makeIdentity(clientData)).publicKey;
    deniedKey = (await makeIdentity(deniedData)).publicKey;
    const runningKey = (await makeIdentity(runningData)).publicKey;
    const serverData = join(dir, 'server-data');
    serverId = (await makeIdentity(serverData)).toxId;
    const rules = file('rules.yaml', [
      'rules:',
      ...[clientKey, deniedKey, runningKey].flatMap((key) => [`  - friend_pk: ${key}`, '    allow:', '      - host: 127.0.0.1', `        ports: [${echoPort}]`]),
    ]);
    const config = file('server.yaml', ['mode: server', `data_dir: ${serverData}`, ...tox(P.server), 'server:', `  rules_file: ${rules}`]);
    server = runCli(['-c', config]);
    processes.push(server);
    await server.waitForOutput(/Tox ID: [0-9A-F]{76}/, 30_000, 'server start');
  } catch (error) {
    console.error('setup failed:', error); // uvu does not print a failing hook's error
    throw error;
  }
});

test.after(async () => {
  for (const p of processes) p.signal('SIGTERM');
  await Promise.all(processes.map((p) => p.exited(10_000).catch(() => p.kill())));
  bootstrapd?.stop();
  await service?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('(a) a healthy client config: every check passes, the probe is ACKed, JSON out, exit 0, no log lines, no file changed', async () => {
  const local = await freePort(P.local);
  const config = clientConfig('healthy.yaml', P.toxHealthy, local, echoPort);
  const before = readFileSync(saveFilePath(clientData));
  const printed: string[] = [];
  const writes = { out: process.stdout.write, err: process.stderr.write };
  const capture = (chunk: unknown) => {
    printed.push(String(chunk));
    return true;
  };
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  let result;
  try {
    result = await doctor({ config, json: true });
  } finally {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
  }
  const { code, checks } = result;
  assert.is(printed.join(''), '', 'the instance logged nothing');
  for (const c of checks) assert.is(c.status, 'pass', `${c.name}: ${c.detail}\n${show(checks)}`);
  assert.equal(
    checks.map((c) => c.name),
    ['runtime', 'toxcore', 'config', 'data dir', 'identity', `local port 127.0.0.1:${local}`, 'tox network', 'server online', `tunnel 127.0.0.1:${echoPort}`],
  );
  assert.match(named(checks, `tunnel 127.0.0.1:${echoPort}`).detail, /ACK/);
  assert.is(code, 0);
  // The probe really went through the server to the service.
  await server!.waitForOutput(new RegExp(`tunnel \\d+ open: friend \\d+ \\([^)]*\\) -> 127\\.0\\.0\\.1:${echoPort}`), 10_000, 'the server opening the probe tunnel');
  assert.ok(service!.connections >= 1, 'the echo service saw the probe');
  // Doctor worked on a copy: the identity file is untouched, the forward port is not held.
  assert.ok(readFileSync(saveFilePath(clientData)).equals(before), "tox_save.dat unchanged");
  assert.is(statSync(saveFilePath(clientData)).mode & 0o777, 0o600);
});

test('(b) a forward the rules deny: the probe fails with "Access denied" and a fix naming the rules file, exit 1', async () => {
  const denied = echoPort + 1; // the rules allow only echoPort
  const config = clientConfig('denied.yaml', P.toxDenied, await freePort(P.local), denied, deniedData);
  const { code, lines } = await doctor({ config });
  const text = lines.join('\n');
  const at = lines.findIndex((l) => l.startsWith(`✗ tunnel 127.0.0.1:${denied}:`));
  assert.ok(at >= 0, text);
  assert.match(lines[at]!, /Access denied/);
  assert.match(lines[at + 1]!, /^ {4}fix: .*rules file/);
  assert.match(text, new RegExp(`friend_pk: ${deniedKey}`), 'the fix names our public key');
  assert.match(text, /✓ server online:/);
  assert.is(code, 1);
});

test('(c) an unknown key in the config: the config check fails naming the line, later checks are skipped', async () => {
  const config = file('typo.yaml', ['mode: client', `data_dir: ${clientData}`, 'tox:', '  start_prot: 29850', 'client:', `  server_id: ${serverId}`]);
  const { code, checks } = await doctor({ config, json: true });
  const check = named(checks, 'config');
  assert.is(check.status, 'fail');
  assert.match(check.detail, `${config}:4:`);
  assert.match(check.detail, /start_prot.*did you mean "start_port"/);
  assert.match(check.fix ?? '', /line 4/);
  const after = checks.slice(checks.indexOf(check) + 1);
  assert.ok(after.length >= 4, show(checks));
  for (const c of after) assert.is(c.status, 'skip', show(checks));
  assert.ok(after.some((c) => c.name === 'tox network'));
  assert.is(code, 1);
});

test('(d) an identity file with mode 0644: a warning with the chmod fix; doctor changes nothing', async () => {
  const data = join(dir, 'mode-data');
  await makeIdentity(data);
  const save = saveFilePath(data);
  chmodSync(save, 0o644);
  const config = file('mode.yaml', ['mode: server', `data_dir: ${data}`, ...tox(P.toxMode)]);
  const { code, checks } = await doctor({ config, json: true });
  const identity = named(checks, 'identity');
  assert.ok(identity.status === 'warn' || identity.status === 'fail', show(checks));
  assert.match(identity.detail, /0644/);
  assert.is(identity.fix, `chmod 600 ${save}`);
  assert.is(named(checks, 'tox network').status, 'pass', show(checks));
  assert.is(code, identity.status === 'fail' ? 1 : 0);
  assert.is(statSync(save).mode & 0o777, 0o644, 'doctor only reports');
});

test('(e) a local forward port in use: the port check fails naming it, the network is not tried', async () => {
  const busyPort = await freePort(P.local);
  const busy = net.createServer();
  await new Promise<void>((resolve, reject) => {
    busy.once('error', reject);
    busy.listen(busyPort, '127.0.0.1', () => resolve());
  });
  try {
    const config = clientConfig('busy.yaml', P.toxHealthy, busyPort, echoPort);
    const { code, checks } = await doctor({ config, json: true });
    const port = named(checks, `local port 127.0.0.1:${busyPort}`);
    assert.is(port.status, 'fail');
    assert.match(port.detail, new RegExp(`${busyPort}.*in use`));
    assert.match(port.fix ?? '', String(busyPort));
    assert.is(named(checks, 'tox network').status, 'skip');
    assert.is(code, 1);
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }
});

test('(f) a server rules file with host "*": a lint warning naming the line; expired and unknown friends too', async () => {
  const data = join(dir, 'rules-data');
  await makeIdentity(data);
  const stranger = 'AB'.repeat(32);
  const rules = file('broad-rules.yaml', [
    'rules:',
    `  - friend_pk: ${clientKey}`,
    '    allow:',
    '      - host: "*"',
    '        ports: [22]',
    '      - host: 127.0.0.1',
    '        ports: [22]',
    `  - friend: ${stranger}`,
    '    allow:',
    '      - host: 127.0.0.1',
    '        ports: [80]',
    '    expires: 2020-01-01T00:00:00Z',
  ]);
  const config = file('broad.yaml', ['mode: server', `data_dir: ${data}`, ...tox(P.toxRules), 'server:', `  rules_file: ${rules}`]);
  const { code, checks } = await doctor({ config, json: true });
  assert.is(named(checks, 'rules').status, 'pass', show(checks));
  const lint = checks.filter((c) => c.name === 'rules lint');
  const broad = lint.filter((c) => /host "\*"/.test(c.detail));
  assert.is(broad.length, 1, show(checks));
  assert.is(broad[0]!.status, 'warn');
  assert.match(broad[0]!.detail, `${rules}:4:`);
  assert.match(broad[0]!.detail, /any host/);
  assert.ok(broad[0]!.fix);
  assert.ok(!lint.some((c) => /host "127\.0\.0\.1"/.test(c.detail)), 'a named host with listed ports is not broad');
  assert.ok(lint.some((c) => c.status === 'warn' && /expired/.test(c.detail) && c.detail.includes(`${rules}:8:`)), show(lint));
  assert.ok(lint.some((c) => c.status === 'warn' && c.detail.includes(clientKey) && /not in the server's friend list/.test(c.detail)), show(lint));
  assert.is(code, 0, 'warnings only');
});

test('(g) a client already running with the data dir: reported, and its status and forward port are used', async () => {
  const local = await freePort(P.local);
  const config = clientConfig('running.yaml', P.toxRunning, local, echoPort, runningData);
  const client = runCli(['-c', config]);
  processes.push(client);
  try {
    await client.waitForOutput(/Friend connection status: Connected \((UDP|TCP)\)/, 90_000, 'the running client reaching the server');
    const { code, checks } = await doctor({ config, json: true });
    assert.is(named(checks, 'running instance').status, 'pass', show(checks));
    assert.match(named(checks, `local port 127.0.0.1:${local}`).detail, /held by the running toxtunnel/);
    assert.match(named(checks, 'tox network').detail, /running toxtunnel/);
    assert.is(named(checks, 'server online').status, 'pass', show(checks));
    const probe = named(checks, `tunnel 127.0.0.1:${echoPort}`);
    assert.is(probe.status, 'pass', show(checks));
    assert.match(probe.detail, /running toxtunnel/);
    assert.is(code, 0);
  } finally {
    client.signal('SIGTERM');
    await client.exited(10_000).catch(() => client.kill());
  }
});

test.run();
