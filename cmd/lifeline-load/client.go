package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// dialWorkers bounds concurrent connection set-up, so that the accept queue
// and the server are not flooded while connecting N clients.
const dialWorkers = 32

// load drives N keep-alive connections to a server: it connects them,
// then for long-poll arms one held poll on each, publishes, and times every
// delivery; for streams it opens one stream on each (see stream.go). When
// the server is several instances (the redis target), connection i goes to
// instance i modulo their number, and every publish to the first.
type load struct {
	kind      string // targetFloor, targetLifeline or targetRedis
	transport string // "longpoll", "websocket" or "sse"
	addrs     []string
	n         int
	timeout   time.Duration
	epoch     time.Time // latencies are measured on its monotonic clock

	ctls  []*httpConn // control connections, one per instance: /held, /publish, /ping
	conns []*httpConn
	st    streams
	tp    throughput
}

func newLoad(kind, transport string, addrs []string, n int, timeout time.Duration) (*load, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no server address")
	}
	l := &load{kind: kind, transport: transport, addrs: addrs, n: n, timeout: timeout, epoch: time.Now()}
	for _, addr := range addrs {
		ctl, err := dialConn(addr, 1024, timeout)
		if err != nil {
			l.close()
			return nil, err
		}
		l.ctls = append(l.ctls, ctl)
	}
	return l, nil
}

func (l *load) streaming() bool { return l.transport != transportLongPoll }

// lifeline reports whether the server speaks Lifeline's protocol
// (negotiate, tokens, cursors): the lifeline and redis targets.
func (l *load) lifeline() bool { return l.kind == targetLifeline || l.kind == targetRedis }

// close closes every connection, which also ends any poll or stream still
// held, and waits for the streams' reader goroutines.
func (l *load) close() {
	l.st.closing.Store(true)
	for _, c := range l.ctls {
		c.Close()
	}
	for _, c := range l.conns {
		if c != nil {
			c.Close()
		}
	}
	l.closeStreams()
}

func (l *load) deadline() time.Time { return time.Now().Add(l.timeout) }

// call makes one request on the first instance's control connection and
// wants a 2xx.
func (l *load) call(method, target string) ([]byte, error) {
	return l.callOn(l.ctls[0], method, target, l.deadline())
}

// callOn makes one request on a control connection and wants a 2xx.
func (l *load) callOn(ctl *httpConn, method, target string, deadline time.Time) ([]byte, error) {
	status, body, err := ctl.roundTrip(request(method, ctl.addr, target, "", nil), deadline)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	if status/100 != 2 {
		return nil, fmt.Errorf("%s %s: status %d: %s", method, target, status, body)
	}
	return body, nil
}

// warmUp exercises the server without holding any poll, so that the
// baseline RSS includes a started, used server.
func (l *load) warmUp() error {
	for _, ctl := range l.ctls {
		for range 50 {
			if _, err := l.callOn(ctl, "GET", pathPing, l.deadline()); err != nil {
				return err
			}
		}
		for range 3 {
			if _, err := l.callOn(ctl, "POST", pathPublish, l.deadline()); err != nil {
				return err
			}
		}
	}
	_, err := l.held()
	return err
}

// held returns the count of poll requests in their handler, over every
// instance.
func (l *load) held() (int, error) {
	sum := 0
	for _, ctl := range l.ctls {
		body, err := l.callOn(ctl, "GET", pathHeld, l.deadline())
		if err != nil {
			return 0, err
		}
		n, err := strconv.Atoi(string(body))
		if err != nil {
			return 0, err
		}
		sum += n
	}
	return sum, nil
}

// waitHeld waits until the server holds want polls. failed, if not nil,
// reports a poll that ended while waiting: it will never be held.
func (l *load) waitHeld(want int, failed func() error) error {
	end := l.deadline()
	for {
		n, err := l.held()
		if err != nil {
			return err
		}
		if n == want {
			return nil
		}
		if failed != nil {
			if err := failed(); err != nil {
				return fmt.Errorf("server holds %d polls, want %d: %w", n, want, err)
			}
		}
		if time.Now().After(end) {
			return fmt.Errorf("server holds %d polls after %v, want %d", n, l.timeout, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// connect opens the N connections, each from its own loopback source
// address (see sourceAddr), and readies each: a ping for the floor and
// centrifuge;
// for Lifeline, a negotiate on the bench topic and then, once every client
// has negotiated, a poll with timeout=0 that learns the current cursor (with
// presence on, the other clients' joins come after the negotiated cursor).
// No poll is held afterwards.
func (l *load) connect() error {
	l.conns = make([]*httpConn, l.n)
	bufSize := 1024
	if l.streaming() {
		bufSize = 4096
	}
	err := l.each(func(i int) error {
		c, err := dialConnFrom(sourceAddr(i), l.addrs[i%len(l.addrs)], bufSize, l.timeout)
		if err != nil {
			return err
		}
		l.conns[i] = c
		if !l.lifeline() {
			return l.ping(c)
		}
		return l.negotiate(c)
	})
	if err != nil || !l.lifeline() {
		return err
	}
	return l.each(func(i int) error { return l.catchUp(l.conns[i]) })
}

// each runs f for 0 <= i < N on dialWorkers goroutines and returns the
// first error; after an error it starts no new f.
func (l *load) each(f func(i int) error) error {
	var next atomic.Int64
	errs := make(chan error, dialWorkers)
	for range dialWorkers {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= l.n {
					errs <- nil
					return
				}
				if err := f(i); err != nil {
					next.Store(int64(l.n)) // stop the other workers
					errs <- fmt.Errorf("connection %d: %w", i, err)
					return
				}
			}
		}()
	}
	var first error
	for range dialWorkers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (l *load) ping(c *httpConn) error {
	status, body, err := c.roundTrip(request("GET", c.addr, pathPing, "", nil), l.deadline())
	if err == nil && status != 204 {
		err = fmt.Errorf("ping: status %d: %s", status, body)
	}
	return err
}

func (l *load) negotiate(c *httpConn) error {
	status, body, err := c.roundTrip(request("POST", c.addr, "/rt/negotiate", "", []byte(`{"topics":["`+benchTopic+`"]}`)), l.deadline())
	if err != nil {
		return fmt.Errorf("negotiate: %w", err)
	}
	var neg struct {
		Token  string `json:"token"`
		Cursor string `json:"cursor"`
	}
	if status != 200 {
		return fmt.Errorf("negotiate: status %d: %s", status, body)
	}
	if err := json.Unmarshal(body, &neg); err != nil || neg.Token == "" || neg.Cursor == "" {
		return fmt.Errorf("negotiate: bad answer %s", body)
	}
	c.token, c.cursor = neg.Token, neg.Cursor
	return nil
}

// catchUp polls with timeout=0 until the answer says nothing more is
// buffered, leaving c.cursor at the head.
func (l *load) catchUp(c *httpConn) error {
	for {
		status, body, err := c.roundTrip(request("GET", c.addr, "/rt/poll?timeout=0&cursor="+url.QueryEscape(c.cursor), c.token, nil), l.deadline())
		if err != nil {
			return fmt.Errorf("poll timeout=0: %w", err)
		}
		if status != 200 {
			return fmt.Errorf("poll timeout=0: status %d: %s", status, body)
		}
		if c.cursor, err = pollCursor(body); err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(`"more":true`)) {
			return nil
		}
	}
}

// pollCursor returns the "cursor" of a Lifeline poll answer.
func pollCursor(body []byte) (string, error) {
	const key = `"cursor":"`
	i := bytes.LastIndex(body, []byte(key))
	if i < 0 {
		return "", fmt.Errorf("poll answer without a cursor: %s", body)
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 {
		return "", fmt.Errorf("poll answer with a bad cursor: %s", body)
	}
	return string(rest[:j]), nil
}

// armed is one round: a held poll on every connection, waiting for the
// publish.
type armed struct {
	l         *load
	lat       []time.Duration // per connection; valid where ok[i]
	ok        []bool
	start     atomic.Int64 // nanoseconds since l.epoch just before the publish; 0 before
	wg        sync.WaitGroup
	delivered atomic.Int64
	mu        sync.Mutex
	errs      int
	firstErr  error
}

// arm sends one poll on every connection; each waits on its own goroutine.
func (l *load) arm() *armed {
	a := &armed{l: l, lat: make([]time.Duration, l.n), ok: make([]bool, l.n)}
	far := time.Now().Add(3 * l.timeout) // fire() cuts it short on timeout
	a.wg.Add(l.n)
	for i, c := range l.conns {
		req := request("GET", c.addr, "/poll", "", nil)
		if l.lifeline() {
			req = request("GET", c.addr, "/rt/poll?cursor="+url.QueryEscape(c.cursor), c.token, nil)
		}
		go a.hold(i, c, req, far)
	}
	return a
}

func (a *armed) hold(i int, c *httpConn, req []byte, deadline time.Time) {
	defer a.wg.Done()
	status, body, err := c.roundTrip(req, deadline)
	at := time.Since(a.l.epoch)
	start := time.Duration(a.start.Load())
	switch {
	case err != nil:
	case start == 0:
		err = fmt.Errorf("answered before the publish: status %d: %s", status, body)
	case status != 200:
		err = fmt.Errorf("status %d: %s", status, body)
	case !bytes.HasPrefix(body, []byte(`{"events":[{`)):
		err = fmt.Errorf("answer without an event: %s", body)
	case a.l.lifeline():
		if bytes.Contains(body, []byte(`"reset":true`)) || bytes.Contains(body, []byte(`"superseded":true`)) {
			err = fmt.Errorf("unexpected answer: %s", body)
		} else {
			c.cursor, err = pollCursor(body)
		}
	}
	if err != nil {
		a.mu.Lock()
		a.errs++
		if a.firstErr == nil {
			a.firstErr = fmt.Errorf("poll %d: %w", i, err)
		}
		a.mu.Unlock()
		return
	}
	a.lat[i], a.ok[i] = at-start, true
	a.delivered.Add(1)
}

// failed returns the first error of a poll that has already ended.
func (a *armed) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.firstErr
}

// abort ends every held poll and waits for their goroutines.
func (a *armed) abort() {
	for _, c := range a.l.conns {
		_ = c.nc.SetDeadline(time.Now())
	}
	a.wg.Wait()
}

// roundResult is what one publish measured.
type roundResult struct {
	lat       latencySummary
	cpu       time.Duration // the server's, filled in by the parent
	delivered int
	errs      int
	firstErr  error
}

// fire publishes one event and waits for every held poll to answer, up to
// the timeout; latency is from just before the publish request is written to
// the end of each poll's response.
func (a *armed) fire() (roundResult, error) {
	a.start.Store(int64(time.Since(a.l.epoch)))
	if _, err := a.l.call("POST", pathPublish); err != nil {
		a.abort()
		return roundResult{}, err
	}
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(a.l.timeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		a.abort()
		<-done
	}
	lat := make([]time.Duration, 0, a.l.n)
	for i, ok := range a.ok {
		if ok {
			lat = append(lat, a.lat[i])
		}
	}
	res := roundResult{lat: summarize(lat), delivered: len(lat), errs: a.errs, firstErr: a.firstErr}
	if res.delivered < a.l.n && res.errs == 0 {
		res.errs = a.l.n - res.delivered
		res.firstErr = errors.New("polls not answered within the timeout")
	}
	return res, nil
}
