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
    return this;
  }

  off<E extends keyof Events>(event: E, listener: Listener<Events[E]>): this {
    this.listeners.get(event)?.delete(listener as unknown as AnyListener);
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
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
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
  }
}
