/**
 * @lifeline-go/client — the browser and Node client of Lifeline's wire
 * protocol v1 (PROTOCOL.md): negotiate, WebSocket, SSE and long-poll with
 * fallback, failback and lossless cursor resume, idempotent sends, presence.
 */
export { LifelineClient } from './client.js';
export { Outbox, type Outgoing, type OutgoingStatus, type OutboxOptions } from './outbox.js';
export { LifelineError, type ClientErrorCode } from './errors.js';
export { backoffDelay, backoffCeiling, parseRetryAfter, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export { newMid, MID_PATTERN } from './mid.js';
export type { Clock } from './clock.js';
export type { FetchLike } from './http.js';
export type { Unsubscribe, Listener } from './emitter.js';
export type { FailureReason } from './transport.js';
export type { StorageLike } from './failures.js';
export type { RateLimitInfo } from './ratelimit.js';
export type { WebSocketConstructor } from './websocket.js';
export {
  PROTOCOL_VERSION,
  TOKEN_HEADER,
  type Ack,
  type ClientTransport,
  type Envelope,
  type PresenceClient,
  type PresenceData,
  type PresenceResponse,
  type HistoryResponse,
  type Problem,
  type TransportName,
} from './protocol.js';
export type {
  BuiltinEvents,
  ClientEvents,
  ConnectionState,
  ConnectionStatus,
  DefaultEvents,
  EventMap,
  LifelineEvent,
  LifelineOptions,
  ResetInfo,
  ResetReason,
  SendOptions,
  SkippedTransport,
  SkipReason,
  WithBuiltins,
} from './types.js';
