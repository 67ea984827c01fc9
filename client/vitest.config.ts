// The React hooks' tests (test-react/): Vitest in jsdom, against the real Go
// test server that `npm test` builds into .cache/ (see test/integration/harness.ts).
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  esbuild: { jsx: 'automatic' },
  test: {
    include: ['test-react/**/*.test.tsx'],
    environment: 'jsdom',
    testTimeout: 20_000,
    env: { LIFELINE_TESTSERVER: process.env.LIFELINE_TESTSERVER ?? resolve(import.meta.dirname, '.cache/testserver') },
  },
});
