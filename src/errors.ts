// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Every error toxtunnel raises on purpose is a ToxtunnelError with a stable `code`
 * (SCREAMING_SNAKE, never renamed once released) and a message written for the person who
 * has to fix it: what is wrong, where, and what would be valid. Programs branch on `code`;
 * people read `message`. `details` carries structured context (file, line, key, …).
 */
export class ToxtunnelError extends Error {
  override name = 'ToxtunnelError';
  constructor(
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isToxtunnelError(value: unknown, code?: string): value is ToxtunnelError {
  return value instanceof ToxtunnelError && (code === undefined || value.code === code);
}

/** "no space left on the device (ENOSPC)" rather than a bare errno code. */
export function describeErrno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device',
    EROFS: 'the file system is read-only',
    EEXIST: 'a file of that name already exists',
    ELOOP: 'it is a symbolic link (refused)',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    EDQUOT: 'the disk quota is exhausted',
  };
  return code && words[code] ? `${words[code]} (${code})` : (error as Error).message;
}
