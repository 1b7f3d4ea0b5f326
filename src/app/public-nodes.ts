// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Public Tox bootstrap nodes used by `bootstrap_mode: auto` (with any tox.bootstrap_nodes).
 * From the community list (nodes.tox.chat, as mirrored by Tox clients); nodes come and go,
 * so refresh this list before a release. Never used by tests or the demo, which run with
 * `bootstrap_mode: none` and a local bootstrap node.
 */
import type { BootstrapNode } from './tox-runtime.ts';

export const PUBLIC_BOOTSTRAP_NODES: readonly BootstrapNode[] = [
  { host: 'tox.abilinski.com', port: 33445, publicKey: '10C00EB250C3233E343E2AEBA07115A5C28920E9C8D29492F6D00B29049EDC7E', tcpPorts: [33445] },
  { host: '144.217.167.73', port: 33445, publicKey: '7E5668E0EE09E19F320AD47902419331FFEE147BB3606769CFBE921A2A2FD34C', tcpPorts: [3389] },
  { host: 'tox.novg.net', port: 33445, publicKey: 'D527E5847F8330D628DAB1814F0A422F6DC9D0A300E6C357634EE2DA88C35463', tcpPorts: [33445] },
  { host: 'tox.verdict.gg', port: 33445, publicKey: '1C5293AEF2114717547B39DA8EA6F1E331E5E358B35F9B6B5F19317911C5F976', tcpPorts: [33445] },
  { host: '37.48.122.22', port: 33445, publicKey: '1B5A8AB25FFFB66620A531C4646B47F0F32B74C547B30AF8BD8266CA50A3AB59', tcpPorts: [33445] },
];
