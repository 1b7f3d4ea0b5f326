// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Operating-system error codes (err.code: ENOENT, EACCES, …) in words, for messages people
 * read: "cannot read config file x: no such file" instead of "…: ENOENT". The meanings are
 * those of POSIX errno (IEEE Std 1003.1, <errno.h>) and getaddrinfo's EAI_* codes.
 */

const WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EEXIST: 'it already exists',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EMFILE: 'too many open files in this process',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'a symbolic link where none is allowed (or a loop of links)',
  EIO: 'input/output error',
  EBUSY: 'the resource is busy',
  EADDRINUSE: 'the address is in use (another program listens there)',
  EADDRNOTAVAIL: 'the address is not available on this machine',
  ECONNREFUSED: 'connection refused (nothing listens there)',
  ECONNRESET: 'connection reset by the peer',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  EPIPE: 'the other end closed the connection',
  ENOTFOUND: 'the host name is not known (DNS)',
  EAI_AGAIN: 'the host name could not be resolved right now (DNS temporary failure)',
};

/** The words for an error's code ("permission denied"), or its message when the code is not known. */
export function osErrorText(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string' && WORDS[code]) return WORDS[code]!;
  if (typeof code === 'string' && code) return code;
  return error instanceof Error ? error.message : String(error);
}
