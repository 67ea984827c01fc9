// Browser tests of the client itself (no chat UI) against the Go test
// server behind a REAL nginx (proxies.mjs): the cases that need control of
// the server (publishing, no rate limits) and of the browser (cookies,
// reloads), with latency measured — a proxy that strips Lifeline-Token in
// each mode, 200 negotiates in one browser, and two clients behind one
// address of which only one can use WebSocket. Each asserts the transport
// it ends on, that nothing is lost or repeated, and events within 1 s of
// publication (proxyclient.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipBrowser, assertNoErrors } from './lib.mjs';
import { proxyFixture, WS_REFUSED } from './proxies.mjs';
import { startClient, settled, record, ticker, checkTicks, checkDelivery, median } from './proxyclient.mjs';

const fx = proxyFixture({ testserver: true });

/** A fresh browser on a page of the proxy's origin (any page will do: /rt/lifeline.js is imported from it). */
async function pageBehind(proxy) {
  const b = await fx.ws.browser({ allowConsole: [WS_REFUSED] });
  await b.page.goto(`${proxy.url}/test/sends`);
  return b;
}

/** Starts the client behind proxy with a ticker running; resolves once settled on transport with the measurements. */
async function connectAndMeasure(env, b, topic, transport) {
  const ticks = ticker(env.server, topic);
  await startClient(b.page, topic);
  let r;
  let sent;
  try {
    r = await settled(b.page, transport);
    // Ticks published before its negotiate are not the client's: stop once it got one.
    await b.page.waitForFunction(() => window.__ll.events.some((e) => e.type === 'tick'), null, { timeout: 5_000 });
  } finally {
    sent = await ticks.stop();
  }
  const firstEventMs = await checkTicks(b.page, sent);
  const latencies = await checkDelivery(b.page, env.server, topic);
  return { record: await record(b.page), firstEventMs, latencies, settledMs: r.states.at(-1).at - r.startedAt };
}

const count = (requests, re) => requests.filter((q) => re.test(q)).length;

for (const [mode, transport] of [['default', 'sse'], ['buffering', 'longpoll'], ['websocket', 'websocket']]) {
  test(`behind nginx (${mode}) that strips Lifeline-Token the client ends on ${transport}, sends work, nothing loops`, { skip: skipBrowser }, async (t) => {
    const env = await fx.testserverBehind([{ mode, stripToken: true }]);
    if (!env) return t.skip(fx.missing.nginx);
    const b = await pageBehind(env.proxies[0]);
    const topic = `e2e:strip-${mode}`;
    const m = await connectAndMeasure(env, b, topic, transport);
    const { requests, state } = m.record;
    assert.equal(state.transport, transport);
    assert.equal(count(requests, /^POST \/rt\/negotiate /), 1, `one negotiate; requests ${JSON.stringify(requests)}`);
    // At most the one 401 that revealed the stripping proxy per kind of request.
    assert.ok(count(requests, / 401$/) <= 2, `401s bounded; requests ${JSON.stringify(requests)}`);
    assert.equal(count(requests, / 429$/), 0, 'no rate limit hit');
    if (transport !== 'websocket') assert.ok(count(requests, /^POST \/rt\/send 200$/) >= 5, 'sends went through by the token in the body');
    // A reload starts headerless at once: the record says so.
    await b.page.reload();
    await startClient(b.page, topic);
    const again = await settled(b.page, transport);
    await checkDelivery(b.page, env.server, topic, { n: 5 });
    const after = (await record(b.page)).requests;
    assert.equal(count(after, / 401$/), 0, `after a reload no 401 at all; requests ${JSON.stringify(after)}`);
    t.diagnostic(`strip-token/${mode}: ${transport} after ${m.settledMs} ms, first event ${m.firstEventMs} ms; latency median ${median(m.latencies)} ms, max ${m.latencies.at(-1)} ms; reload settled after ${again.states.at(-1).at - again.startedAt} ms`);
    assertNoErrors(b);
    await fx.stopTestserver(env, b);
  });
}

test('200 negotiates in one browser keep its cookies bounded; every tab keeps working', { skip: skipBrowser }, async (t) => {
  // Streams recycle every 2 s, so that the open tab reconnects after its cookie is gone.
  const env = await fx.testserverBehind([{ mode: 'default' }], ['-no-limits', '-max-sessions-per-addr', '1000', '-stream-max-age', '2s']);
  if (!env) return t.skip(fx.missing.nginx);
  const b = await pageBehind(env.proxies[0]);
  const topic = 'e2e:cookies';
  // A tab that is open all along.
  const tab = { page: await b.newPage() };
  await tab.page.goto(`${env.proxies[0].url}/test/sends`);
  await connectAndMeasure(env, tab, topic, 'sse');
  // Page loads, room switches and re-negotiations that never end their sessions.
  const statuses = await b.page.evaluate(async () => {
    const out = [];
    for (let i = 0; i < 200; i++) {
      const res = await fetch('/rt/negotiate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ topics: [`room:${i % 7}`] }) });
      out.push(res.status);
    }
    return out;
  });
  assert.deepEqual([...new Set(statuses)], [200], 'every negotiate answered 200 (nginx never refused the Cookie header)');
  const cookies = (await b.cookies()).filter((c) => c.name.startsWith('ll_'));
  assert.ok(cookies.length <= 16, `at most 16 session cookies, got ${cookies.length}`);
  const m = await connectAndMeasure(env, b, topic, 'sse');
  const left = (await b.cookies()).filter((c) => c.name.startsWith('ll_')).length;
  assert.ok(left <= 16, `still at most 16 session cookies, got ${left}`);
  // The open tab lost its cookie to the cap, reconnected its stream since, and still gets everything.
  await new Promise((r) => setTimeout(r, 2_500));
  await checkDelivery(tab.page, env.server, topic, { n: 5, sends: 1 });
  assert.equal((await record(tab.page)).state.transport, 'sse');
  t.diagnostic(`200 negotiates: ${cookies.length} session cookies; SSE after ${m.settledMs} ms, first event ${m.firstEventMs} ms; latency median ${median(m.latencies)} ms, max ${m.latencies.at(-1)} ms`);
  assertNoErrors(b);
  await fx.stopTestserver(env, b);
});

test('two clients behind one address: WebSocket blocked for one does not demote it for the other', { skip: skipBrowser }, async (t) => {
  // One upstream, two nginx: the first forwards Upgrade, the second strips it.
  // The server sees both from 127.0.0.1.
  const env = await fx.testserverBehind([{ mode: 'websocket' }, { mode: 'default' }]);
  if (!env) return t.skip(fx.missing.nginx);
  const [open, blocking] = env.proxies;
  const topic = 'e2e:shared-address';
  const a = await pageBehind(open);
  const ma = await connectAndMeasure(env, a, topic, 'websocket');
  const b = await pageBehind(blocking);
  const mb = await connectAndMeasure(env, b, topic, 'sse');
  assert.equal(mb.record.state.skipped?.[0]?.reason, 'no_upgrade');
  // Both reload: B reports its failure, A that WebSocket works.
  for (const [c, tr] of [[b, 'sse'], [a, 'websocket']]) {
    await c.page.reload();
    await startClient(c.page, topic);
    const r = await settled(c.page, tr);
    assert.deepEqual([...new Set(r.states.map((s) => s.transport).filter(Boolean))], [tr], `after the reload straight to ${tr}: ${JSON.stringify(r.states)}`);
  }
  // A newcomer through the open proxy: one of the address's two clients
  // failed, not most, so WebSocket comes first for it, without detour.
  const c = await pageBehind(open);
  const mc = await connectAndMeasure(env, c, topic, 'websocket');
  assert.deepEqual([...new Set(mc.record.states.map((s) => s.transport).filter(Boolean))], ['websocket'], `the newcomer never used another transport: ${JSON.stringify(mc.record.states)}`);
  assert.equal(mc.record.state.skipped, undefined);
  for (const p of [a, b]) await checkDelivery(p.page, env.server, topic, { n: 5, sends: 1 });
  t.diagnostic(`shared address: A websocket first event ${ma.firstEventMs} ms (latency median ${median(ma.latencies)}, max ${ma.latencies.at(-1)} ms); B sse first event ${mb.firstEventMs} ms (median ${median(mb.latencies)}, max ${mb.latencies.at(-1)} ms); newcomer websocket first event ${mc.firstEventMs} ms (median ${median(mc.latencies)}, max ${mc.latencies.at(-1)} ms)`);
  assertNoErrors(a, b, c);
  await fx.stopTestserver(env, a, b, c);
});
