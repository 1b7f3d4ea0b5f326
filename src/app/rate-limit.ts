// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * Two small rate limits: a token bucket (a friend's OPENs per second), and a log line that is
 * written at most once per key per interval with the count of what it stood for, so a flood
 * of refused requests cannot flood the log.
 */

/** `rate` tokens per second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * log(key, text): the first event of a key is written at once; later ones within `intervalMs`
 * are counted, and the next line written for that key says how many were held back.
 */
export class ThrottledLog {
  private readonly seen = new Map<string, { since: number; held: number }>();

  constructor(
    private readonly write: (text: string) => void,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 1024,
  ) {}

  log(key: string, text: string): void {
    const t = this.now();
    const entry = this.seen.get(key);
    if (entry && t - entry.since < this.intervalMs) {
      entry.held++;
      return;
    }
    const held = entry?.held ?? 0;
    if (!entry && this.seen.size >= this.maxKeys) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { since: t, held: 0 });
    this.write(held > 0 ? `${text} (and ${held} more like it in the last ${Math.round((t - entry!.since) / 1000)} s)` : text);
  }
}
