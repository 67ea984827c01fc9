import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MID_PATTERN, base64url, newMid } from '../src/mid.js';

describe('mid', () => {
  it('is m_ plus 128 bits in base64url, within the protocol charset', () => {
    for (let i = 0; i < 1000; i++) {
      const mid = newMid();
      assert.match(mid, /^m_[A-Za-z0-9_-]{22}$/);
      assert.match(mid, MID_PATTERN);
      assert.ok(mid.length >= 8 && mid.length <= 64);
    }
  });

  it('does not repeat', () => {
    const seen = new Set(Array.from({ length: 10_000 }, newMid));
    assert.equal(seen.size, 10_000);
  });

  it('uses crypto.getRandomValues', (t) => {
    const spy = t.mock.method(globalThis.crypto, 'getRandomValues');
    newMid();
    assert.equal(spy.mock.callCount(), 1);
    const arg = spy.mock.calls[0]!.arguments[0] as Uint8Array;
    assert.equal(arg.byteLength, 16);
  });

  it('encodes base64url like Node does', () => {
    for (let len = 0; len < 40; len++) {
      const bytes = new Uint8Array(len).map((_, i) => (i * 97 + len * 31) & 255);
      assert.equal(base64url(bytes), Buffer.from(bytes).toString('base64url'));
    }
  });
});
