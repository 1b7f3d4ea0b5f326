// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel invite [-c server.yaml | -d DIR] [--address HOST]… [--qr]`: one line for a client
 * (`toxtunnel -m client --invite LINE …`, or client.invite in YAML): the server's Tox ID, its
 * shared secret if it has one, and — from the running server, when address hints are on — its
 * current DHT key and UDP port with the addresses the user names. What it reveals is said on
 * stderr each time (docs/invite.md).
 */
import { formatInvite, type Invite } from '../config/invite.ts';
import { loadSavedata } from '../app/identity.ts';
import { type CliFlags, resolveConfig } from '../config/config.ts';
import { controlRequest } from '../control/control-client.ts';
import { controlSocketPath } from '../control/control-protocol.ts';
import { ToxtunnelError } from '../errors.ts';
import { ToxNode } from '../tox/tox-node.ts';
import { renderQr } from './qr.ts';

export async function printInvite(flags: CliFlags & { addresses: string[]; qr: boolean }, out: (line: string) => void): Promise<number> {
  const config = resolveConfig({ ...flags, mode: flags.mode ?? 'server' });
  if (config.mode !== 'server') throw new ToxtunnelError('CLI_INVALID', 'invite describes a server: run it with the server\'s config (-c server.yaml) or data directory (-d)');
  for (const host of flags.addresses) {
    if (!/^[0-9A-Za-z.:-]{1,253}$/.test(host)) throw new ToxtunnelError('CLI_INVALID', `--address ${JSON.stringify(host)} is not a host name or IP address`);
  }
  const status = (await controlRequest(controlSocketPath(config.dataDir), { cmd: 'status' }, 3000).catch(() => undefined)) as
    | { toxId?: string; dhtKey?: string; onionKey?: string; udpPort?: number | null }
    | undefined;
  const toxId = status?.toxId ?? (await idFromDisk(config.dataDir));
  const invite: Invite = { toxId, ...(config.sharedSecret !== undefined ? { secret: config.sharedSecret } : {}), addresses: [] };
  const notes: string[] = [];
  if (!config.addressHints) {
    if (flags.addresses.length > 0) notes.push('address hints are off (tox.address_hints: false): --address ignored');
  } else if (flags.addresses.length > 0) {
    if (!status?.dhtKey || !status.udpPort) notes.push('the server is not running (or has UDP off): no address hints; start it and run invite again');
    else {
      invite.dhtKey = status.dhtKey;
      if (status.onionKey) invite.onionKey = status.onionKey;
      invite.addresses = flags.addresses.map((host) => ({ host, port: status.udpPort! }));
    }
  } else {
    notes.push('no address hints (name this machine\'s addresses with --address HOST to speed up the first contact)');
  }
  out(formatInvite(invite));
  if (flags.qr) out(renderQr(formatInvite(invite), false));
  const reveals = ['the Tox ID (anyone holding it can send friend requests)'];
  if (invite.secret !== undefined) reveals.push('the shared secret (it lets a client in)');
  if (invite.dhtKey) reveals.push(`this machine's address(es) ${invite.addresses.map((a) => a.host).join(', ')} and UDP port ${invite.addresses[0]!.port} (the DHT and onion keys in it are valid until the server restarts)`);
  for (const note of notes) process.stderr.write(`note: ${note}\n`);
  process.stderr.write(`this invite reveals ${reveals.join('; ')}: share it like a password (docs/invite.md)\n`);
  return 0;
}

async function idFromDisk(dataDir: string): Promise<string> {
  const savedata = loadSavedata(dataDir);
  if (!savedata) throw new ToxtunnelError('IDENTITY_MISSING', `no identity in ${dataDir} yet: start the server once (or run toxtunnel print-id -d ${dataDir})`);
  // UDP off and no relay port: toxcore opens no socket.
  const node = await ToxNode.create({ udp: false, tcpPort: 0, localDiscovery: false, savedata });
  try {
    return node.address.text;
  } finally {
    node.close();
  }
}
