/**
 * What the per-topic stores behind the hooks share: a snapshot for
 * useSyncExternalStore, and a lifetime (start/stop, from an effect) during
 * which the topic is followed and its events and the hub's changes are
 * handled.
 */
import type { Envelope } from '../index.js';
import type { Hub } from './hub.js';

export abstract class TopicStore<S> {
  protected readonly hub: Hub;
  readonly topic: string;
  #snap: S;
  readonly #listeners = new Set<() => void>();
  #off: (() => void)[] = [];

  constructor(hub: Hub, topic: string, initial: S) {
    this.hub = hub;
    this.topic = topic;
    this.#snap = initial;
  }

  readonly getSnapshot = (): S => this.#snap;

  readonly subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  };

  /** Follows the topic until the returned function is called (an effect's cleanup). */
  start(): () => void {
    this.#off = [
      this.hub.follow(this.topic),
      this.hub.onEvent(this.topic, (ev) => this.onEvent(ev)),
      this.hub.subscribe(() => this.onHub()),
      ...this.more(),
    ];
    this.onHub();
    return () => {
      for (const off of this.#off) off();
      this.#off = [];
      this.stopped();
    };
  }

  /** Between start and stop: results that arrive after the stop are dropped. */
  protected get running(): boolean {
    return this.#off.length > 0;
  }

  /** A new snapshot, told to the subscribers. */
  protected set(snap: S): void {
    this.#snap = snap;
    for (const fn of [...this.#listeners]) fn();
  }

  /** Each event of the topic. */
  protected abstract onEvent(ev: Envelope): void;
  /** On start and on every change of the hub (connection, accepted topics, outbox). */
  protected abstract onHub(): void;
  /** Further subscriptions for the lifetime. */
  protected more(): (() => void)[] {
    return [];
  }
  /** After the stop. */
  protected stopped(): void {}
}
