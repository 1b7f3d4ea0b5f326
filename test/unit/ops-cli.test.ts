// SPDX-License-Identifier: GPL-3.0-or-later
// The operator's tool, pure parts: argv values kept as text through cac, one resolution of
// config → data dir, --bootstrap and --metrics specs, YAML forwards written as -L strings,
// friend names, key hints and init placeholders, errors in words, exit codes, log lines,
// keepalive RTT, rates, and the Prometheus text checked with the reference parser.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FriendNameBook } from '../../src/app/friend-names.ts';
import { RateMeter, type Observation } from '../../src/app/observe.ts';
import { allValues, lastValue, protectArgv, unprotect } from '../../src/cli/argv.ts';
import { formatLogLine, localTimestamp } from '../../src/cli/logging.ts';
import { formatStatus } from '../../src/cli/status-view.ts';
import { formatTunnelList, watchStatus } from '../../src/cli/control-commands.ts';
import { controlSocketPath } from '../../src/control/control-protocol.ts';
import { startControlServer } from '../../src/control/control-server.ts';
import { resolveConfig, resolveConfigSource } from '../../src/config/config.ts';
import { checkConfig } from '../../src/doctor/checks.ts';
import { parseBootstrapSpec, parseMetricsSpec } from '../../src/config/forward-spec.ts';
import { keyHint } from '../../src/config/placeholders.ts';
import { parseRules } from '../../src/config/rules.ts';
import { exitCodeFor, isToxtunnelError, ToxtunnelError } from '../../src/errors.ts';
import { renderMetrics } from '../../src/metrics/prometheus.ts';
import { osErrorText } from '../../src/os-errors.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';
import { PeerLiveness } from '../../src/tunnel/liveness.ts';

const dir = mkdtempSync(join(tmpdir(), 'tt-ops-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const failure = (fn: () => unknown): ToxtunnelError => {
  try {
    fn();
  } catch (error) {
    if (isToxtunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a ToxtunnelError');
};
const KEY = 'AB'.repeat(32);
const SERVER_ID = makeToxId(new Uint8Array(32).fill(0x11), 7).text;

test('argv: number-like values stay text through the parser (all-digit IDs, leading zeros)', () => {
  const digits = '1234567890'.repeat(7) + '123456';
  const argv = protectArgv(['node', 'toxtunnel', 'print-id', '--server-id', digits, '-p', '0445', '-L', '2222:h:22', '--', '7']);
  assert.is(argv[0], 'node', 'node and the script are not touched');
  assert.is.not(argv[4], digits, 'marked');
  assert.is(Number.isFinite(+argv[4]!), false, 'no longer reads as a number');
  assert.equal(unprotect({ serverId: argv[4], port: [argv[6], argv[6]], local: argv[8] }), { serverId: digits, port: ['0445', '0445'], local: '2222:h:22' });
  assert.is(lastValue(['1', '2']), '2');
  assert.is(lastValue(true), undefined);
  assert.equal(allValues('a'), ['a']);
  assert.equal(allValues(['a', 'b']), ['a', 'b']);
  assert.equal(allValues(undefined), []);
});

test('one resolution of config → data dir: -d, then TOXTUNNEL_DATA_DIR, then data_dir (relative to the file), then the OS default', () => {
  const config = file('loc.yaml', 'mode: server\ndata_dir: ./from-file\n');
  assert.is(resolveConfigSource({ config }, {}).dataDir, join(dir, 'from-file'));
  assert.is(resolveConfigSource({ config }, { TOXTUNNEL_DATA_DIR: '/env/dir' }).dataDir, '/env/dir');
  assert.is(resolveConfigSource({ config, dataDir: '/flag/dir' }, { TOXTUNNEL_DATA_DIR: '/env/dir' }).dataDir, '/flag/dir');
  assert.is(resolveConfigSource({}, { TOXTUNNEL_CONFIG: config }).dataDir, join(dir, 'from-file'));
  assert.ok(resolveConfigSource({}, {}).dataDir.endsWith('toxtunnel'));
  // The run command resolves the same way.
  assert.is(resolveConfig({ config }, {}).dataDir, join(dir, 'from-file'));
});

test('--bootstrap host:port:key, repeatable, replaces the file\'s nodes', () => {
  assert.equal(parseBootstrapSpec(`127.0.0.1:33445:${KEY.toLowerCase()}`), { host: '127.0.0.1', port: 33445, publicKey: KEY });
  assert.equal(parseBootstrapSpec(`[::1]:33445:${KEY}`), { host: '::1', port: 33445, publicKey: KEY });
  assert.match(failure(() => parseBootstrapSpec(`127.0.0.1:33445:${KEY.slice(2)}`)).message, /DHT public key, 64 hex characters \(got 62\)/);
  assert.match(failure(() => parseBootstrapSpec('127.0.0.1:33445')).message, /expected host:port:public_key/);
  assert.match(failure(() => parseBootstrapSpec(`h:99999:${KEY}`)).message, /must be a number 1\.\.65535/);
  const config = file('boot.yaml', `mode: server\ntox:\n  bootstrap_mode: none\n  bootstrap_nodes:\n    - {address: 10.0.0.1, port: 1, public_key: "${KEY}"}\n`);
  assert.is(resolveConfig({ config }, {}).bootstrapNodes[0]!.host, '10.0.0.1');
  const both = resolveConfig({ config, bootstrap: [`127.0.0.1:33445:${KEY}`, `127.0.0.2:33446:${KEY}`] }, {});
  assert.equal(both.bootstrapNodes.map((n) => `${n.host}:${n.port}`), ['127.0.0.1:33445', '127.0.0.2:33446']);
});

test('--metrics [bind:]port: loopback by default; a public bind only when written out', () => {
  assert.equal(parseMetricsSpec('9464', '--metrics'), { host: '127.0.0.1', port: 9464, loopback: true });
  assert.equal(parseMetricsSpec('[::1]:9464', '--metrics'), { host: '::1', port: 9464, loopback: true });
  assert.equal(parseMetricsSpec('0.0.0.0:9464', '--metrics'), { host: '0.0.0.0', port: 9464, loopback: false });
  for (const bad of [':9464', '*:9464']) assert.match(failure(() => parseMetricsSpec(bad, '--metrics')).message, /write 0\.0\.0\.0:9464 if that is meant, or 127\.0\.0\.1:9464/);
  assert.match(failure(() => parseMetricsSpec('http', '--metrics')).message, /bad metrics port/);
  const config = file('metrics.yaml', 'mode: server\nmetrics: "127.0.0.1:9464"\n');
  assert.equal(resolveConfig({ config }, {}).metrics, { host: '127.0.0.1', port: 9464, loopback: true });
  assert.equal(resolveConfig({ config, metrics: '9999' }, {}).metrics?.port, 9999, 'the flag wins');
  const bad = failure(() => resolveConfig({ config: file('metrics-bad.yaml', 'mode: server\nmetrics: ":9464"\n') }, {}));
  assert.is(bad.code, 'CONFIG_INVALID');
  assert.match(bad.message, /metrics-bad\.yaml:2:10: metrics: /);
});

test('YAML forwards, reverse and socks entries may be written as -L/-R/-D strings (errors with file:line)', () => {
  const config = file(
    'strings.yaml',
    [
      'mode: client',
      `client:`,
      `  server_id: ${SERVER_ID}`,
      '  forwards: ["2222:127.0.0.1:22", {local_port: 8080, remote_host: web, remote_port: 80}]',
      '  reverse: ["9000:127.0.0.1:3000"]',
      '  socks: "127.0.0.1:1080"',
      '',
    ].join('\n'),
  );
  const c = resolveConfig({ config }, {});
  assert.equal(c.forwards, [
    { localPort: 2222, remoteHost: '127.0.0.1', remotePort: 22 },
    { localPort: 8080, remoteHost: 'web', remotePort: 80 },
  ]);
  assert.equal(c.reverse, [{ remotePort: 9000, localHost: '127.0.0.1', localPort: 3000 }]);
  assert.equal(c.socks, [{ bind: '127.0.0.1', port: 1080 }]);
  const bad = failure(() => resolveConfig({ config: file('bad-fwd.yaml', `mode: client\nclient:\n  server_id: ${SERVER_ID}\n  forwards:\n    - "2222:127.0.0.1"\n`) }, {}));
  assert.is(bad.code, 'CONFIG_INVALID');
  assert.match(bad.message, /bad-fwd\.yaml:5:7: client\.forwards\[0\]: bad forward "2222:127\.0\.0\.1": expected \[bind_address:\]port:host:hostport/);
});

test('friend names: optional name: in rules and in the whitelist', () => {
  const rules = parseRules(`rules:\n  - friend: ${KEY}\n    name: alice\n    allow: [{host: 127.0.0.1}]\n  - friend: ${'CD'.repeat(32)}\n    allow: []\n`, 'r.yaml');
  assert.is(rules.rules[0]!.name, 'alice');
  assert.is(rules.rules[1]!.name, undefined);
  const config = file('wl.yaml', `mode: server\nserver:\n  whitelist:\n    - ${'EF'.repeat(32)}\n    - {public_key: "${KEY.toLowerCase()}", name: bob}\n`);
  const c = resolveConfig({ config }, {});
  assert.equal(c.whitelist, ['EF'.repeat(32), KEY]);
  assert.is(c.friendNames.get(KEY), 'bob');
  const missing = failure(() => resolveConfig({ config: file('wl-bad.yaml', 'mode: server\nserver:\n  whitelist:\n    - {name: carol}\n') }, {}));
  assert.match(missing.message, /server\.whitelist\[0\]: missing "public_key"/);
  // list shows the name with the short key.
  const [header, row] = formatTunnelList([{ id: '0:1', friend: 0, publicKey: KEY, name: 'alice', kind: 'inbound', state: 'open', target: 'h:22', bytesIn: 0, bytesOut: 2048 }]);
  assert.match(header!, /^ID\s+FRIEND\s+KIND\s+STATE\s+TARGET\s+IN\s+OUT$/);
  assert.match(row!, /^0:1\s+alice \(ABABABAB…\)\s+inbound\s+open\s+h:22\s+0 B\s+2\.0 KiB$/);
});

test('friend names come from one book: whitelist over rules, and a name outlives the rule that gave it', () => {
  const carol = 'CD'.repeat(32);
  const first = parseRules(`rules:\n  - friend: ${KEY}\n    name: alice\n    allow: [{host: 127.0.0.1}]\n  - friend: ${carol}\n    name: carol\n    allow: []\n`, 'r.yaml');
  const book = new FriendNameBook(new Map([[carol, 'carol-from-whitelist']]), first);
  assert.is(book.nameOf(KEY.toLowerCase()), 'alice');
  assert.is(book.nameOf(carol), 'carol-from-whitelist');
  assert.is(book.nameOf('EF'.repeat(32)), undefined);
  // A reload drops alice's rule: she is still "alice" while she is being removed.
  const second = parseRules(`rules:\n  - friend: ${carol}\n    allow: []\n`, 'r.yaml');
  book.replaceRules(second, [KEY]);
  assert.is(second.nameOf(KEY), undefined);
  assert.is(book.nameOf(KEY), 'alice');
});

test('key hints: init placeholders by name, a public key given as a Tox ID and the reverse', () => {
  assert.match(keyHint('REPLACE_WITH_SERVER_TOX_ID', 'Tox ID')!, /still the placeholder REPLACE_WITH_SERVER_TOX_ID that toxtunnel init wrote/);
  assert.match(keyHint(' REPLACE_WITH_CLIENT_PUBLIC_KEY ', 'public key')!, /replace it with the client's public key \(on the client: toxtunnel print-id --public-key/);
  assert.match(keyHint(KEY, 'Tox ID')!, /this is a public key \(64 hex characters\), not a whole Tox ID/);
  assert.match(keyHint(SERVER_ID, 'public key')!, /whole Tox ID \(76 hex characters\): the public key is its first 64/);
  assert.is(keyHint('xyz', 'Tox ID'), undefined);
  const pk = failure(() => resolveConfig({ mode: 'client', serverId: KEY, local: ['1:h:2'] }, {}));
  assert.is(pk.code, 'CONFIG_SERVER_ID_INVALID');
  assert.match(pk.message, /^--server-id: invalid Tox ID: expected 76 hex characters, got 64; this is a public key/);
  const rules = failure(() => parseRules(`rules:\n  - friend: ${SERVER_ID}\n`, 'r.yaml'));
  assert.match(rules.message, /^r\.yaml:2:13: rules\[0\]\.friend: this is a whole Tox ID/);
});

test('a bad server_id in the file: the error and doctor\'s fix name the file and line, not a flag', () => {
  const bad = SERVER_ID.slice(0, 75) + (SERVER_ID.endsWith('0') ? '1' : '0');
  const config = file('checksum.yaml', `mode: client\nclient:\n  forwards: ["1:h:2"]\n  server_id: "${bad}"\n`);
  const error = failure(() => resolveConfig({ config }, {}));
  assert.match(error.message, /checksum\.yaml:4:14: client\.server_id: invalid Tox ID: the checksum/);
  const { result } = checkConfig({ config }, {});
  assert.is(result.status, 'fail');
  assert.is(result.fix, `edit ${config} at line 4; docs/config.md lists every key and value`);
});

test('errors in words: OS codes, unreadable files, and exit codes (2 usage/config, 1 runtime)', () => {
  assert.is(osErrorText(Object.assign(new Error('x'), { code: 'ENOENT' })), 'no such file or directory');
  assert.is(osErrorText(Object.assign(new Error('x'), { code: 'EACCES' })), 'permission denied');
  assert.is(osErrorText(Object.assign(new Error('x'), { code: 'EWEIRD' })), 'EWEIRD');
  assert.is(osErrorText(new Error('plain')), 'plain');
  const missing = failure(() => resolveConfigSource({ config: join(dir, 'nope.yaml') }, {}));
  assert.is(missing.message, `cannot read config file ${join(dir, 'nope.yaml')}: no such file or directory (check the path given to -c/--config or TOXTUNNEL_CONFIG; \`toxtunnel init\` writes one)`);
  assert.match(failure(() => resolveConfigSource({ config: dir }, {})).message, /: it is a directory, not a file$/);
  for (const code of ['CONFIG_INVALID', 'CLI_INVALID', 'RULES_UNREADABLE', 'RULES_INVALID', 'INIT_EXISTS', 'TOX_ID_INVALID', 'CONFIG_SERVER_ID_INVALID']) assert.is(exitCodeFor(code), 2, code);
  for (const code of ['INIT_ABORTED', 'INIT_WRITE_FAILED', 'CONTROL_NOT_RUNNING', 'METRICS_LISTEN_FAILED', 'IDENTITY_UNWRITABLE', 'BOOTSTRAP_NONE_USABLE']) assert.is(exitCodeFor(code), 1, code);
});

test('log lines: local time to the millisecond, the level, one line (continuations indented, no blank lines)', () => {
  const at = new Date(2026, 10, 30, 9, 7, 5, 42); // local time
  assert.is(localTimestamp(at), '2026-11-30 09:07:05.042');
  assert.is(formatLogLine('info', 'Tox ID: X', [], at, false), '2026-11-30 09:07:05.042 INFO  Tox ID: X\n');
  assert.is(formatLogLine('warn', '\nbad\n\nthing\n', [], at, false), '2026-11-30 09:07:05.042 WARN  bad\n    \n    thing\n');
  assert.is(formatLogLine('error', 'n=%d', [3], at, false), '2026-11-30 09:07:05.042 ERROR n=3\n');
  assert.match(formatLogLine('warn', 'x', [], at, true), /\u001b\[33mWARN \u001b\[0m x\n$/);
});

test('keepalive RTT: the time from a PING to its PONG (fake clock)', () => {
  let pings = 0;
  const live = new PeerLiveness(() => pings++, () => {}, { pingAfterMs: 2000, deadAfterMs: 8000 });
  live.start(1000);
  assert.is(live.since, 1000);
  assert.is(live.rttMs, undefined);
  live.pong(1500); // an unasked PONG measures nothing
  assert.is(live.rttMs, undefined);
  live.tick(3000);
  assert.is(pings, 1);
  live.heard(3030);
  live.pong(3030);
  assert.is(live.rttMs, 30);
  live.stop();
  assert.is(live.since, 0);
  // With rttEveryMs each side pings on its own schedule while the link is idle, even though
  // it hears the peer's pings; never while traffic flows.
  pings = 0;
  const own = new PeerLiveness(() => pings++, () => {}, { pingAfterMs: 2000, deadAfterMs: 8000, rttEveryMs: 5000 });
  own.start(0);
  own.heard(1900);
  own.tick(1900);
  assert.is(pings, 0, 'not before 2 s without traffic');
  own.tick(2000);
  assert.is(pings, 1, 'the first once the link has been idle for 2 s');
  own.heard(2010);
  own.pong(2010);
  assert.is(own.rttMs, 10);
  for (let t = 2100; t < 20_000; t += 100) {
    own.heard(t);
    own.traffic(t);
    own.tick(t);
  }
  assert.is(pings, 1, 'no probe while data flows');
  own.heard(21_800); // the last traffic was at 19 900
  own.tick(21_800);
  assert.is(pings, 1);
  own.tick(21_900);
  assert.is(pings, 2, 'again 2 s after the traffic stopped');
  own.heard(26_800);
  own.tick(26_800);
  assert.is(pings, 2);
  own.tick(26_900);
  assert.is(pings, 3, 'then every 5 s while idle');
  own.stop();
});

test('rates: bytes per second between the two latest samples; 0 before two or when a counter goes down', () => {
  const m = new RateMeter();
  assert.is(m.rate('x'), 0);
  m.sample('x', 1000, 10_000);
  assert.is(m.rate('x'), 0);
  m.sample('x', 3048, 10_500);
  assert.is(m.rate('x'), 4096);
  m.sample('x', 10, 11_500);
  assert.is(m.rate('x'), 0);
  m.forget((k) => k !== 'x');
  assert.is(m.rate('x'), 0);
});

const observation: Observation = {
  mode: 'server',
  toxId: SERVER_ID,
  network: 'udp',
  startedAt: '2026-11-30T10:00:00.000Z',
  uptimeSeconds: 60,
  friends: [
    { friend: 0, publicKey: KEY, name: 'al"ice\\\n', connection: 'udp', keepalive: 'alive', rttMs: 12, tunnels: 1, bytesIn: 100, bytesOut: 200, rateIn: 0, rateOut: 0 },
    { friend: 1, publicKey: 'CD'.repeat(32), connection: 'none', keepalive: 'stopped', tunnels: 0, bytesIn: 0, bytesOut: 0, rateIn: 0, rateOut: 0 },
  ],
  tunnelsOpen: 1,
  tunnelsOpenedTotal: 5,
  bytesIn: 100,
  bytesOut: 200,
  rateIn: 0,
  rateOut: 0,
  errors: { open: 2 },
};

test('Prometheus text: the reference parser (prometheus_client) reads every family, type, label and value', () => {
  const text = renderMetrics(observation, { version: '1.2.3', runtime: 'node' });
  const parser = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))`;
  const r = spawnSync('/usr/bin/python3', ['-c', parser], { input: text, encoding: 'utf8' });
  assert.is(r.status, 0, `the reference parser rejected the text (apt-get install python3-prometheus-client):\n${r.stderr}\n${text}`);
  const families = JSON.parse(r.stdout) as Record<string, { type: string; samples: Array<[string, Record<string, string>, number]> }>;
  // prometheus_client names counter families without _total.
  assert.equal(Object.keys(families).sort(), [
    'toxtunnel_build_info',
    'toxtunnel_bytes',
    'toxtunnel_errors',
    'toxtunnel_friend_connected',
    'toxtunnel_friend_rtt_seconds',
    'toxtunnel_start_time_seconds',
    'toxtunnel_tox_connected',
    'toxtunnel_tunnels_open',
    'toxtunnel_tunnels_opened',
  ]);
  assert.is(families.toxtunnel_bytes!.type, 'counter');
  assert.is(families.toxtunnel_tunnels_open!.type, 'gauge');
  assert.equal(families.toxtunnel_build_info!.samples, [['toxtunnel_build_info', { version: '1.2.3', runtime: 'node' }, 1]]);
  assert.equal(families.toxtunnel_tox_connected!.samples, [['toxtunnel_tox_connected', {}, 1]]);
  assert.equal(families.toxtunnel_tunnels_opened!.samples, [['toxtunnel_tunnels_opened_total', {}, 5]]);
  const bytes = families.toxtunnel_bytes!.samples;
  assert.equal(bytes[0], ['toxtunnel_bytes_total', { friend: 'al"ice\\\n', public_key: KEY, direction: 'in' }, 100], 'a name with " \\ and a newline survives escaping');
  assert.equal(bytes[1]![2], 200);
  assert.equal(bytes[2]![1].friend, 'CDCDCDCD', 'a friend without a name is its short key');
  assert.equal(
    families.toxtunnel_friend_connected!.samples.map((s) => [s[1].transport, s[2]]),
    [['udp', 1], ['none', 0]],
  );
  assert.equal(families.toxtunnel_friend_rtt_seconds!.samples.map((s) => s[2]), [0.012], 'only friends with a measured RTT');
  assert.equal(Object.fromEntries(families.toxtunnel_errors!.samples.map((s) => [s[1].kind, s[2]])), { open: 2, tunnel: 0 });
  assert.is(families.toxtunnel_start_time_seconds!.samples[0]![2], Date.parse('2026-11-30T10:00:00Z') / 1000);
});

test('status for people: the client\'s server, listeners and reverse forwards; the server\'s reverse listeners by friend name', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');
  const client = formatStatus(
    {
      mode: 'client',
      network: 'tcp',
      uptimeSeconds: 61,
      server: { publicKey: KEY, name: 'server', connection: 'udp', keepalive: 'alive', state: 'active', extensions: 1, onlineSince: '2026-11-30T11:59:00Z', rttMs: 3, bytesIn: 0, bytesOut: 0, rateIn: 0, rateOut: 0 },
      listeners: [{ kind: 'forward', listen: '127.0.0.1:2222 -> 127.0.0.1:22', state: 'active' }],
      reverse: [{ remote: '(server default):8080', local: '127.0.0.1:80', state: 'refused', message: 'Access denied' }],
      connectionsActive: 0,
      connectionsTotal: 0,
      errors: 0,
    },
    now,
  );
  assert.equal(client, [
    'toxtunnel:   client, up 1m 01s',
    'Tox network: connected, through a TCP relay',
    'server:      server (ABABABAB…): online, direct (UDP), for 1m 00s, RTT 3 ms, in 0 B (0 B/s), out 0 B (0 B/s)',
    '             state active',
    '             extensions: half-close',
    'listening:   forward 127.0.0.1:2222 -> 127.0.0.1:22 active',
    'reverse:     server (server default):8080 -> 127.0.0.1:80 here: refused (Access denied)',
    'tunnels:     0 open, 0 opened since start, 0 error(s)',
  ]);
  const server = formatStatus({ mode: 'server', network: 'none', friends: [{ friend: 4, publicKey: KEY, name: 'bob', connection: 'none' }], reverseListeners: [{ friend: 4, bind: '::1', port: 8080 }] }, now);
  assert.ok(server.includes('Tox network: OFFLINE (not connected)'), server.join('\n'));
  assert.ok(server.includes('friends:     bob (ABABABAB…): offline'), server.join('\n'));
  assert.ok(server.includes('reverse:     [::1]:8080 for bob (ABABABAB…)'), server.join('\n'));
});

test('status --watch on a terminal: raw keys, clears and redraws, rates and sparkline per tunnel, Ctrl-C restores the terminal', async () => {
  const data = mkdtempSync(join(tmpdir(), 'tt-watch-'));
  let bytes = 0;
  const server = await startControlServer(controlSocketPath(data), {
    status: () => ({ mode: 'client', network: 'udp', uptimeSeconds: 5, connectionsActive: 1, connectionsTotal: 1, errors: 0 }),
    list: () => [{ id: '0:1', friend: 0, publicKey: KEY, name: 'srv', target: 'h:22', bytesIn: (bytes += 10_240), bytesOut: 0 }],
    close: () => false,
  });
  const stdin = Object.assign(new PassThrough(), { isTTY: true, raw: [] as boolean[], setRawMode(on: boolean) { this.raw.push(on); return this; } });
  let out = '';
  const stdout = Object.assign(new PassThrough(), { isTTY: true });
  stdout.on('data', (d) => (out += d));
  try {
    const watching = watchStatus(data, { stdin: stdin as never, stdout: stdout as never }, 100);
    while ((out.match(/\u001b\[2J/g) ?? []).length < 4) await new Promise((r) => setTimeout(r, 20));
    stdin.write('\u0003');
    assert.is(await watching, 0);
    assert.equal(stdin.raw, [true, false], 'raw mode on, then off');
    assert.ok(out.startsWith('\u001b[?25l'), 'cursor hidden');
    assert.ok(out.endsWith('\u001b[?25h'), 'cursor shown again at the end');
    const frames = out.split('\u001b[H\u001b[2J').slice(1);
    const last = frames.at(-1)!;
    assert.match(last, /^ID +FRIEND +TARGET +IN +OUT +RATE +LAST 30s$/m);
    // 10 KiB more every ~100 ms: about 100 KiB/s, the bars all high.
    const row = /^0:1 +srv \(ABABABAB…\) +h:22 +[\d.]+ KiB +0 B +([\d.]+) KiB\/s +([▁▂▃▄▅▆▇█]+)$/m.exec(last);
    assert.ok(row, last);
    assert.ok(Number(row![1]) > 30 && Number(row![1]) < 400, row![1]);
  } finally {
    await server.close();
    rmSync(data, { recursive: true, force: true });
  }
});

test('the Grafana dashboard asks only for metrics toxtunnel serves', () => {
  const dashboard = readFileSync(join(import.meta.dirname, '../../packaging/grafana/toxtunnel-dashboard.json'), 'utf8');
  const served = new Set([...renderMetrics(observation, { version: '1', runtime: 'node' }).matchAll(/^# TYPE (\w+)/gm)].map((m) => m[1]));
  const asked = new Set([...dashboard.matchAll(/toxtunnel_\w+/g)].map((m) => m[0]));
  assert.ok(asked.size >= 6, [...asked].join(' '));
  for (const name of asked) assert.ok(served.has(name), `${name} is not served`);
  assert.ok((JSON.parse(dashboard) as { panels: unknown[] }).panels.length >= 6);
});

test.run();
