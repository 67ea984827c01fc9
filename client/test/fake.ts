/**
 * An in-memory fake of a Lifeline server behind a `fetch` function, for
 * unit tests of the client's behaviour. It speaks PROTOCOL.md closely
 * enough (negotiate, poll with epoch cursors, send with mid dedup,
 * presence, DELETE session) and lets a test override any route for the
 * next request(s) to inject failures.
 */
import type { Clock } from '../src/clock.js';
import type { Envelope } from '../src/protocol.js';

export interface FakeRequest {
  method: string;
  path: string;
  url: string;
  query: URLSearchParams;
  headers: Headers;
  body: any;
}

export type Handler = (req: FakeRequest, signal: AbortSignal | undefined) => Response | Promise<Response>;

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

export function problem(status: number, code: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ status, title: 'x', code, detail: `fake ${code}` }), {
    status,
    headers: { 'Content-Type': 'application/problem+json', ...headers },
  });
}

/** A network failure, as fetch reports it. */
export function networkError(): never {
  throw new TypeError('fetch failed');
}

function abortError(): DOMException {
  return new DOMException('This operation was aborted', 'AbortError');
}

/** A clock 100 times faster in everything: timers and now(). */
export function scaledClock(): Clock {
  const t0 = Date.now();
  return {
    now: () => t0 + (Date.now() - t0) * 100,
    setTimeout: (fn, ms) => setTimeout(fn, ms / 100),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

/**
 * A clock whose timers run `factor` (100) times faster, recording what was
 * asked. A smaller factor leaves more real time for deadlines such as the
 * 5 s WebSocket open timeout on a loaded machine.
 */
export function fastClock(factor = 100): Clock & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
      delays.push(ms);
      return setTimeout(fn, ms / factor);
    },
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
}

export class FakeServer {
  epoch = 'e1';
  seq = 0;
  log: Envelope[] = [];
  tokens = new Map<string, string>(); // token → clientId
  acks = new Map<string, { mid: string; id: string }>();
  applied = 0;
  requests: FakeRequest[] = [];

  /** The token a request proves its session with: the header, else (§3a) the cookie ?client= names, or a send's body. */
  token(req: FakeRequest): string {
    const header = this.stripToken ? '' : req.headers.get('Lifeline-Token');
    if (header) return header;
    if (req.method === 'POST') return typeof req.body?.token === 'string' ? req.body.token : '';
    const client = req.query.get('client');
    return [...this.tokens].find(([, id]) => client && id === client)?.[0] ?? '';
  }
  /** How long an empty poll is held, in real ms. */
  holdMs = 30;
  /**
   * Drop the Lifeline-Token header, as a proxy that strips it: requests
   * then prove the session as PROTOCOL.md §3a says (the browser's cookie,
   * named by ?client=, which this fake takes as sent; a send's body token).
   */
  stripToken = false;
  /** What negotiate offers, best first. */
  offers: { name: string; url: string }[] = [{ name: 'longpoll', url: '/rt/poll' }];
  /** Every negotiate response, as sent. */
  negotiated: any[] = [];
  private overrides = new Map<string, Handler[]>();
  private wake = new Set<() => void>();
  private n = 0;

  /** Answers the next request to `route` ("POST /rt/negotiate") with h, before the normal handler. */
  once(route: string, h: Handler): this {
    const list = this.overrides.get(route) ?? [];
    list.push(h);
    this.overrides.set(route, list);
    return this;
  }

  publish(topic: string, type: string, data: unknown, from?: string): Envelope {
    this.seq++;
    const ev: Envelope = { id: `${this.epoch}.${this.seq}`, topic, type, data, ts: Date.now(), ...(from ? { from } : {}) };
    this.log.push(ev);
    for (const w of [...this.wake]) w();
    return ev;
  }

  /** A new epoch, as after a restart: sessions and buffer gone. */
  restart(epoch: string): void {
    this.epoch = epoch;
    this.seq = 0;
    this.log = [];
    this.tokens.clear();
  }

  /** Applies a send once per mid. */
  apply(b: { mid: string; topic: string; type: string; data: unknown }, clientId: string): { mid: string; id: string } {
    let ack = this.acks.get(b.mid);
    if (!ack) {
      this.applied++;
      ack = { mid: b.mid, id: this.publish(b.topic, b.type, b.data, clientId).id };
      this.acks.set(b.mid, ack);
    }
    return ack;
  }

  /** Calls fn on every publish until the returned function is called. */
  watch(fn: () => void): () => void {
    const w = (): void => {
      this.wake.delete(w);
      fn();
      this.wake.add(w);
    };
    this.wake.add(w);
    return () => this.wake.delete(w);
  }

  /** The events after a cursor of this epoch. */
  after(cursor: string): Envelope[] {
    const n = Number(cursor.split('.')[1]);
    return this.log.filter((e) => Number(e.id.split('.')[1]) > n);
  }

  get head(): string {
    return `${this.epoch}.${this.seq}`;
  }

  count(route: string): number {
    return this.requests.filter((r) => `${r.method} ${r.path}` === route).length;
  }

  fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input, 'http://fake.test');
    const headers = new Headers(init.headers);
    const req: FakeRequest = {
      method: init.method ?? 'GET',
      path: url.pathname,
      url: input,
      query: url.searchParams,
      headers,
      body: typeof init.body === 'string' && init.body ? JSON.parse(init.body) : undefined,
    };
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw abortError();
    this.requests.push(req);
    const route = `${req.method} ${req.path}`;
    const override = this.overrides.get(route)?.shift();
    const work = Promise.resolve().then(() => (override ?? ((r, s) => this.handle(r, s)))(req, signal));
    if (!signal) return work;
    return new Promise<Response>((resolve, reject) => {
      const onAbort = (): void => reject(abortError());
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  };

  private async handle(req: FakeRequest, signal: AbortSignal | undefined): Promise<Response> {
    switch (`${req.method} ${req.path}`) {
      case 'POST /rt/negotiate': {
        const token = `t${++this.n}`;
        const clientId = `c${this.n}`;
        this.tokens.set(token, clientId);
        const asked: string | undefined = req.body?.cursor;
        let cursor = this.head;
        let reset = false;
        if (asked) {
          if (asked.split('.')[0] === this.epoch) cursor = asked;
          else reset = true;
        }
        const body = {
          protocol: 1,
          clientId,
          token,
          cursor,
          reset,
          topics: req.body?.topics ?? [],
          transports: this.offers,
          sendUrl: '/rt/send',
          pollTimeoutMs: 1000,
          heartbeatMs: 1000,
        };
        this.negotiated.push(body);
        return json(200, body);
      }
      case 'GET /rt/poll': {
        if (!this.tokens.has(this.token(req))) return problem(401, 'unknown_token');
        const cursor = req.query.get('cursor') ?? '';
        const [epoch, seqText] = cursor.split('.');
        if (epoch !== this.epoch) return json(200, { events: [], cursor: this.head, reset: true });
        const after = Number(seqText);
        const pending = (): Envelope[] => this.log.filter((e) => Number(e.id.split('.')[1]) > after);
        if (pending().length === 0) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(t);
              this.wake.delete(done);
              signal?.removeEventListener('abort', done);
              resolve();
            };
            const t = setTimeout(done, this.holdMs);
            this.wake.add(done);
            signal?.addEventListener('abort', done);
          });
        }
        const events = pending();
        return json(200, { events, cursor: events.length ? events[events.length - 1]!.id : cursor });
      }
      case 'POST /rt/send': {
        const clientId = this.tokens.get(this.token(req));
        if (!clientId) return problem(401, 'unknown_token');
        const { token: _, ...msg } = req.body ?? {};
        return json(200, this.apply(msg, clientId));
      }
      case 'GET /rt/presence': {
        if (!this.tokens.has(this.token(req))) return problem(401, 'unknown_token');
        return json(200, { topic: req.query.get('topic'), clients: [...this.tokens.values()].map((clientId) => ({ clientId })) });
      }
      case 'DELETE /rt/session':
        this.tokens.delete(this.token(req));
        return new Response(null, { status: 204 });
      default:
        return problem(404, 'not_found');
    }
  }
}

/** Resolves once pred() holds, checking every few ms; rejects after timeoutMs. */
export async function until(pred: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * A fake WebSocket in front of a FakeServer. `mode` decides what the next
 * connections do: `accept` (auth, open, events, in-band sends), `refuse`
 * (closed 1006 before opening, as when a proxy strips Upgrade), `hang`
 * (never answers), `drop` (opens, then closes 1006 after 20 ms), or `mute`
 * (opens, then never sends another frame: a dead connection), or `limited`
 * (answers auth with a 429 error frame and close 1008: a stream open over
 * the idle limit). `refuseSends` refuses that many of the next sends with a
 * 429 error frame carrying `retryAfterMs`.
 */
export function fakeWebSocket(server: FakeServer) {
  const ctl = {
    mode: 'accept' as 'accept' | 'refuse' | 'hang' | 'drop' | 'mute' | 'limited',
    refuseSends: 0,
    retryAfterMs: 300,
    /** Whether sends are acknowledged (false: they are applied, the ack never comes). */
    ack: true,
    sockets: [] as FakeWS[],
    /** Frames the clients sent, parsed. */
    frames: [] as any[],
    /** "events" frames sent (to clients that asked for batches in auth). */
    batches: 0,
    urls: [] as string[],
  };
  class FakeWS {
    onopen: ((ev: unknown) => void) | null = null;
    onmessage: ((ev: { data: unknown }) => void) | null = null;
    onclose: ((ev: { code: number; reason: string }) => void) | null = null;
    onerror: ((ev: unknown) => void) | null = null;
    closed = false;
    private cursor = '';
    private clientId = '';
    private batch = false;
    private unwatch: (() => void) | undefined;
    private readonly mode = ctl.mode;
    constructor(readonly url: string) {
      ctl.urls.push(url);
      ctl.sockets.push(this);
      const mode = ctl.mode;
      setTimeout(() => {
        if (this.closed) return;
        if (mode === 'refuse') this.serverClose(1006);
        else if (mode !== 'hang') this.onopen?.({});
        if (mode === 'drop') setTimeout(() => this.serverClose(1006), 20);
      }, 1);
    }
    send(data: string): void {
      const f = JSON.parse(data);
      ctl.frames.push(f);
      setTimeout(() => this.receive(f), 1);
    }
    close(): void {
      this.closed = true;
      this.unwatch?.();
    }
    /** The server closes the connection with `code`. */
    serverClose(code: number, reason = ''): void {
      if (this.closed) return;
      this.closed = true;
      this.unwatch?.();
      this.onclose?.({ code, reason });
    }
    push(frame: unknown): void {
      if (!this.closed) this.onmessage?.({ data: JSON.stringify(frame) });
    }
    private receive(f: any): void {
      if (this.closed) return;
      if (f.op === 'auth') {
        const clientId = server.tokens.get(f.token);
        if (!clientId) return this.serverClose(4001, 'unknown_token');
        if (this.mode === 'limited') {
          this.push({ op: 'error', status: 429, code: 'rate_limited', detail: 'fake', retryAfterMs: ctl.retryAfterMs });
          return this.serverClose(1008, 'rate_limited');
        }
        this.cursor = f.cursor;
        this.clientId = clientId;
        this.batch = f.batch === true;
        this.push({ op: 'open', clientId, cursor: f.cursor });
        if (this.mode === 'mute') return;
        // As the server does: what a flush has together goes in one
        // "events" frame to a client that asked for batches.
        const flush = (): void => {
          const evs = server.after(this.cursor);
          if (evs.length === 0) return;
          if (this.batch && evs.length > 1) {
            this.push({ op: 'events', events: evs });
            ctl.batches++;
          } else for (const ev of evs) this.push({ op: 'event', event: ev });
          this.cursor = evs[evs.length - 1]!.id;
        };
        flush();
        this.unwatch = server.watch(() => setTimeout(flush, 0));
      } else if (f.op === 'send' && ctl.refuseSends > 0) {
        ctl.refuseSends--;
        this.push({ op: 'error', mid: f.mid, status: 429, code: 'rate_limited', detail: 'fake', retryAfterMs: ctl.retryAfterMs });
      } else if (f.op === 'send') {
        const ack = server.apply(f, this.clientId);
        if (ctl.ack) this.push({ op: 'ack', ...ack });
      }
    }
  }
  return { ctl, WebSocket: FakeWS };
}
