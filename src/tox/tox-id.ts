// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Tox IDs and public keys as people type them.
 *
 * A Tox ID (toxcore "address") is 38 bytes shown as 76 hex characters:
 *   [public key: 32][nospam: 4][checksum: 2]
 * The checksum is the XOR of the 36 preceding bytes taken two at a time
 * (checksum[i % 2] ^= byte[i]), so a typo is caught before any network traffic.
 */
import { ToxtunnelError } from '../errors.ts';

export const PUBLIC_KEY_SIZE = 32;
export const NOSPAM_SIZE = 4;
export const CHECKSUM_SIZE = 2;
export const ADDRESS_SIZE = PUBLIC_KEY_SIZE + NOSPAM_SIZE + CHECKSUM_SIZE;

export interface ToxId {
  /** The 76 hex characters, upper case. */
  readonly text: string;
  readonly bytes: Uint8Array;
  readonly publicKey: Uint8Array;
  /** The public key as 64 upper-case hex characters. */
  readonly publicKeyHex: string;
  readonly nospam: number;
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out.toUpperCase();
}

function checksumOf(bytes: Uint8Array): [number, number] {
  const sum: [number, number] = [0, 0];
  for (let i = 0; i < PUBLIC_KEY_SIZE + NOSPAM_SIZE; i++) sum[i % 2 as 0 | 1] ^= bytes[i]!;
  return sum;
}

function parseHex(text: string, what: string, expectedChars: number, code: string): Uint8Array {
  const trimmed = text.trim();
  if (trimmed.length !== expectedChars) {
    throw new ToxtunnelError(
      code,
      `invalid ${what}: expected ${expectedChars} hex characters, got ${trimmed.length}`,
      { reason: 'length', length: trimmed.length },
    );
  }
  const bad = /[^0-9a-fA-F]/.exec(trimmed);
  if (bad) {
    throw new ToxtunnelError(
      code,
      `invalid ${what}: ${JSON.stringify(bad[0])} at position ${bad.index + 1} is not a hex digit`,
      { reason: 'hex', position: bad.index + 1 },
    );
  }
  const bytes = new Uint8Array(expectedChars / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(trimmed.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Parses a 76-hex-character Tox ID and verifies its checksum. Throws TOX_ID_INVALID. */
export function parseToxId(text: string): ToxId {
  const bytes = parseHex(text, 'Tox ID', ADDRESS_SIZE * 2, 'TOX_ID_INVALID');
  return toxIdFromBytes(bytes);
}

export function toxIdFromBytes(bytes: Uint8Array): ToxId {
  const [a, b] = checksumOf(bytes);
  if (bytes[36] !== a || bytes[37] !== b) {
    throw new ToxtunnelError(
      'TOX_ID_INVALID',
      'invalid Tox ID: the checksum (last 4 hex characters) does not match; the ID was probably mistyped or truncated — copy it again',
      { reason: 'checksum' },
    );
  }
  const publicKey = bytes.slice(0, PUBLIC_KEY_SIZE);
  const nospam = new DataView(bytes.buffer, bytes.byteOffset).getUint32(PUBLIC_KEY_SIZE, false);
  return { text: toHex(bytes), bytes: bytes.slice(), publicKey, publicKeyHex: toHex(publicKey), nospam };
}

/** Parses a 64-hex-character public key (a Tox ID's first half). Throws PUBLIC_KEY_INVALID. */
export function parsePublicKey(text: string): Uint8Array {
  return parseHex(text, 'public key', PUBLIC_KEY_SIZE * 2, 'PUBLIC_KEY_INVALID');
}

/** Builds the Tox ID of a public key and nospam (checksum computed). */
export function makeToxId(publicKey: Uint8Array, nospam: number): ToxId {
  const bytes = new Uint8Array(ADDRESS_SIZE);
  bytes.set(publicKey, 0);
  new DataView(bytes.buffer).setUint32(PUBLIC_KEY_SIZE, nospam >>> 0, false);
  const [a, b] = checksumOf(bytes);
  bytes[36] = a;
  bytes[37] = b;
  return toxIdFromBytes(bytes);
}
