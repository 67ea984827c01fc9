package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler fetches a server's pprof profiles while its polls or streams are
// held, and a CPU profile of the fan-out (long-poll) or burst (streams) in
// the background. Files are named <transport>-n<N>-<kind>-<profile>.
type profiler struct {
	client    *http.Client
	kind, dir string
	addr      string
	done      chan struct{}
}

// startProfiles saves heap, goroutine and mutex profiles of the server at
// addr into cfg.ProfileDir, then starts a CPU profile and returns once it
// is running.
func startProfiles(cfg config, g group, kind, addr string, log io.Writer) (*profiler, error) {
	dir := cfg.ProfileDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kind = fmt.Sprintf("%s-n%d-%s", g.transport, g.n, kind)
	p := &profiler{client: &http.Client{Timeout: 2 * time.Minute}, kind: kind, dir: dir, addr: addr, done: make(chan struct{})}
	for _, f := range []struct{ query, file string }{
		{"heap?gc=1", kind + "-heap.pb.gz"},  // after the RSS reading; the GC makes inuse exact
		{"heap?debug=1", kind + "-heap.txt"}, // ends with runtime.MemStats
		{"goroutine?debug=1", kind + "-goroutine.txt"},
		{"mutex", kind + "-mutex.pb.gz"},
	} {
		if err := p.save(addr, f.query, filepath.Join(dir, f.file)); err != nil {
			return nil, err
		}
	}
	go func() {
		defer close(p.done)
		q := fmt.Sprintf("profile?seconds=%d", cfg.ProfileSeconds)
		if err := p.save(addr, q, filepath.Join(dir, kind+"-cpu.pb.gz")); err != nil {
			fmt.Fprintln(log, "cpu profile:", err)
		}
	}()
	time.Sleep(200 * time.Millisecond) // let the CPU profile start
	fmt.Fprintf(log, "%s: profiles in %s\n", kind, dir)
	return p, nil
}

func (p *profiler) save(addr, query, path string) error {
	resp, err := p.client.Get("http://" + addr + "/debug/pprof/" + query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: %s", query, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// finish waits for the CPU profile, then saves heap and mutex profiles
// again: their difference with the first ones (pprof -diff_base) is the
// fan-out alone. It returns err, the outcome of what was profiled, if not
// nil. A nil profiler only returns err.
func (p *profiler) finish(err error) error {
	if p == nil {
		return err
	}
	if perr := p.finishProfiles(); err == nil {
		err = perr
	}
	return err
}

func (p *profiler) finishProfiles() error {
	<-p.done
	defer p.client.CloseIdleConnections()
	for _, f := range []struct{ query, file string }{
		{"heap?gc=1", p.kind + "-heap-after.pb.gz"},
		{"mutex", p.kind + "-mutex-after.pb.gz"},
	} {
		if err := p.save(p.addr, f.query, filepath.Join(p.dir, f.file)); err != nil {
			return err
		}
	}
	return nil
}
