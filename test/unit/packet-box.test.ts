// SPDX-License-Identifier: GPL-3.0-or-later
// The packet box (wasm/tt_box.c, patch 0008): every net_crypto packet is sealed and opened by
// our SIMD Salsa20 only if, at start-up, it produced the same boxes as libsodium's
// crypto_box_easy_afternm (the reference) for lengths around each of its boundaries, opened
// them again, and refused a damaged one. Wire compatibility with toxcore's own build is
// checked end to end by native-peer*.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isToxtunnelError } from '../../src/errors.ts';
import { hasWasmSimd, loadToxcore, requireWasmSimd } from '../../src/wasm/module.ts';

test('the SIMD packet box agrees with libsodium and is in use', async () => {
  const toxcore = await loadToxcore();
  assert.is(toxcore.exports.tt_box_in_use(), 1);
});

// The SIMD probe is checked against the engine and against a validator that knows no v128
// (0x7b): a runtime without SIMD gets an error that says so, not a CompileError.
test('a runtime without WebAssembly SIMD is told so by name (NO_WASM_SIMD); Node has SIMD', () => {
  assert.ok(hasWasmSimd(), 'Node 20 validates the SIMD probe');
  const withoutSimd = (bytes: Uint8Array) => !bytes.includes(0x7b) && WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>);
  assert.not.ok(hasWasmSimd(withoutSimd));
  try {
    requireWasmSimd(withoutSimd);
    assert.unreachable('no error');
  } catch (error) {
    assert.ok(isToxtunnelError(error, 'NO_WASM_SIMD'), String(error));
    assert.match((error as Error).message, /no SIMD/);
  }
});

test.run();
