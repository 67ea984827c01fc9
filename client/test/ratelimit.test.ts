// The RateLimit / RateLimit-Policy field parser: the server's own output,
// the draft's examples, lenient and malformed input, and random garbage.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exhaustedForMs, parseLimitField, parseRateLimit } from '../src/ratelimit.js';

const NOW = 1_000;

/** The field as {name: {param: value}}, for compact expectations. */
const field = (v: string | null | undefined) => Object.fromEntries([...parseLimitField(v)].map(([k, p]) => [k, Object.fromEntries(p)]));

describe('parseLimitField', () => {
  const table: [string, string | null | undefined, Record<string, Record<string, number>>][] = [
    // What the Go server sends (ratelimit/headers.go).
    ['server RateLimit', '"sends";r=0;t=1', { sends: { r: 0, t: 1 } }],
    ['server RateLimit-Policy', '"sends";q=20;w=7', { sends: { q: 20, w: 7 } }],
    ['a list', '"sends";r=3;t=1, "idle";r=0;t=42', { sends: { r: 3, t: 1 }, idle: { r: 0, t: 42 } }],
    ['a list joined by fetch from two lines', '"a";r=1;t=2,"b";r=2;t=3', { a: { r: 1, t: 2 }, b: { r: 2, t: 3 } }],
    ['a token name (older drafts)', 'default;r=50;t=30', { default: { r: 50, t: 30 } }],
    ['escapes in the name', '"we\\"ird\\\\";r=1', { 'we"ird\\': { r: 1 } }],
    ['a comma and semicolon inside the name', '"a,b;c";r=1, x;r=2', { 'a,b;c': { r: 1 }, x: { r: 2 } }],
    ['other parameters are ignored', '"p";r=1;pk=:cHBwe==:;t=2;x="s;t=9";flag', { p: { r: 1, t: 2 } }],
    ['lenient spaces', '  "p" ; r=1;  t=2 ,\t"q";r=3  ', { p: { r: 1, t: 2 }, q: { r: 3 } }],
    ['a later duplicate parameter wins', '"p";r=1;r=5', { p: { r: 5 } }],
    ['a later duplicate name wins', '"p";r=1, "p";r=2', { p: { r: 2 } }],
    ['no parameters', '"p"', { p: {} }],
    ['huge integers are clamped', '"p";t=999999999999999', { p: { t: 999_999_999_999_999 } }],
    // Malformed: skipped member by member; what parses is kept.
    ['absent', null, {}],
    ['undefined', undefined, {}],
    ['empty', '', {}],
    ['only commas', ', ,,', {}],
    ['an unterminated name', '"sends;r=0;t=1', {}],
    ['an unterminated name next to a good member', '"ok";r=1, "bad;r=0', { ok: { r: 1 } }],
    ['a number as the name', '5;r=1, "ok";r=2', { ok: { r: 2 } }],
    ['an inner list', '("a" "b");r=1, "ok";t=3', { ok: { t: 3 } }],
    ['junk after the name', '"p" junk;r=1, "ok";r=0', { ok: { r: 0 } }],
    ['a negative value', '"p";r=-1;t=2', { p: { t: 2 } }],
    ['a decimal value', '"p";r=1.5;t=2', { p: { t: 2 } }],
    ['a 16-digit integer', '"p";r=1234567890123456;t=2', { p: { t: 2 } }],
    ['a string value', '"p";r="1";t=2', { p: { t: 2 } }],
    ['a boolean value', '"p";r=?1;t=2', { p: { t: 2 } }],
    ['an empty value', '"p";r=;t=2', { p: { t: 2 } }],
    ['an upper-case key', '"p";R=1;t=2', { p: { t: 2 } }],
    ['an unterminated string parameter is ignored alone', '"p";r=1;x="oops;t=2', { p: { r: 1, t: 2 } }],
    ['a non-ASCII name', '"päss";r=1, "ok";r=1', { ok: { r: 1 } }],
    ['a bad escape', '"a\\n";r=1, "ok";r=1', { ok: { r: 1 } }],
  ];
  for (const [what, input, want] of table) {
    it(what, () => assert.deepEqual(field(input), want, JSON.stringify(input)));
  }

  it('never throws, and yields only non-negative integers, on random input', () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const alphabet = ['"', '\\', ';', '=', ',', ' ', '\t', '(', ')', 'r', 't', 'q', 'w', '0', '1', '9', '-', '.', '?', ':', 'a', 'é', '\u0000', 'sends'];
    for (let n = 0; n < 5000; n++) {
      let s = '';
      const len = Math.floor(rnd() * 40);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rnd() * alphabet.length)];
      const out = parseLimitField(s);
      for (const params of out.values()) {
        for (const v of params.values()) assert.ok(Number.isInteger(v) && v >= 0, `${JSON.stringify(s)} → ${v}`);
      }
      parseRateLimit(s, s, NOW); // nor does the combination
    }
  });

  it('round-trips random well-formed fields', () => {
    let seed = 7;
    const rnd = (n: number) => Math.floor(((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * n);
    for (let n = 0; n < 500; n++) {
      const want: Record<string, { r: number; t: number }> = {};
      const parts: string[] = [];
      for (let i = 0, k = 1 + rnd(4); i < k; i++) {
        const name = `p${i}${'_-.*'[rnd(4)]}`;
        want[name] = { r: rnd(1000), t: rnd(100_000) };
        parts.push(`"${name}";r=${want[name].r};t=${want[name].t}`);
      }
      assert.deepEqual(field(parts.join(rnd(2) ? ', ' : ',')), want);
    }
  });

  it('ignores a field too long to be honest', () => {
    assert.deepEqual(field(`"p";r=1,${' '.repeat(5000)}`), {});
  });
});

describe('parseRateLimit', () => {
  it('joins RateLimit and RateLimit-Policy by name, in ms', () => {
    assert.deepEqual(parseRateLimit('"sends";r=0;t=1', '"sends";q=20;w=7', NOW), [
      { policy: 'sends', at: NOW, remaining: 0, resetInMs: 1000, quota: 20, windowMs: 7000 },
    ]);
  });
  it('keeps a policy described by one field only, leaves out one with no known parameter', () => {
    assert.deepEqual(parseRateLimit('"a";r=2, "c";pk=:x:', '"b";q=5;w=60', NOW), [
      { policy: 'a', at: NOW, remaining: 2 },
      { policy: 'b', at: NOW, quota: 5, windowMs: 60_000 },
    ]);
  });
  it('yields nothing for absent or garbage fields', () => {
    assert.deepEqual(parseRateLimit(null, null, NOW), []);
    assert.deepEqual(parseRateLimit('garbage;;;"', '((', NOW), []);
  });
  it('exhaustedForMs: the longest t of a spent policy', () => {
    assert.equal(exhaustedForMs(parseRateLimit('"a";r=0;t=2, "b";r=0;t=5, "c";r=1;t=9', null, NOW)), 5000);
    assert.equal(exhaustedForMs(parseRateLimit('"a";r=1;t=2', null, NOW)), 0);
    assert.equal(exhaustedForMs(parseRateLimit('"a";r=0', null, NOW)), 0, 'no t: nothing to wait for');
    assert.equal(exhaustedForMs([]), 0);
  });
});
