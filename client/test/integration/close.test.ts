import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LifelineClient } from '../../src/index.js';
import { CLIENT_ROOT, Recorder, TestServer, WebSocket, freePort, skip } from './harness.js';

describe('against the Go server: close()', { skip }, () => {
  let server: TestServer;
  let watcher: LifelineClient | undefined;
  before(async () => {
    server = await TestServer.start({ pollTimeout: '20s' }); // polls held far longer than the test
  });
  after(async () => {
    await watcher?.close();
    await server?.stop();
  });

  it('cancels everything: the process exits on its own right after close()', async () => {
    watcher = new LifelineClient({ url: server.rt, topics: ['room:close'], WebSocket });
    const rec = new Recorder(watcher);
    await rec.until(() => rec.states.at(-1)?.status === 'connected', 'watcher connected');
    const deadPort = await freePort();

    const fixture = resolve(CLIENT_ROOT, 'dist-test/test/fixtures/close-and-exit.js');
    const child = spawn(process.execPath, [fixture, server.rt, `http://127.0.0.1:${deadPort}/rt`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const exitedAt = Date.now();
    assert.equal(code, 0, out);
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as {
      clientId: string;
      closedAt: number;
      closeMs: number;
      doneAt: number;
      results: string[];
      transports: string[];
      states: string[];
    };
    // Nothing kept the event loop alive: no WebSocket, no SSE stream, no held poll (20 s), no backoff timer (≈ 60 s).
    assert.ok(exitedAt - report.doneAt < 1500, `exited ${exitedAt - report.doneAt} ms after close() resolved`);
    // close() waits for DELETE {base}/session at most 2 s.
    assert.ok(report.closeMs < 3000, `close() took ${report.closeMs} ms`);
    assert.deepEqual(report.results, ['closed', 'closed', 'closed', 'closed'], 'pending send ×2, presence, setTopics');
    assert.deepEqual(report.transports, ['websocket', 'sse', 'longpoll']);
    assert.deepEqual(report.states, ['disconnected', 'disconnected', 'disconnected', 'disconnected']);
    // And the session was ended at once: the watcher saw the leave.
    await rec.until(
      () =>
        rec
          .of('presence')
          .some((e) => (e.data as { clientId: string; action: string }).clientId === report.clientId && (e.data as { action: string }).action === 'leave'),
      'the leave of the closed client',
      3000,
    );
  });
});
