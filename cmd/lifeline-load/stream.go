package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Streams (WebSocket and SSE): each of the N connections is turned into a
// stream once, in the first "arm", and stays open for the whole run. One
// reader goroutine per stream parses what arrives with as little work as
// possible (frame headers or SSE lines, then a search for "round": in the
// event) and records, per event, the time since the publish of that event.
// Rounds then publish through the control connection: "fire" one event
// (fan-out latency), "burst" E events back to back (throughput).

// subscriber is one stream.
type subscriber struct {
	i int
	c *httpConn
	// next is the round of the next event expected; owned by the reader
	// goroutine once it runs.
	next uint64
	// sse reads the SSE body (nil for WebSocket).
	sse *sseReader

	mu        sync.Mutex
	dead      bool
	donePhase int // the id of the last phase this subscriber finished
}

// phase is one publish of e events, rounds lo to lo+e-1, and what the
// subscribers saw of it.
type phase struct {
	id   int
	lo   uint64
	n, e int
	pub  []atomic.Int64 // publish start of event j, ns since the load's epoch
	lat  []atomic.Int64 // lat[i*e+j]: event j's latency at subscriber i, ns; 0: not delivered
	last atomic.Int64   // the latest arrival of the last event, ns since the epoch
	left atomic.Int64   // subscribers that have not finished
	done chan struct{}  // closed when left reaches 0

	mu       sync.Mutex
	errs     int
	firstErr error
}

func newPhase(id int, lo uint64, n, e int) *phase {
	ph := &phase{id: id, lo: lo, n: n, e: e, pub: make([]atomic.Int64, e), lat: make([]atomic.Int64, n*e), done: make(chan struct{})}
	ph.left.Store(int64(n))
	return ph
}

func (ph *phase) fail(err error) {
	ph.mu.Lock()
	ph.errs++
	if ph.firstErr == nil {
		ph.firstErr = err
	}
	ph.mu.Unlock()
}

// finish marks s done with ph, failed if err is not nil; only the first
// call per phase counts.
func (ph *phase) finish(s *subscriber, err error) {
	s.mu.Lock()
	if s.donePhase == ph.id {
		s.mu.Unlock()
		return
	}
	s.donePhase = ph.id
	s.mu.Unlock()
	if err != nil {
		ph.fail(fmt.Errorf("stream %d: %w", s.i, err))
	}
	if ph.left.Add(-1) == 0 {
		close(ph.done)
	}
}

// streams is the stream state of a load.
type streams struct {
	subs    []*subscriber
	phase   atomic.Pointer[phase]
	phases  int    // phases run so far
	nextK   uint64 // the round of the next publish; owned by the driver
	readers sync.WaitGroup
	closing atomic.Bool

	mu       sync.Mutex // errors outside any phase
	errs     int
	firstErr error
}

func (st *streams) stray(err error) {
	st.mu.Lock()
	st.errs++
	if st.firstErr == nil {
		st.firstErr = err
	}
	st.mu.Unlock()
}

// openStreams turns every ready connection into a stream and waits until
// each has received its open message.
func (l *load) openStreams() error {
	l.st.subs = make([]*subscriber, l.n)
	if l.st.nextK == 0 {
		l.st.nextK = 1
	}
	err := l.each(func(i int) error {
		s := &subscriber{i: i, c: l.conns[i], next: l.st.nextK}
		var err error
		if l.transport == transportWebSocket {
			err = l.openWS(s)
		} else {
			err = l.openSSE(s)
		}
		if err != nil {
			return err
		}
		if err := s.c.nc.SetDeadline(time.Time{}); err != nil {
			return err
		}
		l.st.subs[i] = s
		l.st.readers.Add(1)
		go l.read(s)
		return nil
	})
	return err
}

// closeStreams waits for the reader goroutines once the connections are
// closed.
func (l *load) closeStreams() {
	l.st.closing.Store(true)
	l.st.readers.Wait()
}

// read runs the reader goroutine of s until its stream fails.
func (l *load) read(s *subscriber) {
	defer l.st.readers.Done()
	var err error
	if s.sse != nil {
		err = l.readSSE(s)
	} else {
		err = l.readWS(s)
	}
	if l.st.closing.Load() {
		return
	}
	s.mu.Lock()
	s.dead = true
	s.mu.Unlock()
	err = fmt.Errorf("stream ended: %w", err)
	if ph := l.st.phase.Load(); ph != nil {
		ph.finish(s, err)
	} else {
		l.st.stray(fmt.Errorf("stream %d: %w", s.i, err))
	}
}

// deliver records event k arriving at s at (ns since the epoch).
func (l *load) deliver(s *subscriber, k uint64, at int64) {
	ph := l.st.phase.Load()
	if ph == nil || k < ph.lo || k >= ph.lo+uint64(ph.e) {
		l.st.stray(fmt.Errorf("stream %d: event %d outside any publish", s.i, k))
		return
	}
	if k != s.next {
		err := fmt.Errorf("event %d where %d was expected", k, s.next)
		s.next = k + 1
		ph.finish(s, err)
		return
	}
	s.next = k + 1
	j := int(k - ph.lo)
	ph.lat[s.i*ph.e+j].Store(max(at-ph.pub[j].Load(), 1))
	if j == ph.e-1 {
		for {
			last := ph.last.Load()
			if at <= last || ph.last.CompareAndSwap(last, at) {
				break
			}
		}
		ph.finish(s, nil)
	}
}

// phaseResult is what one publish of e events measured.
type phaseResult struct {
	lat        latencySummary // over every delivery
	deliveries int            // events delivered, over all subscribers
	complete   int            // subscribers that got every event
	elapsed    time.Duration  // from the first publish to the last delivery
	published  time.Duration  // from the first publish to the last publish's answer
	errs       int
	firstErr   error
}

// publish publishes e events back to back on the control connection, each
// once the previous one is answered, and waits until every stream has them
// all, at most the timeout.
func (l *load) publish(e int) (phaseResult, error) {
	st := &l.st
	st.phases++
	ph := newPhase(st.phases, st.nextK, l.n, e)
	st.nextK += uint64(e)
	st.phase.Store(ph)
	defer st.phase.Store(nil)
	for _, s := range st.subs {
		s.mu.Lock()
		dead := s.dead
		s.mu.Unlock()
		if dead {
			ph.finish(s, errors.New("stream closed before the publish"))
		}
	}
	for j := range e {
		ph.pub[j].Store(int64(time.Since(l.epoch)))
		if _, err := l.call("POST", pathPublish+"?k="+strconv.FormatUint(ph.lo+uint64(j), 10)); err != nil {
			return phaseResult{}, err
		}
	}
	published := time.Since(l.epoch)
	timer := time.NewTimer(l.timeout)
	defer timer.Stop()
	select {
	case <-ph.done:
	case <-timer.C:
	}
	start := ph.pub[0].Load()
	res := phaseResult{published: published - time.Duration(start)}
	lat := make([]time.Duration, 0, len(ph.lat))
	for i := range l.n {
		got := 0
		for j := range e {
			if v := ph.lat[i*e+j].Load(); v > 0 {
				lat = append(lat, time.Duration(v))
				got++
			}
		}
		if got == e {
			res.complete++
		}
	}
	res.deliveries = len(lat)
	res.lat = summarize(lat)
	if last := ph.last.Load(); last > start {
		res.elapsed = time.Duration(last - start)
	}
	ph.mu.Lock()
	res.errs, res.firstErr = ph.errs, ph.firstErr
	ph.mu.Unlock()
	st.mu.Lock()
	res.errs += st.errs
	if res.firstErr == nil {
		res.firstErr = st.firstErr
	}
	st.errs, st.firstErr = 0, nil
	st.mu.Unlock()
	if res.complete < l.n && res.errs == 0 {
		res.errs = l.n - res.complete
		res.firstErr = errors.New("streams did not get every event within the timeout")
	}
	return res, nil
}

// fanOut is a publish of one event, as a long-poll round measures it.
func (r phaseResult) fanOut() roundResult {
	return roundResult{lat: r.lat, delivered: r.complete, errs: r.errs, firstErr: r.firstErr}
}

// parseRound returns the round of an event: the number after "round":.
func parseRound(b []byte) (uint64, bool) {
	k, _, ok := nextRound(b)
	return k, ok
}

// nextRound returns the number after the first "round": in b, and what
// follows it.
func nextRound(b []byte) (uint64, []byte, bool) {
	const key = `"round":`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, nil, false
	}
	rest := b[i+len(key):]
	var k uint64
	n := 0
	for _, ch := range rest {
		if ch < '0' || ch > '9' {
			break
		}
		k = k*10 + uint64(ch-'0')
		n++
	}
	return k, rest[n:], n > 0
}

// WebSocket (RFC 6455), the client side: a fixed handshake key, frames from
// the server unmasked, frames to it masked with a zero key.

const wsKey = "dGhlIHNhbXBsZSBub25jZQ=="

// WebSocket opcodes.
const (
	wsText  = 0x1
	wsClose = 0x8
	wsPing  = 0x9
	wsPong  = 0xA
)

// openWS upgrades s's connection, authenticates on Lifeline, and reads the
// open frame.
func (l *load) openWS(s *subscriber) error {
	c := s.c
	target := "/ws"
	if l.lifeline() {
		target = "/rt/ws?cursor=" + url.QueryEscape(c.cursor)
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: " + c.addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wsKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if err := c.nc.SetDeadline(l.deadline()); err != nil {
		return err
	}
	if _, err := io.WriteString(c.nc, req); err != nil {
		return err
	}
	status, _, _, err := c.readHead()
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if status != 101 {
		return fmt.Errorf("upgrade: status %d", status)
	}
	switch {
	case l.lifeline():
		// "batch": the events the stream has at once in one frame, as
		// the TypeScript client asks for them.
		auth := `{"op":"auth","token":` + strconv.Quote(c.token) + `,"cursor":` + strconv.Quote(c.cursor) + `,"batch":true}`
		if err := c.writeFrame(wsText, []byte(auth)); err != nil {
			return err
		}
	case l.kind == targetCentrifuge:
		if err := c.writeFrame(wsText, []byte(centrifugeConnect)); err != nil {
			return err
		}
	}
	for {
		op, p, err := c.readFrame()
		if err != nil {
			return fmt.Errorf("waiting for open: %w", err)
		}
		if op == wsPing {
			if err := c.writeFrame(wsPong, p); err != nil {
				return err
			}
			continue
		}
		if l.kind == targetCentrifuge && op == wsText && bytes.Contains(p, []byte(`"connect":{`)) {
			return nil
		}
		if op != wsText || !bytes.Contains(p, []byte(`"op":"open"`)) {
			return fmt.Errorf("first frame is not open: opcode %d %q", op, p)
		}
		return nil
	}
}

// readWS reads s's frames until the connection fails.
func (l *load) readWS(s *subscriber) error {
	c := s.c
	for {
		op, p, err := c.readFrame()
		if err != nil {
			return err
		}
		switch op {
		case wsText:
			switch {
			case l.kind == targetCentrifuge:
				if err := l.centrifugeFrame(s, p); err != nil {
					return err
				}
			case bytes.HasPrefix(p, []byte(`{"op":"events"`)):
				at := int64(time.Since(l.epoch))
				n := 0
				for rest := p; ; n++ {
					k, next, ok := nextRound(rest)
					if !ok {
						break
					}
					l.deliver(s, k, at)
					rest = next
				}
				if n == 0 {
					return fmt.Errorf("events frame without a round: %q", p)
				}
			case bytes.HasPrefix(p, []byte(`{"op":"event"`)):
				at := int64(time.Since(l.epoch))
				k, ok := parseRound(p)
				if !ok {
					return fmt.Errorf("event without a round: %q", p)
				}
				l.deliver(s, k, at)
			case bytes.Equal(p, []byte(`{"op":"hb"}`)):
			default:
				return fmt.Errorf("unexpected frame %q", p)
			}
		case wsPing:
			if err := c.writeFrame(wsPong, p); err != nil {
				return err
			}
		case wsPong:
		case wsClose:
			code := 0
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
			return fmt.Errorf("closed by the server: %d %q", code, p[min(2, len(p)):])
		default:
			return fmt.Errorf("unexpected opcode %d", op)
		}
	}
}

// readFrame reads one unfragmented frame from the server. The payload is
// valid until the next read.
func (c *httpConn) readFrame() (byte, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(c.br, h[:2]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[0]&0x0f == 0 {
		return 0, nil, errors.New("fragmented frame")
	}
	if h[1]&0x80 != 0 {
		return 0, nil, errors.New("masked frame from the server")
	}
	op, n := h[0]&0x0f, uint64(h[1]&0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.br, h[:2]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(c.br, h[:8]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(h[:8])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	if uint64(cap(c.body)) < n {
		c.body = make([]byte, n)
	}
	c.body = c.body[:n]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return 0, nil, err
	}
	return op, c.body, nil
}

// writeFrame writes one masked frame (the zero mask: the payload goes as it
// is, which RFC 6455 allows).
func (c *httpConn) writeFrame(op byte, p []byte) error {
	b := make([]byte, 0, 14+len(p))
	b = append(b, 0x80|op)
	switch {
	case len(p) < 126:
		b = append(b, 0x80|byte(len(p)))
	case len(p) <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(len(p)))
	}
	b = append(b, 0, 0, 0, 0)
	b = append(b, p...)
	_, err := c.nc.Write(b)
	return err
}

// Server-Sent Events: the response body is chunked (net/http streams
// without a Content-Length), so a chunked decoder feeds a line reader.

// sseReader reads SSE messages from a response body.
type sseReader struct {
	lines *bufio.Reader
	event []byte // the current message's event name
	data  []byte // the current message's data, copied
}

// sseMessage is one dispatched message; valid until the next read.
type sseMessage struct {
	event, data []byte
}

// openSSE sends the stream request on s's connection and reads the open
// event.
func (l *load) openSSE(s *subscriber) error {
	c := s.c
	target := "/sse"
	switch {
	case l.lifeline():
		target = "/rt/sse?cursor=" + url.QueryEscape(c.cursor)
	case l.kind == targetCentrifuge:
		target = "/sse?cf_connect=" + url.QueryEscape(centrifugeConnect)
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: " + c.addr + "\r\nAccept: text/event-stream\r\n"
	if l.lifeline() {
		req += "Lifeline-Token: " + c.token + "\r\n"
	}
	req += "\r\n"
	if err := c.nc.SetDeadline(l.deadline()); err != nil {
		return err
	}
	if _, err := io.WriteString(c.nc, req); err != nil {
		return err
	}
	status, length, chunked, err := c.readHead()
	if err != nil {
		return fmt.Errorf("sse: %w", err)
	}
	if status != 200 {
		return fmt.Errorf("sse: status %d", status)
	}
	var body io.Reader = c.br
	switch {
	case chunked:
		body = &chunkedReader{br: c.br}
	case length >= 0:
		return fmt.Errorf("sse: response with Content-Length %d", length)
	}
	s.sse = &sseReader{lines: bufio.NewReaderSize(body, 4096)}
	m, err := s.sse.next()
	if err != nil {
		return fmt.Errorf("sse: waiting for open: %w", err)
	}
	if l.kind == targetCentrifuge {
		if !bytes.Contains(m.data, []byte(`"connect":{`)) {
			return fmt.Errorf("sse: first message is not the connect reply: %q", m.data)
		}
		return nil
	}
	if string(m.event) != "open" {
		return fmt.Errorf("sse: first message is %q, not open: %q", m.event, m.data)
	}
	return nil
}

// readSSE reads s's messages until the stream fails.
func (l *load) readSSE(s *subscriber) error {
	for {
		m, err := s.sse.next()
		if err != nil {
			return err
		}
		if string(m.event) == "probe" {
			continue // the server's probe after opening (PROTOCOL.md §5a)
		}
		if len(m.event) != 0 && string(m.event) != "message" {
			return fmt.Errorf("unexpected %q message: %q", m.event, m.data)
		}
		if l.kind == targetCentrifuge {
			if err := l.centrifugeFrame(s, m.data); err != nil {
				return err
			}
			continue
		}
		at := int64(time.Since(l.epoch))
		k, ok := parseRound(m.data)
		if !ok {
			return fmt.Errorf("event without a round: %q", m.data)
		}
		l.deliver(s, k, at)
	}
}

// centrifugeFrame handles what centrifuge sent in one WebSocket frame or
// SSE message: one or more JSON messages, one per line. A publication
// push ({"push":{"channel":...,"pub":{"data":...}}}) is a delivery; an
// empty object is a ping (off in the run, answered anyway on WebSocket).
func (l *load) centrifugeFrame(s *subscriber, p []byte) error {
	for len(p) > 0 {
		line, rest, _ := bytes.Cut(p, []byte("\n"))
		p = rest
		switch {
		case len(line) == 0:
		case bytes.Equal(line, []byte("{}")):
			if s.sse == nil {
				if err := s.c.writeFrame(wsText, []byte("{}")); err != nil {
					return err
				}
			}
		case bytes.HasPrefix(line, []byte(`{"push":`)) && bytes.Contains(line, []byte(`"pub":{`)):
			at := int64(time.Since(l.epoch))
			k, ok := parseRound(line)
			if !ok {
				return fmt.Errorf("publication without a round: %q", line)
			}
			l.deliver(s, k, at)
		default:
			return fmt.Errorf("unexpected centrifuge message %q", line)
		}
	}
	return nil
}

// next reads up to the blank line that ends a message and returns the
// message; comment-only and empty messages are skipped.
func (r *sseReader) next() (sseMessage, error) {
	r.event, r.data = r.event[:0], r.data[:0]
	seen := false
	for {
		line, err := r.lines.ReadSlice('\n')
		if err != nil {
			return sseMessage{}, err
		}
		line = line[:len(line)-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			if seen {
				return sseMessage{event: r.event, data: r.data}, nil
			}
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "event":
			r.event = append(r.event[:0], value...)
			seen = true
		case "data":
			if len(r.data) > 0 {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			seen = true
		case "": // a comment (": hb")
		}
	}
}

// chunkedReader decodes an HTTP/1.1 chunked body.
type chunkedReader struct {
	br       *bufio.Reader
	left     int  // bytes left in the current chunk
	needCRLF bool // the CR LF after a chunk's data is still to be read
	eof      bool
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	for r.left == 0 {
		if r.eof {
			return 0, io.EOF
		}
		if r.needCRLF {
			if _, err := r.br.Discard(2); err != nil {
				return 0, err
			}
			r.needCRLF = false
		}
		line, err := r.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseUint(string(line), 16, 31)
		if err != nil {
			return 0, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			r.eof = true
			return 0, io.EOF
		}
		r.left, r.needCRLF = int(size), true
	}
	n, err := r.br.Read(p[:min(len(p), r.left)])
	r.left -= n
	return n, err
}

// armStreams opens the streams the first time, and then, every time, waits
// until the server counts N streams in their handler.
func (l *load) armStreams() error {
	if l.st.subs == nil {
		if err := l.openStreams(); err != nil {
			return err
		}
	}
	for _, s := range l.st.subs {
		s.mu.Lock()
		dead := s.dead
		s.mu.Unlock()
		if dead {
			return fmt.Errorf("stream %d has ended", s.i)
		}
	}
	return l.waitHeld(l.n, nil)
}
