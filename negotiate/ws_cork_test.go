package negotiate

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// tcpPair returns both ends of a loopback TCP connection, the server's
// counting its writes.
func tcpPair(t *testing.T) (*countingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	return &countingConn{Conn: server}, client
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCorkGathersABatchIntoOneWrite(t *testing.T) {
	raw, client := tcpPair(t)
	c := &corkConn{Conn: raw}
	var want []byte
	c.cork()
	for i := range 50 {
		frame := bytes.Repeat([]byte{byte('a' + i%26)}, 100)
		want = append(want, frame...)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if n := raw.writes.Load(); n != 0 {
		t.Fatalf("%d writes reached the network while corked", n)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	if n := raw.writes.Load(); n != 1 {
		t.Fatalf("the batch took %d writes, want 1", n)
	}
	if c.buf != nil {
		t.Fatal("the connection kept its buffer after the batch")
	}
	if got := readN(t, client, len(want)); !bytes.Equal(got, want) {
		t.Fatal("the client read other bytes than were written")
	}

	// Uncorked, every write goes straight out.
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n := raw.writes.Load(); n != 2 {
		t.Fatalf("an uncorked write made %d writes in all, want 2", n)
	}
	readN(t, client, 1)
}

func TestCorkKeepsOrderAroundLargeFrames(t *testing.T) {
	raw, client := tcpPair(t)
	c := &corkConn{Conn: raw}
	small := bytes.Repeat([]byte("s"), 1000)
	large := bytes.Repeat([]byte("L"), corkFlushBytes+1)
	var want []byte
	c.cork()
	// The client reads concurrently: the large write may need room.
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 3*len(small)+len(large))
		_ = client.SetReadDeadline(time.Now().Add(waitTimeout))
		_, _ = io.ReadFull(client, b)
		got <- b
	}()
	for _, frame := range [][]byte{small, small, large, small} {
		want = append(want, frame...)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	// small+small, then large by itself, then the last small.
	if n := raw.writes.Load(); n != 3 {
		t.Fatalf("%d writes, want 3", n)
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("frames arrived out of order")
	}
}

func TestCorkFlushFailureSticks(t *testing.T) {
	raw, _ := tcpPair(t)
	c := &corkConn{Conn: raw}
	c.cork()
	// A deadline already past: the batch's write fails at once, as a
	// slow consumer's does when its deadline passes.
	if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("frame")); err != nil {
		t.Fatalf("a corked write failed before the flush: %v", err)
	}
	err := c.uncork()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("uncork = %v, want a deadline error", err)
	}
	var timeout interface{ Timeout() bool }
	if !errors.As(err, &timeout) || !timeout.Timeout() {
		t.Fatalf("uncork = %v, which does not report a timeout: the stream would not see a slow consumer", err)
	}
	if _, later := c.Write([]byte("next")); !errors.Is(later, os.ErrDeadlineExceeded) {
		t.Fatalf("the write after a failed flush = %v, want the same error", later)
	}
	if c.buf != nil {
		t.Fatal("the connection kept its buffer after a failed batch")
	}
}

func TestCorkNilIsANoOp(t *testing.T) {
	var c *corkConn
	c.cork()
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
}

func TestCorkSetDeadlineKeepsTheBookkeeping(t *testing.T) {
	raw, client := tcpPair(t)
	c := &corkConn{Conn: raw}
	later := time.Now().Add(time.Hour)
	_ = c.SetWriteDeadline(later)
	if err := c.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	// Setting the later deadline again must reach the connection: c must
	// not believe it still applies.
	if err := c.SetWriteDeadline(later); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("y")); err != nil {
		t.Fatalf("write after restoring the deadline = %v", err)
	}
	if got := readN(t, client, 1); string(got) != "y" {
		t.Fatalf("the client read %q, want y", got)
	}
}

// A short deadline set mid-batch (a pong's, from the reader goroutine)
// does not bound the flush of the frames gathered around it.
func TestCorkFlushesUnderTheFurthestDeadline(t *testing.T) {
	raw, client := tcpPair(t)
	c := &corkConn{Conn: raw}
	c.cork()
	_ = c.SetWriteDeadline(time.Now().Add(time.Hour)) // the stream's frame
	if _, err := c.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(-time.Second)) // a control frame's, already past
	if _, err := c.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := c.uncork(); err != nil {
		t.Fatalf("uncork under the stream's deadline = %v", err)
	}
	if got := readN(t, client, 2); string(got) != "ab" {
		t.Fatalf("the client read %q, want ab", got)
	}
}
