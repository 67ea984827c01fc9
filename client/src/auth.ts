/**
 * How a session's token travels (PROTOCOL.md §3a). Normally in the
 * Lifeline-Token header. Some proxies strip headers they do not know: SSE
 * then still authenticates by the session cookie, but every other request
 * gets 401, and renegotiating cannot help. A 401 on a token that is
 * certainly alive — no request with it succeeded yet, and the session was
 * issued or kept alive by a transport within its TTL — says so, and the
 * session switches to the headerless way: GET and DELETE requests name the
 * client (`?client=`) and the browser adds the session cookie; sends carry
 * the token in the JSON body. The token never goes into a URL. Each
 * session switches at most once; a 401 after that means it is really gone.
 */
import { TOKEN_HEADER } from './protocol.js';

export class SessionAuth {
  /** Whether requests leave the header out and prove the session otherwise. */
  headerless: boolean;
  /** A request authenticated the current way succeeded: a later 401 means the session ended. */
  #proven = false;
  #switched = false;
  /** When the session was last known alive: issued, or a transport of it heard from. */
  #seenAt: number;

  constructor(headerless: boolean, issuedAt: number) {
    this.headerless = headerless;
    this.#seenAt = issuedAt;
  }

  /** The token header, unless headerless. */
  headers(token: string): Record<string, string> {
    return this.headerless ? {} : { [TOKEN_HEADER]: token };
  }

  /** The query naming the client whose cookie proves the session, when headerless. */
  query(clientId: string): Record<string, string> {
    return this.headerless ? { client: clientId } : {};
  }

  /** A send's body: with the token when headerless. */
  body<T extends object>(msg: T, token: string): T | (T & { token: string }) {
    return this.headerless ? { ...msg, token } : msg;
  }

  /** A transport of the session was heard from: the server knows the session. */
  seen(now: number): void {
    this.#seenAt = Math.max(this.#seenAt, now);
  }

  /**
   * A request authenticated the current way succeeded. Returns whether it
   * is the first since a switch: the way is then worth remembering for the
   * next sessions.
   */
  succeeded(): boolean {
    const first = this.#switched && !this.#proven;
    this.#proven = true;
    return first;
  }

  /**
   * A request made with `usedHeaderless` got 401. Returns true when it
   * should be retried at once (the session switched ways now, or another
   * request already did); false when the session is gone: negotiate again.
   */
  unauthorized(usedHeaderless: boolean, now: number, ttlMs: number): boolean {
    if (usedHeaderless !== this.headerless) return true;
    if (this.#proven || this.#switched || now - this.#seenAt >= ttlMs) return false;
    this.#switched = true;
    this.headerless = !usedHeaderless;
    return true;
  }
}
