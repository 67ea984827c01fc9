// Failback with the real Go server: a client that fell back because
// WebSocket was refused probes it every failbackMs and switches to it once
// it works, while events and sends keep flowing: every event arrives once,
// in order, and every send resolves once.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Ack, LifelineClient, TransportName } from '../../src/index.js';
import { Recorder, TestServer, delay, newClient, skip } from './harness.js';

const servers: TestServer[] = [];
const clients: LifelineClient[] = [];

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

const FAILBACK_MS = 1500;

async function failback(from: TransportName, transports: TransportName[]) {
  const s = await TestServer.start({ pollTimeout: '2s', heartbeat: '1s', noLimits: true, refuseWs: true });
  servers.push(s);
  const topic = `room:fb-${from}`;
  const cursor = await s.publish(topic, 'message', { i: -1 });
  const c = newClient({ url: s.rt, topics: [topic], transports, failbackMs: FAILBACK_MS, cursor });
  clients.push(c);
  const rec = new Recorder(c);
  await rec.until(() => c.state.status === 'connected' && c.state.transport === from, `connected on ${from}`, 8000);
  assert.deepEqual(c.state.skipped?.[0], { transport: 'websocket', reason: 'no_upgrade' });

  // Publish continuously, and send from the client, through the switch.
  const published: string[] = [];
  const sends: Promise<Ack>[] = [];
  let running = true;
  const publisher = (async () => {
    for (let i = 0; running; i++) {
      published.push(await s.publish(topic, 'message', { i }));
      if (i % 5 === 0) sends.push(c.send(topic, 'message', { sent: i }));
      await delay(15);
    }
  })();
  try {
    // At least one probe fails while WebSocket is refused; the client stays put and keeps delivering.
    await delay(FAILBACK_MS * 1.3);
    assert.equal(c.state.transport, from);
    const enabledAt = Date.now();
    await s.setWebSocket(true);
    await rec.until(() => c.state.transport === 'websocket', 'the switch to WebSocket', FAILBACK_MS * 1.2 + 6000);
    const switchedIn = Date.now() - enabledAt;
    assert.equal(c.state.skipped, undefined);
    await delay(500);
    running = false;
    await publisher;
    const acks = await Promise.all(sends);
    const sent = new Set(acks.map((a) => a.id));
    const want = [...published, ...acks.map((a) => a.id!)];
    await rec.until(() => rec.of().length >= want.length, `${want.length} events`, 5000);
    await delay(100);
    const got = rec.of().map((e) => e.id);
    assert.equal(new Set(got).size, got.length, 'no event twice');
    // Everything the test published, in order; the client's own messages interleaved where the server put them.
    assert.deepEqual(
      got.filter((id) => !sent.has(id)),
      published,
    );
    assert.deepEqual(new Set(got), new Set(want));
    assert.equal(new Set(acks.map((a) => a.mid)).size, acks.length, 'each send acknowledged once');
    assert.equal(rec.resets.length, 0);
    assert.ok(switchedIn < FAILBACK_MS * 1.2 + 6000, `switched ${switchedIn} ms after WebSocket came back`);
    return { switchedIn, events: got.length, sends: acks.length };
  } finally {
    running = false;
    await publisher;
  }
}

describe('failback against the Go server', { skip }, () => {
  it('long-poll (WebSocket refused) → WebSocket once accepted, within the failback interval; nothing lost or repeated', async (t) => {
    const r = await failback('longpoll', ['websocket', 'longpoll']);
    t.diagnostic(`switched ${r.switchedIn} ms after enabling; ${r.events} events, ${r.sends} sends`);
  });

  it('SSE (WebSocket refused) → WebSocket once accepted, within the failback interval; nothing lost or repeated', async (t) => {
    const r = await failback('sse', ['websocket', 'sse', 'longpoll']);
    t.diagnostic(`switched ${r.switchedIn} ms after enabling; ${r.events} events, ${r.sends} sends`);
  });
});
