import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Offer } from '../src/api.js';
import type { Clock } from '../src/clock.js';
import { LifelineError, clientError } from '../src/errors.js';
import { FAILURE_MEMORY_MS, FailureBook } from '../src/failures.js';
import {
  AGAIN,
  CLOSED_EARLY_MS,
  betterOffers,
  candidates,
  closeForThrown,
  dropKind,
  meaning,
  probeDelay,
  refusesTopics,
  skippedTransports,
  worseThan,
  type Trouble,
} from '../src/policy.js';

const ws: Offer = { name: 'websocket', url: 'ws://h/rt/ws' };
const sse: Offer = { name: 'sse', url: 'http://h/rt/sse' };
const lp: Offer = { name: 'longpoll', url: 'http://h/rt/poll' };
const names = (l: readonly Offer[]) => l.map((o) => o.name);

/** A clock that moves only when told. */
function manualClock(): Clock & { advance(ms: number): void } {
  let now = 1_000_000;
  return { now: () => now, setTimeout: () => undefined, clearTimeout: () => {}, advance: (ms) => (now += ms) };
}

describe('transport selection', () => {
  it('tries from the home transport down, in the server order when there is none', () => {
    const offers = [ws, sse, lp];
    assert.deepEqual(names(candidates(offers, null)), ['websocket', 'sse', 'longpoll']);
    assert.deepEqual(names(candidates([sse, ws, lp], null)), ['sse', 'websocket', 'longpoll']); // the server deprioritized WebSocket
    assert.deepEqual(names(candidates(offers, 'sse')), ['sse', 'longpoll']);
    assert.deepEqual(names(candidates(offers, 'longpoll')), ['longpoll']);
    assert.deepEqual(names(candidates([ws, sse], 'longpoll')), ['websocket', 'sse']); // home not offered any more: all of them
  });

  it('probes the better offered transports best first, and falls to the next one down', () => {
    assert.deepEqual(names(betterOffers([sse, lp, ws], 'longpoll')), ['websocket', 'sse']);
    assert.deepEqual(names(betterOffers([ws, sse, lp], 'websocket')), []);
    assert.deepEqual(names(betterOffers([lp], 'longpoll')), []);
    assert.deepEqual(betterOffers([ws, sse, lp], undefined), []);
    assert.equal(worseThan([ws, sse, lp], 'websocket'), 'sse');
    assert.equal(worseThan([ws, lp], 'websocket'), 'longpoll');
    assert.equal(worseThan([ws, sse, lp], 'longpoll'), undefined);
  });

  it('shows the better transports not in use with the reason, forgetting failures after FAILURE_MEMORY_MS', () => {
    const clock = manualClock();
    const book = new FailureBook(clock);
    book.record('websocket', 'no_upgrade');
    const reason = (t: 'websocket' | 'sse' | 'longpoll') => book.reason(t);
    assert.deepEqual(skippedTransports(['websocket', 'sse', 'longpoll'], 'longpoll', [sse, lp], reason), [
      { transport: 'websocket', reason: 'no_upgrade' },
      { transport: 'sse', reason: 'deprioritized' },
    ]);
    assert.deepEqual(skippedTransports(['sse', 'longpoll'], 'longpoll', [lp], reason), [{ transport: 'sse', reason: 'not_offered' }]);
    clock.advance(FAILURE_MEMORY_MS + 1);
    assert.deepEqual(skippedTransports(['websocket', 'sse', 'longpoll'], 'sse', [ws, sse, lp], reason), [{ transport: 'websocket', reason: 'deprioritized' }]);
  });
});

describe('probe-back timing', () => {
  it('waits failbackMs ±20 %, drawing randomness only when failback is on', () => {
    let draws = 0;
    const r = (v: number) => () => (draws++, v);
    assert.equal(probeDelay(60_000, r(0)), 48_000);
    assert.equal(probeDelay(60_000, r(0.5)), 60_000);
    assert.equal(probeDelay(60_000, r(0.999999)), 72_000);
    assert.equal(draws, 3);
    assert.equal(probeDelay(0, r(0.5)), undefined);
    assert.equal(draws, 3);
  });

  it('counts a drop of the home transport as early only within CLOSED_EARLY_MS of opening', () => {
    const clock = manualClock();
    const openedAt = clock.now();
    const drop = { kind: 'retry' as const, error: clientError('network', 'reset') };
    clock.advance(CLOSED_EARLY_MS - 1);
    assert.equal(dropKind(drop, 'websocket', openedAt, clock.now()), 'early');
    clock.advance(1);
    assert.equal(dropKind(drop, 'websocket', openedAt, clock.now()), 'late');
    // Ends that say nothing about the transport.
    assert.equal(dropKind(drop, 'longpoll', openedAt, openedAt), 'none');
    assert.equal(dropKind(drop, null, openedAt, openedAt), 'none');
    assert.equal(dropKind({ kind: 'retry', immediate: true }, 'sse', openedAt, openedAt), 'none');
    const limited = { kind: 'retry' as const, error: new LifelineError({ status: 429, code: 'rate_limited', detail: 'slow down' }) };
    assert.equal(dropKind(limited, 'sse', openedAt, openedAt), 'none');
    assert.equal(dropKind({ kind: 'unknown_token' }, 'sse', openedAt, openedAt), 'none');
  });
});

describe('what an end means', () => {
  const calm: Trouble = { failures: 0, renegotiated: false };

  it('goes on at once after an interruption or a recycled stream, and waits after a drop', () => {
    assert.deepEqual(meaning(AGAIN, calm), { action: 'again', trouble: calm });
    assert.deepEqual(meaning({ kind: 'retry', immediate: true }, calm), { action: 'again', trouble: calm });
    assert.deepEqual(meaning({ kind: 'retry' }, calm), { action: 'backoff', trouble: calm });
    assert.deepEqual(meaning({ kind: 'failed', reason: 'open_timeout' }, calm), { action: 'backoff', trouble: calm });
    assert.deepEqual(meaning({ kind: 'fatal' }, calm), { action: 'fatal', trouble: calm });
    assert.deepEqual(meaning({ kind: 'bad_cursor' }, calm), { action: 'restart', trouble: calm });
  });

  it('negotiates again once for a lost session, then backs off until something works', () => {
    const first = meaning({ kind: 'unknown_token' }, calm);
    assert.deepEqual(first, { action: 'renegotiate', trouble: { failures: 0, renegotiated: true } });
    assert.deepEqual(meaning({ kind: 'unknown_token' }, first.trouble), { action: 'backoff', trouble: first.trouble });
  });

  it('reconnects at once after the first supersede, then backs off, counting each', () => {
    const first = meaning({ kind: 'superseded' }, calm);
    assert.deepEqual(first, { action: 'again', trouble: { failures: 1, renegotiated: false } });
    assert.deepEqual(meaning({ kind: 'superseded' }, first.trouble), { action: 'backoff', trouble: { failures: 2, renegotiated: false } });
  });

  it('reads a thrown error as an end, and tells refused topics from other failures', () => {
    const badCursor = new LifelineError({ status: 400, code: 'bad_cursor', detail: 'x' });
    const forbidden = new LifelineError({ status: 403, code: 'forbidden_topic', detail: 'x' });
    const busy = new LifelineError({ status: 503, code: 'shutting_down', detail: 'x', retryAfterMs: 1000 });
    assert.equal(closeForThrown(badCursor).kind, 'bad_cursor');
    assert.equal(closeForThrown(forbidden).kind, 'fatal');
    assert.deepEqual(closeForThrown(busy), { kind: 'retry', error: busy, retryAfterMs: 1000 });
    assert.equal(closeForThrown(new TypeError('fetch failed')).kind, 'retry'); // a network error
    // Only the documented permanent refusals stop the client; a proxy's 4xx (no Lifeline code) is retried.
    const tooBigHeaders = new LifelineError({ status: 400, code: 'http_400', detail: 'Request Header Or Cookie Too Large' });
    assert.deepEqual(closeForThrown(tooBigHeaders), { kind: 'retry', error: tooBigHeaders });
    for (const status of [401, 403, 404, 405, 431]) {
      assert.equal(closeForThrown(new LifelineError({ status, code: `http_${status}`, detail: 'proxy' })).kind, 'retry', `a proxy's ${status}`);
    }
    for (const [status, code] of [[400, 'unsupported_protocol'], [400, 'bad_request'], [400, 'bad_topic'], [413, 'too_large']] as const) {
      assert.equal(closeForThrown(new LifelineError({ status, code, detail: 'x' })).kind, 'fatal', code);
    }
    assert.equal(closeForThrown(new LifelineError({ status: 0, code: 'no_transport', detail: 'x' })).kind, 'fatal');
    assert.equal(refusesTopics(forbidden), true);
    assert.equal(refusesTopics(badCursor), false);
    assert.equal(refusesTopics(busy), false);
    assert.equal(refusesTopics(new LifelineError({ status: 0, code: 'no_transport', detail: 'x' })), false);
  });
});
