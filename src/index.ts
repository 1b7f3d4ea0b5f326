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
export { start, type Instance, type Health } from './app/instance.ts';
export { resolveConfig, type ResolvedConfig, type CliFlags } from './config/config.ts';
export { loadRules, parseRules, RuleSet } from './config/rules.ts';
export { ToxtunnelServer, type ServerOptions, type AccessPolicy } from './app/server.ts';
export { ToxtunnelClient, type ClientOptions, type ClientEvents, type Forward, type ReverseForward, type SocksListener } from './app/client.ts';
export type { TunnelInfo, StatsSnapshot } from './app/tunnel-stats.ts';
export type { Logger } from './app/logger.ts';
