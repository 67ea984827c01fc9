// Fails when the committed browser bundle (../internal/clientbundle/lifeline.js,
// which the Go module embeds and negotiate serves)
// is not what `npm run build` would produce from the current sources.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundle, DEFAULT_OUTFILE } from './bundle.mjs';

const dir = mkdtempSync(join(tmpdir(), 'lifeline-bundle-'));
try {
  const fresh = join(dir, 'lifeline.js');
  await bundle(fresh);
  let committed;
  try {
    committed = readFileSync(DEFAULT_OUTFILE);
  } catch {
    console.error(`check-bundle: ${DEFAULT_OUTFILE} is missing: run \`npm run build\` in client/ and commit it`);
    process.exit(1);
  }
  if (!committed.equals(readFileSync(fresh))) {
    console.error(`check-bundle: ${DEFAULT_OUTFILE} is stale: run \`npm run build\` in client/ and commit it`);
    process.exit(1);
  }
  console.log('check-bundle: the committed bundle is up to date');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
