// The `prepare` script: builds dist/ (the package's JavaScript and types),
// which git does not hold, so that `npm install <path-to>/client` works from
// a fresh checkout with no manual step. npm runs it after `npm ci` here, and
// in this directory when another project installs it from a path. In a
// checkout where nobody has installed the devDependencies yet, it first
// installs them (`npm ci`, from the lockfile, without scripts), because the
// compiler is one of them.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = resolve(root, 'node_modules/typescript/bin/tsc');

// The npm running this script may be installing another project: keep its
// notion of where to install out of the nested npm.
const env = { ...process.env };
for (const k of Object.keys(env)) {
  if (/^npm_config_(prefix|local_prefix|global|save.*|workspaces?|include_workspace_root)$/i.test(k)) delete env[k];
}

if (!existsSync(tsc)) {
  console.log('prepare: installing the devDependencies to build dist/');
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm && npm.endsWith('.js') ? [process.execPath, [npm]] : ['npm', []];
  execFileSync(cmd, [...args, 'ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: root, env, stdio: 'inherit' });
}
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
