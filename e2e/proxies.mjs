// The example behind a REAL proxy, for the browser's proxy tests: nginx
// (internal/testkit/nginxproxy, the modes of internal/testkit/nginxtest) or
// HAProxy (internal/testkit/haproxyproxy, the modes of
// internal/testkit/haproxytest). Each scenario gets its own example
// server: the server remembers failed transports per client address, and
// every page here comes from 127.0.0.1. The proxy tests are split over
// files (proxy*.test.mjs) so that each stays within the runner's 90 s.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { IN_CI, skipBrowser, requireBrowser, workspace, freePort, waitForText, indicator } from './lib.mjs';

/** The helpers' exit status when their proxy is not installed. */
const PROXY_MISSING = 3;

/**
 * Registers the file's before/after hooks (a workspace with the example and
 * the proxy helpers built) and returns:
 *  - ws: the workspace, once before ran;
 *  - nginx(mode), haproxy(mode): start the proxy in front of a fresh
 *    example; resolve with { server, proxy }, or null when the proxy is
 *    not installed (outside CI), with the reason in missing.nginx /
 *    missing.haproxy;
 *  - stopAll(env, ...chats): close the chats, stop the proxy and the example
 *    (which must exit 0);
 *  - with { testserver: true }, testserverBehind(proxies, args) and
 *    stopTestserver(env, ...browsers): the Go test server (publishing,
 *    control endpoints) behind one nginx per entry of proxies.
 */
export function proxyFixture({ testserver = false } = {}) {
  const bins = {};
  const missing = { nginx: '', haproxy: '' };
  let ws;
  before(async () => {
    if (skipBrowser) return;
    if (IN_CI) requireBrowser();
    ws = await workspace();
    [bins.example, bins.nginx, bins.haproxy, bins.testserver] = await Promise.all([
      ws.build('./example'), ws.build('./internal/testkit/nginxproxy'), ws.build('./internal/testkit/haproxyproxy'),
      testserver ? ws.build('./internal/testkit/testserver') : undefined,
    ]);
  });
  after(async () => {
    await ws?.cleanup();
  });

  /**
   * Only nginx's websocket mode forwards Host. Behind its other modes the
   * app sees its own address as Host, so the page's origin (the proxy's)
   * looks foreign to its CORS check, which refuses even the page's module
   * script (403): the example is told the public origin with
   * -allow-origin, as the README advises when Host is not forwarded. The
   * proxy starts first (it needs only the upstream's address), so that its
   * origin is known.
   */
  /**
   * Starts the proxy of kind in mode in front of upstream (with flags);
   * resolves with it, or with null (the reason in missing[kind]) when it
   * is not installed, outside CI.
   */
  async function startProxy(kind, upstream, mode, flags = []) {
    if (missing[kind]) return null;
    try {
      return await ws.start(bins[kind], ['-upstream', upstream, '-mode', mode, ...flags], `${kind} (${[mode, ...flags].join(' ')})`);
    } catch (err) {
      if (err.exitCode !== PROXY_MISSING) throw err;
      if (IN_CI) throw new Error(`CI=true but ${kind} is not installed, so the proxy tests cannot run: ${err.message}`);
      missing[kind] = `${kind} is not installed (apt-get install -y ${kind}): the tests behind a real ${kind} are skipped`;
      return null;
    }
  }

  async function behind(kind, mode, foreignHost) {
    const upstream = `127.0.0.1:${await freePort()}`;
    const proxy = await startProxy(kind, upstream, mode);
    if (!proxy) return null;
    const args = ['-addr', upstream];
    if (foreignHost) args.push('-allow-origin', proxy.url);
    try {
      const server = await ws.start(bins.example, args, 'example');
      return { server, proxy };
    } catch (err) {
      await proxy.stop();
      throw err;
    }
  }

  return {
    get ws() { return ws; },
    missing,
    nginx: (mode) => behind('nginx', mode, mode !== 'websocket'),
    // HAProxy forwards Host; the example is told its origin all the same.
    haproxy: (mode) => behind('haproxy', mode, true),
    async stopAll(env, ...chats) {
      for (const c of chats) await c.context.close();
      await env.proxy.stop();
      assert.equal(await env.server.stop(), 0, `the example should exit 0 on SIGTERM; its log:\n${env.server.log}`);
    },

    /**
     * Starts one nginx per entry of proxies ({ mode, stripToken }) in front
     * of one test server started with args: every page behind any of them
     * reaches the server from nginx's 127.0.0.1, one address. Resolves with
     * { server, proxies }, or null when nginx is not installed (outside CI).
     */
    async testserverBehind(proxies, args = []) {
      const upstream = `127.0.0.1:${await freePort()}`;
      const started = [];
      try {
        for (const p of proxies) {
          const proxy = await startProxy('nginx', upstream, p.mode, p.stripToken ? ['-strip-token'] : []);
          if (!proxy) {
            await Promise.all(started.map((q) => q.stop()));
            return null;
          }
          started.push(proxy);
        }
        const server = await ws.start(bins.testserver, ['-addr', upstream, ...args], 'testserver');
        return { server, proxies: started };
      } catch (err) {
        await Promise.all(started.map((p) => p.stop()));
        throw err;
      }
    },

    async stopTestserver(env, ...browsers) {
      for (const b of browsers) await b.close();
      for (const p of env.proxies) await p.stop();
      assert.equal(await env.server.stop(), 0, `the test server should exit 0 on SIGTERM; its log:\n${env.server.log}`);
    },
  };
}

// Chromium logs a refused WebSocket handshake as a console error; behind a
// proxy that strips Upgrade that is the expected first step.
export const WS_REFUSED = /^WebSocket connection to '.*' failed/;

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * a sends n messages, gapMs apart; each must show on b's page within 1 s
 * of being sent, and once on each page. Returns the latencies (send →
 * shown on b), sorted.
 */
export async function promptMessages(a, b, tag, n, gapMs) {
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

/** Samples the indicator's status every 200 ms for ms: the statuses it showed. */
export async function statusesDuring(chat, ms) {
  const seen = new Set();
  const until = Date.now() + ms;
  while (Date.now() < until) {
    seen.add((await indicator(chat.page)).status);
    await delay(200);
  }
  return [...seen];
}
