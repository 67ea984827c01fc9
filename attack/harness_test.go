package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

// normalLatency is the most a well-behaved client's request may take
// while an attack runs: generous, for a shared 2-core machine under the
// race detector; an exhausted server fails it by far (it never answers).
const normalLatency = 3 * time.Second

// target is a Lifeline server on a real TCP listener, configured as an
// application would configure its http.Server.
type target struct {
	url string
	lp  *longpoll.Server
	buf *longpoll.Memory
}

func startTarget(t *testing.T, mcfg longpoll.MemoryConfig, lcfg longpoll.Config, ncfg negotiate.Config) *target {
	t.Helper()
	buf := longpoll.NewMemory(mcfg)
	lcfg.Buffer = buf
	lp := longpoll.New(lcfg)
	r := gin.New()
	ncfg.LongPoll = lp
	negotiate.New(ncfg).Mount(r.Group("/rt"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		lp.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-served
		buf.Close()
	})
	return &target{url: "http://" + ln.Addr().String(), lp: lp, buf: buf}
}

// attackerDialer dials from 127.0.0.2, so that the attacker and the
// well-behaved client are different addresses to the server.
func attackerDialer(t *testing.T, tg *target) *net.Dialer {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", tg.url[len("http://"):])
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot connect from 127.0.0.2: %v", err)
		}
		t.Skipf("cannot connect from 127.0.0.2: %v", err)
	}
	conn.Close()
	return d
}

// attackerClient is an HTTP client whose connections come from 127.0.0.2.
func attackerClient(t *testing.T, tg *target) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: attackerDialer(t, tg).DialContext, MaxConnsPerHost: 0, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// negotiated is the part of a negotiate response the tests use.
type negotiated struct {
	ClientID string `json:"clientId"`
	Token    string `json:"token"`
	Cursor   string `json:"cursor"`
}

// call makes one JSON request and returns its status and body.
func call(ctx context.Context, hc *http.Client, method, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(longpoll.TokenHeader, token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

// wellBehaved is one round of a normal client from 127.0.0.1: negotiate on
// room, send a message, and poll it back. Each step must succeed within
// normalLatency. It returns the slowest step's duration.
func wellBehaved(t *testing.T, tg *target, room string, n int) time.Duration {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 2 * normalLatency}
	defer hc.CloseIdleConnections()
	var slowest time.Duration
	step := func(what string, method, path, token string, body any) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*normalLatency)
		defer cancel()
		began := time.Now()
		status, data, err := call(ctx, hc, method, tg.url+path, token, body)
		took := time.Since(began)
		slowest = max(slowest, took)
		if err != nil || status != http.StatusOK {
			t.Fatalf("well-behaved client, %s: %d %s %v (after %v)", what, status, data, err, took)
		}
		if took > normalLatency {
			t.Fatalf("well-behaved client, %s took %v, over %v", what, took, normalLatency)
		}
		return data
	}
	var s negotiated
	if err := json.Unmarshal(step("negotiate", http.MethodPost, "/rt/negotiate", "", map[string]any{"topics": []string{room}, "meta": map[string]string{"name": "ada"}}), &s); err != nil {
		t.Fatal(err)
	}
	mid := fmt.Sprintf("m_goodclient%04d", n)
	step("send", http.MethodPost, "/rt/send", s.Token, map[string]any{"topic": room, "type": "message", "mid": mid, "data": map[string]string{"text": "hi"}})
	var p struct {
		Events []struct {
			Type string `json:"type"`
			From string `json:"from"`
		} `json:"events"`
		Reset bool `json:"reset"`
	}
	if err := json.Unmarshal(step("poll", http.MethodGet, "/rt/poll?timeout=0&cursor="+s.Cursor, s.Token, nil), &p); err != nil {
		t.Fatal(err)
	}
	got := false
	for _, e := range p.Events {
		got = got || e.Type == "message" && e.From == s.ClientID
	}
	if !got && !p.Reset {
		t.Fatalf("well-behaved client's poll = %+v, want its own message back", p)
	}
	return slowest
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// eventually waits up to d for cond, checking every few milliseconds.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not waiting for behaviour
	}
}

// decodeJSON decodes data into v.
func decodeJSON(data []byte, v any) error { return json.Unmarshal(data, v) }

// mustNegotiate negotiates a session on topics through hc.
func mustNegotiate(t *testing.T, hc *http.Client, tg *target, topics ...string) negotiated {
	t.Helper()
	status, data, err := call(context.Background(), hc, http.MethodPost, tg.url+"/rt/negotiate", "", map[string]any{"topics": topics})
	var s negotiated
	if err != nil || status != http.StatusOK || decodeJSON(data, &s) != nil {
		t.Fatalf("negotiate %v: %d %s %v", topics, status, data, err)
	}
	return s
}
