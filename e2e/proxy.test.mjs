// Browser tests of the example chat behind a REAL nginx (internal/testkit/nginxproxy)
// in the three modes of internal/testkit/nginxtest:
//   default    stock proxy_pass: strips Upgrade, buffers unless the response
//              says X-Accel-Buffering: no (SSE does)        → SSE
//   buffering  buffers even X-Accel-Buffering: no            → long-poll
//   websocket  forwards Upgrade and Host (README's config)   → WebSocket
// (proxies.mjs starts them.) More proxies: proxy-client.test.mjs, proxy-haproxy.test.mjs,
// proxy-timeout.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipBrowser, openChat, waitForText, waitForTransport, indicator, chatBothWays, screenshot, assertNoErrors } from './lib.mjs';
import { proxyFixture, WS_REFUSED } from './proxies.mjs';

const fx = proxyFixture();

test('behind nginx (default proxy_pass) the chat settles on SSE and says why', { skip: skipBrowser }, async (t) => {
  const env = await fx.nginx('default');
  if (!env) return t.skip(fx.missing.nginx);
  const a = await openChat(fx.ws, `${env.proxy.url}/`, 'ada', { allowConsole: [WS_REFUSED] });
  const first = await waitForTransport(a, /^SSE · connected \(websocket: no_upgrade\)$/);
  assert.equal(first.transport, 'sse');
  assert.equal(first.skipped, 'websocket:no_upgrade');
  // The second page may have been told by negotiate that WebSocket failed from this address.
  const b = await openChat(fx.ws, `${env.proxy.url}/`, 'grace', { allowConsole: [WS_REFUSED] });
  const second = await waitForTransport(b, /^SSE · connected \(websocket: (no_upgrade|deprioritized)\)$/);
  assert.equal(second.transport, 'sse');
  t.diagnostic(`settled on SSE after ${first.elapsedMs} ms and ${second.elapsedMs} ms; B: ${second.text}`);

  await chatBothWays(a, b, 'through nginx');
  for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, 'sse', 'still on SSE after chatting');
  await b.page.getByTestId('message-input').pressSequentially('typing…');
  await waitForText(a.page, 'typing', 'grace is typing…');
  await screenshot(a.page, 'nginx-default-sse.png');

  assertNoErrors(a, b);
  await fx.stopAll(env, a, b);
});

test('behind nginx that buffers every response the chat settles on long-poll', { skip: skipBrowser }, async (t) => {
  const env = await fx.nginx('buffering');
  if (!env) return t.skip(fx.missing.nginx);
  const a = await openChat(fx.ws, `${env.proxy.url}/`, 'ada', { allowConsole: [WS_REFUSED] });
  // WebSocket is refused at once; the SSE stream's first byte never comes in 3 s.
  const first = await waitForTransport(a, /^long-poll · connected \(websocket: no_upgrade, sse: no_first_byte\)$/);
  assert.equal(first.transport, 'longpoll');
  assert.equal(first.skipped, 'websocket:no_upgrade sse:no_first_byte');
  const b = await openChat(fx.ws, `${env.proxy.url}/`, 'grace', { allowConsole: [WS_REFUSED] });
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
  await fx.stopAll(env, a, b);
});

test('behind nginx configured for WebSocket the chat stays on WebSocket', { skip: skipBrowser }, async (t) => {
  const env = await fx.nginx('websocket');
  if (!env) return t.skip(fx.missing.nginx);
  const a = await openChat(fx.ws, `${env.proxy.url}/`, 'ada');
  const b = await openChat(fx.ws, `${env.proxy.url}/`, 'grace');
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
  await fx.stopAll(env, a, b);
});
