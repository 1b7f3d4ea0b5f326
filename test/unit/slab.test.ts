// SPDX-License-Identifier: GPL-3.0-or-later
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Slab } from '../../src/protocol/slab.ts';

const bytesOf = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

test('copies keep their bytes while later copies fill the slab and the next ones', () => {
  const slab = new Slab(16384);
  const kept: { copy: Uint8Array; want: Uint8Array }[] = [];
  // 1373-byte packets (the largest Tox lossless packet): 11 to a slab, 4 slabs.
  for (let i = 0; i < 40; i++) {
    const want = bytesOf(1373, i);
    kept.push({ copy: slab.copy(want), want });
  }
  assert.is(kept[0]!.copy.buffer, kept[10]!.copy.buffer, 'the first 11 share a slab');
  assert.is.not(kept[0]!.copy.buffer, kept[11]!.copy.buffer, 'the 12th starts the next');
  for (const [i, { copy, want }] of kept.entries()) assert.equal(copy, want, `copy ${i} intact`);
});

test('arrays carved from one slab never overlap and start 8-byte aligned', () => {
  const slab = new Slab(4096);
  const arrays = [1, 7, 8, 9, 100, 3].map((n) => slab.alloc(n));
  for (const a of arrays) assert.is(a.byteOffset % 8, 0, `offset ${a.byteOffset}`);
  for (let i = 1; i < arrays.length; i++) {
    const previous = arrays[i - 1]!;
    if (previous.buffer === arrays[i]!.buffer) assert.ok(arrays[i]!.byteOffset >= previous.byteOffset + previous.length, `array ${i} overlaps ${i - 1}`);
  }
});

test('a carved array is a plain Uint8Array: slice copies, writing one leaves its neighbours alone', () => {
  const slab = new Slab(4096);
  const a = slab.copy(bytesOf(16, 1));
  const b = slab.copy(bytesOf(16, 2));
  assert.is(Object.getPrototypeOf(a), Uint8Array.prototype);
  const sliced = a.slice(0, 4);
  sliced[0] = 0xee;
  assert.is(a[0], bytesOf(16, 1)[0]);
  a.fill(0xff);
  assert.equal(b, bytesOf(16, 2));
});

test('large arrays get a buffer of their own, and length is exact', () => {
  const slab = new Slab(4096);
  const big = slab.alloc(2000);
  assert.is(big.length, 2000);
  assert.is(big.byteOffset, 0);
  assert.is(big.buffer.byteLength, 2000);
  assert.is(slab.alloc(0).length, 0);
});

test.run();
