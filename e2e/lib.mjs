// Helpers shared by the browser tests: building and running the Go
// programs (the example, the test server, the nginx front) and the services
// they need (Redis, nginx), fresh Chromium contexts, and the chat steps every
// scenario repeats.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { promisify } from 'node:util';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..');
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const IN_CI = process.env.CI === 'true';
/** The longest any single wait may take, and the budget to settle on a transport. */
export const WAIT_MS = 10_000;

const chromiumMissing = !existsSync(CHROMIUM);
/** The `skip` option of every browser test: a reason when Chromium is missing (outside CI). */
export const skipBrowser = chromiumMissing && !IN_CI
  ? `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`
  : false;

/** Throws when Chromium is missing in CI, where skipping would hide the gap. */
export function requireBrowser() {
  if (chromiumMissing) throw new Error(`CI=true but ${CHROMIUM} is missing: the browser tests cannot run`);
}

/**
 * The first of paths that exists, else name found on PATH, else null: an
 * installed service's binary (e.g. findExecutable('redis-server',
 * ['/usr/bin/redis-server'])).
 */
export function findExecutable(name, paths = []) {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return [...paths, ...dirs.map((d) => path.join(d, name))].find((p) => existsSync(p)) ?? null;
}

/** A loopback port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Registers the test file's before/after hooks for a workspace with the Go
 * package pkg built into it (nothing when there is no browser outside CI;
 * an error when there is none under CI). Returns { ws, bin }, filled in
 * once before has run.
 */
export function builtWorkspace(pkg) {
  const fx = { ws: undefined, bin: undefined };
  before(async () => {
    if (skipBrowser) return;
    if (IN_CI) requireBrowser();
    fx.ws = await workspace();
    fx.bin = await fx.ws.build(pkg);
  });
  after(async () => {
    await fx.ws?.cleanup();
  });
  return fx;
}

/** A temporary directory for one test file: binaries and user-data dirs. */
export async function workspace() {
  await mkdir(ARTIFACTS, { recursive: true });
  const dir = await mkdtemp(path.join(tmpdir(), 'lifeline-e2e-'));
  const procs = new Set();
  const contexts = new Set();
  const own = (p) => {
    procs.add(p);
    p.exited.then(() => procs.delete(p));
    return p;
  };
  return {
    dir,
    /** Builds the Go package pkg (e.g. "./example") into the workspace; returns the binary. */
    async build(pkg) {
      const bin = path.join(dir, path.basename(pkg));
      await promisify(execFile)('go', ['build', '-o', bin, pkg], { cwd: ROOT, timeout: 180_000 });
      return bin;
    },
    /** Runs bin until it prints "LISTENING http://ADDR"; see startProcess. */
    async start(bin, args = [], name = path.basename(bin)) {
      return own(await startProcess(bin, args, name, printedURL));
    },
    /**
     * Runs a service that prints no URL (redis-server, nginx) until it
     * accepts TCP connections on 127.0.0.1:port; its `url` is
     * http://127.0.0.1:port. See startProcess.
     */
    async service(bin, args, name, port) {
      return own(await startProcess(bin, args, name, (child, p) => acceptsConnections(port, p)));
    },
    /** A new Chromium with its own fresh user-data dir; see openBrowser. */
    async browser(opts) {
      const ctx = await openBrowser(dir, opts);
      contexts.add(ctx);
      ctx.once('close', () => contexts.delete(ctx));
      return ctx;
    },
    /** Closes every browser, stops every process still running, removes the directory. */
    async cleanup() {
      await Promise.all([...contexts].map((c) => c.close().catch(() => {})));
      await Promise.all([...procs].map((p) => p.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A program started by startProcess: `url` is what ready resolved with,
 * `log` its stderr (and, for services, stdout) so far, `stop()` sends
 * SIGTERM (SIGKILL after 5 s) and resolves with the exit code (or signal),
 * `exited` resolves the same way whenever it exits. ready(child, p)
 * resolves once the program serves; it has 15 s.
 */
async function startProcess(bin, args, name, ready) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { name, child, url: '', log: '' };
  child.stderr.on('data', (chunk) => { p.log += chunk; });
  p.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  p.stop = () => {
    if (child.exitCode !== null || child.signalCode !== null) return p.exited;
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.kill('SIGTERM');
    return p.exited.finally(() => clearTimeout(kill));
  };
  let timer;
  const failed = new Promise((_, reject) => {
    p.exited.then((code) => reject(Object.assign(new Error(`${name} exited with ${code} before serving:\n${p.log}`), { exitCode: code })));
    timer = setTimeout(() => reject(new Error(`${name} did not serve within 15 s:\n${p.log}`)), 15_000);
  });
  try {
    p.url = await Promise.race([ready(child, p), failed]);
  } catch (err) {
    await p.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return p;
}

/** Resolves with the URL a Go program prints as "LISTENING http://ADDR" on stdout. */
function printedURL(child) {
  return new Promise((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^LISTENING (http:\/\/\S+)$/.exec(line);
      if (m) resolve(m[1]);
    });
  });
}

/**
 * Resolves with http://127.0.0.1:port once something accepts connections
 * there, trying every 20 ms while p runs; the child's stdout joins p.log.
 */
async function acceptsConnections(port, p) {
  p.child.stdout.on('data', (chunk) => { p.log += chunk; });
  let running = true;
  p.exited.then(() => { running = false; });
  while (running) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => { sock.destroy(); resolve(true); });
      sock.once('error', () => resolve(false));
    });
    if (ok) return `http://127.0.0.1:${port}`;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return new Promise(() => {}); // the exit is reported by startProcess
}

/**
 * Launches Chromium with a fresh user-data dir (nothing shared with any
 * other page: cookies, storage, cache) and returns its context, whose
 * first page is `context.page`. Console errors and page errors are
 * collected in `context.errors`, except messages matching opts.allowConsole
 * (the browser logs every failed request; some are expected).
 */
async function openBrowser(dir, opts = {}) {
  const { chromium } = await import('playwright-core');
  const userDataDir = await mkdtemp(path.join(dir, 'profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000,
    viewport: { width: 1280, height: 800 },
  });
  const page = context.pages()[0] ?? await context.newPage();
  const allow = [/^Failed to load resource/, ...(opts.allowConsole ?? [])];
  context.errors = [];
  page.on('pageerror', (err) => context.errors.push(err));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !allow.some((re) => re.test(msg.text()))) context.errors.push(new Error(msg.text()));
  });
  page.setDefaultTimeout(WAIT_MS);
  context.page = page;
  return context;
}

/**
 * Opens the chat at url in a fresh browser and joins as nick. Resolves
 * once the nickname is submitted, with { context, page, errors,
 * submittedAt } (submittedAt: when the client started connecting).
 */
export async function openChat(ws, url, nick, opts = {}) {
  const context = await ws.browser(opts);
  const { page } = context;
  await page.goto(url);
  await page.getByTestId('nick-overlay').waitFor({ state: 'visible' });
  assert.notEqual(await page.getByTestId('nick-input').inputValue(), '', 'the nickname form offers a default name');
  if (opts.beforeJoin) await opts.beforeJoin(page);
  await page.getByTestId('nick-input').fill(nick);
  const submittedAt = Date.now();
  await page.getByTestId('nick-submit').click();
  await page.getByTestId('nick-overlay').waitFor({ state: 'hidden' });
  return { context, page, errors: context.errors, submittedAt };
}

/** Waits until the element with testid contains text (string or RegExp). */
export async function waitForText(page, testid, text, timeout = WAIT_MS) {
  try {
    await page.getByTestId(testid).filter({ hasText: text }).first().waitFor({ state: 'attached', timeout });
  } catch (err) {
    const actual = await page.getByTestId(testid).allTextContents().catch(() => []);
    throw new Error(`[data-testid=${testid}] never showed ${text}; it shows ${JSON.stringify(actual)}`, { cause: err });
  }
}

/** The transport indicator as the page shows it: its text and data attributes. */
export function indicator(page) {
  return page.getByTestId('transport').evaluate((n) => ({
    text: n.textContent, status: n.dataset.status, transport: n.dataset.transport, skipped: n.dataset.skipped ?? '',
  }));
}

/**
 * Waits until the chat's indicator matches text, at most WAIT_MS after the
 * nickname was submitted (the budget a page has to settle on a transport),
 * and returns the indicator.
 */
export async function waitForTransport(chat, text) {
  const left = Math.max(1, WAIT_MS - (Date.now() - chat.submittedAt));
  await waitForText(chat.page, 'transport', text, left);
  const ind = await indicator(chat.page);
  ind.elapsedMs = Date.now() - chat.submittedAt;
  assert.ok(ind.elapsedMs <= WAIT_MS + 500, `settled after ${ind.elapsedMs} ms, want ≤ ${WAIT_MS} ms`);
  return ind;
}

/**
 * Two pages that follow #general chat both ways: each sees the other in
 * presence and typing, and each message reaches the other page with its
 * sender, marked as one's own on the sending page.
 */
export async function chatBothWays(a, b, tag) {
  await waitForText(b.page, 'presence-item', 'ada');
  await waitForText(a.page, 'presence-item', 'grace');

  const fromA = `hello from ada ${tag}`;
  await a.page.getByTestId('message-input').pressSequentially(fromA);
  await waitForText(b.page, 'typing', 'ada is typing…');
  await a.page.getByTestId('message-input').press('Enter');
  await waitForText(b.page, 'message', fromA);
  const received = b.page.getByTestId('message').filter({ hasText: fromA });
  assert.equal(await received.getByTestId('message-name').textContent(), 'ada');
  assert.equal(await received.getAttribute('data-mine'), 'false');
  const sent = a.page.getByTestId('message').filter({ hasText: fromA });
  await sent.waitFor();
  assert.equal(await sent.getAttribute('data-mine'), 'true');
  // A message ends the sender's typing indicator.
  await b.page.waitForFunction(() => document.querySelector('[data-testid="typing"]').textContent === '');

  const fromB = `hi ada, grace here ${tag}`;
  await b.page.getByTestId('message-input').pressSequentially(fromB);
  await waitForText(a.page, 'typing', 'grace is typing…');
  await b.page.getByTestId('send-button').click();
  await waitForText(a.page, 'message', fromB);
  assert.equal(await a.page.getByTestId('message').filter({ hasText: fromB }).getByTestId('message-name').textContent(), 'grace');
  await waitForText(b.page, 'message', fromB);
  await a.page.waitForFunction(() => document.querySelector('[data-testid="typing"]').textContent === '');
}

/** A screenshot into e2e/artifacts. */
export function screenshot(page, name, opts = {}) {
  return page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true, ...opts });
}

/** No page errors and no unexpected console errors on any of the chats. */
export function assertNoErrors(...chats) {
  for (const [i, c] of chats.entries()) assert.deepEqual(c.errors.map(String), [], `page ${i + 1} logged no errors`);
}
