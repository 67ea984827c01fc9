// Browser tests of the example chat, reached directly (no proxy): two
// independent Chromium instances chat over long-poll (forced with
// ?transport=longpoll) and over WebSocket (the default negotiation), and the
// indicator shows when the server rate-limits the client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WAIT_MS, skipBrowser, openChat, waitForText, waitForTransport, indicator, chatBothWays, screenshot, assertNoErrors, builtWorkspace,
} from './lib.mjs';

const fx = builtWorkspace('./example');

/** The token the example's POST /api/notify requires in these tests. */
const NOTIFY_TOKEN = 'e2e-notify-token';

/** A fresh example server (its own rate limits and failure memory). */
const startExample = (addr = '127.0.0.1:0') => fx.ws.start(fx.bin, ['-addr', addr, '-notify-token', NOTIFY_TOKEN], 'example');

test('two browsers chat over long-poll', { skip: skipBrowser }, async () => {
  let server = await startExample();
  const baseURL = server.url;
  const a = await openChat(fx.ws, `${baseURL}/?transport=longpoll`, 'ada', {
    beforeJoin: (page) => screenshot(page, 'nickname.png', { fullPage: false }),
  });
  const b = await openChat(fx.ws, `${baseURL}/?transport=longpoll`, 'grace');

  // Both run on long-poll and are connected; forced, so nothing was "skipped".
  for (const c of [a, b]) {
    const ind = await waitForTransport(c, /^long-poll · connected$/);
    assert.equal(ind.transport, 'longpoll');
    assert.equal(ind.skipped, '');
  }

  // Presence: each sees the other, by nickname.
  await waitForText(b.page, 'presence-item', 'ada');
  await waitForText(a.page, 'presence-item', 'grace');

  // Typing in A shows the indicator in B.
  await a.page.getByTestId('message-input').pressSequentially('hello from a');
  await waitForText(b.page, 'typing', 'ada is typing…');

  // Enter sends; B shows the message with its sender; A marks it as its own.
  await a.page.getByTestId('message-input').press('Enter');
  await waitForText(b.page, 'message', 'hello from a');
  const received = b.page.getByTestId('message').filter({ hasText: 'hello from a' });
  assert.equal(await received.getByTestId('message-name').textContent(), 'ada');
  assert.equal(await received.getAttribute('data-mine'), 'false');
  const sent = a.page.getByTestId('message').filter({ hasText: 'hello from a' });
  await sent.waitFor();
  assert.equal(await sent.getAttribute('data-mine'), 'true');
  assert.equal(await a.page.getByTestId('message-input').inputValue(), '', 'the input is cleared after sending');
  // A message ends the sender's typing indicator.
  await b.page.waitForFunction(() => document.querySelector('[data-testid="typing"]').textContent === '');

  // B answers; the server's notifications reach everyone.
  await b.page.getByTestId('message-input').fill('hi ada, grace here');
  await b.page.getByTestId('send-button').click();
  await waitForText(a.page, 'message', 'grace here');
  await b.page.getByTestId('notify-token').fill(NOTIFY_TOKEN);
  await b.page.getByTestId('notify-input').fill('Deploy at 17:00');
  await b.page.getByTestId('notify-button').click();
  await waitForText(a.page, 'notification', 'Deploy at 17:00');
  await waitForText(b.page, 'notification', 'Deploy at 17:00');

  // A shows another person typing so the screenshot has every part.
  await b.page.getByTestId('message-input').pressSequentially('one more');
  await waitForText(a.page, 'typing', 'grace is typing…');
  await screenshot(a.page, 'chat-a.png');
  await screenshot(b.page, 'chat-b.png');

  // Rooms: B moves to #random; A sees B leave #general, and B no longer
  // gets #general's messages.
  await b.page.getByTestId('room-random').click();
  await waitForText(b.page, 'room-title', '#random');
  await waitForText(b.page, 'transport', /long-poll · connected/);
  await waitForText(b.page, 'presence-count', /^1$/);
  await waitForText(a.page, 'presence-count', /^1$/);
  await a.page.getByTestId('message-input').fill('only for general');
  await a.page.getByTestId('message-input').press('Enter');
  await waitForText(a.page, 'message', 'only for general');
  await b.page.getByTestId('join-input').fill('team-x');
  await b.page.getByTestId('join-submit').click();
  await waitForText(b.page, 'room-title', '#team-x');
  await b.page.getByTestId('room-team-x').waitFor();
  assert.equal(await b.page.getByTestId('message').count(), 0, 'a new room starts empty, and #general stays out of it');
  await b.page.getByTestId('message-input').fill('first in team-x');
  await b.page.getByTestId('message-input').press('Enter');
  await waitForText(b.page, 'message', 'first in team-x');
  // Back in #general, B sees what was said there meanwhile: the room's history.
  await b.page.getByTestId('room-general').click();
  await waitForText(b.page, 'room-title', '#general');
  await waitForText(b.page, 'message', 'only for general');
  assert.equal(await b.page.getByTestId('message').filter({ hasText: 'only for general' }).count(), 1, 'history and live events overlap, shown once');
  assert.equal(await b.page.getByTestId('message').filter({ hasText: 'first in team-x' }).count(), 0, '#team-x stays out of #general');
  await b.page.setViewportSize({ width: 390, height: 844 });
  await screenshot(b.page, 'chat-b-mobile.png');

  // A server restart is a new buffer epoch: both pages reconnect on their
  // own, are told the history was reset, and chat on.
  assert.equal(await server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${server.log}`);
  server = await startExample(new URL(baseURL).host);
  assert.equal(server.url, baseURL);
  for (const p of [a.page, b.page]) {
    await p.getByTestId('reset-banner').waitFor({ state: 'visible', timeout: 20_000 });
    await waitForText(p, 'transport', /long-poll · connected/);
  }
  assert.match(await a.page.getByTestId('reset-banner').textContent(), /history was reset; showing new messages/i);
  await a.page.getByTestId('message-input').fill('back after the restart');
  await a.page.getByTestId('send-button').click();
  await waitForText(a.page, 'message', 'back after the restart');
  await screenshot(a.page, 'chat-a-after-reset.png');
  await a.page.emulateMedia({ colorScheme: 'dark' });
  await screenshot(a.page, 'chat-a-dark.png', { animations: 'disabled' });

  assertNoErrors(a, b);
  await a.context.close();
  await b.context.close();
  assert.equal(await server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${server.log}`);
});

test('two browsers chat over WebSocket, negotiated by default', { skip: skipBrowser }, async () => {
  const server = await startExample();
  const sockets = [];
  const a = await openChat(fx.ws, `${server.url}/`, 'ada', {
    beforeJoin: (page) => { page.on('websocket', (s) => sockets.push(s.url())); }, // the client connects on join
  });
  const b = await openChat(fx.ws, `${server.url}/`, 'grace');

  for (const c of [a, b]) {
    const ind = await waitForTransport(c, /^WebSocket · connected$/);
    assert.equal(ind.transport, 'websocket');
    assert.equal(ind.skipped, '', 'nothing better was skipped');
  }
  assert.ok(sockets.some((u) => new URL(u).pathname === '/rt/ws'), `page A opened a WebSocket to /rt/ws (saw ${JSON.stringify(sockets)})`);

  await chatBothWays(a, b, 'over websocket');
  assert.equal((await indicator(a.page)).transport, 'websocket', 'A is still on WebSocket');
  assert.equal((await indicator(b.page)).transport, 'websocket', 'B is still on WebSocket');
  await b.page.getByTestId('message-input').pressSequentially('typing…');
  await waitForText(a.page, 'typing', 'grace is typing…');
  await screenshot(a.page, 'direct-websocket.png');

  assertNoErrors(a, b);
  await a.context.close();
  await b.context.close();
  assert.equal(await server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${server.log}`);
});

test('the indicator says when the server rate-limits the client (negotiate, then sends), which carries on', { skip: skipBrowser }, async () => {
  const server = await startExample();
  const c = await openChat(fx.ws, `${server.url}/`, 'ada', {
    // Negotiate is limited per address (a burst of 30, then one a second):
    // this page spends the budget and keeps it spent until the client is
    // refused, and records every text the indicator shows from now on.
    // The nickname is submitted (and the client negotiates) once the page
    // has been refused, while it goes on asking.
    beforeJoin: (page) => page.evaluate(() => new Promise((spent, fail) => {
      const node = document.getElementById('transport');
      window.__indicator = [];
      new MutationObserver(() => window.__indicator.push({ text: node.textContent, limited: node.dataset.rateLimited === 'true' }))
        .observe(node, { childList: true, subtree: true, characterData: true, attributes: true });
      window.__hammer = (async () => {
        const until = Date.now() + 10_000;
        const statuses = {};
        while (node.dataset.rateLimited !== 'true' && Date.now() < until) {
          const res = await fetch('/rt/negotiate', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status === 429) spent();
        }
        return statuses;
      })();
      window.__hammer.then(() => fail(new Error('negotiate was never refused')), fail);
    })),
  });
  await waitForText(c.page, 'transport', /^rate limited · retry in \d+ s$/).catch(async (err) => {
    const seen = await c.page.evaluate(async () => ({ seen: window.__indicator, hammer: await window.__hammer.catch(String) }));
    throw new Error(`${err.message}; seen ${JSON.stringify(seen)}`, { cause: err });
  });
  assert.equal(await c.page.getByTestId('transport').getAttribute('data-rate-limited'), 'true');
  await screenshot(c.page, 'rate-limited.png', { fullPage: false });
  const statuses = await c.page.evaluate(() => window.__hammer);
  assert.ok(statuses[429] > 0, `the page's own negotiates were refused too: ${JSON.stringify(statuses)}`);

  // Negotiate refills at one a second: the client retries after Retry-After and connects.
  await waitForText(c.page, 'transport', /^WebSocket · connected$/, 3 * WAIT_MS);
  assert.equal(await c.page.getByTestId('transport').getAttribute('data-rate-limited'), null);
  const seen = await c.page.evaluate(() => window.__indicator);
  assert.ok(seen.some((s) => s.limited && /^rate limited/.test(s.text)), `the indicator showed "rate limited": ${JSON.stringify(seen)}`);

  // Connected, a burst of sends runs into the per-session send limit (a
  // burst of 20): the connection stays up, the indicator says the page is
  // rate limited on WebSocket while a send waits, and every message still
  // arrives exactly once.
  await c.page.evaluate(() => { window.__indicator = []; });
  const BURST = 24;
  for (let i = 0; i < BURST; i++) {
    await c.page.getByTestId('message-input').fill(`burst ${i}`);
    await c.page.getByTestId('message-input').press('Enter');
    await c.page.waitForFunction(() => document.querySelector('[data-testid="message-input"]').value === '', null, { timeout: WAIT_MS });
  }
  await waitForText(c.page, 'message', `burst ${BURST - 1}`);
  const texts = await c.page.getByTestId('message-text').allTextContents();
  assert.deepEqual(texts, Array.from({ length: BURST }, (_, i) => `burst ${i}`), 'every message once, in order');
  const during = await c.page.evaluate(() => window.__indicator);
  assert.ok(during.some((s) => s.limited && /^WebSocket · rate limited · retry in \d+ s$/.test(s.text)),
    `while a send waited the indicator said "WebSocket · rate limited": ${JSON.stringify(during)}`);
  await waitForText(c.page, 'transport', /^WebSocket · connected$/);

  // The refused negotiates are logged by the browser as failed loads (allowed); nothing else.
  assertNoErrors(c);
  await c.context.close();
  assert.equal(await server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${server.log}`);
});
