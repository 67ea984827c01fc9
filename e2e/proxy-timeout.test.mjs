// Browser tests of the example chat behind a REAL nginx whose
// proxy_read_timeout (3 s here to keep the test fast; 10 s is common) is
// shorter than the server's 25 s poll hold and 15 s heartbeat: quiet polls
// end in 504 and quiet streams are cut until the client learns the limit
// and stays below it (issue 9, item 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipBrowser, openChat, waitForTransport, indicator, chatBothWays, assertNoErrors } from './lib.mjs';
import { proxyFixture, WS_REFUSED, delay, promptMessages, statusesDuring } from './proxies.mjs';

const fx = proxyFixture();

for (const [transport, query, shown] of [['sse', '', 'SSE'], ['longpoll', '?transport=longpoll', 'long-poll']]) {
  test(`behind nginx with proxy_read_timeout 3 s the chat on ${shown} learns the limit and stays connected`, { skip: skipBrowser }, async (t) => {
    const env = await fx.nginx('short-timeout');
    if (!env) return t.skip(fx.missing.nginx);
    const a = await openChat(fx.ws, `${env.proxy.url}/${query}`, 'ada', { allowConsole: [WS_REFUSED] });
    const b = await openChat(fx.ws, `${env.proxy.url}/${query}`, 'grace', { allowConsole: [WS_REFUSED] });
    for (const c of [a, b]) assert.equal((await waitForTransport(c, new RegExp(`^${shown} · connected`))).transport, transport);
    // Two quiet cuts (3 s each, the first one retried with backoff) teach
    // the limit; then quiet again for more than twice the limit: the
    // indicator may show nothing but connected.
    await delay(8000);
    const during = await statusesDuring(a, 7000);
    assert.deepEqual(during, ['connected'], `the indicator stayed connected (it showed ${during.join(', ')})`);
    await chatBothWays(a, b, `through nginx cutting at 3 s (${transport})`);
    const lat = await promptMessages(a, b, `short-${transport}`, 5, 700);
    for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, transport, `still on ${shown}`);
    t.diagnostic(`proxy_read_timeout 3 s, ${shown}: message latency median ${lat[2]} ms, max ${lat.at(-1)} ms`);

    // The page loaded again in the same browser starts below the limit it
    // stored (localStorage): every poll or stream asks for less from the
    // first one, and nothing is cut, not even once.
    const asked = [];
    const cut = [];
    const path = transport === 'sse' ? '/rt/sse' : '/rt/poll';
    a.page.on('response', (r) => {
      if (!new URL(r.url()).pathname.endsWith(path)) return;
      asked.push(r.url());
      if (r.status() >= 500) cut.push(r.status());
    });
    await a.page.reload();
    const overlay = a.page.getByTestId('nick-overlay');
    if (await overlay.isVisible()) {
      await a.page.getByTestId('nick-input').fill('ada');
      await a.page.getByTestId('nick-submit').click();
      await overlay.waitFor({ state: 'hidden' });
    }
    a.submittedAt = Date.now();
    await waitForTransport(a, new RegExp(`^${shown} · connected`));
    const reloaded = await statusesDuring(a, 7000);
    assert.deepEqual(reloaded, ['connected'], `after the reload the indicator stayed connected (it showed ${reloaded.join(', ')})`);
    const param = transport === 'sse' ? /[?&]heartbeat=\d+/ : /[?&]timeout=\d+/;
    assert.ok(asked.length > 0, `the reloaded page made ${path} requests`);
    assert.deepEqual(asked.filter((u) => !param.test(u)), [], `every ${path} request after the reload asks for less, the first one too`);
    assert.deepEqual(cut, [], 'no 504 after the reload');
    if (transport === 'sse') assert.equal(asked.length, 1, 'one stream after the reload, never cut');
    t.diagnostic(`proxy_read_timeout 3 s, ${shown}: reloaded page adapted from its first request (${asked.length} requests in 7 s, none cut)`);
    assertNoErrors(a, b);
    await fx.stopAll(env, a, b);
  });
}
