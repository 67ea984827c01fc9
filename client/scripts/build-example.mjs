// Builds the chat example's React page: example/react/main.tsx → one
// minified ESM file, example/static/react/app.js, which the Go example
// embeds and serves at /react (so `go run ./example` needs no npm).
//
//   node scripts/build-example.mjs [outfile]
//
// React comes from client/node_modules (pinned by package-lock.json), the
// hooks and the client from client/src. The output is deterministic; its
// banner names a digest of everything it was built from (sourcesDigest),
// which example/react_test.go recomputes without Node: a page left stale
// after a change fails `go test`, and scripts/check-bundle.mjs compares it
// byte for byte.
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROWSER_ESM } from './bundle.mjs';
import { digest } from './digest.mjs';

const client = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(client, '..');
export const EXAMPLE_OUTFILE = resolve(repo, 'example/static/react/app.js');

// The digest (scripts/digest.mjs) of the files the page depends on,
// relative to the repository. example/react_test.go lists the same ones.
export function exampleDigest() {
  return digest(repo, ['client/package-lock.json', 'client/scripts/build-example.mjs', 'client/scripts/bundle.mjs'], ['client/src', 'example/react']);
}

export async function buildExample(outfile) {
  await build({
    ...BROWSER_ESM,
    absWorkingDir: repo,
    entryPoints: ['example/react/main.tsx'],
    outfile,
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    nodePaths: [resolve(client, 'node_modules')],
    alias: {
      '@lifeline-go/client/react': resolve(client, 'src/react/index.ts'),
      '@lifeline-go/client': resolve(client, 'src/index.ts'),
    },
    banner: {
      js: `/* Lifeline chat example, React page (sources sha256 ${exampleDigest()}) — generated from example/react by \`npm run build\` in client/; do not edit. */`,
    },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ? resolve(process.argv[2]) : EXAMPLE_OUTFILE;
  await buildExample(out);
  console.log(`example: wrote ${out}`);
}
