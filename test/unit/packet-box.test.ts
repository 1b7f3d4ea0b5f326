// SPDX-License-Identifier: GPL-3.0-or-later
// The packet box (wasm/tt_box.c, patch 0008): every net_crypto packet is sealed and opened by
// our SIMD Salsa20 only if, at start-up, it produced the same boxes as libsodium's
// crypto_box_easy_afternm (the reference) for lengths around each of its boundaries, opened
// them again, and refused a damaged one. Wire compatibility with toxcore's own build is
// checked end to end by native-peer*.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadToxcore } from '../../src/wasm/module.ts';

test('the SIMD packet box agrees with libsodium and is in use', async () => {
  const toxcore = await loadToxcore();
  assert.is(toxcore.exports.tt_box_in_use(), 1);
});

test.run();
