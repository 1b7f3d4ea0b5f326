// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Address hints: where each friend was last reachable, kept in `data_dir/tox_hints.json`
 * beside tox_save.dat (0600, written atomically), so that a restarted node reaches its friends
 * directly instead of waiting ~10 s for the DHT and the onion to find them.
 *
 * A hint is a friend's DHT key (toxcore makes a new one every session, so it is valid while
 * the friend keeps running) and the UDP address its packets came from. Hints are only hints:
 * the connection still authenticates the friend's long-term key (wasm/tt_connect.c), and a
 * stale one changes nothing but a few unanswered packets. The file says who our friends are
 * and where they were: not a secret like the identity, but private, hence 0600.
 *
 *   { "version": 1, "friends": { "<public key>": { "dhtKey": "…", "address": { "host": "…", "port": 33445 }, "seen": "ISO time" } } }
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FriendHint } from '../tox/tox-node.ts';
import { prepareDataDir, writeFileAtomically } from './identity.ts';

export const HINTS_FILE_NAME = 'tox_hints.json';
const KEY = /^[0-9A-F]{64}$/;

export interface StoredHint extends FriendHint {
  /** When we last saw the friend there (ISO 8601). */
  seen: string;
}

export function hintsFilePath(dataDir: string): string {
  return join(dataDir, HINTS_FILE_NAME);
}

/** The stored hints by friend public key (upper-case hex). A missing or damaged file is no hints. */
export function loadHints(dataDir: string): Map<string, StoredHint> {
  const hints = new Map<string, StoredHint>();
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(hintsFilePath(dataDir), 'utf8'));
  } catch {
    return hints;
  }
  const friends = (document as { version?: unknown; friends?: unknown })?.friends;
  if ((document as { version?: unknown }).version !== 1 || typeof friends !== 'object' || friends === null) return hints;
  for (const [publicKey, value] of Object.entries(friends)) {
    const hint = parseHint(value);
    if (KEY.test(publicKey) && hint) hints.set(publicKey, hint);
  }
  return hints;
}

function parseHint(value: unknown): StoredHint | undefined {
  const v = value as { dhtKey?: unknown; address?: { host?: unknown; port?: unknown }; seen?: unknown };
  if (typeof v !== 'object' || v === null || typeof v.dhtKey !== 'string' || !KEY.test(v.dhtKey)) return undefined;
  const seen = typeof v.seen === 'string' ? v.seen : new Date(0).toISOString();
  const { host, port } = v.address ?? {};
  if (typeof host === 'string' && host.length > 0 && host.length < 64 && Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535) {
    return { dhtKey: v.dhtKey, address: { host, port: port as number }, seen };
  }
  return { dhtKey: v.dhtKey, seen };
}

export function saveHints(dataDir: string, hints: ReadonlyMap<string, StoredHint>): void {
  const friends = Object.fromEntries([...hints].sort(([a], [b]) => a.localeCompare(b)));
  prepareDataDir(dataDir);
  writeFileAtomically(hintsFilePath(dataDir), Buffer.from(`${JSON.stringify({ version: 1, friends }, null, 2)}\n`));
}

/** Same DHT key and address (the time aside): no need to write the file again. */
export function sameHint(a: FriendHint | undefined, b: FriendHint | undefined): boolean {
  return a?.dhtKey === b?.dhtKey && a?.address?.host === b?.address?.host && a?.address?.port === b?.address?.port;
}
