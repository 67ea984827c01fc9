import { clientError, type LifelineError } from './errors.js';

interface Job<T> {
  run: () => Promise<T>;
  started?: boolean;
  resolve: (value: T) => void;
  reject: (err: unknown) => void;
}

/**
 * A bounded queue that runs its jobs one at a time, in order: the outgoing
 * messages of a client. The job being run counts towards the bound; a push
 * beyond it rejects at once with `queue_full`.
 */
export class SerialQueue<T> {
  readonly #jobs: Job<T>[] = [];
  #running = false;
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`maxQueue must be a positive integer, got ${max}`);
  }

  /** Jobs waiting or running. */
  get size(): number {
    return this.#jobs.length;
  }

  /**
   * Queues run. When `giveUp` aborts before its turn, the job leaves the
   * queue and rejects with `reason()`; once running, run must stop on it.
   */
  push(run: () => Promise<T>, giveUp?: AbortSignal, reason?: () => unknown): Promise<T> {
    if (this.#jobs.length >= this.#max) {
      return Promise.reject(
        clientError('queue_full', `${this.#jobs.length} messages are already waiting to be sent (maxQueue ${this.#max})`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const job: Job<T> = { run, resolve, reject };
      this.#jobs.push(job);
      giveUp?.addEventListener('abort', () => {
        const i = this.#jobs.indexOf(job);
        if (i < 0 || job.started) return;
        this.#jobs.splice(i, 1);
        reject(reason?.());
      });
      void this.#drain();
    });
  }

  /**
   * Rejects every job with err. The job being run is settled now too; its
   * `run` must stop on its own (the caller aborts it).
   */
  rejectAll(err: LifelineError): void {
    const jobs = this.#jobs.splice(0);
    for (const job of jobs) job.reject(err);
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (let job = this.#jobs[0]; job; job = this.#jobs[0]) {
        job.started = true;
        try {
          job.resolve(await job.run());
        } catch (err) {
          job.reject(err);
        }
        // rejectAll may have emptied the queue meanwhile; drop the job only if it is still first.
        if (this.#jobs[0] === job) this.#jobs.shift();
      }
    } finally {
      this.#running = false;
    }
  }
}
