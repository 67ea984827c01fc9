// Browser test of the chat's React page (/react, example/react built with
// the hooks of @lifeline-go/client/react): a late joiner sees the room's
// history, two pages chat with typing and presence, a typing indicator
// expires by its TTL, and a message written while the server is down shows
// pending, then sent once it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  skipBrowser, openChat, waitForText, waitForTransport, chatBothWays, screenshot, assertNoErrors, builtWorkspace,
} from './lib.mjs';

const fx = builtWorkspace('./example');

const startExample = (addr = '127.0.0.1:0') => fx.ws.start(fx.bin, ['-addr', addr], 'example');

/** The data-status of the message with text on page. */
const statusOf = (page, text) => page.getByTestId('message').filter({ hasText: text }).getAttribute('data-status');

test('React page: history for a late joiner, chat, typing expiry, a message sent while the server is down', { skip: skipBrowser }, async () => {
  let server = await startExample();
  const base = server.url;
  // Reconnecting pages log failed requests while the server is down.
  const allowConsole = [/WebSocket connection to .* failed/, /net::ERR_CONNECTION_REFUSED/];
  const a = await openChat(fx.ws, `${base}/react`, 'ada', { allowConsole });
  await waitForTransport(a, /^WebSocket · connected$/);
  await a.page.getByTestId('message-input').fill('before grace came');
  await a.page.getByTestId('message-input').press('Enter');
  await waitForText(a.page, 'message', 'before grace came');
  await a.page.waitForFunction(() => document.querySelector('[data-testid="message"]')?.dataset.status === 'sent');

  // Grace joins late: the room's history shows what ada said before.
  const b = await openChat(fx.ws, `${base}/react`, 'grace', { allowConsole });
  await waitForText(b.page, 'message', 'before grace came');
  assert.equal(await b.page.getByTestId('message').count(), 1, 'the history once, not twice');

  await chatBothWays(a, b, 'react');

  // A typing indicator that is not followed by a message expires (TTL 4 s).
  await a.page.getByTestId('message-input').pressSequentially('thinking');
  await waitForText(b.page, 'typing', 'ada is typing…');
  await b.page.waitForFunction(() => document.querySelector('[data-testid="typing"]').textContent === '', null, { timeout: 8000 });
  await a.page.getByTestId('message-input').fill('');
  await screenshot(b.page, 'react-chat.png');

  // The server goes away: a message written now is shown at once, pending.
  const addr = new URL(base).host;
  assert.equal(await server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${server.log}`);
  await waitForText(a.page, 'transport', /reconnecting|connecting/);
  await a.page.getByTestId('message-input').fill('written offline');
  await a.page.getByTestId('message-input').press('Enter');
  await waitForText(a.page, 'message', 'written offline');
  assert.equal(await statusOf(a.page, 'written offline'), 'pending');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await statusOf(a.page, 'written offline'), 'pending', 'still pending while the server is down');

  // Back: it is sent, once.
  server = await startExample(addr);
  await a.page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="message"]')].some((m) => m.textContent.includes('written offline') && m.dataset.status === 'sent'),
    null,
    { timeout: 15_000 },
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await a.page.getByTestId('message').filter({ hasText: 'written offline' }).count(), 1, 'one line, not a pending one and a sent one');
  assertNoErrors(a, b);
  assert.equal(await server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${server.log}`);
});
