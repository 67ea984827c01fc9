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
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
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
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	return "", ErrNoNginx
}

// A Proxy is a running nginx.
type Proxy struct {
	// URL is the proxy's base URL, such as http://127.0.0.1:41234.
	URL string
	cmd *exec.Cmd
	dir string
	out bytes.Buffer
}

var conf = template.Must(template.New("nginx").Parse(`
daemon off;
master_process off;
worker_processes 1;
{{if .Root}}user root;{{end}}
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
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
    }
  }
}
`))

// Start runs nginx in mode in front of upstream (host:port) and waits until
// it accepts connections. Close stops it.
func Start(ctx context.Context, upstream string, mode Mode) (*Proxy, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nginxtest-")
	if err != nil {
		return nil, err
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	var text bytes.Buffer
	if err := conf.Execute(&text, map[string]any{
		"Dir": dir, "Listen": listen, "Upstream": upstream, "Mode": string(mode), "Root": os.Geteuid() == 0,
		"ReadTimeout": ShortReadTimeout.Milliseconds(),
	}); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, text.Bytes(), 0o600); err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + listen, dir: dir}
	p.cmd = exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := waitListening(ctx, listen, 5*time.Second); err != nil {
		p.Close()
		return nil, fmt.Errorf("nginxtest: nginx did not start: %w: %s%s", err, p.out.String(), p.errorLog())
	}
	return p, nil
}

// Close stops nginx and removes its files.
func (p *Proxy) Close() error {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	return os.RemoveAll(p.dir)
}

func (p *Proxy) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "error.log"))
	return strings.TrimSpace(string(b))
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
