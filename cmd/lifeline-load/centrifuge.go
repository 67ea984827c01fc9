package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge"
)

// The centrifuge target: github.com/centrifugal/centrifuge, the library
// behind Centrifugo, with its in-memory broker. It lives in this tool's
// own module, so Lifeline's users never download it.
//
// Every client connects with a connect command and no token; OnConnecting
// subscribes it server-side to the bench channel, so the connect reply is
// its "open". WebSocket runs its JSON protocol (pushes coalesced by its
// writer, up to 16 per frame, newline-separated); SSE is its SSE handler
// with the connect command in the cf_connect query parameter, a
// receive-only stream of "data:" lines. Application pings are off
// (PingInterval -1), as Lifeline's heartbeats are pushed beyond the run.
// Defaults elsewhere: no write delay (unless -centrifuge-write-delay),
// no history, no presence.

// centrifugeConnect is the connect command every client sends.
const centrifugeConnect = `{"id":1,"connect":{}}`

// newCentrifuge returns a centrifuge node's handler of transport at the
// path the load generator uses for it, and POST /publish; the function
// that counts its connected clients (its WebSocket handler returns once
// the connection is upgraded, so counting requests in the handler would
// not do); and the function that shuts the node down.
func newCentrifuge(transport string, writeDelay time.Duration) (http.Handler, func() int64, func(), error) {
	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelNone})
	if err != nil {
		return nil, nil, nil, err
	}
	node.OnConnecting(func(context.Context, centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{
			Credentials:   &centrifuge.Credentials{UserID: ""},
			Subscriptions: map[string]centrifuge.SubscribeOptions{benchTopic: {}},
			WriteDelay:    writeDelay,
		}, nil
	})
	node.OnConnect(func(*centrifuge.Client) {})
	if err := node.Run(); err != nil {
		return nil, nil, nil, err
	}
	noPings := centrifuge.PingPongConfig{PingInterval: -1, PongTimeout: -1}
	mux := http.NewServeMux()
	switch transport {
	case transportWebSocket:
		mux.Handle(heldPath("", transport), centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{PingPongConfig: noPings}))
	case transportSSE:
		mux.Handle(heldPath("", transport), centrifuge.NewSSEHandler(node, centrifuge.SSEConfig{PingPongConfig: noPings}))
	default:
		return nil, nil, nil, fmt.Errorf("centrifuge: no %s transport here", transport)
	}
	var round atomic.Uint64
	mux.HandleFunc("POST "+pathPublish, func(w http.ResponseWriter, r *http.Request) {
		k, err := strconv.ParseUint(r.URL.Query().Get("k"), 10, 64)
		if err != nil {
			k = round.Add(1)
		}
		data, _ := json.Marshal(benchData{Round: k, Text: benchText})
		res, err := node.Publish(benchTopic, data)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b := []byte(`{"offset":` + strconv.FormatUint(res.Offset, 10) + `}`)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	})
	clients := func() int64 { return int64(node.Hub().NumClients()) }
	return mux, clients, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
	}, nil
}
