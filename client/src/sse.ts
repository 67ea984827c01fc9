/**
 * The Server-Sent Events transport (PROTOCOL.md §5a), read with fetch so
 * that the token goes in the Lifeline-Token header (never the URL) and the
 * client, not the browser, decides when and from where to reconnect.
 *
 * It opens on the stream's `probe` event, the server's second frame,
 * holding back what came between it and the `open` event. No open event
 * within SSE_FIRST_BYTE_MS means a proxy buffers the stream
 * (`no_first_byte`).
 * Under steady traffic a buffering proxy fills its buffer quickly and the
 * open event does arrive, late and in one piece with many events; so for
 * SSE_LAG_WINDOW_MS after opening, events published after the request
 * that arrive more than SSE_LAG_MS later than the quickest one did (by
 * their `ts`, net of clock skew) also end the stream as `no_first_byte`.
 * Some proxies pass the first bytes and hold the rest: a compressing one
 * holds the last bytes of each frame until more data pushes them out. The
 * server sends `event: probe` 250 ms after the open event, whose last byte
 * completes it; no probe within SSE_PROBE_MS of the open event (the
 * transport then fails without having opened: a failback probe of SSE
 * never takes over), or, at any time, an event published after the
 * request arriving more than
 * SSE_HELD_MS late, or part of a frame left without its end for
 * SSE_HELD_MS (the server writes whole frames), ends the stream as
 * `no_first_byte` too: held.
 * Once open, silence (not even a `: hb` comment) for twice the heartbeat
 * means the connection is dead. Once the path's idle limit is known
 * (idle.ts) the stream asks for heartbeats below it (`heartbeat`); a stream
 * cut after a quiet time reports it (`quietMs`).
 */
import { LifelineError, clientError, toLifelineError } from './errors.js';
import { AbortedError, request, withQuery } from './http.js';
import type { Envelope, Problem } from './protocol.js';
import { SseParser, type SseMessage } from './sse-parser.js';
import { closeFor, type FailureReason, type Transport, type TransportClose, type TransportContext } from './transport.js';
import { Watchdog } from './watchdog.js';

/** The open event must arrive within this long (DESIGN.md §5). */
export const SSE_FIRST_BYTE_MS = 3_000;
/** How long after opening the stream is watched for buffering, and how late an event may be. */
export const SSE_LAG_WINDOW_MS = 10_000;
export const SSE_LAG_MS = 1_000;
/** The server's probe event (250 ms after open) must be complete within this long of the open event. */
export const SSE_PROBE_MS = 2_000;
/** After SSE_LAG_WINDOW_MS, an event this late is held by a proxy (looser: a busy page is not a proxy). */
export const SSE_HELD_MS = 3_000;

function parse(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

export class SseTransport implements Transport {
  readonly name = 'sse';
  readonly #ctl = new AbortController();
  /** The probe event came: the transport is open. */
  #opened = false;
  /** What came after the open event and before the probe, delivered on opening. */
  #early: (() => void)[] = [];
  #done = false;
  #timer: unknown;
  #probe: unknown;
  /** Armed while part of a frame waits for its end. */
  #partial: unknown;
  #dog: Watchdog | undefined;
  /** The heartbeat interval asked for (the server's unless the path's idle limit is lower). */
  readonly #heartbeatMs: number;
  #lastRead = 0;
  #requestedAt = 0;
  #openedAt = 0;
  /** The least (arrival − ts) seen: clock skew plus the quickest delivery. */
  #skew = Infinity;
  /** The `ts` of the events of the current read, while watching for buffering. */
  #stamps: number[] = [];
  readonly #ctx: TransportContext;

  constructor(ctx: TransportContext) {
    this.#ctx = ctx;
    this.#heartbeatMs = ctx.idle.heartbeatMs(ctx.session.heartbeatMs) ?? ctx.session.heartbeatMs;
  }

  start(): void {
    const { api } = this.#ctx;
    this.#requestedAt = api.clock.now();
    this.#timer = api.clock.setTimeout(
      () => this.#end({ kind: 'failed', reason: 'no_first_byte', error: clientError('no_first_byte', `SSE: no open event within ${SSE_FIRST_BYTE_MS} ms (a buffering proxy?)`) }),
      SSE_FIRST_BYTE_MS,
    );
    void this.#run();
  }

  close(): void {
    this.#done = true;
    this.#stop();
  }

  #stop(): void {
    this.#ctx.api.clock.clearTimeout(this.#timer);
    this.#ctx.api.clock.clearTimeout(this.#probe);
    this.#ctx.api.clock.clearTimeout(this.#partial);
    this.#dog?.stop();
    this.#ctl.abort();
  }

  #end(c: TransportClose): void {
    if (this.#done) return;
    this.#done = true;
    this.#stop();
    this.#ctx.handlers.close(c);
  }

  /** A failure before the open event is the transport's; after it, a drop to recover from. */
  #fail(reason: FailureReason, e: LifelineError): void {
    this.#end(this.#opened ? { kind: 'retry', error: e } : { kind: 'failed', reason, error: e });
  }

  /** The stream ended or broke: after opening, a cut that may be a proxy's idle timeout. */
  #cut(e: LifelineError): void {
    if (!this.#opened) return this.#fail('error', e);
    this.#end({ kind: 'retry', error: e, quietMs: this.#ctx.api.clock.now() - this.#lastRead });
  }

  /**
   * The server writes each frame whole: a frame begun but not ended, with
   * nothing more for SSE_HELD_MS, is a proxy holding its end.
   */
  #watchPartial(parser: SseParser): void {
    const clock = this.#ctx.api.clock;
    clock.clearTimeout(this.#partial);
    if (this.#openedAt > 0 && parser.pending) {
      this.#partial = clock.setTimeout(() => this.#held(`a frame stayed without its end for ${SSE_HELD_MS} ms`), SSE_HELD_MS);
    }
  }

  #held(why: string): void {
    this.#end({ kind: 'failed', reason: 'no_first_byte', error: clientError('no_first_byte', `SSE: ${why} (a buffering or compressing proxy?)`) });
  }

  async #run(): Promise<void> {
    const { api, session, url } = this.#ctx;
    let res: Response;
    try {
      const headers = { ...(await api.headers()), Accept: 'text/event-stream', ...session.auth.headers(session.token) };
      if (this.#done) return;
      const query: Record<string, string> = { cursor: this.#ctx.cursor() };
      if (this.#heartbeatMs !== session.heartbeatMs) query.heartbeat = String(this.#heartbeatMs);
      // request() decodes error statuses into problems; a 2xx comes back unread.
      res = await api.fetch(withQuery(url, query), { headers, signal: this.#ctl.signal, cache: 'no-store' });
    } catch (err) {
      if (!this.#done) this.#fail('error', clientError('network', `SSE: ${err instanceof Error ? err.message : String(err)}`, err));
      return;
    }
    if (this.#done) return;
    if (res.status < 200 || res.status > 299) {
      // Reuse the problem decoding of request(): re-issue nothing, just decode.
      const e = await problemOf(res, api);
      const c = closeFor(e);
      this.#end(c.kind === 'fatal' || (c.kind === 'retry' && e.status !== 429 && e.status !== 503) ? { kind: 'failed', reason: 'error', error: e } : c);
      return;
    }
    const type = res.headers.get('Content-Type') ?? '';
    if (!type.startsWith('text/event-stream') || !res.body) {
      this.#fail('error', clientError('error', `SSE: the response is ${type || 'untyped'}, not text/event-stream`));
      return;
    }
    const parser = new SseParser((m) => this.#message(m, parser));
    const reader = res.body.getReader();
    const text = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (this.#done) return;
        if (done) break;
        this.#lastRead = api.clock.now();
        this.#dog?.kick();
        parser.feed(text.decode(value, { stream: true }));
        if (this.#done) return;
        this.#checkLag();
        this.#watchPartial(parser);
      }
      this.#cut(clientError('network', 'SSE: the stream ended'));
    } catch (err) {
      if (!this.#done) this.#cut(clientError('network', `SSE: ${err instanceof Error ? err.message : String(err)}`, err));
    } finally {
      if (this.#done) reader.cancel().catch(() => {});
    }
  }

  /**
   * Ends the stream if events of the last read came in late: a buffering
   * proxy, SSE_LAG_MS late in the first SSE_LAG_WINDOW_MS, or one that
   * holds frames, SSE_HELD_MS late at any time.
   */
  #checkLag(): void {
    const stamps = this.#stamps.splice(0);
    if (!stamps.length) return;
    const now = this.#ctx.api.clock.now();
    for (const ts of stamps) this.#skew = Math.min(this.#skew, now - ts);
    const early = this.#openedAt > 0 && now - this.#openedAt < SSE_LAG_WINDOW_MS;
    const limit = early ? SSE_LAG_MS : SSE_HELD_MS;
    // Published (in local time, at the latest) after the request: not backlog.
    const late = stamps.some((ts) => ts + this.#skew >= this.#requestedAt && now - (ts + this.#skew) > limit);
    if (late) this.#held(early ? 'events arrive in late bursts' : `an event arrived over ${SSE_HELD_MS} ms late`);
  }

  /** Delivers an event or reset now once open, else on opening. */
  #deliver(f: () => void): void {
    if (this.#opened) f();
    else this.#early.push(f);
  }

  #message(m: SseMessage, parser: SseParser): void {
    if (this.#done) return;
    const h = this.#ctx.handlers;
    const body = parse(m.data) as Record<string, unknown> | undefined;
    switch (m.event) {
      case 'open': {
        if (this.#openedAt) return;
        this.#openedAt = this.#ctx.api.clock.now();
        this.#ctx.api.clock.clearTimeout(this.#timer);
        this.#probe = this.#ctx.api.clock.setTimeout(() => this.#held(`no probe event within ${SSE_PROBE_MS} ms of the open event`), SSE_PROBE_MS);
        const dead = 2 * this.#heartbeatMs;
        this.#dog = new Watchdog(this.#ctx.api.clock, dead, () => this.#end({ kind: 'retry', error: clientError('timeout', `SSE: nothing for ${dead} ms`) }));
        return;
      }
      case 'message': {
        const ev = body as Envelope | undefined;
        if (!ev || typeof ev.id !== 'string' || !ev.id || typeof ev.type !== 'string' || typeof ev.topic !== 'string') return;
        if (typeof ev.ts === 'number' && this.#openedAt) this.#stamps.push(ev.ts);
        this.#deliver(() => h.event(ev));
        return;
      }
      case 'reset': {
        const cursor = typeof body?.cursor === 'string' && body.cursor ? body.cursor : m.id;
        if (cursor) this.#deliver(() => h.reset(cursor));
        return;
      }
      case 'probe': {
        // The server's second frame came whole: nothing holds the stream's frames.
        if (this.#opened || !this.#openedAt) return;
        this.#ctx.api.clock.clearTimeout(this.#probe);
        this.#opened = true;
        h.open();
        for (const deliver of this.#early.splice(0)) {
          if (this.#done) return;
          deliver();
        }
        return;
      }
      case 'recycle':
        this.#end({ kind: 'retry', immediate: true });
        return;
      case 'problem': {
        const p = (body ?? {}) as Problem;
        const status = typeof p.status === 'number' ? p.status : 503;
        const code = typeof p.code === 'string' && p.code ? p.code : `http_${status}`;
        const e = new LifelineError({ status, code, detail: typeof p.detail === 'string' ? p.detail : code, problem: p, ...(parser.retry !== undefined ? { retryAfterMs: parser.retry } : {}) });
        this.#end(code === 'superseded' ? { kind: 'superseded', error: e } : closeFor(e));
        return;
      }
    }
  }
}

/** Decodes a non-2xx response into a LifelineError, as request() does. */
async function problemOf(res: Response, api: TransportContext['api']): Promise<LifelineError> {
  try {
    await request(async () => res, api.clock, { method: 'GET', url: res.url || 'SSE' });
  } catch (err) {
    if (!(err instanceof AbortedError)) return toLifelineError(err);
  }
  return clientError('error', `SSE: HTTP ${res.status}`);
}
