// Package nginxtest runs a real nginx in front of a test server, configured
// the way restrictive networks are: the default proxy_pass (HTTP/1.0 to the
// upstream, no Upgrade forwarding, buffering on), a proxy that buffers even
// responses that ask not to be, one that cuts responses idle for
// ShortReadTimeout, or one set up properly for WebSocket.
package nginxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"text/template"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/proxyproc"
)

// A Mode is how the proxy treats realtime traffic.
type Mode string

const (
	// Default is nginx's stock proxy_pass: it does not forward Upgrade, so
	// WebSockets fail, and it buffers responses unless they carry
	// X-Accel-Buffering: no (Lifeline's SSE does).
	Default Mode = "default"
	// Buffering is Default plus proxy_ignore_headers X-Accel-Buffering: like
	// proxies that buffer every response, so SSE never arrives in time.
	Buffering Mode = "buffering"
	// WebSocket forwards Upgrade and Host: the configuration Lifeline's
	// README recommends.
	WebSocket Mode = "websocket"
	// ShortTimeout is Default with proxy_read_timeout ShortReadTimeout: a
	// proxy that ends a response idle for less than the server's poll hold
	// (504) or heartbeat (the stream is cut). Deployments set 10 s or so;
	// tests use 3 s to stay fast.
	ShortTimeout Mode = "short-timeout"
)

// ShortReadTimeout is the ShortTimeout mode's proxy_read_timeout.
const ShortReadTimeout = 3 * time.Second

// ErrNoNginx reports that no nginx binary was found.
var ErrNoNginx = errors.New("nginxtest: nginx not found (apt-get install nginx)")

// Binary returns the nginx executable's path.
func Binary() (string, error) {
	return proxyproc.Binary("nginx", ErrNoNginx, "/usr/sbin/nginx", "/usr/local/sbin/nginx")
}

// A Proxy is a running nginx.
type Proxy struct {
	// URL is the proxy's base URL, such as http://127.0.0.1:41234.
	URL string
	*proxyproc.Process
}

var conf = template.Must(template.New("nginx").Parse(`
daemon off;
master_process off;
worker_processes 1;
{{if .Root}}user root;{{end}}
pid {{.Dir}}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path {{.Dir}}/body;
  proxy_temp_path {{.Dir}}/proxy;
  fastcgi_temp_path {{.Dir}}/fastcgi;
  uwsgi_temp_path {{.Dir}}/uwsgi;
  scgi_temp_path {{.Dir}}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen {{.Listen}};
    location / {
      proxy_pass http://{{.Upstream}};
{{- if eq .Mode "buffering"}}
      proxy_ignore_headers X-Accel-Buffering;
{{- end}}
{{- if eq .Mode "short-timeout"}}
      proxy_read_timeout {{.ReadTimeout}}ms;
{{- end}}
{{- if eq .Mode "websocket"}}
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_read_timeout 1h;
{{- end}}
{{- if .StripToken}}
      proxy_set_header Lifeline-Token "";
{{- end}}
    }
  }
}
`))

// Options are how a proxy started by StartWith behaves.
type Options struct {
	// Mode is how it treats realtime traffic. Default: Default.
	Mode Mode
	// StripToken removes the Lifeline-Token request header on its way
	// to the upstream, as some corporate proxies and WAFs do with headers
	// they do not know.
	StripToken bool
}

// Start runs nginx in mode in front of upstream (host:port) and waits until
// it accepts connections. Close stops it.
func Start(ctx context.Context, upstream string, mode Mode) (*Proxy, error) {
	return StartWith(ctx, upstream, Options{Mode: mode})
}

// StartWith runs nginx as opts say in front of upstream (host:port) and
// waits until it accepts connections. Close stops it.
func StartWith(ctx context.Context, upstream string, opts Options) (*Proxy, error) {
	mode := opts.Mode
	if mode == "" {
		mode = Default
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	listen, err := proxyproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	config := func(dir string) ([]byte, error) {
		var text bytes.Buffer
		err := conf.Execute(&text, map[string]any{
			"Dir": dir, "Listen": listen, "Upstream": upstream, "Mode": string(mode), "Root": os.Geteuid() == 0,
			"ReadTimeout": ShortReadTimeout.Milliseconds(), "StripToken": opts.StripToken,
		})
		return text.Bytes(), err
	}
	proc, err := proxyproc.Launch(ctx, "nginxtest-", "nginx.conf", config, listen, bin, func(dir, path string) []string {
		return []string{"-p", dir, "-c", path, "-e", "stderr"}
	})
	if err != nil {
		return nil, fmt.Errorf("nginxtest: %w", err)
	}
	return &Proxy{URL: "http://" + listen, Process: proc}, nil
}
