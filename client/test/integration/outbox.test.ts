import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { LifelineClient, Outbox, type Outgoing, type TransportName } from '../../src/index.js';
import { Recorder, TestServer, WebSocket, delay, skip } from './harness.js';

/** Waits until pred holds, checking after each outbox change and every 20 ms. */
async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

describe('against the Go server: optimistic sends (Outbox)', { skip }, () => {
  const servers: TestServer[] = [];
  const clients: LifelineClient[] = [];
  const start = async (opts: Parameters<typeof TestServer.start>[0] = {}) => {
    const s = await TestServer.start({ pollTimeout: '2s', ...opts });
    servers.push(s);
    return s;
  };
  const client = (url: string, transports?: TransportName[]) => {
    const c = new LifelineClient({ url, topics: ['room:o'], WebSocket, transports, backoff: { minMs: 20, maxMs: 200 } });
    clients.push(c);
    return { c, rec: new Recorder(c) };
  };
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.stop()));
  });

  for (const transport of ['websocket', 'sse', 'longpoll'] as const) {
    it(`${transport}: pending, then replaced by its event (matched by mid), never twice`, async () => {
      const server = await start();
      const { c, rec } = client(server.rt, [transport]);
      const outbox = new Outbox(c);
      const seen: Outgoing[][] = [];
      outbox.subscribe(() => seen.push([...outbox.items]));
      await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
      const o = outbox.send('room:o', 'message', { text: 'hi' });
      assert.equal(o.status, 'pending');
      assert.deepEqual(outbox.items, [o]);
      await rec.until(() => rec.of().length === 1, 'the event');
      await until(() => outbox.items.length === 0, 'the outbox to empty');
      assert.equal(rec.of()[0]!.mid, o.mid);
      assert.equal(rec.of()[0]!.from, c.clientId);
      await delay(100);
      assert.equal(rec.of().length, 1);
      // Every snapshot held the message at most once, as pending or sent.
      for (const items of seen) assert.ok(items.length <= 1 && items.every((i) => i.mid === o.mid && i.status !== 'failed'), JSON.stringify(items));
      outbox.close();
    });
  }

  it('a send refused by the rate limit fails after timeoutMs, and retried under its mid it is sent once', async () => {
    const server = await start({ sendLimit: { limit: 1, period: '1500ms', burst: 1 } });
    const { c, rec } = client(server.rt, ['longpoll']);
    const outbox = new Outbox(c, { timeoutMs: 300 });
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
    const a = outbox.send('room:o', 'message', { text: 'a' });
    const b = outbox.send('room:o', 'message', { text: 'b' });
    await until(() => outbox.items.length === 1 && outbox.items[0]!.status === 'failed', 'b to fail');
    const failed = outbox.items[0]!;
    assert.equal(failed.mid, b.mid);
    assert.equal(failed.error?.code, 'rate_limited');
    assert.equal(outbox.retry('nope'), false);
    await delay(1600); // the bucket refills
    assert.equal(outbox.retry(b.mid), true);
    assert.equal(outbox.items[0]!.status, 'pending');
    await until(() => outbox.items.length === 0, 'b to be delivered');
    assert.deepEqual(rec.of().map((e) => e.mid), [a.mid, b.mid]);
    assert.equal(await server.sends(), 2);
    outbox.close();
  });

  it('a message written while the server is down stays pending, and is sent once it is back', async () => {
    const first = await start();
    const { c, rec } = client(first.rt, ['websocket']);
    const outbox = new Outbox(c);
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'connected');
    const before = c.clientId;
    await first.stop();
    await rec.until(() => rec.states.at(-1)?.status === 'reconnecting', 'reconnecting');
    const o = outbox.send('room:o', 'message', { text: 'offline' });
    await delay(300);
    assert.deepEqual(outbox.items.map((i) => i.status), ['pending']);
    const second = await start({ addr: `127.0.0.1:${first.port}` });
    await until(() => outbox.items.length === 0, 'the message to be delivered');
    const got = rec.of().filter((e) => e.mid === o.mid);
    assert.equal(got.length, 1);
    assert.notEqual(got[0]!.from, before); // a new session on the new server: still matched
    assert.equal(await second.sends(), 1);
    outbox.close();
  });
});
