// The browser's NATIVE EventSource against Lifeline's SSE endpoint (no
// client library): the session is proven by the ll_<clientId> cookie set by
// negotiate, the server ends the stream every 1.5 s (`event: recycle`), and
// EventSource reconnects on its own with Last-Event-ID, losing and repeating
// nothing, including events published while it was disconnected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipBrowser, screenshot, assertNoErrors, builtWorkspace } from './lib.mjs';

const TOPIC = 'e2e:native';
const EVENTS = 24;
const PUBLISH_EVERY_MS = 250;
const STREAM_MAX_AGE = '1500ms';

const fx = builtWorkspace('./internal/testkit/testserver');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

test('native EventSource resumes with Last-Event-ID after the server ends the stream', { skip: skipBrowser }, async () => {
  const server = await fx.ws.start(fx.bin, ['-stream-max-age', STREAM_MAX_AGE, '-no-limits'], 'testserver');
  const c = await fx.ws.browser();
  const { page } = c;
  // Any page of the server's origin will do: the cookie is SameSite=Strict, Path=/rt.
  await page.goto(`${server.url}/test/sends`);

  const session = await page.evaluate(async (topic) => {
    const res = await fetch('/rt/negotiate', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ topics: [topic] }),
    });
    if (!res.ok) throw new Error(`negotiate: HTTP ${res.status} ${await res.text()}`);
    const neg = await res.json();
    const sse = neg.transports.find((t) => t.name === 'sse');
    if (!sse) throw new Error(`negotiate offered no SSE: ${JSON.stringify(neg.transports)}`);
    const log = window.__es = { url: '', events: [], opens: [], recycles: [], problems: [], errors: 0, lastId: '' };
    log.url = `${sse.url}&cursor=${encodeURIComponent(neg.cursor)}`;
    const es = window.__source = new EventSource(log.url);
    // The server's `event: open` (a MessageEvent) names the cursor the
    // stream starts after: on a reconnect, the Last-Event-ID EventSource sent.
    es.addEventListener('open', (e) => {
      if (e instanceof MessageEvent) log.opens.push({ at: Date.now(), cursor: JSON.parse(e.data).cursor, lastIdBefore: log.lastId });
    });
    es.addEventListener('recycle', () => log.recycles.push(Date.now()));
    es.addEventListener('problem', (e) => log.problems.push(e.data));
    es.addEventListener('error', () => { log.errors++; });
    es.onmessage = (e) => {
      const env = JSON.parse(e.data);
      log.lastId = e.lastEventId;
      if (env.topic === topic && env.type === 'seq') log.events.push({ id: env.id, lastEventId: e.lastEventId, n: env.data.n, at: Date.now() });
    };
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('the stream did not open within 5 s')), 5_000);
      es.addEventListener('open', (e) => { if (e instanceof MessageEvent) { clearTimeout(t); resolve(); } });
    });
    return { clientId: neg.clientId, cursor: neg.cursor, sseUrl: log.url };
  }, TOPIC);
  assert.match(session.sseUrl, /^\/rt\/sse\?client=c_[^&]+&cursor=/, 'the SSE URL names the client, whose cookie proves the session');

  // Publish while streams come and go.
  const published = [];
  for (let n = 0; n < EVENTS; n++) {
    const res = await fetch(`${server.url}/test/publish`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ topic: TOPIC, type: 'seq', data: { n } }),
    });
    const body = await res.text();
    assert.equal(res.status, 200, `publish ${n}: ${body}`);
    published.push({ id: JSON.parse(body).id, n, at: Date.now() });
    await sleep(PUBLISH_EVERY_MS);
  }

  await page.waitForFunction((want) => window.__es.events.length >= want, EVENTS, { timeout: 10_000 })
    .catch(async (err) => {
      const got = await page.evaluate(() => window.__es);
      throw new Error(`only ${got.events.length} of ${EVENTS} events arrived: ${JSON.stringify(got)}`, { cause: err });
    });
  await sleep(1_500); // room for a duplicate to show up, if the resume repeated anything
  const log = await page.evaluate(() => ({ ...window.__es, readyState: window.__source.readyState }));

  // Exactly once, in order: the ids the page saw are the ids publish returned.
  assert.deepEqual(log.events.map((e) => e.id), published.map((p) => p.id), 'every event arrived exactly once, in order');
  assert.deepEqual(log.events.map((e) => e.n), published.map((p) => p.n));
  assert.ok(log.events.every((e) => e.lastEventId === e.id), 'each message carries its cursor as the SSE id');

  // The server ended the stream several times and EventSource came back by itself, resuming from Last-Event-ID.
  assert.ok(log.recycles.length >= 2, `the server recycled the stream at least twice (${log.recycles.length})`);
  assert.ok(log.opens.length >= 3, `EventSource reopened at least twice (${log.opens.length} opens)`);
  assert.equal(log.opens[0].cursor, session.cursor, 'the first stream starts at the cursor of the URL');
  for (const [i, o] of log.opens.entries()) {
    if (i === 0) continue;
    assert.equal(o.cursor, o.lastIdBefore, `reopen ${i} starts after the last event received (Last-Event-ID), not at the URL's stale cursor`);
  }
  assert.notEqual(log.opens.at(-1).cursor, session.cursor);
  assert.notEqual(log.readyState, 2, 'EventSource never gave up (CLOSED)');
  assert.deepEqual(log.problems, [], 'no stream ended with a problem');

  // Some events were published while no stream was open, and still arrived.
  const gaps = log.recycles.map((r) => [r, log.opens.find((o) => o.at > r)?.at ?? Infinity]);
  const inGaps = published.filter((p) => gaps.some(([from, to]) => p.at > from && p.at < to));
  assert.ok(inGaps.length >= 1, `at least one event was published between a recycle and the reconnect (gaps ${JSON.stringify(gaps)})`);

  // Show the outcome in the page for the screenshot.
  await page.evaluate(({ log, inGaps }) => {
    document.body.replaceChildren();
    const pre = document.createElement('pre');
    pre.style.cssText = 'font: 14px/1.5 monospace; padding: 1rem; white-space: pre-wrap;';
    pre.textContent = [
      `native EventSource ${log.url}`,
      `${log.events.length} events, exactly once and in order: ${log.events.map((e) => e.n).join(' ')}`,
      `${log.recycles.length} recycles by the server, ${log.opens.length} opens, ${log.errors} EventSource error events`,
      ...log.opens.map((o, i) => `open ${i}: from ${o.cursor}${i ? ` (Last-Event-ID ${o.lastIdBefore})` : ' (the URL cursor)'}`),
      `published while disconnected and still delivered: ${inGaps.map((p) => p.n).join(' ')}`,
    ].join('\n');
    document.body.append(pre);
  }, { log, inGaps });
  await screenshot(page, 'native-eventsource.png', { fullPage: false });

  assertNoErrors(c);
  await c.close();
  assert.equal(await server.stop(), 0, `the test server should exit 0 on SIGTERM; its log:\n${server.log}`);
});
