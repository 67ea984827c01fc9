// Package haproxytest runs a real HAProxy in front of a test server, in HTTP
// mode as most deployments run it: with its defaults, with `option
// http-no-delay`, compressing event streams, or compressing behind a hop
// that drops the stream's Cache-Control (so that its no-transform no longer
// protects it: a proxy that holds every event but the first).
package haproxytest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"text/template"
	"time"
)

// A Mode is how HAProxy treats realtime traffic.
type Mode string

const (
	// Default is HTTP mode with no tuning: WebSocket passes (HAProxy
	// forwards Upgrade), SSE passes but each event waits ~200 ms in
	// HAProxy (README, "HAProxy").
	Default Mode = "default"
	// NoDelay is Default plus `option http-no-delay`, which sends each
	// chunk as soon as it is read.
	NoDelay Mode = "nodelay"
	// Compress is Default plus gzip for text/event-stream and JSON. HAProxy
	// compresses no response that says Cache-Control: no-transform, as
	// Lifeline's SSE does, so streams pass uncompressed.
	Compress Mode = "compress"
	// CompressStripped is Compress behind a second hop (a `listen` section
	// of the same HAProxy) that rewrites Cache-Control to a bare no-cache,
	// as some CDNs and appliances do: HAProxy then compresses the stream
	// and holds each event until more data pushes it out.
	CompressStripped Mode = "compress-stripped"
)

// Modes lists every Mode, for flags and table tests.
var Modes = []Mode{Default, NoDelay, Compress, CompressStripped}

// ErrNoHAProxy reports that no haproxy binary was found.
var ErrNoHAProxy = errors.New("haproxytest: haproxy not found (apt-get install haproxy)")

// ErrMode reports a Mode that is not one of Modes.
var ErrMode = errors.New("haproxytest: unknown mode")

// Binary returns the haproxy executable's path.
func Binary() (string, error) {
	for _, p := range []string{"/usr/sbin/haproxy", "/usr/local/sbin/haproxy"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	return "", ErrNoHAProxy
}

// A Proxy is a running HAProxy.
type Proxy struct {
	// URL is the proxy's base URL, such as http://127.0.0.1:41234.
	URL string
	cmd *exec.Cmd
	dir string
	out lockedBuffer
}

// The timeouts are long so that only the test's own choices cut streams:
// client/server bound an idle HTTP exchange, tunnel a WebSocket.
var conf = template.Must(template.New("haproxy").Parse(`
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 5m
  timeout server 5m
  timeout tunnel 1h
{{- if eq .Mode "nodelay"}}
  option http-no-delay
{{- end}}
frontend front
  bind {{.Listen}}
{{- if or (eq .Mode "compress") (eq .Mode "compress-stripped")}}
  compression algo gzip
  compression type text/event-stream application/json text/html text/plain
{{- end}}
  default_backend app
backend app
{{- if eq .Mode "compress-stripped"}}
  server strip {{.Hop}}
listen strip
  bind {{.Hop}}
  http-response set-header Cache-Control no-cache if { res.hdr(Content-Type) -m beg text/event-stream }
{{- end}}
  server app {{.Upstream}}
`))

// Start runs HAProxy in mode in front of upstream (host:port) and waits
// until it accepts connections. Close stops it.
func Start(ctx context.Context, upstream string, mode Mode) (*Proxy, error) {
	if !known(mode) {
		return nil, fmt.Errorf("%w %q", ErrMode, mode)
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	hop, err := freeAddr()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "haproxytest-")
	if err != nil {
		return nil, err
	}
	var text bytes.Buffer
	if err := conf.Execute(&text, map[string]any{"Listen": listen, "Hop": hop, "Upstream": upstream, "Mode": string(mode)}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, text.Bytes(), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &Proxy{URL: "http://" + listen, dir: dir}
	// -db: stay in the foreground, so that killing the process stops it.
	p.cmd = exec.Command(bin, "-db", "-f", path)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := waitListening(ctx, listen, 5*time.Second); err != nil {
		p.Close()
		return nil, fmt.Errorf("haproxytest: haproxy did not start: %w: %s", err, p.out.String())
	}
	return p, nil
}

// Close stops HAProxy and removes its files.
func (p *Proxy) Close() error {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	return os.RemoveAll(p.dir)
}

// Log is what HAProxy printed (warnings, alerts).
func (p *Proxy) Log() string { return p.out.String() }

func known(m Mode) bool {
	for _, k := range Modes {
		if k == m {
			return true
		}
	}
	return false
}

// lockedBuffer collects HAProxy's output: exec's copying goroutine writes
// while Log may read.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(ctx context.Context, addr string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
