import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IDLE_CUT_MIN_MS, IdleLimit } from '../src/idle.js';

describe('IdleLimit', () => {
  it('learns nothing from one cut, and the limit from a second at about the same time', () => {
    const idle = new IdleLimit();
    assert.equal(idle.cut(10_020), false, 'the first cut is a surprise');
    assert.equal(idle.limitMs, undefined);
    assert.equal(idle.pollTimeoutMs(25_000), undefined);
    assert.equal(idle.cut(9_980), true, 'the second, at about the same time, is the limit');
    assert.equal(idle.limitMs, 9_980);
    assert.equal(idle.pollTimeoutMs(25_000), 7_485);
    assert.equal(idle.heartbeatMs(15_000), 4_990);
    assert.equal(idle.cut(10_100), true, 'a cut at the limit is expected');
    assert.equal(idle.limitMs, 9_980);
  });

  it('ignores quick cuts (a server down answers at once) and cuts at different times', () => {
    const idle = new IdleLimit();
    assert.equal(idle.cut(IDLE_CUT_MIN_MS - 1), false);
    assert.equal(idle.cut(IDLE_CUT_MIN_MS - 1), false);
    assert.equal(idle.limitMs, undefined);
    assert.equal(idle.cut(4_000), false);
    assert.equal(idle.cut(9_000), false, '9 s is not 4 s');
    assert.equal(idle.cut(12_000), false, 'nor 12 s 9 s');
    assert.equal(idle.limitMs, undefined);
    assert.equal(idle.cut(12_400), true, 'within 15 %: the same limit');
    assert.equal(idle.limitMs, 12_000);
  });

  it('never asks for more than the server gives', () => {
    const idle = new IdleLimit();
    idle.cut(60_000);
    idle.cut(60_000);
    assert.equal(idle.limitMs, 60_000);
    assert.equal(idle.pollTimeoutMs(25_000), undefined, 'a 60 s limit does not shorten a 25 s hold');
    assert.equal(idle.heartbeatMs(15_000), undefined);
  });

  it('keeps the lower limit when a later cut comes sooner, and learns a new one when the limit moves', () => {
    const idle = new IdleLimit();
    idle.cut(3_000);
    idle.cut(3_100);
    assert.equal(idle.limitMs, 3_000);
    assert.equal(idle.cut(2_900), true);
    assert.equal(idle.limitMs, 2_900);
    assert.equal(idle.cut(6_000), false, 'the proxy changed: a surprise');
    assert.equal(idle.cut(6_050), true);
    assert.equal(idle.limitMs, 6_000, 'the new limit, once seen twice');
  });

  it('starts from a limit learned before, tells of every limit learned or confirmed, and still relearns a lower one', () => {
    const told: number[] = [];
    const idle = new IdleLimit(10_000, (ms) => told.push(ms));
    assert.equal(idle.limitMs, 10_000);
    assert.equal(idle.pollTimeoutMs(25_000), 7_500, 'adapted from the first poll');
    assert.equal(idle.cut(9_900), true, 'a cut at the known limit is expected');
    assert.equal(idle.cut(4_000), false, 'the proxy now cuts sooner: a surprise');
    assert.equal(idle.cut(4_100), true);
    assert.equal(idle.limitMs, 4_000);
    assert.deepEqual(told, [9_900, 4_000]);
  });
});
