/**
 * The WebSocket transport (PROTOCOL.md §5b): JSON text frames; the first
 * frame authenticates (the token never goes in the URL); sends go in-band
 * and are acknowledged by `mid`.
 *
 * It opens on the server's `open` frame, which must come within
 * WS_OPEN_TIMEOUT_MS (`open_timeout`); a handshake refused or closed before
 * that is `no_upgrade`, as when a proxy strips the Upgrade header. Once
 * open, no frame for twice the heartbeat means the connection is dead.
 */
import { LifelineError, clientError } from './errors.js';
import type { Ack, Envelope, SendRequest } from './protocol.js';
import type { Transport, TransportClose, TransportContext } from './transport.js';
import { withQuery } from './http.js';
import { Watchdog } from './watchdog.js';

/** The open frame must arrive within this long (DESIGN.md §5). */
export const WS_OPEN_TIMEOUT_MS = 5_000;

/** The part of the WebSocket API the client uses (the browser's, or the `ws` package's). */
export interface WebSocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or e.g. `ws`'s in Node. */
export type WebSocketConstructor = new (url: string) => object;

/** The ws(s):// URL of an http(s):// one. */
export function wsUrl(url: string): string {
  const u = new URL(url);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

interface Pending {
  resolve: (a: Ack) => void;
  reject: (e: unknown) => void;
  timer: unknown;
}

const noop = (): void => {};

/** Hands a well-formed envelope to the handlers; anything else is dropped. */
function deliver(h: { event(ev: Envelope): void }, v: unknown): void {
  const ev = v as Envelope | undefined;
  if (ev && typeof ev.id === 'string' && ev.id && typeof ev.type === 'string' && typeof ev.topic === 'string') h.event(ev);
}

export class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  #ws: WebSocketLike | undefined;
  #socketOpen = false;
  #opened = false;
  #done = false;
  #timer: unknown;
  #dog: Watchdog | undefined;
  /** The heartbeat interval asked for (the server's unless the path's idle limit is lower). */
  readonly #heartbeatMs: number;
  #lastFrame = 0;
  readonly #pending = new Map<string, Pending>();
  /** The retry delay of the last error frame that had one (a refused stream open or send). */
  #floorMs: number | undefined;
  readonly #ctx: TransportContext;
  readonly #Ctor: WebSocketConstructor;

  constructor(ctx: TransportContext, Ctor: WebSocketConstructor) {
    this.#ctx = ctx;
    this.#Ctor = Ctor;
    this.#heartbeatMs = ctx.idle.heartbeatMs(ctx.session.heartbeatMs) ?? ctx.session.heartbeatMs;
  }

  start(): void {
    const { api, session } = this.#ctx;
    this.#timer = api.clock.setTimeout(
      () => this.#end({ kind: 'failed', reason: 'open_timeout', error: clientError('open_timeout', `WebSocket: not open within ${WS_OPEN_TIMEOUT_MS} ms`) }),
      WS_OPEN_TIMEOUT_MS,
    );
    let ws: WebSocketLike;
    try {
      const url = this.#heartbeatMs === session.heartbeatMs ? this.#ctx.url : withQuery(this.#ctx.url, { heartbeat: String(this.#heartbeatMs) });
      ws = new this.#Ctor(wsUrl(url)) as WebSocketLike;
    } catch (err) {
      queueMicrotask(() => this.#end({ kind: 'failed', reason: 'error', error: clientError('error', `WebSocket: ${String(err)}`, err) }));
      return;
    }
    this.#ws = ws;
    ws.onerror = noop; // a close event follows
    ws.onopen = () => {
      this.#socketOpen = true;
      // batch: the events the server has together come in one "events"
      // frame (PROTOCOL.md §5b); a server that does not know it ignores it.
      this.#write({ op: 'auth', token: session.token, cursor: this.#ctx.cursor(), batch: true });
    };
    ws.onmessage = (ev) => this.#frame(typeof ev.data === 'string' ? ev.data : String(ev.data));
    ws.onclose = (ev) => this.#closed(ev.code, ev.reason);
  }

  close(): void {
    if (this.#done) return;
    this.#done = true;
    this.#stop();
  }

  send(msg: SendRequest): Promise<Ack> {
    if (!this.#opened || this.#done) return Promise.reject(clientError('network', 'WebSocket: not open'));
    return new Promise<Ack>((resolve, reject) => {
      const timer = this.#ctx.api.clock.setTimeout(() => {
        this.#pending.delete(msg.mid);
        reject(clientError('timeout', `WebSocket: no acknowledgement of ${msg.mid} within ${this.#ctx.api.timeoutMs} ms`));
      }, this.#ctx.api.timeoutMs);
      this.#pending.set(msg.mid, { resolve, reject, timer });
      this.#write({ op: 'send', ...msg });
    });
  }

  #write(frame: object): void {
    try {
      this.#ws?.send(JSON.stringify(frame));
    } catch {
      // closing: the close event settles everything
    }
  }

  #frame(text: string): void {
    if (this.#done) return;
    this.#lastFrame = this.#ctx.api.clock.now();
    this.#dog?.kick();
    let f: Record<string, unknown>;
    try {
      f = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof f !== 'object' || f === null) return;
    const h = this.#ctx.handlers;
    switch (f.op) {
      case 'open':
        if (this.#opened) return;
        this.#opened = true;
        this.#ctx.api.clock.clearTimeout(this.#timer);
        const dead = 2 * this.#heartbeatMs;
        this.#dog = new Watchdog(this.#ctx.api.clock, dead, () => this.#end({ kind: 'retry', error: clientError('timeout', `WebSocket: no frame for ${dead} ms`) }));
        h.open();
        return;
      case 'event':
        if (this.#opened) deliver(h, f.event);
        return;
      case 'events':
        if (this.#opened && Array.isArray(f.events)) for (const ev of f.events) deliver(h, ev);
        return;
      case 'reset':
        if (this.#opened && typeof f.cursor === 'string' && f.cursor) h.reset(f.cursor);
        return;
      case 'ack': {
        const p = this.#settle(f.mid);
        if (p) p.resolve(typeof f.id === 'string' && f.id ? { mid: f.mid as string, id: f.id } : { mid: f.mid as string });
        return;
      }
      case 'error': {
        const retryAfterMs = typeof f.retryAfterMs === 'number' && f.retryAfterMs > 0 ? f.retryAfterMs : undefined;
        const status = typeof f.status === 'number' ? f.status : 400;
        const code = typeof f.code === 'string' && f.code ? f.code : `http_${status}`;
        const e = new LifelineError({ status, code, detail: typeof f.detail === 'string' ? f.detail : code, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
        // A refused stream open (no mid) or send: a close 1008 that follows waits at least this long.
        if (retryAfterMs !== undefined) this.#floorMs = retryAfterMs;
        this.#settle(f.mid)?.reject(e);
        return;
      }
    }
  }

  #settle(mid: unknown): Pending | undefined {
    if (typeof mid !== 'string') return undefined;
    const p = this.#pending.get(mid);
    if (!p) return undefined;
    this.#pending.delete(mid);
    this.#ctx.api.clock.clearTimeout(p.timer);
    return p;
  }

  #closed(code: number, reason: string): void {
    if (this.#done) return;
    const why = `WebSocket closed: ${code}${reason ? ` ${reason}` : ''}`;
    const e = (c: string, status = 0) => new LifelineError({ status, code: c, detail: why });
    if (code === 1009) {
      // The frame in flight was too large: fail that send, do not resend it.
      for (const mid of [...this.#pending.keys()]) this.#settle(mid)!.reject(e('too_large', 413));
    }
    let c: TransportClose;
    if (code === 4001) c = { kind: 'unknown_token', error: e('unknown_token', 401) };
    else if (code === 4004) c = { kind: 'bad_cursor', error: e('bad_cursor', 400) };
    else if (code === 4005) c = { kind: 'superseded', error: e('superseded') };
    else if (code === 1001) c = { kind: 'retry', error: e('shutting_down', 503), retryAfterMs: 1000 };
    else if (code === 1013) c = { kind: 'retry', error: e('unavailable', 503), retryAfterMs: 2000 };
    else if (code === 1008) c = { kind: 'retry', error: e('rate_limited', 429), ...(this.#floorMs ? { retryAfterMs: this.#floorMs } : {}) };
    else if (this.#opened) c = { kind: 'retry', error: e('network'), quietMs: this.#ctx.api.clock.now() - this.#lastFrame };
    else if (code === 4002) c = { kind: 'failed', reason: 'open_timeout', error: e('open_timeout') };
    else c = this.#socketOpen ? { kind: 'failed', reason: 'error', error: e('error') } : { kind: 'failed', reason: 'no_upgrade', error: e('no_upgrade') };
    this.#end(c);
  }

  #end(c: TransportClose): void {
    if (this.#done) return;
    this.#done = true;
    this.#stop();
    this.#ctx.handlers.close(c);
  }

  #stop(): void {
    this.#ctx.api.clock.clearTimeout(this.#timer);
    this.#dog?.stop();
    for (const mid of [...this.#pending.keys()]) {
      this.#settle(mid)!.reject(clientError('network', 'WebSocket: closed before the send was acknowledged'));
    }
    const ws = this.#ws;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(1000);
    } catch {
      // already closed
    }
  }
}
