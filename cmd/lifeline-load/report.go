package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the outcome of a run; its JSON form is the -json output.
type report struct {
	Machine    machine         `json:"machine"`
	Ns         []int           `json:"n"`
	Transports []string        `json:"transports"`
	Events     int             `json:"burstEvents"`
	Rounds     int             `json:"rounds"`
	Warmup     int             `json:"warmupRounds"`
	Cycles     int             `json:"cycles"`
	Order      string          `json:"order"`
	Server     serverSettings  `json:"server"`
	Phases     []string        `json:"phases"`
	Instances  int             `json:"redisInstances,omitempty"` // of the redis target
	Targets    []*targetReport `json:"targets"`
	// Ratios are lifeline / floor and redis / lifeline of the medians, per
	// transport and N, when both ran.
	Ratios []*ratios `json:"ratios,omitempty"`
	// Redis mode.
	Throughput []*throughputReport `json:"throughput,omitempty"`
	Commands   []*commandsReport   `json:"commandsPerPublish,omitempty"`
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

// targetReport holds one server's rounds for one transport and N, and their
// medians.
type targetReport struct {
	Transport        string        `json:"transport"`
	Target           string        `json:"target"`
	N                int           `json:"n"`         // held polls or open streams
	Instances        int           `json:"instances"` // server processes; RSS is their sum
	ServerGOMAXPROCS int           `json:"serverGomaxprocs"`
	Rounds           []roundReport `json:"rounds"`
	// Medians across rounds.
	RSSPerConnKB float64 `json:"rssPerConnKB"`
	ConnOnlyKB   float64 `json:"connOnlyKB"`
	RSSFirstKB   float64 `json:"rssFirstPerConnKB"`
	// After a forced GC: (held - empty) RSS and live heap, per connection.
	RSSGCPerConnKB float64 `json:"rssAfterGCPerConnKB"`
	HeapPerConnKB  float64 `json:"heapPerConnKB"`
	CPUFanOutms    float64 `json:"cpuPerFanOutms"` // server CPU time of one fan-out
	P50ms          float64 `json:"p50ms"`          // fan-out of one publish
	P99ms          float64 `json:"p99ms"`
	Maxms          float64 `json:"maxms"`
	Delivered      int     `json:"delivered"` // fan-outs, over all rounds
	Errors         int     `json:"errors"`    // over all rounds, fan-outs and bursts
	// Streams: medians of the bursts.
	Burst *burstMedians `json:"burst,omitempty"`
}

type burstMedians struct {
	DeliveriesPerSec float64 `json:"deliveriesPerSec"` // N x events / elapsed
	PublishesPerSec  float64 `json:"publishesPerSec"`  // events / time to publish them all
	P50ms            float64 `json:"p50ms"`            // over every delivery
	P99ms            float64 `json:"p99ms"`
	Maxms            float64 `json:"maxms"`
	CPUms            float64 `json:"cpuPerBurstms"` // server CPU time of the burst
	Deliveries       int     `json:"deliveries"`    // over all rounds
}

type roundReport struct {
	Cycle          int          `json:"cycle"`
	Round          int          `json:"round"`
	EmptyRSSKB     int64        `json:"emptyRssKB"`
	IdleRSSKB      int64        `json:"idleRssKB"`
	HeldRSSKB      int64        `json:"heldRssKB"`
	FirstRSSKB     int64        `json:"firstRssKB"`          // held in the first warm-up round, before any publish
	RSSPerConnKB   float64      `json:"rssPerConnKB"`        // (held - empty) / N
	ConnOnlyKB     float64      `json:"connOnlyKB"`          // (held - idle) / N
	RSSFirstKB     float64      `json:"rssFirstPerConnKB"`   // (first - empty) / N
	RSSGCPerConnKB float64      `json:"rssAfterGCPerConnKB"` // (held - empty) / N, both after a forced GC
	HeapPerConnKB  float64      `json:"heapPerConnKB"`       // (held - empty) live heap / N after a forced GC
	CPUFanOutms    float64      `json:"cpuPerFanOutms"`
	P50ms          float64      `json:"p50ms"`
	P99ms          float64      `json:"p99ms"`
	Maxms          float64      `json:"maxms"`
	Delivered      int          `json:"delivered"`
	Errors         int          `json:"errors"`
	FirstError     string       `json:"firstError,omitempty"`
	Burst          *burstReport `json:"burst,omitempty"`
}

// burstReport is one round's burst: events published back to back to N
// streams.
type burstReport struct {
	Events           int     `json:"events"`
	Deliveries       int     `json:"deliveries"` // want N x events
	Elapsedms        float64 `json:"elapsedms"`  // first publish to last delivery
	Publishedms      float64 `json:"publishedms"`
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	PublishesPerSec  float64 `json:"publishesPerSec"`
	P50ms            float64 `json:"p50ms"`
	P99ms            float64 `json:"p99ms"`
	Maxms            float64 `json:"maxms"`
	CPUms            float64 `json:"cpums"`
	Errors           int     `json:"errors"`
	FirstError       string  `json:"firstError,omitempty"`
}

type ratios struct {
	Target     string  `json:"target"` // the numerator: lifeline or redis
	Base       string  `json:"base"`   // the denominator: floor or lifeline
	Transport  string  `json:"transport"`
	N          int     `json:"n"`
	RSSPerConn float64 `json:"rssPerConn"`
	ConnOnly   float64 `json:"connOnly"`
	RSSFirst   float64 `json:"rssFirst"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	Max        float64 `json:"max"`
	RSSGC      float64 `json:"rssAfterGC"`
	Heap       float64 `json:"heap"`
	CPUFanOut  float64 `json:"cpuPerFanOut"`
	// Streams. DeliveriesPerSec below 1 means Lifeline delivers fewer.
	DeliveriesPerSec float64 `json:"deliveriesPerSec,omitempty"`
	BurstP50         float64 `json:"burstP50,omitempty"`
	BurstP99         float64 `json:"burstP99,omitempty"`
	BurstCPU         float64 `json:"burstCPU,omitempty"`
}

// burstResult is what a driver measured in one burst.
type burstResult struct {
	events, deliveries int
	lat                latencySummary
	elapsed, published time.Duration
	cpu                time.Duration // the server's
	errs               int
	firstErr           error
}

// burst converts a burst answer for n streams and e events.
func (r driverReply) burst(n, e int) *burstResult {
	res := r.result()
	b := &burstResult{events: e, deliveries: r.Deliveries, lat: res.lat,
		elapsed: time.Duration(r.Elapsed), published: time.Duration(r.Published), errs: res.errs, firstErr: res.firstErr}
	if b.errs == 0 && b.deliveries != n*e {
		b.errs = n*e - b.deliveries
		b.firstErr = fmt.Errorf("%d of %d deliveries", b.deliveries, n*e)
	}
	return b
}

func (b *burstResult) perSec() (deliveries, publishes float64) {
	if b.elapsed > 0 {
		deliveries = float64(b.deliveries) / b.elapsed.Seconds()
	}
	if b.published > 0 {
		publishes = float64(b.events) / b.published.Seconds()
	}
	return deliveries, publishes
}

// describe is the log's account of a burst; "" for none.
func (b *burstResult) describe() string {
	if b == nil {
		return ""
	}
	d, p := b.perSec()
	return fmt.Sprintf("; burst of %d: %.0f deliveries/s (published at %.0f/s), p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d deliveries",
		b.events, d, p, ms(b.lat.P50), ms(b.lat.P99), ms(b.lat.Max), b.deliveries)
}

func newReport(cfg config) *report {
	r := &report{
		Machine: machine{
			NProc:              runtime.NumCPU(),
			GoVersion:          runtime.Version(),
			OSArch:             runtime.GOOS + "/" + runtime.GOARCH,
			CPU:                cpuModel(),
			LoadGOMAXPROCS:     runtime.GOMAXPROCS(0),
			OpenFilesSoftLimit: noFileLimit(),
		},
		Ns:         cfg.Ns,
		Transports: cfg.Transports,
		Events:     cfg.Events,
		Rounds:     cfg.Rounds,
		Warmup:     cfg.Warmup,
		Cycles:     cfg.Cycles,
		Order: "per transport and N, fresh processes; rounds alternate between targets (" + strings.Join(cfg.Targets, ", ") +
			"; round r starts with the next target in turn), all servers up at once, each in its own process, each target with its own load-driver process",
		Server: cfg.Server,
		Phases: cfg.Phases,
	}
	if slices.Contains(cfg.Targets, targetRedis) {
		r.Instances = cfg.Instances
	}
	return r
}

// target returns the report of kind in g, creating it.
func (r *report) target(g group, kind string) *targetReport {
	for _, t := range r.Targets {
		if t.Target == kind && t.Transport == g.transport && t.N == g.n {
			return t
		}
	}
	t := &targetReport{Transport: g.transport, Target: kind, N: g.n}
	r.Targets = append(r.Targets, t)
	return t
}

func (t *targetReport) addRound(cycle, round, n int, empty, idle, first, held int64, res roundResult, burst *burstResult) roundReport {
	rr := roundReport{
		Cycle: cycle + 1, Round: round + 1,
		EmptyRSSKB: empty, IdleRSSKB: idle, HeldRSSKB: held, FirstRSSKB: first,
		RSSPerConnKB: float64(held-empty) / float64(n),
		ConnOnlyKB:   float64(held-idle) / float64(n),
		RSSFirstKB:   float64(first-empty) / float64(n),
		P50ms:        ms(res.lat.P50), P99ms: ms(res.lat.P99), Maxms: ms(res.lat.Max),
		CPUFanOutms: ms(res.cpu),
		Delivered:   res.delivered, Errors: res.errs,
	}
	if res.firstErr != nil {
		rr.FirstError = res.firstErr.Error()
	}
	if b := burst; b != nil {
		d, p := b.perSec()
		rr.Burst = &burstReport{
			Events: b.events, Deliveries: b.deliveries,
			Elapsedms: ms(b.elapsed), Publishedms: ms(b.published),
			DeliveriesPerSec: d, PublishesPerSec: p,
			P50ms: ms(b.lat.P50), P99ms: ms(b.lat.P99), Maxms: ms(b.lat.Max),
			CPUms:  ms(b.cpu),
			Errors: b.errs,
		}
		if b.firstErr != nil {
			rr.Burst.FirstError = b.firstErr.Error()
		}
	}
	t.Rounds = append(t.Rounds, rr)
	return rr
}

// addCollected fills the last round's readings after a forced GC.
func (t *targetReport) addCollected(n int, emptyKB, heldKB, emptyHeap, heldHeap int64) {
	rr := &t.Rounds[len(t.Rounds)-1]
	rr.RSSGCPerConnKB = float64(heldKB-emptyKB) / float64(n)
	rr.HeapPerConnKB = float64(heldHeap-emptyHeap) / 1024 / float64(n)
}

// finish computes the medians and ratios.
func (r *report) finish() {
	for _, t := range r.Targets {
		var rss, only, first, p50, p99, mx []float64
		var bd, bp, b50, b99, bmx, bcpu []float64
		var rssGC, heap, cpu []float64
		t.Delivered, t.Errors = 0, 0
		deliveries := 0
		for _, rr := range t.Rounds {
			rss = append(rss, rr.RSSPerConnKB)
			only = append(only, rr.ConnOnlyKB)
			first = append(first, rr.RSSFirstKB)
			p50 = append(p50, rr.P50ms)
			p99 = append(p99, rr.P99ms)
			mx = append(mx, rr.Maxms)
			rssGC = append(rssGC, rr.RSSGCPerConnKB)
			heap = append(heap, rr.HeapPerConnKB)
			cpu = append(cpu, rr.CPUFanOutms)
			t.Delivered += rr.Delivered
			t.Errors += rr.Errors
			if b := rr.Burst; b != nil {
				bd = append(bd, b.DeliveriesPerSec)
				bp = append(bp, b.PublishesPerSec)
				b50 = append(b50, b.P50ms)
				b99 = append(b99, b.P99ms)
				bmx = append(bmx, b.Maxms)
				bcpu = append(bcpu, b.CPUms)
				deliveries += b.Deliveries
				t.Errors += b.Errors
			}
		}
		t.RSSPerConnKB, t.ConnOnlyKB, t.RSSFirstKB = median(rss), median(only), median(first)
		t.P50ms, t.P99ms, t.Maxms = median(p50), median(p99), median(mx)
		t.RSSGCPerConnKB, t.HeapPerConnKB, t.CPUFanOutms = median(rssGC), median(heap), median(cpu)
		if len(bd) > 0 {
			t.Burst = &burstMedians{
				DeliveriesPerSec: median(bd), PublishesPerSec: median(bp),
				P50ms: median(b50), P99ms: median(b99), Maxms: median(bmx),
				CPUms: median(bcpu), Deliveries: deliveries,
			}
		}
		r.Machine.ServerGOMAXPROCS = t.ServerGOMAXPROCS
	}
	for _, t := range r.Throughput {
		t.finish()
	}
	r.Ratios = nil
	for _, pair := range [][2]string{{targetLifeline, targetFloor}, {targetLifeline, targetCentrifuge}, {targetCentrifuge, targetFloor}, {targetRedis, targetLifeline}} {
		r.addRatios(pair[0], pair[1])
	}
}

// addRatios adds the ratios of target to base of every transport and N
// where both ran.
func (r *report) addRatios(target, base string) {
	for _, fl := range r.Targets {
		if fl.Target != base || len(fl.Rounds) == 0 {
			continue
		}
		for _, ll := range r.Targets {
			if ll.Target != target || ll.Transport != fl.Transport || ll.N != fl.N || len(ll.Rounds) == 0 {
				continue
			}
			q := &ratios{
				Target:     target,
				Base:       base,
				Transport:  fl.Transport,
				N:          fl.N,
				RSSPerConn: ratio(ll.RSSPerConnKB, fl.RSSPerConnKB),
				ConnOnly:   ratio(ll.ConnOnlyKB, fl.ConnOnlyKB),
				RSSFirst:   ratio(ll.RSSFirstKB, fl.RSSFirstKB),
				P50:        ratio(ll.P50ms, fl.P50ms),
				P99:        ratio(ll.P99ms, fl.P99ms),
				Max:        ratio(ll.Maxms, fl.Maxms),
				RSSGC:      ratio(ll.RSSGCPerConnKB, fl.RSSGCPerConnKB),
				Heap:       ratio(ll.HeapPerConnKB, fl.HeapPerConnKB),
				CPUFanOut:  ratio(ll.CPUFanOutms, fl.CPUFanOutms),
			}
			if ll.Burst != nil && fl.Burst != nil {
				q.DeliveriesPerSec = ratio(ll.Burst.DeliveriesPerSec, fl.Burst.DeliveriesPerSec)
				q.BurstP50 = ratio(ll.Burst.P50ms, fl.Burst.P50ms)
				q.BurstP99 = ratio(ll.Burst.P99ms, fl.Burst.P99ms)
				q.BurstCPU = ratio(ll.Burst.CPUms, fl.Burst.CPUms)
			}
			r.Ratios = append(r.Ratios, q)
		}
	}
}

// ratiosOf returns the ratios of the targets of a transport and N.
func (r *report) ratiosOf(transport string, n int) []*ratios {
	var out []*ratios
	for _, q := range r.Ratios {
		if q.Transport == transport && q.N == n {
			out = append(out, q)
		}
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// clean reports whether every round delivered everything without error.
func (r *report) clean() bool {
	if len(r.Targets) == 0 && len(r.Throughput) == 0 && len(r.Commands) == 0 {
		return false
	}
	for _, t := range r.Throughput {
		if len(t.Rounds) == 0 || t.Errors > 0 {
			return false
		}
	}
	for _, t := range r.Targets {
		if len(t.Rounds) == 0 {
			return false
		}
		for _, rr := range t.Rounds {
			if rr.Errors > 0 || rr.Delivered != t.N {
				return false
			}
			if b := rr.Burst; b != nil && (b.Errors > 0 || b.Deliveries != t.N*b.Events) {
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

func (r *report) saveJSON(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	r.writeJSON(f)
	return f.Close()
}

func (r *report) writeTable(w io.Writer) {
	if len(r.Targets) > 0 {
		r.writeFanOutTable(w)
	}
	r.writeRedisTables(w)
	r.writeNotes(w)
}

// writeFanOutTable writes the fan-out rounds' medians and ratios.
func (r *report) writeFanOutTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transport\ttarget\tN\tinstances\trounds\trss/conn(KB)\tconn-only(KB)\trss@first(KB)\trss-gc/conn(KB)\theap/conn(KB)\tp50(ms)\tp99(ms)\tmax(ms)\tcpu/fan-out(ms)\tdeliv/s\tburst p50(ms)\tburst p99(ms)\tcpu/burst(ms)\tdelivered\terrors\t")
	dash := func(ok bool, format string, v float64) string {
		if !ok {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	var last *targetReport
	for _, t := range r.Targets {
		if last != nil && (last.Transport != t.Transport || last.N != t.N) {
			r.writeRatios(tw, last)
		}
		last = t
		b := t.Burst
		delivered := fmt.Sprint(t.Delivered)
		if b != nil {
			delivered += fmt.Sprintf("+%d", b.Deliveries)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%d\t\n",
			t.Transport, t.Target, t.N, t.Instances, len(t.Rounds), t.RSSPerConnKB, t.ConnOnlyKB, t.RSSFirstKB, t.RSSGCPerConnKB, t.HeapPerConnKB,
			t.P50ms, t.P99ms, t.Maxms, t.CPUFanOutms,
			dash(b != nil, "%.0f", b.get(func(b *burstMedians) float64 { return b.DeliveriesPerSec })),
			dash(b != nil, "%.1f", b.get(func(b *burstMedians) float64 { return b.P50ms })),
			dash(b != nil, "%.1f", b.get(func(b *burstMedians) float64 { return b.P99ms })),
			dash(b != nil, "%.1f", b.get(func(b *burstMedians) float64 { return b.CPUms })),
			delivered, t.Errors)
	}
	if last != nil {
		r.writeRatios(tw, last)
	}
	_ = tw.Flush()
}

// writeNotes explains the tables and names the settings and the machine.
func (r *report) writeNotes(w io.Writer) {
	fmt.Fprintf(w, "medians across %d round(s) x %d cycle(s), after %d warm-up round(s); %s\n", r.Rounds, r.Cycles, r.Warmup, r.Order)
	fmt.Fprintln(w, "rss/conn = (RSS with N polls or streams held - RSS of the warmed-up server with no client) / N; conn-only = (held - RSS with N idle ready connections) / N;")
	if r.Instances > 0 {
		fmt.Fprintf(w, "redis: Lifeline on an llredis Backend, %d instances on one Redis and one fresh key prefix (deleted afterwards), clients spread round-robin, every publish sent to the first instance; RSS summed over the instances (Redis's own memory not included)\n", r.Instances)
	}
	fmt.Fprintln(w, "rss@first = rss/conn in the first warm-up round, before any publish reached the polls or streams (no heap growth from traffic yet)")
	fmt.Fprintln(w, "rss-gc/conn, heap/conn = (held - empty) / N, each read right after a forced GC (runtime.GC + debug.FreeOSMemory in the server): RSS, and the live heap (MemStats.HeapAlloc)")
	fmt.Fprintln(w, "p50/p99/max: one publish fanned out to all N, from just before the publish is sent to each delivery; cpu/fan-out, cpu/burst: the server's CPU time (user + system, getrusage) from just before the publish(es) to the last delivery")
	fmt.Fprintf(w, "clients: raw TCP (hand-written HTTP/1.1 and WebSocket), spread over %d loopback source addresses (127.1.0.1 up)\n", sourceAddrs)
	fmt.Fprintf(w, "streams: burst = %d events published back to back; deliv/s = N x events / (first publish to the last stream's last event); burst p50/p99 over every delivery; delivered = fan-outs+burst deliveries; ratio of deliv/s < 1 means Lifeline delivers fewer\n", r.Events)
	presence := "DisablePresence: true"
	if r.Server.Presence {
		presence = "presence on"
	}
	fmt.Fprintf(w, "lifeline: %s; %s; per-session limits off (IdleLimit, SendLimit); per-address limits at their defaults (MaxSessionsPerAddr, MaxHeldPerAddress, negotiate limiter); heartbeats and pings beyond the run; log level warn\n", presence, r.Server.lifelineNote())
	fmt.Fprintf(w, "centrifuge: github.com/centrifugal/centrifuge v0.40.1, memory broker, server-side subscription on connect, JSON protocol, app pings off, logging off, %s, other settings default; floor: bare Gin handlers\n", r.Server.centrifugeNote())
	m := r.Machine
	fmt.Fprintf(w, "machine: nproc=%d GOMAXPROCS load=%d server=%d %s %s cpu=%q nofile=%d; servers and load drivers share the cores\n",
		m.NProc, m.LoadGOMAXPROCS, m.ServerGOMAXPROCS, m.GoVersion, m.OSArch, m.CPU, m.OpenFilesSoftLimit)
}

// writeRatios writes the lifeline/floor and redis/lifeline rows of t's
// transport and N.
func (r *report) writeRatios(tw io.Writer, t *targetReport) {
	for _, q := range r.ratiosOf(t.Transport, t.N) {
		burst := "-\t-\t-\t-"
		if q.DeliveriesPerSec != 0 {
			burst = fmt.Sprintf("%.2fx\t%.2fx\t%.2fx\t%.2fx", q.DeliveriesPerSec, q.BurstP50, q.BurstP99, q.BurstCPU)
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%d\t\t\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%.2fx\t%s\t\t\t\n",
			q.Transport, q.Target, q.Base, q.N, q.RSSPerConn, q.ConnOnly, q.RSSFirst, q.RSSGC, q.Heap, q.P50, q.P99, q.Max, q.CPUFanOut, burst)
	}
}

// get returns f(b), or 0 for a nil b.
func (b *burstMedians) get(f func(*burstMedians) float64) float64 {
	if b == nil {
		return 0
	}
	return f(b)
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
