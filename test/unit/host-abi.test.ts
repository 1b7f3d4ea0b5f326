// SPDX-License-Identifier: GPL-3.0-or-later
// The C side and the TypeScript side of the wasm boundary must agree on names and numbers.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HostError, HostFamily, HostOption, HostSocketType } from '../../src/net/host-errors.ts';
import { EXPORTED_FUNCTION_NAMES } from '../../src/wasm/ffi.ts';
import { ipBytesToString, ipStringToBytes } from '../../src/net/ip-bytes.ts';

const header = readFileSync('wasm/tt_host.h', 'utf8');
const define = (name: string) => {
  const match = new RegExp(`#define ${name} (\\d+)`).exec(header);
  assert.ok(match, `${name} is defined in tt_host.h`);
  return Number(match![1]);
};

test('TT_E_* codes match HostError', () => {
  for (const [name, value] of Object.entries(HostError)) assert.is(define(`TT_E_${name}`), value, name);
  const cCount = header.match(/#define TT_E_/g)?.length;
  assert.is(cCount, Object.keys(HostError).length, 'no code only on one side');
});

test('families, socket types and options match', () => {
  assert.is(define('TT_AF_INET'), HostFamily.INET);
  assert.is(define('TT_AF_INET6'), HostFamily.INET6);
  assert.is(define('TT_SOCK_STREAM'), HostSocketType.STREAM);
  assert.is(define('TT_SOCK_DGRAM'), HostSocketType.DGRAM);
  assert.is(define('TT_OPT_BROADCAST'), HostOption.BROADCAST);
  assert.is(define('TT_OPT_JOIN_FF02_1'), HostOption.JOIN_FF02_1);
  assert.is(define('TT_OPT_RCVBUF'), HostOption.RCVBUF);
  assert.is(define('TT_OPT_SNDBUF'), HostOption.SNDBUF);
});

test('wasm/exports.txt and ffi.ts list the same functions', () => {
  const listed = readFileSync('wasm/exports.txt', 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.equal([...listed].sort(), [...EXPORTED_FUNCTION_NAMES].sort());
});

test('every tt_host_/tt_event_ import of the header is forwarded by the JS library', () => {
  const imports = [...header.matchAll(/extern \w+ \*?(tt_(?:host|event)_\w+)\(/g)].map((m) => m[1]);
  const library = readFileSync('wasm/library_tt_host.js', 'utf8');
  assert.ok(imports.length >= 18);
  for (const name of imports) assert.ok(library.includes(`${name}: function(`), `${name} in library_tt_host.js`);
});

test('IP addresses convert both ways', () => {
  const cases: Array<[string, number[]]> = [
    ['127.0.0.1', [127, 0, 0, 1]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ['::ffff:127.0.0.1', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1]],
    ['2001:db8::8:800:200c:417a', [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 8, 8, 0, 0x20, 0x0c, 0x41, 0x7a]],
    ['fe80::', [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  ];
  for (const [text, bytes] of cases) {
    assert.equal([...ipStringToBytes(text)], bytes, text);
    assert.is(ipBytesToString(Uint8Array.from(bytes)), text);
  }
  assert.throws(() => ipStringToBytes('not-an-ip'));
});

test.run();
