// Package longpoll is the core of Lifeline: the cursor-based event buffer
// that every transport reads, client sessions and presence, the long-poll
// transport and the endpoint through which clients send messages.
//
// # The buffer
//
// A [Buffer] stores events by topic and hands them back after a [Cursor].
// One cursor covers every topic a client follows: sequence numbers are
// global to the buffer, so a client that follows "room:general" and
// "notifications" holds a single position. [Memory] is the in-memory
// implementation: per topic a ring of at most 1 000 events kept at most 10
// minutes, all of them within a byte budget (64 MiB) that evicts the oldest
// events of any topic first; seeks by binary search, appends that take one
// topic lock and never wait for readers, and waiters woken per topic, with
// no manager goroutine.
//
// When the events a cursor needs are gone (evicted, expired, or from another
// epoch, as after a restart of an in-memory buffer) a read says so with
// Batch.Reset instead of silently skipping ahead. Ephemeral events (a
// [Draft] with a TTL, such as typing indicators) are not delivered after
// their TTL, and losing them is never a reset.
//
// # Sessions, presence and handlers
//
// A [Server] owns sessions, created by [Server.Open] (the negotiate package
// calls it), each with a public client id and a secret token that clients
// send in the Lifeline-Token header. Sessions expire after 60 seconds
// without a request; presence publishes "join" and "leave" events, so a
// long-poll client is present while it keeps polling.
//
// [Server.PollHandler] holds a poll up to 25 seconds (below the 60 s idle
// timeout of common proxies) and answers as soon as an event arrives; a
// newer poll from the same session ends an older one. [Server.SendHandler]
// publishes client messages once per message id, through the application's
// Authorize and OnMessage hooks. [Server.Publish] is for the application's
// own events. The wire format of each endpoint is in PROTOCOL.md.
//
// # Several instances
//
// By default a Server keeps its buffer, sessions and presence in its own
// process. With Config.Backend (package llredis provides one on Redis),
// every instance of the app shares them, and any request of any client may
// reach any instance: the buffer is shared and its appends wake readers on
// every instance, sessions and their one-receiver rule hold across
// instances, each presence change is published once, and the per-session
// rate limits draw on one budget. [Buffer] conformance is checked by one
// suite for every implementation (package longpoll/buffertest).
//
// # Limits
//
// Per session, sends (Config.SendLimit), sends that create a topic
// (Config.TopicLimit) and polls that bring nothing new (Config.IdleLimit)
// are rate-limited with token buckets from the ratelimit package; refusals
// are 429 with Retry-After and the IETF RateLimit fields. A send's body has
// Config.BodyTimeout to arrive. A full topic table is 503 with Retry-After,
// after Memory has reclaimed the topics that hold only presence or expired
// events.
//
// # Operations
//
// Config.Observer is told of connections, sessions, deliveries (with each
// event's append time), resets and their cause (Batch.Cause), sends,
// rate-limit refusals and slow consumers, with labels from fixed sets
// only; package llprom exports them to Prometheus, and the default
// NopObserver costs an empty call. Config.Logger gets a line per session
// start and end, reported transport failure, reset and slow consumer, and
// rate-limit refusals aggregated per policy; never a token or message
// data. [Server.ReadyHandler] is a readiness check.
//
// # Concurrency and shutdown
//
// Every handler does all its work on the request's goroutine; hooks receive
// the request's *gin.Context on that goroutine. The one exception is a
// WebSocket stream (package negotiate), which outlives its upgrade
// request on a goroutine the Server owns (Server.Go): its sends reach the
// hooks on that goroutine with a copy of the upgrade request's
// *gin.Context (see Config.Authorize). A Server and a Memory each run one
// background goroutine (expiry sweeps) that Close stops. Close on a
// Server also ends every held poll at once with 503 and Retry-After, so
// clients reconnect, ends every stream, and waits for the goroutines
// started with Go; call it before http.Server.Shutdown.
package longpoll
