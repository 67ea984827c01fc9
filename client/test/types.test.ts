// Compile-time checks of the public types: this file must type-check
// (`tsc -p tsconfig.test.json`); the runtime part only constructs objects.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LifelineClient, type Ack, type ConnectionState, type LifelineEvent, type RateLimitInfo, type ResetInfo } from '../src/index.js';

interface ChatEvents {
  message: { text: string; name: string };
  typing: { name: string };
}

it('types events as a union discriminated on type', async () => {
  const client = new LifelineClient<ChatEvents>({ url: 'http://127.0.0.1:9/rt', autoStart: false });
  const off = client.on('event', (ev) => {
    if (ev.type === 'message') {
      const text: string = ev.data.text;
      void text;
      // @ts-expect-error typing data has no text
    } else if (ev.type === 'typing') ev.data.text;
    else if (ev.type === 'presence') {
      const action: 'join' | 'leave' = ev.data.action;
      void action;
    } else {
      const never: never = ev;
      void never;
    }
  });
  client.on('state', (s: ConnectionState) => void s.status);
  client.on('reset', (r: ResetInfo) => void r.cursor);
  client.on('error', (e) => void e.code);
  client.on('limits', (l: RateLimitInfo) => void [l.policy, l.remaining, l.resetInMs, l.quota, l.windowMs]);
  const limited: ConnectionState['status'] = 'rate-limited';
  void limited;
  const sends: RateLimitInfo | undefined = client.limits.sends;
  void sends;
  // @ts-expect-error unknown client event
  client.on('nope', () => {});
  const sent: Promise<Ack> = client.send('room:a', 'message', { text: 'hi', name: 'ada' });
  sent.catch(() => {});
  // @ts-expect-error wrong data for the type
  client.send('room:a', 'message', { text: 1 }).catch(() => {});
  // @ts-expect-error unknown type
  client.send('room:a', 'nope', {}).catch(() => {});
  off();
  await client.close();

  const any = new LifelineClient({ url: 'http://fake.test/rt', autoStart: false });
  any.on('event', (ev: LifelineEvent) => {
    const t: string = ev.type;
    const d: unknown = ev.data;
    void t;
    void d;
  });
  any.send('room:a', 'whatever', 42).catch(() => {});
  await any.close();
  assert.ok(true);
});
