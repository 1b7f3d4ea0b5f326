// SPDX-License-Identifier: GPL-3.0-or-later
// Savedata round trip and bad input, against the real wasm toxcore in this process. No
// bootstrap: nothing is sent anywhere.
import dgram from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isToxtunnelError } from '../../src/errors.ts';
import { ToxNode } from '../../src/tox/tox-node.ts';
import { makeToxId } from '../../src/tox/tox-id.ts';
import { loadToxcore } from '../../src/wasm/module.ts';

async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    assert.ok(isToxtunnelError(error), `expected a ToxtunnelError, got ${String(error)}`);
    assert.ok(!/\n\s+at /.test((error as Error).message), 'message carries no stack trace');
    return (error as { code: string }).code;
  }
  throw new Error('did not throw');
}

test('a node restarted from its savedata has the same Tox ID, keys and friends', async () => {
  const friendKey = makeToxId(new Uint8Array(32).fill(7), 1).publicKeyHex;
  const first = await ToxNode.create({ startPort: 26001, endPort: 26100 });
  const friend = first.addFriendNoRequest(friendKey);
  first.friendByPublicKey(friendKey);
  const saved = first.savedata();
  const identity = { address: first.address.text, publicKey: first.publicKey };
  first.close();

  using second = await ToxNode.create({ startPort: 26001, endPort: 26100, savedata: saved });
  assert.is(second.address.text, identity.address);
  assert.is(second.publicKey, identity.publicKey);
  assert.equal(second.friends(), [friend]);
  assert.is(second.friendPublicKey(friend), friendKey);
  assert.is(second.friendByPublicKey(friendKey.toLowerCase()), friend);
});

test('invalid Tox IDs give TOX_ID_INVALID with the reason, and add nothing', async () => {
  using node = await ToxNode.create({ startPort: 26001, endPort: 26100 });
  const good = makeToxId(new Uint8Array(32).fill(9), 42).text;
  assert.is(await codeOf(() => node.addFriend(good.slice(2), 'hi')), 'TOX_ID_INVALID');
  assert.is(await codeOf(() => node.addFriend('Z' + good.slice(1), 'hi')), 'TOX_ID_INVALID');
  const flipped = good.slice(0, 75) + (good.endsWith('0') ? '1' : '0');
  try {
    node.addFriend(flipped, 'hi');
    assert.unreachable();
  } catch (error) {
    assert.match((error as Error).message, /checksum/);
  }
  assert.equal(node.friends(), []);
  assert.is(await codeOf(() => node.addFriend(node.address.text, 'me')), 'TOX_FRIEND_ADD_OWN_KEY');
});

test('corrupt savedata is refused with TOX_SAVEDATA_CORRUPT, not a new identity', async () => {
  const node = await ToxNode.create({ startPort: 26001, endPort: 26100 });
  const saved = node.savedata();
  node.close();
  const corrupt = saved.slice();
  corrupt.fill(0xff, 0, 8); // breaks the state format's magic cookie
  assert.is(await codeOf(() => ToxNode.create({ startPort: 26001, endPort: 26100, savedata: corrupt })), 'TOX_SAVEDATA_CORRUPT');
  assert.is(await codeOf(() => ToxNode.create({ savedata: new Uint8Array([1, 2, 3]) })), 'TOX_SAVEDATA_CORRUPT');
});

test('a taken port gives TOX_PORT_IN_USE / TOX_TCP_PORT_IN_USE; bad options give TOX_BAD_OPTION', async () => {
  const blocker = dgram.createSocket({ type: 'udp6', ipv6Only: false });
  await new Promise<void>((resolve) => blocker.bind(26201, '::', resolve));
  try {
    assert.is(await codeOf(() => ToxNode.create({ startPort: 26201, endPort: 26201 })), 'TOX_PORT_IN_USE');
    using a = await ToxNode.create({ startPort: 26201, endPort: 26210 });
    assert.is(a.udpPort, 26202, 'walks past the taken port like toxcore');
    using b = await ToxNode.create({ startPort: 26211, endPort: 26220, tcpPort: 26221 });
    assert.is(b.tcpPort, 26221);
    assert.is(await codeOf(() => ToxNode.create({ startPort: 26211, endPort: 26220, tcpPort: 26221 })), 'TOX_TCP_PORT_IN_USE');
  } finally {
    blocker.close();
  }
  assert.is(await codeOf(() => ToxNode.create({ startPort: 0, endPort: 5 })), 'TOX_BAD_OPTION');
  assert.is(await codeOf(() => ToxNode.create({ startPort: 9, endPort: 5 })), 'TOX_BAD_OPTION');
  assert.is(await codeOf(() => ToxNode.create({ tcpPort: 70000 })), 'TOX_BAD_OPTION');
});

test('failed and closed nodes leak neither sockets nor wasm memory; a closed node says so', async () => {
  const toxcore = await loadToxcore();
  const warm = await ToxNode.create({ startPort: 26301, endPort: 26400, tcpPort: 26401 });
  warm.close();
  const heapBefore = toxcore.exports.memory.buffer.byteLength;
  for (let i = 0; i < 30; i++) {
    await codeOf(() => ToxNode.create({ savedata: new Uint8Array(64).fill(i) }));
    const node = await ToxNode.create({ startPort: 26301, endPort: 26400, tcpPort: 26401 });
    node.addFriendNoRequest(makeToxId(new Uint8Array(32).fill(i + 1), 0).publicKeyHex);
    node.close();
  }
  assert.is(toxcore.sockets.stats().open, 0, 'every socket toxcore opened was closed');
  assert.is(toxcore.exports.memory.buffer.byteLength, heapBefore, 'the wasm heap did not grow');
  assert.is(await codeOf(() => warm.savedata()), 'TOX_NODE_CLOSED');
});

test.run();
