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
	"text/template"

	"github.com/lifeline-go/lifeline/internal/testkit/proxyproc"
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
	return proxyproc.Binary("haproxy", ErrNoHAProxy, "/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
}

// A Proxy is a running HAProxy.
type Proxy struct {
	// URL is the proxy's base URL, such as http://127.0.0.1:41234.
	URL string
	*proxyproc.Process
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
	listen, err := proxyproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	hop, err := proxyproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	config := func(string) ([]byte, error) {
		var text bytes.Buffer
		err := conf.Execute(&text, map[string]any{"Listen": listen, "Hop": hop, "Upstream": upstream, "Mode": string(mode)})
		return text.Bytes(), err
	}
	// -db: stay in the foreground, so that killing the process stops it.
	proc, err := proxyproc.Launch(ctx, "haproxytest-", "haproxy.cfg", config, listen, bin,
		func(_, path string) []string { return []string{"-db", "-f", path} })
	if err != nil {
		return nil, fmt.Errorf("haproxytest: %w", err)
	}
	return &Proxy{URL: "http://" + listen, Process: proc}, nil
}

// Log is what HAProxy printed (warnings, alerts).
func (p *Proxy) Log() string { return p.Output() }

func known(m Mode) bool {
	for _, k := range Modes {
		if k == m {
			return true
		}
	}
	return false
}
