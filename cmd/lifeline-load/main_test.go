package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// spawn re-executes this test binary as a server or a driver.
	if code, ok := childRole(os.Args[1:]); ok {
		os.Exit(code)
	}
	goleak.VerifyTestMain(m)
}

// TestRunSmall runs the whole command, both servers in child processes, at
// N=200 for one round and checks the report.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	const n = 200
	var out, log bytes.Buffer
	start := time.Now()
	code := cliMain([]string{"-n", "200", "-rounds", "1", "-warmup", "1", "-timeout", "10s", "-json"}, &out, &log)
	t.Logf("took %v; log:\n%s", time.Since(start), log.String())
	if code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON report: %v\n%s", err, out.String())
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Target != "floor" || rep.Targets[1].Target != "lifeline" {
		t.Fatalf("targets = %+v, want floor then lifeline", rep.Targets)
	}
	for _, tr := range rep.Targets {
		if len(tr.Rounds) != 1 {
			t.Fatalf("%s: %d rounds, want 1", tr.Target, len(tr.Rounds))
		}
		for _, rr := range tr.Rounds {
			if rr.Delivered != n || rr.Errors != 0 {
				t.Errorf("%s round %d: delivered %d/%d, errors %d (%s)", tr.Target, rr.Round, rr.Delivered, n, rr.Errors, rr.FirstError)
			}
			if rr.EmptyRSSKB <= 0 || rr.HeldRSSKB <= 0 {
				t.Errorf("%s: RSS empty %d KiB, held %d KiB", tr.Target, rr.EmptyRSSKB, rr.HeldRSSKB)
			}
			// RSS is coarse at N=200, but a held poll never costs a MiB.
			if rr.RSSPerPollKB < -64 || rr.RSSPerPollKB > 1024 {
				t.Errorf("%s: rss/poll %.1f KiB is not sane", tr.Target, rr.RSSPerPollKB)
			}
			if !(rr.P50ms > 0 && rr.P50ms <= rr.P99ms && rr.P99ms <= rr.Maxms && rr.Maxms < 10_000) {
				t.Errorf("%s: latencies p50 %.2f p99 %.2f max %.2f ms are not sane", tr.Target, rr.P50ms, rr.P99ms, rr.Maxms)
			}
		}
	}
	if rep.Ratios == nil || rep.Ratios.P50 <= 0 {
		t.Errorf("ratios = %+v", rep.Ratios)
	}
	if rep.Machine.NProc <= 0 || rep.Machine.ServerGOMAXPROCS <= 0 || !strings.HasPrefix(rep.Machine.GoVersion, "go") {
		t.Errorf("machine = %+v", rep.Machine)
	}

	// The table form renders the same report.
	var table bytes.Buffer
	rep.writeTable(&table)
	for _, want := range []string{"rss/poll(KB)", "floor", "lifeline", "lifeline/floor", "nproc="} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestFlags(t *testing.T) {
	var out, log bytes.Buffer
	if code := cliMain([]string{"-targets", "nginx"}, &out, &log); code != 2 {
		t.Errorf("unknown target: exit %d, want 2", code)
	}
	if code := cliMain([]string{"-n", "0"}, &out, &log); code != 2 {
		t.Errorf("-n 0: exit %d, want 2", code)
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	if err := serve("floor", "0.0.0.0:0", false, false); err == nil {
		t.Error("serve on 0.0.0.0 did not fail")
	}
}

func TestReadResponse(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nX: y\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	c := &httpConn{}
	c.br = bufio.NewReaderSize(strings.NewReader(raw), 1024)
	status, body, err := c.readResponse()
	if err != nil || status != 200 || string(body) != "hello" {
		t.Fatalf("first = %d %q %v", status, body, err)
	}
	status, body, err = c.readResponse()
	if err != nil || status != 204 || len(body) != 0 {
		t.Fatalf("second = %d %q %v", status, body, err)
	}
	if _, _, err = c.readResponse(); err != errChunked {
		t.Fatalf("chunked: err = %v, want errChunked", err)
	}
}

func TestPollCursor(t *testing.T) {
	got, err := pollCursor([]byte(`{"events":[{"id":"ab.2","topic":"bench"}],"cursor":"ab.2"}`))
	if err != nil || got != "ab.2" {
		t.Errorf("pollCursor = %q, %v", got, err)
	}
	if _, err := pollCursor([]byte(`{"events":[]}`)); err == nil {
		t.Error("pollCursor without cursor: no error")
	}
}
