// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The node's identity on disk: `data_dir/tox_save.dat`, plain toxcore save data
 * (tox_get_savedata) as the C++ toxtunnel writes it, so an identity moves between the two.
 * It holds the secret key, so:
 * - the data dir is created 0700, and one that others may write to (group or world writable)
 *   is refused with the chmod that fixes it: whoever can write there can swap the identity;
 * - every write is atomic: a temporary file with a random name, created with
 *   O_CREAT|O_EXCL|O_NOFOLLOW (a planted file or symlink makes it fail, never followed) and mode
 *   0600, written, fsynced, renamed over the old file; then the directory is fsynced.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describeErrno, ToxtunnelError } from '../errors.ts';

export const SAVE_FILE_NAME = 'tox_save.dat';

export function saveFilePath(dataDir: string): string {
  return join(dataDir, SAVE_FILE_NAME);
}

/** tuntox's name for the same plain save data (its -C directory): read when ours is absent. */
export const TUNTOX_SAVE_FILE_NAME = 'tox_save';

/**
 * Creates the data dir (0700) if needed; refuses one that is not a directory, or that group or
 * others may write to (on POSIX systems).
 */
export function prepareDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new ToxtunnelError('DATA_DIR_UNUSABLE', `cannot create the data dir ${dataDir}: ${describeErrno(error)}`, { dataDir }, { cause: error });
  }
  const stat = lstatSync(dataDir);
  if (stat.isSymbolicLink() ? !statSync(dataDir).isDirectory() : !stat.isDirectory()) {
    throw new ToxtunnelError('DATA_DIR_UNUSABLE', `the data dir ${dataDir} is not a directory`, { dataDir });
  }
  if (process.platform !== 'win32' && (statSync(dataDir).mode & 0o022) !== 0) {
    const mode = (statSync(dataDir).mode & 0o777).toString(8);
    throw new ToxtunnelError(
      'CONFIG_DATA_DIR_INSECURE',
      `the data dir ${dataDir} is writable by ${statSync(dataDir).mode & 0o002 ? 'every user' : 'its group'} (mode ${mode}): anyone who can write there can replace the Tox identity. Fix it with: chmod 700 ${dataDir}`,
      { dataDir, mode },
    );
  }
}

/**
 * The save data, or undefined if there is none yet. An empty file (a crash between create and
 * write by another program, or `touch`) holds no identity either: it is treated as absent, so
 * a new identity is made and saved over it.
 */
export function loadSavedata(dataDir: string): Uint8Array | undefined {
  return readSave(saveFilePath(dataDir)) ?? readSave(join(dataDir, TUNTOX_SAVE_FILE_NAME));
}

function readSave(path: string): Uint8Array | undefined {
  try {
    const bytes = readFileSync(path);
    if (bytes.byteLength === 0) return undefined;
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ToxtunnelError('IDENTITY_UNREADABLE', `cannot read ${path}: ${describeErrno(error)}`, { path }, { cause: error });
  }
}

export function writeSavedata(dataDir: string, bytes: Uint8Array): void {
  prepareDataDir(dataDir);
  writeFileAtomically(saveFilePath(dataDir), bytes);
}

/** Atomic 0600 write beside `path` (see the header): never follows a planted file or link. */
export function writeFileAtomically(path: string, bytes: Uint8Array): void {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);
  let fd: number | undefined;
  try {
    fd = openSync(temporary, flags, 0o600);
    fchmodSync(fd, 0o600); // whatever the umask
    writeSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {}
    throw new ToxtunnelError('IDENTITY_UNWRITABLE', `cannot write ${path}: ${describeErrno(error)}`, { path }, { cause: error });
  }
  try {
    const dir = openSync(dirname(path), constants.O_RDONLY);
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some systems cannot fsync a directory; the rename itself is still atomic.
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
