// Browser tests of the example chat behind a REAL nginx (internal/testkit/nginxproxy)
// in the three modes of internal/testkit/nginxtest:
//   default    stock proxy_pass: strips Upgrade, buffers unless the response
//              says X-Accel-Buffering: no (SSE does)        → SSE
//   buffering  buffers even X-Accel-Buffering: no            → long-poll
//   websocket  forwards Upgrade and Host (README's config)   → WebSocket
// Each scenario has its own example server: the server remembers failed
// transports per client address, and every page here comes from 127.0.0.1.
// After those, the client itself against the test server behind nginx
// (proxyclient.mjs): a proxy that strips Lifeline-Token in each mode, 200
// negotiates in one browser, and two clients behind one address of which
// only one can use WebSocket; each asserts the transport it ends on, that
// nothing is lost or repeated, and events within 1 s of publication.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  IN_CI, skipBrowser, requireBrowser, workspace, freePort, openChat, waitForText, waitForTransport,
  indicator, chatBothWays, screenshot, assertNoErrors,
} from './lib.mjs';
import { startClient, settled, record, ticker, checkTicks, checkDelivery, median } from './proxyclient.mjs';

const NGINX_MISSING = 3; // nginxproxy's exit status when nginx is not installed

let ws;
let exampleBin;
let proxyBin;
let testserverBin;
/** Why the nginx tests are skipped (nginx missing, outside CI), once known. */
let noNginx = '';

before(async () => {
  if (skipBrowser) return;
  if (IN_CI) requireBrowser();
  ws = await workspace();
  [exampleBin, proxyBin, testserverBin] = await Promise.all([
    ws.build('./example'), ws.build('./internal/testkit/nginxproxy'), ws.build('./internal/testkit/testserver'),
  ]);
});

after(async () => {
  await ws?.cleanup();
});

/**
 * Starts nginx in mode in front of a fresh example. Resolves with
 * { server, proxy }, or null when nginx is not installed (outside CI).
 *
 * Only the websocket mode forwards Host. Behind the others the app sees
 * its own address as Host, so the page's origin (the proxy's) looks
 * foreign to its CORS check, which refuses even the page's module script
 * (403): the example is told the public origin with -allow-origin, as the
 * README advises when Host is not forwarded. nginx starts first (it needs
 * only the upstream's address), so that its origin is known.
 */
async function startBehindNginx(mode) {
  if (noNginx) return null;
  const upstream = `127.0.0.1:${await freePort()}`;
  const proxy = await startNginx(upstream, { mode });
  if (!proxy) return null;
  const args = ['-addr', upstream];
  if (mode !== 'websocket') args.push('-allow-origin', proxy.url);
  try {
    const server = await ws.start(exampleBin, args, 'example');
    return { server, proxy };
  } catch (err) {
    await proxy.stop();
    throw err;
  }
}

/**
 * Starts nginx ({ mode, stripToken }) in front of upstream; resolves with
 * it, or with null (noNginx set) when nginx is not installed, outside CI.
 */
async function startNginx(upstream, { mode, stripToken = false }) {
  const flags = ['-upstream', upstream, '-mode', mode, ...(stripToken ? ['-strip-token'] : [])];
  try {
    return await ws.start(proxyBin, flags, `nginx (${mode}${stripToken ? ', strips Lifeline-Token' : ''})`);
  } catch (err) {
    if (err.exitCode !== NGINX_MISSING) throw err;
    if (IN_CI) throw new Error(`CI=true but nginx is not installed, so the proxy tests cannot run: ${err.message}`);
    noNginx = 'nginx is not installed (apt-get install -y nginx): the tests behind a real nginx are skipped';
    return null;
  }
}

async function stopAll(env, ...chats) {
  for (const c of chats) await c.context.close();
  await env.proxy.stop();
  assert.equal(await env.server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${env.server.log}`);
}

// Chromium logs a refused WebSocket handshake as a console error; behind a
// proxy that strips Upgrade that is the expected first step.
const WS_REFUSED = /^WebSocket connection to '.*' failed/;

test('behind nginx (default proxy_pass) the chat settles on SSE and says why', { skip: skipBrowser }, async (t) => {
  const env = await startBehindNginx('default');
  if (!env) return t.skip(noNginx);
  const a = await openChat(ws, `${env.proxy.url}/`, 'ada', { allowConsole: [WS_REFUSED] });
  const first = await waitForTransport(a, /^SSE · connected \(websocket: no_upgrade\)$/);
  assert.equal(first.transport, 'sse');
  assert.equal(first.skipped, 'websocket:no_upgrade');
  // The second page may have been told by negotiate that WebSocket failed from this address.
  const b = await openChat(ws, `${env.proxy.url}/`, 'grace', { allowConsole: [WS_REFUSED] });
  const second = await waitForTransport(b, /^SSE · connected \(websocket: (no_upgrade|deprioritized)\)$/);
  assert.equal(second.transport, 'sse');
  t.diagnostic(`settled on SSE after ${first.elapsedMs} ms and ${second.elapsedMs} ms; B: ${second.text}`);

  await chatBothWays(a, b, 'through nginx');
  for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, 'sse', 'still on SSE after chatting');
  await b.page.getByTestId('message-input').pressSequentially('typing…');
  await waitForText(a.page, 'typing', 'grace is typing…');
  await screenshot(a.page, 'nginx-default-sse.png');

  assertNoErrors(a, b);
  await stopAll(env, a, b);
});

test('behind nginx that buffers every response the chat settles on long-poll', { skip: skipBrowser }, async (t) => {
  const env = await startBehindNginx('buffering');
  if (!env) return t.skip(noNginx);
  const a = await openChat(ws, `${env.proxy.url}/`, 'ada', { allowConsole: [WS_REFUSED] });
  // WebSocket is refused at once; the SSE stream's first byte never comes in 3 s.
  const first = await waitForTransport(a, /^long-poll · connected \(websocket: no_upgrade, sse: no_first_byte\)$/);
  assert.equal(first.transport, 'longpoll');
  assert.equal(first.skipped, 'websocket:no_upgrade sse:no_first_byte');
  const b = await openChat(ws, `${env.proxy.url}/`, 'grace', { allowConsole: [WS_REFUSED] });
  const second = await waitForTransport(b, /^long-poll · connected \(websocket: (no_upgrade|deprioritized), sse: (no_first_byte|deprioritized)\)$/);
  assert.equal(second.transport, 'longpoll');
  t.diagnostic(`settled on long-poll after ${first.elapsedMs} ms and ${second.elapsedMs} ms; B: ${second.text}`);

  await chatBothWays(a, b, 'through a buffering nginx');
  for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, 'longpoll', 'still on long-poll after chatting');
  await b.page.getByTestId('message-input').pressSequentially('typing…');
  await waitForText(a.page, 'typing', 'grace is typing…');
  await screenshot(a.page, 'nginx-buffering-longpoll.png');
  // On a phone the reasons give way first (ellipsis); the tooltip keeps them.
  await b.page.setViewportSize({ width: 390, height: 844 });
  await screenshot(b.page, 'nginx-buffering-longpoll-mobile.png', { fullPage: false });

  assertNoErrors(a, b);
  await stopAll(env, a, b);
});

test('behind nginx configured for WebSocket the chat stays on WebSocket', { skip: skipBrowser }, async (t) => {
  const env = await startBehindNginx('websocket');
  if (!env) return t.skip(noNginx);
  const a = await openChat(ws, `${env.proxy.url}/`, 'ada');
  const b = await openChat(ws, `${env.proxy.url}/`, 'grace');
  for (const c of [a, b]) {
    const ind = await waitForTransport(c, /^WebSocket · connected$/);
    assert.equal(ind.skipped, '');
  }

  await chatBothWays(a, b, 'through nginx with Upgrade');
  for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, 'websocket', 'still on WebSocket after chatting');
  await b.page.getByTestId('message-input').pressSequentially('typing…');
  await waitForText(a.page, 'typing', 'grace is typing…');
  await screenshot(a.page, 'nginx-websocket.png');

  assertNoErrors(a, b);
  await stopAll(env, a, b);
});

// ---------------------------------------------------------------------------
// The client itself (no chat UI) against the test server behind nginx: the
// cases of issue 9 that need control of the server (publishing, no rate
// limits) and of the browser (cookies, reloads), with latency measured.


/**
 * Starts one nginx per entry of proxies ({ mode, stripToken }) in front of
 * one test server started with args: every page behind any of them reaches
 * the server from nginx's 127.0.0.1, one address. Resolves with
 * { server, proxies }, or null when nginx is not installed (outside CI).
 */
async function testserverBehind(proxies, args = []) {
  if (noNginx) return null;
  const upstream = `127.0.0.1:${await freePort()}`;
  const started = [];
  try {
    for (const p of proxies) {
      const proxy = await startNginx(upstream, p);
      if (!proxy) {
        await Promise.all(started.map((q) => q.stop()));
        return null;
      }
      started.push(proxy);
    }
    const server = await ws.start(testserverBin, ['-addr', upstream, ...args], 'testserver');
    return { server, proxies: started };
  } catch (err) {
    await Promise.all(started.map((p) => p.stop()));
    throw err;
  }
}

async function stopTestserver(env, ...browsers) {
  for (const b of browsers) await b.close();
  for (const p of env.proxies) await p.stop();
  assert.equal(await env.server.stop(), 0, `the test server should exit 0 on SIGTERM; its log:\n${env.server.log}`);
}

/** A fresh browser on a page of the proxy's origin (any page will do: /rt/lifeline.js is imported from it). */
async function pageBehind(proxy) {
  const b = await ws.browser({ allowConsole: [WS_REFUSED] });
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
    const env = await testserverBehind([{ mode, stripToken: true }]);
    if (!env) return t.skip(noNginx);
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
    await stopTestserver(env, b);
  });
}

test('200 negotiates in one browser keep its cookies bounded; every tab keeps working', { skip: skipBrowser }, async (t) => {
  // Streams recycle every 2 s, so that the open tab reconnects after its cookie is gone.
  const env = await testserverBehind([{ mode: 'default' }], ['-no-limits', '-max-sessions-per-addr', '1000', '-stream-max-age', '2s']);
  if (!env) return t.skip(noNginx);
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
  await stopTestserver(env, b);
});

test('two clients behind one address: WebSocket blocked for one does not demote it for the other', { skip: skipBrowser }, async (t) => {
  // One upstream, two nginx: the first forwards Upgrade, the second strips it.
  // The server sees both from 127.0.0.1.
  const env = await testserverBehind([{ mode: 'websocket' }, { mode: 'default' }]);
  if (!env) return t.skip(noNginx);
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
  await stopTestserver(env, a, b, c);
});
