/**
 * What the client learns of the network path's idle limit: a proxy that
 * cuts a response after so long without traffic (nginx's
 * `proxy_read_timeout`, 60 s by default, often set lower), shorter than the
 * server's poll hold or heartbeat. Such a proxy ends every quiet poll with
 * 504, or cuts every quiet stream, after the same time. Two quiet cuts at
 * about the same elapsed time teach the limit; from then on polls ask the
 * server to hold less (`timeout`) and streams ask for heartbeats more
 * often (`heartbeat`), both below the limit, and a cut at the limit (the
 * proxy changed its mind, say) is expected: reconnected at once, not
 * shown as trouble.
 *
 * The limit belongs to the path, not the page: the client keeps it in its
 * stored record per base URL (failures.ts, option `storage`) for
 * IDLE_MEMORY_MS after it was learned or last confirmed, and a page loaded
 * in that time starts adapted, without the two cuts. A limit that moved
 * lower is learned again from two cuts as before (and stored); one that
 * is gone (another network, a proxy reconfigured) costs only polls and
 * heartbeats shorter than needed until the record expires and the next
 * page load probes the server's full hold again.
 */

/** A quiet cut sooner than this says nothing of an idle limit (a server down answers at once). */
export const IDLE_CUT_MIN_MS = 2_000;
/** Two cuts this close (a fraction of the longer one, or IDLE_CUT_SLACK_MS) are the same limit. */
export const IDLE_CUT_TOLERANCE = 0.15;
export const IDLE_CUT_SLACK_MS = 500;
/** The poll hold asked for, as a fraction of the limit: room for the response to cross the proxy. */
export const IDLE_POLL_FRACTION = 0.75;
/** The heartbeat asked for, as a fraction of the limit: a late heartbeat still beats the cut. */
export const IDLE_HEARTBEAT_FRACTION = 0.5;
/** How long a stored limit is trusted after it was learned or last confirmed by a cut. */
export const IDLE_MEMORY_MS = 60 * 60_000;
/** A stored limit above this is not one this module learned (a server's hold is far shorter): ignored. */
export const IDLE_LIMIT_MAX_MS = 10 * 60_000;

/** Whether ms could be a learned limit: what a stored record must hold to be believed. */
export const plausibleLimit = (ms: unknown): ms is number => typeof ms === 'number' && ms >= IDLE_CUT_MIN_MS && ms <= IDLE_LIMIT_MAX_MS;

const near = (a: number, b: number): boolean => Math.abs(a - b) <= Math.max(IDLE_CUT_SLACK_MS, IDLE_CUT_TOLERANCE * Math.max(a, b));

export class IdleLimit {
  /** The quiet time of the last cut not yet explained. */
  #lastCut: number | undefined;
  #limit: number | undefined;
  readonly #learned: ((ms: number) => void) | undefined;

  /**
   * `known` is a limit learned before (a stored one, by an earlier page
   * load); `learned` is told of every limit learned or confirmed by a cut,
   * to store it.
   */
  constructor(known?: number, learned?: (ms: number) => void) {
    if (plausibleLimit(known)) this.#limit = known;
    this.#learned = learned;
  }

  /** The learned idle limit, in ms, or undefined. */
  get limitMs(): number | undefined {
    return this.#limit;
  }

  /**
   * Records that a connection was cut after `quietMs` without traffic.
   * Returns whether the cut was predicted: at the learned limit, or at the
   * time of the previous cut (which teaches the limit).
   */
  cut(quietMs: number): boolean {
    if (!(quietMs >= IDLE_CUT_MIN_MS)) return false;
    if (this.#limit !== undefined && near(quietMs, this.#limit)) {
      this.#learn(Math.min(this.#limit, quietMs));
      return true;
    }
    if (this.#lastCut !== undefined && near(quietMs, this.#lastCut)) {
      this.#learn(Math.min(this.#lastCut, quietMs));
      this.#lastCut = undefined;
      return true;
    }
    this.#lastCut = quietMs;
    return false;
  }

  #learn(ms: number): void {
    this.#limit = ms;
    this.#learned?.(ms);
  }

  /** The poll hold to ask for: under the limit, never more than the server's. Undefined: the server's. */
  pollTimeoutMs(serverMs: number): number | undefined {
    if (this.#limit === undefined) return undefined;
    const ms = Math.floor(this.#limit * IDLE_POLL_FRACTION);
    return ms < serverMs ? ms : undefined;
  }

  /** The heartbeat to ask for: under the limit, never more than the server's. Undefined: the server's. */
  heartbeatMs(serverMs: number): number | undefined {
    if (this.#limit === undefined) return undefined;
    const ms = Math.floor(this.#limit * IDLE_HEARTBEAT_FRACTION);
    return ms < serverMs ? ms : undefined;
  }
}
