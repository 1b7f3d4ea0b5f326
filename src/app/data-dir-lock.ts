// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * One running instance per data directory: `data_dir/toxtunnel.lock` holds the PID of the
 * instance that uses the identity there. Two nodes with one key flap Offline/Connected and both
 * rewrite tox_save.dat, so a second full instance is refused, naming the holder.
 *
 * A crash never leaves the lock stale: a lock whose process is gone (or, on Linux, is no
 * toxtunnel) is taken over. The file is created with O_EXCL, so of two instances starting at
 * once exactly one wins.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ToxtunnelError } from '../errors.ts';

export const LOCK_FILE_NAME = 'toxtunnel.lock';

export interface LockHolder {
  pid: number;
  mode?: string;
  /** When it started (ISO 8601). */
  since?: string;
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/** Locks held by this process, by path (a second start in one process is refused too). */
const heldHere = new Set<string>();

export function lockFilePath(dataDir: string): string {
  return join(dataDir, LOCK_FILE_NAME);
}

/** The live holder of a data directory's lock, or undefined when it is free (or stale). */
export function lockHolder(dataDir: string): LockHolder | undefined {
  const path = lockFilePath(dataDir);
  let holder: LockHolder;
  try {
    holder = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(holder?.pid) || holder.pid <= 0) return undefined;
  if (holder.pid === process.pid) return heldHere.has(path) ? holder : undefined;
  return isAlive(holder.pid) ? holder : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The PID may have been reused since a crash: on Linux, check that it still runs toxtunnel.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /toxtunnel|\.m?[jt]s\b/.test(cmdline);
  } catch {
    return true; // no /proc (macOS, Windows): trust the PID
  }
}

/** Takes the lock of dataDir for this process, or fails naming the PID that holds it. */
export function lockDataDir(dataDir: string, mode: string): DataDirLock {
  const path = lockFilePath(dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ToxtunnelError('DATA_DIR_LOCK_FAILED', `cannot create ${path}: ${(error as Error).message}`, { path }, { cause: error });
      }
      const holder = lockHolder(dataDir);
      if (holder) {
        throw new ToxtunnelError(
          'DATA_DIR_LOCKED',
          `the data directory ${dataDir} is in use by toxtunnel PID ${holder.pid}${holder.mode ? ` (${holder.mode}` : ''}${holder.since ? `, since ${holder.since}` : ''}${holder.mode ? ')' : ''}: ` +
            'one identity can run only once; stop that instance, or give this one another data directory (-d). ' +
            '(toxtunnel --pipe attaches to a running client by itself.)',
          { path, pid: holder.pid },
        );
      }
      try {
        unlinkSync(path); // stale: its process is gone
      } catch {
        // another instance took it over first; the next attempt sees its lock
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify({ pid: process.pid, mode, since: new Date().toISOString() } satisfies LockHolder));
    } finally {
      closeSync(fd);
    }
    heldHere.add(path);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      heldHere.delete(path);
      process.off('exit', release);
      try {
        if ((JSON.parse(readFileSync(path, 'utf8')) as LockHolder).pid === process.pid) unlinkSync(path);
      } catch {
        // already gone
      }
    };
    process.on('exit', release);
    return { path, release };
  }
  throw new ToxtunnelError('DATA_DIR_LOCK_FAILED', `cannot take the lock ${path}: it keeps changing (another instance starting?)`, { path });
}
