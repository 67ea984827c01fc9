// The digest a build's banner names, so that a committed build can be
// checked against its sources without Node (the Go tests recompute it with
// internal/testkit/srcdigest): SHA-256 over each file's path (relative to
// base, '/'-separated), a NUL, its bytes and a NUL, sorted by path.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** `files` plus every file below each of `dirs`, relative to base, sorted by code unit. */
export function listFiles(base, files, dirs) {
  const out = [...files];
  const walk = (dir) => {
    for (const e of readdirSync(resolve(base, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else out.push(rel);
    }
  };
  for (const d of dirs) walk(d);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function digest(base, files, dirs) {
  const h = createHash('sha256');
  for (const f of listFiles(base, files, dirs)) {
    h.update(f);
    h.update('\0');
    h.update(readFileSync(resolve(base, f)));
    h.update('\0');
  }
  return h.digest('hex');
}
