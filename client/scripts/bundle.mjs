// Builds the browser bundle: src/index.ts → one minified ESM file.
//
//   node scripts/bundle.mjs [outfile]   (default ../example/static/lifeline.js)
//
// The output is deterministic (no timestamps, no absolute paths, pinned
// esbuild), so scripts/check-bundle.mjs can compare it byte for byte with
// the committed copy that the example app serves.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUTFILE = resolve(root, '../example/static/lifeline.js');

export async function bundle(outfile) {
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8'));
  await build({
    absWorkingDir: root,
    entryPoints: ['src/index.ts'],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    charset: 'utf8',
    banner: {
      js: `/* ${pkg.name} ${pkg.version} — generated from client/src by \`npm run build\` in client/; do not edit. */`,
    },
    logLevel: 'warning',
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_OUTFILE;
  await bundle(out);
  console.log(`bundle: wrote ${out}`);
}
