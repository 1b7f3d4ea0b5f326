// SPDX-License-Identifier: GPL-3.0-or-later
// tuntox's flags as aliases (TUNTOX.md §9): what a tuntox command line resolves to, and the
// help's "tuntox compatibility" section.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveConfig } from '../../src/config/config.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';
import { tuntoxFlags } from '../../src/tuntox/cli-aliases.ts';
import { runCliSync } from '../helpers/tunnel-env.ts';

const ID = makeToxId(new Uint8Array(32).fill(0xab), 7).text;
const OTHER = makeToxId(new Uint8Array(32).fill(0x12), 9).text;
const dir = mkdtempSync(join(tmpdir(), 'toxtunnel-tuntox-cli-'));

/** tuntoxFlags over an argv, as main.ts reads it. */
function fromArgv(argv: string[]) {
  const values = (names: string[]) => argv.flatMap((a, i) => (names.includes(a) && i + 1 < argv.length ? [argv[i + 1]!] : []));
  return tuntoxFlags(values, (names) => argv.some((a) => names.includes(a)));
}

test('a tuntox client command line: -i is the server, -L makes it a client, -W is the pipe, -C the data dir', () => {
  const flags = fromArgv(['-i', ID, '-L', '2222:127.0.0.1:22', '-C', dir]);
  assert.is(flags.impliedMode, 'client');
  const c = resolveConfig({ ...flags, local: ['2222:127.0.0.1:22'] }, {});
  assert.is(c.mode, 'client');
  assert.is(c.serverId, ID);
  assert.is(c.forwards[0]!.remotePort, 22);
  const pipe = resolveConfig({ ...fromArgv(['-i', OTHER, '-i', ID, '-W', '127.0.0.1:22']) }, {});
  assert.is(pipe.serverId, ID, 'the last -i wins');
  assert.equal(pipe.pipe, { host: '127.0.0.1', port: 22 });
});

test('a tuntox server command line: no -L/-W/-D makes it a server; -i is a whitelist entry; -f the rules file', () => {
  const rules = join(dir, 'rules');
  writeFileSync(rules, '127.0.0.1:22\n');
  const flags = fromArgv(['-i', ID, '-i', OTHER.slice(0, 64), '-f', rules, '-s', 'x']);
  assert.is(flags.impliedMode, 'server');
  const c = resolveConfig({ ...flags, secret: 'x' }, {});
  assert.is(c.mode, 'server');
  assert.equal(c.whitelist, [ID.slice(0, 64), OTHER.slice(0, 64)]);
  assert.is(c.rulesFile, rules);
  assert.throws(() => resolveConfig({ ...fromArgv(['-i', 'abc']) }, {}), /-i "abc": expected a Tox ID \(76 hex characters\) or a public key \(64\), got 3 characters/);
});

test('-m or the config file still decide the mode; TUNTOX_SHARED_SECRET is read last; --protocol is checked', () => {
  assert.is(resolveConfig({ mode: 'server', ...fromArgv(['-i', ID, '-L', '1:a:2']) }, {}).mode, 'server');
  assert.is(resolveConfig({ mode: 'server' }, { TUNTOX_SHARED_SECRET: 's1' }).sharedSecret, 's1');
  assert.is(resolveConfig({ mode: 'server' }, { TUNTOX_SHARED_SECRET: 's1', TOXTUNNEL_SHARED_SECRET: 's2' }).sharedSecret, 's2');
  assert.is(resolveConfig({ mode: 'client', serverId: ID, local: ['1:a:2'] }, {}).protocol, 'auto');
  assert.is(resolveConfig({ mode: 'client', serverId: ID, local: ['1:a:2'], protocol: 'tuntox' }, {}).protocol, 'tuntox');
  assert.throws(() => resolveConfig({ mode: 'client', serverId: ID, local: ['1:a:2'], protocol: 'ssh' }, {}), /--protocol: "ssh" is not a valid protocol \(auto, toxtunnel, tuntox\)/);
  const yaml = join(dir, 'c.yaml');
  writeFileSync(yaml, `mode: client\nclient:\n  server_id: ${ID}\n  protocol: toxtunnel\n  pipe: 127.0.0.1:22\n`);
  assert.is(resolveConfig({ config: yaml }, {}).protocol, 'toxtunnel');
});

test('--help lists the aliases once, in a "tuntox compatibility" section', () => {
  const help = runCliSync(['--help']);
  assert.is(help.status, 0);
  const section = help.stdout.split('tuntox compatibility')[1] ?? '';
  for (const flag of ['-i <toxid>', '-W <host:port>', '-C <dir>', '-f <file>']) {
    assert.ok(section.includes(flag), `${flag} in the section`);
    assert.is(help.stdout.split(flag).length - 1, 1, `${flag} listed once`);
  }
});

test.run();
