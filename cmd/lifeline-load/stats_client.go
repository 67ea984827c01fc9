package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// statsClient reads the servers' /stats; one keep-alive connection per
// server, from the parent process.
var statsClient = &http.Client{Timeout: 30 * time.Second}

// stats reads GET /stats (with ?gc: after a forced GC) of the server at
// addr.
func stats(addr string, gc bool) (serverStats, error) {
	u := "http://" + addr + pathStats
	if gc {
		u += "?gc"
	}
	resp, err := statsClient.Get(u)
	if err != nil {
		return serverStats{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return serverStats{}, err
	}
	cpu, heap, ok := strings.Cut(string(b), " ")
	var s serverStats
	if s.CPUNs, err = strconv.ParseInt(cpu, 10, 64); err != nil || !ok {
		return serverStats{}, fmt.Errorf("bad /stats answer %q", b)
	}
	if s.HeapAlloc, err = strconv.ParseUint(heap, 10, 64); err != nil {
		return serverStats{}, fmt.Errorf("bad /stats answer %q", b)
	}
	return s, nil
}

// collected forces a GC in each of the target's servers, then returns
// their settled RSS (KiB) and live heap (bytes), summed.
func (t *target) collected() (rssKB, heap int64, err error) {
	for i, addr := range t.addrs {
		s, err := stats(addr, true)
		if err != nil {
			return 0, 0, err
		}
		kb, err := settledRSS(t.servers[i].pid())
		if err != nil {
			return 0, 0, err
		}
		rssKB += kb
		heap += int64(s.HeapAlloc)
	}
	return rssKB, heap, nil
}

// cpuTime returns the CPU time (user + system) the target's servers have
// used so far, summed.
func (t *target) cpuTime() (time.Duration, error) {
	var sum time.Duration
	for _, addr := range t.addrs {
		s, err := stats(addr, false)
		if err != nil {
			return 0, err
		}
		sum += time.Duration(s.CPUNs)
	}
	return sum, nil
}
