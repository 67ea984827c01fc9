/**
 * Failback: after falling back to a worse transport, probe the better ones
 * about every `failbackMs` (jittered) on the same session from the current
 * cursor, and switch back when one works.
 */
import type { Session } from './api.js';
import type { ClientContext } from './context.js';
import type { Link } from './link.js';
import type { Machine } from './machine.js';
import { betterOffers, probeDelay } from './policy.js';

/** What failback asks of the supervisor. */
export interface FailbackHost {
  readonly running: boolean;
  readonly session: Session | null;
  /** Shows the state again (a failed probe changes `skipped`). */
  showConnected(): void;
}

export class Failback {
  readonly #ctx: ClientContext;
  readonly #link: Link;
  readonly #machine: Machine;
  readonly #host: FailbackHost;
  #timer: unknown;
  /** The probing in progress, settled once it is over (and the phase is back to serving). */
  probing: Promise<void> | null = null;

  constructor(ctx: ClientContext, link: Link, machine: Machine, host: FailbackHost) {
    this.#ctx = ctx;
    this.#link = link;
    this.#machine = machine;
    this.#host = host;
  }

  /** Arms the timer, if a better transport is offered and nothing is being probed. */
  schedule(): void {
    this.cancel();
    const open = this.#link.openTransport;
    const s = this.#host.session;
    if (!this.#host.running || !open || this.probing || !s || !betterOffers(s.offers, open.name).length) return;
    const ms = probeDelay(this.#ctx.failbackMs, this.#ctx.random);
    if (ms === undefined) return; // failback is off
    this.#timer = this.#ctx.clock.setTimeout(() => {
      this.#timer = undefined;
      const session = this.#host.session;
      if (!session || !this.#link.openTransport || this.probing) return this.schedule();
      this.#machine.fire('probe_due');
      this.probing = this.#run(session).finally(() => {
        this.probing = null;
        if (this.#machine.phase === 'probing') this.#machine.fire('probe_done');
        this.schedule();
      });
    }, ms);
  }

  cancel(): void {
    if (this.#timer !== undefined) this.#ctx.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Probes the better transports, best first. While a probe opens, the
   * active transport starts no new receiver (a long-poll finishes its
   * request in flight and waits), so that the two do not keep superseding
   * each other. A probe that opens takes over (Link); one that fails is
   * remembered and the active transport goes on.
   */
  async #run(s: Session): Promise<void> {
    const { book, emitter } = this.#ctx;
    for (const offer of betterOffers(s.offers, this.#link.active?.name)) {
      const old = this.#link.openTransport;
      if (!old || this.#host.session !== s || !this.#host.running) return;
      old.pause?.();
      const r = await this.#link.probe(offer, s);
      if (r === 'open') return;
      old.resume?.();
      if (r.kind !== 'failed') return; // trouble with the session: the active transport sees it too
      book.record(offer.name, r.reason ?? 'error');
      if (r.error) emitter.emit('error', r.error);
      if (this.#link.openTransport === old) this.#host.showConnected();
    }
  }
}
