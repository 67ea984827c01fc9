import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Emitter } from '../src/emitter.js';

interface Events {
  a: number;
  b: string;
}

describe('Emitter', () => {
  it('calls listeners in order with the value, per name', () => {
    const e = new Emitter<Events>();
    const got: string[] = [];
    e.on('a', (v) => got.push(`1:${v}`));
    e.on('a', (v) => got.push(`2:${v}`));
    e.on('b', (v) => got.push(`b:${v}`));
    e.emit('a', 7);
    e.emit('b', 'x');
    assert.deepEqual(got, ['1:7', '2:7', 'b:x']);
    assert.equal(e.listenerCount('a'), 2);
  });

  it('unsubscribes, idempotently, one subscription at a time', () => {
    const e = new Emitter<Events>();
    let n = 0;
    const fn = (): void => {
      n++;
    };
    const off1 = e.on('a', fn);
    const off2 = e.on('a', fn); // the same function twice: two subscriptions
    e.emit('a', 0);
    assert.equal(n, 2);
    off1();
    off1();
    e.emit('a', 0);
    assert.equal(n, 3);
    off2();
    e.emit('a', 0);
    assert.equal(n, 3);
    assert.equal(e.listenerCount('a'), 0);
  });

  it('emits to a snapshot: changes during an emit apply from the next one', () => {
    const e = new Emitter<Events>();
    const got: string[] = [];
    let offB: () => void = () => {};
    e.on('a', () => {
      got.push('A');
      offB();
      e.on('a', () => got.push('C'));
    });
    offB = e.on('a', () => got.push('B'));
    e.emit('a', 1);
    assert.deepEqual(got, ['A', 'B']);
    got.length = 0;
    e.emit('a', 2);
    assert.deepEqual(got, ['A', 'C']);
  });

  it('keeps calling the others when a listener throws, and reports the error asynchronously', async () => {
    const e = new Emitter<Events>();
    const got: number[] = [];
    const boom = new Error('boom');
    e.on('a', () => {
      throw boom;
    });
    e.on('a', (v) => got.push(v));
    const reported = new Promise<unknown>((resolve) => {
      const g = globalThis as { reportError?: (err: unknown) => void };
      const saved = g.reportError;
      g.reportError = (err) => {
        g.reportError = saved;
        resolve(err);
      };
    });
    e.emit('a', 5);
    assert.deepEqual(got, [5], 'the second listener ran');
    assert.equal(await reported, boom);
  });

  it('emitting with no listeners is a no-op; clear removes all', () => {
    const e = new Emitter<Events>();
    e.emit('a', 1);
    e.on('a', () => assert.fail('cleared'));
    e.clear();
    e.emit('a', 1);
  });
});
