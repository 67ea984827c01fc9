/**
 * The client's position in the server's event buffer (PROTOCOL.md §1, §4).
 *
 * Cursors are opaque: they are stored, sent back and compared for equality,
 * never ordered or parsed. Duplicates are recognised by equality alone: the
 * current cursor and the ids of the last `capacity` processed events are
 * remembered, and an event whose id is among them has been processed before.
 */
export class CursorTracker {
  #current: string | undefined;
  readonly #seen = new Set<string>();
  readonly #order: string[] = [];
  #next = 0;
  readonly #capacity: number;

  constructor(initial?: string, capacity = 4096) {
    this.#capacity = capacity;
    this.#current = initial || undefined;
  }

  /** The last cursor processed; undefined before the first negotiate. */
  get cursor(): string | undefined {
    return this.#current;
  }

  /** Whether an event with this id was already processed. */
  isDuplicate(id: string): boolean {
    return id === this.#current || this.#seen.has(id);
  }

  /** Records that the event with this id was processed: the cursor moves past it. */
  advance(id: string): void {
    this.#remember(id);
    this.#current = id;
  }

  /** Adopts a cursor from the server (a batch's cursor, negotiate's echo). */
  adopt(cursor: string): void {
    this.#current = cursor;
  }

  /** Forgets the position: the next negotiate starts "from now". */
  clear(): void {
    this.#current = undefined;
  }

  #remember(id: string): void {
    if (this.#seen.has(id)) return;
    if (this.#order.length < this.#capacity) {
      this.#order.push(id);
    } else {
      this.#seen.delete(this.#order[this.#next]!);
      this.#order[this.#next] = id;
      this.#next = (this.#next + 1) % this.#capacity;
    }
    this.#seen.add(id);
  }
}
