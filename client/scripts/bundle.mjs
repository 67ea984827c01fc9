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
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_OUTFILE = resolve(root, '../internal/clientbundle/lifeline.js');

// The files a bundle depends on, relative to client/, '/'-separated, sorted
// by code unit. internal/clientbundle/bundle_test.go lists the same ones.
function sourceFiles() {
  const files = ['package.json', 'tsconfig.json', 'scripts/bundle.mjs'];
  const walk = (dir) => {
    for (const e of readdirSync(resolve(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else files.push(rel);
    }
  };
  walk('src');
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// sourcesDigest is SHA-256 over each source file's path, a NUL, its bytes
// and a NUL, in sourceFiles order, in hex.
export function sourcesDigest() {
  const h = createHash('sha256');
  for (const f of sourceFiles()) {
    h.update(f);
    h.update('\0');
    h.update(readFileSync(resolve(root, f)));
    h.update('\0');
  }
  return h.digest('hex');
}

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
      js: `/* ${pkg.name} ${pkg.version} (sources sha256 ${sourcesDigest()}) — generated from client/src by \`npm run build\` in client/; do not edit. */`,
    },
    logLevel: 'warning',
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_OUTFILE;
  await bundle(out);
  console.log(`bundle: wrote ${out}`);
}
