/**
 * What this client found of each transport: which failed, and why, and
 * which worked. Reported to the server in negotiate's `failed` and `worked`
 * (PROTOCOL.md §3), with a `device` id that lets the server count distinct
 * clients behind one address; shown in `state.skipped`. A verdict is
 * forgotten after FAILURE_MEMORY_MS (as long as the server remembers one).
 *
 * Kept in `localStorage` where there is one (option `storage`), so that a
 * page load behind a proxy that blocks WebSocket starts on what works, and
 * one that works tells the server so: one user's blocked WebSocket must not
 * demote it for the others at the same address. The same record keeps the
 * path's idle limit (idle.ts) for IDLE_MEMORY_MS, so that a page load
 * behind a proxy with a short read timeout starts below it. Storage errors (quota,
 * private modes, sandboxed frames) fall back to memory.
 */
import type { Clock } from './clock.js';
import { IDLE_MEMORY_MS, plausibleLimit } from './idle.js';
import type { ClientTransport } from './protocol.js';
import type { FailureReason } from './transport.js';

export const FAILURE_MEMORY_MS = 10 * 60_000;

/** Every transport, best first. */
export const RANKING: readonly ClientTransport[] = ['websocket', 'sse', 'longpoll'];

export const rank = (t: ClientTransport): number => RANKING.indexOf(t);

/** A failure as negotiate reports it. */
export interface Failure {
  transport: ClientTransport;
  reason: FailureReason;
}

/** The part of the Web Storage API the book uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The record as stored. */
interface StoredRecord {
  failed: { [t in ClientTransport]?: { reason: FailureReason; at: number } };
  worked: { [t in ClientTransport]?: number };
  /** When a proxy was last found stripping the Lifeline-Token header (auth.ts). */
  headerless?: number;
  /** The path's idle limit (idle.ts), and when it was learned or last confirmed. */
  idle?: { ms: number; at: number };
}

const DEVICE_KEY = 'lifeline:device';
const DEVICE_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const REASONS: readonly string[] = ['no_upgrade', 'open_timeout', 'no_first_byte', 'closed_early', 'error'];

/** `globalThis.localStorage` if it can be used, else null. */
export function defaultStorage(): StorageLike | null {
  try {
    const s = (globalThis as { localStorage?: StorageLike }).localStorage;
    return s && typeof s.getItem === 'function' ? s : null;
  } catch {
    return null; // a getter that throws: sandboxed or disabled
  }
}

/** A random id of 22 URL-safe characters: names nobody, only tells clients apart. */
function randomId(random: () => number): string {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  const bytes = new Uint8Array(20);
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  let out = 'd_';
  for (const b of bytes) out += abc[b & 63]!;
  return out;
}

export class FailureBook {
  readonly #clock: Clock;
  readonly #storage: StorageLike | null;
  readonly #key: string;
  #rec: StoredRecord = { failed: {}, worked: {} };
  /** Names this client (browser profile, or this instance without storage) to the server. */
  readonly device: string;

  /** `scope` keeps the records of different servers apart (the base URL). */
  constructor(clock: Clock, storage: StorageLike | null = null, scope = '', random: () => number = Math.random) {
    this.#clock = clock;
    this.#storage = storage;
    this.#key = `lifeline:transports:${scope}`;
    this.device = this.#loadDevice(random);
    this.#load();
  }

  record(transport: ClientTransport, reason: FailureReason): void {
    if (transport === 'longpoll') return;
    this.#load();
    this.#rec.failed[transport] = { reason, at: this.#clock.now() };
    delete this.#rec.worked[transport];
    this.#save();
  }

  /** The transport opened: its failure is forgotten, and it is known to work here. */
  worked(transport: ClientTransport): void {
    this.#load();
    delete this.#rec.failed[transport];
    if (transport !== 'longpoll') this.#rec.worked[transport] = this.#clock.now();
    this.#save();
  }

  reason(transport: ClientTransport): FailureReason | undefined {
    const f = this.#rec.failed[transport];
    return f && this.#fresh(f.at) ? f.reason : undefined;
  }

  list(): Failure[] {
    this.#load();
    return RANKING.flatMap((transport) => {
      const reason = this.reason(transport);
      return reason ? [{ transport, reason }] : [];
    });
  }

  /** The transports that worked here recently. */
  workedList(): ClientTransport[] {
    this.#load();
    return RANKING.filter((t) => {
      const at = this.#rec.worked[t];
      return at !== undefined && this.#fresh(at);
    });
  }

  /** Whether a proxy here was recently found stripping the Lifeline-Token header. */
  get headerless(): boolean {
    const at = this.#rec.headerless;
    return at !== undefined && this.#fresh(at);
  }

  set headerless(on: boolean) {
    this.#load();
    if (on) this.#rec.headerless = this.#clock.now();
    else delete this.#rec.headerless;
    this.#save();
  }

  /** The path's idle limit learned here within IDLE_MEMORY_MS (idle.ts), or undefined. */
  get idleLimitMs(): number | undefined {
    const idle = this.#rec.idle;
    return idle && this.#fresh(idle.at, IDLE_MEMORY_MS) ? idle.ms : undefined;
  }

  /** Stores the path's idle limit, learned or confirmed now. */
  set idleLimitMs(ms: number | undefined) {
    this.#load();
    if (plausibleLimit(ms)) this.#rec.idle = { ms, at: this.#clock.now() };
    else delete this.#rec.idle;
    this.#save();
  }

  #fresh(at: number, memoryMs = FAILURE_MEMORY_MS): boolean {
    const age = this.#clock.now() - at;
    return age >= 0 && age <= memoryMs;
  }

  #loadDevice(random: () => number): string {
    try {
      const d = this.#storage?.getItem(DEVICE_KEY);
      if (d && DEVICE_PATTERN.test(d)) return d;
      const id = randomId(random);
      this.#storage?.setItem(DEVICE_KEY, id);
      return id;
    } catch {
      return randomId(random);
    }
  }

  /** Reads the stored record (another tab may have written it), keeping only well-formed, fresh entries. */
  #load(): void {
    if (!this.#storage) return;
    let raw: unknown;
    try {
      raw = JSON.parse(this.#storage.getItem(this.#key) ?? 'null');
    } catch {
      return; // unreadable: keep what we have
    }
    if (!raw || typeof raw !== 'object') return;
    const r = raw as { failed?: unknown; worked?: unknown; headerless?: unknown; idle?: { ms?: unknown; at?: unknown } };
    const rec: StoredRecord = { failed: {}, worked: {} };
    for (const t of RANKING) {
      const f = (r.failed as { [k: string]: { reason?: unknown; at?: unknown } } | undefined)?.[t];
      if (f && typeof f.at === 'number' && typeof f.reason === 'string' && REASONS.includes(f.reason) && this.#fresh(f.at)) {
        rec.failed[t] = { reason: f.reason as FailureReason, at: f.at };
      }
      const w = (r.worked as { [k: string]: unknown } | undefined)?.[t];
      if (typeof w === 'number' && this.#fresh(w)) rec.worked[t] = w;
    }
    if (typeof r.headerless === 'number' && this.#fresh(r.headerless)) rec.headerless = r.headerless;
    const idle = r.idle;
    if (idle && plausibleLimit(idle.ms) && typeof idle.at === 'number' && this.#fresh(idle.at, IDLE_MEMORY_MS)) rec.idle = { ms: idle.ms, at: idle.at };
    this.#rec = rec;
  }

  #save(): void {
    try {
      this.#storage?.setItem(this.#key, JSON.stringify(this.#rec));
    } catch {
      // Quota or a disabled storage: the memory copy still serves this page.
    }
  }
}
