// Browser tests of the example chat behind a REAL nginx (internal/testkit/nginxproxy)
// in the modes of internal/testkit/nginxtest:
//   default    stock proxy_pass: strips Upgrade, buffers unless the response
//              says X-Accel-Buffering: no (SSE does)        → SSE
//   buffering  buffers even X-Accel-Buffering: no            → long-poll
//   websocket  forwards Upgrade and Host (README's config)   → WebSocket
//   short-timeout  proxy_read_timeout 3 s (10 s is common; 3 s keeps the
//              test fast): the client learns the limit        → SSE / long-poll, never cut
// and behind a REAL HAProxy (internal/testkit/haproxyproxy) that compresses
// event streams behind a hop dropping no-transform: it holds the end of
// every SSE frame                                           → long-poll
// Each scenario has its own example server: the server remembers failed
// transports per client address, and every page here comes from 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  IN_CI, skipBrowser, requireBrowser, workspace, freePort, openChat, waitForText, waitForTransport,
  indicator, chatBothWays, screenshot, assertNoErrors,
} from './lib.mjs';

const NGINX_MISSING = 3; // nginxproxy's (and haproxyproxy's) exit status when the proxy is not installed

let ws;
let exampleBin;
let proxyBin;
let haproxyBin;
/** Why the nginx tests are skipped (nginx missing, outside CI), once known. */
let noNginx = '';
let noHAProxy = '';

before(async () => {
  if (skipBrowser) return;
  if (IN_CI) requireBrowser();
  ws = await workspace();
  [exampleBin, proxyBin, haproxyBin] = await Promise.all([
    ws.build('./example'), ws.build('./internal/testkit/nginxproxy'), ws.build('./internal/testkit/haproxyproxy'),
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
  let proxy;
  try {
    proxy = await ws.start(proxyBin, ['-upstream', upstream, '-mode', mode], `nginx (${mode})`);
  } catch (err) {
    if (err.exitCode !== NGINX_MISSING) throw err;
    if (IN_CI) throw new Error(`CI=true but nginx is not installed, so the proxy tests cannot run: ${err.message}`);
    noNginx = 'nginx is not installed (apt-get install -y nginx): the tests behind a real nginx are skipped';
    return null;
  }
  return startExample(upstream, proxy, mode !== 'websocket');
}

/** startBehindNginx for HAProxy (which forwards Host, but the example is told its origin all the same). */
async function startBehindHAProxy(mode) {
  if (noHAProxy) return null;
  const upstream = `127.0.0.1:${await freePort()}`;
  let proxy;
  try {
    proxy = await ws.start(haproxyBin, ['-upstream', upstream, '-mode', mode], `HAProxy (${mode})`);
  } catch (err) {
    if (err.exitCode !== NGINX_MISSING) throw err;
    if (IN_CI) throw new Error(`CI=true but HAProxy is not installed, so the proxy tests cannot run: ${err.message}`);
    noHAProxy = 'HAProxy is not installed (apt-get install -y haproxy): the tests behind a real HAProxy are skipped';
    return null;
  }
  return startExample(upstream, proxy, true);
}

/** Starts the example on upstream behind the running proxy. */
async function startExample(upstream, proxy, foreignHost) {
  const args = ['-addr', upstream];
  if (foreignHost) args.push('-allow-origin', proxy.url);
  try {
    const server = await ws.start(exampleBin, args, 'example');
    return { server, proxy };
  } catch (err) {
    await proxy.stop();
    throw err;
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

const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * a sends n messages, gapMs apart; each must show on b's page within 1 s
 * of being sent, once. Returns the latencies (send → shown), sorted.
 */
async function promptMessages(a, b, tag, n, gapMs) {
  const lat = [];
  for (let i = 0; i < n; i++) {
    const text = `${tag} m${i}.`;
    await a.page.getByTestId('message-input').fill(text);
    const sent = Date.now();
    await a.page.getByTestId('message-input').press('Enter');
    await waitForText(b.page, 'message', text, 5000);
    lat.push(Date.now() - sent);
    await delay(gapMs);
  }
  await delay(500);
  for (let i = 0; i < n; i++) {
    for (const c of [a, b]) {
      assert.equal(await c.page.getByTestId('message').filter({ hasText: `${tag} m${i}.` }).count(), 1, `message ${i} shown once`);
    }
  }
  lat.sort((x, y) => x - y);
  assert.ok(lat.at(-1) < 1000, `every message within 1 s; latencies ${lat.join(', ')} ms`);
  return lat;
}

/** Samples the indicator's status every 200 ms for ms: what it showed. */
async function statusesDuring(chat, ms) {
  const seen = new Set();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    seen.add((await indicator(chat.page)).status);
    await delay(200);
  }
  return [...seen];
}

test('behind a compressing HAProxy that holds SSE frames the chat finds it and settles on long-poll', { skip: skipBrowser }, async (t) => {
  const env = await startBehindHAProxy('compress-stripped');
  if (!env) return t.skip(noHAProxy);
  // HAProxy forwards Upgrade: the test asks for SSE and long-poll, so that
  // the held stream, not WebSocket, decides.
  const url = `${env.proxy.url}/?transport=sse,longpoll`;
  const a = await openChat(ws, url, 'ada');
  const first = await waitForTransport(a, /^long-poll · connected \(sse: no_first_byte\)$/);
  assert.equal(first.transport, 'longpoll');
  const b = await openChat(ws, url, 'grace');
  const second = await waitForTransport(b, /^long-poll · connected \(sse: (no_first_byte|deprioritized)\)$/);
  assert.equal(second.transport, 'longpoll');
  await chatBothWays(a, b, 'through a compressing HAProxy');
  const lat = await promptMessages(a, b, 'compressed', 6, 300);
  for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, 'longpoll', 'still on long-poll');
  t.diagnostic(`compressing HAProxy: long-poll after ${first.elapsedMs} ms and ${second.elapsedMs} ms; message latency median ${lat[3]} ms, max ${lat.at(-1)} ms`);
  assertNoErrors(a, b);
  await stopAll(env, a, b);
});

for (const [transport, query, shown] of [['sse', '', 'SSE'], ['longpoll', '?transport=longpoll', 'long-poll']]) {
  test(`behind nginx with proxy_read_timeout 3 s the chat on ${shown} learns the limit and stays connected`, { skip: skipBrowser }, async (t) => {
    const env = await startBehindNginx('short-timeout');
    if (!env) return t.skip(noNginx);
    const a = await openChat(ws, `${env.proxy.url}/${query}`, 'ada', { allowConsole: [WS_REFUSED] });
    const b = await openChat(ws, `${env.proxy.url}/${query}`, 'grace', { allowConsole: [WS_REFUSED] });
    for (const c of [a, b]) assert.equal((await waitForTransport(c, new RegExp(`^${shown} · connected`))).transport, transport);
    // Two quiet cuts (3 s each) teach the limit; then quiet again for
    // more than twice the limit: nothing may show trouble.
    await delay(8000);
    const during = await statusesDuring(a, 7000);
    assert.deepEqual(during, ['connected'], `the indicator stayed connected (it showed ${during.join(', ')})`);
    await chatBothWays(a, b, `through nginx cutting at 3 s (${transport})`);
    const lat = await promptMessages(a, b, `short-${transport}`, 5, 1000);
    for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, transport, `still on ${shown}`);
    t.diagnostic(`proxy_read_timeout 3 s, ${shown}: message latency median ${lat[2]} ms, max ${lat.at(-1)} ms`);
    assertNoErrors(a, b);
    await stopAll(env, a, b);
  });
}
