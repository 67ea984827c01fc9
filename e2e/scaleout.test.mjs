// Browser tests of scale-out: Chromium pages behind a REAL nginx that sends
// each request to the next of three example processes in turn (plain
// round-robin: no ip_hash, no sticky cookie), all three on one Redis — a
// redis-server of the test's own on a free port, so that nothing else's
// keys are in it. On each transport two pages chat both ways.
//
// nginx adds X-Upstream: $upstream_addr to every response (the only line of
// its config that is not in the README), and each page records, through a
// CDP session, which instance served each of its Lifeline requests. That
// shows the chat really crossed instances:
//   websocket, sse  the two pages receive on different instances, so every
//                   event reached at least one page from an instance other
//                   than the one it was published on;
//   longpoll        each page's polls were answered by at least two
//                   instances, on one session.
// Each page negotiates once: its session is served by every instance, and
// no request was answered 401 unknown_token (the client would renegotiate).
// A page closed on one instance is seen to leave by a page on another.
//
// Round-robin is deterministic, and the number of requests one page or one
// message makes is fixed, so traffic can fall into step with the rotation
// (a long-poll message is a send and two re-polls: three requests, three
// instances — each page polling the same instance forever). The test then
// moves the rotation on by one with a request of its own, as other clients
// would, and tries again, a bounded number of times.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  IN_CI, WAIT_MS, skipBrowser, requireBrowser, workspace, findExecutable, freePort, openChat,
  waitForText, waitForTransport, indicator, chatBothWays, screenshot, assertNoErrors,
} from './lib.mjs';

const INSTANCES = 3;
/** How many times a scenario nudges the rotation before it gives up. */
const MAX_NUDGES = 4;

let ws;
let exampleBin;
let redisBin;
let nginxBin;
/** Why the tests are skipped (a service missing, outside CI), once known. */
let missingServices = '';

before(async () => {
  if (skipBrowser) return;
  if (IN_CI) requireBrowser();
  redisBin = findExecutable('redis-server', ['/usr/bin/redis-server']);
  nginxBin = findExecutable('nginx', ['/usr/sbin/nginx', '/usr/local/sbin/nginx']);
  const missing = [
    !redisBin && 'redis-server (apt-get install -y redis-server)',
    !nginxBin && 'nginx (apt-get install -y nginx)',
  ].filter(Boolean);
  if (missing.length > 0) {
    if (IN_CI) throw new Error(`CI=true but ${missing.join(' and ')} is missing: the scale-out browser tests cannot run`);
    missingServices = `${missing.join(' and ')} is not installed: the scale-out browser tests are skipped`;
    return;
  }
  ws = await workspace();
  exampleBin = await ws.build('./example');
});

after(async () => {
  await ws?.cleanup();
});

/**
 * nginx round-robin over upstreams (host:port), as in the README's "Behind
 * nginx, three instances", plus the X-Upstream header for the test.
 * master_process off: one process, stopped with SIGTERM.
 */
function nginxConfig(dir, listen, upstreams) {
  return `
daemon off;
master_process off;
worker_processes 1;
${process.geteuid?.() === 0 ? 'user root;' : ''}
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  upstream lifeline {
${upstreams.map((u) => `    server ${u};`).join('\n')}
  }
  server {
    listen ${listen};
    location / {
      proxy_pass http://lifeline;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_read_timeout 1h;
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`;
}

/**
 * Starts redis-server, three examples on it and nginx in front of them.
 * Resolves with { url, redis, instances, nginx, names } (names: upstream
 * address → "instance N"), or null when a service is missing (outside CI).
 */
async function startCluster() {
  if (missingServices) return null;
  const redisPort = await freePort();
  const redis = await ws.service(redisBin,
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'redis-server', redisPort);
  const redisURL = `redis://127.0.0.1:${redisPort}/0`;
  const instances = await Promise.all(Array.from({ length: INSTANCES }, (_, i) =>
    ws.start(exampleBin, ['-addr', '127.0.0.1:0', '-redis', redisURL, '-trusted-proxy', '127.0.0.1/32'], `example ${i + 1}`)));
  const upstreams = instances.map((p) => new URL(p.url).host);
  const dir = await mkdtemp(path.join(ws.dir, 'nginx-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  await writeFile(conf, nginxConfig(dir, `127.0.0.1:${port}`, upstreams));
  const nginx = await ws.service(nginxBin, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], 'nginx', port);
  const names = new Map(upstreams.map((u, i) => [u, `instance ${i + 1}`]));
  return { url: nginx.url, redis, instances, nginx, names };
}

/** Stops the cluster; each example must exit 0 on SIGTERM. */
async function stopCluster(cluster) {
  await cluster.nginx.stop();
  for (const p of cluster.instances) {
    assert.equal(await p.stop(), 0, `${p.name} should exit 0 on SIGTERM; its log:\n${p.log}`);
  }
  await cluster.redis.stop();
}

/**
 * Records, in order, every Lifeline request of page with the instance that
 * answered it: [{ path, instance }], from nginx's X-Upstream header, read
 * through a CDP session (Playwright does not expose a WebSocket handshake's
 * headers).
 */
async function recordInstances(page, names) {
  const seen = [];
  const add = (url, headers) => {
    const { pathname } = new URL(url);
    if (!pathname.startsWith('/rt/')) return;
    const upstream = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-upstream')?.[1] ?? '(none)';
    seen.push({ path: pathname, instance: names.get(upstream) ?? upstream });
  };
  const socketURLs = new Map();
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Network.responseReceived', (e) => add(e.response.url, e.response.headers));
  cdp.on('Network.webSocketCreated', (e) => socketURLs.set(e.requestId, e.url));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => add(socketURLs.get(e.requestId), e.response.headers));
  await cdp.send('Network.enable');
  return seen;
}

/** Opens the chat through the cluster's nginx on transport and joins as nick; chat.requests records its instances. */
async function join(cluster, transport, nick) {
  let requests;
  const chat = await openChat(ws, `${cluster.url}/?transport=${transport}`, nick, {
    beforeJoin: async (page) => { requests = await recordInstances(page, cluster.names); }, // the client connects on join
  });
  chat.requests = requests;
  return chat;
}

/** The instances that answered chat's requests to path, without repeats. */
const instancesOf = (chat, path) => [...new Set(chat.requests.filter((r) => r.path === path).map((r) => r.instance))];

/** Waits (bounded) until chat has a response to path recorded; returns the instance of the latest. */
async function latestInstance(chat, path) {
  const until = Date.now() + WAIT_MS;
  for (;;) {
    const hits = chat.requests.filter((r) => r.path === path);
    if (hits.length > 0) return hits.at(-1).instance;
    if (Date.now() > until) throw new Error(`no response to ${path} was recorded; requests: ${JSON.stringify(chat.requests)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One request through nginx that moves its rotation on by one instance. */
async function nudge(cluster) {
  const res = await fetch(`${cluster.url}/static/favicon.svg`);
  await res.arrayBuffer();
  assert.equal(res.status, 200);
}

/** "path@instance, …" for a diagnostic. */
const trail = (chat) => chat.requests.map((r) => `${r.path.slice('/rt/'.length)}@${r.instance.replace('instance ', '')}`).join(' ');

/** Both pages are connected on transport, and each negotiated once. */
async function assertStayed(transport, ...chats) {
  for (const c of chats) {
    const ind = await indicator(c.page);
    assert.equal(ind.transport, transport, `still on ${transport}: ${ind.text}`);
    assert.equal(ind.status, 'connected', `still connected: ${ind.text}`);
    assert.equal(c.requests.filter((r) => r.path === '/rt/negotiate').length, 1,
      `one negotiate: the session was served by every instance (${trail(c)})`);
    assert.equal(await c.page.getByTestId('reset-banner').isVisible(), false, 'no history reset');
  }
}

/**
 * Joins as grace on transport until her receiving request (stream or
 * socket) lands on another instance than ada's, nudging the rotation
 * between tries. A page left behind is closed as a user would close it
 * (pagehide ends its session), and ada sees grace arrive and leave.
 */
async function joinOnAnotherInstance(cluster, transport, label, receive, ada) {
  const adaOn = await latestInstance(ada, receive);
  for (let tries = 0; ; tries++) {
    const grace = await join(cluster, transport, 'grace');
    await waitForTransport(grace, label);
    if (await latestInstance(grace, receive) !== adaOn) return { grace, tries };
    await waitForText(ada.page, 'presence-count', /^2$/);
    await grace.page.close({ runBeforeUnload: true });
    await waitForText(ada.page, 'presence-count', /^1$/);
    await grace.context.close();
    assert.ok(tries < MAX_NUDGES, `grace's ${receive} landed on ${adaOn}, ada's instance, ${tries + 1} times: is nginx round-robin?`);
    await nudge(cluster);
  }
}

const SCENARIOS = [
  { transport: 'websocket', label: /^WebSocket · connected$/, receive: '/rt/ws' },
  { transport: 'sse', label: /^SSE · connected$/, receive: '/rt/sse' },
  { transport: 'longpoll', label: /^long-poll · connected$/, receive: '/rt/poll' },
];

for (const { transport, label, receive } of SCENARIOS) {
  test(`three instances on Redis behind a round-robin nginx: two browsers chat over ${transport}`, { skip: skipBrowser }, async (t) => {
    const cluster = await startCluster();
    if (!cluster) return t.skip(missingServices);
    const started = Date.now();
    const a = await join(cluster, transport, 'ada');
    await waitForTransport(a, label);

    let b;
    if (transport === 'longpoll') {
      b = await join(cluster, transport, 'grace');
      await waitForTransport(b, label);
    } else {
      const { grace, tries } = await joinOnAnotherInstance(cluster, transport, label, receive, a);
      b = grace;
      t.diagnostic(`ada receives on ${await latestInstance(a, receive)}, grace on ${await latestInstance(b, receive)} (after ${tries} nudges)`);
    }

    await chatBothWays(a, b, `over ${transport} through three instances`);

    if (transport === 'longpoll') {
      // Each message moves the polls on; until both pages have been
      // answered by two instances, nudge the rotation and send another.
      let nudges = 0;
      while (instancesOf(a, receive).length < 2 || instancesOf(b, receive).length < 2) {
        assert.ok(nudges < MAX_NUDGES, `after ${nudges} nudges the polls still keep to one instance: ada ${trail(a)}; grace ${trail(b)}`);
        nudges++;
        await nudge(cluster);
        const text = `spread ${nudges}`;
        await a.page.getByTestId('message-input').fill(text);
        await a.page.getByTestId('message-input').press('Enter');
        await waitForText(b.page, 'message', text);
        await waitForText(a.page, 'message', text);
      }
      t.diagnostic(`polls answered by ada: ${instancesOf(a, receive).join(', ')}; grace: ${instancesOf(b, receive).join(', ')} (after ${nudges} nudges)`);
    } else {
      assert.notEqual(await latestInstance(a, receive), await latestInstance(b, receive), 'the pages still receive on different instances');
    }

    await assertStayed(transport, a, b);
    const all = new Set([...a.requests, ...b.requests].map((r) => r.instance));
    assert.ok(all.size >= 2, `Lifeline requests reached ${[...all].join(', ')}`);
    t.diagnostic(`ada: ${trail(a)}`);
    t.diagnostic(`grace: ${trail(b)}`);
    t.diagnostic(`${Date.now() - started} ms from ada's page to the end of the chat`);
    await screenshot(a.page, `scaleout-${transport}.png`);

    assertNoErrors(a, b);
    await a.context.close();
    await b.context.close();
    await stopCluster(cluster);
  });
}
