// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * From the host text a friend sent to the addresses the server may dial: canonical form first
 * (net/target-host.ts), then — for a name — one lookup of every address (getaddrinfo, so
 * /etc/hosts counts), each canonicalised too. The rules then decide on that whole set and the
 * server connects to exactly one checked address: there is no second resolution between the
 * check and the connect.
 *
 * Lookups run on a small thread pool shared by the whole process, so they are limited in
 * number (per friend and in total) and in time; a lookup whose OPEN was cancelled still counts
 * until it really ends.
 */
import { lookup } from 'node:dns/promises';
import type { ResolvedTarget } from '../config/rules.ts';
import { type CanonicalAddress, type CanonicalHost, canonicalHost, notATarget } from '../net/target-host.ts';

export interface LookupLimits {
  /** Lookups in flight for the whole server. */
  total: number;
  /** Lookups in flight for one friend. */
  perFriend: number;
  /** A lookup that takes longer is answered "DNS resolution failed" (it may still run on). */
  timeoutMs: number;
}

export const DEFAULT_LOOKUP_LIMITS: LookupLimits = { total: 16, perFriend: 4, timeoutMs: 5_000 };

export type LookupFunction = (name: string) => Promise<Array<{ address: string }>>;

const systemLookup: LookupFunction = (name) => lookup(name, { all: true, verbatim: true });

/** Why a resolved target may not be dialled at all (whatever the rules say), or undefined. */
export function forbiddenAddress(target: ResolvedTarget): string | undefined {
  for (const address of target.addresses) {
    const why = notATarget(address);
    if (why) return target.name ? `${target.name} resolves to ${address.text}: ${why}` : why;
  }
  return undefined;
}

export class LookupBusyError extends Error {}

export class TargetResolver {
  private inFlight = 0;
  private readonly perFriend = new Map<string, number>();

  constructor(
    private readonly limits: LookupLimits = DEFAULT_LOOKUP_LIMITS,
    private readonly lookupName: LookupFunction = systemLookup,
  ) {}

  /** Lookups running now (for status and tests). */
  get lookupsInFlight(): number {
    return this.inFlight;
  }

  /**
   * Every address of a canonical name. Throws LookupBusyError when the limits are reached,
   * or the lookup's error (ENOTFOUND, ETIMEDOUT, …).
   */
  async resolve(friend: string, host: CanonicalHost): Promise<ResolvedTarget> {
    if (host.kind !== 'name') return { addresses: [host] };
    const mine = this.perFriend.get(friend) ?? 0;
    if (this.inFlight >= this.limits.total) throw new LookupBusyError(`the server is resolving ${this.inFlight} names already`);
    if (mine >= this.limits.perFriend) throw new LookupBusyError(`this friend has ${mine} name lookups running already`);
    this.inFlight++;
    this.perFriend.set(friend, mine + 1);
    const running = this.lookupName(host.text).finally(() => {
      this.inFlight--;
      const left = (this.perFriend.get(friend) ?? 1) - 1;
      if (left > 0) this.perFriend.set(friend, left);
      else this.perFriend.delete(friend);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${this.limits.timeoutMs} ms`), { code: 'ETIMEDOUT' })), this.limits.timeoutMs);
    });
    try {
      const answers = await Promise.race([running, timeout]);
      const addresses: CanonicalAddress[] = [];
      for (const { address } of answers) {
        const canonical = canonicalHost(address);
        if (canonical.kind !== 'name' && !addresses.some((a) => a.text === canonical.text)) addresses.push(canonical);
      }
      if (addresses.length === 0) throw Object.assign(new Error('no addresses'), { code: 'ENODATA' });
      return { name: host.text, addresses };
    } finally {
      clearTimeout(timer);
      running.catch(() => {});
    }
  }
}
