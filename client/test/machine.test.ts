import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Machine, TRANSITIONS, transition, type Phase, type PhaseEvent } from '../src/machine.js';

const phases = Object.keys(TRANSITIONS) as Phase[];
const edges = (): string[] =>
  phases.flatMap((from) => Object.entries(TRANSITIONS[from]).map(([event, to]) => `${from} --> ${to} : ${event}`)).sort();

describe('the connection state machine', () => {
  it('goes through a connection that falls back, fails back, loses its session and closes', () => {
    const m = new Machine();
    const walk: [PhaseEvent, Phase][] = [
      ['start', 'negotiating'],
      ['session_ready', 'connecting'],
      ['open_failed', 'connecting'], // WebSocket did not open: SSE next
      ['opened', 'serving'],
      ['probe_due', 'probing'],
      ['probe_done', 'serving'],
      ['backoff', 'waiting'], // the stream dropped
      ['reconnect', 'connecting'],
      ['opened', 'serving'],
      ['renegotiate', 'negotiating'], // 401: the session is gone
      ['session_ready', 'connecting'],
      ['close', 'closed'],
      ['start', 'negotiating'],
      ['fatal', 'failed'],
      ['start', 'negotiating'],
    ];
    assert.equal(m.phase, 'idle');
    for (const [event, phase] of walk) assert.equal(m.fire(event), phase, `${event} → ${phase}`);
    assert.equal(m.phase, 'negotiating');
  });

  it('refuses moves no one drew, and leaves the phase as it was', () => {
    const m = new Machine();
    assert.throws(() => m.fire('opened'), /opened in idle/);
    assert.equal(m.phase, 'idle');
    m.fire('start');
    assert.throws(() => m.fire('probe_due'), /probe_due in negotiating/); // only an open transport is probed beside
    assert.equal(transition('waiting', 'fatal'), undefined); // a wait ends by going on, or by close()
    assert.equal(transition('serving', 'start'), undefined);
  });

  it('can close from every phase and start again from every stopped one', () => {
    for (const p of phases) assert.equal(transition(p, 'close'), 'closed', p);
    for (const p of ['idle', 'failed', 'closed'] as const) assert.equal(transition(p, 'start'), 'negotiating', p);
  });

  it('reaches every phase from idle', () => {
    const seen = new Set<Phase>(['idle']);
    for (let grew = true; grew; ) {
      grew = false;
      for (const p of [...seen]) {
        for (const next of Object.values(TRANSITIONS[p])) {
          if (!seen.has(next)) {
            seen.add(next);
            grew = true;
          }
        }
      }
    }
    assert.deepEqual([...seen].sort(), [...phases].sort());
  });

  it('is what client/README.md draws', () => {
    // dist-test/test/machine.test.js → client/README.md
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /```mermaid\n(stateDiagram-v2\n[\s\S]*?)```/.exec(readme);
    assert.ok(block, 'client/README.md has a mermaid stateDiagram-v2 block');
    const drawn = block[1]!
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^\w+ --> \w+ : \w+$/.test(l))
      .sort();
    assert.deepEqual(drawn, edges());
  });
});
