package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"slices"
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

// skipIfShort skips t under -short, except under CI=true: CI runs every
// test, so a -short that crept into its command fails instead of passing
// with these tests unrun.
func skipIfShort(t *testing.T, why string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true runs every test, but -short would skip this one (%s)", why)
	}
	t.Skip(why)
}

// TestRunSmall runs the whole command for each transport, every server
// (floor, lifeline, and centrifuge for the streams) and their drivers in
// child processes, at N=200 for one round (after one
// warm-up round), with bursts of 20 events, and checks the report.
func TestRunSmall(t *testing.T) {
	skipIfShort(t, "starts server and driver processes")
	const n, events = 200, 20
	for _, transport := range allTransports {
		t.Run(transport, func(t *testing.T) {
			rep := runJSON(t, "-transports", transport, "-n", "200", "-events", "20", "-rounds", "1", "-warmup", "1", "-timeout", "10s")
			streaming := transport != transportLongPoll
			want := []string{targetFloor, targetLifeline}
			if streaming {
				want = append(want, targetCentrifuge)
			}
			var got []string
			for _, tr := range rep.Targets {
				got = append(got, tr.Target)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("targets = %v, want %v", got, want)
			}
			for _, tr := range rep.Targets {
				if tr.Transport != transport || tr.N != n || len(tr.Rounds) != 1 {
					t.Fatalf("%s: transport %s, N %d, %d rounds; want %s, %d, 1", tr.Target, tr.Transport, tr.N, len(tr.Rounds), transport, n)
				}
				for _, rr := range tr.Rounds {
					if rr.Delivered != n || rr.Errors != 0 {
						t.Errorf("%s round %d: delivered %d/%d, errors %d (%s)", tr.Target, rr.Round, rr.Delivered, n, rr.Errors, rr.FirstError)
					}
					if rr.EmptyRSSKB <= 0 || rr.HeldRSSKB <= 0 || rr.FirstRSSKB <= 0 {
						t.Errorf("%s: RSS empty %d KiB, first %d KiB, held %d KiB", tr.Target, rr.EmptyRSSKB, rr.FirstRSSKB, rr.HeldRSSKB)
					}
					// RSS is coarse at N=200, but a connection never costs a MiB.
					if rr.RSSPerConnKB < -64 || rr.RSSPerConnKB > 1024 {
						t.Errorf("%s: rss/conn %.1f KiB is not sane", tr.Target, rr.RSSPerConnKB)
					}
					// Every held poll or stream costs live heap; the fan-out costs CPU.
					if rr.HeapPerConnKB <= 0 || rr.HeapPerConnKB > 1024 || rr.CPUFanOutms <= 0 {
						t.Errorf("%s: heap/conn %.2f KiB, cpu/fan-out %.2f ms are not sane", tr.Target, rr.HeapPerConnKB, rr.CPUFanOutms)
					}
					if !(rr.P50ms > 0 && rr.P50ms <= rr.P99ms && rr.P99ms <= rr.Maxms && rr.Maxms < 10_000) {
						t.Errorf("%s: latencies p50 %.2f p99 %.2f max %.2f ms are not sane", tr.Target, rr.P50ms, rr.P99ms, rr.Maxms)
					}
					b := rr.Burst
					if !streaming {
						if b != nil {
							t.Errorf("%s: long-poll round with a burst: %+v", tr.Target, b)
						}
						continue
					}
					if b == nil {
						t.Fatalf("%s: no burst", tr.Target)
					}
					if b.Events != events || b.Deliveries != n*events || b.Errors != 0 {
						t.Errorf("%s burst: %d events, %d/%d deliveries, %d errors (%s)", tr.Target, b.Events, b.Deliveries, n*events, b.Errors, b.FirstError)
					}
					if !(b.CPUms > 0 && b.DeliveriesPerSec > 0 && b.PublishesPerSec > 0 && b.P50ms > 0 && b.P50ms <= b.P99ms && b.P99ms <= b.Maxms && b.Maxms <= b.Elapsedms) {
						t.Errorf("%s burst is not sane: %+v", tr.Target, b)
					}
				}
				if streaming != (tr.Burst != nil) {
					t.Errorf("%s: burst medians %+v", tr.Target, tr.Burst)
				}
			}
			// lifeline/floor; for streams also lifeline/centrifuge and centrifuge/floor.
			if len(rep.Ratios) != len(want)*(len(want)-1)/2 {
				t.Errorf("%d ratios, want %d", len(rep.Ratios), len(want)*(len(want)-1)/2)
			}
			for _, q := range rep.Ratios {
				if q.Transport != transport || q.P50 <= 0 || q.Heap <= 0 || q.CPUFanOut <= 0 || streaming != (q.DeliveriesPerSec > 0) {
					t.Errorf("ratios = %+v", q)
				}
			}
			if rep.Machine.NProc <= 0 || rep.Machine.ServerGOMAXPROCS <= 0 || !strings.HasPrefix(rep.Machine.GoVersion, "go") {
				t.Errorf("machine = %+v", rep.Machine)
			}

			// The table form renders the same report.
			var table bytes.Buffer
			rep.writeTable(&table)
			for _, want := range []string{"rss/conn(KB)", transport, "floor", "lifeline", "lifeline/floor", "nproc="} {
				if !strings.Contains(table.String(), want) {
					t.Errorf("table lacks %q:\n%s", want, table.String())
				}
			}
		})
	}
}

// runJSON runs the command with args and -json, wants it to succeed, and
// returns its report.
func runJSON(t *testing.T, args ...string) report {
	t.Helper()
	var out, log bytes.Buffer
	start := time.Now()
	code := cliMain(append(args, "-json"), &out, &log)
	t.Logf("took %v; log:\n%s", time.Since(start), log.String())
	if code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON report: %v\n%s", err, out.String())
	}
	return rep
}

func TestFlags(t *testing.T) {
	var out, log bytes.Buffer
	if code := cliMain([]string{"-targets", "nginx"}, &out, &log); code != 2 {
		t.Errorf("unknown target: exit %d, want 2", code)
	}
	for _, args := range [][]string{
		{"-n", "0"},
		{"-n", "100,x"},
		{"-transports", "carrier-pigeon"},
		{"-transports", ","},
		{"-events", "0"},
	} {
		if code := cliMain(args, &out, &log); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}

func TestServeRefusesNonLoopback(t *testing.T) {
	if err := serve(targetFloor, transportLongPoll, "0.0.0.0:0", serverSettings{}, false, redisTarget{}); err == nil {
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
