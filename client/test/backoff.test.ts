import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_BACKOFF,
  MAX_RETRY_AFTER_MS,
  backoffCeiling,
  backoffDelay,
  backoffOptions,
  parseRetryAfter,
} from '../src/backoff.js';

/** A deterministic PRNG (mulberry32), so failures reproduce. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('backoff', () => {
  it('defaults to 0.5 s → 20 s', () => {
    assert.deepEqual(backoffOptions(), { minMs: 500, maxMs: 20_000 });
    assert.deepEqual({ ...DEFAULT_BACKOFF }, { minMs: 500, maxMs: 20_000 });
    assert.deepEqual(backoffOptions({ maxMs: 1000 }), { minMs: 500, maxMs: 1000 });
  });

  it('rejects nonsensical bounds', () => {
    assert.throws(() => backoffOptions({ minMs: 100, maxMs: 50 }), RangeError);
    assert.throws(() => backoffOptions({ minMs: -1 }), RangeError);
    assert.throws(() => backoffOptions({ minMs: Number.NaN }), RangeError);
  });

  it('doubles the ceiling per attempt and caps it', () => {
    const o = DEFAULT_BACKOFF;
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 100, 10_000].map((n) => backoffCeiling(n, o)),
      [500, 1000, 2000, 4000, 8000, 16000, 20000, 20000, 20000, 20000],
    );
    assert.equal(backoffCeiling(5000, { minMs: 0, maxMs: 10 }), 0); // no NaN from 0 × Infinity
  });

  it('caps before randomising: at the cap the spread is the whole [0, maxMs]', () => {
    const o = { minMs: 500, maxMs: 20_000 };
    // random() near 1 at a huge attempt gives nearly maxMs, not exactly maxMs for everyone.
    assert.equal(backoffDelay(50, o, () => 0.999999), 19_999);
    assert.equal(backoffDelay(50, o, () => 0), 0);
    assert.equal(backoffDelay(50, o, () => 0.5), 10_000);
    // Jitter-then-cap would have given maxMs for any random() ≥ 0.5 / 2^(n-6).
    const r = seeded(7);
    const at50 = Array.from({ length: 2000 }, () => backoffDelay(50, o, r));
    assert.ok(new Set(at50).size > 1500, 'delays at the cap stay spread out');
    assert.ok(at50.filter((d) => d === o.maxMs).length === 0, 'no delay pinned at the cap');
  });

  it('keeps many samples within [0, min(maxMs, minMs·2^n)]', () => {
    const r = seeded(42);
    for (const o of [DEFAULT_BACKOFF, { minMs: 1, maxMs: 1 }, { minMs: 100, maxMs: 150 }, { minMs: 0, maxMs: 0 }]) {
      for (let n = 0; n < 40; n++) {
        const ceiling = Math.min(o.maxMs, o.minMs * 2 ** n);
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = 0; i < 500; i++) {
          const d = backoffDelay(n, o, r);
          assert.ok(Number.isInteger(d), `integer ms, got ${d}`);
          assert.ok(d >= 0 && d <= ceiling, `attempt ${n}: ${d} outside [0, ${ceiling}]`);
          lo = Math.min(lo, d);
          hi = Math.max(hi, d);
        }
        if (ceiling >= 100) {
          // Full jitter: the samples cover the range, not a band near the top.
          assert.ok(lo < ceiling * 0.05 && hi > ceiling * 0.95, `attempt ${n}: [${lo}, ${hi}] of ${ceiling}`);
        }
      }
    }
  });

  it('treats Retry-After as a floor and adds the jitter on top', () => {
    const o = DEFAULT_BACKOFF;
    const r = seeded(3);
    for (let n = 0; n < 10; n++) {
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, o, r, 1000);
        assert.ok(d >= 1000 && d <= 1000 + backoffCeiling(n, o), `attempt ${n}: ${d}`);
      }
    }
    assert.equal(backoffDelay(0, o, () => 0, 3000), 3000);
    assert.equal(backoffDelay(0, o, () => 0.5, 3000), 3250);
    // A floor larger than maxMs is still honoured, up to MAX_RETRY_AFTER_MS.
    assert.equal(backoffDelay(0, { minMs: 10, maxMs: 100 }, () => 0, 120_000), 120_000);
    assert.equal(backoffDelay(0, o, () => 0, 10 * MAX_RETRY_AFTER_MS), MAX_RETRY_AFTER_MS);
  });

  it('clamps a misbehaving random()', () => {
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => -3), 0);
    assert.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 7), 500);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('parses delay-seconds', () => {
    assert.equal(parseRetryAfter('1', now), 1000);
    assert.equal(parseRetryAfter(' 120 ', now), 120_000);
    assert.equal(parseRetryAfter('0', now), 0);
  });
  it('parses an HTTP-date', () => {
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0, 'a past date means now');
  });
  it('ignores absent or garbage values and caps huge ones', () => {
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('99999999', now), MAX_RETRY_AFTER_MS);
  });
});
