package negotiate

import (
	"bufio"
	"net"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// corkFlushBytes is how much a corked connection gathers before it writes
// anyway: a batch's frames go out in writes of about this size (some 40
// events of the usual size each), and a frame at least this large goes out
// by itself, uncopied. It is also the most a connection holds while a
// write to a client that is not reading waits out its deadline: no more
// than the two 4 KiB buffers every connection used to hold for good.
const corkFlushBytes = 8 << 10

// A corkConn is a WebSocket's network connection, which can gather the
// frames of a batch and send them in one write (one system call) instead
// of one write per frame.
//
// gorilla/websocket writes each frame with its own Write, after setting
// the frame's write deadline, under its own lock: a control frame written
// meanwhile by the reader goroutine (a pong) lands whole between two data
// frames, in the order gorilla wrote them. While corked, the furthest
// deadline gorilla set bounds every write the batch makes. A write that
// fails is remembered: every later Write fails with the same error, so
// gorilla learns of a failed flush at its next write.
type corkConn struct {
	net.Conn

	mu       sync.Mutex
	corked   bool
	buf      *[]byte   // from batchBuffers while corked and holding frames
	deadline time.Time // the deadline for the next write: gorilla's latest, or while corked its furthest
	applied  time.Time // the deadline the network connection has
	err      error
}

// corkingWriter hands the WebSocket upgrader a corkConn instead of the
// hijacked connection.
type corkingWriter struct {
	gin.ResponseWriter
}

func (w corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := w.ResponseWriter.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return &corkConn{Conn: conn}, brw, nil
}

// cork makes the writes that follow gather until uncork. It is a no-op on
// a nil corkConn, so that callers need not check.
func (c *corkConn) cork() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was gathered since cork, under the furthest deadline
// set, and returns the first error of the batch's writes.
func (c *corkConn) uncork() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.err == nil && c.buf != nil && len(*c.buf) > 0 {
		c.flushLocked()
	}
	if c.buf != nil {
		*c.buf = (*c.buf)[:0]
		batchBuffers.Put(c.buf)
		c.buf = nil
	}
	if c.err == nil {
		// Leave the connection's deadline as gorilla last set it; after a
		// flush it already is.
		c.setDeadlineLocked()
	}
	return c.err
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.corked {
		n, err := c.Conn.Write(p)
		if err != nil {
			c.err = err
		}
		return n, err
	}
	if c.buf != nil && len(*c.buf)+len(p) > corkFlushBytes {
		if c.flushLocked() != nil {
			return 0, c.err
		}
	}
	if len(p) >= corkFlushBytes {
		// Too large to be worth copying: it goes out by itself.
		if c.setDeadlineLocked() != nil {
			return 0, c.err
		}
		n, err := c.Conn.Write(p)
		if err != nil {
			c.err = err
		}
		return n, err
	}
	if c.buf == nil {
		c.buf = batchBuffers.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// SetWriteDeadline applies t at once, or, while corked, to the batch's
// next write. While corked the furthest deadline wins: a pong the reader
// goroutine sends mid-batch sets gorilla's 1 s control deadline, which
// must not become the deadline of the stream's frames gathered around it
// (a slow but live client would be dropped as a slow consumer).
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		if t.After(c.deadline) {
			c.deadline = t
		}
		return nil
	}
	c.deadline = t
	return c.setDeadlineLocked()
}

// SetDeadline sets the read deadline at once and the write deadline as
// SetWriteDeadline does, so that the write deadline is only ever set
// through c and c knows which one applies.
func (c *corkConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// flushLocked writes the gathered frames. It returns c.err, set if the
// write failed.
func (c *corkConn) flushLocked() error {
	if c.setDeadlineLocked() != nil {
		return c.err
	}
	if _, err := c.Conn.Write(*c.buf); err != nil {
		c.err = err
	}
	*c.buf = (*c.buf)[:0]
	return c.err
}

// setDeadlineLocked applies the latest deadline gorilla set, unless it
// already applies: setting a deadline costs a runtime timer update.
func (c *corkConn) setDeadlineLocked() error {
	if c.deadline.Equal(c.applied) {
		return c.err
	}
	if err := c.Conn.SetWriteDeadline(c.deadline); err != nil {
		c.err = err
		return err
	}
	c.applied = c.deadline
	return c.err
}
