// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * `toxtunnel print-id`: prints the Tox ID of the identity in the data directory — what the
 * client needs as server_id. Creates the identity if there is none yet (said on stderr), with
 * a node that opens no socket at all.
 */
import { loadSavedata, saveFilePath, writeSavedata } from '../app/identity.ts';
import { defaultDataDir } from '../config/data-dir.ts';
import { ToxNode } from '../tox/tox-node.ts';
import { toxIdQr } from './qr.ts';

export async function printId(flags: { dataDir?: string; qr?: boolean; color?: boolean }): Promise<void> {
  const dataDir = flags.dataDir ?? process.env.TOXTUNNEL_DATA_DIR ?? defaultDataDir();
  const savedata = loadSavedata(dataDir);
  // UDP off and no relay port: toxcore opens no socket, so this touches no network.
  const node = await ToxNode.create({ udp: false, tcpPort: 0, localDiscovery: false, savedata });
  try {
    if (!savedata) {
      writeSavedata(dataDir, node.savedata());
      process.stderr.write(`created a new Tox identity in ${saveFilePath(dataDir)}\n`);
    }
    const id = node.address.text;
    process.stdout.write(`${id}\n`);
    if (flags.qr) process.stdout.write(`${toxIdQr(id, flags.color === true)}\n`);
  } finally {
    node.close();
  }
}
