package negotiate

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClampHeartbeat(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		most time.Duration
		want time.Duration
	}{
		{ms: 1500, most: 15 * time.Second, want: 1500 * time.Millisecond},
		{ms: 0, most: 15 * time.Second, want: MinHeartbeat},
		{ms: 999, most: 15 * time.Second, want: MinHeartbeat},
		{ms: 15000, most: 15 * time.Second, want: 15 * time.Second},
		{ms: 1 << 62, most: 15 * time.Second, want: 15 * time.Second},
		{ms: 10, most: 20 * time.Millisecond, want: 20 * time.Millisecond}, // a server below the minimum keeps its own
	} {
		if got := clampHeartbeat(c.ms, c.most); got != c.want {
			t.Errorf("clampHeartbeat(%d, %v) = %v, want %v", c.ms, c.most, got, c.want)
		}
	}
}

// TestSSEProbe: ProbeDelay after opening, whatever else was written, the
// stream sends `event: probe`: the second frame the client times.
func TestSSEProbe(t *testing.T) {
	lp, neg, srv := streamServer(t, Config{})
	opened := time.Now()
	c := openSSE(t, srv, sseURL(neg, neg.Cursor), tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	e := publish(t, lp, "room:a", "right after opening") // an event before the probe does not replace it
	mustEvent(t, c, e)
	select {
	case at := <-c.probes:
		if took := at.Sub(opened); took < ProbeDelay || took > ProbeDelay+2*time.Second {
			t.Fatalf("the probe came %v after opening, want about %v", took, ProbeDelay)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no probe event")
	}
	select {
	case <-c.probes:
		t.Fatal("a second probe")
	case <-time.After(2 * ProbeDelay):
	}
}

// TestSSERequestedHeartbeat: a stream asking for heartbeats every second
// gets them, though the server's own interval is an hour.
func TestSSERequestedHeartbeat(t *testing.T) {
	_, neg, srv := streamServer(t, Config{Heartbeat: time.Hour})
	c := openSSE(t, srv, sseURL(neg, neg.Cursor)+"&heartbeat=1000", tokenHeader(neg.Token))
	mustOpenEvent(t, c, neg.ClientID, neg.Cursor)
	start := time.Now()
	for i := range 2 {
		m, err := c.next(3 * time.Second)
		if err != nil || m.comment != "hb" {
			t.Fatalf("block %d after %v = %+v, %v; want a heartbeat within the second asked for", i, time.Since(start), m, err)
		}
	}
	if took := time.Since(start); took < MinHeartbeat {
		t.Fatalf("two heartbeats in %v, want them a second apart", took)
	}
}

// TestWebSocketRequestedHeartbeat: the same on WebSocket, in its URL.
func TestWebSocketRequestedHeartbeat(t *testing.T) {
	_, neg, srv := streamServer(t, Config{Heartbeat: time.Hour})
	c := dialWS(t, srv, urlOf(neg, WebSocket)+"?heartbeat=1000", neg.Token, neg.Cursor)
	mustOpenFrame(t, c, neg.ClientID, neg.Cursor)
	f, err := c.next(3 * time.Second)
	if err != nil || f.Op != "hb" {
		t.Fatalf("frame = %+v, %v; want {\"op\":\"hb\"} within the second asked for", f, err)
	}
}

// TestBadHeartbeat: a heartbeat that is not a number of milliseconds is
// refused before anything else, on both streams.
func TestBadHeartbeat(t *testing.T) {
	_, neg, srv := streamServer(t, Config{})
	for _, url := range []string{
		sseURL(neg, neg.Cursor) + "&heartbeat=1s",
		urlOf(neg, WebSocket) + "?heartbeat=-5",
	} {
		status, body, h := get(t, srv.Client(), srv.URL+url, tokenHeader(neg.Token))
		if status != http.StatusBadRequest || !isProblem(h, body, "bad_heartbeat") {
			t.Errorf("GET %s = %d %s, want 400 bad_heartbeat", url, status, body)
		}
	}
}

// FuzzHeartbeatQuery: any query value is refused or bounded, never a panic.
func FuzzHeartbeatQuery(f *testing.F) {
	for _, seed := range []string{"1500", "0", "", "1s", "-1", "99999999999999999999999", "007", "1e3", " 1", "１"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		ms, err := parseMillis(q)
		digits := q != "" && strings.Trim(q, "0123456789") == ""
		if (err == nil) != digits {
			t.Fatalf("parseMillis(%q) = %d, %v; digits only: %v", q, ms, err, digits)
		}
		if err != nil {
			return
		}
		if ms < 0 {
			t.Fatalf("parseMillis(%q) = %d", q, ms)
		}
		if d := clampHeartbeat(ms, DefaultHeartbeat); d < MinHeartbeat || d > DefaultHeartbeat {
			t.Fatalf("clampHeartbeat(%d) = %v, out of [%v, %v]", ms, d, MinHeartbeat, DefaultHeartbeat)
		}
	})
}
