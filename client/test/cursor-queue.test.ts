import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CursorTracker } from '../src/cursor.js';
import { LifelineError } from '../src/errors.js';
import { SerialQueue } from '../src/queue.js';

describe('CursorTracker', () => {
  it('drops ids already processed, and the current cursor', () => {
    const t = new CursorTracker('e.5');
    assert.equal(t.isDuplicate('e.5'), true);
    assert.equal(t.isDuplicate('e.6'), false);
    t.advance('e.6');
    t.advance('e.7');
    assert.equal(t.cursor, 'e.7');
    assert.equal(t.isDuplicate('e.6'), true);
    t.adopt('e.9');
    assert.equal(t.isDuplicate('e.9'), true);
    assert.equal(t.isDuplicate('e.7'), true);
    t.clear();
    assert.equal(t.cursor, undefined);
  });

  it('remembers a bounded number of ids', () => {
    const t = new CursorTracker(undefined, 3);
    for (const id of ['a', 'b', 'c', 'd']) t.advance(id);
    assert.equal(t.isDuplicate('a'), false, 'evicted');
    assert.deepEqual(['b', 'c', 'd'].map((id) => t.isDuplicate(id)), [true, true, true]);
  });
});

describe('SerialQueue', () => {
  it('runs jobs one at a time in order', async () => {
    const q = new SerialQueue<number>(10);
    const log: string[] = [];
    let active = 0;
    const job = (n: number) => async () => {
      active++;
      assert.equal(active, 1);
      log.push(`start ${n}`);
      await new Promise((r) => setTimeout(r, 5 - n));
      log.push(`end ${n}`);
      active--;
      return n;
    };
    const results = await Promise.all([q.push(job(1)), q.push(job(2)), q.push(job(3))]);
    assert.deepEqual(results, [1, 2, 3]);
    assert.deepEqual(log, ['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
  });

  it('rejects at once with queue_full beyond the bound, counting the running job', async () => {
    const q = new SerialQueue<number>(2);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = q.push(async () => {
      await gate;
      return 1;
    });
    const b = q.push(async () => 2);
    await assert.rejects(q.push(async () => 3), (e: unknown) => e instanceof LifelineError && e.code === 'queue_full');
    release();
    assert.deepEqual(await Promise.all([a, b]), [1, 2]);
    assert.equal(await q.push(async () => 4), 4, 'room again once drained');
  });

  it('rejectAll settles waiting and running jobs, and the queue keeps working', async () => {
    const q = new SerialQueue<number>(5);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const running = q.push(async () => {
      await gate;
      return 1;
    });
    const waiting = q.push(async () => 2);
    const err = new LifelineError({ status: 0, code: 'closed', detail: 'closed' });
    q.rejectAll(err);
    await assert.rejects(running, err);
    await assert.rejects(waiting, err);
    assert.equal(q.size, 0);
    const after = q.push(async () => 3);
    release();
    assert.equal(await after, 3);
  });

  it('a job given up before its turn leaves the queue at once; a running one is left to stop itself', async () => {
    const q = new SerialQueue<number>(5);
    let release!: () => void;
    const first = q.push(() => new Promise<number>((r) => (release = () => r(1))));
    const ctl = new AbortController();
    let ran = false;
    const second = q.push(
      async () => {
        ran = true;
        return 2;
      },
      ctl.signal,
      () => new Error('gave up'),
    );
    const third = q.push(async () => 3);
    ctl.abort();
    await assert.rejects(second, /gave up/);
    assert.equal(q.size, 2, 'the running job and the third');
    release();
    assert.equal(await first, 1);
    assert.equal(await third, 3);
    assert.equal(ran, false);
    assert.equal(q.size, 0);

    // Once running, giving up does not settle it: the job itself must stop.
    const late = new AbortController();
    let finish!: () => void;
    const running = q.push(() => new Promise<number>((r) => (finish = () => r(4))), late.signal, () => new Error('gave up'));
    await new Promise((r) => setTimeout(r, 0));
    late.abort();
    finish();
    assert.equal(await running, 4);
  });

  it('needs a positive bound', () => {
    assert.throws(() => new SerialQueue(0), RangeError);
  });
});
