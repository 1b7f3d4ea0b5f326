// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Every error toxtunnel raises on purpose is a ToxtunnelError with a stable `code`
 * (SCREAMING_SNAKE, never renamed once released) and a message written for the person who
 * has to fix it: what is wrong, where, and what would be valid. Programs branch on `code`;
 * people read `message`. `details` carries structured context (file, line, key, …).
 */
import { osErrorText } from './os-errors.ts';

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

/**
 * The exit code for an error: 2 for a mistake the user fixes in a command line or a file
 * (CONFIG_*, CLI_*, RULES_*, INIT_* but INIT_ABORTED/INIT_WRITE_FAILED, *_INVALID, a server
 * with no access configured), 1 for a
 * runtime failure (the network, a port in use, an unwritable data directory, …).
 */
export function exitCodeFor(code: string): 1 | 2 {
  if (code === 'INIT_ABORTED' || code === 'INIT_WRITE_FAILED') return 1;
  return /^(CONFIG|CLI|RULES|INIT)_/.test(code) || code.endsWith('_INVALID') || code === 'ACCESS_NOT_CONFIGURED' ? 2 : 1;
}

/** "no space left on the device (ENOSPC)" rather than a bare errno code (words from os-errors.ts). */
export function describeErrno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const words = osErrorText(error);
  return code && words !== code ? `${words} (${code})` : words;
}
