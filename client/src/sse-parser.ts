/**
 * An incremental parser of the text/event-stream format (HTML Living
 * Standard, "Server-sent events", §9.2.6): lines end in CR, LF or CRLF (a CR
 * at the end of one chunk and an LF at the start of the next are one line
 * end); a leading BOM is dropped; `:` starts a comment; `data` lines are
 * joined with LF; a blank line dispatches; `id` sets the last event ID
 * (unless it contains NULL) and persists; `retry` takes only ASCII digits.
 */
export interface SseMessage {
  /** The `event` field, or "message". */
  event: string;
  data: string;
  /** The last event ID when the message was dispatched. */
  id: string;
}

export class SseParser {
  /** The last event ID buffer. */
  lastEventId = '';
  /** The reconnection time the stream advised, in ms. */
  retry: number | undefined;
  #rest = '';
  #data: string[] = [];
  #event = '';
  #started = false;
  #skipLF = false;
  readonly #onMessage: (m: SseMessage) => void;

  constructor(onMessage: (m: SseMessage) => void) {
    this.#onMessage = onMessage;
  }

  /** Whether part of a message has been fed that its end has not followed yet. */
  get pending(): boolean {
    return this.#rest !== '' || this.#data.length > 0 || this.#event !== '';
  }

  /** Feeds the next decoded chunk of the stream. */
  feed(chunk: string): void {
    let s = chunk;
    if (!this.#started && s.length) {
      this.#started = true;
      if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    }
    if (this.#skipLF && s.length) {
      this.#skipLF = false;
      if (s[0] === '\n') s = s.slice(1);
    }
    s = this.#rest + s;
    let i = 0;
    let cr = -2;
    let lf = -2;
    for (;;) {
      if (cr !== -1 && cr < i) cr = s.indexOf('\r', i);
      if (lf !== -1 && lf < i) lf = s.indexOf('\n', i);
      const end = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
      if (end < 0) break;
      this.#line(s.slice(i, end));
      i = end + 1;
      if (end === cr) {
        if (i === s.length) this.#skipLF = true;
        else if (s[i] === '\n') i++;
      }
    }
    this.#rest = s.slice(i);
  }

  #line(l: string): void {
    if (l === '') {
      if (this.#data.length) this.#onMessage({ event: this.#event || 'message', data: this.#data.join('\n'), id: this.lastEventId });
      this.#data = [];
      this.#event = '';
      return;
    }
    const colon = l.indexOf(':');
    if (colon === 0) return; // a comment
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? '' : l.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
    }
  }
}
