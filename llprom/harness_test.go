package llprom

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lifeline-go/lifeline/internal/testkit/syncbuf"
	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// waitTimeout bounds every wait for something the server does on its own.
const waitTimeout = 10 * time.Second

// A rig is a Lifeline server on real TCP with Metrics on a registry of its
// own and its log captured. Presence is off, so that the only events are
// the ones a test publishes.
type rig struct {
	t    *testing.T
	reg  *prometheus.Registry
	lp   *longpoll.Server
	srv  *httptest.Server
	logs *syncbuf.Buffer
	// tokens are every session token the rig's clients were given, for
	// the check that none reaches a log line.
	tokens []string
}

func newRig(t *testing.T, lcfg longpoll.Config, ncfg negotiate.Config) *rig {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncbuf.Buffer{}
	lcfg.Observer = m
	lcfg.DisablePresence = true // no join events in the counts and polls
	lcfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	lp := longpoll.New(lcfg)
	if err := m.Track(lp); err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	ncfg.LongPoll = lp
	negotiate.New(ncfg).Mount(r.Group("/rt"))
	r.GET("/healthz", lp.ReadyHandler())
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		lp.Close()
		srv.Close()
	})
	return &rig{t: t, reg: reg, lp: lp, srv: srv, logs: logs}
}

// value returns the value of the series of name whose labels include the
// given name/value pairs (a histogram's sample count), summed over the
// matching series; 0 when there is none.
func (r *rig) value(name string, labels ...string) float64 {
	r.t.Helper()
	return gathered(r.t, r.reg, name, labels...)
}

func gathered(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// want fails the test unless the series has the value.
func (r *rig) want(value float64, name string, labels ...string) {
	r.t.Helper()
	if got := r.value(name, labels...); got != value {
		r.t.Errorf("%s%v = %v, want %v", name, labels, got, value)
	}
}

// waitValue waits until the series has the value.
func (r *rig) waitValue(value float64, name string, labels ...string) {
	r.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for r.value(name, labels...) != value {
		if time.Now().After(deadline) {
			r.t.Fatalf("%s%v = %v, still not %v after %v", name, labels, r.value(name, labels...), value, waitTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// negotiated is the part of a negotiate response the tests use.
type negotiated struct {
	ClientID string `json:"clientId"`
	Token    string `json:"token"`
	Cursor   string `json:"cursor"`
	Reset    bool   `json:"reset"`
}

func (r *rig) negotiate(body any) negotiated {
	r.t.Helper()
	var res negotiated
	status := r.post("/rt/negotiate", "", body, &res)
	if status != http.StatusOK {
		r.t.Fatalf("negotiate: status %d", status)
	}
	r.tokens = append(r.tokens, res.Token)
	return res
}

// post sends a JSON body and decodes a JSON answer into out (nil: none).
func (r *rig) post(path, token string, body, out any) int {
	r.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(longpoll.TokenHeader, token)
	}
	return r.do(req, out)
}

func (r *rig) get(path, token string, out any) int {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+path, nil)
	if token != "" {
		req.Header.Set(longpoll.TokenHeader, token)
	}
	return r.do(req, out)
}

func (r *rig) do(req *http.Request, out any) int {
	r.t.Helper()
	res, err := r.srv.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, out); err != nil {
			r.t.Fatalf("%s %s: %v in %s", req.Method, req.URL.Path, err, raw)
		}
	}
	return res.StatusCode
}

// pollResult is a long-poll answer.
type pollResult struct {
	Events []json.RawMessage `json:"events"`
	Cursor string            `json:"cursor"`
	Reset  bool              `json:"reset"`
}

// dialWS opens a WebSocket and authenticates; readBuffer, when positive,
// shrinks the client socket's receive buffer so that a client that stops
// reading fills it fast.
func (r *rig) dialWS(n negotiated, readBuffer int) *websocket.Conn {
	r.t.Helper()
	d := websocket.Dialer{HandshakeTimeout: waitTimeout}
	if readBuffer > 0 {
		d.NetDial = func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(readBuffer)
			}
			return c, err
		}
	}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(r.srv.URL, "http")+"/rt/ws", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { conn.Close() })
	if err := conn.WriteJSON(map[string]string{"op": "auth", "token": n.Token, "cursor": n.Cursor}); err != nil {
		r.t.Fatal(err)
	}
	if op := readOp(r.t, conn); op["op"] != "open" {
		r.t.Fatalf("first frame %v, want open", op)
	}
	return conn
}

// readOp reads one WebSocket frame as a JSON object.
func readOp(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitTimeout))
	var f map[string]any
	if err := conn.ReadJSON(&f); err != nil {
		t.Fatal(err)
	}
	return f
}

// discardLogger is a logger for tests that do not read the log.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
