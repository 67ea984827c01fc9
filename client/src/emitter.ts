/** A listener for values of type T. */
export type Listener<T> = (value: T) => void;

/** Unsubscribes the listener it was returned for. Calling it twice is harmless. */
export type Unsubscribe = () => void;

interface Entry<T> {
  fn: Listener<T>;
}

/**
 * A small typed event emitter. Each `on` is its own subscription (the same
 * function added twice is called twice and removed once per unsubscribe).
 * Listeners added or removed during an emit take effect from the next emit.
 * A throwing listener does not stop the others: its exception is reported
 * asynchronously (like a DOM EventTarget does), so it never breaks the
 * caller's loop.
 */
export class Emitter<E> {
  readonly #lists = new Map<keyof E, Entry<never>[]>();

  on<K extends keyof E>(name: K, fn: Listener<E[K]>): Unsubscribe {
    const entry: Entry<E[K]> = { fn };
    const list = (this.#lists.get(name) ?? []) as Entry<E[K]>[];
    // Copy on write, so an emit in progress keeps iterating its snapshot.
    this.#lists.set(name, [...list, entry] as Entry<never>[]);
    return () => {
      const cur = this.#lists.get(name);
      if (!cur) return;
      const next = cur.filter((e) => e !== (entry as Entry<unknown>));
      if (next.length) this.#lists.set(name, next);
      else this.#lists.delete(name);
    };
  }

  emit<K extends keyof E>(name: K, value: E[K]): void {
    const list = this.#lists.get(name) as Entry<E[K]>[] | undefined;
    if (!list) return;
    for (const { fn } of list) {
      try {
        fn(value);
      } catch (err) {
        reportAsync(err);
      }
    }
  }

  listenerCount(name: keyof E): number {
    return this.#lists.get(name)?.length ?? 0;
  }

  clear(): void {
    this.#lists.clear();
  }
}

/** Surfaces an exception without unwinding the caller. */
function reportAsync(err: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') {
    report(err);
    return;
  }
  queueMicrotask(() => {
    throw err;
  });
}
