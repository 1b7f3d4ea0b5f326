// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * tuntox's server rules file (`-f FILE`, TUNTOX.md §6), accepted as an alternative to our YAML
 * rules file, with tuntox's own semantics:
 *
 *   # a comment
 *   127.0.0.1:22        host:port (or host@port): every friend may reach it
 *   *:8080              "*" = any host, on that port
 *
 * Parsing, as tuntox's C does it: the file is read in chunks of at most 100 characters (a
 * longer line is split, each chunk parsed as its own line); a chunk starting with '#', or that
 * is exactly a newline, is skipped; '@' becomes ':'; the chunk is split on runs of ':' (a
 * leading ':' skipped); the first token is the host, atoi() of the second the port; fewer
 * than 2 tokens: skipped with a warning; a port outside 1..65534 drops the rule (so 65535 and
 * "*" as a port are refused). No whitespace is trimmed, no reload in tuntox (we reload).
 *
 * Matching: allowed when some rule's host is "*" or the requested host, and its port equals
 * the requested port. Hosts compare in the server's canonical form (net/target-host.ts: names
 * lower-cased, IPv4 in dotted quads), where tuntox compares bytes; as in tuntox there is no
 * DNS between them: a name rule matches that name (whatever it resolves to), an address rule
 * only that address written as one (localhost is not 127.0.0.1). A rule whose host is not a
 * valid host never matches (warned). A file with no valid rule denies everything. The rules
 * are not per friend: every friend accepted (by the shared secret and whitelist) gets them —
 * the documented mapping to ours is in docs/tuntox.md.
 */
import { readFileSync } from 'node:fs';
import { type AccessPolicy, type Decision, loadRules, type ResolvedTarget, type RuleSet } from '../config/rules.ts';
import { describeErrno, ToxtunnelError } from '../errors.ts';
import { canonicalHost, HostError } from '../net/target-host.ts';

export interface TuntoxRule {
  /** As written. */
  host: string;
  port: number;
  /** 1-based line of the file. */
  line: number;
}

/** A rule's host in canonical form: any ("*"), a name or an address, or invalid (never matches). */
type RuleHost = { kind: 'any' } | { kind: 'name' | 'ipv4' | 'ipv6'; text: string } | { kind: 'invalid' };

function ruleHost(host: string): RuleHost {
  if (host === '*') return { kind: 'any' };
  try {
    const canonical = canonicalHost(host);
    return { kind: canonical.kind, text: canonical.text };
  } catch (error) {
    if (error instanceof HostError) return { kind: 'invalid' };
    throw error;
  }
}

export interface TuntoxRulesParse {
  rules: TuntoxRule[];
  /** Lines tuntox skips or drops, with why (we log them). */
  warnings: string[];
}

const CHUNK = 100;

/** C's atoi: optional leading whitespace and sign, then digits; anything else ends it. */
function atoi(text: string): number {
  const match = /^[\t\n\v\f\r ]*([+-]?\d+)/.exec(text);
  return match ? Number.parseInt(match[1]!, 10) : 0;
}

export function parseTuntoxRules(text: string): TuntoxRulesParse {
  const rules: TuntoxRule[] = [];
  const warnings: string[] = [];
  const lines = text.split(/(?<=\n)/);
  lines.forEach((whole, index) => {
    const line = index + 1;
    // fgets in chunks of up to 100 characters (TUNTOX.md §6), the newline included when it fits.
    for (let start = 0; start < whole.length; start += CHUNK) {
      const chunk = whole.slice(start, start + CHUNK);
      if (chunk.startsWith('#') || chunk === '\n') continue;
      const tokens = chunk.replaceAll('@', ':').split(':').filter((t) => t.length > 0);
      if (tokens.length < 2) {
        warnings.push(`line ${line}: ${JSON.stringify(chunk.replace(/\n$/, ''))} is not host:port (skipped, as tuntox does)`);
        continue;
      }
      const host = tokens[0]!;
      const port = atoi(tokens[1]!);
      if (port < 1 || port > 65534) {
        warnings.push(`line ${line}: port ${JSON.stringify(tokens[1]!.replace(/\n$/, ''))} is not 1..65534 (rule dropped, as tuntox does)`);
        continue;
      }
      rules.push({ host, port, line });
    }
  });
  return { rules, warnings };
}

export class TuntoxRules implements AccessPolicy {
  readonly format = 'tuntox';
  private readonly hosts: RuleHost[];

  constructor(
    readonly rules: TuntoxRule[],
    readonly warnings: string[] = [],
  ) {
    this.hosts = rules.map((r) => ruleHost(r.host));
    this.hosts.forEach((h, i) => {
      if (h.kind === 'invalid') this.warnings.push(`line ${rules[i]!.line}: ${JSON.stringify(rules[i]!.host)} is not a valid host (the rule never matches)`);
    });
  }

  /** tuntox rules are not per friend: every accepted friend is admitted. */
  admits(): boolean {
    return true;
  }

  nameOf(): string | undefined {
    return undefined;
  }

  private denied(shown: string, port: number): Decision {
    return { allowed: false, reason: this.rules.length ? `no tuntox rule matches ${shown}:${port} (the host or "*", and the port)` : 'the tuntox rules file has no valid rule (everything is denied)' };
  }

  private allowed(index: number, address?: Decision['address']): Decision {
    const rule = this.rules[index]!;
    return { allowed: true, reason: `allowed by the tuntox rule ${rule.host}:${rule.port} (line ${rule.line})`, ...(address ? { address } : {}) };
  }

  mayResolve(_friendPublicKey: string, name: string, port: number): Decision {
    const index = this.hosts.findIndex((h, i) => this.rules[i]!.port === port && (h.kind === 'any' || (h.kind === 'name' && h.text === name)));
    return index >= 0 ? this.allowed(index) : this.denied(name, port);
  }

  decide(_friendPublicKey: string, target: ResolvedTarget, port: number): Decision {
    for (let i = 0; i < this.rules.length; i++) {
      if (this.rules[i]!.port !== port) continue;
      const host = this.hosts[i]!;
      if (host.kind === 'any' || (host.kind === 'name' && host.text === target.name)) return this.allowed(i, target.addresses[0]);
      if (target.name === undefined && (host.kind === 'ipv4' || host.kind === 'ipv6')) {
        const address = target.addresses.find((a) => a.text === host.text);
        if (address) return this.allowed(i, address);
      }
    }
    return this.denied(target.name ?? target.addresses[0]?.text ?? '?', port);
  }

  decideListen(): Decision {
    return { allowed: false, reason: 'a tuntox rules file has no listen entries (reverse tunnels need a YAML rules file)' };
  }

  nextExpiry(): Date | undefined {
    return undefined;
  }
}

/**
 * Which format a rules file is in: ours is a YAML map with a top-level "rules:" key; anything
 * else whose lines look like host:port (or that has no rule line at all) is tuntox's.
 */
export function looksLikeTuntoxRules(text: string): boolean {
  if (/^rules\s*:/m.test(text)) return false;
  const meaningful = text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#') && !/^\s*#/.test(l));
  return meaningful.length > 0 && meaningful.every((l) => /^[^\s:@]+[:@]+\S+\s*$/.test(l));
}

/** A rules file in either format: ours (YAML) or tuntox's (`-f`), told apart by looksLikeTuntoxRules. */
export function loadAnyRules(file: string): RuleSet | TuntoxRules {
  return tuntoxRulesIn(file) ?? loadRules(file);
}

/** The file's rules if it is in tuntox's format; undefined if it is ours (YAML). */
export function tuntoxRulesIn(file: string): TuntoxRules | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (error) {
    const errno = (error as NodeJS.ErrnoException).code;
    throw new ToxtunnelError('RULES_UNREADABLE', `cannot read rules file ${file}: ${describeErrno(error)}`, { file, ...(errno ? { errno } : {}) });
  }
  if (!looksLikeTuntoxRules(text)) return undefined;
  const { rules, warnings } = parseTuntoxRules(text);
  return new TuntoxRules(rules, warnings.map((w) => `${file}: ${w}`));
}
