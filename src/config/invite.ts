// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Invites: one line that holds what a client needs to reach a server the first time.
 *
 *   toxtunnel://invite?id=<Tox ID>&secret=<shared secret>&dht=<DHT key>&onion=<onion key>&udp=<host>:<port>&udp=[<v6>]:<port>
 *
 * - id: the server's Tox ID (76 hex), always.
 * - secret: the shared secret, when the server asks for one (percent-encoded).
 * - dht + udp: address hints: the running server's DHT key (valid until it restarts) and the
 *   addresses the user chose to include, with its UDP port. The client bootstraps from them and
 *   tries the server there directly; they are only hints: the Tox handshake still checks the
 *   server's long-term key (the one in id), so a wrong hint can only cost time.
 * - onion (with dht + udp; optional): the running server's onion data key (also valid until it
 *   restarts), which its onion announcements give to every node they reach. With it the client
 *   sends its first friend request straight to the first address, sealed as the Tox onion
 *   would deliver it (wasm/tt_connect.c), instead of waiting seconds for onion paths.
 *
 * What an invite reveals (docs/invite.md): the Tox ID (anyone holding it can send friend
 * requests), the secret (with it, a friend request is accepted where the secret is the access
 * control), and with hints the server's addresses and port — where it is on the network, which
 * the Tox onion otherwise keeps to friends. Treat an invite with hints or a secret as a password.
 */
import { ToxtunnelError } from '../errors.ts';
import { parseToxId } from '../tox/tox-id.ts';
import type { FriendHint } from '../tox/tox-node.ts';

export interface Invite {
  toxId: string;
  secret?: string;
  /** The server's DHT key when the invite was made (hints). */
  dhtKey?: string;
  /** The server's onion data key when the invite was made (hints): the first friend request goes straight to it. */
  onionKey?: string;
  addresses: Array<{ host: string; port: number }>;
}

/** Where the server is, from an invite: its DHT key and address, and its onion data key (first friend request). */
export interface InviteHint extends FriendHint {
  onionKey?: string;
}

const PREFIX = 'toxtunnel://invite?';
const KEY = /^[0-9A-F]{64}$/;

export function formatInvite(invite: Invite): string {
  const params = new URLSearchParams({ id: invite.toxId });
  if (invite.secret !== undefined) params.set('secret', invite.secret);
  if (invite.dhtKey && invite.addresses.length > 0) {
    params.set('dht', invite.dhtKey);
    if (invite.onionKey) params.set('onion', invite.onionKey);
    for (const a of invite.addresses) params.append('udp', `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`);
  }
  return PREFIX + params.toString();
}

/** Parses an invite line; `source` names where it came from, for the message. */
export function parseInvite(text: string, source: string): Invite {
  const line = text.trim();
  const bad = (why: string) => new ToxtunnelError('CONFIG_INVITE_INVALID', `${source}: not a valid toxtunnel invite: ${why}`, { source });
  if (!line.startsWith(PREFIX)) throw bad(`it must start with ${PREFIX}`);
  const params = new URLSearchParams(line.slice(PREFIX.length));
  const id = params.get('id');
  if (!id) throw bad('no id= (the server\'s Tox ID)');
  let toxId: string;
  try {
    toxId = parseToxId(id).text;
  } catch (error) {
    throw bad((error as Error).message);
  }
  const secret = params.get('secret') ?? undefined;
  const dht = params.get('dht')?.toUpperCase();
  if (dht !== undefined && !KEY.test(dht)) throw bad('dht= must be a DHT key (64 hex characters)');
  const onion = params.get('onion')?.toUpperCase();
  if (onion !== undefined && !KEY.test(onion)) throw bad('onion= must be an onion data key (64 hex characters)');
  const addresses = params.getAll('udp').map((value) => {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(value);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65535) throw bad(`udp=${value} is not host:port`);
    return { host: (match[1] ?? match[2])!, port };
  });
  if (addresses.length > 0 && dht === undefined) throw bad('udp= needs dht= (the key to reach the server there)');
  if (onion !== undefined && addresses.length === 0) throw bad('onion= needs udp= (the address to send the friend request to)');
  return { toxId, ...(secret !== undefined ? { secret } : {}), ...(dht ? { dhtKey: dht } : {}), ...(onion ? { onionKey: onion } : {}), addresses };
}
