// Browser tests of the example chat behind a REAL HAProxy
// (internal/testkit/haproxyproxy) that compresses event streams behind a
// hop dropping Cache-Control: no-transform, so that it holds the end of
// every SSE frame until more data pushes it out: the client's probe event
// does not arrive whole, and the chat settles on long-poll (issue 9, item 2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipBrowser, openChat, waitForTransport, indicator, chatBothWays, assertNoErrors } from './lib.mjs';
import { proxyFixture, promptMessages } from './proxies.mjs';

const fx = proxyFixture();

test('behind a compressing HAProxy that holds SSE frames the chat finds it and settles on long-poll', { skip: skipBrowser }, async (t) => {
  const env = await fx.haproxy('compress-stripped');
  if (!env) return t.skip(fx.missing.haproxy);
  // HAProxy forwards Upgrade: the pages ask for SSE and long-poll, so that
  // the held stream, not WebSocket, decides.
  const url = `${env.proxy.url}/?transport=sse,longpoll`;
  const a = await openChat(fx.ws, url, 'ada');
  const first = await waitForTransport(a, /^long-poll · connected \(sse: no_first_byte\)$/);
  assert.equal(first.transport, 'longpoll');
  const b = await openChat(fx.ws, url, 'grace');
  const second = await waitForTransport(b, /^long-poll · connected \(sse: (no_first_byte|deprioritized)\)$/);
  assert.equal(second.transport, 'longpoll');
  await chatBothWays(a, b, 'through a compressing HAProxy');
  const lat = await promptMessages(a, b, 'compressed', 6, 300);
  for (const c of [a, b]) assert.equal((await indicator(c.page)).transport, 'longpoll', 'still on long-poll');
  t.diagnostic(`compressing HAProxy: long-poll after ${first.elapsedMs} ms and ${second.elapsedMs} ms; message latency median ${lat[3]} ms, max ${lat.at(-1)} ms`);
  assertNoErrors(a, b);
  await fx.stopAll(env, a, b);
});
