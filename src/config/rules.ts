// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The server's rules file: who may open tunnels to where.
 *
 *   rules:
 *     - friend_pk: 0123…(64 hex)          # or "friend:"; compared case-insensitively
 *       allow:
 *         - host: "*.internal"             # one "*" wildcard: prefix, suffix or both
 *           ports: [22, 443]               # [] or absent = every port
 *       deny:
 *         - host: "10.0.0.1"
 *       listen:                            # ours: reverse tunnels (-R) this friend may ask for
 *         - bind: 127.0.0.1                # optional, default 127.0.0.1; one "*" wildcard allowed
 *           ports: [8080, 8081]            # [] or absent = every port
 *       expires: 2026-12-31T18:00:00Z      # ours, optional: after it the rule is gone
 *
 * Semantics: deny entries are checked first, then allow entries; a friend with no rule (or
 * only expired ones) is denied. Without a rules file every friend may go anywhere — the
 * server warns about that loudly at start.
 */
import { readFileSync } from 'node:fs';
import type { Node } from 'yaml';
import type { AccessPolicy } from '../app/server.ts';
import { ToxtunnelError } from '../errors.ts';
import { osErrorText } from '../os-errors.ts';
import { keyHint } from './placeholders.ts';
import { check, configError, parseYaml, type Spec } from './yaml-schema.ts';

interface HostPorts {
  host: string;
  ports: number[];
}

export interface Rule {
  /** 64 upper-case hex characters. */
  friend: string;
  allow: HostPorts[];
  deny: HostPorts[];
  /** Reverse tunnels: where the server may listen for this friend (bind pattern, ports). */
  listen: HostPorts[];
  expires: Date | undefined;
  /** A name for the friend (logs, status, list), if the rule gives one. */
  name?: string;
}

const HOST_PORTS: Spec = {
  type: 'map',
  keys: { host: { type: 'string' }, ports: { type: 'list', item: { type: 'int', min: 1, max: 65535 } } },
};
const PUBLIC_KEY: Spec = {
  type: 'string',
  check: (v) =>
    /^[0-9a-fA-F]{64}$/.test(v.trim()) ? undefined : keyHint(v, 'public key') ?? `expected a friend's public key (64 hex characters), got ${v.trim().length} characters`,
};
const RULE: Spec = {
  type: 'map',
  keys: {
    friend: PUBLIC_KEY,
    friend_pk: PUBLIC_KEY,
    name: { type: 'string' }, // ours, optional: shown with the short key in logs, status and list
    allow: { type: 'list', item: HOST_PORTS },
    deny: { type: 'list', item: HOST_PORTS },
    listen: {
      type: 'list',
      item: { type: 'map', keys: { bind: { type: 'string' }, ports: { type: 'list', item: { type: 'int', min: 1, max: 65535 } } } },
    },
    expires: { type: 'string', check: (v) => (Number.isNaN(Date.parse(v)) ? `${JSON.stringify(v)} is not an ISO 8601 time such as 2026-12-31T18:00:00Z` : undefined) },
  },
};
const RULES_FILE: Spec = { type: 'map', keys: { rules: { type: 'list', item: RULE } } };

type RawRule = { friend?: string; friend_pk?: string; name?: string; allow?: Array<{ host?: string; ports?: number[] }>; deny?: Array<{ host?: string; ports?: number[] }>; listen?: Array<{ bind?: string; ports?: number[] }>; expires?: string | Date };

export function parseRules(text: string, file: string): RuleSet {
  const { root, where } = parseYaml(text, file, 'RULES_SYNTAX');
  const raw = check(root, RULES_FILE, '', where, 'RULES_INVALID') as { rules?: RawRule[] };
  const items = (root as { get?: (k: string, keep: boolean) => Node } | null)?.get?.('rules', true) as { items?: Node[] } | undefined;
  const rules = (raw.rules ?? []).map((r, i): Rule => {
    const node = items?.items?.[i];
    const friend = r.friend ?? r.friend_pk;
    if (!friend) throw configError('RULES_INVALID', where, node, `rules[${i}]`, 'a rule needs "friend" or "friend_pk" (the friend\'s 64-hex public key)');
    if (r.friend && r.friend_pk) throw configError('RULES_INVALID', where, node, `rules[${i}]`, 'give "friend" or "friend_pk", not both');
    const hostPorts = (list: RawRule['allow'], key: string): HostPorts[] =>
      (list ?? []).map((e, j) => {
        if (!e.host) throw configError('RULES_INVALID', where, node, `rules[${i}].${key}[${j}]`, 'missing "host" (a name, an address, or a pattern with one "*")');
        if ((e.host.match(/\*/g) ?? []).length > 1 && e.host !== '*') {
          throw configError('RULES_INVALID', where, node, `rules[${i}].${key}[${j}].host`, `"${e.host}" has more than one "*" (one wildcard, at the start and/or end)`);
        }
        return { host: normalizeHost(e.host), ports: e.ports ?? [] };
      });
    return {
      friend: friend.trim().toUpperCase(),
      allow: hostPorts(r.allow, 'allow'),
      deny: hostPorts(r.deny, 'deny'),
      listen: hostPorts((r.listen ?? []).map((e) => ({ host: e.bind ?? '127.0.0.1', ports: e.ports })), 'listen'),
      expires: r.expires === undefined ? undefined : new Date(r.expires),
      ...(r.name?.trim() ? { name: r.name.trim() } : {}),
    };
  });
  return new RuleSet(rules);
}

export function loadRules(file: string): RuleSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ToxtunnelError('RULES_UNREADABLE', `cannot read rules file ${file}: ${osErrorText(error)} (server.rules_file or TOXTUNNEL_RULES_FILE names it; \`toxtunnel init\` writes one)`, { file });
  }
  return parseRules(text, file);
}

function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.') && h !== '.') h = h.slice(0, -1);
  return h;
}

/** A pattern with at most one '*': "*", "*.x", "x.*", "a*b"; otherwise an exact name. */
function hostMatches(pattern: string, host: string): boolean {
  const star = pattern.indexOf('*');
  if (star < 0) return pattern === host;
  if (pattern === '*') return true;
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  return host.length >= prefix.length + suffix.length && host.startsWith(prefix) && host.endsWith(suffix);
}

const entryMatches = (entry: HostPorts, host: string, port: number) =>
  hostMatches(entry.host, host) && (entry.ports.length === 0 || entry.ports.includes(port));

const describe = (entry: HostPorts) => `${entry.host} ports ${entry.ports.length ? `[${entry.ports.join(', ')}]` : 'all'}`;

export class RuleSet implements AccessPolicy {
  constructor(readonly rules: Rule[]) {}

  /** The rules of a friend that are in force at `now`. */
  rulesFor(friendPublicKey: string, now = new Date()): Rule[] {
    const key = friendPublicKey.toUpperCase();
    return this.rules.filter((r) => r.friend === key && (r.expires === undefined || r.expires > now));
  }

  /** Whether a friend has any rule in force (a friend without one is not accepted). */
  admits(friendPublicKey: string, now = new Date()): boolean {
    return this.rulesFor(friendPublicKey, now).length > 0;
  }

  /** When the next rule expires (after `now`), if any: the server re-checks then. */
  nextExpiry(now = new Date()): Date | undefined {
    const times = this.rules.map((r) => r.expires).filter((e): e is Date => e !== undefined && e > now);
    return times.length ? new Date(Math.min(...times.map((t) => t.getTime()))) : undefined;
  }

  /** May this friend have the server listen on bind:port for it (reverse tunnel)? */
  decideListen(friendPublicKey: string, bind: string, port: number, now = new Date()): { allowed: boolean; reason: string } {
    const who = `friend ${friendPublicKey.slice(0, 8)}…`;
    const target = normalizeHost(bind);
    for (const rule of this.rulesFor(friendPublicKey, now)) {
      const entry = rule.listen.find((e) => entryMatches(e, target, port));
      if (entry) return { allowed: true, reason: `allowed by the rule for ${who} (listen ${describe(entry)})` };
    }
    return { allowed: false, reason: `no listen entry of ${who} allows ${target}:${port}` };
  }

  decide(friendPublicKey: string, host: string, port: number, now = new Date()): { allowed: boolean; reason: string } {
    const rules = this.rulesFor(friendPublicKey, now);
    const who = `friend ${friendPublicKey.slice(0, 8)}…`;
    if (rules.length === 0) return { allowed: false, reason: `no rule for ${who}` };
    const target = normalizeHost(host);
    for (const rule of rules) {
      const deny = rule.deny.find((e) => entryMatches(e, target, port));
      if (deny) return { allowed: false, reason: `denied by the rule for ${who} (deny ${describe(deny)})` };
    }
    for (const rule of rules) {
      const allow = rule.allow.find((e) => entryMatches(e, target, port));
      if (allow) return { allowed: true, reason: `allowed by the rule for ${who} (allow ${describe(allow)})` };
    }
    return { allowed: false, reason: `no allow entry of ${who} matches ${target}:${port}` };
  }
}
