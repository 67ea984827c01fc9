// `npm install <path-to>/client` from a fresh checkout, then `import` in
// Node: the first thing a user of the package does. The checkout is made
// here from the files git would hand out (tracked or new, never ignored ones
// such as node_modules/ and dist/), so nothing built locally can hide a
// missing step; the package's `prepare` script must build dist/ on its own.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLIENT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const REPO_ROOT = resolve(CLIENT_ROOT, '..');

// npm itself, as the npm running these tests names it (npm_execpath), so that
// the test uses the same npm a user of this checkout would.
function npm(args: string[], cwd: string): string {
  const cli = process.env['npm_execpath'];
  const [cmd, pre] = cli && cli.endsWith('.js') ? [process.execPath, [cli]] : ['npm', []];
  try {
    return execFileSync(cmd, [...pre, ...args], { cwd, encoding: 'utf8', stdio: 'pipe', timeout: 150_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

// checkoutFiles lists client/'s files as a fresh clone would have them.
function checkoutFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', 'client'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  // --cached lists files deleted from the working tree but not yet from the index.
  return out.split('\0').filter((f) => f !== '' && existsSync(join(REPO_ROOT, f)));
}

test('npm install <path>/client from a fresh checkout, then import it in Node', { timeout: 180_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'lifeline-install-'));
  try {
    const files = checkoutFiles();
    assert.ok(files.includes('client/package.json'), 'git lists client/package.json');
    for (const f of files) {
      assert.ok(!/^client\/(node_modules|dist)\//.test(f), `${f} would be in a fresh checkout`);
      mkdirSync(dirname(join(tmp, 'checkout', f)), { recursive: true });
      cpSync(join(REPO_ROOT, f), join(tmp, 'checkout', f));
    }
    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));

    npm(['install', '--no-audit', '--no-fund', join(tmp, 'checkout/client')], app);

    const script = [
      "import { LifelineClient, PROTOCOL_VERSION } from '@lifeline-go/client';",
      "const c = new LifelineClient({ url: 'http://127.0.0.1:9/rt', topics: ['room:a'], autoStart: false });",
      'console.log(JSON.stringify({ ctor: typeof LifelineClient, protocol: PROTOCOL_VERSION, status: c.state.status }));',
    ].join('\n');
    writeFileSync(join(app, 'main.mjs'), script);
    const out = execFileSync(process.execPath, ['main.mjs'], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    const got = JSON.parse(out.trim()) as { ctor: string; protocol: number; status: string };
    assert.equal(got.ctor, 'function');
    assert.equal(got.protocol, 1);
    assert.equal(typeof got.status, 'string');
    assert.ok(
      existsSync(join(app, 'node_modules/@lifeline-go/client/dist/index.d.ts')),
      'the installed package carries its types',
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
