package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// httpConn is one keep-alive HTTP/1.1 connection that writes hand-made
// requests and reads responses framed by Content-Length: no net/http client,
// no per-request goroutines, a small read buffer (1 KiB for long-polls,
// 4 KiB for streams, which read bursts of events).
type httpConn struct {
	addr string // the server's, for the Host header
	nc   net.Conn
	br   *bufio.Reader
	body []byte // the last response body, reused

	// Lifeline session state.
	token  string
	cursor string
}

func dialConn(addr string, bufSize int, timeout time.Duration) (*httpConn, error) {
	return dialConnFrom(nil, addr, bufSize, timeout)
}

// sourceAddrs is how many loopback source addresses the N clients are
// spread over: 10 000 clients make 25 per address, within every
// per-address default of Lifeline (MaxSessionsPerAddr 100,
// MaxHeldPerAddress 128, the negotiate limiter's burst of 30), so the load
// runs with those limits on, as a deployment would.
const sourceAddrs = 400

// sourceAddr is client i's source address: 127.1.0.1 up, i modulo
// sourceAddrs (all of 127.0.0.0/8 is loopback on Linux).
func sourceAddr(i int) *net.TCPAddr {
	k := i%sourceAddrs + 1
	return &net.TCPAddr{IP: net.IPv4(127, 1, byte(k>>8), byte(k))}
}

// dialConnFrom dials addr from the local address from (nil: any).
func dialConnFrom(from *net.TCPAddr, addr string, bufSize int, timeout time.Duration) (*httpConn, error) {
	d := net.Dialer{Timeout: timeout}
	if from != nil {
		d.LocalAddr = from
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &httpConn{addr: addr, nc: nc, br: bufio.NewReaderSize(nc, bufSize)}, nil
}

func (c *httpConn) Close() error { return c.nc.Close() }

// roundTrip writes req and reads its response. The body is valid until the
// next call.
func (c *httpConn) roundTrip(req []byte, deadline time.Time) (int, []byte, error) {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return 0, nil, err
	}
	if _, err := c.nc.Write(req); err != nil {
		return 0, nil, err
	}
	return c.readResponse()
}

var errChunked = errors.New("response is not framed by Content-Length")

// readResponse reads one response: status line, headers, and a body of
// Content-Length bytes.
func (c *httpConn) readResponse() (int, []byte, error) {
	status, length, chunked, err := c.readHead()
	if err != nil {
		return 0, nil, err
	}
	if status == 204 || status == 304 || status < 200 {
		length = 0
	}
	if chunked || length < 0 {
		return 0, nil, errChunked
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return 0, nil, err
	}
	return status, c.body, nil
}

// readHead reads a response's status line and headers, and returns the
// status, the Content-Length (-1 when absent) and whether the body is
// chunked.
func (c *httpConn) readHead() (status, length int, chunked bool, err error) {
	line, err := c.readLine()
	if err != nil {
		return 0, 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, false, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, 0, false, fmt.Errorf("bad status line %q", line)
	}
	length = -1
	for {
		line, err := c.readLine()
		if err != nil {
			return 0, 0, false, err
		}
		if len(line) == 0 {
			return status, length, chunked, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return 0, 0, false, fmt.Errorf("bad header line %q", line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, 0, false, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
			if !chunked {
				return 0, 0, false, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
		}
	}
}

// readLine returns the next line without its CR LF; valid until the next read.
func (c *httpConn) readLine() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("response line longer than %d bytes", c.br.Size())
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// request builds an HTTP/1.1 request; token, if set, goes in the
// Lifeline-Token header and body, if not nil, is sent as JSON.
func request(method, host, target, token string, body []byte) []byte {
	b := make([]byte, 0, 128+len(target)+len(token)+len(body))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	if token != "" {
		b = append(b, "Lifeline-Token: "...)
		b = append(b, token...)
		b = append(b, "\r\n"...)
	}
	if body != nil || method == "POST" {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}
