// Package negotiate serves Lifeline's handshake and its streaming
// transports, and mounts them with long-poll and send on a Gin router in one
// call.
//
// # Negotiate
//
// A client starts with POST {base}/negotiate. The response creates its
// session (a public clientId, and a secret token for the Lifeline-Token
// header, never put in a URL), tells it where to start reading (its cursor,
// or a reset when the cursor it asked to resume from can no longer be
// honoured) and lists, best first, the transports it should try: WebSocket,
// then Server-Sent Events, then long-poll, minus what the client does not
// support, with the transports that failed for it moved to the end: those
// it reports, and — when it reports nothing of a transport — those that
// most of the recent distinct clients at its address failed with (the
// failure memory counts clients, by the device id they report, so that one
// user behind a proxy that blocks WebSocket does not demote it for everyone
// behind the same NAT). PROTOCOL.md is the complete wire contract.
//
// # Proxies that strip the token header
//
// Behind a proxy that drops Lifeline-Token, the GET endpoints and DELETE
// {base}/session accept the per-session cookie named by ?client=, and sends
// the token in their JSON body (PROTOCOL.md §3a). A browser holds at most
// Config.MaxSessionCookies session cookies: negotiate clears the oldest.
//
// # Transports
//
// All three read the same longpoll.Buffer from the same cursor, so a client
// can fall back, fail back or reconnect without losing or repeating an
// event. A session has one receiver at a time; a new one supersedes the old.
//
//   - WebSocket (GET {base}/ws): the token comes in the first frame; the
//     Origin is checked (same origin or Config.AllowedOrigins); sends go
//     in-band with the same acknowledgements; pings keep it alive; each
//     event's frame is encoded once (gorilla/websocket's PreparedMessage)
//     for every connection.
//   - SSE (GET {base}/sse): the token comes in the header, or in the
//     per-session cookie for the browser's native EventSource; Last-Event-ID
//     resumes; the open event is flushed at once and a probe event
//     follows ProbeDelay later (a client that does not get it whole is
//     behind a proxy that holds frames), comments keep it alive, and
//     responses are never buffered by nginx or compressed by a gzip
//     middleware or a proxy that honours no-transform; streams recycle
//     themselves after 5 minutes or 8 MiB.
//
// A stream may ask for heartbeats more often than Config.Heartbeat, down to
// MinHeartbeat (the `heartbeat` query): a client behind a proxy that cuts
// idle responses sooner than the heartbeat does so once it learned the
// proxy's limit.
//   - Long-poll (GET {base}/poll): served by the longpoll package.
//
// Every write has a deadline: a client that stops reading is disconnected
// and resumes from its cursor, and publishers never wait for it.
//
// Streams are paced under bursts (Config.CoalesceWindow): a stream that
// wrote events less than a window ago (20 ms) holds the next ones until a
// tick shared by every stream, at most a window away, and writes all that
// came meanwhile at once, instead of one write, one system call, per
// event. An event that follows no other within a window goes out at once.
//
// # Limits
//
// Negotiate is rate-limited per client address (Config.NegotiateLimit);
// sends, idle polls and stream opens per session (longpoll.Config). A
// WebSocket client that keeps sending over its limit is closed with 1008.
// One address may hold at most Config.MaxHeldPerAddress polls, streams and
// WebSockets open in this process, and as many requests still sending their
// body; every body has longpoll.Config.BodyTimeout to arrive, from before
// any middleware. Mount applies all of these; an application that mounts
// the longpoll handlers on routes of its own does not get the per-address
// caps. The http.Server settings an application needs are in the README's
// production checklist.
//
// # Usage
//
//	lp := longpoll.New(longpoll.Config{})
//	r := gin.New()
//	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group("/rt"))
//	// ... serve r; at shutdown, lp.Close() before http.Server.Shutdown.
//
// Mount also serves the client's browser bundle at {base}/lifeline.js (see
// Config.DisableClientBundle), so a page can import the client with no npm.
// example/quickstart is a complete program.
//
// Handlers touch the *gin.Context only on the request's goroutine. A
// WebSocket stream outlives its upgrade request on a goroutine the
// longpoll.Server owns (its Close ends the streams and waits for them),
// with a copy of the request's *gin.Context made before the handler
// returned (see Handler.WebSocket); its one reader goroutine hands frames
// over to it.
package negotiate
