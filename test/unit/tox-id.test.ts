// SPDX-License-Identifier: GPL-3.0-or-later
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isToxtunnelError } from '../../src/errors.ts';
import { makeToxId, parsePublicKey, parseToxId, toHex } from '../../src/tox/tox-id.ts';

const key = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
const good = makeToxId(key, 0xdeadbeef);

function reason(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    assert.ok(isToxtunnelError(error), `not a ToxtunnelError: ${String(error)}`);
    return (error as { details: Record<string, unknown> }).details.reason;
  }
  assert.unreachable('did not throw');
}

test('a made Tox ID parses back, case-insensitively, with its key and nospam', () => {
  assert.is(good.text.length, 76);
  const parsed = parseToxId(good.text.toLowerCase());
  assert.is(parsed.text, good.text);
  assert.is(parsed.nospam, 0xdeadbeef);
  assert.is(parsed.publicKeyHex, toHex(key));
});

test('wrong length, bad hex and bad checksum are told apart', () => {
  assert.is(reason(() => parseToxId(good.text.slice(0, 75))), 'length');
  assert.is(reason(() => parseToxId(good.text.slice(0, 75) + 'G')), 'hex');
  const last = good.text.at(-1) === '0' ? '1' : '0';
  assert.is(reason(() => parseToxId(good.text.slice(0, 75) + last)), 'checksum');
});

test('a public key is 64 hex characters', () => {
  assert.equal(parsePublicKey(toHex(key)), key);
  assert.is(reason(() => parsePublicKey(good.text)), 'length');
});

test.run();
