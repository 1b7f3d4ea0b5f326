// SPDX-License-Identifier: GPL-3.0-or-later
/**
 * A minimal typed event emitter (Node's EventEmitter is untyped, and we want the same code on
 * Node, Bun and Deno). A listener that throws does not stop the others: its error goes to the
 * handler set with onListenerError (a server logs it and keeps serving), or, when none is set,
 * is rethrown on a microtask, where it surfaces as an uncaught exception like any other bug.
 */
export type EventMap = Record<string, unknown[]>;
type Listener<Args extends unknown[]> = (...args: Args) => void;
// Stored untyped; the public methods keep event names and argument lists matched.
type AnyListener = (...args: unknown[]) => void;

export class TypedEmitter<Events extends EventMap> {
  private readonly listeners = new Map<keyof Events, Set<AnyListener>>();
  /**
   * What emit calls: a copy of each set, made when the set changes (not per emit: the node
   * emits per received packet). Listeners added during an emit wait for the next one.
   */
  private readonly snapshots = new Map<keyof Events, readonly AnyListener[]>();
  private listenerErrorHandler: ((error: unknown, event: string) => void) | undefined;

  /** Where a listener's exception goes instead of becoming an uncaught exception. */
  onListenerError(handler: (error: unknown, event: string) => void): this {
    this.listenerErrorHandler = handler;
    return this;
  }

  on<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as unknown as AnyListener);
    this.snapshots.delete(event);
    return this;
  }

  off<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    if (this.listeners.get(event)?.delete(listener as unknown as AnyListener)) this.snapshots.delete(event);
    return this;
  }

  once<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    const wrapper = (...args: Events[E]) => {
      this.off(event, wrapper);
      listener(...args);
    };
    return this.on(event, wrapper);
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  protected emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    let snapshot = this.snapshots.get(event);
    if (!snapshot) {
      const set = this.listeners.get(event);
      if (!set) return;
      this.snapshots.set(event, (snapshot = [...set]));
    }
    for (const listener of snapshot) {
      try {
        listener(...args);
      } catch (error) {
        const handler = this.listenerErrorHandler;
        if (handler) {
          try {
            handler(error, String(event));
            continue;
          } catch {
            // a failing handler falls back to the default below
          }
        }
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  protected removeAllListeners(): void {
    this.listeners.clear();
    this.snapshots.clear();
  }
}
