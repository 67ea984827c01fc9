// Browser tests of the example chat behind a REAL nginx (internal/testkit/nginxproxy)
// in the three modes of internal/testkit/nginxtest:
//   default    stock proxy_pass: strips Upgrade, buffers unless the response
//              says X-Accel-Buffering: no (SSE does)        → SSE
//   buffering  buffers even X-Accel-Buffering: no            → long-poll
//   websocket  forwards Upgrade and Host (README's config)   → WebSocket
// Each scenario has its own example server: the server remembers failed
// transports per client address, and every page here comes from 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  IN_CI, skipBrowser, requireBrowser, workspace, freePort, openChat, waitForText, waitForTransport,
  indicator, chatBothWays, screenshot, assertNoErrors,
} from './lib.mjs';

const NGINX_MISSING = 3; // nginxproxy's exit status when nginx is not installed

let ws;
let exampleBin;
let proxyBin;
/** Why the nginx tests are skipped (nginx missing, outside CI), once known. */
let noNginx = '';

before(async () => {
  if (skipBrowser) return;
  if (IN_CI) requireBrowser();
  ws = await workspace();
  [exampleBin, proxyBin] = await Promise.all([ws.build('./example'), ws.build('./internal/testkit/nginxproxy')]);
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
