// SPDX-License-Identifier: GPL-3.0-or-later
// Issue 11's small pure pieces: invite lines, the address-hints file, the data-dir lock.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hintsFilePath, loadHints, saveHints, type StoredHint } from '../../src/app/address-hints.ts';
import { lockDataDir, lockFilePath, lockHolder } from '../../src/app/data-dir-lock.ts';
import { formatInvite, parseInvite } from '../../src/config/invite.ts';
import { resolveConfig } from '../../src/config/config.ts';
import { isToxtunnelError } from '../../src/errors.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';

const id = makeToxId(Uint8Array.from({ length: 32 }, (_, i) => i + 1), 0x01020304).text;
const dht = 'C0'.repeat(32);
const dir = () => mkdtempSync(join(tmpdir(), 'toxtunnel-unit-'));

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(isToxtunnelError(error), String(error));
    return (error as { code: string }).code;
  }
  return assert.unreachable('did not throw') as never;
}

test('an invite round-trips: ID, a secret with URL-special characters, DHT key, IPv4 and IPv6 addresses', () => {
  const invite = { toxId: id, secret: 'p&s=w rd/ü', dhtKey: dht, addresses: [{ host: '192.0.2.7', port: 33445 }, { host: '2001:db8::1', port: 33446 }] };
  const line = formatInvite(invite);
  assert.ok(line.startsWith('toxtunnel://invite?id='), line);
  assert.not.match(line, /\s/);
  assert.equal(parseInvite(line, 'test'), invite);
});

test('an invite carries the onion data key beside the DHT key (onion=), upper-cased like the others', () => {
  const onion = 'ab'.repeat(32);
  const line = `toxtunnel://invite?id=${id}&dht=${dht}&onion=${onion}&udp=127.0.0.1%3A33445`;
  const invite = parseInvite(line, 't');
  assert.equal(invite, { toxId: id, dhtKey: dht, onionKey: onion.toUpperCase(), addresses: [{ host: '127.0.0.1', port: 33445 }] });
  assert.match(formatInvite(invite), new RegExp(`&onion=${onion.toUpperCase()}&`));
});

test('an onion key that is not 64 hex digits, or one without an address to send to, is refused', () => {
  assert.is(code(() => parseInvite(`toxtunnel://invite?id=${id}&dht=${dht}&onion=12&udp=1.2.3.4:5`, 't')), 'CONFIG_INVITE_INVALID');
  assert.is(code(() => parseInvite(`toxtunnel://invite?id=${id}&onion=${dht}`, 't')), 'CONFIG_INVITE_INVALID');
});

test('an invite without secret or hints carries only the ID; hints without addresses are left out', () => {
  assert.equal(parseInvite(formatInvite({ toxId: id, addresses: [] }), 't'), { toxId: id, addresses: [] });
  assert.not.match(formatInvite({ toxId: id, dhtKey: dht, addresses: [] }), /dht=/);
});

test('bad invites are refused with a clear code: prefix, checksum, DHT key, address, address without key', () => {
  assert.is(code(() => parseInvite(`tox:${id}`, 't')), 'CONFIG_INVITE_INVALID');
  assert.is(code(() => parseInvite(`toxtunnel://invite?id=${id.slice(0, 75)}0`, 't')), 'CONFIG_INVITE_INVALID');
  assert.is(code(() => parseInvite(`toxtunnel://invite?id=${id}&dht=12&udp=1.2.3.4:5`, 't')), 'CONFIG_INVITE_INVALID');
  assert.is(code(() => parseInvite(`toxtunnel://invite?id=${id}&dht=${dht}&udp=1.2.3.4:70000`, 't')), 'CONFIG_INVITE_INVALID');
  assert.is(code(() => parseInvite(`toxtunnel://invite?id=${id}&udp=1.2.3.4:5`, 't')), 'CONFIG_INVITE_INVALID');
});

test('address hints: saved 0600 and loaded back; a damaged file or bad entries are no hints', () => {
  const d = dir();
  const hints = new Map<string, StoredHint>([['A1'.repeat(32), { dhtKey: dht, address: { host: '127.0.0.1', port: 33445 }, seen: '2026-01-01T00:00:00.000Z' }]]);
  saveHints(d, hints);
  assert.is(statSync(hintsFilePath(d)).mode & 0o777, 0o600);
  assert.equal(loadHints(d), hints);
  writeFileSync(hintsFilePath(d), '{"version":1,"friends":{"A1A1":{"dhtKey":"zz"},"' + 'B2'.repeat(32) + '":{"dhtKey":"' + dht + '","address":{"host":"x","port":0}}}}');
  assert.equal([...loadHints(d)], [['B2'.repeat(32), { dhtKey: dht, seen: new Date(0).toISOString() }]], 'bad key dropped, bad address dropped');
  writeFileSync(hintsFilePath(d), '{not json');
  assert.is(loadHints(d).size, 0);
});

test('data-dir lock: a second lock is refused naming our PID; released, it can be taken again', () => {
  const d = dir();
  const lock = lockDataDir(d, 'client');
  assert.is(lockHolder(d)?.pid, process.pid);
  try {
    lockDataDir(d, 'client');
    assert.unreachable('second lock taken');
  } catch (error) {
    assert.is((error as { code: string }).code, 'DATA_DIR_LOCKED');
    assert.match((error as Error).message, new RegExp(`in use by toxtunnel PID ${process.pid} \\(client, since `));
  }
  lock.release();
  assert.not.ok(existsSync(lockFilePath(d)));
  lockDataDir(d, 'server').release();
});

test('data-dir lock: held by another live toxtunnel process it is refused; left by a dead one it is taken over', async () => {
  const d = dir();
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'toxtunnel'], { stdio: 'ignore' });
  try {
    writeFileSync(lockFilePath(d), JSON.stringify({ pid: other.pid, mode: 'server' }));
    assert.is(code(() => lockDataDir(d, 'client')), 'DATA_DIR_LOCKED');
  } finally {
    other.kill('SIGKILL');
    await new Promise((r) => other.once('exit', r));
  }
  // The process is gone (a crash): the lock is stale and taken over.
  const lock = lockDataDir(d, 'client');
  assert.is((JSON.parse(readFileSync(lockFilePath(d), 'utf8')) as { pid: number }).pid, process.pid);
  lock.release();
});

test('--invite gives the server ID, secret, a bootstrap node and the direct hint; hints off keeps only ID and secret', () => {
  const line = formatInvite({ toxId: id, secret: 's3', dhtKey: dht, addresses: [{ host: '127.0.0.1', port: 33445 }] });
  const base = { mode: 'client', invite: line, local: ['2222:127.0.0.1:22'], dataDir: dir() };
  const on = resolveConfig(base, { TOXTUNNEL_BOOTSTRAP_MODE: 'none' });
  assert.is(on.serverId, id);
  assert.is(on.sharedSecret, 's3');
  assert.equal(on.bootstrapNodes, [{ host: '127.0.0.1', port: 33445, publicKey: dht }]);
  assert.equal(on.serverHint, { dhtKey: dht, address: { host: '127.0.0.1', port: 33445 } });
  const onion = 'D1'.repeat(32);
  const withOnion = resolveConfig({ ...base, invite: formatInvite({ toxId: id, dhtKey: dht, onionKey: onion, addresses: [{ host: '127.0.0.1', port: 33445 }] }) }, { TOXTUNNEL_BOOTSTRAP_MODE: 'none' });
  assert.equal(withOnion.serverHint, { dhtKey: dht, address: { host: '127.0.0.1', port: 33445 }, onionKey: onion }, 'the onion key reaches the client');
  const off = resolveConfig(base, { TOXTUNNEL_BOOTSTRAP_MODE: 'none', TOXTUNNEL_ADDRESS_HINTS: '0' });
  assert.is(off.serverId, id);
  assert.is(off.sharedSecret, 's3');
  assert.equal(off.bootstrapNodes, []);
  assert.is(off.serverHint, undefined);
  assert.is(off.addressHints, false);
});

test('pipe mode logs at warn unless -l or TOXTUNNEL_LOG_LEVEL asks otherwise', () => {
  const base = { mode: 'client', serverId: id, pipe: '127.0.0.1:22', dataDir: dir() };
  assert.is(resolveConfig(base, {}).logLevel, 'warn');
  assert.is(resolveConfig({ ...base, logLevel: 'debug' }, {}).logLevel, 'debug');
  assert.is(resolveConfig(base, { TOXTUNNEL_LOG_LEVEL: 'info' }).logLevel, 'info');
  assert.is(resolveConfig({ ...base, pipe: undefined, local: ['1:a:2'] }, {}).logLevel, 'info');
});

test.run();
