// Package negotiate serves Lifeline's handshake and mounts every transport
// on a Gin router in one call.
//
// A client starts with POST {base}/negotiate. The response creates its
// session (a public clientId and a secret token for the Lifeline-Token
// header), tells it where to start reading (its cursor, or a reset when the
// cursor it asked to resume from can no longer be honoured) and lists, best
// first, the transports it should try with their URLs. PROTOCOL.md is the
// complete wire contract.
//
// # Usage
//
//	lp := longpoll.New(longpoll.Config{})
//	defer lp.Close()
//	r := gin.Default()
//	negotiate.New(negotiate.Config{LongPoll: lp}).Mount(r.Group("/rt"))
//
// Mount registers negotiate, the long-poll transport, the send endpoint,
// presence and session end under the group's base path. The handlers touch
// the *gin.Context only on the request's goroutine.
package negotiate
