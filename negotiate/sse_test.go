package negotiate

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-contrib/gzip"
	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/testkit/syncbuf"
	"github.com/lifeline-go/lifeline/longpoll"
)

// streamServer is a server without presence (so that only the test's own
// events are on the topics) and a session following room:a.
func streamServer(t *testing.T, ncfg Config, middleware ...gin.HandlerFunc) (*longpoll.Server, Response, *httptest.Server) {
	t.Helper()
	lp, srv := newServerWith(t, longpoll.Config{DisablePresence: true}, ncfg, middleware...)
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	return lp, neg, srv
}

// mustOpenEvent reads the open event and checks it.
func mustOpenEvent(t *testing.T, c *sseTestClient, clientID, cursor string) {
	t.Helper()
	m := c.mustNext(t)
	if m.event != "open" || m.retry != "1000" {
		t.Fatalf("first SSE block = %+v, want retry: 1000 and event: open", m)
	}
	var open struct{ ClientID, Cursor string }
	if err := json.Unmarshal([]byte(m.data), &open); err != nil || open.ClientID != clientID || open.Cursor != cursor {
		t.Fatalf("open data = %q (%v), want clientId %s and cursor %s", m.data, err, clientID, cursor)
	}
}

// mustEvent reads the next block and checks it is e.
func mustEvent(t *testing.T, c *sseTestClient, e *longpoll.Event) testEnvelope {
	t.Helper()
	m := c.mustNext(t)
	if m.event != "" || !m.hasID {
		t.Fatalf("SSE block = %+v, want the event %s", m, e.ID)
	}
	env := m.envelope(t)
	if env.ID != e.ID.String() || env.Topic != e.Topic || env.Type != e.Type {
		t.Fatalf("SSE event = %+v, want %s on %s", env, e.ID, e.Topic)
	}
	return env
}

func TestSSEOpenHeadersAndDelivery(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	h := c.header()
	if got := h.Get("Content-Type"); !strings.HasPrefix(got, "text/event-stream") {
		t.Errorf("Content-Type = %q", got)
	}
	if h.Get("Cache-Control") != "no-cache, no-transform" || h.Get("X-Accel-Buffering") != "no" || h.Get("Content-Encoding") != "" || c.res.Uncompressed {
		t.Errorf("stream headers = %v (uncompressed by the client: %v)", h, c.res.Uncompressed)
	}
	// The open event comes before anything is published: it was flushed.
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)

	for i, data := range []any{map[string]any{"text": "hi"}, 42, []string{"a", "b"}} {
		e := publish(t, lp, "room:a", data)
		env := mustEvent(t, c, e)
		want, _ := json.Marshal(data)
		if string(env.Data) != string(want) || env.TS == 0 || env.From != "" {
			t.Fatalf("event %d = %+v, want data %s", i, env, want)
		}
	}
}

func TestSSEResume(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	e1 := publish(t, lp, "room:a", 1)
	e2 := publish(t, lp, "room:a", 2)
	e3 := publish(t, lp, "room:a", 3)

	t.Run("query cursor", func(t *testing.T) {
		c := openSSE(t, srv, sseURL(neg, e1.ID.String()), tokenHeader(neg.Token))
		mustOpenEvent(t, c, neg.ClientID, e1.ID.String())
		mustEvent(t, c, e2)
		mustEvent(t, c, e3)
		c.close()
	})
	t.Run("Last-Event-ID wins over the query", func(t *testing.T) {
		h := tokenHeader(neg.Token)
		h.Set("Last-Event-ID", e2.ID.String())
		c := openSSE(t, srv, sseURL(neg, e1.ID.String()), h)
		mustOpenEvent(t, c, neg.ClientID, e2.ID.String())
		mustEvent(t, c, e3)
		// Nothing before e3 is repeated: the next event is a new one.
		e4 := publish(t, lp, "room:a", 4)
		mustEvent(t, c, e4)
		c.close()
	})
	t.Run("Last-Event-ID alone", func(t *testing.T) {
		h := tokenHeader(neg.Token)
		h.Set("Last-Event-ID", e3.ID.String())
		c := openSSE(t, srv, sseURL(neg, ""), h)
		mustOpenEvent(t, c, neg.ClientID, e3.ID.String())
		e5 := publish(t, lp, "room:a", 5)
		// e4 from the subtest above comes first, then e5.
		m := c.mustNext(t)
		if env := m.envelope(t); string(env.Data) != "4" {
			t.Fatalf("first event after e3 = %+v, want e4", env)
		}
		mustEvent(t, c, e5)
		c.close()
	})
}

func TestSSEResetOnAnotherEpoch(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	publish(t, lp, "room:a", "before")
	stale := "zzzzzzzzzzzz.7" // a well-formed cursor of another buffer
	c := openSSE(t, srv, sseURL(neg, stale), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, stale)
	head, _ := lp.Buffer().Head(t.Context())
	m := c.mustNext(t)
	var data struct{ Cursor string }
	if err := json.Unmarshal([]byte(m.data), &data); err != nil || m.event != "reset" || m.id != head.String() || data.Cursor != head.String() {
		t.Fatalf("SSE block = %+v, want event: reset with id and cursor %s", m, head)
	}
	// The stream continues from the head: a new event, not "before".
	e := publish(t, lp, "room:a", "after")
	mustEvent(t, c, e)
}

func TestSSEHeartbeat(t *testing.T) {
	_, neg, srv := streamServer(t, Config{Heartbeat: 20 * time.Millisecond})
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	for i := 0; i < 3; i++ {
		m := c.mustNext(t)
		if m.comment != "hb" || m.hasData || m.event != "" || m.hasID {
			t.Fatalf("SSE block %d = %+v, want the comment \": hb\" alone", i, m)
		}
	}
}

func TestSSERecycleByAge(t *testing.T) {
	const maxAge = 100 * time.Millisecond
	_, neg, srv := streamServer(t, Config{StreamMaxAge: maxAge})
	start := time.Now()
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	m := c.mustNext(t)
	if m.event != "recycle" {
		t.Fatalf("SSE block = %+v, want event: recycle", m)
	}
	if elapsed := time.Since(start); elapsed < maxAge {
		t.Fatalf("recycled after %v, before StreamMaxAge %v", elapsed, maxAge)
	}
	c.mustEnd(t)
}

func TestSSERecycleByBytes(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{StreamMaxBytes: 2000})
	pad := strings.Repeat("x", 400)
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	var published []*longpoll.Event
	last := neg.Cursor
	recycled := false
	for i := 0; i < 20 && !recycled; i++ {
		published = append(published, publish(t, lp, "room:a", map[string]any{"n": i, "pad": pad}))
		m := c.mustNext(t)
		switch {
		case m.event == "recycle":
			recycled = true
		default:
			env := m.envelope(t)
			if env.ID != published[len(published)-1].ID.String() {
				t.Fatalf("event %d = %s, want %s", i, env.ID, published[len(published)-1].ID)
			}
			last = env.ID
		}
	}
	if !recycled {
		m, err := c.next(waitTimeout)
		if err != nil || m.event != "recycle" {
			t.Fatalf("after 20 events of ~450 bytes: %+v %v, want event: recycle at 2000 bytes", m, err)
		}
	}
	c.mustEnd(t)

	// The client reconnects as EventSource does, with Last-Event-ID, and
	// gets exactly what it had not seen.
	h := tokenHeader(neg.Token)
	h.Set("Last-Event-ID", last)
	c2 := openSSE(t, srv, sseURL(neg, neg.Cursor), h)
	mustOpenEvent(t, c2, neg.ClientID, last)
	seen := false
	for _, e := range published {
		if seen {
			mustEvent(t, c2, e)
		}
		seen = seen || e.ID.String() == last
	}
	sentinel := publish(t, lp, "room:a", "sentinel")
	mustEvent(t, c2, sentinel)
}

func TestSSEFramesAnyText(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	texts := []string{
		"line one\nline two\r\nline three\rend",
		"\n\n\r\r\n",
		"é ✓ 🎉 日本語",
		"line\u2028separator\u2029paragraph\u0085next",
		"data: fake\n\nid: 1\nevent: reset\n\n",
		"\x00 nul \x1b esc \t tab",
		`<script>"quotes" & \backslash</script>`,
		"",
	}
	for _, text := range texts {
		e := publish(t, lp, "room:a", map[string]string{"text": text})
		env := mustEvent(t, c, e)
		var got struct{ Text string }
		if err := json.Unmarshal(env.Data, &got); err != nil || got.Text != text {
			t.Fatalf("data %s decodes to %q (%v), want %q", env.Data, got.Text, err, text)
		}
	}
	// Data published with line breaks between its JSON tokens still makes
	// one data line.
	e, err := lp.PublishDraft(t.Context(), longpoll.Draft{Topic: "room:a", Type: "message", Data: json.RawMessage("{\r\n  \"a\": 1,\n  \"b\": [\r 2 ]\n}")})
	if err != nil {
		t.Fatal(err)
	}
	env := mustEvent(t, c, e)
	if string(env.Data) != `{"a":1,"b":[2]}` {
		t.Fatalf("multi-line JSON data = %s", env.Data)
	}
}

func TestSSECookieAuth(t *testing.T) {
	lp, neg0, srv := streamServer(t, Config{})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: srv.Client().Transport}

	// Negotiate as a page would; the response sets the session cookie.
	neg, res := negotiateWith(t, browser, srv)
	cookie := sessionCookieOf(res, neg.ClientID)
	if cookie == nil {
		t.Fatalf("negotiate set cookies %v, want ll_%s", res.Cookies(), neg.ClientID)
	}
	if cookie.Value != neg.Token || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/rt" || cookie.Secure {
		t.Fatalf("session cookie = %+v, want the token, HttpOnly, SameSite=Strict, Path=/rt, not Secure over http", cookie)
	}

	// A native EventSource: the URL from the transports list, no header;
	// the jar sends the cookie.
	c := openSSEClient(t, browser, srv.URL+sseURL(neg, neg.Cursor), nil)
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	e := publish(t, lp, "room:a", "via cookie")
	mustEvent(t, c, e)
	refreshed := false
	for _, ck := range c.res.Cookies() {
		refreshed = refreshed || ck.Name == "ll_"+neg.ClientID && ck.Value == neg.Token
	}
	if !refreshed {
		t.Errorf("cookie-authenticated stream set %v, want the cookie refreshed", c.res.Cookies())
	}
	c.close()

	// The cookie proves only the client it names.
	status, body, hdr := get(t, browser, srv.URL+sseURL(neg0, neg.Cursor), nil)
	if status != http.StatusUnauthorized || !isProblem(hdr, body, "unknown_token") {
		t.Errorf("SSE for another client with this cookie = %d %s, want 401 unknown_token", status, body)
	}
	// Sends never accept the cookie.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+neg.SendURL, strings.NewReader(`{"topic":"room:a","type":"message","mid":"m_cookie001"}`))
	sres, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sres.Body.Close()
	if sres.StatusCode != http.StatusUnauthorized {
		t.Errorf("send with only the cookie = %d, want 401", sres.StatusCode)
	}
}

func TestSSEErrors(t *testing.T) {
	_, neg, srv := streamServer(t, Config{})
	hc := srv.Client()
	tests := []struct {
		name   string
		url    string
		header http.Header
		status int
		code   string
	}{
		{"no token", sseURL(neg, neg.Cursor), nil, 401, "unknown_token"},
		{"unknown token", sseURL(neg, neg.Cursor), tokenHeader("t_nope"), 401, "unknown_token"},
		{"cookie of no session", sseURL(neg, neg.Cursor), http.Header{"Cookie": {"ll_" + neg.ClientID + "=t_nope"}}, 401, "unknown_token"},
		{"bad cursor", sseURL(neg, "not-a-cursor"), tokenHeader(neg.Token), 400, "bad_cursor"},
		{"bad Last-Event-ID", sseURL(neg, neg.Cursor), http.Header{longpoll.TokenHeader: {neg.Token}, "Last-Event-Id": {"???"}}, 400, "bad_cursor"},
		{"no cursor", "/rt/sse", tokenHeader(neg.Token), 400, "bad_cursor"},
	}
	for _, tt := range tests {
		status, body, hdr := get(t, hc, srv.URL+tt.url, tt.header)
		if status != tt.status || !isProblem(hdr, body, tt.code) {
			t.Errorf("%s: GET %s = %d %s %s, want %d %s problem", tt.name, tt.url, status, hdr.Get("Content-Type"), body, tt.status, tt.code)
		}
	}
}

func TestSSESuperseded(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	first := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, first, neg.ClientID, neg.Cursor)
	second := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, second, neg.ClientID, neg.Cursor)

	m := first.mustNext(t)
	if p := m.problem(t); m.event != "problem" || m.retry != "1000" || p.Code != "superseded" {
		t.Fatalf("superseded stream got %+v, want retry: 1000 and a superseded problem", m)
	}
	first.mustEnd(t)

	e := publish(t, lp, "room:a", "to the second")
	mustEvent(t, second, e)
}

func TestSSEShutdown(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	lp.Close()
	m := c.mustNext(t)
	if p := m.problem(t); m.event != "problem" || m.retry != "1000" || p.Code != "shutting_down" || p.Status != http.StatusServiceUnavailable {
		t.Fatalf("stream at shutdown got %+v, want retry: 1000 and a shutting_down problem", m)
	}
	c.mustEnd(t)
}

// An ended session is not a newer receiver: its stream must not be told
// "superseded" (after which a client does nothing) but that the session is
// gone, so that it negotiates again (PROTOCOL.md §5b close 4001, §5c).
func TestSSESessionEnded(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	lp.EndSessions()
	m := c.mustNext(t)
	if p := m.problem(t); m.event != "problem" || p.Code != "unknown_token" {
		t.Fatalf("stream of an ended session got %+v (code %q), want an unknown_token problem", m, p.Code)
	}
	c.mustEnd(t)
}

// A compression middleware in front of Lifeline must not compress (and so
// buffer) the stream.
func TestSSEBehindGzip(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{}, gzip.Gzip(gzip.DefaultCompression))

	// The middleware is active: negotiate responses are compressed.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/rt/negotiate", strings.NewReader(`{}`))
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("negotiate behind gzip: Content-Encoding %q, want gzip (is the middleware mounted?)", res.Header.Get("Content-Encoding"))
	}

	h := tokenHeader(neg.Token)
	h.Set("Accept-Encoding", "gzip")
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), h)
	if enc := c.header().Get("Content-Encoding"); enc != "" {
		t.Errorf("SSE behind gzip: Content-Encoding %q, want none (PROTOCOL.md §5a: never compressed)", enc)
	}
	// The open event arrives at once, readable as it is.
	m, err := c.next(2 * time.Second)
	if err != nil || m.event != "open" {
		t.Fatalf("SSE behind gzip: first block %+v %v, want the open event uncompressed", m, err)
	}
	e := publish(t, lp, "room:a", "through gzip")
	mustEvent(t, c, e)
}

// get does a GET with headers and returns status, body and header.
func get(t *testing.T, hc *http.Client, url string, header http.Header) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// A 200 here would be a stream; read only what is there at once.
	if res.StatusCode == http.StatusOK {
		line, _ := bufio.NewReader(res.Body).ReadString('\n')
		return res.StatusCode, []byte(line), res.Header
	}
	body, err := io.ReadAll(res.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return res.StatusCode, body, res.Header
}

// isProblem reports whether a response is a problem document with code.
func isProblem(h http.Header, body []byte, code string) bool {
	var p testProblem
	return strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") && json.Unmarshal(body, &p) == nil && p.Code == code
}

// newLoggedServer is newServerWith on a server whose error log the test
// reads, over HTTPS with HTTP/2 when h2 is set.
func newLoggedServer(t *testing.T, h2 bool, middleware ...gin.HandlerFunc) (*longpoll.Server, *httptest.Server, *syncbuf.Buffer) {
	t.Helper()
	lp := longpoll.New(longpoll.Config{DisablePresence: true})
	r := gin.New()
	r.Use(middleware...)
	New(Config{LongPoll: lp}).Mount(r.Group("/rt"))
	srv := httptest.NewUnstartedServer(r)
	errLog := &syncbuf.Buffer{}
	srv.Config.ErrorLog = log.New(errLog, "", 0)
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		lp.Close()
		srv.Close()
	})
	return lp, srv, errLog
}

// A cross-origin page's EventSource needs the CORS headers an application's
// middleware sets; behind gzip they must still reach it, and the server
// must not log errors for every stream.
func TestSSEBehindGzipKeepsMiddlewareHeaders(t *testing.T) {
	cors := func(c *gin.Context) {
		c.Header("Access-Control-Allow-Origin", "https://app.example")
		c.Header("Access-Control-Allow-Credentials", "true")
	}
	lp, srv, errLog := newLoggedServer(t, false, cors, gzip.Gzip(gzip.DefaultCompression))
	neg := negotiateOK(t, srv, `{"topics":["room:a"]}`)
	h := tokenHeader(neg.Token)
	h.Set("Accept-Encoding", "gzip")
	h.Set("Origin", "https://app.example")
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), h)
	if got := c.header().Get("Access-Control-Allow-Origin"); got != "https://app.example" || c.header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("SSE behind gzip: headers %v, want the CORS headers the middleware set", c.header())
	}
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	mustEvent(t, c, publish(t, lp, "room:a", 1))
	c.close()
	lp.Close() // ends the handler, then its middleware unwinds
	srv.Close()
	if l := errLog.String(); l != "" {
		t.Errorf("SSE behind gzip: the server logged %q", l)
	}
}

// PROTOCOL.md §5a: never compressed — over HTTP/2 too, where a connection
// cannot be taken over.
func TestSSEBehindGzipHTTP2(t *testing.T) {
	lp, srv, _ := newLoggedServer(t, true, gzip.Gzip(gzip.DefaultCompression))
	res, err := srv.Client().Post(srv.URL+"/rt/negotiate", "application/json", strings.NewReader(`{"topics":["room:a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var neg Response
	err = json.NewDecoder(res.Body).Decode(&neg)
	res.Body.Close()
	if err != nil || res.ProtoMajor != 2 {
		t.Fatalf("negotiate over HTTPS: %v, HTTP/%d", err, res.ProtoMajor)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == "ll_"+neg.ClientID && !ck.Secure {
			t.Errorf("session cookie over HTTPS is not Secure: %+v", ck)
		}
	}
	h := tokenHeader(neg.Token)
	h.Set("Accept-Encoding", "gzip")
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), h)
	if c.res.ProtoMajor != 2 {
		t.Fatalf("stream over HTTP/%d, want 2", c.res.ProtoMajor)
	}
	if enc := c.header().Get("Content-Encoding"); enc != "" {
		t.Errorf("SSE behind gzip over HTTP/2: Content-Encoding %q, want none", enc)
	}
	m, err := c.next(2 * time.Second)
	if err != nil || m.event != "open" {
		t.Fatalf("SSE behind gzip over HTTP/2: first block %+v %v, want the open event uncompressed", m, err)
	}
	mustEvent(t, c, publish(t, lp, "room:a", 1))
}

// negotiateWith negotiates room:a through hc and returns the response,
// whose body it has read, for its cookies.
func negotiateWith(t *testing.T, hc *http.Client, srv *httptest.Server) (Response, *http.Response) {
	t.Helper()
	res, err := hc.Post(srv.URL+"/rt/negotiate", "application/json", strings.NewReader(`{"topics":["room:a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var neg Response
	if err := json.NewDecoder(res.Body).Decode(&neg); err != nil {
		t.Fatal(err)
	}
	return neg, res
}

// sessionCookieOf returns the ll_<clientID> cookie a response set, or nil.
func sessionCookieOf(res *http.Response, clientID string) *http.Cookie {
	for _, ck := range res.Cookies() {
		if ck.Name == "ll_"+clientID {
			return ck
		}
	}
	return nil
}

// The cookie is Secure behind a TLS-terminating proxy when told so, lives
// no longer than the session can without a refresh, and is cleared when
// the session ends.
func TestSSECookieLifetimeAndSecure(t *testing.T) {
	_, srv := newServerWith(t, longpoll.Config{DisablePresence: true, SessionTTL: time.Minute},
		Config{SecureCookie: true, StreamMaxAge: 2 * time.Minute})
	neg, res := negotiateWith(t, srv.Client(), srv)
	ck := sessionCookieOf(res, neg.ClientID)
	if ck == nil || !ck.Secure || ck.MaxAge != 180 {
		t.Fatalf("session cookie = %+v, want Secure (SecureCookie) and Max-Age 180 (StreamMaxAge + SessionTTL)", ck)
	}

	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/rt/session", nil)
	req.Header.Set(longpoll.TokenHeader, neg.Token)
	del, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del.Body.Close()
	cleared := sessionCookieOf(del, neg.ClientID)
	if del.StatusCode != http.StatusNoContent || cleared == nil || cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Fatalf("DELETE session = %d, cookie %+v, want 204 clearing ll_%s", del.StatusCode, cleared, neg.ClientID)
	}
	// Ending is idempotent: an unknown token still gets 204.
	del2, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	del2.Body.Close()
	if del2.StatusCode != http.StatusNoContent {
		t.Fatalf("second DELETE = %d, want 204", del2.StatusCode)
	}
}
