// Builds the Go test server (../internal/testserver) once for the
// integration tests, into .cache/testserver. Skips, with a note, when the
// package or the Go toolchain is missing; the integration tests then skip
// too. LIFELINE_TESTSERVER=/path/to/binary uses a prebuilt one instead.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(root, '..');
const out = resolve(root, '.cache/testserver');

if (process.env.LIFELINE_TESTSERVER) {
  console.log(`testserver: using ${process.env.LIFELINE_TESTSERVER}`);
} else if (!existsSync(resolve(repo, 'internal/testserver/main.go'))) {
  console.log('testserver: ../internal/testserver/main.go not found; integration tests will be skipped');
} else {
  mkdirSync(dirname(out), { recursive: true });
  const started = Date.now();
  try {
    execFileSync('go', ['build', '-o', out, './internal/testserver'], { cwd: repo, stdio: 'inherit' });
  } catch (err) {
    console.error(`testserver: go build failed: ${err.message}`);
    process.exit(1);
  }
  console.log(`testserver: built ${out} in ${Date.now() - started} ms`);
}
