package attack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMeasureRSS runs one attack against a server in another process and
// reports that process's RSS, for the figures in the README. It runs only
// when told where the server is:
//
//	LIFELINE_ATTACK=slowbody|byteflood  which attack
//	LIFELINE_ATTACK_URL=http://127.0.0.1:8080
//	LIFELINE_ATTACK_PID=<the server's pid>  whose VmRSS is sampled
//	LIFELINE_ATTACK_SECONDS=60          how long the attack runs
//
// slowbody keeps up to 10 000 negotiates from 127.0.0.2 open, each
// sending one body byte every 10 s, reopening any the server closes 10 s
// after it closed.
// byteflood negotiates 100 sessions from 127.0.0.2-11, each on a room of
// its own, and has each send 2 000-character messages (12 KB as JSON) as
// fast as the send limit lets it, waiting out each 429's Retry-After.
// Meanwhile a client on 127.0.0.1 negotiates once a second.
func TestMeasureRSS(t *testing.T) {
	attack, url := os.Getenv("LIFELINE_ATTACK"), os.Getenv("LIFELINE_ATTACK_URL")
	if attack == "" || url == "" {
		t.Skip("a measurement, not a test: set LIFELINE_ATTACK and LIFELINE_ATTACK_URL to run it")
	}
	pid := os.Getenv("LIFELINE_ATTACK_PID")
	seconds, _ := strconv.Atoi(os.Getenv("LIFELINE_ATTACK_SECONDS"))
	if seconds <= 0 {
		seconds = 60
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer cancel()
	host := strings.TrimPrefix(url, "http://")

	var wg sync.WaitGroup
	var progress func() string
	switch attack {
	case "slowbody":
		progress = slowBodyAttack(ctx, &wg, host)
	case "byteflood":
		progress = byteFloodAttack(ctx, &wg, url)
	default:
		t.Fatalf("unknown attack %q", attack)
	}

	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	var peak int64
	var okNeg, failedNeg int
	var slowest time.Duration
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start, t0 := rss(pid), time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			began := time.Now()
			status, _, err := call(context.Background(), hc, http.MethodPost, url+"/rt/negotiate", "", map[string]any{"topics": []string{"room:general"}})
			if err == nil && status == http.StatusOK {
				okNeg++
				slowest = max(slowest, time.Since(began))
			} else {
				failedNeg++
			}
			r := rss(pid)
			peak = max(peak, r)
			t.Logf("%3.0fs RSS %4d MB  %s", time.Since(t0).Seconds(), r>>20, progress())
		}
	}
	end := rss(pid)
	cancel()
	wg.Wait()
	t.Logf("%s for %d s: RSS %d MB at the start, peak %d MB, %d MB at the end; the client on 127.0.0.1 negotiated %d times (slowest %v), failed %d times",
		attack, seconds, start>>20, peak>>20, end>>20, okNeg, slowest.Round(time.Millisecond), failedNeg)
}

// rss returns the VmRSS of pid in bytes, or 0.
func rss(pid string) int64 {
	data, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func slowBodyAttack(ctx context.Context, wg *sync.WaitGroup, host string) func() string {
	const conns = 10_000
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var open, opened, answered atomic.Int64
	dials := make(chan struct{}, 200) // at most 200 dials at once
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				dials <- struct{}{}
				conn, err := d.DialContext(ctx, "tcp", host)
				<-dials
				if err != nil {
					continue
				}
				open.Add(1)
				opened.Add(1)
				stop := context.AfterFunc(ctx, func() { conn.Close() })
				fmt.Fprintf(conn, "POST /rt/negotiate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
				// Answers (or the close) are read in the background; a byte
				// every 10 s keeps the body coming.
				gone := make(chan struct{})
				go func() {
					defer close(gone)
					if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
						answered.Add(1)
					}
				}()
				for alive := true; alive; {
					select {
					case <-gone:
						alive = false
					case <-time.After(10 * time.Second):
						if _, err := conn.Write([]byte(" ")); err != nil {
							alive = false
						}
					}
				}
				stop()
				conn.Close()
				open.Add(-1)
				select { // the slot reopens 10 s later: 1 000 reconnects a second at most
				case <-ctx.Done():
				case <-time.After(10 * time.Second):
				}
			}
		}()
	}
	return func() string {
		return fmt.Sprintf("attacker: %d connections open, %d opened, %d answered", open.Load(), opened.Load(), answered.Load())
	}
}

func byteFloodAttack(ctx context.Context, wg *sync.WaitGroup, url string) func() string {
	const sessions = 100
	text := strings.Repeat("<", 2000) // 2 000 characters, 12 KB as JSON ("\u003c")
	var sent, limited atomic.Int64
	for i := range sessions {
		src := net.IPv4(127, 0, 0, byte(2+i%10))
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}).DialContext}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			room := fmt.Sprintf("room:flood-%d", i)
			status, data, err := call(ctx, hc, http.MethodPost, url+"/rt/negotiate", "", map[string]any{"topics": []string{room}})
			var s negotiated
			if err != nil || status != http.StatusOK || decodeJSON(data, &s) != nil {
				return
			}
			for n := 0; ctx.Err() == nil; n++ {
				body := map[string]any{"topic": room, "type": "message", "mid": fmt.Sprintf("m_flood%03d%07d", i, n), "data": map[string]string{"text": text}}
				status, _, err := call(ctx, hc, http.MethodPost, url+"/rt/send", s.Token, body)
				switch {
				case err != nil:
				case status == http.StatusOK:
					sent.Add(1)
				case status == http.StatusTooManyRequests:
					limited.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(time.Second): // what Retry-After asks
					}
				}
			}
		}()
	}
	return func() string {
		return fmt.Sprintf("attacker: %d messages sent (%d MB), %d refused 429", sent.Load(), sent.Load()*12<<10>>20, limited.Load())
	}
}
