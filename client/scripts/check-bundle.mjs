// Fails when a committed build is not what `npm run build` would produce
// from the current sources: the browser bundle
// (../internal/clientbundle/lifeline.js, which the Go module embeds and
// negotiate serves) and the chat example's React page
// (../example/static/react/app.js, which the example embeds).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle, DEFAULT_OUTFILE } from './bundle.mjs';
import { buildExample, EXAMPLE_OUTFILE } from './build-example.mjs';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-bundle-'));
let stale = false;
try {
  for (const [name, build, committedPath] of [
    ['lifeline.js', bundle, DEFAULT_OUTFILE],
    ['react-example.js', buildExample, EXAMPLE_OUTFILE],
  ]) {
    const fresh = join(dir, name);
    await build(fresh);
    let committed;
    try {
      committed = readFileSync(committedPath);
    } catch {
      console.error(`check-bundle: ${committedPath} is missing: run \`npm run build\` in client/ and commit it`);
      stale = true;
      continue;
    }
    if (!committed.equals(readFileSync(fresh))) {
      console.error(`check-bundle: ${committedPath} is stale: run \`npm run build\` in client/ and commit it`);
      stale = true;
      continue;
    }
    console.log(`check-bundle: ${committedPath} is up to date`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (stale) process.exit(1);
