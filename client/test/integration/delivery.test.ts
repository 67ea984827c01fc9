import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LifelineClient, LifelineError } from '../../src/index.js';
import { Recorder, TestServer, WebSocket, skip } from './harness.js';

describe('against the Go server: delivery, sends, topics, presence', { skip }, () => {
  let server: TestServer;
  const clients: LifelineClient[] = [];
  const client = (opts: Partial<ConstructorParameters<typeof LifelineClient>[0]> = {}) => {
    const c = new LifelineClient({ url: server.rt, WebSocket, backoff: { minMs: 50, maxMs: 500 }, ...opts });
    clients.push(c);
    return { c, rec: new Recorder(c) };
  };
  const connected = (rec: Recorder) => rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');

  before(async () => {
    server = await TestServer.start({ pollTimeout: '2s' });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.stop();
  });

  it('delivers the events of two topics in the order they were published, once each', async () => {
    const { c, rec } = client({ topics: ['room:one', 'room:two'], meta: { name: 'ada' } });
    await connected(rec);
    // Its own presence joins come first, one per topic.
    await rec.until(() => rec.of('presence').length === 2, 'presence joins');
    assert.deepEqual(
      rec.of('presence').map((e) => [e.topic, (e.data as { action: string }).action, (e.data as { clientId: string }).clientId]),
      [
        ['room:one', 'join', c.clientId],
        ['room:two', 'join', c.clientId],
      ],
    );
    const published: string[] = [];
    for (let i = 0; i < 40; i++) {
      published.push(await server.publish(i % 3 === 0 ? 'room:two' : 'room:one', 'message', { i }));
    }
    const elsewhere = await server.publish('elsewhere', 'message', { nope: true }); // not followed
    await rec.until(() => rec.of().length >= 40, '40 messages');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(rec.of().map((e) => e.id), published);
    assert.deepEqual(rec.of().map((e) => (e.data as { i: number }).i), [...Array(40).keys()]);
    assert.ok(rec.of().every((e, i) => e.topic === (i % 3 === 0 ? 'room:two' : 'room:one') && typeof e.ts === 'number'));
    // The cursor is global to the buffer: a later batch may move it past the unfollowed event.
    assert.ok([published.at(-1), elsewhere].includes(c.cursor), c.cursor);
    assert.equal(rec.resets.length, 0);
  });

  it('reads a topic\'s history, oldest first, with the cursor to follow it from', async () => {
    const published: string[] = [];
    for (let i = 0; i < 5; i++) published.push(await server.publish('room:hist', 'message', { i }));
    const { c, rec } = client({ topics: ['room:other'] });
    await connected(rec);
    const h = await c.history('room:hist', { limit: 3 });
    assert.equal(h.topic, 'room:hist');
    assert.deepEqual(h.events.map((e) => e.id), published.slice(2));
    assert.deepEqual(h.events.map((e) => (e.data as { i: number }).i), [2, 3, 4]);
    assert.equal(h.complete, true);
    assert.equal(typeof h.cursor, 'string');
    const all = await c.history('room:hist');
    assert.deepEqual(all.events.map((e) => e.id), published);
  });

  it('queues sends made while connecting, flushes them in order, acks with the event id', async () => {
    const { c, rec } = client({ topics: ['room:send'], autoStart: false, maxQueue: 3 });
    const sends = [1, 2, 3].map((n) => c.send('room:send', 'message', { n }));
    await assert.rejects(c.send('room:send', 'message', { n: 4 }), (e: unknown) => e instanceof LifelineError && e.code === 'queue_full');
    c.start();
    const acks = await Promise.all(sends);
    await rec.until(() => rec.of().length === 3, '3 own messages');
    assert.deepEqual(rec.of().map((e) => e.id), acks.map((a) => a.id));
    assert.deepEqual(rec.of().map((e) => e.from), [c.clientId, c.clientId, c.clientId]);
    assert.deepEqual(rec.of().map((e) => (e.data as { n: number }).n), [1, 2, 3]);
    for (const a of acks) assert.match(a.mid, /^m_[A-Za-z0-9_-]{22}$/);
  });

  it('rejects a send to a topic it may not publish to with the server’s problem', async () => {
    const { c, rec } = client({ topics: ['room:x'] });
    await connected(rec);
    await assert.rejects(c.send('bad topic!', 'message', {}), (e: unknown) => {
      assert.ok(e instanceof LifelineError);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'bad_topic');
      assert.ok(e.detail.length > 0);
      return true;
    });
  });

  it('setTopics follows new topics from the same cursor, without loss or repeats', async () => {
    const { c, rec } = client({ topics: ['room:st1'] });
    await connected(rec);
    const a = await server.publish('room:st1', 'message', 'a');
    await rec.until(() => rec.of().length === 1, 'a');
    const firstId = c.clientId;
    await c.setTopics(['room:st1', 'room:st2']);
    assert.notEqual(c.clientId, firstId);
    const b = await server.publish('room:st2', 'message', 'b');
    const c2 = await server.publish('room:st1', 'message', 'c');
    await rec.until(() => rec.of().length === 3, 'b and c');
    assert.deepEqual(rec.of().map((e) => e.id), [a, b, c2]);
    await assert.rejects(c.setTopics(['not a topic']), (e: unknown) => e instanceof LifelineError && e.code === 'bad_topic');
    assert.deepEqual(c.topics, ['room:st1', 'room:st2']);
    const d = await server.publish('room:st2', 'message', 'd');
    await rec.until(() => rec.of().length === 4, 'd');
    assert.equal(rec.of()[3]!.id, d);
  });

  it('presence lists the clients of a topic; close() ends the session (others see leave)', async () => {
    const one = client({ topics: ['room:p'], meta: { name: 'ada' } });
    const two = client({ topics: ['room:p'], meta: { name: 'bob' } });
    await connected(one.rec);
    await connected(two.rec);
    const res = await one.c.presence('room:p');
    assert.equal(res.topic, 'room:p');
    const byId = new Map(res.clients.map((x) => [x.clientId, x.meta]));
    assert.deepEqual(byId.get(one.c.clientId!), { name: 'ada' });
    assert.deepEqual(byId.get(two.c.clientId!), { name: 'bob' });
    await assert.rejects(one.c.presence('room:other'), (e: unknown) => e instanceof LifelineError && e.code === 'forbidden_topic');

    const gone = two.c.clientId!;
    await two.c.close();
    await one.rec.until(
      () => one.rec.of('presence').some((e) => (e.data as { action: string; clientId: string }).action === 'leave' && (e.data as { clientId: string }).clientId === gone),
      'the leave of the closed client',
      3000,
    );
  });

  it('starts over with a reset when given a malformed cursor', async () => {
    const { rec } = client({ topics: ['room:bc'], cursor: 'not-a-cursor' });
    await connected(rec);
    assert.equal(rec.resets.length, 1);
    assert.equal(rec.resets[0]!.reason, 'bad_cursor');
    assert.equal(rec.resets[0]!.previousCursor, 'not-a-cursor');
  });
});
