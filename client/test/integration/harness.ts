/**
 * Runs the real Go test server (../internal/testkit/testserver) for integration
 * tests, and a real nginx in front of it (../internal/testkit/nginxproxy). `npm
 * test` builds both into .cache/ first (scripts/build-testserver.mjs);
 * LIFELINE_TESTSERVER and LIFELINE_NGINXPROXY override the paths. Without
 * the test server the integration suites are skipped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { WebSocket as WS } from 'ws';
import { LifelineClient, type LifelineOptions } from '../../src/index.js';
import type { Envelope } from '../../src/protocol.js';

/** client/ (this file runs from client/dist-test/test/integration). */
export const CLIENT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const SERVER_BIN = process.env.LIFELINE_TESTSERVER ?? resolve(CLIENT_ROOT, '.cache/testserver');
export const NGINX_BIN = process.env.LIFELINE_NGINXPROXY ?? resolve(CLIENT_ROOT, '.cache/nginxproxy');
export const HAPROXY_BIN = process.env.LIFELINE_HAPROXYPROXY ?? resolve(CLIENT_ROOT, '.cache/haproxyproxy');

/** Node 20 has no global WebSocket: the tests give the client the `ws` package's. */
export const WebSocket = WS;

/** A client with the `ws` WebSocket and quick backoff, unless opts say otherwise. */
export function newClient(opts: LifelineOptions): LifelineClient {
  return new LifelineClient({ WebSocket: WS, backoff: { minMs: 20, maxMs: 300 }, ...opts });
}
/** A reason to skip, or false. */
export const skip: string | false = existsSync(SERVER_BIN) ? false : `no test server at ${SERVER_BIN} (npm test builds it)`;

export interface ServerOptions {
  addr?: string;
  pollTimeout?: string;
  sessionTtl?: string;
  /** Stream heartbeat, e.g. '500ms'. */
  heartbeat?: string;
  /** SSE streams end with `event: recycle` after this long. */
  streamMaxAge?: string;
  /** How long negotiate remembers failed transports per address. */
  failureMemory?: string;
  disableWs?: boolean;
  disableSse?: boolean;
  /** Offer WebSocket but refuse its upgrades (toggle with setWebSocket). */
  refuseWs?: boolean;
  /** Turn off the negotiate and idle-request rate limits. */
  noLimits?: boolean;
  /** Per-session send limit (longpoll.Config.SendLimit). */
  sendLimit?: LimitFlags;
  /** Per-session limit of requests that bring nothing new (longpoll.Config.IdleLimit). */
  idleLimit?: LimitFlags;
  /** Per-address negotiate limit (negotiate.Config.NegotiateLimit). */
  negotiateLimit?: LimitFlags;
  /** Refused WebSocket sends in a row before close 1008. */
  floodClose?: number;
  /** Topics starting with this are refused (403 forbidden_topic), as by an application's Authorize hook. */
  forbidPrefix?: string;
}

/** A token bucket: `limit` per `period` (e.g. '1s'), bursts of `burst`; omitted: the server's default. */
export interface LimitFlags {
  limit?: number;
  period?: string;
  burst?: number;
}

const running = new Set<TestServer>();
process.on('exit', () => {
  for (const s of running) s.proc.kill('SIGKILL');
});

export class TestServer {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    private readonly exited: Promise<number | null>,
  ) {}

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** The base URL of Lifeline on this server. */
  get rt(): string {
    return `${this.url}/rt`;
  }

  static async start(opts: ServerOptions = {}): Promise<TestServer> {
    const args = ['-addr', opts.addr ?? '127.0.0.1:0', '-poll-timeout', opts.pollTimeout ?? '2s'];
    if (opts.sessionTtl) args.push('-session-ttl', opts.sessionTtl);
    if (opts.heartbeat) args.push('-heartbeat', opts.heartbeat);
    if (opts.streamMaxAge) args.push('-stream-max-age', opts.streamMaxAge);
    if (opts.failureMemory) args.push('-failure-memory', opts.failureMemory);
    if (opts.disableWs) args.push('-disable-ws');
    if (opts.disableSse) args.push('-disable-sse');
    if (opts.refuseWs) args.push('-refuse-ws');
    if (opts.noLimits) args.push('-no-limits');
    for (const [name, l] of [['send', opts.sendLimit], ['idle', opts.idleLimit], ['negotiate', opts.negotiateLimit]] as const) {
      if (l?.limit !== undefined) args.push(`-${name}-limit`, String(l.limit));
      if (l?.period !== undefined) args.push(`-${name}-period`, l.period);
      if (l?.burst !== undefined) args.push(`-${name}-burst`, String(l.burst));
    }
    if (opts.floodClose !== undefined) args.push('-flood-close', String(opts.floodClose));
    if (opts.forbidPrefix) args.push('-forbid-prefix', opts.forbidPrefix);
    // Binding a port just released can race with the old process's exit: retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        return await TestServer.spawnOnce(args);
      } catch (err) {
        if (attempt >= 20 || !String(err).includes('address already in use')) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private static spawnOnce(args: string[]): Promise<TestServer> {
    const proc = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    return new Promise<TestServer>((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`test server did not start within 10 s: ${stderr}`));
      }, 10_000);
      const lines = createInterface({ input: proc.stdout! });
      lines.on('line', (line) => {
        const m = /^LISTENING (http:\/\/\S+)$/.exec(line);
        if (!m) return;
        clearTimeout(timer);
        const s = new TestServer(proc, m[1]!, exited);
        running.add(s);
        resolve(s);
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`test server exited (${code}) before listening: ${stderr}`));
      });
    });
  }

  /**
   * SIGTERM (the server releases held polls with 503 shutting_down and
   * closes its listener), then SIGKILL after graceMs: http.Server.Shutdown
   * waits up to 5 s for connections that never sent a request, and undici
   * sometimes leaves one such spare connection open.
   */
  async stop(graceMs = 1000): Promise<void> {
    if (!running.has(this)) return;
    running.delete(this);
    this.proc.kill('SIGTERM');
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(killer);
  }

  async publish(topic: string, type: string, data: unknown, ttlMs?: number): Promise<string> {
    const res = await fetch(`${this.url}/test/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ topic, type, data, ...(ttlMs ? { ttlMs } : {}) }),
    });
    if (res.status !== 200) throw new Error(`publish: HTTP ${res.status} ${await res.text()}`);
    return ((await res.json()) as { id: string }).id;
  }

  async expireSessions(): Promise<void> {
    const res = await fetch(`${this.url}/test/expire-sessions`, { method: 'POST' });
    if (res.status !== 204) throw new Error(`expire-sessions: HTTP ${res.status}`);
  }

  /** Accepts (true) or refuses (false) WebSocket upgrades from now on. */
  async setWebSocket(enabled: boolean): Promise<void> {
    const res = await fetch(`${this.url}/test/ws?enabled=${enabled}`, { method: 'POST' });
    if (res.status !== 204) throw new Error(`test/ws: HTTP ${res.status}`);
  }

  async sends(): Promise<number> {
    const res = await fetch(`${this.url}/test/sends`);
    return ((await res.json()) as { count: number }).count;
  }

  /** Live sessions on the server. */
  async sessions(): Promise<number> {
    const res = await fetch(`${this.url}/test/sessions`);
    return ((await res.json()) as { count: number }).count;
  }
}

/** Why nginx tests cannot run, or false. Under CI=true they must run: the caller fails instead of skipping. */
export const nginxSkip: string | false = existsSync(NGINX_BIN) ? false : `no nginx proxy at ${NGINX_BIN} (npm test builds it)`;

/** Why HAProxy tests cannot run, or false. */
export const haproxySkip: string | false = existsSync(HAPROXY_BIN) ? false : `no HAProxy helper at ${HAPROXY_BIN} (npm test builds it)`;

/**
 * A real nginx in front of a test server (../internal/testkit/nginxproxy),
 * or a real HAProxy (../internal/testkit/haproxyproxy, `haproxy`).
 */
export class NginxProxy {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
  ) {}

  get rt(): string {
    return `${this.url}/rt`;
  }

  /**
   * Starts nginx in `mode` before `upstream` (host:port). Resolves with
   * null when nginx is not installed (the helper exits with status 3).
   */
  static start(upstream: string, mode: 'default' | 'buffering' | 'websocket' | 'short-timeout', bin = NGINX_BIN): Promise<NginxProxy | null> {
    const proc = spawn(bin, ['-upstream', upstream, '-mode', mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`nginx did not start within 10 s: ${stderr}`));
      }, 10_000);
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        const m = /^LISTENING (http:\/\/\S+)$/.exec(line);
        if (!m) return;
        clearTimeout(timer);
        const p = new NginxProxy(proc, m[1]!);
        proxies.add(p);
        resolve(p);
      });
      proc.on('exit', (code) => {
        clearTimeout(timer);
        if (code === 3) resolve(null);
        else reject(new Error(`nginxproxy exited (${code}) before listening: ${stderr}`));
      });
    });
  }

  /** Starts HAProxy in `mode` before `upstream`; null when HAProxy is not installed. */
  static haproxy(upstream: string, mode: 'default' | 'nodelay' | 'compress' | 'compress-stripped'): Promise<NginxProxy | null> {
    return NginxProxy.start(upstream, mode as 'default', HAPROXY_BIN);
  }

  async stop(): Promise<void> {
    if (!proxies.delete(this)) return;
    const exited = new Promise((r) => this.proc.on('exit', r));
    this.proc.kill('SIGTERM');
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(killer);
  }
}

const proxies = new Set<NginxProxy>();
process.on('exit', () => {
  for (const p of proxies) p.proc.kill('SIGKILL');
});

/** Waits ms. */
export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port nothing listens on (for "the server is down"). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Records what a client emits and waits for conditions on it. */
export class Recorder {
  events: Envelope[] = [];
  states: {
    status: string;
    transport: string | null;
    attempt: number;
    retryInMs?: number;
    error?: { code: string; retryAfterMs?: number };
    clientId?: string;
    skipped?: readonly { transport: string; reason: string }[];
    at: number;
  }[] = [];
  resets: { reason: string; cursor: string; previousCursor?: string }[] = [];
  private waiters = new Set<() => void>();

  constructor(client: LifelineClient) {
    client.on('event', (e) => {
      this.events.push(e);
      this.poke();
    });
    client.on('state', (s) => {
      this.states.push({ ...s, at: Date.now() });
      this.poke();
    });
    client.on('reset', (r) => {
      this.resets.push(r);
      this.poke();
    });
  }

  /** Events of a type (presence excluded by default). */
  of(type = 'message'): Envelope[] {
    return this.events.filter((e) => e.type === type);
  }

  /** Resolves once pred() holds; rejects after timeoutMs. Checked after every emission. */
  until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  private poke(): void {
    for (const w of [...this.waiters]) w();
  }
}
