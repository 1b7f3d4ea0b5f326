// SPDX-License-Identifier: GPL-3.0-or-later
// The same befriend-and-exchange smoke test with the built bundle (dist/index.mjs) on Node,
// Bun and Deno (both pinned as dev dependencies), plus one mixed pair.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { befriendedPair, exchange } from '../helpers/pair.ts';
import type { Runtime } from '../helpers/peer.ts';

const MB = 1024 * 1024;

async function smoke(runtimes: [Runtime, Runtime], firstPort: number) {
  const options = { startPort: firstPort, endPort: firstPort + 20 };
  const pair = await befriendedPair(options, options, runtimes);
  try {
    const r = await exchange(pair, 1 * MB, 120_000);
    assert.is(r.receivedB.sha256, r.sentA.sha256, `${runtimes.join('->')} hash`);
    assert.is(r.receivedA.sha256, r.sentB.sha256, `${runtimes.join('<-')} hash`);
    return pair.onlineAfterMs;
  } finally {
    pair.stop();
  }
}

test('befriend and exchange 1 MB each way on Node, Bun and Deno (and Bun <-> Deno)', async () => {
  const results = await Promise.allSettled([
    smoke(['node', 'node'], 26501),
    smoke(['bun', 'bun'], 26531),
    smoke(['deno', 'deno'], 26561),
    smoke(['bun', 'deno'], 26591),
  ]);
  const names = ['node', 'bun', 'deno', 'bun<->deno'];
  results.forEach((result, i) => {
    if (result.status === 'rejected') throw new Error(`${names[i]}: ${String(result.reason)}`);
    console.log(`  ${names[i]}: online after ${result.value} ms`);
  });
});

test.run();
