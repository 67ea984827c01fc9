// Builds the Go test server (../internal/testkit/testserver) and the nginx and
// HAProxy helpers (../internal/testkit/nginxproxy, haproxyproxy) once for the integration tests, into .cache/.
// Skips, with a note, when the packages or the Go toolchain are missing; the
// integration tests then skip too. LIFELINE_TESTSERVER=/path/to/binary and
// LIFELINE_NGINXPROXY=/path/to/binary use prebuilt ones instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(root, '..');

function build(name, env) {
  const out = resolve(root, `.cache/${name}`);
  if (process.env[env]) {
    console.log(`${name}: using ${process.env[env]}`);
    return;
  }
  if (!existsSync(resolve(repo, `internal/testkit/${name}/main.go`))) {
    console.log(`${name}: ../internal/testkit/${name}/main.go not found; the tests that need it will be skipped`);
    return;
  }
  mkdirSync(dirname(out), { recursive: true });
  const started = Date.now();
  try {
    execFileSync('go', ['build', '-o', out, `./internal/testkit/${name}`], { cwd: repo, stdio: 'inherit' });
  } catch (err) {
    console.error(`${name}: go build failed: ${err.message}`);
    process.exit(1);
  }
  console.log(`${name}: built ${out} in ${Date.now() - started} ms`);
}

build('testserver', 'LIFELINE_TESTSERVER');
build('nginxproxy', 'LIFELINE_NGINXPROXY');
build('haproxyproxy', 'LIFELINE_HAPROXYPROXY');
