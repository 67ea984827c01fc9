package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// report is the outcome of a run; its JSON form is the -json output.
type report struct {
	Machine  machine         `json:"machine"`
	N        int             `json:"n"`
	Rounds   int             `json:"rounds"`
	Warmup   int             `json:"warmupRounds"`
	Cycles   int             `json:"cycles"`
	Order    string          `json:"order"`
	Presence bool            `json:"presence"`
	Targets  []*targetReport `json:"targets"`
	// Ratios are lifeline / floor of the medians, when both ran.
	Ratios *ratios `json:"ratios,omitempty"`
}

type machine struct {
	NProc              int    `json:"nproc"`
	GoVersion          string `json:"goVersion"`
	OSArch             string `json:"osArch"`
	CPU                string `json:"cpu,omitempty"`
	LoadGOMAXPROCS     int    `json:"loadGomaxprocs"`
	ServerGOMAXPROCS   int    `json:"serverGomaxprocs"`
	OpenFilesSoftLimit uint64 `json:"openFilesLimit"`
}

// targetReport holds one server's rounds and their medians.
type targetReport struct {
	Target           string        `json:"target"`
	Polls            int           `json:"polls"`
	ServerGOMAXPROCS int           `json:"serverGomaxprocs"`
	Rounds           []roundReport `json:"rounds"`
	// Medians across rounds.
	RSSPerPollKB float64 `json:"rssPerPollKB"`
	PollOnlyKB   float64 `json:"pollOnlyKB"`
	P50ms        float64 `json:"p50ms"`
	P99ms        float64 `json:"p99ms"`
	Maxms        float64 `json:"maxms"`
	Delivered    int     `json:"delivered"` // over all rounds
	Errors       int     `json:"errors"`    // over all rounds
}

type roundReport struct {
	Cycle        int     `json:"cycle"`
	Round        int     `json:"round"`
	EmptyRSSKB   int64   `json:"emptyRssKB"`
	IdleRSSKB    int64   `json:"idleRssKB"`
	HeldRSSKB    int64   `json:"heldRssKB"`
	RSSPerPollKB float64 `json:"rssPerPollKB"` // (held - empty) / N
	PollOnlyKB   float64 `json:"pollOnlyKB"`   // (held - idle) / N
	P50ms        float64 `json:"p50ms"`
	P99ms        float64 `json:"p99ms"`
	Maxms        float64 `json:"maxms"`
	Delivered    int     `json:"delivered"`
	Errors       int     `json:"errors"`
	FirstError   string  `json:"firstError,omitempty"`
}

type ratios struct {
	RSSPerPoll float64 `json:"rssPerPoll"`
	PollOnly   float64 `json:"pollOnly"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	Max        float64 `json:"max"`
}

func newReport(cfg config) *report {
	return &report{
		Machine: machine{
			NProc:              runtime.NumCPU(),
			GoVersion:          runtime.Version(),
			OSArch:             runtime.GOOS + "/" + runtime.GOARCH,
			CPU:                cpuModel(),
			LoadGOMAXPROCS:     runtime.GOMAXPROCS(0),
			OpenFilesSoftLimit: noFileLimit(),
		},
		N:        cfg.N,
		Rounds:   cfg.Rounds,
		Warmup:   cfg.Warmup,
		Cycles:   cfg.Cycles,
		Order:    "rounds alternate between targets (" + strings.Join(cfg.Targets, ", ") + "), all servers up at once, each in its own process",
		Presence: cfg.Presence,
	}
}

// target returns the report of kind, creating it.
func (r *report) target(kind string) *targetReport {
	for _, t := range r.Targets {
		if t.Target == kind {
			return t
		}
	}
	t := &targetReport{Target: kind, Polls: r.N}
	r.Targets = append(r.Targets, t)
	return t
}

func (t *targetReport) addRound(cycle, round, n int, empty, idle, held int64, res roundResult) roundReport {
	rr := roundReport{
		Cycle: cycle + 1, Round: round + 1,
		EmptyRSSKB: empty, IdleRSSKB: idle, HeldRSSKB: held,
		RSSPerPollKB: float64(held-empty) / float64(n),
		PollOnlyKB:   float64(held-idle) / float64(n),
		P50ms:        ms(res.lat.P50), P99ms: ms(res.lat.P99), Maxms: ms(res.lat.Max),
		Delivered: res.delivered, Errors: res.errs,
	}
	if res.firstErr != nil {
		rr.FirstError = res.firstErr.Error()
	}
	t.Rounds = append(t.Rounds, rr)
	return rr
}

// finish computes the medians and ratios.
func (r *report) finish() {
	for _, t := range r.Targets {
		var rss, only, p50, p99, mx []float64
		t.Delivered, t.Errors = 0, 0
		for _, rr := range t.Rounds {
			rss = append(rss, rr.RSSPerPollKB)
			only = append(only, rr.PollOnlyKB)
			p50 = append(p50, rr.P50ms)
			p99 = append(p99, rr.P99ms)
			mx = append(mx, rr.Maxms)
			t.Delivered += rr.Delivered
			t.Errors += rr.Errors
		}
		t.RSSPerPollKB, t.PollOnlyKB = median(rss), median(only)
		t.P50ms, t.P99ms, t.Maxms = median(p50), median(p99), median(mx)
		r.Machine.ServerGOMAXPROCS = t.ServerGOMAXPROCS
	}
	var fl, ll *targetReport
	for _, t := range r.Targets {
		switch t.Target {
		case "floor":
			fl = t
		case "lifeline":
			ll = t
		}
	}
	if fl != nil && ll != nil && len(fl.Rounds) > 0 && len(ll.Rounds) > 0 {
		r.Ratios = &ratios{
			RSSPerPoll: ratio(ll.RSSPerPollKB, fl.RSSPerPollKB),
			PollOnly:   ratio(ll.PollOnlyKB, fl.PollOnlyKB),
			P50:        ratio(ll.P50ms, fl.P50ms),
			P99:        ratio(ll.P99ms, fl.P99ms),
			Max:        ratio(ll.Maxms, fl.Maxms),
		}
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// clean reports whether every round delivered every poll without error.
func (r *report) clean() bool {
	for _, t := range r.Targets {
		if len(t.Rounds) == 0 {
			return false
		}
		for _, rr := range t.Rounds {
			if rr.Errors > 0 || rr.Delivered != r.N {
				return false
			}
		}
	}
	return true
}

func (r *report) writeJSON(w io.Writer) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(r)
}

func (r *report) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tpolls\trounds\trss/poll(KB)\tpoll-only(KB)\tp50(ms)\tp99(ms)\tmax(ms)\tdelivered\terrors\t")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t\n",
			t.Target, t.Polls, len(t.Rounds), t.RSSPerPollKB, t.PollOnlyKB, t.P50ms, t.P99ms, t.Maxms, t.Delivered, t.Errors)
	}
	if q := r.Ratios; q != nil {
		fmt.Fprintf(tw, "lifeline/floor\t\t\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t\t\t\n", q.RSSPerPoll, q.PollOnly, q.P50, q.P99, q.Max)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "medians across %d round(s) x %d cycle(s), after %d warm-up round(s); %s\n", r.Rounds, r.Cycles, r.Warmup, r.Order)
	fmt.Fprintln(w, "rss/poll = (RSS with N polls held - RSS of the warmed-up server with no client) / N; poll-only = (held - RSS with N idle ready connections) / N")
	if r.Presence {
		fmt.Fprintln(w, "lifeline: presence on")
	} else {
		fmt.Fprintln(w, "lifeline: DisablePresence: true")
	}
	m := r.Machine
	fmt.Fprintf(w, "machine: nproc=%d GOMAXPROCS load=%d server=%d %s %s cpu=%q nofile=%d\n",
		m.NProc, m.LoadGOMAXPROCS, m.ServerGOMAXPROCS, m.GoVersion, m.OSArch, m.CPU, m.OpenFilesSoftLimit)
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
