// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The node's identity on disk: `data_dir/tox_save.dat`, plain toxcore save data
 * (tox_get_savedata) as the C++ toxtunnel writes it, so an identity moves between the two.
 * It holds the secret key: the file is created 0600, the directory 0700, and every write is
 * atomic (temporary file in the same directory, fsync, rename).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ToxtunnelError } from '../errors.ts';
import { osErrorText } from '../os-errors.ts';

export const SAVE_FILE_NAME = 'tox_save.dat';

export function saveFilePath(dataDir: string): string {
  return join(dataDir, SAVE_FILE_NAME);
}

/**
 * The save data, or undefined if there is none yet. An empty file (a crash between create and
 * write by another program, or `touch`) holds no identity either: it is treated as absent, so
 * a new identity is made and saved over it.
 */
export function loadSavedata(dataDir: string): Uint8Array | undefined {
  const path = saveFilePath(dataDir);
  try {
    const bytes = readFileSync(path);
    if (bytes.byteLength === 0) return undefined;
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ToxtunnelError('IDENTITY_UNREADABLE', `cannot read ${path}: ${osErrorText(error)} (run as the user that owns the data directory, or choose another with -d)`, { path }, { cause: error });
  }
}

export function writeSavedata(dataDir: string, bytes: Uint8Array): void {
  const path = saveFilePath(dataDir);
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const fd = openSync(temporary, 'w', 0o600);
    try {
      writeSync(fd, bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    throw new ToxtunnelError('IDENTITY_UNWRITABLE', `cannot write ${path}: ${osErrorText(error)} (make the data directory writable, or choose another with -d)`, { path }, { cause: error });
  }
}

/** Permission bits of the save file (for doctor-style checks), or undefined if absent. */
export function saveFileMode(dataDir: string): number | undefined {
  try {
    return statSync(saveFilePath(dataDir)).mode & 0o777;
  } catch {
    return undefined;
  }
}
