// SPDX-License-Identifier: GPL-3.0-or-later
// collectWhenQuiet (src/cli/heap-tuning.ts) on real, short timers: a collection only after
// COLLECT_AFTER_BYTES moved and the tunnels went quiet again; never while bytes keep moving,
// none for start-up (V8's memory reducer does that one). fullGc on this runtime (Node):
// a real collection that frees what nothing holds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { COLLECT_AFTER_BYTES, collectWhenQuiet, fullGc, mallocTrim, releaseMemory } from '../../src/cli/heap-tuning.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const timing = { everyMs: 20, idleMs: 20 };

test('nothing moved, nothing collected (start-up is left to V8)', async () => {
  let calls = 0;
  const stop = collectWhenQuiet(() => 0, () => calls++, timing);
  await sleep(200);
  stop();
  assert.is(calls, 0);
});

test('no collection while bytes keep moving; one when they stop after COLLECT_AFTER_BYTES, none for less', async () => {
  let bytes = 0;
  let calls = 0;
  const stop = collectWhenQuiet(() => bytes, () => calls++, timing);
  await sleep(100);
  assert.is(calls, 0, 'none before anything moved');
  // Moving: every check sees new bytes.
  const mover = setInterval(() => (bytes += COLLECT_AFTER_BYTES / 4), 5);
  try {
    await sleep(150);
    assert.is(calls, 0, 'none while moving');
    clearInterval(mover);
    await sleep(120);
    assert.is(calls, 1, 'one once quiet after more than COLLECT_AFTER_BYTES');
    bytes += COLLECT_AFTER_BYTES / 2;
    await sleep(120);
    assert.is(calls, 1, 'half of COLLECT_AFTER_BYTES earns none');
    bytes += COLLECT_AFTER_BYTES / 2;
    await sleep(120);
    assert.is(calls, 2, 'the other half does');
  } finally {
    clearInterval(mover);
    stop();
  }
});

test('stop() ends the checks', async () => {
  let reads = 0;
  const stop = collectWhenQuiet(() => reads++, () => {}, timing);
  await sleep(70);
  stop();
  const after = reads;
  await sleep(100);
  assert.is(reads, after);
  assert.ok(after >= 2, `read ${after} times before stop`);
});

test('fullGc on Node collects: an object only a WeakRef holds is gone afterwards', async () => {
  const gc = fullGc();
  assert.type(gc, 'function');
  let ref: WeakRef<object> | undefined;
  (() => {
    ref = new WeakRef({ big: new Array(1000).fill(1) });
  })();
  await sleep(0); // WeakRef targets are kept until the end of the current job
  gc!();
  assert.is(ref!.deref(), undefined);
});

test('releaseMemory: the collection at once, malloc_trim a second later (after the freed buffers are swept)', async () => {
  const calls: Array<[string, number]> = [];
  const t0 = Date.now();
  releaseMemory(
    () => calls.push(['gc', Date.now() - t0]),
    () => calls.push(['trim', Date.now() - t0]),
  )!();
  assert.equal(calls.map((c) => c[0]), ['gc']);
  await sleep(1100);
  assert.equal(calls.map((c) => c[0]), ['gc', 'trim']);
  assert.ok(calls[1]![1] >= 950, `trim at ${calls[1]![1]} ms`);
});

test('mallocTrim is Deno-only: undefined on Node', () => {
  assert.is(mallocTrim(), undefined);
});

test.run();
