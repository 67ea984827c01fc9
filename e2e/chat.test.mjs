// Browser test of the example chat: two independent Chromium contexts chat
// over long-poll through the real Go server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const ARTIFACTS = path.join(HERE, 'artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const IN_CI = process.env.CI === 'true';
const WAIT_MS = 10_000;

const missing = !existsSync(CHROMIUM);
const skip = missing && !IN_CI
  ? `${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH`
  : false;

let tmp;
let server;
let serverLog = '';
let baseURL;
let browser;

/** Builds the example into the temporary directory. */
async function buildServer() {
  const bin = path.join(tmp, 'example');
  await promisify(execFile)('go', ['build', '-o', bin, './example'], { cwd: ROOT, timeout: 120_000 });
  return bin;
}

/** Starts the built example on addr; resolves with its URL once it listens. */
async function startServer(addr = '127.0.0.1:0') {
  server = spawn(path.join(tmp, 'example'), ['-addr', addr], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (chunk) => { serverLog += chunk; });
  const exited = new Promise((_, reject) => server.once('exit', (code) => reject(new Error(`example exited with ${code}:\n${serverLog}`))));
  const listening = new Promise((resolve) => {
    createInterface({ input: server.stdout }).on('line', (line) => {
      const m = /^LISTENING (http:\/\/\S+)$/.exec(line);
      if (m) resolve(m[1]);
    });
  });
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('example did not print LISTENING within 15 s')), 15_000).unref());
  return Promise.race([listening, exited, timeout]);
}

/** Stops the server with SIGTERM and resolves with its exit code. */
function stopServer() {
  if (!server || server.exitCode !== null) return Promise.resolve(server?.exitCode ?? null);
  return new Promise((resolve) => {
    const kill = setTimeout(() => server.kill('SIGKILL'), 5_000);
    server.once('exit', (code, signal) => { clearTimeout(kill); resolve(code ?? signal); });
    server.kill('SIGTERM');
  });
}

/** Opens the chat in a fresh browser context (its own storage) as nick. */
async function openChat(nick) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  page.on('console', (msg) => {
    // The browser logs every failed request; during the restart below those
    // are expected, and the client recovers from them.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(new Error(msg.text()));
  });
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(`${baseURL}/?transport=longpoll`);
  await page.getByTestId('nick-overlay').waitFor({ state: 'visible' });
  assert.notEqual(await page.getByTestId('nick-input').inputValue(), '', 'the nickname form offers a default name');
  if (nick === 'ada') await page.screenshot({ path: path.join(ARTIFACTS, 'nickname.png') });
  await page.getByTestId('nick-input').fill(nick);
  await page.getByTestId('nick-submit').click();
  await page.getByTestId('nick-overlay').waitFor({ state: 'hidden' });
  return { page, context, errors };
}

/** Waits until the element with testid contains text (string or RegExp). */
async function waitForText(page, testid, text) {
  try {
    await page.getByTestId(testid).filter({ hasText: text }).first().waitFor({ state: 'attached' });
  } catch (err) {
    const actual = await page.getByTestId(testid).allTextContents().catch(() => []);
    throw new Error(`[data-testid=${testid}] never showed ${text}; it shows ${JSON.stringify(actual)}`, { cause: err });
  }
}

before(async () => {
  if (skip) return;
  if (missing) throw new Error(`CI=true but ${CHROMIUM} is missing: the browser test cannot run`);
  tmp = await mkdtemp(path.join(tmpdir(), 'lifeline-e2e-'));
  await mkdir(ARTIFACTS, { recursive: true });
  await buildServer();
  baseURL = await startServer();
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
});

after(async () => {
  await browser?.close();
  const code = await stopServer();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (server) assert.equal(code, 0, `the example should exit 0 on SIGTERM; its log:\n${serverLog}`);
});

test('two browsers chat over long-poll', { skip }, async () => {
  const a = await openChat('ada');
  const b = await openChat('grace');

  // Both run on long-poll and are connected.
  await waitForText(a.page, 'transport', /long-poll · connected/);
  await waitForText(b.page, 'transport', /long-poll · connected/);
  assert.match(await a.page.locator('#transport').textContent(), /long-poll/);

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
  await b.page.getByTestId('notify-input').fill('Deploy at 17:00');
  await b.page.getByTestId('notify-button').click();
  await waitForText(a.page, 'notification', 'Deploy at 17:00');
  await waitForText(b.page, 'notification', 'Deploy at 17:00');

  // A shows another person typing so the screenshot has every part.
  await b.page.getByTestId('message-input').pressSequentially('one more');
  await waitForText(a.page, 'typing', 'grace is typing…');
  await a.page.screenshot({ path: path.join(ARTIFACTS, 'chat-a.png'), fullPage: true });
  await b.page.screenshot({ path: path.join(ARTIFACTS, 'chat-b.png'), fullPage: true });

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
  await b.page.setViewportSize({ width: 390, height: 844 });
  await b.page.screenshot({ path: path.join(ARTIFACTS, 'chat-b-mobile.png'), fullPage: true });

  // A server restart is a new buffer epoch: both pages reconnect on their
  // own, are told the history was reset, and chat on.
  assert.equal(await stopServer(), 0, `the example should exit 0 on SIGTERM; its log:\n${serverLog}`);
  const url = await startServer(new URL(baseURL).host);
  assert.equal(url, baseURL);
  for (const p of [a.page, b.page]) {
    await p.getByTestId('reset-banner').waitFor({ state: 'visible', timeout: 20_000 });
    await waitForText(p, 'transport', /long-poll · connected/);
  }
  assert.match(await a.page.getByTestId('reset-banner').textContent(), /history was reset; showing new messages/i);
  await a.page.getByTestId('message-input').fill('back after the restart');
  await a.page.getByTestId('send-button').click();
  await waitForText(a.page, 'message', 'back after the restart');
  await a.page.screenshot({ path: path.join(ARTIFACTS, 'chat-a-after-reset.png'), fullPage: true });
  await a.page.emulateMedia({ colorScheme: 'dark' });
  await a.page.screenshot({ path: path.join(ARTIFACTS, 'chat-a-dark.png'), fullPage: true, animations: 'disabled' });

  assert.deepEqual(a.errors.map(String), [], 'page A logged no errors');
  assert.deepEqual(b.errors.map(String), [], 'page B logged no errors');
  await a.context.close();
  await b.context.close();
});
