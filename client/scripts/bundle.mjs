// Builds the browser bundle: src/index.ts → one minified ESM file.
//
//   node scripts/bundle.mjs [outfile]   (default ../internal/clientbundle/lifeline.js)
//
// The default output is the copy the Go module embeds and negotiate serves
// at {base}/lifeline.js. The output is deterministic (no timestamps, no
// absolute paths, pinned esbuild), so scripts/check-bundle.mjs can compare
// it byte for byte with the committed copy. Its banner names a digest of
// the sources it was built from (sourcesDigest below), which the Go test
// in internal/clientbundle recomputes without Node: a bundle left stale
// after a change to src/ fails `go test` too.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digest } from './digest.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUTFILE = resolve(root, '../internal/clientbundle/lifeline.js');

// sourcesDigest is the digest (scripts/digest.mjs) of the files a bundle
// depends on, relative to client/. internal/clientbundle's test lists the
// same ones.
export function sourcesDigest() {
  return digest(root, ['package.json', 'tsconfig.json', 'scripts/bundle.mjs'], ['src']);
}

// How every committed browser build is made: one deterministic, minified
// ES module (no source map, no comments, no paths, no timestamps).
export const BROWSER_ESM = Object.freeze({
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
});

export async function bundle(outfile) {
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
  await build({
    ...BROWSER_ESM,
    absWorkingDir: root,
    entryPoints: ['src/index.ts'],
    outfile,
    banner: {
      js: `/* ${pkg.name} ${pkg.version} (sources sha256 ${sourcesDigest()}) — generated from client/src by \`npm run build\` in client/; do not edit. */`,
    },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_OUTFILE;
  await bundle(out);
  console.log(`bundle: wrote ${out}`);
}
