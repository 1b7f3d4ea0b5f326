// SPDX-License-Identifier: GPL-3.0-or-later
/** toxtunnel as a library. */
export { ToxtunnelError, isToxtunnelError } from './errors.ts';
export {
  ToxNode,
  MAX_LOSSLESS_PACKET_SIZE,
  type Connection,
  type FriendRequest,
  type SendResult,
  type ToxNodeOptions,
  type ToxNodeEvents,
} from './tox/tox-node.ts';
export { parseToxId, parsePublicKey, makeToxId, toHex, type ToxId } from './tox/tox-id.ts';
export { loadToxcore } from './wasm/module.ts';
