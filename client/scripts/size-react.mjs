// Measures the React entry (src/react/index.ts) as an app's bundler would
// ship it: esbuild, minified ESM for browsers, React external; gzip level 9.
// Prints its size alone (the core client, which an app imports anyway,
// external too) and with the core client bundled in.
//
//   node scripts/size-react.mjs
import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function size(withCore) {
  const external = {
    name: 'core-external',
    setup(b) {
      b.onResolve({ filter: /^\.\.\/index\.js$/ }, (args) => (withCore ? undefined : { path: args.path, external: true }));
    },
  };
  const out = await build({
    absWorkingDir: root,
    entryPoints: ['src/react/index.ts'],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    external: ['react', 'react-dom'],
    plugins: [external],
    logLevel: 'warning',
  });
  const code = out.outputFiles[0].contents;
  return { min: code.length, gzip: gzipSync(code, { level: 9 }).length };
}

const alone = await size(false);
const all = await size(true);
const kB = (n) => `${(n / 1000).toFixed(2)} kB`;
console.log(`react entry alone:       ${kB(alone.min)} min, ${kB(alone.gzip)} min+gzip (${alone.gzip} B)`);
console.log(`react entry + core:      ${kB(all.min)} min, ${kB(all.gzip)} min+gzip (${all.gzip} B)`);
