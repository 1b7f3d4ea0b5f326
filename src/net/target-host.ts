// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * One canonical form for every host a peer names (TUNNEL_OPEN, SOCKS5 CONNECT, REVERSE_LISTEN)
 * and every host a rules file names, so that rules compare like with like:
 *
 * - IPv4 in every form inet_aton(3) accepts — "127.1", "0x7f.1", "017700000001", "2130706433" —
 *   becomes the dotted quad "127.0.0.1" (WHATWG URL's IPv4 parser, which follows inet_aton:
 *   1–4 parts, each decimal, 0x-hex or 0-octal, the last part filling the remaining bytes).
 * - A host whose last label is a number is an IPv4 address or nothing ("1.2.3.4.5" is refused,
 *   never looked up as a name): WHATWG's "ends in a number" rule.
 * - IPv6 is normalised to RFC 5952 text ("0:0:0:0:0:0:0:1" → "::1"); an IPv4-mapped address
 *   (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) becomes the IPv4 address it carries. Zone ids are refused.
 * - Names go through IDNA (UTS #46) to ASCII ("bücher.example" → "xn--bcher-kva.example") and
 *   are refused when the mapping changed what was written — fullwidth letters or digits, a soft
 *   hyphen, anything UTS #46 maps or drops — or when a label mixes scripts, or when the result
 *   is not a host name (labels of letters, digits, "-" and "_", 1–63 bytes, 253 in all).
 *
 * What may be dialled is a further question (classifyAddress): the unspecified, "this network",
 * broadcast and multicast addresses are never targets.
 */
import { domainToUnicode } from 'node:url';
import { ToxtunnelError } from '../errors.ts';
import { ipBytesToString, ipStringToBytes } from './ip-bytes.ts';

export type CanonicalHost =
  | { kind: 'ipv4'; text: string; bytes: Uint8Array }
  | { kind: 'ipv6'; text: string; bytes: Uint8Array }
  | { kind: 'name'; text: string };

export type CanonicalAddress = Extract<CanonicalHost, { kind: 'ipv4' | 'ipv6' }>;

/** A host text that is not a usable host: the message says why (for the peer and the log). */
export class HostError extends ToxtunnelError {
  constructor(host: string, why: string) {
    super('HOST_INVALID', `${JSON.stringify(host)} is not a valid host: ${why}`, { host });
  }
}

const MAX_NAME_LENGTH = 253; // RFC 1035 §2.3.4, without the trailing dot
const MAX_LABEL_LENGTH = 63;
/** Letters, digits, hyphen (RFC 952/1123), and "_" (service and container names use it). */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;
/** The only ASCII characters a host text may carry into the URL parser (no "/", "@", ":", …). */
const SAFE_ASCII = /^[\x21-\x7e]*$/;
const UNSAFE_ASCII = /[^a-zA-Z0-9._-]/;

/**
 * The canonical form of a host text, or a HostError. Accepts "[v6]" and one trailing dot.
 */
export function canonicalHost(input: string): CanonicalHost {
  if (input.length === 0) throw new HostError(input, 'empty');
  if (input.length > 1024) throw new HostError(input.slice(0, 64) + '…', 'longer than any host name');
  let text = input;
  if (text.startsWith('[') && text.endsWith(']')) return canonicalIPv6(input, text.slice(1, -1));
  if (text.includes(':')) return canonicalIPv6(input, text);
  const ascii = SAFE_ASCII.test(text);
  if (ascii && UNSAFE_ASCII.test(text)) throw new HostError(input, 'only letters, digits, ".", "-" and "_" may appear in a host name');
  if (!ascii && /[\x00-\x20\x7f%]/.test(text)) throw new HostError(input, 'contains a space, "%" or a control character');
  if (text.endsWith('.') && text.length > 1) text = text.slice(0, -1);
  let parsed: string;
  try {
    // WHATWG URL's host parser: UTS #46 mapping + ToASCII, then the IPv4 number parser.
    parsed = new URL(`http://${text}/`).hostname;
  } catch {
    throw new HostError(input, endsInNumber(text) ? 'its last label is a number but it is not an IPv4 address' : 'not a host name or address');
  }
  if (!ascii && (parsed.startsWith('[') || isDottedQuad(parsed))) {
    throw new HostError(input, `IDNA maps it to the address ${parsed}: write addresses in ASCII digits`);
  }
  if (isDottedQuad(parsed)) return { kind: 'ipv4', text: parsed, bytes: ipStringToBytes(parsed) };
  return { kind: 'name', text: checkName(input, text, parsed) };
}

/** The canonical address, when the host is an IP address (never looks a name up). */
export function canonicalAddress(input: string): CanonicalAddress | undefined {
  try {
    const host = canonicalHost(input);
    return host.kind === 'name' ? undefined : host;
  } catch {
    return undefined;
  }
}

function canonicalIPv6(input: string, body: string): CanonicalHost {
  if (body.includes('%')) throw new HostError(input, 'IPv6 zone ids (%…) are not accepted');
  // Only hex digits, ":" and "." (a trailing dotted quad): the URL parser below would take
  // "@", "\\" or "/" as URL syntax and hand back some other host, or none.
  if (!/^[0-9a-fA-F:.]+$/.test(body)) throw new HostError(input, 'not a valid IPv6 address');
  let parsed: string;
  try {
    parsed = new URL(`http://[${body}]/`).hostname.slice(1, -1);
  } catch {
    throw new HostError(input, 'not a valid IPv6 address');
  }
  return fromIPv6Bytes(ipStringToBytes(parsed));
}

/** 16 bytes → the canonical address (IPv4-mapped becomes IPv4). */
export function fromIPv6Bytes(bytes: Uint8Array): CanonicalAddress {
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (mapped) {
    const v4 = bytes.slice(12, 16);
    return { kind: 'ipv4', text: ipBytesToString(v4), bytes: v4 };
  }
  return { kind: 'ipv6', text: ipBytesToString(bytes), bytes: Uint8Array.from(bytes) };
}

function isDottedQuad(text: string): boolean {
  return /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(text);
}

/** WHATWG URL "ends in a number": the last label is all digits or 0x-hex. */
function endsInNumber(text: string): boolean {
  const labels = text.split('.');
  const last = labels[labels.length - 1] === '' && labels.length > 1 ? labels[labels.length - 2]! : labels[labels.length - 1]!;
  return /^[0-9]+$/.test(last) || /^0x[0-9a-f]*$/i.test(last);
}

function checkName(input: string, written: string, ascii: string): string {
  if (ascii.length > MAX_NAME_LENGTH) throw new HostError(input, `longer than ${MAX_NAME_LENGTH} characters`);
  for (const label of ascii.split('.')) {
    if (label.length === 0) throw new HostError(input, 'has an empty label (two dots in a row, or a leading dot)');
    if (label.length > MAX_LABEL_LENGTH) throw new HostError(input, `has a label longer than ${MAX_LABEL_LENGTH} characters`);
    if (!LABEL.test(label)) throw new HostError(input, `label "${label}" is not letters, digits, "-" and "_" (no "-" at either end)`);
  }
  if (!/^[\x00-\x7f]*$/.test(written) || /(^|\.)xn--/i.test(written)) {
    // UTS #46 may have mapped what was written (fullwidth → ASCII, soft hyphen → nothing, case):
    // accept only when the name reads back exactly as written, in one script per label.
    const unicode = domainToUnicode(ascii);
    const asWritten = written.normalize('NFC').toLowerCase();
    if (unicode === '' || (unicode !== asWritten && ascii !== asWritten)) {
      throw new HostError(input, `IDNA maps it to "${ascii}", which is not what was written (fullwidth, invisible or look-alike characters)`);
    }
    for (const label of unicode.split('.')) {
      const scripts = scriptsOf(label);
      if (!scriptsCompatible(scripts)) throw new HostError(input, `label "${label}" mixes scripts (${[...scripts].join(', ')})`);
    }
  }
  return ascii;
}

const SCRIPTS = ['Latin', 'Greek', 'Cyrillic', 'Armenian', 'Hebrew', 'Arabic', 'Devanagari', 'Bengali', 'Thai', 'Georgian', 'Hangul', 'Hiragana', 'Katakana', 'Han', 'Ethiopic', 'Tamil'] as const;
const SCRIPT_TESTS = SCRIPTS.map((name) => [name, new RegExp(`\\p{Script=${name}}`, 'u')] as const);

function scriptsOf(label: string): Set<string> {
  const found = new Set<string>();
  for (const char of label) {
    if (/[0-9_-]/.test(char)) continue;
    const hit = SCRIPT_TESTS.find(([, test]) => test.test(char));
    found.add(hit ? hit[0] : /\p{L}/u.test(char) ? 'other letters' : 'symbols');
  }
  return found;
}

/** One script per label; Japanese (Han + kana) and Korean (Han + Hangul) are one each (UTS #39). */
function scriptsCompatible(scripts: Set<string>): boolean {
  if (scripts.has('symbols')) return false;
  if (scripts.size <= 1) return true;
  const japanese = ['Han', 'Hiragana', 'Katakana'];
  const korean = ['Han', 'Hangul'];
  const within = (set: string[]) => [...scripts].every((s) => set.includes(s));
  return within(japanese) || within(korean);
}

export type AddressClass = 'unspecified' | 'this-network' | 'broadcast' | 'multicast' | 'loopback' | 'ipv4-compatible' | 'ordinary';

/** What an address is, for the checks that never let one be a target (RFC 6890 registries). */
export function classifyAddress(address: CanonicalAddress): AddressClass {
  const b = address.bytes;
  if (address.kind === 'ipv4') {
    if (b[0] === 0) return b.every((x) => x === 0) ? 'unspecified' : 'this-network'; // 0.0.0.0/8, RFC 1122 3.2.1.3
    if (b[0]! >= 224 && b[0]! <= 239) return 'multicast'; // 224.0.0.0/4
    if (b.every((x) => x === 255)) return 'broadcast'; // 255.255.255.255
    if (b[0] === 127) return 'loopback';
    return 'ordinary';
  }
  if (b.every((x) => x === 0)) return 'unspecified'; // ::
  if (b[0] === 0xff) return 'multicast'; // ff00::/8
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return 'loopback'; // ::1
  if (b.subarray(0, 12).every((x) => x === 0)) return 'ipv4-compatible'; // ::a.b.c.d, deprecated (RFC 4291 §2.5.5.1)
  return 'ordinary';
}

const NEVER_A_TARGET: Record<AddressClass, string | undefined> = {
  unspecified: 'the unspecified address is never a target',
  'this-network': '0.0.0.0/8 ("this network") is never a target',
  broadcast: 'the broadcast address is never a target',
  multicast: 'multicast addresses are never targets',
  'ipv4-compatible': 'IPv4-compatible IPv6 addresses (::a.b.c.d) are deprecated and never targets',
  loopback: undefined,
  ordinary: undefined,
};

/** Why this address may never be dialled, or undefined. */
export function notATarget(address: CanonicalAddress): string | undefined {
  return NEVER_A_TARGET[classifyAddress(address)];
}

export function isLoopback(address: CanonicalAddress): boolean {
  return classifyAddress(address) === 'loopback';
}
