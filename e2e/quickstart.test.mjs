// The README's quick start, both halves, in Chromium: the compiled Go
// program (example/quickstart, which the README shows verbatim) and the
// README's <script type="module"> block, which imports the client from the
// plugin's own bundle route (/rt/lifeline.js) — no npm, no static files.
// The page is the README's block as it stands, served at the program's
// origin as any page of the app would be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, WAIT_MS, skipBrowser, freePort, assertNoErrors, builtWorkspace } from './lib.mjs';

const fx = builtWorkspace('./example/quickstart');

/** The first ```html block of the README's "## Quick start" section. */
async function readmePageScript() {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('\n## Quick start\n')[1]?.split('\n## ')[0] ?? '';
  const m = /\n```html\n([\s\S]*?)\n```\n/.exec(section);
  assert.ok(m, "the README's quick start has an html block");
  return m[1];
}

test("the README's page loads the client from /rt/lifeline.js and receives the published event", { skip: skipBrowser }, async () => {
  const port = await freePort();
  const app = await fx.ws.service(fx.bin, ['-addr', `127.0.0.1:${port}`], 'quickstart', port);
  const script = await readmePageScript();
  assert.match(script, /from '\/rt\/lifeline\.js'/, 'the page imports the bundle from the mount point');

  const c = await fx.ws.browser();
  const { page } = c;
  const logged = []; // each console.log's arguments, as JSON values
  page.on('console', (msg) => {
    if (msg.type() === 'log') logged.push(Promise.all(msg.args().map((a) => a.jsonValue())));
  });
  const seen = async (pred) => (await Promise.all(logged)).some(pred);
  const waitFor = async (what, pred) => {
    const deadline = Date.now() + WAIT_MS;
    while (!(await seen(pred))) {
      assert.ok(Date.now() < deadline, `the page logged ${what} within ${WAIT_MS} ms; it logged ${JSON.stringify(await Promise.all(logged))}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const bundle = [];
  page.on('response', (res) => {
    if (res.url().endsWith('/rt/lifeline.js')) bundle.push(res.status());
  });
  // The page itself: the README's block in a document of the app's origin.
  // (The program serves no page; a response made up by the test instead,
  // through page.route, would not count as loopback for Chromium's Local
  // Network Access checks, which would then block the WebSocket.)
  await page.goto(`${app.url}/`); // gin's 404: any document of that origin
  await page.setContent(`<!doctype html>\n<title>quick start</title>\n${script}\n`);

  await waitFor('"connected"', (args) => args[0] === 'connected');
  // Its own send came back as an event of room:general.
  await waitFor('its message', (args) => args[0] === 'room:general' && args[1] === 'message' && args[2]?.text === 'hi');

  const res = await fetch(`${app.url}/deploy-done`, { method: 'POST' });
  assert.equal(res.status, 200, 'POST /deploy-done');
  await waitFor('the notification', (args) => args[0] === 'notifications' && args[1] === 'notification' && args[2]?.text === 'deployed');
  // notifications has no presence: no join was logged there.
  assert.ok(!(await seen((args) => args[0] === 'notifications' && args[1] === 'presence')), 'no presence in notifications');
  assert.deepEqual(bundle, [200], 'the bundle came from the plugin, once');
  assertNoErrors(c);

  await c.close();
  assert.equal(await app.stop(), 0, `the program exits cleanly on SIGTERM:\n${app.log}`);
});
