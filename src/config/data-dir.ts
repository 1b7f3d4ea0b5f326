// SPDX-License-Identifier: GPL-3.0-or-later
/** Where toxtunnel keeps tox_save.dat when no data_dir is given, per OS. */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultDataDir(
  platform: string = process.platform,
  env: Record<string, string | undefined> = process.env,
  home: string = homedir(),
): string {
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'toxtunnel');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'toxtunnel');
  return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'toxtunnel');
}
