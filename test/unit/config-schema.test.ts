// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The messages of the config and rules schemas (src/config/config-file.ts, rules.ts): a table
 * of bad files and the exact message each must give. Lines and columns were counted by hand
 * from the YAML text (1-based; the column of the offending key or value, or of the mapping that
 * lacks a key); every message is a config error, exit code 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfigFile } from '../../src/config/config.ts';
import { parseRules } from '../../src/config/rules.ts';
import { exitCodeFor, isToxtunnelError, type ToxtunnelError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-config-schema-'));
const KEY = 'AB'.repeat(32);

function failure(run: () => unknown): ToxtunnelError {
  try {
    run();
  } catch (error) {
    if (isToxtunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a ToxtunnelError, but it loaded');
}

const configError = (text: string) => {
  const file = join(dir, 'c.yaml');
  writeFileSync(file, text);
  const error = failure(() => loadConfigFile(file));
  return { code: error.code, message: error.message.replace(`${file}:`, 'c.yaml:'), details: error.details };
};
const rulesError = (text: string) => {
  const error = failure(() => parseRules(text, 'r.yaml'));
  return { code: error.code, message: error.message, details: error.details };
};

const TOX_KEYS = 'udp_enabled, ipv6_enabled, tcp_port, start_port, end_port, bootstrap_mode, address_hints, proxy, bootstrap_nodes';
const TOP_KEYS = 'mode, data_dir, extensions, control_socket, metrics, logging, tox, server, client';
const CLIENT_KEYS = 'server_id, forwards, pipe, protocol, invite, shared_secret, connect_timeout, max_waiting, reverse, socks';
const RULE_KEYS = 'friend, friend_pk, name, allow, deny, listen, expires';

/** [what, YAML text, code, message]. */
const CONFIG_TABLE: Array<[string, string, string, string]> = [
  [
    'a misspelt key in a section',
    'mode: server\ntox:\n  udp_enabled: true\n  bootstrap_mod: auto\n',
    'CONFIG_UNKNOWN_KEY',
    `c.yaml:4:3: tox.bootstrap_mod: unknown key "bootstrap_mod" — did you mean "bootstrap_mode"? (valid here: ${TOX_KEYS})`,
  ],
  [
    'a misspelt key in the client section',
    'client:\n  protocl: tuntox\n',
    'CONFIG_UNKNOWN_KEY',
    `c.yaml:2:3: client.protocl: unknown key "protocl" — did you mean "protocol"? (valid here: ${CLIENT_KEYS})`,
  ],
  [
    'a misspelt key in a forward: the misspelling, not the key it leaves missing',
    'client:\n  forwards:\n    - {local_port: 1, remote_host: h, remote_prot: 2}\n',
    'CONFIG_UNKNOWN_KEY',
    'c.yaml:3:39: client.forwards[0].remote_prot: unknown key "remote_prot" — did you mean "remote_port"? (valid here: local_port, remote_host, remote_port, bind)',
  ],
  ['a key named like an Object.prototype member', 'toString: 1\n', 'CONFIG_UNKNOWN_KEY', `c.yaml:1:1: toString: unknown key "toString" (valid here: ${TOP_KEYS})`],
  ['a near-miss word', 'mode: servr\n', 'CONFIG_INVALID', 'c.yaml:1:7: mode: "servr" is not one of server, client — did you mean "server"?'],
  ['a word with no near miss', 'logging:\n  level: loud\n', 'CONFIG_INVALID', 'c.yaml:2:10: logging.level: "loud" is not one of error, warn, info, debug, trace'],
  ['a port out of range', 'tox:\n  tcp_port: 70000\n', 'CONFIG_INVALID', 'c.yaml:2:13: tox.tcp_port: 70000 is not a whole number from 0 to 65535'],
  ['a port that is not a number', 'tox:\n  tcp_port: "22x"\n', 'CONFIG_INVALID', 'c.yaml:2:13: tox.tcp_port: "22x" is not a whole number from 0 to 65535'],
  ['a fraction for a port', 'tox:\n  start_port: 1.5\n', 'CONFIG_INVALID', 'c.yaml:2:15: tox.start_port: 1.5 is not a whole number from 1 to 65535'],
  ['yes is not a YAML 1.2 boolean', 'extensions: yes\n', 'CONFIG_INVALID', 'c.yaml:1:13: extensions: "yes" is not true or false'],
  ['a list where a section goes', 'tox: [a, b]\n', 'CONFIG_INVALID', `c.yaml:1:6: tox: expected a mapping with keys ${TOX_KEYS}, not a list`],
  ['true where a list goes', 'client:\n  forwards: true\n', 'CONFIG_INVALID', 'c.yaml:2:13: client.forwards: expected a list, not true'],
  [
    'a forward written as -L, short one part',
    'client:\n  forwards:\n    - "2222:127.0.0.1"\n',
    'CONFIG_INVALID',
    'c.yaml:3:7: client.forwards[0]: bad forward "2222:127.0.0.1": expected [bind_address:]port:host:hostport, e.g. -L 2222:127.0.0.1:22',
  ],
  [
    'one reverse forward written as -R without the list around it',
    'client:\n  reverse: "80:h"\n',
    'CONFIG_INVALID',
    'c.yaml:2:12: client.reverse[0]: bad reverse forward "80:h": expected [bind_address:]port:host:hostport, e.g. -R 8080:127.0.0.1:80 (the server listens on 8080)',
  ],
  [
    'a forward mapping without remote_port',
    'client:\n  forwards:\n    - local_port: 2222\n      remote_host: h\n',
    'CONFIG_INVALID',
    'c.yaml:3:7: client.forwards[0]: missing "remote_port" (each forward needs local_port, remote_host, remote_port)',
  ],
  [
    'a forward mapping with a bad value inside',
    'client:\n  forwards:\n    - {local_port: 2222, remote_host: h, remote_port: 0}\n',
    'CONFIG_INVALID',
    'c.yaml:3:55: client.forwards[0].remote_port: 0 is not a whole number from 1 to 65535',
  ],
  ['a SOCKS password without a user name', 'client:\n  socks:\n    - {port: 1080, password: pw}\n', 'CONFIG_INVALID', 'c.yaml:3:7: client.socks[0]: give both "username" and "password", or neither'],
  [
    'a SOCKS entry that is neither form',
    'client:\n  socks:\n    - [1080]\n',
    'CONFIG_INVALID',
    'c.yaml:3:7: client.socks[0]: expected "[bind:]port" or a mapping with keys port, bind, username, password, not a list',
  ],
  [
    "init's placeholder left in the whitelist",
    'server:\n  whitelist:\n    - REPLACE_WITH_CLIENT_PUBLIC_KEY\n',
    'CONFIG_INVALID',
    "c.yaml:3:7: server.whitelist[0]: this is still the placeholder REPLACE_WITH_CLIENT_PUBLIC_KEY that toxtunnel init wrote: replace it with the client's public key (on the client: toxtunnel print-id --public-key -c client.yaml)",
  ],
  [
    'a whitelist entry with a name but no key',
    'server:\n  whitelist:\n    - name: bob\n',
    'CONFIG_INVALID',
    'c.yaml:3:7: server.whitelist[0]: missing "public_key" (the friend\'s 64-hex public key; "name" is optional)',
  ],
  [
    'a bootstrap node without its key',
    'tox:\n  bootstrap_nodes:\n    - address: 127.0.0.1\n      port: 33445\n',
    'CONFIG_INVALID',
    'c.yaml:3:7: tox.bootstrap_nodes[0]: missing "public_key" (each node needs address, port, public_key)',
  ],
  [
    'a bootstrap node with a short key',
    `tox:\n  bootstrap_nodes:\n    - {address: 127.0.0.1, port: 33445, public_key: ${KEY.slice(2)}}\n`,
    'CONFIG_INVALID',
    'c.yaml:3:53: tox.bootstrap_nodes[0].public_key: expected a DHT public key (64 hex characters), got 62 characters',
  ],
  ['a port range upside down', 'tox:\n  start_port: 5000\n  end_port: 4000\n', 'CONFIG_INVALID', 'c.yaml:3:13: tox.end_port: 4000 is below start_port 5000'],
  ['a blank data_dir', 'data_dir: "  "\n', 'CONFIG_INVALID', 'c.yaml:1:11: data_dir: is empty (leave the key out for the default)'],
  ['an empty value for text', 'client:\n  pipe:\n', 'CONFIG_INVALID', 'c.yaml:2:8: client.pipe: is empty: give a value, or leave the key out'],
  [
    'a metrics port out of range',
    'metrics: 99999\n',
    'CONFIG_INVALID',
    'c.yaml:1:10: metrics: bad metrics port "99999" in metrics 99999: must be a number 1..65535',
  ],
  ['a key given twice', 'mode: server\nmode: client\n', 'CONFIG_INVALID', 'c.yaml:2:1: mode: duplicate key "mode"'],
  ['an alias', 'mode: &m server\nlogging:\n  level: *m\n', 'CONFIG_INVALID', 'c.yaml:3:10: logging.level: an alias (*m) is not allowed in a toxtunnel file: write the value out'],
  ['a list as a key', '? [a, b]\n: 1\n', 'CONFIG_INVALID', 'c.yaml:1:3: a key must be a plain name, not a list, a mapping or an alias'],
  ['a document that is one word', 'hello\n', 'CONFIG_INVALID', `c.yaml:1:1: expected a mapping with keys ${TOP_KEYS}, not "hello"`],
];

for (const [what, text, code, message] of CONFIG_TABLE) {
  test(`config: ${what}`, () => {
    const error = configError(text);
    assert.is(error.message, message);
    assert.is(error.code, code);
    assert.is(exitCodeFor(error.code), 2);
    const [, line, column] = /^c\.yaml:(\d+):(\d+): /.exec(message)!;
    assert.equal([error.details.line, error.details.column], [Number(line), Number(column)], 'details carry the line and column');
  });
}

const RULES_TABLE: Array<[string, string, string, string]> = [
  [
    'a misspelt friend key',
    `rules:\n  - friend_public_key: ${KEY}\n`,
    'CONFIG_UNKNOWN_KEY',
    `r.yaml:2:5: rules[0].friend_public_key: unknown key "friend_public_key" — did you mean "friend"? (valid here: ${RULE_KEYS})`,
  ],
  ['a rule without a friend', 'rules:\n  - allow: []\n', 'RULES_INVALID', 'r.yaml:2:5: rules[0]: a rule needs "friend" or "friend_pk" (the friend\'s 64-hex public key)'],
  ['a rule with both spellings', `rules:\n  - friend: ${KEY}\n    friend_pk: ${KEY}\n`, 'RULES_INVALID', 'r.yaml:2:5: rules[0]: give "friend" or "friend_pk", not both'],
  [
    "init's placeholder left as the friend",
    'rules:\n  - friend_pk: REPLACE_WITH_CLIENT_PUBLIC_KEY\n',
    'RULES_INVALID',
    "r.yaml:2:16: rules[0].friend_pk: this is still the placeholder REPLACE_WITH_CLIENT_PUBLIC_KEY that toxtunnel init wrote: replace it with the client's public key (on the client: toxtunnel print-id --public-key -c client.yaml)",
  ],
  [
    'an address with a wildcard in the middle',
    `rules:\n  - friend: ${KEY}\n    allow:\n      - host: "10.*.1"\n`,
    'RULES_INVALID',
    'r.yaml:4:15: rules[0].allow[0].host: "10.*.1" looks like an address with a wildcard: write a CIDR ("10.0.0.0/8", "fd00::/8") or whole trailing octets ("192.168.1.*")',
  ],
  [
    'an allow entry without a host',
    `rules:\n  - friend: ${KEY}\n    allow:\n      - ports: [22]\n`,
    'RULES_INVALID',
    'r.yaml:4:9: rules[0].allow[0]: missing "host" (a name, an address, a CIDR, or a pattern with one "*")',
  ],
  [
    'a port out of range in a flow mapping',
    `rules:\n  - friend: ${KEY}\n    allow:\n      - { host: h, ports: [22, 70000] }\n`,
    'RULES_INVALID',
    'r.yaml:4:32: rules[0].allow[0].ports[1]: 70000 is not a whole number from 1 to 65535',
  ],
  [
    'a listen bind that is a name',
    `rules:\n  - friend: ${KEY}\n    listen:\n      - bind: example.com\n`,
    'RULES_INVALID',
    'r.yaml:4:15: rules[0].listen[0].bind: "example.com": a listen bind is an address, a CIDR, or "*" (loopback only), not a name',
  ],
  ['an expiry that is not a time', `rules:\n  - friend: ${KEY}\n    expires: tomorrow\n`, 'RULES_INVALID', 'r.yaml:3:14: rules[0].expires: "tomorrow" is not an ISO 8601 time such as 2026-12-31T18:00:00Z'],
  ['a mapping where the rules list goes', 'rules: {}\n', 'RULES_INVALID', 'r.yaml:1:8: rules: expected a list, not a mapping'],
];

for (const [what, text, code, message] of RULES_TABLE) {
  test(`rules: ${what}`, () => {
    const error = rulesError(text);
    assert.is(error.message, message);
    assert.is(error.code, code);
    assert.is(exitCodeFor(error.code), 2);
  });
}

test('syntax errors, size and depth: file:line:column too', () => {
  const syntax = configError('mode: server\nclient: {forwards: [1, 2}\n');
  assert.is(syntax.code, 'CONFIG_SYNTAX');
  assert.match(syntax.message, /^c\.yaml:2:\d+: YAML syntax error: /);
  const deep = configError(`client: ${'['.repeat(40)}${']'.repeat(40)}\n`);
  assert.is(deep.code, 'CONFIG_INVALID');
  assert.match(deep.message, /^c\.yaml:1:\d+: client(\[0\])+: nested more than 32 levels deep$/);
  const large = configError(`# ${'x'.repeat(300 * 1024)}\n`);
  assert.is(large.code, 'CONFIG_TOO_LARGE');
  assert.is(exitCodeFor(large.code), 2);
});

test('text is read as written: digits keep their leading zeros, numbers where text goes become text', () => {
  const file = join(dir, 'ok.yaml');
  writeFileSync(file, 'client:\n  server_id: 0123\n  shared_secret: 0445\n  pipe: 1e3\n  invite: true\ntox:\n  tcp_port: "443"\n  start_port: 0445\n');
  assert.equal(loadConfigFile(file), { client: { server_id: '0123', shared_secret: '0445', pipe: '1e3', invite: 'true' }, tox: { tcp_port: 443, start_port: 445 } });
});

test('empty sections and lists are allowed; one -L or -D string may stand for the list', () => {
  const file = join(dir, 'empty.yaml');
  writeFileSync(file, 'tox:\nserver:\n  whitelist:\nclient:\n  forwards: "2222:127.0.0.1:22"\n  socks: 1080\n');
  assert.equal(loadConfigFile(file), { tox: null, server: { whitelist: null }, client: { forwards: ['2222:127.0.0.1:22'], socks: ['1080'] } });
  writeFileSync(file, '');
  assert.equal(loadConfigFile(file), {});
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
