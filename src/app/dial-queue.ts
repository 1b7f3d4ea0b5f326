// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * The server's outgoing connects (an OPEN's lookup and dial): at most `perKey` at once for one
 * friend and `total` for the whole server; the rest wait their turn in arrival order instead
 * of being refused. A burst of OPENs (a browser opening 100 connections at once) is served
 * while a friend dialling black holes holds at most its own share of the slots: a waiting
 * OPEN of another friend passes those of a friend that is at its limit. Only when `maxWaiting`
 * OPENs already wait is one refused (submit() returns undefined).
 */

export interface DialTicket {
  /** True once the dial may run (start was called). */
  readonly started: boolean;
  /** The dial ended, or was abandoned before it started: frees its slot or its place. Idempotent. */
  release(): void;
}

interface Entry<K> extends DialTicket {
  readonly key: K;
  readonly start: (ticket: DialTicket) => void;
  started: boolean;
  released: boolean;
}

export class DialQueue<K> {
  private readonly runningByKey = new Map<K, number>();
  private runningTotal = 0;
  private readonly waitingEntries: Entry<K>[] = [];

  constructor(
    private readonly perKey: number,
    private readonly total: number,
    private readonly maxWaiting: number,
  ) {}

  /** Dials running now. */
  get running(): number {
    return this.runningTotal;
  }

  /** Dials waiting for a slot. */
  get waiting(): number {
    return this.waitingEntries.length;
  }

  /** Starts the dial now when a slot is free, else queues it; undefined when the queue is full. */
  submit(key: K, start: (ticket: DialTicket) => void): DialTicket | undefined {
    if (!this.mayStart(key) && this.waitingEntries.length >= this.maxWaiting) return undefined;
    const entry: Entry<K> = {
      key,
      start,
      started: false,
      released: false,
      release: () => this.release(entry),
    };
    if (this.mayStart(key)) this.begin(entry);
    else this.waitingEntries.push(entry);
    return entry;
  }

  private mayStart(key: K): boolean {
    return this.runningTotal < this.total && (this.runningByKey.get(key) ?? 0) < this.perKey;
  }

  private begin(entry: Entry<K>): void {
    entry.started = true;
    this.runningTotal++;
    this.runningByKey.set(entry.key, (this.runningByKey.get(entry.key) ?? 0) + 1);
    entry.start(entry);
  }

  private release(entry: Entry<K>): void {
    if (entry.released) return;
    entry.released = true;
    if (!entry.started) {
      const at = this.waitingEntries.indexOf(entry);
      if (at >= 0) this.waitingEntries.splice(at, 1);
      return;
    }
    this.runningTotal--;
    const left = (this.runningByKey.get(entry.key) ?? 1) - 1;
    if (left > 0) this.runningByKey.set(entry.key, left);
    else this.runningByKey.delete(entry.key);
    this.startWaiting();
  }

  /** Starts waiting dials, oldest first, skipping friends that are at their limit. */
  private startWaiting(): void {
    for (let i = 0; i < this.waitingEntries.length && this.runningTotal < this.total; ) {
      const entry = this.waitingEntries[i]!;
      if (!this.mayStart(entry.key)) {
        i++;
        continue;
      }
      this.waitingEntries.splice(i, 1);
      this.begin(entry);
    }
  }
}
