// SPDX-License-Identifier: GPL-3.0-or-later
import type { ToxNode } from '../../src/tox/tox-node.ts';

/**
 * Sends every packet to a friend in order, as a test's hand-made peer: on SENDQ it waits for
 * the node's 'drain' (or 50 ms) and tries again; any other error, or SENDQ for longer than
 * `withinMs`, throws.
 */
export async function sendAllLossless(node: ToxNode, friend: number, packets: Iterable<Uint8Array>, withinMs = 120_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (const packet of packets) {
    for (;;) {
      const result = node.sendLossless(friend, packet);
      if (result.ok) break;
      if (result.error !== 'SENDQ') throw new Error(`send failed: ${result.error}`);
      if (Date.now() > deadline) throw new Error(`send stuck on SENDQ for ${withinMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        node.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
