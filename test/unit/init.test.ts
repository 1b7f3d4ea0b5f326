// SPDX-License-Identifier: GPL-3.0-or-later
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/config/config.ts';
import { parseHostPattern } from '../../src/config/host-pattern.ts';
import { loadRules, parseRules } from '../../src/config/rules.ts';
import { isToxtunnelError } from '../../src/errors.ts';
import { runInit } from '../../src/init/init-command.ts';
import { CLIENT_KEY_PLACEHOLDER, SERVER_ID_PLACEHOLDER, yamlString } from '../../src/init/render.ts';
import { planInit, SCENARIOS } from '../../src/init/scenarios.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';

const root = mkdtempSync(join(tmpdir(), 'toxtunnel-init-'));
let dirCount = 0;
const freshDir = () => join(root, `out-${++dirCount}`);

const CLIENT_ID = makeToxId(Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 3) & 0xff), 0x01020304);
const CLIENT_KEY = CLIENT_ID.publicKeyHex;
const SERVER_ID = makeToxId(Uint8Array.from({ length: 32 }, (_, i) => (i * 53 + 101) & 0xff), 0xcafe).text;
const OTHER_KEY = 'F'.repeat(64);

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += String(chunk);
    callback();
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  dir: string;
}

/** runInit without a terminal (flags only). */
async function init(args: string[], flags: Record<string, string | boolean | undefined>, dir = freshDir()): Promise<Run> {
  const stdout = new Sink();
  const stderr = new Sink();
  const code = await runInit(args, { out: dir, ...flags }, { stdin: new PassThrough(), stdout, stderr, isTTY: false });
  return { code, stdout: stdout.text, stderr: stderr.text, dir };
}

/** runInit as on a terminal, answering with `answers` (one per line). */
async function interactive(args: string[], flags: Record<string, string | boolean | undefined>, answers: string[]): Promise<Run & { dir: string }> {
  const stdin = new PassThrough();
  stdin.end(answers.map((a) => `${a}\n`).join(''));
  const stdout = new Sink();
  const stderr = new Sink();
  const code = await runInit(args, flags, { stdin, stdout, stderr, isTTY: true });
  return { code, stdout: stdout.text, stderr: stderr.text, dir: String(flags.out ?? '') };
}

const keys = { 'client-key': CLIENT_KEY, 'server-id': SERVER_ID };
const mode = (path: string) => statSync(path).mode & 0o777;

function failure(run: () => unknown): { code: string; message: string } {
  try {
    run();
  } catch (error) {
    assert.ok(isToxtunnelError(error), String(error));
    return error as never;
  }
  throw new Error('did not throw');
}

/** Loads the three files with the project's loaders. */
function load(dir: string) {
  const server = resolveConfig({ config: join(dir, 'server.yaml') }, {});
  const client = resolveConfig({ config: join(dir, 'client.yaml') }, {});
  const rules = loadRules(join(dir, 'rules.yaml'));
  return { server, client, rules };
}

/** What each scenario must allow and forward by default (written out, not derived). */
const EXPECTED: Record<string, { args: Record<string, string>; ports: number[]; locals: number[]; temporary?: boolean }> = {
  ssh: { args: {}, ports: [22], locals: [2222] },
  rdp: { args: {}, ports: [3389], locals: [3389] },
  vnc: { args: {}, ports: [5900], locals: [5900] },
  postgres: { args: {}, ports: [5432], locals: [5432] },
  mysql: { args: {}, ports: [3306], locals: [3306] },
  redis: { args: {}, ports: [6379], locals: [6379] },
  mongodb: { args: {}, ports: [27017], locals: [27017] },
  web: { args: { port: '443' }, ports: [443], locals: [10443] },
  nas: { args: {}, ports: [445, 5001], locals: [10445, 5001] },
  contractor: { args: {}, ports: [22], locals: [2222], temporary: true },
};

test('the expectations cover every scenario', () => {
  assert.equal(Object.keys(EXPECTED).sort(), SCENARIOS.map((s) => s.name).sort());
});

for (const [scenario, expected] of Object.entries(EXPECTED)) {
  test(`${scenario}: the files load with the real loaders and allow exactly what was asked`, async () => {
    const before = Date.now();
    const run = await init([scenario], { ...keys, ...expected.args });
    assert.is(run.code, 0, run.stderr);
    assert.is(run.stderr, '', 'no warnings for a narrow rule');
    assert.equal(readdirSync(run.dir).sort(), ['client.yaml', 'rules.yaml', 'server.yaml']);
    const { server, client, rules } = load(run.dir);

    assert.is(server.mode, 'server');
    assert.is(server.rulesFile, join(run.dir, 'rules.yaml'));
    assert.is(server.bootstrapMode, 'auto');
    assert.is(client.mode, 'client');
    assert.is(client.bootstrapMode, 'auto');
    assert.is(client.serverId, SERVER_ID);
    assert.equal(
      client.forwards,
      expected.ports.map((p, i) => ({ bind: '127.0.0.1', localPort: expected.locals[i], remoteHost: '127.0.0.1', remotePort: p })),
    );

    assert.is(rules.rules.length, 1);
    assert.is(rules.rules[0]!.friend, CLIENT_KEY);
    assert.ok(rules.admits(CLIENT_KEY));
    assert.not.ok(rules.admits(OTHER_KEY), 'another friend has no rule');
    for (const port of expected.ports) {
      assert.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', port).allowed, `127.0.0.1:${port} allowed`);
      assert.not.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', port + 1).allowed, `neighbour port ${port + 1} denied`);
      assert.not.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', port - 1).allowed, `neighbour port ${port - 1} denied`);
      assert.not.ok(rules.decideHost(CLIENT_KEY, '10.0.0.1', port).allowed, 'another host denied');
      assert.not.ok(rules.decideHost(CLIENT_KEY, '192.168.1.1', port).allowed, 'a LAN host denied');
      assert.not.ok(rules.decideHost(OTHER_KEY, '127.0.0.1', port).allowed, 'another friend denied');
    }
    // Every forward of the client is one the rules allow.
    for (const f of client.forwards) assert.ok(rules.decideHost(CLIENT_KEY, f.remoteHost, f.remotePort).allowed);

    const rule = rules.rules[0]!;
    if (expected.temporary) {
      assert.ok(rule.expires, 'temporary access expires');
      const eightHours = 8 * 3600_000;
      assert.ok(rule.expires.getTime() >= before + eightHours && rule.expires.getTime() <= Date.now() + eightHours + 1000, rule.expires.toISOString());
      assert.ok(rules.admits(CLIENT_KEY, new Date(rule.expires.getTime() - 1000)));
      assert.not.ok(rules.admits(CLIENT_KEY, new Date(rule.expires.getTime() + 1000)), 'gone after the expiry');
      assert.not.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', expected.ports[0]!, new Date(rule.expires.getTime() + 1000)).allowed);
      assert.match(run.stdout, /kill -HUP/);
      assert.match(run.stdout, /delete the rule/);
      assert.match(run.stdout, /within a second/);
    } else {
      assert.is(rule.expires, undefined);
      assert.not.match(run.stdout, /kill -HUP/);
    }
    assert.is(mode(join(run.dir, 'rules.yaml')), 0o600);
    assert.is(mode(join(run.dir, 'server.yaml')), 0o644);
    assert.is(mode(join(run.dir, 'client.yaml')), 0o644);
  });
}

test('every generated line is explained by a comment', async () => {
  for (const scenario of Object.keys(EXPECTED)) {
    const plan = planInit({ scenario, ...EXPECTED[scenario]!.args, clientKey: CLIENT_KEY, serverId: SERVER_ID });
    for (const file of plan.files) {
      for (const line of file.text.split('\n')) {
        if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
        assert.ok(/\s# \S/.test(line), `${scenario} ${file.name}: no comment on ${JSON.stringify(line)}`);
      }
    }
  }
});

test('web needs its port (80 or 443); both are possible', async () => {
  const none = await init(['web'], keys);
  assert.is(none.code, 2);
  assert.match(none.stderr, /--port 80 or --port 443/);
  assert.not.ok(existsSync(none.dir), 'nothing written');
  const both = await init(['web'], { ...keys, ports: '80,443' });
  assert.is(both.code, 0, both.stderr);
  const { client, rules } = load(both.dir);
  assert.equal(client.forwards.map((f) => [f.localPort, f.remotePort]), [[10080, 80], [10443, 443]]);
  assert.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', 80).allowed);
  assert.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', 443).allowed);
  assert.not.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', 8080).allowed);
});

test('nas: services chosen by name; --local-port per port', async () => {
  const run = await init(['nas'], { ...keys, ports: 'smb,ssh,webui', 'local-port': '1445,2200,5000' });
  assert.is(run.code, 0, run.stderr);
  const { client, rules } = load(run.dir);
  assert.equal(client.forwards.map((f) => [f.localPort, f.remotePort]), [[1445, 445], [2200, 22], [5000, 5000]]);
  for (const p of [445, 22, 5000]) assert.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', p).allowed);
  for (const p of [5001, 873, 139]) assert.not.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', p).allowed, `port ${p}`);
  const wrongCount = await init(['nas'], { ...keys, ports: 'smb,ssh', 'local-port': '1445' });
  assert.is(wrongCount.code, 2);
  assert.match(wrongCount.stderr, /--local-port: give one local port per service port/);
  const unknown = await init(['nas'], { ...keys, ports: 'smb,ftp' });
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /"ftp" is neither a port number nor a known service/);
});

test('--local-port and --port override the defaults', async () => {
  const run = await init(['ssh'], { ...keys, port: '2022', 'local-port': '2200' });
  assert.is(run.code, 0, run.stderr);
  const { client, rules } = load(run.dir);
  assert.equal(client.forwards, [{ bind: '127.0.0.1', localPort: 2200, remoteHost: '127.0.0.1', remotePort: 2022 }]);
  assert.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', 2022).allowed);
  assert.not.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', 22).allowed, 'the default port is not allowed as well');
  assert.match(run.stdout, /SSH: ssh -p 2200 USER@127\.0\.0\.1/, 'the hint knows it is still ssh');
  const bad = await init(['ssh'], { ...keys, 'local-port': '70000' });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--local-port: "70000" is not a port/);
});

test('an internal host only when named, and then exactly that host', async () => {
  const run = await init(['postgres'], { ...keys, host: '192.168.1.20' });
  assert.is(run.code, 0, run.stderr);
  assert.is(run.stderr, '');
  const { client, rules } = load(run.dir);
  assert.equal(client.forwards, [{ bind: '127.0.0.1', localPort: 5432, remoteHost: '192.168.1.20', remotePort: 5432 }]);
  assert.ok(rules.decideHost(CLIENT_KEY, '192.168.1.20', 5432).allowed);
  assert.not.ok(rules.decideHost(CLIENT_KEY, '192.168.1.21', 5432).allowed, 'a neighbour host');
  assert.not.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', 5432).allowed, 'the server itself was not asked for');
  assert.not.ok(rules.decideHost(CLIENT_KEY, '192.168.1.20', 5433).allowed);
  // IPv6 and names that YAML would otherwise misread survive the round trip.
  const v6 = await init(['ssh'], { ...keys, host: '[::1]' });
  assert.is(v6.code, 0, v6.stderr);
  const loaded = load(v6.dir);
  assert.is(loaded.client.forwards[0]!.remoteHost, '::1');
  assert.ok(loaded.rules.decideHost(CLIENT_KEY, '[::1]', 22).allowed);
  // yamlString quotes what YAML would read as another type: each pattern arrives as written.
  for (const s of ['::1', '*.lan', '1234', 'true', 'null', '0x1f', '1e3', 'db.internal', '127.0.0.1']) {
    assert.equal(parseRules(`rules:\n  - friend: ${yamlString(CLIENT_KEY)}\n    allow:\n      - host: ${yamlString(s)}\n`, 'r.yaml').rules[0]!.allow[0]!.host, parseHostPattern(s), s);
  }
});

const BROAD: Array<{ name: string; flags: Record<string, string>; allowed: Array<[string, number]>; denied: Array<[string, number]> }> = [
  { name: 'wildcard host', flags: { host: '*', port: '22' }, allowed: [['example.com', 22], ['10.1.2.3', 22]], denied: [['example.com', 23]] },
  { name: 'name pattern', flags: { host: '*.lan' }, allowed: [['nas.lan', 22]], denied: [['nas.lan', 23], ['127.0.0.1', 22]] },
  { name: 'subnet (CIDR)', flags: { host: '192.168.1.0/24' }, allowed: [['192.168.1.77', 22]], denied: [['192.168.2.1', 22], ['192.168.1.77', 80]] },
  { name: 'subnet pattern', flags: { host: '10.*' }, allowed: [['10.9.8.7', 22]], denied: [['11.0.0.1', 22]] },
  { name: 'every port', flags: { ports: 'all' }, allowed: [['127.0.0.1', 1], ['127.0.0.1', 65535]], denied: [['10.0.0.1', 22]] },
];

for (const broad of BROAD) {
  test(`broad (${broad.name}): refused without --allow-broad, warned with it`, async () => {
    const refused = await init(['ssh'], { ...keys, ...broad.flags });
    assert.is(refused.code, 2);
    assert.match(refused.stderr, /refusing to write a broad rule/);
    assert.match(refused.stderr, /Narrower: /);
    assert.match(refused.stderr, /--allow-broad/);
    assert.not.ok(existsSync(refused.dir), 'nothing written');
    assert.is(failure(() => planInit({ scenario: 'ssh', ...broad.flags })).code, 'INIT_BROAD_REFUSED');

    const allowed = await init(['ssh'], { ...keys, ...broad.flags, 'allow-broad': true });
    assert.is(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stderr, /warning: broad access/);
    assert.match(allowed.stderr, /Narrower: /);
    assert.ok(planInit({ scenario: 'ssh', ...broad.flags, allowBroad: true }).warnings.length > 0);
    const { client, rules } = load(allowed.dir);
    for (const [h, p] of broad.allowed) assert.ok(rules.decideHost(CLIENT_KEY, h, p).allowed, `${h}:${p} allowed`);
    for (const [h, p] of broad.denied) assert.not.ok(rules.decideHost(CLIENT_KEY, h, p).allowed, `${h}:${p} denied`);
    // A pattern has no single forward target: the client gets a local SOCKS5 proxy.
    if ((broad.flags.host ?? '').includes('*') || broad.flags.host?.includes('/') || broad.flags.ports === 'all') {
      assert.equal(client.socks, [{ bind: '127.0.0.1', port: 1080 }]);
    }
  });
}

test('any host on any port is refused even with --allow-broad', async () => {
  const run = await init(['ssh'], { ...keys, host: '*', ports: 'all', 'allow-broad': true });
  assert.is(run.code, 2);
  assert.match(run.stderr, /even with --allow-broad/);
  assert.not.ok(existsSync(run.dir));
  const cidr = await init(['ssh'], { ...keys, host: '0.0.0.0/0', ports: 'all', 'allow-broad': true });
  assert.is(cidr.code, 2, 'a /0 subnet is any host');
});

test('a subnet that is not on an octet boundary is explained, not guessed', async () => {
  const run = await init(['ssh'], { ...keys, host: '10.0.0.0/12', 'allow-broad': true });
  assert.is(run.code, 2);
  assert.match(run.stderr, /not by CIDR/);
});

test('placeholders: the files say REPLACE, fail to load with a clear message, and load once filled in', async () => {
  const run = await init(['ssh'], {});
  assert.is(run.code, 0, run.stderr);
  assert.match(run.stdout, new RegExp(CLIENT_KEY_PLACEHOLDER));
  assert.match(run.stdout, new RegExp(SERVER_ID_PLACEHOLDER));
  assert.match(run.stdout, /on the client run `toxtunnel print-id --public-key -c [^`]*client\.yaml`/);
  assert.match(run.stdout, /on the server run `toxtunnel print-id -c [^`]*server\.yaml`/);
  assert.match(run.stdout, /does not load/);
  const rulesPath = join(run.dir, 'rules.yaml');
  const clientPath = join(run.dir, 'client.yaml');
  const rulesText = readFileSync(rulesPath, 'utf8');
  const clientText = readFileSync(clientPath, 'utf8');
  assert.ok(rulesText.includes(`friend_pk: ${CLIENT_KEY_PLACEHOLDER}`));
  assert.ok(clientText.includes(`server_id: ${SERVER_ID_PLACEHOLDER}`));

  const rulesError = failure(() => loadRules(rulesPath));
  assert.is(rulesError.code, 'RULES_INVALID');
  assert.ok(rulesError.message.startsWith(`${rulesPath}:`), rulesError.message);
  assert.match(rulesError.message, /rules\[0\]\.friend_pk: this is still the placeholder REPLACE_WITH_CLIENT_PUBLIC_KEY that toxtunnel init wrote/);
  assert.match(rulesError.message, /replace it with the client's public key/);
  const clientError = failure(() => resolveConfig({ config: clientPath }, {}));
  assert.is(clientError.code, 'CONFIG_SERVER_ID_INVALID');
  const clientLines = clientText.split('\n');
  const serverIdLine = clientLines.findIndex((l) => l.includes(`server_id: ${SERVER_ID_PLACEHOLDER}`)) + 1;
  const serverIdColumn = clientLines[serverIdLine - 1]!.indexOf(SERVER_ID_PLACEHOLDER) + 1;
  assert.ok(clientError.message.includes(`${clientPath}:${serverIdLine}:${serverIdColumn}: client.server_id`), clientError.message);
  assert.match(clientError.message, /still the placeholder REPLACE_WITH_SERVER_TOX_ID that toxtunnel init wrote: replace it with the server's Tox ID/);
  resolveConfig({ config: join(run.dir, 'server.yaml') }, {}); // the server config itself is fine

  // The placeholders are the only problem.
  writeFileSync(rulesPath, rulesText.replace(CLIENT_KEY_PLACEHOLDER, CLIENT_KEY));
  writeFileSync(clientPath, clientText.replace(SERVER_ID_PLACEHOLDER, SERVER_ID));
  const { client, rules } = load(run.dir);
  assert.is(client.serverId, SERVER_ID);
  assert.ok(rules.decideHost(CLIENT_KEY, '127.0.0.1', 22).allowed);
});

test('keys are validated with clear errors; a whole client Tox ID gives its key', async () => {
  const short = await init(['ssh'], { 'client-key': 'abc' });
  assert.is(short.code, 2);
  assert.match(short.stderr, /--client-key: invalid public key: expected 64 hex characters, got 3/);
  const nonHex = await init(['ssh'], { 'client-key': `${'a'.repeat(63)}g` });
  assert.match(nonHex.stderr, /--client-key: .*"g" at position 64 is not a hex digit/);
  const badId = SERVER_ID.slice(0, 75) + (SERVER_ID.endsWith('0') ? '1' : '0');
  const checksum = await init(['ssh'], { 'server-id': badId });
  assert.is(checksum.code, 2);
  assert.match(checksum.stderr, /--server-id: invalid Tox ID: the checksum/);
  const keyOnly = await init(['ssh'], { 'server-id': SERVER_ID.slice(0, 64) });
  assert.match(keyOnly.stderr, /whole 76-character Tox ID/);
  const swapped = await init(['ssh'], { 'client-key': SERVER_ID.slice(0, 64), 'server-id': SERVER_ID });
  assert.is(swapped.code, 2);
  assert.match(swapped.stderr, /the server's own key/);
  for (const r of [short, nonHex, checksum, keyOnly, swapped]) assert.not.ok(existsSync(r.dir), 'nothing written');

  const wholeId = await init(['ssh'], { 'client-key': CLIENT_ID.text.toLowerCase(), 'server-id': SERVER_ID.toLowerCase() });
  assert.is(wholeId.code, 0, wholeId.stderr);
  const { client, rules } = load(wholeId.dir);
  assert.is(rules.rules[0]!.friend, CLIENT_KEY);
  assert.is(client.serverId, SERVER_ID);
});

test('an all-digit key survives (quoted in YAML)', async () => {
  const digits = '1234567890'.repeat(6) + '1234';
  const run = await init(['ssh'], { 'client-key': digits, 'server-id': SERVER_ID });
  assert.is(run.code, 0, run.stderr);
  assert.is(load(run.dir).rules.rules[0]!.friend, digits);
  const missing = await init(['ssh'], { host: true });
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /--host needs a value/);
});

test('no overwrite without --force; --force replaces and restores the modes', async () => {
  const first = await init(['ssh'], keys);
  assert.is(first.code, 0);
  const rulesPath = join(first.dir, 'rules.yaml');
  writeFileSync(rulesPath, '# mine\n');
  chmodSync(rulesPath, 0o644);
  const again = await init(['redis'], keys, first.dir);
  assert.is(again.code, 2);
  assert.match(again.stderr, new RegExp(`${join(first.dir, 'server.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} already exists`));
  assert.match(again.stderr, /--force/);
  assert.is(readFileSync(rulesPath, 'utf8'), '# mine\n', 'untouched');

  // Only rules.yaml exists: the error names it, and no other file is written either.
  const onlyRules = freshDir();
  assert.is((await init(['ssh'], keys, onlyRules)).code, 0);
  rmSync(join(onlyRules, 'server.yaml'));
  rmSync(join(onlyRules, 'client.yaml'));
  const blocked = await init(['ssh'], keys, onlyRules);
  assert.is(blocked.code, 2);
  assert.match(blocked.stderr, /rules\.yaml already exists/);
  assert.not.ok(existsSync(join(onlyRules, 'server.yaml')), 'nothing else written');

  const forced = await init(['redis'], { ...keys, force: true }, first.dir);
  assert.is(forced.code, 0, forced.stderr);
  assert.is(mode(rulesPath), 0o600, 'mode restored');
  assert.ok(load(first.dir).rules.decideHost(CLIENT_KEY, '127.0.0.1', 6379).allowed, 'replaced');
});

test('modes hold under a strict umask; the output directory is created', async () => {
  const old = process.umask(0o077);
  try {
    const dir = join(freshDir(), 'nested', 'deeper');
    const run = await init(['ssh'], keys, dir);
    assert.is(run.code, 0, run.stderr);
    assert.is(mode(join(dir, 'rules.yaml')), 0o600);
    assert.is(mode(join(dir, 'server.yaml')), 0o644);
    assert.is(mode(join(dir, 'client.yaml')), 0o644);
    assert.match(run.stdout, /wrote .*rules\.yaml \(mode 0600\)/);
  } finally {
    process.umask(old);
  }
});

test('temporary access: --expires on any scenario; contractor refuses "never" and past times', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  assert.is(planInit({ scenario: 'contractor', now }).model.expires?.toISOString(), '2030-01-01T08:00:00.000Z', 'default 8h');
  assert.is(planInit({ scenario: 'temporary', expires: '1d12h', now }).model.expires?.toISOString(), '2030-01-02T12:00:00.000Z');
  assert.is(planInit({ scenario: 'contractor', expires: '2030-02-01T10:00:00Z', now }).model.expires?.toISOString(), '2030-02-01T10:00:00.000Z');
  assert.is(failure(() => planInit({ scenario: 'contractor', expires: 'never', now })).code, 'INIT_INVALID');
  assert.match(failure(() => planInit({ scenario: 'contractor', expires: '2029-12-31T00:00:00Z', now })).message, /not in the future/);
  assert.match(failure(() => planInit({ scenario: 'ssh', expires: 'tomorrow', now })).message, /neither a duration/);
  assert.is(planInit({ scenario: 'ssh', now }).model.expires, undefined);

  const run = await init(['rdp'], { ...keys, expires: '2h' });
  assert.is(run.code, 0, run.stderr);
  const rules = load(run.dir).rules;
  const expires = rules.rules[0]!.expires!;
  assert.ok(Math.abs(expires.getTime() - (Date.now() + 2 * 3600_000)) < 5000, expires.toISOString());
  assert.not.ok(rules.admits(CLIENT_KEY, new Date(expires.getTime() + 1)));
  assert.match(run.stdout, /kill -HUP <pid/);
  const refused = await init(['contractor'], { ...keys, expires: 'never' });
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /needs an expiry/);
});

test('revocation as printed: deleting the rule leaves a file that loads and admits no one', async () => {
  const run = await init(['contractor'], keys);
  assert.is(run.code, 0);
  assert.match(run.stdout, /the lines from "- friend_pk:" to "expires:"/);
  const text = readFileSync(join(run.dir, 'rules.yaml'), 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trimStart().startsWith('- friend_pk:'));
  assert.ok(start > 0);
  const revoked = parseRules(lines.slice(0, start).join('\n'), 'rules.yaml');
  assert.is(revoked.rules.length, 0);
  assert.not.ok(revoked.admits(CLIENT_KEY));
});

test('usage errors: unknown or missing scenario, two scenarios', async () => {
  const unknown = await init(['ftp'], keys);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown scenario "ftp": choose one of ssh, rdp, vnc, postgres, mysql, redis, mongodb, web, nas, contractor/);
  const missing = await init([], keys);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /which scenario\?/);
  const two = await init(['ssh', 'rdp'], keys);
  assert.is(two.code, 2);
});

test('interactive: asks what the flags leave open, defaults in brackets', async () => {
  const dir = freshDir();
  const run = await interactive([], {}, ['contractor', '', '', '', '3h', 'not-a-key', CLIENT_KEY, SERVER_ID, dir, 'y']);
  assert.is(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /Scenario \(number or name\) \[ssh\]: /);
  assert.match(run.stdout, /\[127\.0\.0\.1\]: /);
  assert.match(run.stdout, /Local port on the client for SSH \(22 on the server side\) \[2222\]: /);
  assert.match(run.stdout, /\[8h\]: /);
  assert.match(run.stdout, /--client-key: invalid public key/, 'a bad answer is explained and asked again');
  const { client, rules } = load(dir);
  assert.equal(client.forwards, [{ bind: '127.0.0.1', localPort: 2222, remoteHost: '127.0.0.1', remotePort: 22 }]);
  const expires = rules.rules[0]!.expires!;
  assert.ok(Math.abs(expires.getTime() - (Date.now() + 3 * 3600_000)) < 5000);

  const web = await interactive(['web'], { out: freshDir(), 'client-key': CLIENT_KEY, 'server-id': SERVER_ID, expires: 'never' }, ['', '1', '', 'y']);
  assert.is(web.code, 0, web.stderr);
  assert.match(web.stdout, /Which port does the web server use\?/);
  assert.equal(load(web.dir).client.forwards.map((f) => [f.localPort, f.remotePort]), [[10080, 80]]);
});

test('interactive: a broad rule needs a yes; declining writes nothing; end of input aborts', async () => {
  const base = { port: '22', 'local-port': '1080', 'client-key': CLIENT_KEY, 'server-id': SERVER_ID, expires: 'never' };
  const no = await interactive(['ssh'], { ...base, out: freshDir(), host: '*.lan' }, ['n']);
  assert.is(no.code, 2);
  assert.match(no.stderr, /warning: .*ANY host matching "\*\.lan"/);
  assert.match(no.stdout, /Write this broad rule anyway\? \[y\/N\]/);
  assert.not.ok(existsSync(no.dir));
  const yes = await interactive(['ssh'], { ...base, out: freshDir(), host: '*.lan' }, ['y', 'y']);
  assert.is(yes.code, 0, yes.stderr);
  assert.ok(load(yes.dir).rules.decideHost(CLIENT_KEY, 'box.lan', 22).allowed);
  const eof = await interactive(['ssh'], { out: freshDir() }, ['']);
  assert.is(eof.code, 1);
  assert.match(eof.stderr, /input ended/);
  assert.not.ok(existsSync(eof.dir));
  // --yes: no questions even on a terminal.
  const yesFlag = await interactive(['ssh'], { ...keys, out: freshDir(), yes: true }, []);
  assert.is(yesFlag.code, 0, yesFlag.stderr);
  assert.not.match(yesFlag.stdout, /\[127\.0\.0\.1\]/);
});

test.run();
