// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The placeholders `toxtunnel init` writes where a key is not known yet, and the hints given
 * when a key field holds one of them, or holds the other kind of key (a Tox ID is the
 * 64-hex public key + 8 hex nospam + 4 hex checksum = 76 hex characters).
 */

/** Written where the client's public key is not known yet: the rules file then fails to load. */
export const CLIENT_KEY_PLACEHOLDER = 'REPLACE_WITH_CLIENT_PUBLIC_KEY';
/** Written where the server's Tox ID is not known yet: the client config then fails to load. */
export const SERVER_ID_PLACEHOLDER = 'REPLACE_WITH_SERVER_TOX_ID';

/** A hint for a value that is not a valid public key / Tox ID, or undefined when nothing specific is known. */
export function keyHint(value: string, expected: 'public key' | 'Tox ID'): string | undefined {
  const v = value.trim();
  if (v === SERVER_ID_PLACEHOLDER || v === CLIENT_KEY_PLACEHOLDER || /^REPLACE_WITH_/.test(v)) {
    return expected === 'Tox ID'
      ? `this is still the placeholder ${v} that toxtunnel init wrote: replace it with the server's Tox ID (on the server: toxtunnel print-id -c server.yaml, all 76 characters)`
      : `this is still the placeholder ${v} that toxtunnel init wrote: replace it with the client's public key (on the client: toxtunnel print-id --public-key -c client.yaml)`;
  }
  if (expected === 'Tox ID' && /^[0-9a-fA-F]{64}$/.test(v)) {
    return "this is a public key (64 hex characters), not a whole Tox ID: the server's Tox ID has 76 (toxtunnel print-id on the server prints it)";
  }
  if (expected === 'public key' && /^[0-9a-fA-F]{76}$/.test(v)) {
    return 'this is a whole Tox ID (76 hex characters): the public key is its first 64 characters';
  }
  return undefined;
}

/** What is wrong with a 64-hex public key (`what` names it), with a hint for a placeholder or a whole Tox ID; undefined when it is fine. */
export const publicKeyProblem =
  (what: string) =>
  (value: string): string | undefined =>
    /^[0-9a-fA-F]{64}$/.test(value.trim()) ? undefined : (keyHint(value, 'public key') ?? `expected ${what} (64 hex characters), got ${value.trim().length} characters`);
