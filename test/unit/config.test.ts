// SPDX-License-Identifier: GPL-3.0-or-later
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/config/config.ts';
import { defaultDataDir } from '../../src/config/data-dir.ts';
import { parseForwardSpec, parseHostPort } from '../../src/config/forward-spec.ts';
import { parseRules } from '../../src/config/rules.ts';
import { isToxtunnelError } from '../../src/errors.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';

const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-config-'));
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const ID = makeToxId(new Uint8Array(32).fill(0xab), 7).text;
const KEY_A = 'A'.repeat(64);
const KEY_B = 'b'.repeat(64);

function failure(run: () => unknown): { code: string; message: string; details: Record<string, unknown> } {
  try {
    run();
  } catch (error) {
    assert.ok(isToxtunnelError(error), String(error));
    return error as never;
  }
  throw new Error('did not throw');
}

test('a full config file resolves; flags beat environment beat file', () => {
  const file = write(
    'full.yaml',
    `mode: client
data_dir: ./state
logging:
  level: debug
tox:
  udp_enabled: false
  tcp_port: 0
  bootstrap_mode: none
  bootstrap_nodes:
    - address: 127.0.0.1
      port: 33445
      public_key: ${KEY_A}
client:
  server_id: ${ID.toLowerCase()}
  forwards:
    - local_port: 2222
      remote_host: 127.0.0.1
      remote_port: 22
`,
  );
  const c = resolveConfig({ config: file }, {});
  assert.is(c.mode, 'client');
  assert.is(c.dataDir, join(dir, 'state'), 'relative to the config file');
  assert.is(c.logLevel, 'debug');
  assert.is(c.udp, false);
  assert.is(c.bootstrapMode, 'none');
  assert.equal(c.bootstrapNodes, [{ host: '127.0.0.1', port: 33445, publicKey: KEY_A }]);
  assert.is(c.serverId, ID);
  assert.equal(c.forwards, [{ localPort: 2222, remoteHost: '127.0.0.1', remotePort: 22 }]);
  const env = resolveConfig({ config: file }, { TOXTUNNEL_LOG_LEVEL: 'warn', TOXTUNNEL_UDP_ENABLED: 'true' });
  assert.is(env.logLevel, 'warn');
  assert.is(env.udp, true);
  const flags = resolveConfig({ config: file, logLevel: 'error', local: ['8080:web:80'] }, { TOXTUNNEL_LOG_LEVEL: 'warn' });
  assert.is(flags.logLevel, 'error');
  assert.equal(flags.forwards, [{ localPort: 8080, remoteHost: 'web', remotePort: 80 }]);
});

test('no config file: sensible defaults', () => {
  const c = resolveConfig({ mode: 'server' }, {});
  assert.is(c.mode, 'server');
  assert.is(c.bootstrapMode, 'auto');
  assert.is(c.udp, true);
  assert.is(c.tcpPort, 0);
  assert.is(c.rulesFile, undefined);
  assert.is(c.logLevel, 'info');
});

test('unknown keys name file, line and key, and suggest the right one', () => {
  const file = write('typo.yaml', 'mode: server\ntox:\n  udp_enabled: true\n  bootstrap_mod: auto\n');
  const e = failure(() => resolveConfig({ config: file }, {}));
  assert.is(e.code, 'CONFIG_UNKNOWN_KEY');
  assert.ok(e.message.includes(`${file}:4`), e.message);
  assert.match(e.message, /tox\.bootstrap_mod/);
  assert.match(e.message, /did you mean "bootstrap_mode"/);
});

test('bad values say what would be valid, with the line', () => {
  const port = failure(() => resolveConfig({ config: write('p.yaml', 'mode: client\ntox:\n  tcp_port: 70000\n') }, {}));
  assert.is(port.code, 'CONFIG_INVALID');
  assert.match(port.message, /p\.yaml:3:13: tox\.tcp_port: 70000 is not a whole number from 0 to 65535/);
  const mode = failure(() => resolveConfig({ config: write('m.yaml', 'mode: servr\n') }, {}));
  assert.match(mode.message, /m\.yaml:1:7: mode: "servr" is not one of server, client — did you mean "server"\?/);
  const syntax = failure(() => resolveConfig({ config: write('s.yaml', 'mode: [server\n') }, {}));
  assert.is(syntax.code, 'CONFIG_SYNTAX');
  const missing = failure(() => resolveConfig({ config: join(dir, 'nope.yaml') }, {}));
  assert.is(missing.code, 'CONFIG_UNREADABLE');
});

test('client needs a valid server ID and something to forward', () => {
  const bad = ID.slice(0, 75) + (ID.endsWith('0') ? '1' : '0');
  const e = failure(() => resolveConfig({ mode: 'client', serverId: bad, local: ['1:h:2'] }, {}));
  assert.is(e.code, 'CONFIG_SERVER_ID_INVALID');
  assert.match(e.message, /--server-id: invalid Tox ID: the checksum/);
  assert.match(failure(() => resolveConfig({ mode: 'client', serverId: ID }, {})).message, /needs something to forward/);
  assert.match(failure(() => resolveConfig({ mode: 'client', local: ['1:h:2'] }, {})).message, /needs the server's Tox ID/);
  assert.match(failure(() => resolveConfig({}, {})).message, /no mode/);
});

test('-L and --pipe specs, ssh style', () => {
  assert.equal(parseForwardSpec('2222:127.0.0.1:22'), { localPort: 2222, remoteHost: '127.0.0.1', remotePort: 22 });
  assert.equal(parseForwardSpec('0.0.0.0:2222:db:5432'), { bind: '0.0.0.0', localPort: 2222, remoteHost: 'db', remotePort: 5432 });
  assert.equal(parseForwardSpec('2222:[::1]:22'), { localPort: 2222, remoteHost: '::1', remotePort: 22 });
  assert.equal(parseHostPort('[::1]:22', '--pipe'), { host: '::1', port: 22 });
  assert.match(failure(() => parseForwardSpec('70000:localhost:22')).message, /bad local port "70000" in -L 70000:localhost:22: must be a number 0\.\.65535/);
  assert.match(failure(() => parseForwardSpec('2222:localhost')).message, /expected \[bind_address:\]port:host:hostport/);
  assert.match(failure(() => parseHostPort('host', '--pipe')).message, /expected host:port/);
});

test('default data directories per OS', () => {
  assert.is(defaultDataDir('linux', {}, '/home/u'), '/home/u/.config/toxtunnel');
  assert.is(defaultDataDir('linux', { XDG_CONFIG_HOME: '/x' }, '/home/u'), '/x/toxtunnel');
  assert.is(defaultDataDir('darwin', {}, '/Users/u'), '/Users/u/Library/Application Support/toxtunnel');
  assert.match(defaultDataDir('win32', { APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'C:\\Users\\u'), /toxtunnel$/);
});

const rules = (text: string) => parseRules(text, 'rules.yaml');

test('rules: deny first, then allow; no rule = denied; wildcards and ports', () => {
  const set = rules(`rules:
  - friend_pk: ${KEY_A}
    allow:
      - host: "*.internal"
        ports: [22, 443]
      - host: "10.0.*"
      - host: "db*.lan"
        ports: []
      - host: localhost
        ports: [8080]
    deny:
      - host: secret.internal
      - host: "10.0.0.1"
        ports: [22]
`);
  const allowed = (key: string, host: string, port: number) => set.decideHost(key, host, port).allowed;
  assert.ok(allowed(KEY_A, 'git.internal', 22), 'suffix wildcard + port');
  assert.ok(allowed(KEY_A.toLowerCase(), 'GIT.Internal.', 443), 'case-insensitive key and host, trailing dot');
  assert.not.ok(allowed(KEY_A, 'git.internal', 80), 'port not listed');
  assert.not.ok(allowed(KEY_A, 'secret.internal', 22), 'deny beats allow');
  assert.ok(allowed(KEY_A, '10.0.3.4', 1), 'prefix wildcard, all ports');
  assert.not.ok(allowed(KEY_A, '10.0.0.1', 22), 'denied port');
  assert.ok(allowed(KEY_A, '10.0.0.1', 23), 'deny is per port');
  assert.ok(allowed(KEY_A, 'db7.lan', 5432), 'infix wildcard');
  assert.not.ok(allowed(KEY_A, 'web.lan', 5432));
  assert.ok(allowed(KEY_A, 'localhost', 8080));
  assert.not.ok(allowed(KEY_A, 'localhost.evil', 8080), 'exact names are exact');
  const none = set.decideHost(KEY_B, 'git.internal', 22);
  assert.not.ok(none.allowed);
  assert.match(none.reason, /no rule for friend/);
  assert.match(set.decideHost(KEY_A, 'secret.internal', 22).reason, /deny secret\.internal/);
});

test('rules: friend and friend_pk, expiry, and clear errors', () => {
  const set = rules(`rules:
  - friend: ${KEY_B}
    allow: [{ host: "*" }]
    expires: 2030-01-01T00:00:00Z
`);
  assert.ok(set.decideHost(KEY_B, 'any', 1, new Date('2029-12-31T23:59:59Z')).allowed);
  assert.not.ok(set.decideHost(KEY_B, 'any', 1, new Date('2030-01-01T00:00:01Z')).allowed, 'expired rule is gone');
  const unknown = failure(() => rules(`rules:\n  - friend_public_key: ${KEY_A}\n`));
  assert.is(unknown.code, 'CONFIG_UNKNOWN_KEY');
  assert.match(unknown.message, /^rules\.yaml:2:5: rules\[0\]\.friend_public_key: unknown key/);
  assert.match(failure(() => rules('rules:\n  - allow: []\n')).message, /needs "friend" or "friend_pk"/);
  assert.match(failure(() => rules(`rules:\n  - friend: ABC\n`)).message, /64 hex characters/);
  assert.match(failure(() => rules(`rules:\n  - friend: ${KEY_A}\n    allow: [{ host: "*a*" }]\n`)).message, /more than one "\*"/);
  assert.match(failure(() => rules(`rules:\n  - friend: ${KEY_A}\n    expires: tomorrow\n`)).message, /not an ISO 8601 time/);
});

test('ours: reverse, socks, shared secret, whitelist, extensions, connect timeout', () => {
  const client = write(
    'ext-client.yaml',
    `mode: client
extensions: false
client:
  server_id: ${ID}
  shared_secret: s3cret
  connect_timeout: 15
  reverse:
    - { remote_port: 8080, local_host: 127.0.0.1, local_port: 80 }
  socks:
    - { port: 1080, username: alice, password: pw }
`,
  );
  const c = resolveConfig({ config: client }, {});
  assert.equal(c.reverse, [{ remotePort: 8080, localHost: '127.0.0.1', localPort: 80 }]);
  assert.equal(c.socks, [{ port: 1080, credentials: { username: 'alice', password: 'pw' } }]);
  assert.is(c.sharedSecret, 's3cret');
  assert.is(c.extensions, false);
  assert.is(c.connectTimeoutMs, 15_000);
  assert.is(resolveConfig({ config: client }, { TOXTUNNEL_SHARED_SECRET: 'env', TOXTUNNEL_EXTENSIONS: '1' }).sharedSecret, 'env');
  const flags = resolveConfig({ config: client, remote: ['9000:db:5432'], dynamic: ['1081'] }, {});
  assert.equal(flags.forwards, [], 'command-line -R/-D replace the file lists');
  assert.equal(flags.reverse, [{ remotePort: 9000, localHost: 'db', localPort: 5432 }]);
  assert.equal(flags.socks, [{ port: 1081 }]);
  const onlyUser = write('ext-bad.yaml', `mode: client\nclient:\n  server_id: ${ID}\n  socks:\n    - { port: 1080, username: alice }\n`);
  assert.match(failure(() => resolveConfig({ config: onlyUser }, {})).message, /client\.socks\[0\]: give both "username" and "password"/);
  const server = write('ext-server.yaml', `mode: server\nserver:\n  whitelist: [${KEY_B}]\n  shared_secret: x\n`);
  const s2 = resolveConfig({ config: server }, {});
  assert.equal(s2.whitelist, [KEY_B.toUpperCase()]);
  assert.is(s2.sharedSecret, 'x');
  const badKey = write('ext-bad-wl.yaml', 'mode: server\nserver:\n  whitelist: [abc]\n');
  assert.match(failure(() => resolveConfig({ config: badKey }, {})).message, /ext-bad-wl\.yaml:3.*64 hex/);
  assert.match(failure(() => resolveConfig({ mode: 'server', secret: '' }, {})).message, /shared secret must be 1\.\.1016 bytes/);
});

test.run();
