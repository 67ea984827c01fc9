// Package proxyproc holds what the real-proxy fixtures (nginxtest,
// haproxytest) and their commands (nginxproxy, haproxyproxy) share:
// finding the proxy's binary, a free loopback port, running the proxy from
// a config in a directory of its own until it listens, and the commands'
// main loop.
package proxyproc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/syncbuf"
)

// Binary returns the first of paths that exists, else name on $PATH, else
// missing.
func Binary(name string, missing error, paths ...string) (string, error) {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", missing
}

// FreeAddr returns a loopback address with a port free a moment ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitListening returns once addr accepts TCP connections, or the last
// dial error when it does not within the given time.
func WaitListening(ctx context.Context, addr string, within time.Duration) error {
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

// ExitMissing is a command's exit status when its proxy is not installed:
// the client's and the browser's tests skip (or, under CI=true, fail) on it.
const ExitMissing = 3

// A Start runs a proxy in mode in front of upstream and returns its base
// URL and how to stop it.
type Start func(ctx context.Context, upstream, mode string) (url string, stop func() error, err error)

// Main is a fixture command's body: it parses -upstream and -mode (modes
// describes them), starts the proxy, prints "LISTENING <url>" and stops it
// on SIGINT or SIGTERM. It exits with ExitMissing when start fails with
// missing.
func Main(name, defaultMode, modes string, start Start, missing error) {
	upstream := flag.String("upstream", "", "upstream host:port (required)")
	mode := flag.String("mode", defaultMode, modes)
	flag.Parse()
	if *upstream == "" {
		log.Fatalf("%s: -upstream is required", name)
	}
	url, stop, err := start(context.Background(), *upstream, *mode)
	if errors.Is(err, missing) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(ExitMissing)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	fmt.Printf("LISTENING %s\n", url)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}

// A Process is a proxy running from a config file in a directory of its
// own, which Close removes.
type Process struct {
	// Dir is the process's directory: its config, and whatever files it
	// writes (logs, temporary files).
	Dir string
	cmd *exec.Cmd
	// out is the process's output: exec's copying goroutine writes while
	// Output may read.
	out syncbuf.Buffer
}

// Launch writes config to a new temporary directory (named after prefix)
// as file, runs bin with the arguments args gives for that directory and
// config path, and waits until it accepts connections on listen.
func Launch(ctx context.Context, prefix, file string, config func(dir string) ([]byte, error), listen, bin string, args func(dir, path string) []string) (*Process, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	text, err := config(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	path := filepath.Join(dir, file)
	if err := os.WriteFile(path, text, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p := &Process{Dir: dir}
	p.cmd = exec.Command(bin, args(dir, path)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := WaitListening(ctx, listen, 5*time.Second); err != nil {
		p.Close()
		return nil, fmt.Errorf("%s did not start: %w: %s", filepath.Base(bin), err, p.Output())
	}
	return p, nil
}

// Output is what the process printed.
func (p *Process) Output() string { return p.out.String() }

// Close stops the process and removes its directory.
func (p *Process) Close() error {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	return os.RemoveAll(p.Dir)
}
