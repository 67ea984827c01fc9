// The example with -postgres, in Chromium: a row inserted into the
// notifications table with psql appears, within a second, in three open
// pages, one on each transport (WebSocket, SSE, long-poll).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import {
  IN_CI, skipBrowser, requireBrowser, workspace, openChat, waitForText, waitForTransport, assertNoErrors, findExecutable,
} from './lib.mjs';

const run = promisify(execFile);
const PSQL = findExecutable('psql', ['/usr/bin/psql']);
/** The machine's PostgreSQL, as .ci/run prepares it. */
const PG = ['-h', '127.0.0.1', '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-Atc'];
const psql = (db, sql) => run(PSQL, [...PG, sql, db], { timeout: 20_000 });

/** Why the test cannot run here, or false. CI fails instead of skipping. */
async function missingPostgres() {
  if (!PSQL) return 'psql is not installed (apt-get install postgresql-client)';
  try {
    const { stdout } = await psql('postgres', 'show wal_level');
    if (stdout.trim() !== 'logical') return `PostgreSQL has wal_level = ${stdout.trim()}; .ci/run sets it to logical`;
  } catch (err) {
    return `PostgreSQL is not reachable at 127.0.0.1:5432 as postgres: ${err.message}`;
  }
  return false;
}

let ws;
let exampleBin;
let db;
let skip = skipBrowser;

before(async () => {
  if (skipBrowser) return;
  if (IN_CI) requireBrowser();
  const missing = await missingPostgres();
  if (missing) {
    if (IN_CI) throw new Error(`CI=true but ${missing}`);
    skip = missing;
    return;
  }
  ws = await workspace();
  exampleBin = await ws.build('./example');
  db = `lle2e_${randomBytes(6).toString('hex')}`;
  await psql('postgres', `CREATE DATABASE ${db}`);
});

after(async () => {
  await ws?.cleanup(); // stops the example, so its slot is free to drop
  if (db) await psql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
});

test('a row inserted with SQL appears in every open page, on every transport', { skip: skipBrowser }, async (t) => {
  if (skip) return t.skip(skip);
  const server = await ws.start(exampleBin, ['-addr', '127.0.0.1:0', '-postgres', `postgres://postgres@127.0.0.1:5432/${db}?sslmode=disable`], 'example');
  const pages = [
    [await openChat(ws, `${server.url}/`, 'ada'), /^WebSocket · connected$/],
    [await openChat(ws, `${server.url}/?transport=sse`, 'grace'), /^SSE · connected$/],
    [await openChat(ws, `${server.url}/?transport=longpoll`, 'linus'), /^long-poll · connected$/],
  ];
  for (const [c, want] of pages) await waitForTransport(c, want);

  const text = `deployed ${randomBytes(3).toString('hex')}`;
  const inserted = Date.now();
  await psql(db, `INSERT INTO notifications(text) VALUES ('${text}')`);
  await Promise.all(pages.map(([c]) => waitForText(c.page, 'notification', text)));
  const took = Date.now() - inserted;
  assert.ok(took < 1500, `the row reached every page in ${took} ms (psql's own start included), want about a second at most`);
  assertNoErrors(...pages.map(([c]) => c));
});
