/**
 * Wire types of the Lifeline protocol, version 1 (PROTOCOL.md at the
 * repository root). These mirror the JSON on the wire; both sides ignore
 * fields they do not know, so every response type here is a lower bound.
 */

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 1;

/** The request header that carries the session token. Never a URL. */
export const TOKEN_HEADER = 'Lifeline-Token';

/** Transport names reserved by the protocol. */
export type TransportName = 'websocket' | 'sse' | 'longpoll';

/** Transports this client implements: all of them. */
export type ClientTransport = TransportName;

/** Body of POST {base}/negotiate (§3). */
export interface NegotiateRequest {
  protocol: number;
  topics?: string[];
  cursor?: string;
  transports?: TransportName[];
  failed?: { transport: TransportName; reason: string }[];
  /** Transports that worked for this client recently (§3). */
  worked?: TransportName[];
  /** A random id the client keeps (localStorage), so that the server counts distinct clients behind one address (§3). */
  device?: string;
  meta?: Record<string, unknown>;
}

/** One transport the server advises, best first. */
export interface TransportInfo {
  name: string;
  url: string;
}

/** Response of a successful negotiate (§3). */
export interface NegotiateResponse {
  protocol: number;
  clientId: string;
  token: string;
  cursor: string;
  reset?: boolean;
  topics?: string[];
  transports: TransportInfo[];
  sendUrl?: string;
  pollTimeoutMs?: number;
  heartbeatMs?: number;
  sessionTtlMs?: number;
  maxMessageBytes?: number;
}

/**
 * The event envelope (§4), the same on every transport. `id` is the cursor
 * *after* this event.
 */
export interface Envelope<T extends string = string, D = unknown> {
  id: string;
  topic: string;
  type: T;
  data: D;
  /** Server time of publication, ms since the Unix epoch. */
  ts: number;
  /** The clientId that sent it through `send`; absent for server events. */
  from?: string;
  /** The mid of the send that published it (§6); absent for server events. */
  mid?: string;
  /** Present on ephemeral events (e.g. `typing`). */
  ttlMs?: number;
}

/** Response of GET {base}/poll (§5). */
export interface PollResponse {
  events?: Envelope[];
  cursor: string;
  more?: boolean;
  reset?: boolean;
  superseded?: boolean;
}

/** Body of POST {base}/send (§6). */
export interface SendRequest {
  topic: string;
  type: string;
  data: unknown;
  mid: string;
  ttlMs?: number;
}

/** The acknowledgement of a send (§6). `id` is absent when nothing was published. */
export interface Ack {
  mid: string;
  id?: string;
}

/** `data` of a `presence` event (§4). */
export interface PresenceData {
  clientId: string;
  action: 'join' | 'leave';
  meta?: unknown;
}

/** One client in a presence listing. */
export interface PresenceClient {
  clientId: string;
  meta?: unknown;
}

/** Response of GET {base}/presence (§4). */
export interface PresenceResponse {
  topic: string;
  clients: PresenceClient[];
}

/** Response of GET {base}/history (§7a): a topic's newest events, oldest first. */
export interface HistoryResponse {
  topic: string;
  events: Envelope[];
  /** Following the topic from here delivers exactly what came after `events`. */
  cursor: string;
  /** False when older events of the topic may have been lost: load them from the app. */
  complete: boolean;
}

/** An RFC 9457 problem document, the body of every error response (§2). */
export interface Problem {
  status?: number;
  title?: string;
  code?: string;
  detail?: string;
  [field: string]: unknown;
}
