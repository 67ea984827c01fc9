/**
 * The connection lifecycle as a state machine: the phases the supervisor
 * can be in, the events that move it, and the one table that says which
 * moves are legal. The supervisor decides which event happened (with the
 * pure functions of policy.ts); `Machine.fire` is the only place the phase
 * changes. client/README.md draws this table ("How the client works"), and
 * a test checks the drawing against it.
 */

/** Where the connection is. */
export type Phase =
  /** Not started yet. */
  | 'idle'
  /** Asking the server for a session (POST negotiate). */
  | 'negotiating'
  /** Opening a transport of the session, from the home transport down. */
  | 'connecting'
  /** A transport is open and delivering events. */
  | 'serving'
  /** Serving, while a better transport is tried on the side (failback). */
  | 'probing'
  /** Waiting out a backoff or the server's Retry-After before going on. */
  | 'waiting'
  /** Stopped by an error retrying cannot fix; `start()` begins again. */
  | 'failed'
  /** Stopped by `close()`; `start()` begins again. */
  | 'closed';

/** What happens to the connection. */
export type PhaseEvent =
  /** `start()`. */
  | 'start'
  /** A session is there and its topics are settled: open a transport. */
  | 'session_ready'
  /** No session, or new topics: negotiate (again). */
  | 'renegotiate'
  /** The transport being opened opened. */
  | 'opened'
  /** The transport being opened failed for a reason of its own: the next one down. */
  | 'open_failed'
  /** Open a transport of the same session again at once (no failure, or the first of a kind). */
  | 'reconnect'
  /** A failure: wait before going on. */
  | 'backoff'
  /** The failback timer fired: try a better transport beside the open one. */
  | 'probe_due'
  /** The probe opened (and took over) or failed (and the open transport goes on). */
  | 'probe_done'
  /** An error retrying cannot fix. */
  | 'fatal'
  /** `close()`. */
  | 'close';

/** Going on without waiting: another transport of the session, or a new session. */
const ONWARD = { reconnect: 'connecting', renegotiate: 'negotiating' } as const;
/** What can end any phase that is busy connecting or connected. */
const TROUBLE = { backoff: 'waiting', fatal: 'failed', close: 'closed' } as const;

/** Every legal move: TRANSITIONS[phase][event] is the next phase. */
export const TRANSITIONS: Readonly<Record<Phase, Readonly<Partial<Record<PhaseEvent, Phase>>>>> = {
  idle: { start: 'negotiating', close: 'closed' },
  negotiating: { session_ready: 'connecting', renegotiate: 'negotiating', ...TROUBLE },
  connecting: { opened: 'serving', open_failed: 'connecting', ...ONWARD, ...TROUBLE },
  serving: { probe_due: 'probing', ...ONWARD, ...TROUBLE },
  probing: { probe_done: 'serving', ...ONWARD, ...TROUBLE },
  waiting: { ...ONWARD, close: 'closed' },
  failed: { start: 'negotiating', close: 'closed' },
  closed: { start: 'negotiating', close: 'closed' },
};

/** The phase after `event` in `phase`, or undefined when the move is not legal. */
export function transition(phase: Phase, event: PhaseEvent): Phase | undefined {
  return TRANSITIONS[phase][event];
}

/** Holds the phase; every change goes through `fire`. */
export class Machine {
  #phase: Phase = 'idle';

  get phase(): Phase {
    return this.#phase;
  }

  /** Moves on `event`. An illegal move is a bug in the supervisor: it throws rather than drift into a state no one drew. */
  fire(event: PhaseEvent): Phase {
    const next = transition(this.#phase, event);
    if (!next) throw new Error(`lifeline: ${event} in ${this.#phase}`);
    return (this.#phase = next);
  }
}
