import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Envelope, LifelineClient, TransportName } from '../../src/index.js';
import { Recorder, TestServer, delay, newClient, skip } from './harness.js';

/**
 * setTopics while events are published to every topic, on each transport:
 * a topic still followed gets every event exactly once, in order; the
 * dropped topic's events stop once the switch resolved; the new topic's
 * history, read after the switch, followed by its live events, is every
 * event of it once, with none missing after the history's end.
 */
describe('against the Go server: switching topics under load, on every transport', { skip }, () => {
  let server: TestServer;
  const clients: LifelineClient[] = [];
  before(async () => {
    server = await TestServer.start({ pollTimeout: '2s', noLimits: true });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.stop();
  });

  for (const transport of ['websocket', 'sse', 'longpoll'] as const satisfies readonly TransportName[]) {
    it(`${transport}: kept topics exactly once, the dropped one stops, the new one starts after its history`, async () => {
      const [keep, old, next] = [`sw:${transport}:keep`, `sw:${transport}:old`, `sw:${transport}:new`];
      const c = newClient({ url: server.rt, topics: [keep, old], transports: [transport] });
      clients.push(c);
      const rec = new Recorder(c);
      await rec.until(() => rec.states.at(-1)?.status === 'connected' && rec.states.at(-1)?.transport === transport, `connected over ${transport}`);

      const published: Record<string, string[]> = { [keep]: [], [old]: [], [next]: [] };
      let publishing = true;
      const publisher = (async () => {
        for (let i = 0; publishing; i++) {
          const topic = [keep, old, next][i % 3]!;
          published[topic]!.push(await server.publish(topic, 'message', { i }));
        }
      })();
      const publishedAtLeast = (t: string, n: number) => new Promise<void>((resolve) => {
        const check = (): void => void (published[t]!.length >= n ? resolve() : setTimeout(check, 5));
        check();
      });
      await publishedAtLeast(next, 5); // the new topic has events before the switch...
      await c.setTopics([keep, next]);
      const oldAtSwitch = rec.of().filter((e) => e.topic === old).length;
      const history = await c.history(next, { limit: 200 });
      await publishedAtLeast(next, published[next]!.length + 5); // ...and after its history
      publishing = false;
      await publisher;
      const byTopic = (t: string): Envelope[] => rec.of().filter((e) => e.topic === t);
      await rec.until(() => byTopic(keep).length >= published[keep]!.length && byTopic(next).at(-1)?.id === published[next]!.at(-1), 'every event of the followed topics');
      await delay(100);

      // Kept: every event, once, in order, across the switch.
      assert.deepEqual(byTopic(keep).map((e) => e.id), published[keep]);
      // Dropped: what came before the switch, once and in order; nothing after it resolved.
      const oldIds = byTopic(old).map((e) => e.id);
      assert.equal(oldIds.length, oldAtSwitch, 'no event of the dropped topic after the switch');
      assert.deepEqual(oldIds, published[old]!.slice(0, oldIds.length));
      // New: the history is the topic's events up to its cursor, oldest first...
      const all = published[next]!;
      const hist = history.events.filter((e) => e.type === 'message').map((e) => e.id);
      assert.equal(history.complete, true);
      assert.ok(hist.length > 0, 'events were published to the new topic before its history was read');
      assert.deepEqual(hist, all.slice(0, hist.length));
      // ...and the live events go on from there: each once, in order, none missing after the history.
      const live = byTopic(next).map((e) => e.id);
      assert.equal(new Set(live).size, live.length, 'no live event twice');
      const start = all.indexOf(live[0]!);
      assert.ok(start >= 0 && start <= hist.length, `live events start at ${start}, within the history (${hist.length}) or right after it`);
      assert.deepEqual(live, all.slice(start), 'from where they start, every event of the new topic once');
      assert.equal(rec.resets.length, 0);
    });
  }
});
