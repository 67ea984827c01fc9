import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { authed, type ApiContext, type Session } from '../src/api.js';
import { SessionAuth } from '../src/auth.js';
import { DEFAULT_BACKOFF } from '../src/backoff.js';
import { FREE_LOSSES, LOSS_WINDOW_MS, LostSessionBreaker } from '../src/breaker.js';
import type { Clock } from '../src/clock.js';
import { LifelineError } from '../src/errors.js';
import { FAILURE_MEMORY_MS, FailureBook, type StorageLike } from '../src/failures.js';
import { IDLE_MEMORY_MS, IdleLimit } from '../src/idle.js';
import { TOKEN_HEADER } from '../src/protocol.js';

const TTL = 60_000;

function manualClock(t = 1_000_000): Clock & { advance(ms: number): void } {
  return { now: () => t, setTimeout: () => 0, clearTimeout: () => {}, advance: (ms) => void (t += ms) };
}

const unauthorized = (): LifelineError => new LifelineError({ status: 401, code: 'unknown_token', detail: 'x' });

describe('SessionAuth: the way the token travels', () => {
  it('switches to the cookie and the body after a 401 on a token just issued, once', () => {
    const a = new SessionAuth(false, 0);
    assert.deepEqual(a.headers('t_1'), { [TOKEN_HEADER]: 't_1' });
    assert.deepEqual(a.query('c_1'), {});
    assert.equal(a.unauthorized(false, 1_000, TTL), true);
    assert.equal(a.headerless, true);
    assert.deepEqual(a.headers('t_1'), {});
    assert.deepEqual(a.query('c_1'), { client: 'c_1' });
    assert.deepEqual(a.body({ mid: 'm' }, 't_1'), { mid: 'm', token: 't_1' });
    // A request still in flight the old way: retry it the new way.
    assert.equal(a.unauthorized(false, 1_000, TTL), true);
    // The new way fails too: the session is gone.
    assert.equal(a.unauthorized(true, 1_000, TTL), false);
    assert.equal(a.headerless, true);
  });

  it('does not switch once the session has worked, or when it may have expired', () => {
    const proven = new SessionAuth(false, 0);
    assert.equal(proven.succeeded(), false, 'no switch: nothing learned');
    assert.equal(proven.unauthorized(false, 1_000, TTL), false);
    const stale = new SessionAuth(false, 0);
    assert.equal(stale.unauthorized(false, TTL, TTL), false);
    const kept = new SessionAuth(false, 0);
    kept.seen(TTL); // a transport of it was heard from: it is alive
    assert.equal(kept.unauthorized(false, TTL + 1_000, TTL), true);
  });

  it('switches back to the header when the cookie way was remembered but fails', () => {
    const a = new SessionAuth(true, 0);
    assert.equal(a.unauthorized(true, 10, TTL), true);
    assert.equal(a.headerless, false);
    assert.equal(a.succeeded(), true, 'the first success after a switch is worth remembering');
    assert.equal(a.succeeded(), false, 'once');
  });
});

describe('authed(): one request, switched at most once', () => {
  const session = (headerless = false): Session => ({
    clientId: 'c_1', token: 't_1', offers: [], sendUrl: '/rt/send', pollTimeoutMs: 25_000, heartbeatMs: 15_000,
    sessionTtlMs: TTL, maxMessageBytes: 65_536, cursor: 'e.1', reset: false, topics: [], auth: new SessionAuth(headerless, 0),
  });
  const ctx = (learned: boolean[]): ApiContext => ({
    fetch: () => Promise.reject(new Error('unused')), clock: manualClock(10), base: '/rt', headers: async () => ({}), timeoutMs: 1_000,
    learnedAuth: (h) => learned.push(h),
  });

  it('retries a 401 headerless at once, and remembers the way that worked', async () => {
    const learned: boolean[] = [];
    const s = session();
    const ways: boolean[] = [];
    const out = await authed(ctx(learned), s, async () => {
      ways.push(s.auth.headerless);
      if (!s.auth.headerless) throw unauthorized();
      return 'ok';
    });
    assert.equal(out, 'ok');
    assert.deepEqual(ways, [false, true]);
    assert.deepEqual(learned, [true]);
  });

  it('rejects when both ways are refused: the session is gone', async () => {
    const learned: boolean[] = [];
    let calls = 0;
    await assert.rejects(
      authed(ctx(learned), session(), async () => {
        calls++;
        throw unauthorized();
      }),
      (e: unknown) => e instanceof LifelineError && e.status === 401,
    );
    assert.equal(calls, 2);
    assert.deepEqual(learned, []);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    const e = new LifelineError({ status: 403, code: 'forbidden_topic', detail: 'x' });
    await assert.rejects(authed(ctx([]), session(), async () => { calls++; throw e; }), e);
    assert.equal(calls, 1);
  });
});

describe('LostSessionBreaker', () => {
  it('lets FREE_LOSSES lost sessions a minute renegotiate at once, then makes each wait longer', () => {
    const b = new LostSessionBreaker();
    const half = () => 0.5;
    for (let i = 0; i < FREE_LOSSES; i++) {
      b.note(i, unauthorized());
      assert.equal(b.take(DEFAULT_BACKOFF, half), 0);
    }
    b.note(10, unauthorized());
    const first = b.take(DEFAULT_BACKOFF, half);
    assert.ok(first >= 1_000, `waits at least 1 s, got ${first}`);
    assert.equal(b.take(DEFAULT_BACKOFF, half), 0, 'once per loss');
    b.note(20, unauthorized());
    assert.ok(b.take(DEFAULT_BACKOFF, half) > first, 'longer each time');
    b.note(20 + LOSS_WINDOW_MS, unauthorized()); // the others have left the window
    assert.equal(b.take(DEFAULT_BACKOFF, half), 0);
  });
});

describe('FailureBook: the record across page loads', () => {
  function memoryStorage(): StorageLike & { data: Map<string, string> } {
    const data = new Map<string, string>();
    return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
  }

  it('keeps failures, working transports, the header-free way and a device id for the next page', () => {
    const clock = manualClock();
    const storage = memoryStorage();
    const first = new FailureBook(clock, storage, 'http://x/rt');
    assert.match(first.device, /^[A-Za-z0-9_-]{8,64}$/);
    first.record('websocket', 'no_upgrade');
    first.worked('sse');
    first.worked('longpoll'); // always works: not worth a record
    first.headerless = true;
    const next = new FailureBook(clock, storage, 'http://x/rt');
    assert.equal(next.device, first.device);
    assert.deepEqual(next.list(), [{ transport: 'websocket', reason: 'no_upgrade' }]);
    assert.deepEqual(next.workedList(), ['sse']);
    assert.equal(next.headerless, true);
    assert.deepEqual(new FailureBook(clock, storage, 'http://y/rt').list(), [], 'another server has its own record');
    next.worked('websocket');
    assert.deepEqual(first.list(), [], 'a tab sees what another wrote');
    assert.deepEqual(first.workedList(), ['websocket', 'sse']);
    clock.advance(FAILURE_MEMORY_MS + 1);
    const later = new FailureBook(clock, storage, 'http://x/rt');
    assert.deepEqual([later.list(), later.workedList(), later.headerless], [[], [], false], 'all expired');
  });

  it('keeps the path\'s idle limit for IDLE_MEMORY_MS after it was learned or confirmed; the next page starts below it', () => {
    const clock = manualClock();
    const storage = memoryStorage();
    const first = new FailureBook(clock, storage, 'http://x/rt');
    assert.equal(first.idleLimitMs, undefined);
    const learning = new IdleLimit(first.idleLimitMs, (ms) => void (first.idleLimitMs = ms));
    learning.cut(3_050);
    assert.equal(new FailureBook(clock, storage, 'http://x/rt').idleLimitMs, undefined, 'one cut teaches nothing, stores nothing');
    learning.cut(3_010);
    const next = new FailureBook(clock, storage, 'http://x/rt');
    assert.equal(next.idleLimitMs, 3_010, 'stored once learned');
    const adapted = new IdleLimit(next.idleLimitMs);
    assert.equal(adapted.pollTimeoutMs(25_000), 2_257, 'the next page load polls below it from the start');
    assert.equal(adapted.heartbeatMs(15_000), 1_505);
    assert.equal(new FailureBook(clock, storage, 'http://y/rt').idleLimitMs, undefined, 'another server, another path');
    next.record('websocket', 'no_upgrade');
    assert.equal(new FailureBook(clock, storage, 'http://x/rt').idleLimitMs, 3_010, 'kept when other verdicts are written');
    clock.advance(FAILURE_MEMORY_MS + 1);
    assert.equal(new FailureBook(clock, storage, 'http://x/rt').idleLimitMs, 3_010, 'outlives the transport verdicts');
    clock.advance(IDLE_MEMORY_MS - FAILURE_MEMORY_MS - 2);
    learning.cut(2_900); // a cut at the limit confirms it (and lowers it)
    clock.advance(IDLE_MEMORY_MS - 1);
    assert.equal(new FailureBook(clock, storage, 'http://x/rt').idleLimitMs, 2_900, 'confirmed: trusted IDLE_MEMORY_MS from then');
    clock.advance(2);
    const expired = new FailureBook(clock, storage, 'http://x/rt');
    assert.equal(expired.idleLimitMs, undefined, 'expired: the next page probes the full hold again');
    assert.equal(new IdleLimit(expired.idleLimitMs).pollTimeoutMs(25_000), undefined);
  });

  it('believes only a plausible stored idle limit', () => {
    const clock = manualClock();
    const storage = memoryStorage();
    for (const idle of [{ ms: 'x', at: clock.now() }, { ms: 500, at: clock.now() }, { ms: 3_600_000, at: clock.now() }, { ms: 3_000, at: clock.now() + 5_000 }, { ms: 3_000 }]) {
      storage.data.set('lifeline:transports:s', JSON.stringify({ failed: {}, worked: {}, idle }));
      assert.equal(new FailureBook(clock, storage, 's').idleLimitMs, undefined, JSON.stringify(idle));
    }
    assert.equal(new IdleLimit(500).limitMs, undefined, 'nor an IdleLimit a quick one');
  });

  it('survives garbage and failing storage', () => {
    const clock = manualClock();
    const storage = memoryStorage();
    storage.data.set('lifeline:transports:s', '{"failed":{"websocket":{"reason":"bogus","at":1}},"worked":"x"}');
    storage.data.set('lifeline:device', 'no spaces allowed');
    const b = new FailureBook(clock, storage, 's');
    assert.deepEqual(b.list(), []);
    assert.match(b.device, /^d_/);
    const broken: StorageLike = { getItem: () => { throw new Error('SecurityError'); }, setItem: () => { throw new Error('QuotaExceeded'); } };
    const m = new FailureBook(clock, broken, 's');
    m.record('sse', 'no_first_byte');
    assert.deepEqual(m.list(), [{ transport: 'sse', reason: 'no_first_byte' }], 'kept in memory');
  });
});
