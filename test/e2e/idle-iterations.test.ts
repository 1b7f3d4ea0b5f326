// SPDX-License-Identifier: GPL-3.0-or-later
// How often an idle node runs tox_iterate (src/tox/tox-node.ts settled(), with the real wasm
// toxcore in this process; no bootstrap node: nothing is sent anywhere). While a friend may be
// coming online it iterates every 50 ms, as toxcore asks; once every offline friend has been
// offline for the settle time (a server whose friends come once a week), idle iterations
// stretch to one per IDLE_MAX_MS (2 s, src/tox/iteration-scheduler.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ToxNode } from '../../src/tox/tox-node.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function iterationsDuring(node: ToxNode, ms: number): Promise<number> {
  let n = 0;
  const count = () => n++;
  node.on('iterate', count);
  await sleep(ms);
  node.off('iterate', count);
  return n;
}

test('an offline friend keeps 50 ms iterations for the settle time, then they stretch; a friend added later brings them back', async () => {
  using node = await ToxNode.create({ startPort: 26101, endPort: 26200, offlineSettledMs: 1500 });
  node.addFriendNoRequest(makeToxId(new Uint8Array(32).fill(3), 1).publicKeyHex);
  const early = await iterationsDuring(node, 1000);
  // 1 s at toxcore's 50 ms: 20 (timers on a busy machine come late, never early).
  assert.ok(early >= 12, `${early} iterations in the first second`);
  await sleep(1500); // past the settle time; the stretch climbs 50, 100, … 2000 ms
  const settled = await iterationsDuring(node, 2000);
  assert.ok(settled <= 4, `${settled} iterations in 2 s once settled`);
  node.addFriendNoRequest(makeToxId(new Uint8Array(32).fill(4), 1).publicKeyHex);
  const again = await iterationsDuring(node, 1000);
  assert.ok(again >= 12, `${again} iterations in the second after a new friend`);
});

test('a node without friends settles after the settle time too', async () => {
  using node = await ToxNode.create({ startPort: 26101, endPort: 26200, offlineSettledMs: 1000 });
  const early = await iterationsDuring(node, 800);
  assert.ok(early >= 10, `${early} iterations in the first 800 ms`);
  await sleep(2000);
  const settled = await iterationsDuring(node, 2000);
  assert.ok(settled <= 4, `${settled} iterations in 2 s once settled`);
});

test.run();
