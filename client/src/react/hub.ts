/**
 * The one client a LifelineProvider shares with its tree, and what the
 * hooks read from it. Free of React: a plain external store.
 *
 * Lifetime: mounts acquire, unmounts release; the client is created and
 * started in a microtask after the first acquire, and closed (ending the
 * session) in a timeout after the last release. StrictMode's
 * mount–unmount–mount runs all three synchronously, so it never creates a
 * second client nor closes the first.
 *
 * Topics: each hook that follows a topic adds a reference; changes are
 * gathered in a microtask and applied with one setTopics (or the first
 * negotiate), one at a time, so a page mounting ten components negotiates
 * once.
 *
 * Refusals: when the server refuses a topic list (403 `forbidden_topic`,
 * 400 `bad_topic`) the client keeps the old topics; the hub remembers
 * which of the asked topics were refused and why, so that the hooks
 * following them can say so instead of waiting, until the topics change
 * and are accepted. A refusal of a negotiate with no session to keep (the
 * first, or one after a lost session) stops the client (a fatal error);
 * the next change of topics starts it again with them. The topic list is
 * asked for as a whole: while a refused topic stays mounted, topics other
 * components add are refused with it.
 */
import {
  LifelineClient,
  LifelineError,
  Outbox,
  type ConnectionState,
  type Envelope,
  type LifelineOptions,
  type Outgoing,
  type ResetInfo,
} from '../index.js';

type Fn<T = void> = (value: T) => void;

/** The connection as useConnection shows it: the client's state, plus what a UI needs to show a wait. */
export interface Connection extends ConnectionState {
  /** The server's rate limit holds the client back (status `rate-limited`, or connecting after a 429). */
  rateLimited: boolean;
  /** While waiting to retry: when the wait ends (Date.now() time), for a countdown. */
  retryAt?: number;
}

function view(s: ConnectionState): Connection {
  const rateLimited = s.status === 'rate-limited' || (s.error?.code === 'rate_limited' && (s.status === 'connecting' || s.status === 'reconnecting'));
  const c: Connection = { ...s, rateLimited };
  if (s.retryInMs !== undefined) c.retryAt = Date.now() + s.retryInMs;
  return Object.freeze(c);
}

const IDLE: Connection = view({ status: 'connecting', transport: null, attempt: 0 });
const CLOSED: Connection = view({ status: 'disconnected', transport: null, attempt: 0 });
const NO_TOPICS: ReadonlySet<string> = new Set();
const NO_ITEMS: readonly Outgoing[] = Object.freeze([]);

/** Adds fn to the set under key; returns its removal. */
function addTo<K, T>(map: Map<K, Set<T>>, key: K, fn: T): () => void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(fn);
  return () => {
    set.delete(fn);
    if (!set.size && map.get(key) === set) map.delete(key);
  };
}

/** The codes with which the server refuses a topic list: the topics must change before asking again. */
const TOPIC_REFUSALS: readonly string[] = ['forbidden_topic', 'bad_topic'];

/** Asked topics the server refused, and why. */
interface Refusal {
  topics: ReadonlySet<string>;
  error: LifelineError;
}

const same = (a: readonly string[], b: readonly string[] | null): boolean => !!b && a.length === b.length && a.every((t, i) => t === b[i]);

export interface HubOptions extends LifelineOptions {
  /** Outbox timeout: an optimistic message not acknowledged within this many ms is marked failed. Default never. */
  sendTimeoutMs?: number;
}

export class Hub {
  readonly #options: HubOptions;
  #client: LifelineClient | null = null;
  #outbox: Outbox | null = null;
  #offClient: (() => void)[] = [];
  #refs = 0;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #flushQueued = false;
  /** Topic → how many hooks follow it. */
  readonly #wanted = new Map<string, number>();
  /** The topic list last asked of the client; null before it exists. */
  #asked: readonly string[] | null = null;
  #switching = false;
  #state: Connection = IDLE;
  #accepted: ReadonlySet<string> = NO_TOPICS;
  #refusal: Refusal | null = null;
  /** The topics the client was (last) started with: its first session's. */
  #startTopics: readonly string[] = [];
  readonly #listeners = new Set<() => void>();
  readonly #byTopic = new Map<string, Set<Fn<Envelope>>>();
  readonly #resets = new Set<Fn<ResetInfo>>();

  constructor(options: HubOptions) {
    this.#options = options;
  }

  /** The client, once the provider is mounted (null before and after). */
  get client(): LifelineClient | null {
    return this.#client;
  }

  /** The connection state (a new object on every change). */
  readonly getState = (): Connection => this.#state;

  /** The topics the current session follows (a new set on every change). */
  readonly getAccepted = (): ReadonlySet<string> => this.#accepted;

  /** Why the server refused to follow topic (e.g. 403 forbidden_topic), while the topic stays asked and unfollowed. */
  readonly refusalOf = (topic: string): LifelineError | undefined => (this.#refusal?.topics.has(topic) ? this.#refusal.error : undefined);

  /** The optimistic messages not yet replaced by their events. */
  readonly getOutbox = (): readonly Outgoing[] => this.#outbox?.items ?? NO_ITEMS;

  /** Whether clientId is (or was) this client's. */
  isMine(clientId: string | undefined): boolean {
    return !!this.#outbox?.isMine(clientId);
  }

  /** Calls fn after any change of state, accepted topics or outbox. */
  readonly subscribe = (fn: () => void): (() => void) => {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  };

  /** Calls fn with each event of topic. */
  onEvent(topic: string, fn: Fn<Envelope>): () => void {
    return addTo(this.#byTopic, topic, fn);
  }

  /** Calls fn when the server could not resume from the cursor (events may be missing). */
  onReset(fn: Fn<ResetInfo>): () => void {
    this.#resets.add(fn);
    return () => this.#resets.delete(fn);
  }

  /** The provider is mounted (once more). */
  acquire(): void {
    this.#refs++;
    clearTimeout(this.#closeTimer);
    this.#schedule();
  }

  /** The provider unmounted: close once nothing acquired it again by the next task. */
  release(): void {
    if (--this.#refs > 0) return;
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => {
      if (this.#refs === 0) void this.#shutdown();
    }, 0);
  }

  /** Follows topic until the returned function is called. */
  follow(topic: string): () => void {
    this.#wanted.set(topic, (this.#wanted.get(topic) ?? 0) + 1);
    this.#schedule();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#wanted.get(topic) ?? 1) - 1;
      if (n > 0) this.#wanted.set(topic, n);
      else this.#wanted.delete(topic);
      this.#schedule();
    };
  }

  /** The outbox, creating the client now if the provider is mounted and it does not exist yet. */
  outbox(): Outbox | null {
    if (!this.#outbox && this.#refs > 0) this.#flush();
    return this.#outbox;
  }

  #topics(): string[] {
    return [...new Set([...(this.#options.topics ?? []), ...this.#wanted.keys()])].sort();
  }

  #schedule(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#refs === 0) return;
    const topics = this.#topics();
    if (!this.#client) {
      this.#start(topics);
      return;
    }
    if (this.#switching || same(topics, this.#asked)) return;
    this.#asked = topics;
    const client = this.#client;
    if (this.#refusal && this.#state.status === 'disconnected') {
      // The client stopped on a refusal (of its first negotiate, or one after a lost session): start it again with the new topics.
      this.#refusal = null;
      this.#startTopics = topics;
      void client.setTopics(topics); // not running: only records them
      client.start();
      this.#emit();
      return;
    }
    this.#switching = true;
    client.setTopics(topics).then(
      () => {
        if (this.#client === client) this.#accept(topics);
      },
      (err: unknown) => {
        // Refused (e.g. forbidden_topic): the old topics stay; #asked keeps
        // the refused list so that it is not asked again until it changes,
        // and the hooks that asked for the new ones are told why.
        if (this.#client === client && err instanceof LifelineError && TOPIC_REFUSALS.includes(err.code)) this.#refuse(topics, err);
      },
    ).finally(() => {
      this.#switching = false;
      if (this.#client === client) this.#schedule();
    });
  }

  #start(topics: string[]): void {
    const { sendTimeoutMs, ...options } = this.#options;
    const client = new LifelineClient({ ...options, topics, autoStart: false });
    this.#client = client;
    this.#asked = this.#startTopics = topics;
    this.#offClient = [
      client.on('state', (s) => {
        // The first session follows the topics it was created with (or started again with).
        if (s.clientId && this.#accepted === NO_TOPICS && !this.#switching) this.#accepted = new Set(this.#startTopics);
        if (s.status === 'disconnected' && s.error && TOPIC_REFUSALS.includes(s.error.code)) {
          // A negotiate without a session to keep (the first, or after a lost session) was refused: the client stopped.
          const lost = this.#accepted.size ? [...this.#accepted] : this.#startTopics;
          this.#accepted = NO_TOPICS;
          this.#refuse(lost, s.error, false);
        }
        this.#state = view(s);
        this.#emit();
      }),
      client.on('event', (ev) => {
        const set = this.#byTopic.get(ev.topic);
        if (set) for (const fn of [...set]) fn(ev as Envelope);
      }),
      client.on('reset', (r) => {
        for (const fn of [...this.#resets]) fn(r);
      }),
    ];
    // After the hub's listener, so that an event is handed to the hooks before its outbox entry goes.
    this.#outbox = new Outbox(client, sendTimeoutMs === undefined ? {} : { timeoutMs: sendTimeoutMs });
    this.#offClient.push(this.#outbox.subscribe(() => this.#emit()));
    client.start();
  }

  #accept(topics: readonly string[]): void {
    this.#accepted = new Set(topics);
    this.#refusal = null;
    this.#emit();
  }

  /** The server refused `asked`: those of them not followed are refused, with `error`. */
  #refuse(asked: readonly string[], error: LifelineError, emit = true): void {
    this.#refusal = { topics: new Set(asked.filter((t) => !this.#accepted.has(t))), error };
    if (emit) this.#emit();
  }

  async #shutdown(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    for (const off of this.#offClient) off();
    this.#offClient = [];
    this.#outbox?.close();
    this.#client = this.#outbox = this.#asked = null;
    this.#state = CLOSED;
    this.#accepted = NO_TOPICS;
    this.#refusal = null;
    this.#emit();
    await client.close();
  }

  #emit(): void {
    for (const fn of [...this.#listeners]) fn();
  }
}
