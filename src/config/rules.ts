// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The server's rules file: who may open tunnels to where (semantics and examples:
 * docs/security.md; host patterns: host-pattern.ts).
 *
 *   rules:
 *     - friend_pk: 0123…(64 hex)          # or "friend:"; compared case-insensitively
 *       name: alice-laptop                 # optional: shown in logs and status
 *       allow:
 *         - host: "*.internal"             # names only; "10.0.0.0/8", "192.168.1.*": addresses
 *           ports: [22, 443]               # [] or absent = every port
 *       deny:
 *         - host: "10.0.0.1"
 *       listen:                            # ours: reverse tunnels (-R) this friend may ask for
 *         - bind: 127.0.0.1                # default 127.0.0.1; "*" = loopback only; other
 *           ports: [8080, 8081]            #   addresses, and ports < 1024, must be listed
 *       expires: 2026-12-31T18:00:00Z      # ours, optional: after it the rule is gone
 *
 * Decisions are made on what the server dials: the canonical name and every address it
 * resolves to. Deny wins if any of them is denied; a friend with no rule (or only expired
 * ones) is denied. Without a rules file the server admits nobody unless a shared secret or a
 * whitelist admits friends, or --allow-any opens it to everyone.
 */
import { readFileSync } from 'node:fs';
import * as v from 'valibot';
import { type CanonicalAddress, canonicalHost, HostError, isLoopback } from '../net/target-host.ts';
import { type HostPattern, parseHostPattern, patternMatchesAddress, patternMatchesName } from './host-pattern.ts';
import { describeErrno, ToxtunnelError } from '../errors.ts';
import { publicKeyProblem } from './placeholders.ts';
import { list, mapping, port, section, text, validate } from './schema.ts';
import { parseYamlDocument } from './yaml-document.ts';

interface HostPorts {
  host: HostPattern;
  ports: number[];
}

export interface Rule {
  /** 64 upper-case hex characters. */
  friend: string;
  /** Optional display name of the friend (logs, status). */
  name: string | undefined;
  allow: HostPorts[];
  deny: HostPorts[];
  /** Reverse tunnels: where the server may listen for this friend (bind pattern, ports). */
  listen: HostPorts[];
  expires: Date | undefined;
}

/** Decides who may connect and where to (a RuleSet; the server's policy). */
export interface AccessPolicy {
  /** A friend with no rule in force is not accepted (and is removed when revoked). */
  admits(friendPublicKey: string): boolean;
  /** Before a name is looked up: whether any answer could be allowed. */
  mayResolve(friendPublicKey: string, name: string, port: number): Decision;
  /** On the resolved target: deny wins; the address to dial when allowed. */
  decide(friendPublicKey: string, target: ResolvedTarget, port: number): Decision;
  decideListen(friendPublicKey: string, bind: CanonicalAddress, port: number): Decision;
  nextExpiry(): Date | undefined;
  nameOf(friendPublicKey: string): string | undefined;
}

/** A target as the server will dial it: checked on the name *and* on every address. */
export interface ResolvedTarget {
  /** The canonical name, when the friend named one; undefined for an address. */
  name?: string;
  /** The literal address, or every address the name resolved to (canonical, mapped → IPv4). */
  addresses: CanonicalAddress[];
}

export interface Decision {
  allowed: boolean;
  reason: string;
  /** When allowed: the address to dial (one that was checked). */
  address?: CanonicalAddress;
}

/** A host pattern (host-pattern.ts); its problem becomes the schema's message. */
const hostPattern = (listen: boolean) =>
  v.pipe(
    text(),
    v.rawTransform<string, HostPattern>(({ dataset, addIssue, NEVER }) => {
      try {
        const pattern = parseHostPattern(dataset.value);
        return listen ? listenBind(pattern) : pattern;
      } catch (problem) {
        if (typeof problem !== 'string') throw problem;
        addIssue({ message: problem });
        return NEVER;
      }
    }),
  );
/** Absent, empty or [] = every port. */
const PORTS = v.optional(
  v.pipe(
    list(port()),
    v.transform((ports) => ports ?? []),
  ),
  [],
);
const HOST_PORTS = mapping({ host: hostPattern(false), ports: PORTS }, 'a name, an address, a CIDR, or a pattern with one "*"');
const PUBLIC_KEY = text(publicKeyProblem("a friend's public key"));
const optional = v.optional;

const RULE = v.pipe(
  mapping({
    friend: optional(PUBLIC_KEY),
    friend_pk: optional(PUBLIC_KEY),
    name: optional(text()), // ours, optional: shown with the short key in logs, status and list
    allow: list(HOST_PORTS),
    deny: list(HOST_PORTS),
    // The default bind is loopback, as ssh -R's.
    listen: list(mapping({ bind: optional(hostPattern(true), '127.0.0.1'), ports: PORTS })),
    expires: optional(text((t) => (Number.isNaN(Date.parse(t)) ? `${JSON.stringify(t)} is not an ISO 8601 time such as 2026-12-31T18:00:00Z` : undefined))),
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const { friend, friend_pk } = dataset.value;
    if (friend === undefined && friend_pk === undefined) addIssue({ message: 'a rule needs "friend" or "friend_pk" (the friend\'s 64-hex public key)' });
    if (friend !== undefined && friend_pk !== undefined) addIssue({ message: 'give "friend" or "friend_pk", not both' });
  }),
  v.transform(
    (r): Rule => ({
      friend: (r.friend ?? r.friend_pk)!.trim().toUpperCase(),
      name: r.name?.trim() || undefined,
      allow: r.allow ?? [],
      deny: r.deny ?? [],
      listen: (r.listen ?? []).map((e) => ({ host: e.bind, ports: e.ports })),
      expires: r.expires === undefined ? undefined : new Date(r.expires),
    }),
  ),
);
export const RULES_SCHEMA = section({ rules: list(RULE) });

/** The error codes of a rules file (an unknown key is CONFIG_UNKNOWN_KEY, as in the config file). */
export const RULES_CODES = { syntax: 'RULES_SYNTAX', tooLarge: 'RULES_TOO_LARGE', invalid: 'RULES_INVALID' };

export function parseRules(text: string, file: string): RuleSet {
  const doc = parseYamlDocument(text, file, RULES_CODES);
  return new RuleSet(validate(RULES_SCHEMA, doc)?.rules ?? []);
}

export function loadRules(file: string): RuleSet {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    throw new ToxtunnelError('RULES_UNREADABLE', `cannot read rules file ${file}: ${describeErrno(error)} (server.rules_file or TOXTUNNEL_RULES_FILE names it; \`toxtunnel init\` writes one)`, { file, ...(errno ? { errno } : {}) });
  }
  return parseRules(text, file);
}

/** A listen entry binds to addresses: "*" (= loopback only), an address, a CIDR, or "localhost"; its problem is thrown as a string. */
function listenBind(pattern: HostPattern): HostPattern {
  if (pattern.kind === 'any' || pattern.kind === 'cidr') return pattern;
  if (pattern.kind === 'name' && pattern.text === 'localhost') return parseHostPattern('127.0.0.1');
  throw `"${pattern.text}": a listen bind is an address, a CIDR, or "*" (loopback only), not a name`;
}

const portMatches = (entry: HostPorts, port: number) => entry.ports.length === 0 || entry.ports.includes(port);

/** Ports below 1024 and binds beyond loopback must be spelled out in a listen entry. */
function listenEntryMatches(entry: HostPorts, bind: CanonicalAddress, port: number): boolean {
  const portOk = entry.ports.length === 0 ? port === 0 || port >= 1024 : entry.ports.includes(port);
  if (!portOk) return false;
  if (entry.host.kind === 'any') return isLoopback(bind);
  return patternMatchesAddress(entry.host, bind);
}

const describe = (entry: HostPorts) => `${entry.host.text} ports ${entry.ports.length ? `[${entry.ports.join(', ')}]` : 'all'}`;

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

  /** The display name a rule gives this friend, if any. */
  nameOf(friendPublicKey: string): string | undefined {
    const key = friendPublicKey.toUpperCase();
    return this.rules.find((r) => r.friend === key && r.name)?.name;
  }

  /** When the next rule expires (after `now`), if any: the server re-checks then. */
  nextExpiry(now = new Date()): Date | undefined {
    const times = this.rules.map((r) => r.expires).filter((e): e is Date => e !== undefined && e > now);
    return times.length ? new Date(Math.min(...times.map((t) => t.getTime()))) : undefined;
  }

  /** May this friend have the server listen on bind:port for it (reverse tunnel)? */
  decideListen(friendPublicKey: string, bind: CanonicalAddress, port: number, now = new Date()): Decision {
    const who = `friend ${friendPublicKey.slice(0, 8)}…`;
    for (const rule of this.rulesFor(friendPublicKey, now)) {
      const entry = rule.listen.find((e) => listenEntryMatches(e, bind, port));
      if (entry) return { allowed: true, reason: `allowed by the rule for ${who} (listen ${describe(entry)})` };
    }
    return { allowed: false, reason: `no listen entry of ${who} allows ${bind.text}:${port} (ports below 1024 and binds beyond loopback must be listed explicitly)` };
  }

  /** decide() for a host text, without resolving a name (tests, doctor's what-if checks). */
  decideHost(friendPublicKey: string, host: string, port: number, now = new Date()): Decision {
    let canonical;
    try {
      canonical = canonicalHost(host);
    } catch (error) {
      if (error instanceof HostError) return { allowed: false, reason: error.message };
      throw error;
    }
    return this.decide(friendPublicKey, canonical.kind === 'name' ? { name: canonical.text, addresses: [] } : { addresses: [canonical] }, port, now);
  }

  /**
   * Before a name is looked up: false when no answer could make it allowed (it is denied by
   * name, or no allow entry for this port could match it), so a denied name is never resolved.
   */
  mayResolve(friendPublicKey: string, name: string, port: number, now = new Date()): Decision {
    const rules = this.rulesFor(friendPublicKey, now);
    const who = `friend ${friendPublicKey.slice(0, 8)}…`;
    if (rules.length === 0) return { allowed: false, reason: `no rule for ${who}` };
    for (const rule of rules) {
      const deny = rule.deny.find((e) => portMatches(e, port) && patternMatchesName(e.host, name));
      if (deny) return { allowed: false, reason: `denied by the rule for ${who} (deny ${describe(deny)})` };
    }
    const couldAllow = rules.some((r) => r.allow.some((e) => portMatches(e, port) && (e.host.kind === 'cidr' || patternMatchesName(e.host, name))));
    return couldAllow ? { allowed: true, reason: 'may be allowed once resolved' } : { allowed: false, reason: `no allow entry of ${who} matches ${name}:${port}` };
  }

  /**
   * The decision on what will be dialled: deny wins if the name or any of its addresses is
   * denied; otherwise the first address that an allow entry covers (by the name, or by the
   * address itself) is the one to dial.
   */
  decide(friendPublicKey: string, target: ResolvedTarget, port: number, now = new Date()): Decision {
    const rules = this.rulesFor(friendPublicKey, now);
    const who = `friend ${friendPublicKey.slice(0, 8)}…`;
    const shown = target.name ?? target.addresses[0]?.text ?? '?';
    if (rules.length === 0) return { allowed: false, reason: `no rule for ${who}` };
    for (const rule of rules) {
      for (const entry of rule.deny) {
        if (!portMatches(entry, port)) continue;
        if (target.name !== undefined && patternMatchesName(entry.host, target.name)) {
          return { allowed: false, reason: `denied by the rule for ${who} (deny ${describe(entry)})` };
        }
        const hit = target.addresses.find((a) => patternMatchesAddress(entry.host, a));
        if (hit) return { allowed: false, reason: `denied by the rule for ${who} (deny ${describe(entry)}: ${shown} is ${hit.text})` };
      }
    }
    if (target.name !== undefined && target.addresses.length === 0) {
      // Not resolved (a what-if check, e.g. by doctor or a test): the name alone decides.
      const allow = rules.flatMap((r) => r.allow).find((e) => portMatches(e, port) && patternMatchesName(e.host, target.name!));
      return allow ? { allowed: true, reason: `allowed by the rule for ${who} (allow ${describe(allow)})` } : { allowed: false, reason: `no allow entry of ${who} matches ${shown}:${port}` };
    }
    for (const address of target.addresses) {
      for (const rule of rules) {
        const allow = rule.allow.find(
          (e) => portMatches(e, port) && ((target.name !== undefined && patternMatchesName(e.host, target.name)) || patternMatchesAddress(e.host, address)),
        );
        if (allow) return { allowed: true, reason: `allowed by the rule for ${who} (allow ${describe(allow)})`, address };
      }
    }
    return { allowed: false, reason: `no allow entry of ${who} matches ${shown}${target.name && target.addresses.length ? ` (${target.addresses.map((a) => a.text).join(', ')})` : ''}:${port}` };
  }
}
