// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * IP addresses between the byte form toxcore uses (4 or 16 bytes, network order) and the
 * string form node:dgram / node:net use. On the per-packet path, so both directions keep a
 * small cache: a Tox node talks to a few hundred addresses at most.
 */
import { isIPv4, isIPv6 } from 'node:net';

const CACHE_LIMIT = 4096;
const toStringCache = new Map<string, string>();
const toBytesCache = new Map<string, Uint8Array>();

function remember<K, V>(cache: Map<K, V>, key: K, value: V): V {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, value);
  return value;
}

/** 4 bytes -> "a.b.c.d"; 16 bytes -> compressed IPv6 text (IPv4-mapped as ::ffff:a.b.c.d). */
export function ipBytesToString(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`IP address must be 4 or 16 bytes, got ${bytes.length}`);
  const key = String.fromCharCode(...bytes);
  const hit = toStringCache.get(key);
  if (hit !== undefined) return hit;
  return remember(toStringCache, key, formatIPv6(bytes));
}

function formatIPv6(b: Uint8Array): string {
  const isMapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (isMapped) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // The longest run of zero groups (length >= 2) becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** "a.b.c.d" -> 4 bytes; IPv6 text (with optional %scope, ignored) -> 16 bytes. */
export function ipStringToBytes(text: string): Uint8Array {
  const hit = toBytesCache.get(text);
  if (hit !== undefined) return hit;
  return remember(toBytesCache, text, parseIp(text));
}

function parseIp(text: string): Uint8Array {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  const bare = text.split('%')[0]!;
  if (!isIPv6(bare)) throw new RangeError(`not an IP address: ${JSON.stringify(text)}`);
  let body = bare;
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:1.2.3.4) fills the last 4 bytes.
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  let groupsWanted = 8;
  if (dotted) {
    out.set(parseIp(dotted[1]!), 12);
    body = body.slice(0, dotted.index + 1) + '0:0';
    groupsWanted = 8;
  }
  const [left, right] = body.includes('::') ? body.split('::') : [body, undefined];
  const leftGroups = left ? left.split(':') : [];
  const rightGroups = right === undefined ? [] : right ? right.split(':') : [];
  const zeros = groupsWanted - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...Array<string>(right === undefined ? 0 : zeros).fill('0'), ...rightGroups];
  for (let i = 0; i < 8; i++) {
    const value = parseInt(groups[i]!, 16);
    if (dotted && i >= 6) continue;
    out[i * 2] = value >> 8;
    out[i * 2 + 1] = value & 0xff;
  }
  return out;
}
