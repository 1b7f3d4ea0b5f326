// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Host patterns of the rules file, and what they match (docs/security.md has examples):
 *
 *   "*"                 every target: any name, any address
 *   "10.0.0.0/8"        CIDR: addresses only (IPv4 or IPv6, "fd00::/8"); matched against the
 *                       literal address a friend sent and against every address a name resolves to
 *   "192.168.1.7"       one address, the same as /32 (or /128); any spelling inet_aton accepts
 *   "192.168.1.*"       read as the CIDR 192.168.1.0/24 ("10.*" = 10.0.0.0/8): never matches a name
 *   "db.internal"       one name (IDNA to ASCII, lower case): matches that name only
 *   "*.internal"        a name wildcard (one "*", at the start and/or the end, or inside):
 *                       matches names only, never addresses
 *
 * Anything else — a numeric pattern with a "*" that is not a whole trailing octet, two "*",
 * a malformed CIDR — is refused when the rules are loaded, with the reason.
 */
import { type CanonicalAddress, canonicalHost, fromIPv6Bytes, HostError } from '../net/target-host.ts';

export type HostPattern =
  | { kind: 'any'; text: string }
  | { kind: 'cidr'; text: string; family: 'ipv4' | 'ipv6'; bytes: Uint8Array; prefix: number }
  | { kind: 'name'; text: string }
  | { kind: 'name-wildcard'; text: string; prefix: string; suffix: string };

/** A pattern from the rules file; throws a message (string) for the loader to place. */
export function parseHostPattern(input: string): HostPattern {
  const text = input.trim().toLowerCase();
  if (text === '*') return { kind: 'any', text };
  if (text.includes('/')) return parseCidr(text);
  const stars = (text.match(/\*/g) ?? []).length;
  if (stars > 1) throw `"${input}" has more than one "*" (one wildcard, at the start and/or end)`;
  if (stars === 1) {
    const octets = /^((?:\d{1,3}\.){1,3})\*$/.exec(text);
    if (octets) {
      const fixed = octets[1]!.slice(0, -1).split('.').map(Number);
      if (fixed.some((n) => n > 255)) throw `"${input}": ${fixed.join('.')} is not the start of an IPv4 address`;
      const bytes = Uint8Array.from([...fixed, 0, 0, 0, 0].slice(0, 4));
      return { kind: 'cidr', text: `${[...bytes].join('.')}/${fixed.length * 8}`, family: 'ipv4', bytes, prefix: fixed.length * 8 };
    }
    const star = text.indexOf('*');
    const prefix = text.slice(0, star);
    const suffix = text.slice(star + 1);
    if (/^[\d.:]*$/.test(prefix) && /^[\d.:]*$/.test(suffix) && /[\d:]/.test(prefix + suffix)) {
      throw `"${input}" looks like an address with a wildcard: write a CIDR ("10.0.0.0/8", "fd00::/8") or whole trailing octets ("192.168.1.*")`;
    }
    for (const part of [prefix, suffix]) {
      const core = part.replace(/^\.+|\.+$/g, '');
      if (core === '') continue;
      try {
        const host = canonicalHost(core);
        if (host.kind !== 'name') throw `"${input}": a name wildcard cannot contain an address`;
      } catch (error) {
        if (error instanceof HostError) throw `"${input}": ${error.message}`;
        throw error;
      }
    }
    return { kind: 'name-wildcard', text, prefix: asciiPart(prefix), suffix: asciiPart(suffix) };
  }
  try {
    const host = canonicalHost(text);
    if (host.kind === 'name') return { kind: 'name', text: host.text };
    const bits = host.kind === 'ipv4' ? 32 : 128;
    return { kind: 'cidr', text: `${host.text}/${bits}`, family: host.kind, bytes: host.bytes, prefix: bits };
  } catch (error) {
    if (error instanceof HostError) throw error.message;
    throw error;
  }
}

/** The ASCII (IDNA) form of a wildcard's fixed part, keeping its dots. */
function asciiPart(part: string): string {
  if (/^[\x00-\x7f]*$/.test(part)) return part;
  const lead = /^\.*/.exec(part)![0];
  const trail = /\.*$/.exec(part)![0];
  const core = part.slice(lead.length, part.length - trail.length);
  return lead + canonicalHost(core).text + trail;
}

function parseCidr(text: string): HostPattern {
  const slash = text.lastIndexOf('/');
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  let address;
  try {
    address = canonicalHost(addressText);
  } catch (error) {
    throw `"${text}": ${error instanceof HostError ? error.message : String(error)}`;
  }
  if (address.kind === 'name') throw `"${text}": a CIDR needs an address before the "/", not a name`;
  // An IPv4-mapped IPv6 CIDR (::ffff:10.0.0.0/104) is the IPv4 CIDR it denotes.
  const mappedShift = address.kind === 'ipv4' && addressText.includes(':') ? 96 : 0;
  const bits = address.kind === 'ipv4' ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) - mappedShift < 0 || Number(prefixText) - mappedShift > bits) {
    throw `"${text}": the prefix length must be 0..${bits + mappedShift}`;
  }
  const prefix = Number(prefixText) - mappedShift;
  const bytes = Uint8Array.from(address.bytes);
  if (!hostBitsZero(bytes, prefix)) throw `"${text}" has bits set after the /${prefix} prefix (did you mean ${networkText(address, prefix)}?)`;
  return { kind: 'cidr', text: `${address.text}/${prefix}`, family: address.kind, bytes, prefix };
}

function hostBitsZero(bytes: Uint8Array, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return false;
  return true;
}

function networkText(address: CanonicalAddress, prefix: number): string {
  const bytes = Uint8Array.from(address.bytes);
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return `${address.kind === 'ipv4' ? [...bytes].join('.') : fromIPv6Bytes(bytes).text}/${prefix}`;
}

export function addressInCidr(address: CanonicalAddress, cidr: Extract<HostPattern, { kind: 'cidr' }>): boolean {
  if (address.kind !== cidr.family) return false;
  const whole = cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (address.bytes[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (address.bytes[whole]! & mask) === (cidr.bytes[whole]! & mask);
}

/** Does the pattern match this name (canonical) — names never match CIDR patterns. */
export function patternMatchesName(pattern: HostPattern, name: string): boolean {
  switch (pattern.kind) {
    case 'any':
      return true;
    case 'cidr':
      return false;
    case 'name':
      return pattern.text === name;
    case 'name-wildcard':
      return name.length >= pattern.prefix.length + pattern.suffix.length && name.startsWith(pattern.prefix) && name.endsWith(pattern.suffix);
  }
}

/** Does the pattern match this address — addresses never match name patterns. */
export function patternMatchesAddress(pattern: HostPattern, address: CanonicalAddress): boolean {
  if (pattern.kind === 'any') return true;
  return pattern.kind === 'cidr' && addressInCidr(address, pattern);
}
