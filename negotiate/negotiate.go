package negotiate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/problem"
	"github.com/lifeline-go/lifeline/longpoll"
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
	routePoll      = "/poll"
	routeSend      = "/send"
	routePresence  = "/presence"
	routeSession   = "/session"
)

// Handler serves the negotiate handshake and mounts every transport.
type Handler struct {
	cfg Config
	lp  *longpoll.Server
}

// New returns a Handler for cfg. It panics if cfg.LongPoll is nil, a
// programming error caught at start-up.
func New(cfg Config) *Handler {
	if cfg.LongPoll == nil {
		panic(ErrNoServer.Error())
	}
	return &Handler{cfg: cfg.withDefaults(), lp: cfg.LongPoll}
}

// Mount registers every Lifeline route on r:
//
//	POST   {base}/negotiate
//	GET    {base}/poll
//	POST   {base}/send
//	GET    {base}/presence
//	DELETE {base}/session
//
// where {base} is r's base path when r is a *gin.RouterGroup (or a
// *gin.Engine), unless Config.BasePath says otherwise.
func (h *Handler) Mount(r gin.IRoutes) {
	if h.cfg.BasePath == "" {
		if g, ok := r.(interface{ BasePath() string }); ok {
			h.cfg.BasePath = strings.TrimSuffix(g.BasePath(), "/")
		}
	}
	r.POST(routeNegotiate, h.Negotiate)
	r.GET(routePoll, h.lp.PollHandler())
	r.POST(routeSend, h.lp.SendHandler())
	r.GET(routePresence, h.lp.PresenceHandler())
	r.DELETE(routeSession, h.lp.EndSessionHandler())
}

// Request is the optional JSON body of negotiate (PROTOCOL.md §3).
// Unknown fields are ignored.
type Request struct {
	Protocol   int             `json:"protocol"`
	Topics     []string        `json:"topics"`
	Cursor     string          `json:"cursor"`
	Transports []string        `json:"transports"`
	Failed     []Failure       `json:"failed"`
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
		writeRequestError(c, err)
		return
	}
	opened, err := h.lp.Open(c, longpoll.OpenRequest{Topics: req.Topics, Cursor: req.Cursor, Meta: req.Meta})
	if err != nil {
		longpoll.WriteError(c, err)
		return
	}
	cfg := h.lp.Config()
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, Response{
		Protocol:        ProtocolVersion,
		ClientID:        opened.Session.ID,
		Token:           opened.Token,
		Cursor:          opened.Cursor.String(),
		Reset:           opened.Reset,
		Topics:          opened.Session.Topics,
		Transports:      h.transports(req),
		SendURL:         h.cfg.BasePath + routeSend,
		PollTimeoutMs:   cfg.PollTimeout.Milliseconds(),
		HeartbeatMs:     h.cfg.Heartbeat.Milliseconds(),
		SessionTTLMs:    cfg.SessionTTL.Milliseconds(),
		MaxMessageBytes: cfg.MaxMessageBytes,
	})
}

// transports returns the transports this client should try, best first.
// Long-poll works through every proxy, so it is always offered.
func (h *Handler) transports(Request) []TransportInfo {
	return []TransportInfo{{Name: LongPoll, URL: h.cfg.BasePath + routePoll}}
}

// errTooLarge reports a negotiate body over Config.MaxBodyBytes.
var errTooLarge = errors.New("negotiate: request body too large")

// readRequest decodes the optional body. An empty body means defaults.
func (h *Handler) readRequest(c *gin.Context) (Request, error) {
	req := Request{Protocol: ProtocolVersion}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, int64(h.cfg.MaxBodyBytes)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return req, errTooLarge
		}
		return req, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
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

func writeRequestError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, errTooLarge):
		problem.Write(c, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	case errors.Is(err, ErrUnsupportedProtocol):
		problem.Write(c, http.StatusBadRequest, "unsupported_protocol", err.Error())
	default:
		problem.Write(c, http.StatusBadRequest, "bad_request", err.Error())
	}
}
