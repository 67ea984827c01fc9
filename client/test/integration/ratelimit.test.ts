// The client under the real Go server's rate limits (PROTOCOL.md §2 "Rate
// limits"): a tight-loop poller is refused and backs off; a send burst over
// a tiny send limit is paced or retried (HTTP 429, WebSocket error frames)
// until every send is applied exactly once; refused stream opens (WebSocket
// 429 + 1008, SSE `problem`) and negotiates wait as told. Each test runs its
// own server, so they run concurrently; the timing checks are lower bounds.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { WebSocket as WS } from 'ws';
import type { LifelineClient, LifelineOptions, RateLimitInfo } from '../../src/index.js';
import { parseRateLimit } from '../../src/ratelimit.js';
import { Recorder, TestServer, newClient, skip, type ServerOptions } from './harness.js';

/** Timers may fire a little early relative to Date.now(). */
const SLACK_MS = 5;

interface HttpLog {
  path: string;
  start: number;
  end?: number;
  status?: number;
  /** Retry-After in ms. */
  retryAfterMs?: number;
  /** The `t` of a RateLimit item with r=0, in ms. */
  spentForMs?: number;
  mid?: string;
}

/** A fetch that logs every request to `paths`, optionally hiding the RateLimit fields (as CORS hides unexposed headers). */
function loggingFetch(log: HttpLog[], opts: { hideLimits?: boolean; onSse?: (retryMs: number, at: number) => void } = {}): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    const path = url.pathname.replace(/^\/rt/, '');
    const entry: HttpLog = { path, start: Date.now() };
    if (path === '/send') entry.mid = (JSON.parse(String(init?.body)) as { mid: string }).mid;
    log.push(entry);
    let res = await fetch(input, init);
    entry.end = Date.now();
    entry.status = res.status;
    const ra = res.headers.get('Retry-After');
    if (ra) entry.retryAfterMs = Number(ra) * 1000;
    const spent = parseRateLimit(res.headers.get('RateLimit'), null, 0).find((i) => i.remaining === 0);
    if (spent?.resetInMs) entry.spentForMs = spent.resetInMs;
    if (opts.hideLimits) {
      const headers = new Headers(res.headers);
      headers.delete('RateLimit');
      headers.delete('RateLimit-Policy');
      res = new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    }
    if (path === '/sse' && res.body && opts.onSse) {
      // Read a copy of the stream to see the server's `retry:` before a `problem`, independently of the client.
      const [mine, theirs] = res.body.tee();
      const onSse = opts.onSse;
      void (async () => {
        let text = '';
        const dec = new TextDecoder();
        try {
          for await (const chunk of mine as unknown as AsyncIterable<Uint8Array>) {
            text += dec.decode(chunk, { stream: true });
            const m = /retry: (\d+)\nevent: problem\ndata: (.*)\n/.exec(text);
            if (m && (JSON.parse(m[2]!) as { status: number }).status === 429) {
              onSse(Number(m[1]), Date.now());
              return;
            }
          }
        } catch {
          // the client closed it
        }
      })();
      res = new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
    }
    return res;
  };
}

interface WsLog {
  kind: 'new' | 'in' | 'out' | 'close';
  at: number;
  socket: number;
  frame?: Record<string, unknown>;
  code?: number;
}

/** A `ws` WebSocket that logs sockets, frames both ways and closes. */
function loggingWebSocket(log: WsLog[], sockets: WS[]) {
  return class Logged extends WS {
    readonly n: number;
    constructor(url: string) {
      super(url);
      this.n = sockets.push(this) - 1;
      log.push({ kind: 'new', at: Date.now(), socket: this.n });
      // Registered before the client's onmessage/onclose: logged before the client reacts.
      this.on('message', (data) => log.push({ kind: 'in', at: Date.now(), socket: this.n, frame: JSON.parse(String(data)) as Record<string, unknown> }));
      this.on('close', (code) => log.push({ kind: 'close', at: Date.now(), socket: this.n, code }));
    }
    override send(data: unknown, ...rest: unknown[]): void {
      log.push({ kind: 'out', at: Date.now(), socket: this.n, frame: JSON.parse(String(data)) as Record<string, unknown> });
      (WS.prototype.send as (...a: unknown[]) => void).call(this, data, ...rest);
    }
  };
}

describe('against the Go server: rate limits', { skip, concurrency: true }, () => {
  const servers: TestServer[] = [];
  const clients: LifelineClient[] = [];
  const start = async (opts: ServerOptions) => {
    const s = await TestServer.start(opts);
    servers.push(s);
    return s;
  };
  const client = (opts: LifelineOptions) => {
    const c = newClient(opts);
    clients.push(c);
    const rec = new Recorder(c);
    const limits: RateLimitInfo[] = [];
    c.on('limits', (l) => limits.push(l));
    return { c, rec, limits };
  };
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('long-poll in a tight loop: 429 → rate-limited, waits at least Retry-After before polling again, then connected', async () => {
    // Every poll comes back empty at once: each one is idle.
    const s = await start({ pollTimeout: '5ms', idleLimit: { limit: 1, period: '1s', burst: 1 } });
    const log: HttpLog[] = [];
    const { c, rec } = client({ url: s.rt, topics: ['room:lp'], transports: ['longpoll'], fetch: loggingFetch(log) });
    const polls = () => log.filter((e) => e.path === '/poll');
    const refused = () => polls().filter((e) => e.status === 429);
    const limitedAt = () => rec.states.findIndex((st) => st.status === 'rate-limited');
    await rec.until(
      () => refused().length >= 2 && limitedAt() >= 0 && rec.states.slice(limitedAt()).some((st) => st.status === 'connected'),
      'two refused polls, and connected after rate-limited',
      8000,
    );
    const p = polls();
    for (let i = 0; i < p.length - 1; i++) {
      const e = p[i]!;
      if (e.status !== 429) continue;
      assert.ok(e.retryAfterMs! >= 1000, `Retry-After ${e.retryAfterMs}`);
      const gap = p[i + 1]!.start - e.end!;
      assert.ok(gap >= e.retryAfterMs! - SLACK_MS, `poll ${i + 1} came ${gap} ms after a 429 with Retry-After ${e.retryAfterMs} ms`);
    }
    // Never two refused polls in a row: each wait was long enough.
    for (let i = 1; i < p.length; i++) assert.ok(!(p[i]!.status === 429 && p[i - 1]!.status === 429), `polls ${i - 1} and ${i} both refused`);
    const st = rec.states[limitedAt()]!;
    assert.equal(st.transport, null);
    assert.equal(st.error?.code, 'rate_limited');
    assert.ok(st.retryInMs! >= 1000, `retryInMs ${st.retryInMs}`);
    assert.equal(log.filter((e) => e.path === '/negotiate').length, 1, 'the session was kept');
    // And it still delivers.
    const id = await s.publish('room:lp', 'message', 'still here');
    await rec.until(() => rec.of().some((e) => e.id === id), 'an event between the waits', 5000);
    assert.ok(c.cursor);
  });

  it('an HTTP send burst over a tiny send limit: paced by the RateLimit fields, every send applied once, none rejected', async () => {
    const s = await start({ noLimits: true, sendLimit: { limit: 10, period: '1s', burst: 2 } });
    const log: HttpLog[] = [];
    const { c, rec, limits } = client({ url: s.rt, topics: ['room:hs'], transports: ['longpoll'], fetch: loggingFetch(log) });
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
    const before = await s.sends();
    const acks = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => c.send('room:hs', 'message', { n })));
    assert.equal(new Set(acks.map((a) => a.mid)).size, 6);
    assert.equal((await s.sends()) - before, 6, 'each applied once');
    const sends = log.filter((e) => e.path === '/send');
    assert.deepEqual(sends.map((e) => e.status), [200, 200, 200, 200, 200, 200], 'paced: never refused');
    for (let i = 0; i < sends.length - 1; i++) {
      const e = sends[i]!;
      if (!e.spentForMs) continue;
      const gap = sends[i + 1]!.start - e.end!;
      assert.ok(gap >= e.spentForMs - SLACK_MS, `send ${i + 1} came ${gap} ms after r=0;t=${e.spentForMs / 1000}`);
    }
    assert.ok(sends.filter((e) => e.spentForMs).length >= 2, 'the limit was reached');
    const l = c.limits.sends!;
    assert.deepEqual([l.policy, l.quota, l.windowMs], ['sends', 2, 1000]);
    assert.ok(limits.some((x) => x.policy === 'sends' && x.remaining === 0));
    assert.ok(rec.states.some((st) => st.status === 'rate-limited' && st.transport === 'longpoll'), 'showed rate-limited while connected');
    assert.equal(rec.states.at(-1)?.status, 'connected');
    await rec.until(() => rec.of().length === 6, 'the 6 messages');
  });

  it('an HTTP send burst without visible RateLimit fields: 429s retried with the same mid after Retry-After, none rejected', async () => {
    const s = await start({ noLimits: true, sendLimit: { limit: 10, period: '1s', burst: 2 } });
    const log: HttpLog[] = [];
    const { c, rec } = client({ url: s.rt, topics: ['room:h4'], transports: ['longpoll'], fetch: loggingFetch(log, { hideLimits: true }) });
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
    const before = await s.sends();
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => c.send('room:h4', 'message', { n })));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const acks = results.map((r) => (r as PromiseFulfilledResult<{ mid: string }>).value);
    assert.equal((await s.sends()) - before, 5, 'each applied once');
    const sends = log.filter((e) => e.path === '/send');
    const refused = sends.filter((e) => e.status === 429);
    assert.ok(refused.length >= 1, 'the limit refused some');
    assert.equal(sends.length, 5 + refused.length);
    for (let i = 0; i < sends.length - 1; i++) {
      const e = sends[i]!;
      if (e.status !== 429) continue;
      const next = sends[i + 1]!;
      assert.equal(next.mid, e.mid, 'the refused send is retried first, with the same mid');
      assert.ok(next.start - e.end! >= e.retryAfterMs! - SLACK_MS, `retried ${next.start - e.end!} ms after Retry-After ${e.retryAfterMs} ms`);
    }
    assert.deepEqual(
      [...new Set(sends.map((e) => e.mid))],
      acks.map((a) => a.mid),
    );
    assert.ok(rec.states.some((st) => st.status === 'rate-limited' && st.transport === 'longpoll' && st.error?.code === 'rate_limited'));
    assert.equal(rec.states.at(-1)?.status, 'connected');
  });

  it('a WebSocket send burst: in-band 429 error frames retried with the same mid after retryAfterMs, never closed 1008', async () => {
    const s = await start({ noLimits: true, sendLimit: { limit: 10, period: '1s', burst: 2 } });
    const log: WsLog[] = [];
    const { c, rec } = client({ url: s.rt, topics: ['room:ws'], transports: ['websocket'], WebSocket: loggingWebSocket(log, []) });
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
    const before = await s.sends();
    const acks = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((n) => c.send('room:ws', 'message', { n })));
    assert.equal(new Set(acks.map((a) => a.mid)).size, 8);
    assert.equal((await s.sends()) - before, 8, 'each applied once');
    const errors = log.filter((e) => e.kind === 'in' && e.frame!.op === 'error');
    assert.ok(errors.length >= 1, 'the limit refused some');
    for (const e of errors) {
      const f = e.frame as { mid: string; status: number; code: string; retryAfterMs: number };
      assert.deepEqual([f.status, f.code], [429, 'rate_limited']);
      assert.ok(f.retryAfterMs > 0);
      const retry = log.slice(log.indexOf(e)).find((x) => x.kind === 'out' && x.frame!.op === 'send' && x.frame!.mid === f.mid);
      assert.ok(retry, `the send ${f.mid} was retried in-band`);
      assert.ok(retry.at - e.at >= f.retryAfterMs - SLACK_MS, `retried ${retry.at - e.at} ms after retryAfterMs ${f.retryAfterMs}`);
    }
    assert.equal(log.filter((e) => e.kind === 'new').length, 1, 'one socket throughout');
    assert.ok(!log.some((e) => e.kind === 'close'), 'never closed');
    assert.equal(log.filter((e) => e.kind === 'out' && e.frame!.op === 'send').length, 8 + errors.length);
    assert.ok(rec.states.some((st) => st.status === 'rate-limited' && st.transport === 'websocket'));
    assert.equal(rec.states.at(-1)?.status, 'connected');
  });

  it('a WebSocket stream open over the idle limit (429 frame, close 1008): waits at least retryAfterMs, stays on WebSocket', async () => {
    const s = await start({ idleLimit: { limit: 1, period: '1500ms', burst: 1 } });
    const log: WsLog[] = [];
    const sockets: WS[] = [];
    const { rec } = client({ url: s.rt, topics: ['room:wo'], transports: ['websocket'], WebSocket: loggingWebSocket(log, sockets) });
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
    sockets[0]!.terminate(); // a drop: the client opens a new stream at once, over the limit
    await rec.until(() => sockets.length >= 3 && rec.states.at(-1)?.status === 'connected', 'connected again', 8000);
    const refusal = log.find((e) => e.kind === 'in' && e.socket === 1 && e.frame!.op === 'error')!;
    const f = refusal.frame as { mid?: string; status: number; retryAfterMs: number };
    assert.equal(f.mid, undefined);
    assert.equal(f.status, 429);
    assert.ok(!log.some((e) => e.kind === 'in' && e.socket === 1 && e.frame!.op === 'open'), 'refused before open');
    assert.equal(log.find((e) => e.kind === 'close' && e.socket === 1)?.code, 1008);
    const third = log.find((e) => e.kind === 'new' && e.socket === 2)!;
    assert.ok(third.at - refusal.at >= f.retryAfterMs - SLACK_MS, `reopened ${third.at - refusal.at} ms after retryAfterMs ${f.retryAfterMs}`);
    const st = rec.states.find((x) => x.status === 'rate-limited')!;
    assert.deepEqual([st.transport, st.error?.code], [null, 'rate_limited']);
    assert.ok(st.retryInMs! >= f.retryAfterMs);
    assert.equal(rec.states.at(-1)!.transport, 'websocket');
    assert.equal(rec.states.at(-1)!.skipped, undefined, 'WebSocket not blamed');
    const id = await s.publish('room:wo', 'message', 'after');
    await rec.until(() => rec.of().some((e) => e.id === id), 'an event after reopening');
  });

  it('an SSE stream open over the idle limit (problem 429 after retry:): waits at least the retry, stays on SSE', async () => {
    const s = await start({ idleLimit: { limit: 1, period: '1500ms', burst: 1 }, streamMaxAge: '300ms' });
    const log: HttpLog[] = [];
    const problems: { retryMs: number; at: number }[] = [];
    const fetchFn = loggingFetch(log, { onSse: (retryMs, at) => problems.push({ retryMs, at }) });
    const { rec } = client({ url: s.rt, topics: ['room:so'], transports: ['sse'], fetch: fetchFn });
    const limitedAt = () => rec.states.findIndex((st) => st.status === 'rate-limited');
    await rec.until(
      () => problems.length >= 1 && limitedAt() >= 0 && rec.states.slice(limitedAt()).some((st) => st.status === 'connected'),
      'a refused stream, then connected',
      8000,
    );
    const p = problems[0]!;
    assert.ok(p.retryMs > 0);
    const next = log.find((e) => e.path === '/sse' && e.start >= p.at);
    assert.ok(next, 'reopened');
    assert.ok(next.start - p.at >= p.retryMs - SLACK_MS, `reopened ${next.start - p.at} ms after retry: ${p.retryMs}`);
    const st = rec.states[limitedAt()]!;
    assert.deepEqual([st.transport, st.error?.code, st.error?.retryAfterMs], [null, 'rate_limited', p.retryMs]);
    assert.ok(st.retryInMs! >= p.retryMs);
    assert.ok(rec.states.every((x) => x.status !== 'connected' || (x.transport === 'sse' && x.skipped === undefined)));
  });

  it('a negotiate over the per-address limit: rate-limited, then setTopics goes through after Retry-After', async () => {
    const s = await start({ pollTimeout: '2s', negotiateLimit: { limit: 1, period: '1s', burst: 1 } });
    const log: HttpLog[] = [];
    const { c, rec } = client({ url: s.rt, topics: ['room:n1'], transports: ['longpoll'], fetch: loggingFetch(log) });
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
    assert.deepEqual([c.limits.negotiate?.quota, c.limits.negotiate?.windowMs, c.limits.negotiate?.remaining], [1, 1000, 0]);
    await c.setTopics(['room:n2']);
    const negs = log.filter((e) => e.path === '/negotiate');
    const i = negs.findIndex((e) => e.status === 429);
    assert.ok(i >= 1, 'refused once');
    assert.ok(negs[i + 1]!.start - negs[i]!.end! >= negs[i]!.retryAfterMs! - SLACK_MS);
    assert.ok(rec.states.some((st) => st.status === 'rate-limited' && st.error?.code === 'rate_limited'));
    assert.deepEqual(c.topics, ['room:n2']);
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected on the new topics');
  });
});
