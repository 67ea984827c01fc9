package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// repoRoot is the module's root in this checkout.
var repoRoot, _ = filepath.Abs("../..")

// readmeQuickStart returns the first ```go block under the README's
// "## Quick start" heading.
func readmeQuickStart(t *testing.T) []byte {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(readme, []byte("\n## Quick start\n"))
	if !ok {
		t.Fatal(`README.md has no "## Quick start" section`)
	}
	_, code, ok := bytes.Cut(section, []byte("\n```go\n"))
	if !ok {
		t.Fatal("the README's quick start has no ```go block")
	}
	code, _, ok = bytes.Cut(code, []byte("\n```\n"))
	if !ok {
		t.Fatal("the README's quick start block does not end")
	}
	return append(code, '\n')
}

// The README shows this program, byte for byte: what it teaches compiles,
// passes vet and the test below, and cannot rot.
func TestTheREADMEShowsThisProgram(t *testing.T) {
	file, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if got := readmeQuickStart(t); !bytes.Equal(got, file) {
		t.Fatalf("README.md's quick start differs from example/quickstart/main.go: paste the file into the README's ```go block (README %d bytes, file %d bytes)", len(got), len(file))
	}
}

// firstHourGoMod is the go.mod a new user's module has after `go get
// github.com/lifeline-go/lifeline` (and `go mod tidy`): Lifeline, and
// every module it requires listed, as the Go command lists a dependency's
// requirements in a module at go 1.17 or later, with Lifeline replaced by
// this checkout. Listing them lets the build use the pruned module graph,
// as the library's own build does, instead of loading the go.mod of every
// version an old dependency once required (which the module cache need
// not hold, and the build may not download).
func firstHourGoMod(t *testing.T) string {
	t.Helper()
	lib, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := bytes.Cut(lib, []byte("\ngo "))
	if !ok {
		t.Fatal("go.mod has no go line")
	}
	goLine, requires, _ := bytes.Cut(after, []byte("\n"))
	return fmt.Sprintf("module firsthour\n\ngo %s\n\nrequire github.com/lifeline-go/lifeline v0.0.0\n%s\nreplace github.com/lifeline-go/lifeline => %s\n",
		goLine, requires, repoRoot)
}

// A new user's first hour, as a test: the README's Go quick start, copied
// into a module of its own that uses this checkout through a replace
// directive, builds and runs; a client negotiates, long-polls and receives
// the event the app's route publishes; SIGTERM ends held polls at once and
// the program exits cleanly, without gin's trusted-proxies warning.
func TestTheQuickStartRunsInAModuleOfItsOwn(t *testing.T) {
	if testing.Short() {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true runs every test, but -short would skip this one (it builds a module of its own)")
		}
		t.Skip("builds a module of its own: skipped with -short")
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", string(readmeQuickStart(t)))
	write("go.mod", firstHourGoMod(t))
	// The checkout's go.sum covers every module the library needs; the
	// module cache has them (the library's own tests just built), so no
	// network is used.
	sums, err := os.ReadFile(filepath.Join(repoRoot, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sums))
	goCmd := func(args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	goCmd("build", "-o", "quickstart", ".")

	app := startQuickStart(t, filepath.Join(dir, "quickstart"))

	// The bundle the browser half imports is there.
	if res := app.request(t, http.MethodGet, "/rt/lifeline.js", "", nil); res.status != http.StatusOK || !strings.Contains(res.body, "LifelineClient") {
		t.Fatalf("GET /rt/lifeline.js: %d", res.status)
	}

	var neg struct{ Token, Cursor string }
	res := app.request(t, http.MethodPost, "/rt/negotiate", `{"topics":["notifications"]}`, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	if res.status != http.StatusOK {
		t.Fatalf("negotiate: %d %s", res.status, res.body)
	}
	if err := json.Unmarshal([]byte(res.body), &neg); err != nil {
		t.Fatal(err)
	}
	poll := app.pollAsync(neg.Token, neg.Cursor)
	if res := app.request(t, http.MethodPost, "/deploy-done", "", nil); res.status != http.StatusOK || !strings.Contains(res.body, `"id"`) {
		t.Fatalf("POST /deploy-done: %d %s, want 200 with the event's id", res.status, res.body)
	}
	got := <-poll
	var batch struct {
		Events []struct {
			Topic, Type string
			Data        map[string]any
		}
		Cursor string
	}
	if got.err != nil || got.status != http.StatusOK {
		t.Fatalf("poll: %v %d %s", got.err, got.status, got.body)
	}
	if err := json.Unmarshal([]byte(got.body), &batch); err != nil {
		t.Fatal(err)
	}
	// Only the notification: notifications has no presence, so no join.
	if len(batch.Events) != 1 || batch.Events[0].Type != "notification" || batch.Events[0].Data["text"] != "deployed" {
		t.Fatalf("the poll brought %s, want the one notification", got.body)
	}

	// A poll held at shutdown is released at once (lp.Close before
	// Shutdown), not after its 25 s.
	held := app.heldPoll(t, neg.Token, batch.Cursor)
	start := time.Now()
	if err := app.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-held:
		if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "shutting_down") {
			t.Errorf("a poll held at shutdown got %d %s (%v), want 503 shutting_down", r.status, r.body, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a poll held at shutdown was not released within 10 s")
	}
	if err := app.wait(15 * time.Second); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, app.log())
	}
	t.Logf("shut down in %v", time.Since(start).Round(time.Millisecond))

	log := app.log()
	if strings.Contains(log, "You trusted all proxies") {
		t.Errorf("gin warned about trusted proxies:\n%s", log)
	}
	if strings.Contains(log, "203.0.113.9") || !strings.Contains(log, "127.0.0.1") {
		t.Errorf("the request log believed X-Forwarded-For, or shows no client address:\n%s", log)
	}
}

// quickStart is the running program.
type quickStart struct {
	cmd  *exec.Cmd
	base string
	done chan error

	mu     sync.Mutex
	output bytes.Buffer
	grew   chan struct{} // closed and replaced whenever output grows
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startQuickStart runs bin on a free port and waits for it to listen.
func startQuickStart(t *testing.T, bin string) *quickStart {
	t.Helper()
	q := &quickStart{cmd: exec.Command(bin, "-addr", "127.0.0.1:0"), done: make(chan error, 1), grew: make(chan struct{})}
	q.cmd.Stdout = &lineSink{q} // gin's request log
	q.cmd.Stderr = &lineSink{q} // the log package
	if err := q.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { q.done <- q.cmd.Wait() }()
	t.Cleanup(func() {
		if q.cmd.ProcessState == nil {
			q.cmd.Process.Kill()
			<-q.done
		}
	})
	m := listening.FindStringSubmatch(q.waitForLog(t, "listening on "))
	if m == nil {
		t.Fatalf("no address in the listening line:\n%s", q.log())
	}
	q.base = m[1]
	return q
}

// lineSink appends the program's output to q.output.
type lineSink struct{ q *quickStart }

func (s *lineSink) Write(p []byte) (int, error) {
	s.q.mu.Lock()
	defer s.q.mu.Unlock()
	s.q.output.Write(p)
	close(s.q.grew)
	s.q.grew = make(chan struct{})
	return len(p), nil
}

func (q *quickStart) log() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.output.String()
}

// waitForLog waits until the output contains s, and returns the line.
func (q *quickStart) waitForLog(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		q.mu.Lock()
		out, grew := q.output.String(), q.grew
		q.mu.Unlock()
		if i := strings.Index(out, s); i >= 0 {
			line, _, _ := strings.Cut(out[i:], "\n")
			return line
		}
		select {
		case <-grew:
		case err := <-q.done:
			q.done <- err
			t.Fatalf("the program exited (%v) before logging %q:\n%s", err, s, out)
		case <-deadline:
			t.Fatalf("no %q in the program's output within 20 s:\n%s", s, out)
		}
	}
}

// wait waits for the program to exit, and fails unless it exited with 0.
func (q *quickStart) wait(timeout time.Duration) error {
	select {
	case err := <-q.done:
		return err
	case <-time.After(timeout):
		return errors.New("the program did not exit")
	}
}

type response struct {
	status int
	body   string
	err    error
}

func (q *quickStart) request(t *testing.T, method, path, body string, hdr map[string]string) response {
	t.Helper()
	r := q.do(method, path, body, hdr)
	if r.err != nil {
		t.Fatalf("%s %s: %v", method, path, r.err)
	}
	return r
}

func (q *quickStart) do(method, path, body string, hdr map[string]string) response {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, q.base+path, strings.NewReader(body))
	if err != nil {
		return response{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return response{status: res.StatusCode, body: string(b), err: err}
}

// pollAsync starts a long-poll and delivers its response.
func (q *quickStart) pollAsync(token, cursor string) <-chan response {
	out := make(chan response, 1)
	go func() {
		out <- q.do(http.MethodGet, "/rt/poll?cursor="+cursor, "", map[string]string{"Lifeline-Token": token})
	}()
	return out
}

// heldPoll starts a long-poll on a connection of its own and returns once
// the server has accepted that connection: Shutdown waits for a new
// connection's request rather than closing it.
func (q *quickStart) heldPoll(t *testing.T, token, cursor string) <-chan response {
	t.Helper()
	written := make(chan struct{})
	out := make(chan response, 1)
	req, err := http.NewRequest(http.MethodGet, q.base+"/rt/poll?cursor="+cursor, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Lifeline-Token", token)
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(written) },
	}))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	go func() {
		res, err := client.Do(req)
		if err != nil {
			out <- response{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		out <- response{status: res.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-written:
	case r := <-out:
		t.Fatalf("the held poll ended before it was sent: %+v", r)
	}
	// Written is not accepted: the connection may still wait in the
	// listener's backlog, and Shutdown closing the listener would reset it.
	// The kernel hands out backlogged connections in order, so once a
	// request on a later connection has been answered, the server has
	// taken the poll's connection too.
	later := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	res, err := later.Get(q.base + "/rt/lifeline.js")
	if err != nil {
		t.Fatalf("a request after the held poll: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return out
}
