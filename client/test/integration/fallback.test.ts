// Fallback with the real Go server: WebSocket refused or not offered, and
// behind a real nginx in its default, buffering and WebSocket-ready set-ups.
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import type { LifelineClient } from '../../src/index.js';
import { NginxProxy, Recorder, TestServer, delay, newClient, nginxSkip, skip } from './harness.js';

const servers: TestServer[] = [];
const proxies: NginxProxy[] = [];
const clients: LifelineClient[] = [];
const start = async (opts: Parameters<typeof TestServer.start>[0] = {}) => {
  const s = await TestServer.start({ pollTimeout: '2s', heartbeat: '1s', noLimits: true, ...opts });
  servers.push(s);
  return s;
};
const client = (opts: Parameters<typeof newClient>[0]) => {
  const c = newClient(opts);
  clients.push(c);
  return { c, rec: new Recorder(c) };
};
const on = (rec: Recorder, transport: string, timeoutMs = 10_000) =>
  rec.until(() => rec.states.at(-1)?.status === 'connected' && rec.states.at(-1)?.transport === transport, `connected on ${transport}`, timeoutMs);

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(servers.map((s) => s.stop()));
});

describe('fallback against the Go server', { skip }, () => {
  it('WebSocket offered but refused before the upgrade → SSE; skipped says no_upgrade; the next negotiate reports it in failed', async () => {
    const s = await start({ refuseWs: true });
    const negotiations: { failed?: unknown; transports?: unknown }[] = [];
    const spy: typeof fetch = (input, init) => {
      if (String(input).endsWith('/negotiate')) negotiations.push(JSON.parse(String(init?.body)));
      return fetch(input, init);
    };
    const { c, rec } = client({ url: s.rt, topics: ['room:f1'], fetch: spy });
    await on(rec, 'sse', 5000);
    assert.deepEqual(c.state.skipped, [{ transport: 'websocket', reason: 'no_upgrade' }]);
    const device = (negotiations[0] as { device?: string }).device;
    assert.deepEqual(negotiations[0], { protocol: 1, topics: ['room:f1'], transports: ['websocket', 'sse', 'longpoll'], device });
    const a = await s.publish('room:f1', 'message', 'a');
    await rec.until(() => rec.of().length === 1, 'a');
    await c.setTopics(['room:f1', 'room:f2']);
    assert.deepEqual(negotiations[1]!.failed, [{ transport: 'websocket', reason: 'no_upgrade' }]);
    assert.deepEqual((negotiations[1] as { worked?: unknown }).worked, ['sse'], 'and that SSE worked');
    assert.equal((negotiations[1] as { device?: string }).device, device, 'as the same client');
    await on(rec, 'sse', 5000);
    const b = await s.publish('room:f2', 'message', 'b');
    await rec.until(() => rec.of().length === 2, 'b');
    assert.deepEqual(rec.of().map((e) => e.id), [a, b]);
  });

  it('WebSocket not offered (turned off) → SSE; skipped says not_offered', async () => {
    const s = await start({ disableWs: true });
    const { c, rec } = client({ url: s.rt, topics: ['room:f3'] });
    await on(rec, 'sse', 5000);
    assert.deepEqual(c.state.skipped, [{ transport: 'websocket', reason: 'not_offered' }]);
  });

  it('WebSocket refused and SSE turned off → long-poll, with both reasons', async () => {
    const s = await start({ refuseWs: true, disableSse: true });
    const { c, rec } = client({ url: s.rt, topics: ['room:f4'] });
    await on(rec, 'longpoll', 5000);
    assert.deepEqual(c.state.skipped, [
      { transport: 'websocket', reason: 'no_upgrade' },
      { transport: 'sse', reason: 'not_offered' },
    ]);
    const id = await s.publish('room:f4', 'message', 'x');
    await rec.until(() => rec.of().some((e) => e.id === id), 'x');
  });
});

/**
 * Runs a client through nginx in `mode` while events are published every
 * 40 ms, from before it connects (or, `quiet`, from once it settled) until
 * well after it settled: it must end on `want` within 10 s and receive
 * every one of them, once, in order.
 */
async function throughNginx(t: TestContext, mode: 'default' | 'buffering' | 'websocket', want: string, skipped: unknown, quiet = false) {
  const s = await start();
  const proxy = await NginxProxy.start(`127.0.0.1:${s.port}`, mode);
  if (!proxy) {
    if (process.env.CI === 'true') assert.fail('nginx is not installed, and CI=true: the nginx tests must run (apt-get install nginx)');
    t.skip('nginx is not installed (apt-get install nginx); set CI=true to make this a failure');
    return;
  }
  proxies.push(proxy);
  const topic = `room:nginx-${mode}`;
  const from = await s.publish(topic, 'message', { i: -1 }); // the client resumes from here: it gets everything after
  const published: string[] = [];
  let publishing = true;
  let go: () => void = () => {};
  const ready = quiet ? new Promise<void>((r) => (go = r)) : Promise.resolve();
  const publisher = (async () => {
    await ready;
    for (let i = 0; publishing; i++) {
      published.push(await s.publish(topic, 'message', { i }));
      await delay(40);
    }
  })();
  const startedAt = Date.now();
  const { c, rec } = client({ url: proxy.rt, topics: [topic], cursor: from });
  try {
    await on(rec, want, 10_000);
    const settled = Date.now() - startedAt;
    go();
    await delay(800);
    assert.equal(c.state.transport, want, 'it stays there');
    assert.deepEqual(c.state.skipped, skipped);
    publishing = false;
    await publisher;
    await rec.until(() => rec.of().length >= published.length, `all ${published.length} events`, 5000);
    await delay(100);
    assert.deepEqual(rec.of().map((e) => e.id), published, 'every event once, in order');
    assert.equal(rec.resets.length, 0);
    t.diagnostic(`${mode}: on ${want} after ${settled} ms; ${published.length} events`);
  } finally {
    publishing = false;
    go();
    await publisher;
  }
}

describe('behind a real nginx', { skip: skip || nginxSkip }, () => {
  it('default proxy_pass (Upgrade stripped): ends on SSE within 10 s and receives every event', (t) =>
    throughNginx(t, 'default', 'sse', [{ transport: 'websocket', reason: 'no_upgrade' }]));

  const buffered = [
    { transport: 'websocket', reason: 'no_upgrade' },
    { transport: 'sse', reason: 'no_first_byte' },
  ];
  it('buffering every response, under steady traffic (the open event comes late, in a burst): ends on long-poll within 10 s and receives every event', (t) =>
    throughNginx(t, 'buffering', 'longpoll', buffered));

  it('buffering every response, quiet (no open event within 3 s): ends on long-poll within 10 s and receives every event', (t) =>
    throughNginx(t, 'buffering', 'longpoll', buffered, true));

  it('set up for WebSocket: stays on WebSocket and receives every event', (t) => throughNginx(t, 'websocket', 'websocket', undefined));
});
