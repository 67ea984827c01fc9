// The Lifeline client itself (the bundle the server serves at /rt/lifeline.js)
// in Chromium, against internal/testkit/testserver behind real nginx, with
// what the proxy tests measure: the transport it ends on, the time to the
// first event, the latency of each event once settled, that nothing is lost
// or repeated, sends, and every request the client made (negotiates, 401s).
import assert from 'node:assert/strict';

/** Events must arrive within this long of their publication once the client settled. */
export const LATENCY_BOUND_MS = 1_000;

/** POSTs an event to the test server (directly, not through a proxy); resolves with its id. */
export async function publish(server, topic, type, data) {
  const res = await fetch(`${server.url}/test/publish`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ topic, type, data }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, `publish: ${body}`);
  return JSON.parse(body).id;
}

/**
 * Publishes a `tick` every everyMs until stop() is called: what the time to
 * the first event is measured against. Resolves stop() with the ticks'
 * numbers and ids, in order.
 */
export function ticker(server, topic, everyMs = 100) {
  const sent = [];
  let running = true;
  const loop = (async () => {
    for (let n = 0; running; n++) {
      sent.push({ n, id: await publish(server, topic, 'tick', { n }) });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return { async stop() { running = false; await loop; return sent; } };
}

/**
 * Starts a Lifeline client on the page (whose origin is the proxy's)
 * following topic. window.__ll records every event (with its arrival
 * time), every state, every request (`METHOD path status`).
 */
export async function startClient(page, topic) {
  await page.evaluate(async ({ topic }) => {
    const { LifelineClient } = await import('/rt/lifeline.js');
    const log = window.__ll = { startedAt: Date.now(), events: [], states: [], requests: [], errors: [] };
    const counting = async (input, init) => {
      const res = await fetch(input, init);
      log.requests.push(`${init?.method ?? 'GET'} ${new URL(input, location.href).pathname} ${res.status}`);
      return res;
    };
    const client = window.__client = new LifelineClient({ url: '/rt', topics: [topic], fetch: counting });
    client.on('event', (e) => log.events.push({ id: e.id, type: e.type, data: e.data, ts: e.ts, at: Date.now() }));
    client.on('state', (s) => log.states.push({ status: s.status, transport: s.transport, skipped: (s.skipped ?? []).map((k) => `${k.transport}:${k.reason}`).join(' '), at: Date.now() }));
    client.on('error', (e) => log.errors.push(`${e.status} ${e.code}`));
  }, { topic });
}

/** The page's record so far. */
export function record(page) {
  return page.evaluate(() => ({ ...window.__ll, state: { ...window.__client.state } }));
}

/**
 * Waits until the client is connected on transport (within timeoutMs of
 * its start) and returns its record.
 */
export async function settled(page, transport, timeoutMs = 10_000) {
  try {
    await page.waitForFunction((t) => window.__client?.state.status === 'connected' && window.__client.state.transport === t, transport, { timeout: timeoutMs });
  } catch (err) {
    const r = await record(page).catch(() => null);
    throw new Error(`the client did not settle on ${transport}: state ${JSON.stringify(r?.state)}, states ${JSON.stringify(r?.states)}, requests ${JSON.stringify(r?.requests)}`, { cause: err });
  }
  return record(page);
}

/**
 * Once settled: publishes n `seq` events spaced gapMs apart and sends
 * `sends` messages from the page, then checks that each arrived exactly
 * once, in order, the published ones within LATENCY_BOUND_MS. Resolves
 * with the latencies (ms), sorted.
 */
export async function checkDelivery(page, server, topic, { n = 20, gapMs = 50, sends = 5 } = {}) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    ids.push(await publish(server, topic, 'seq', { i }));
    await new Promise((r) => setTimeout(r, gapMs));
  }
  const acks = await page.evaluate(async ({ topic, sends }) => {
    const out = [];
    for (let i = 0; i < sends; i++) out.push(await window.__client.send(topic, 'msg', { i }));
    return out;
  }, { topic, sends });
  assert.equal(acks.length, sends);
  const want = [...ids, ...acks.map((a) => a.id)];
  await page.waitForFunction((want) => want.every((id) => window.__ll.events.some((e) => e.id === id)), want, { timeout: 5_000 })
    .catch(async (err) => { throw new Error(`events missing; got ${JSON.stringify((await record(page)).events.map((e) => e.id))}, want ${JSON.stringify(want)}`, { cause: err }); });
  const r = await record(page);
  const seen = r.events.map((e) => e.id);
  assert.equal(new Set(seen).size, seen.length, `no event delivered twice: ${JSON.stringify(seen)}`);
  const positions = want.map((id) => seen.indexOf(id));
  assert.deepEqual(positions, [...positions].sort((a, b) => a - b), 'events in publication order');
  const latencies = r.events.filter((e) => ids.includes(e.id)).map((e) => e.at - e.ts).sort((a, b) => a - b);
  assert.equal(latencies.length, n);
  assert.ok(latencies.at(-1) <= LATENCY_BOUND_MS, `every event within ${LATENCY_BOUND_MS} ms of publication; latencies ${JSON.stringify(latencies)}`);
  return latencies;
}

/**
 * Checks that of the ticks published while the client connected, it got
 * every one from the first it received on, once; returns the time from
 * the client's start to that first tick.
 */
export async function checkTicks(page, ticks) {
  const last = ticks.at(-1).id;
  await page.waitForFunction((id) => window.__ll.events.some((e) => e.id === id), last, { timeout: 5_000 })
    .catch(async (err) => {
      const r = await record(page);
      throw new Error(`the last tick ${last} never came: got ${JSON.stringify(r.events.map((e) => e.id))} of ${JSON.stringify(ticks.map((t) => t.id))}; states ${JSON.stringify(r.states)}; requests ${JSON.stringify(r.requests)}; errors ${JSON.stringify(r.errors)}`, { cause: err });
    });
  const r = await record(page);
  const got = r.events.filter((e) => e.type === 'tick');
  assert.ok(got.length > 0, 'the client received ticks');
  const first = ticks.findIndex((t) => t.id === got[0].id);
  assert.ok(first >= 0, 'the first tick received was published');
  assert.deepEqual(got.map((e) => e.id), ticks.slice(first).map((t) => t.id).slice(0, got.length), 'ticks neither lost nor repeated');
  assert.equal(got.length, ticks.length - first, 'every tick from the first one received on');
  return got[0].at - r.startedAt;
}

/** A median of sorted numbers. */
export const median = (xs) => xs[Math.floor(xs.length / 2)];
