// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * When to call tox_iterate. toxcore says how long it can wait (tox_iteration_interval); we
 * also iterate *at once* when there is work: a socket delivered data, or the application
 * queued packets. tuntox and the C++ toxtunnel sleep up to 50 ms between iterations, which is
 * where their 5–8 ms round trips come from; waking on I/O is what takes ours below 1 ms.
 *
 * Wakes are coalesced: any number of wake() calls before the next turn of the event loop
 * give one iteration (setImmediate runs after pending I/O callbacks, so a burst of datagrams
 * is drained by one tox_iterate).
 */
import { clearImmediate, setImmediate } from 'node:timers';

export class IterationScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** When the pending timer fires (performance.now() ms). */
  private timerDue = 0;
  private immediate: ReturnType<typeof setImmediate> | undefined;
  private running = false;
  private readonly run = (): void => this.iterateNow();

  /** `iterate` runs one iteration and returns the milliseconds until the next is due. */
  constructor(private readonly iterate: () => number) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wake();
  }

  /** Asks for an iteration as soon as the current callback returns. */
  wake(): void {
    if (!this.running || this.immediate) return;
    this.immediate = setImmediate(this.run);
  }

  /**
   * Asks for an iteration within `ms` (sooner than the pending timer, if that is later): after
   * toxcore refused a packet for want of send budget, the next budget is due then.
   */
  within(ms: number): void {
    if (!this.running || this.immediate) return;
    const due = performance.now() + Math.max(1, ms);
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(this.run, Math.max(1, ms));
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
  }

  private iterateNow(): void {
    this.immediate = undefined;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.running) return;
    const due = this.iterate();
    if (this.running && !this.immediate) {
      const ms = Math.max(1, Math.min(due, 1000));
      this.timerDue = performance.now() + ms;
      this.timer = setTimeout(this.run, ms);
    }
  }
}
