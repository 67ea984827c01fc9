package negotiate

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/lifeline-go/lifeline/internal/body"
	"github.com/lifeline-go/lifeline/internal/problem"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/ratelimit"
)

// ProtocolVersion is the wire protocol version this package speaks
// (PROTOCOL.md).
const ProtocolVersion = 1

// Transport names, in the order a client should prefer them.
const (
	WebSocket = "websocket"
	SSE       = "sse"
	LongPoll  = "longpoll"
)

// Routes, relative to the base path.
const (
	routeNegotiate = "/negotiate"
	routeWebSocket = "/ws"
	routeSSE       = "/sse"
	routePoll      = "/poll"
	routeSend      = "/send"
	routePresence  = "/presence"
	routeHistory   = "/history"
	routeSession   = "/session"
)

// Handler serves the negotiate handshake and the WebSocket and SSE
// transports, and mounts them with long-poll and send. It owns no
// goroutines and has no Close: SSE streams run on their requests'
// goroutines; a WebSocket stream runs, once upgraded, on a goroutine that
// the Server passed in Config owns (longpoll.Server.Go), whose Close ends
// it and waits for it; the Server owns everything else.
type Handler struct {
	cfg        Config
	lp         *longpoll.Server
	failures   *failures
	held       *heldConns // polls and streams; nil when Config.DisableHeldLimit
	bodies     *heldConns // requests receiving a body; nil likewise
	wsUpgrader *websocket.Upgrader
	// endSessionHandler is the longpoll handler that ends a session.
	endSessionHandler gin.HandlerFunc
	// pace paces every stream's writes (Config.CoalesceWindow); nil: off.
	pace *pacer
}

// New returns a Handler for cfg. It panics if cfg.LongPoll is nil, a
// programming error caught at start-up.
func New(cfg Config) *Handler {
	if cfg.LongPoll == nil {
		panic(ErrNoServer.Error())
	}
	cfg = cfg.shared()
	h := &Handler{cfg: cfg.withDefaults(), lp: cfg.LongPoll}
	h.failures = &failures{store: h.cfg.FailureStore, ttl: h.cfg.FailureMemory, window: h.cfg.FailureWindow, now: h.lp.Config().Now, log: h.lp.Config().Logger}
	if h.failures.store == nil {
		h.failures.store = newMemoryFailures()
	}
	if !h.cfg.DisableHeldLimit {
		h.held = newHeldConns(h.cfg.MaxHeldPerAddress)
		h.bodies = newHeldConns(h.cfg.MaxHeldPerAddress)
	}
	h.wsUpgrader = h.upgrader()
	h.endSessionHandler = h.lp.EndSessionHandler()
	h.pace = newPacer(h.cfg.CoalesceWindow)
	return h
}

// Mount registers every Lifeline route on r:
//
//	POST   {base}/negotiate
//	GET    {base}/ws       (unless Config.DisableWebSocket)
//	GET    {base}/sse      (unless Config.DisableSSE)
//	GET    {base}/poll
//	POST   {base}/send
//	GET    {base}/presence
//	GET    {base}/history
//	DELETE {base}/session
//	GET    {base}/lifeline.js  (and HEAD; the client bundle, unless Config.DisableClientBundle)
//
// where {base} is r's base path when r is a *gin.RouterGroup (or a
// *gin.Engine), unless Config.BasePath says otherwise.
func (h *Handler) Mount(r gin.IRoutes) {
	if h.cfg.BasePath == "" {
		if g, ok := r.(interface{ BasePath() string }); ok {
			h.cfg.BasePath = strings.TrimSuffix(g.BasePath(), "/")
		}
	}
	if h.cfg.DisableNegotiateLimit {
		r.POST(routeNegotiate, h.boundBody, h.Negotiate)
	} else {
		r.POST(routeNegotiate, h.boundBody, ratelimit.New(h.reportingLimited(h.cfg.NegotiateLimit)), h.Negotiate)
	}
	if !h.cfg.DisableWebSocket {
		r.GET(routeWebSocket, h.WebSocket)
	}
	if !h.cfg.DisableSSE {
		r.GET(routeSSE, h.SSE)
	}
	r.GET(routePoll, h.capPolls, h.cookieAuth, h.lp.PollHandler())
	r.POST(routeSend, h.boundBody, h.lp.SendHandler())
	r.GET(routePresence, h.cookieAuth, h.lp.PresenceHandler())
	r.GET(routeHistory, h.cookieAuth, h.lp.HistoryHandler())
	r.DELETE(routeSession, h.cookieAuth, h.endSession)
	if !h.cfg.DisableClientBundle {
		r.GET(routeClient, h.clientBundle)
		r.HEAD(routeClient, h.clientBundle)
	}
}

// reportingLimited returns cfg with an OnLimited that reports each refusal
// to the Server (its Observer and aggregated log) before answering as cfg
// would.
func (h *Handler) reportingLimited(cfg ratelimit.Config) ratelimit.Config {
	answer := cfg.OnLimited
	if answer == nil {
		answer = ratelimit.WriteLimited
	}
	cfg.OnLimited = func(c *gin.Context, d ratelimit.Decision) {
		h.lp.RateLimited(longpoll.PolicyNegotiate)
		answer(c, d)
	}
	return cfg
}

// Request is the optional JSON body of negotiate (PROTOCOL.md §3).
// Unknown fields are ignored.
type Request struct {
	Protocol   int             `json:"protocol"`
	Topics     []string        `json:"topics"`
	Cursor     string          `json:"cursor"`
	Transports []string        `json:"transports"`
	Failed     []Failure       `json:"failed"`
	Worked     []string        `json:"worked"`
	Device     string          `json:"device"`
	Meta       json.RawMessage `json:"meta"`
}

// A Failure is a transport that failed for the client, and why.
type Failure struct {
	Transport string `json:"transport"`
	Reason    string `json:"reason"`
}

// Response is the body of a successful negotiate (PROTOCOL.md §3).
type Response struct {
	Protocol        int             `json:"protocol"`
	ClientID        string          `json:"clientId"`
	Token           string          `json:"token"`
	Cursor          string          `json:"cursor"`
	Reset           bool            `json:"reset"`
	Topics          []string        `json:"topics"`
	Transports      []TransportInfo `json:"transports"`
	SendURL         string          `json:"sendUrl"`
	PollTimeoutMs   int64           `json:"pollTimeoutMs"`
	HeartbeatMs     int64           `json:"heartbeatMs"`
	SessionTTLMs    int64           `json:"sessionTtlMs"`
	MaxMessageBytes int             `json:"maxMessageBytes"`
}

// TransportInfo names a transport and where to reach it.
type TransportInfo struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Negotiate is the handler of POST {base}/negotiate: it creates a session
// and tells the client where to start and which transports to try.
func (h *Handler) Negotiate(c *gin.Context) {
	req, err := h.readRequest(c)
	if err != nil {
		h.writeRequestError(c, err)
		return
	}
	opened, err := h.lp.Open(c, longpoll.OpenRequest{Topics: req.Topics, Cursor: req.Cursor, Meta: req.Meta})
	if err != nil {
		longpoll.WriteError(c, err)
		return
	}
	reportFailures(h.lp, opened.Session, req.Failed)
	cfg := h.lp.Config()
	h.capSessionCookies(c)
	h.setSessionCookie(c, opened.Session.ID, opened.Token)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, Response{
		Protocol:        ProtocolVersion,
		ClientID:        opened.Session.ID,
		Token:           opened.Token,
		Cursor:          opened.Cursor.String(),
		Reset:           opened.Reset,
		Topics:          opened.Session.Topics,
		Transports:      h.transports(c, req, opened.Session.ID),
		SendURL:         h.cfg.BasePath + routeSend,
		PollTimeoutMs:   cfg.PollTimeout.Milliseconds(),
		HeartbeatMs:     h.cfg.Heartbeat.Milliseconds(),
		SessionTTLMs:    cfg.SessionTTL.Milliseconds(),
		MaxMessageBytes: cfg.MaxMessageBytes,
	})
}

// transports returns the transports this client should try, best first,
// and remembers the failures it reported.
func (h *Handler) transports(c *gin.Context, req Request, clientID string) []TransportInfo {
	// The failure memory keys clients as the negotiate limit does: by the
	// address they cannot spoof (behind trusted proxies, the right hop).
	addr, err := h.cfg.NegotiateLimit.KeyFunc(c)
	if err != nil {
		addr = "" // unknown: remember nothing
	}
	ctx := c.Request.Context()
	offered := order(h.enabled, req.Transports, req.Failed, req.Worked, h.failures.demoted(ctx, addr))
	client := req.Device
	if !validDevice(client) {
		client = clientID // an old client, or none kept: each session counts once
	}
	h.failures.record(ctx, addr, client, verdicts(req.Failed, req.Worked))
	out := make([]TransportInfo, len(offered))
	for i, name := range offered {
		out[i] = TransportInfo{Name: name, URL: h.transportURL(name, clientID)}
	}
	return out
}

func (h *Handler) enabled(transport string) bool {
	switch transport {
	case WebSocket:
		return !h.cfg.DisableWebSocket
	case SSE:
		return !h.cfg.DisableSSE
	}
	return transport == LongPoll
}

// transportURL is the path of a transport. The SSE URL names the client so
// that a native EventSource picks its own session cookie; client ids are
// public, the token stays out of every URL.
func (h *Handler) transportURL(transport, clientID string) string {
	switch transport {
	case WebSocket:
		return h.cfg.BasePath + routeWebSocket
	case SSE:
		return h.cfg.BasePath + routeSSE + "?client=" + url.QueryEscape(clientID)
	}
	return h.cfg.BasePath + routePoll
}

// errTooLarge reports a negotiate body over Config.MaxBodyBytes.
var errTooLarge = errors.New("negotiate: request body too large")

// readRequest decodes the optional body. An empty body means defaults.
func (h *Handler) readRequest(c *gin.Context) (Request, error) {
	req := Request{Protocol: ProtocolVersion}
	raw, err := body.Read(c.Writer, c.Request, int64(h.cfg.MaxBodyBytes), h.lp.Config().BodyTimeout)
	switch {
	case errors.Is(err, body.ErrTooLarge):
		return req, errTooLarge
	case err != nil:
		return req, err
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			return req, fmt.Errorf("negotiate: body is not a JSON object of the documented shape: %w", err)
		}
	}
	if req.Protocol == 0 {
		req.Protocol = ProtocolVersion
	}
	if req.Protocol != ProtocolVersion {
		return req, fmt.Errorf("%w: %d (this server speaks %d)", ErrUnsupportedProtocol, req.Protocol, ProtocolVersion)
	}
	return req, nil
}

func (h *Handler) writeRequestError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, body.ErrTimeout):
		problem.WriteBodyTimeout(c, h.lp.Config().BodyTimeout)
	case errors.Is(err, errTooLarge):
		problem.Write(c, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, ErrUnsupportedProtocol):
		problem.Write(c, http.StatusBadRequest, "unsupported_protocol", err.Error())
	default:
		problem.Write(c, http.StatusBadRequest, "bad_request", err.Error())
	}
}
