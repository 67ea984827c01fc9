package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRound(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{`{"op":"event","event":{"id":"a.1","data":{"round":42,"text":"x"}}}`, 42, true},
		{`{"data":{"round":7}}`, 7, true},
		{`{"data":{"round":}}`, 0, false},
		{`{"data":{}}`, 0, false},
	} {
		got, ok := parseRound([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRound(%s) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestSSEReader reads SSE messages split across chunks at awkward places,
// with comments and CR LF line ends, through the chunked decoder.
func TestSSEReader(t *testing.T) {
	body := "retry: 1000\nevent: open\ndata: {}\n\n: hb\n\nid: a.1\ndata: {\"round\":1}\n\nid: a.2\r\ndata: {\"round\":2}\r\n\r\n"
	var chunked strings.Builder
	for _, part := range []string{body[:5], body[5:40], body[40:41], body[41:]} {
		chunked.WriteString(strings.ToUpper(strconv.FormatInt(int64(len(part)), 16)) + "\r\n" + part + "\r\n")
	}
	chunked.WriteString("0\r\n\r\n")
	r := &sseReader{lines: bufio.NewReaderSize(&chunkedReader{br: bufio.NewReaderSize(strings.NewReader(chunked.String()), 16)}, 64)}
	var got []string
	for {
		m, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.event)+"|"+string(m.data))
	}
	want := []string{"open|{}", `|{"round":1}`, `|{"round":2}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("messages = %q, want %q", got, want)
	}
}

// TestWSFrames writes client frames and reads server-style frames of each
// length encoding.
func TestWSFrames(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	client := &httpConn{nc: a, br: bufio.NewReader(a)}
	go func() {
		for _, n := range []int{5, 200, 70000} {
			frame := []byte{0x80 | wsText}
			switch {
			case n < 126:
				frame = append(frame, byte(n))
			case n <= 0xffff:
				frame = append(frame, 126, byte(n>>8), byte(n))
			default:
				frame = append(frame, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
			}
			frame = append(frame, bytes.Repeat([]byte{'x'}, n)...)
			_, _ = b.Write(frame)
		}
	}()
	for _, n := range []int{5, 200, 70000} {
		op, p, err := client.readFrame()
		if err != nil || op != wsText || len(p) != n {
			t.Fatalf("frame of %d: op %d, %d bytes, %v", n, op, len(p), err)
		}
	}
	go func() { _ = client.writeFrame(wsPong, []byte("hi")) }()
	got := make([]byte, 8)
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x80 | wsPong, 0x80 | 2, 0, 0, 0, 0, 'h', 'i'}; !bytes.Equal(got, want) {
		t.Errorf("pong frame = %x, want %x", got, want)
	}
}

// TestStreamHub checks that the floor's log hands every frame out once, in
// order, across generations and trims, and drops a reader left too far
// behind.
func TestStreamHub(t *testing.T) {
	var h streamHub
	h.init()
	next := h.head()
	var got int
	for i := range 3 * hubKeep {
		h.publish([]byte{byte(i)})
		if i%7 == 0 {
			frames, ok := h.cur.Load().since(next)
			if !ok {
				t.Fatalf("reader at %d dropped after %d publishes", next, i+1)
			}
			for j, f := range frames {
				if f[0] != byte(next+j) {
					t.Fatalf("frame %d = %d", next+j, f[0])
				}
			}
			next += len(frames)
			got += len(frames)
		}
	}
	frames, _ := h.cur.Load().since(next)
	if got += len(frames); got != 3*hubKeep {
		t.Errorf("read %d frames, want %d", got, 3*hubKeep)
	}
	if _, ok := h.cur.Load().since(0); ok {
		t.Error("a reader at frame 0 was not dropped")
	}
}

// nextRound walks the rounds of a batched "events" frame in order.
func TestNextRoundWalksAnEventsFrame(t *testing.T) {
	frame := []byte(`{"op":"events","events":[{"id":"a.1","data":{"round":7,"text":"x"}},{"id":"a.2","data":{"round":8,"text":"y"}}]}`)
	var got []uint64
	for rest := frame; ; {
		k, next, ok := nextRound(rest)
		if !ok {
			break
		}
		got = append(got, k)
		rest = next
	}
	if len(got) != 2 || got[0] != 7 || got[1] != 8 {
		t.Fatalf("rounds = %v, want [7 8]", got)
	}
}
