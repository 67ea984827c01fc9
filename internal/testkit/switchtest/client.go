package switchtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// tokenHeader carries a session's token (PROTOCOL.md §3).
const tokenHeader = "Lifeline-Token"

// closeUnknownToken is the WebSocket close code of an ended session.
const closeUnknownToken = 4001

// errSessionGone means the server no longer knows the session.
var errSessionGone = errors.New("session gone")

type envelope struct {
	ID    string `json:"id"`
	Topic string `json:"topic"`
}

// instances deals requests round-robin over the base URLs of a cluster:
// consecutive requests of one client reach different instances.
type instances struct {
	urls []string
	next atomic.Uint64
}

func (in *instances) pick() string { return in.each()[0] }

// each returns every instance, starting with the next one in turn.
func (in *instances) each() []string {
	first := int(in.next.Add(1) % uint64(len(in.urls)))
	return append(in.urls[first:len(in.urls):len(in.urls)], in.urls[:first]...)
}

// A client follows its topics by hopping between transports at random —
// long-poll, SSE, WebSocket — for random short stretches, dropping each
// connection mid-stream, and now and then losing its session. It keeps
// only the cursor of the last event it processed, as the TypeScript client
// does, and records every event it processes.
type client struct {
	in     *instances
	hc     *http.Client
	topics []string
	r      *rand.Rand

	token, cursor string
	received      []string
	resets        int
	switches      map[string]int
}

// negotiate opens a session, trying each instance in turn: one that is
// down refuses the connection, and the next one serves.
func (c *client) negotiate() error {
	body, _ := json.Marshal(map[string]any{"topics": c.topics, "cursor": c.cursor})
	var res *http.Response
	var err error
	for _, url := range c.in.each() {
		if res, err = c.hc.Post(url+"/rt/negotiate", "application/json", strings.NewReader(string(body))); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var out struct {
		Token  string `json:"token"`
		Cursor string `json:"cursor"`
		Reset  bool   `json:"reset"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		return errors.New("negotiate failed: " + res.Status)
	}
	if out.Reset {
		c.resets++
	}
	c.token, c.cursor = out.Token, out.Cursor
	return nil
}

func (c *client) endSession() {
	req, _ := http.NewRequest(http.MethodDelete, c.in.pick()+"/rt/session", nil)
	req.Header.Set(tokenHeader, c.token)
	if res, err := c.hc.Do(req); err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

func (c *client) process(e envelope) {
	c.received = append(c.received, e.ID)
	c.cursor = e.ID
}

// stretch uses one transport for up to d.
func (c *client) stretch(transport string, d time.Duration) error {
	c.switches[transport]++
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	switch transport {
	case "longpoll":
		return c.poll(ctx)
	case "sse":
		return c.sse(ctx)
	default:
		return c.ws(ctx, d)
	}
}

func (c *client) poll(ctx context.Context) error {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.in.pick()+"/rt/poll?timeout=30&cursor="+c.cursor, nil)
		req.Header.Set(tokenHeader, c.token)
		res, err := c.hc.Do(req)
		if err != nil {
			return nil // dropped: whatever it carried was not processed
		}
		var batch struct {
			Events []envelope `json:"events"`
			Cursor string     `json:"cursor"`
			Reset  bool       `json:"reset"`
		}
		err = json.NewDecoder(res.Body).Decode(&batch)
		res.Body.Close()
		if res.StatusCode == http.StatusUnauthorized {
			return errSessionGone
		}
		if err != nil || res.StatusCode != http.StatusOK {
			return nil
		}
		if batch.Reset {
			c.resets++
		}
		for _, e := range batch.Events {
			c.process(e)
		}
		c.cursor = batch.Cursor
	}
	return nil
}

func (c *client) sse(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.in.pick()+"/rt/sse?cursor="+c.cursor, nil)
	req.Header.Set(tokenHeader, c.token)
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.hc.Do(req)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusUnauthorized {
		return errSessionGone
	}
	if res.StatusCode != http.StatusOK {
		return nil
	}
	// Lifeline's frames are single-line data fields: a block is complete
	// at its blank line, and only complete blocks are processed.
	var id, event, data string
	lines := bufio.NewScanner(res.Body)
	for lines.Scan() {
		line := lines.Text()
		if strings.HasPrefix(line, ":") {
			continue // a heartbeat comment
		}
		field, value, _ := strings.Cut(line, ": ")
		if line == "" {
			field = "\n" // the end of a block
		}
		switch field {
		case "id":
			id = value
		case "event":
			event = value
		case "data":
			data = value
		case "\n":
			switch event {
			case "":
				if data != "" {
					var e envelope
					if err := json.Unmarshal([]byte(data), &e); err != nil {
						return err
					}
					c.process(e)
				}
			case "reset":
				c.resets++
				c.cursor = id
			case "problem":
				if strings.Contains(data, `"unknown_token"`) {
					return errSessionGone
				}
			}
			id, event, data = "", "", ""
		}
	}
	return nil // dropped or ended: an unfinished block is not processed
}

func (c *client) ws(ctx context.Context, d time.Duration) error {
	dialer := websocket.Dialer{HandshakeTimeout: time.Second}
	conn, _, err := dialer.DialContext(ctx, "ws"+strings.TrimPrefix(c.in.pick(), "http")+"/rt/ws", nil)
	if err != nil {
		return nil
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]string{"op": "auth", "token": c.token, "cursor": c.cursor}); err != nil {
		return nil
	}
	conn.SetReadDeadline(time.Now().Add(d))
	for {
		var f struct {
			Op     string    `json:"op"`
			Cursor string    `json:"cursor"`
			Event  *envelope `json:"event"`
		}
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code == closeUnknownToken {
				return errSessionGone
			}
			return nil
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return err
		}
		switch f.Op {
		case "event":
			c.process(*f.Event)
		case "reset":
			c.resets++
			c.cursor = f.Cursor
		}
	}
}
