// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel print-id [-c FILE] [-d DIR] [--public-key] [--qr]`: prints the Tox ID of the
 * identity in the data directory (resolved as every subcommand does: -d, TOXTUNNEL_DATA_DIR,
 * the config's data_dir, the OS default) — what the client needs as server_id — or, with
 * --public-key, its first 64 hex characters (what a rules file names a friend by).
 *
 * With no identity yet (no tox_save.dat, or an empty one) it creates one and saves it (0600,
 * atomically) before printing: it never prints an ID it did not keep. The node it uses opens
 * no socket at all.
 */
import { loadSavedata, saveFilePath, writeSavedata } from '../app/identity.ts';
import { type CliFlags, resolveConfigSource } from '../config/config.ts';
import { ToxNode } from '../tox/tox-node.ts';
import { toxIdQr } from './qr.ts';

export interface PrintIdFlags extends Pick<CliFlags, 'config' | 'dataDir'> {
  publicKey?: boolean;
  qr?: boolean;
  color?: boolean;
}

export async function printId(flags: PrintIdFlags, out: (text: string) => void = (t) => void process.stdout.write(t)): Promise<void> {
  const { dataDir } = resolveConfigSource(flags);
  const savedata = loadSavedata(dataDir);
  // UDP off and no relay port: toxcore opens no socket, so this touches no network.
  const node = await ToxNode.create({ udp: false, tcpPort: 0, localDiscovery: false, savedata });
  try {
    if (!savedata) {
      writeSavedata(dataDir, node.savedata()); // throws IDENTITY_UNWRITABLE: then nothing is printed
      process.stderr.write(`created a new Tox identity in ${saveFilePath(dataDir)}\n`);
    }
    const id = node.address.text;
    const shown = flags.publicKey ? id.slice(0, 64) : id;
    out(`${shown}\n`);
    if (flags.qr) out(`${toxIdQr(shown, flags.color === true)}\n`);
  } finally {
    node.close();
  }
}
