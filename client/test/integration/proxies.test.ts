// The client behind proxies that pass the first bytes of a stream and get
// in the way afterwards (issue 9): a compressing HAProxy that holds every
// SSE frame until more data pushes it out, and an nginx whose
// proxy_read_timeout (3 s here, to keep the tests fast; 10 s is common) is
// shorter than the server's poll hold and heartbeat. The test server runs
// with its production hold and heartbeat (25 s, 15 s) so that the proxies,
// not the server, decide what happens.
import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import type { LifelineClient, LifelineOptions, StorageLike } from '../../src/index.js';
import { NginxProxy, Recorder, TestServer, delay, haproxySkip, newClient, nginxSkip, skip } from './harness.js';

const servers: TestServer[] = [];
const proxies: NginxProxy[] = [];
const clients: LifelineClient[] = [];

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(proxies.map((p) => p.stop()));
  await Promise.all(servers.map((s) => s.stop()));
});

/** A server with production timings behind `proxy`, or null (skipped) when the proxy is not installed. */
async function behind(t: TestContext, proxy: (upstream: string) => Promise<NginxProxy | null>, what: string) {
  const s = await TestServer.start({ pollTimeout: '25s', heartbeat: '15s', noLimits: true });
  servers.push(s);
  const p = await proxy(`127.0.0.1:${s.port}`);
  if (!p) {
    if (process.env.CI === 'true') assert.fail(`${what} is not installed, and CI=true: the proxy tests must run`);
    t.skip(`${what} is not installed; set CI=true to make this a failure`);
    return null;
  }
  proxies.push(p);
  return { s, p };
}

/** Every request URL the client makes, and the status of each answer. */
function spy(): { fetch: typeof fetch; requests: { url: string; status: number; at: number }[] } {
  const requests: { url: string; status: number; at: number }[] = [];
  return {
    requests,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      requests.push({ url: String(input), status: res.status, at: Date.now() });
      return res;
    },
  };
}

const errors: string[] = [];

/** Resolves once pred() holds, checked every 50 ms (for conditions no client event signals); rejects after timeoutMs. */
async function waitFor(pred: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(50);
  }
}

function client(opts: LifelineOptions) {
  const c = newClient(opts);
  clients.push(c);
  const t0 = Date.now();
  c.on('error', (e) => errors.push(`${Date.now() - t0} ${e.message}`));
  return { c, rec: new Recorder(c) };
}

/**
 * Publishes `n` events `gapMs` apart and checks that each arrives within
 * 1 s of its publication (its `ts`), and that the client received every
 * event of the topic once, in order. Returns the latencies, sorted.
 */
async function deliveredPromptly(s: TestServer, rec: Recorder, topic: string, n: number, gapMs: number, earlier: string[]): Promise<number[]> {
  const ids = [...earlier];
  const arrived = new Map<string, number>();
  const recordArrival = (): void => {
    for (const e of rec.of()) if (!arrived.has(e.id)) arrived.set(e.id, Date.now() - (e.ts ?? 0));
  };
  for (let i = 0; i < n; i++) {
    const id = await s.publish(topic, 'message', { i });
    ids.push(id);
    await rec.until(() => rec.of().some((e) => e.id === id), `event ${i}`, 5000);
    recordArrival();
    await delay(gapMs);
  }
  await delay(200);
  assert.deepEqual(rec.of().map((e) => e.id), ids, 'every event once, in order');
  const lat = ids.slice(earlier.length).map((id) => arrived.get(id)!);
  lat.sort((a, b) => a - b);
  assert.ok(lat.at(-1)! < 1000, `every event within 1 s of publication; latencies ${lat.join(', ')} ms`);
  return lat;
}

/** Publishes an event as the client starts: how long after `startedAt` it arrives. */
async function firstEvent(s: TestServer, rec: Recorder, topic: string, startedAt: number): Promise<{ ms: number; ids: string[] }> {
  const id = await s.publish(topic, 'message', 'first');
  await rec.until(() => rec.of().some((e) => e.id === id), 'the first event', 10_000);
  return { ms: Date.now() - startedAt, ids: [id] };
}

describe('behind a compressing HAProxy', { skip: skip || haproxySkip }, () => {
  it('no-transform respected: SSE passes uncompressed and prompt', async (t) => {
    const env = await behind(t, (u) => NginxProxy.haproxy(u, 'compress'), 'HAProxy');
    if (!env) return;
    const topic = 'room:haproxy-compress';
    const from = await env.s.publish(topic, 'message', 'before');
    const startedAt = Date.now();
    const { c, rec } = client({ url: env.p.rt, topics: [topic], cursor: from, transports: ['sse', 'longpoll'] });
    const firstMs = await firstEvent(env.s, rec, topic, startedAt);
    await rec.until(() => c.state.status === 'connected' && c.state.transport === 'sse', 'connected on SSE');
    await delay(2500); // past the probe
    const lat = await deliveredPromptly(env.s, rec, topic, 10, 100, firstMs.ids);
    assert.equal(c.state.transport, 'sse', 'still on SSE');
    assert.deepEqual(c.state.skipped ?? [], []);
    t.diagnostic(`compressing HAProxy, no-transform: first event after ${firstMs.ms} ms; SSE latency median ${lat[5]} ms, max ${lat.at(-1)} ms`);
  });

  it('no-transform dropped on the way: the held stream is found before it opens, the client ends on long-poll, and events arrive within 1 s', async (t) => {
    const env = await behind(t, (u) => NginxProxy.haproxy(u, 'compress-stripped'), 'HAProxy');
    if (!env) return;
    const topic = 'room:haproxy-stripped';
    const from = await env.s.publish(topic, 'message', 'before');
    const startedAt = Date.now();
    const { c, rec } = client({ url: env.p.rt, topics: [topic], cursor: from, transports: ['sse', 'longpoll'] });
    const firstMs = await firstEvent(env.s, rec, topic, startedAt);
    await rec.until(() => c.state.status === 'connected' && c.state.transport === 'longpoll', 'connected on long-poll', 10_000).catch((err: Error) => {
      throw new Error(`${err.message}; states: ${JSON.stringify(rec.states.map((st) => [st.status, st.transport, st.error?.code, st.at - startedAt]))}; errors: ${errors.join(' | ')}`);
    });
    const settled = Date.now() - startedAt;
    assert.ok(!rec.states.some((st) => st.transport === 'sse'), 'SSE never counted as open: its probe event was held');
    assert.deepEqual(c.state.skipped, [{ transport: 'sse', reason: 'no_first_byte' }]);
    const lat = await deliveredPromptly(env.s, rec, topic, 10, 300, firstMs.ids);
    assert.equal(c.state.transport, 'longpoll', 'still on long-poll');
    t.diagnostic(`compressing HAProxy without no-transform: first event after ${firstMs.ms} ms; on long-poll after ${settled} ms; latency median ${lat[5]} ms, max ${lat.at(-1)} ms`);
  });

  it('no-transform dropped, under steady traffic (the probe is pushed through): the first frame left without its end ends SSE; nothing lost', async (t) => {
    const env = await behind(t, (u) => NginxProxy.haproxy(u, 'compress-stripped'), 'HAProxy');
    if (!env) return;
    const topic = 'room:haproxy-steady';
    const from = await env.s.publish(topic, 'message', 'before');
    const ids: string[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing && i < 10; i++) {
        ids.push(await env.s.publish(topic, 'message', { steady: i }));
        await delay(300);
      }
    })();
    const startedAt = Date.now();
    const { c, rec } = client({ url: env.p.rt, topics: [topic], cursor: from, transports: ['sse', 'longpoll'] });
    try {
      await rec.until(() => c.state.status === 'connected' && c.state.transport === 'longpoll', 'connected on long-poll', 15_000);
    } finally {
      publishing = false;
      await publisher;
    }
    const settled = Date.now() - startedAt;
    assert.deepEqual(c.state.skipped, [{ transport: 'sse', reason: 'no_first_byte' }]);
    const lat = await deliveredPromptly(env.s, rec, topic, 5, 300, ids);
    t.diagnostic(`compressing HAProxy under steady traffic: on long-poll after ${settled} ms; then latency median ${lat[2]} ms, max ${lat.at(-1)} ms`);
  });
});

/**
 * Through nginx with proxy_read_timeout 3 s on `transport`: the client
 * learns the limit from the first quiet cuts, then asks for less (`param`
 * in its requests), and from then on is not cut, stays connected, and
 * gets every event within 1 s.
 */
async function underShortTimeout(t: TestContext, transport: 'sse' | 'longpoll', param: RegExp) {
  const env = await behind(t, (u) => NginxProxy.start(u, 'short-timeout'), 'nginx');
  if (!env) return;
  const topic = `room:short-${transport}`;
  const from = await env.s.publish(topic, 'message', 'before');
  const net = spy();
  const startedAt = Date.now();
  const { c, rec } = client({ url: env.p.rt, topics: [topic], cursor: from, transports: [transport], fetch: net.fetch });
  const firstMs = await firstEvent(env.s, rec, topic, startedAt);
  await waitFor(() => net.requests.some((r) => param.test(r.url)), `a request asking for less (${param})`, 20_000).catch((err: Error) => {
    throw new Error(`${err.message}; requests: ${JSON.stringify(net.requests.map((r) => [r.status, r.at - startedAt, r.url.replace(/^.*\/rt/, '')]))}; states: ${JSON.stringify(rec.states.map((st) => [st.status, st.transport, st.at - startedAt]))}`);
  });
  const adapted = Date.now();
  await rec.until(() => c.state.status === 'connected', 'connected', 5000);
  // Quiet for more than twice the proxy's limit: nothing may be cut.
  const statesBefore = rec.states.length;
  await delay(7000);
  const lat = await deliveredPromptly(env.s, rec, topic, 5, 1500, firstMs.ids);
  await delay(3500); // quiet again, past the limit
  const after = rec.states.slice(statesBefore);
  assert.deepEqual(after.filter((st) => st.status !== 'connected'), [], 'connected all along once adapted');
  const cuts = net.requests.filter((r) => r.at > adapted && r.status >= 500);
  assert.deepEqual(cuts, [], 'no 504 once adapted');
  if (transport === 'sse') assert.deepEqual(net.requests.filter((r) => r.at > adapted && /\/sse\b/.test(r.url)), [], 'the stream was not cut once adapted');
  assert.equal(c.state.transport, transport);
  assert.equal(rec.resets.length, 0);
  t.diagnostic(`${transport} behind nginx proxy_read_timeout 3s: first event after ${firstMs.ms} ms; adapted after ${adapted - startedAt} ms; latency median ${lat[2]} ms, max ${lat.at(-1)} ms`);
}

describe('behind nginx with proxy_read_timeout 3 s', { skip: skip || nginxSkip }, () => {
  it('SSE: learns the limit, asks for heartbeats below it, then is never cut', (t) => underShortTimeout(t, 'sse', /[?&]heartbeat=\d+/));
  it('long-poll: learns the limit, holds polls below it, then gets no 504', (t) => underShortTimeout(t, 'longpoll', /[?&]timeout=\d+/));
});

/** A Web Storage stand-in shared by clients, as by page loads of one browser profile. */
function memoryStorage(): StorageLike {
  const data = new Map<string, string>();
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}

describe('behind nginx with proxy_read_timeout 3 s, the next page load', { skip: skip || nginxSkip }, () => {
  it('starts adapted from the stored limit: no cut at all, on long-poll or SSE', async (t) => {
    const env = await behind(t, (u) => NginxProxy.start(u, 'short-timeout'), 'nginx');
    if (!env) return;
    const storage = memoryStorage();
    const topic = 'room:short-reload';
    const from = await env.s.publish(topic, 'message', 'before');
    // The first page load learns the limit from two cuts.
    const learner = spy();
    const first = client({ url: env.p.rt, topics: [topic], cursor: from, transports: ['longpoll'], fetch: learner.fetch, storage });
    await waitFor(() => learner.requests.some((r) => /[?&]timeout=\d+/.test(r.url)), 'the first client to learn the limit', 20_000);
    const learnedAfter = learner.requests.filter((r) => r.status === 504).length;
    assert.ok(learnedAfter >= 2, `the first client was cut (${learnedAfter} × 504) before it learned`);
    await first.c.close();

    // The next ones, with the same storage, ask for less from their first request.
    const started = Date.now();
    const next = (['longpoll', 'sse'] as const).map((transport) => {
      const net = spy();
      return { transport, net, ...client({ url: env.p.rt, topics: [topic], cursor: from, transports: [transport], fetch: net.fetch, storage }) };
    });
    for (const n of next) await n.rec.until(() => n.c.state.status === 'connected' && n.c.state.transport === n.transport, `${n.transport} connected`, 5000);
    await delay(7000); // quiet for more than twice the proxy's limit
    const id = await env.s.publish(topic, 'message', 'after');
    for (const n of next) await n.rec.until(() => n.rec.of().some((e) => e.id === id), `${n.transport}: the event`, 1000);
    await delay(3500); // quiet again, past the limit
    for (const n of next) {
      const asks = n.net.requests.filter((r) => r.url.includes(n.transport === 'sse' ? '/sse' : '/poll'));
      assert.ok(asks.length > 0, `${n.transport}: requests seen`);
      const param = n.transport === 'sse' ? /[?&]heartbeat=\d+/ : /[?&]timeout=\d+/;
      assert.deepEqual(asks.filter((r) => !param.test(r.url)).map((r) => r.url), [], `${n.transport}: every request asks for less, the first one too`);
      assert.deepEqual(n.net.requests.filter((r) => r.status >= 500), [], `${n.transport}: no 504`);
      if (n.transport === 'sse') assert.equal(asks.length, 1, 'one stream, never cut');
      const connected = n.rec.states.findIndex((st) => st.status === 'connected');
      assert.deepEqual(n.rec.states.slice(connected).filter((st) => st.status !== 'connected'), [], `${n.transport}: connected all along once connected`);
      assert.deepEqual(n.rec.of().map((e) => e.id), [id], `${n.transport}: the event once`);
    }
    t.diagnostic(`first load cut ${learnedAfter} times before adapting; the next loads: no cut in ${Date.now() - started} ms`);
  });
});
