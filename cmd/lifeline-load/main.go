// Command lifeline-load measures Lifeline against a bare-Gin floor and, for
// WebSocket and SSE, against centrifuge (github.com/centrifugal/centrifuge,
// the library behind Centrifugo) in the same run, per transport: N
// long-polls held at once, or N WebSocket or SSE streams open on one topic.
// It reports the RSS and the live heap each server needs per connection,
// how fast one publish fans out to all N and the server CPU it costs, and,
// for streams, the sustained delivery rate of a burst of publishes and its
// server CPU (DESIGN.md §8).
//
// It is a module of its own (go.mod beside this file, Lifeline replaced by
// ../..), so that centrifuge never enters Lifeline's module graph. From the
// repository root, README's table in one command (make load):
//
//	cd cmd/lifeline-load && go run . -n 1000,10000 -events 1000 -burst-max-n 1000
//	cd cmd/lifeline-load && go run . [-transports longpoll,websocket,sse] [-n 2000,10000]
//	    [-events 200] [-rounds 5] [-targets floor,lifeline,centrifuge] [-json]
//	cd cmd/lifeline-load && go run . -redis redis://127.0.0.1:6379/0 [-instances 3]
//	    [-phases fanout,throughput,commands] [-subscribers 1000] [-publishers 48]
//	cd cmd/lifeline-load && go run . -postgres postgres://postgres@127.0.0.1:5432/postgres
//	    [-publish-for 5s] [-pg-rate 50] [-pg-writers 8] [-subscribers 1000]
//
// The clients are raw TCP (hand-made HTTP/1.1 requests and WebSocket
// frames: Go's net/http client would dominate the latencies at N = 10 000),
// each connection from one of 400 loopback source addresses (127.1.0.1
// up), so that Lifeline's per-address limits run at their defaults.
//
// Each server runs in its own child process (this binary re-executed with
// the hidden -serve flag) so that /proc/<pid>/status VmRSS is the server's
// alone, and each server's N client connections are held by a driver child
// (the hidden -drive flag), so that both sets of N connections stay open
// within RLIMIT_NOFILE and the targets' rounds alternate: floor round 1,
// lifeline round 1, floor round 2, ... Every (N, transport) pair gets fresh
// processes; -cycles repeats everything with fresh processes again. The
// servers and the load generator share the machine's cores: on a small
// machine the figures include the clients' own work, the same for both
// targets.
//
// Per target: the server is started and warmed up (pings and publishes, no
// poll or stream held) and its RSS read: "empty". The N connections are
// then opened and readied (Lifeline: negotiate, then one poll with
// timeout=0 to learn the cursor; floor: one ping) and RSS read again:
// "idle".
//
// Long-poll: each round arms one held poll per connection, waits until the
// server counts N polls in their handler and its RSS settles ("held"), then
// times one publish from just before it is sent to the end of each poll's
// response.
//
// Streams: the first round turns every connection into a stream (WebSocket:
// upgrade, auth frame with token and cursor on Lifeline; SSE: GET with the
// Lifeline-Token header) and waits for each stream's open message; streams
// then stay open. Each round waits until the RSS settles ("held"), times
// one publish to every stream (fan-out, as for long-poll), then publishes
// -events events back to back on one connection, each as soon as the
// previous publish is answered, and measures the deliveries per second
// (N x events / time from the first publish to the last stream receiving
// the last event) and the latency of every delivery (from just before its
// publish was sent).
//
// -warmup rounds run first and are not recorded, so that the servers'
// heaps have grown to their working size (RSS creeps up over the first
// rounds as the garbage collector's goal grows).
// rss/conn = (held - empty) / N, the whole cost of a waiting client;
// conn-only = (held - idle) / N, the cost of the held poll or the stream
// alone; rss@first = (held in the first warm-up round - empty) / N, before
// any publish reached these polls or streams, so without the heap growth
// that traffic leaves behind. Lifeline's retained events (up to 1000 per
// topic) are part of its held RSS. The server is never told to collect garbage or free memory
// (only -profile does, after the RSS reading of the round it profiles).
// Lifeline runs with DisablePresence: true unless -presence is given, with
// its per-session rate limits off and its per-address limits at their
// defaults, and with heartbeats, pings and stream recycling pushed beyond
// the run (see lifeline.go); centrifuge with its defaults, pings off (see
// centrifuge.go).
//
// Each round also reads, right after a forced GC in the server (GET
// /stats?gc), its RSS and live heap (rss-gc/conn, heap/conn: not inflated
// by the garbage earlier bursts left), and the server's CPU time (getrusage)
// around the fan-out and around the burst. -burst-max-n limits the bursts
// to the smaller N of a run.
//
// Redis mode (-redis URL) adds the redis target: -instances Lifeline
// instances, each in its own process with an llredis Backend on that Redis
// under one fresh key prefix, deleted when the target stops. The N clients
// are spread over the instances round-robin and every publish goes to the
// first, so one fan-out crosses Redis to all of them; RSS is the sum of the
// instances'. Two more measurements come with it (-phases): throughput,
// the publishes per second with -subscribers long-polling the topic in a
// loop (throughput.go), and commands, Redis's INFO commandstats around one
// publish and its fan-out for each of -count-subscribers held polls on
// each of -count-instances instances (redismode.go). Use a Redis of the
// run's own for exact command counts: the counters are server-wide.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

func main() {
	if code, ok := childRole(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags ask for.
type config struct {
	Ns         []int
	Transports []string
	Events     int
	BurstMaxN  int
	Rounds     int
	Warmup     int
	Cycles     int
	Targets    []string
	Timeout    time.Duration
	Server     serverSettings
	ProfileDir string

	ProfileSeconds int

	// Redis mode (see redismode.go).
	Phases         []string
	Redis          string // URL; "" without the redis target
	Instances      int    // of the redis target
	Subscribers    int    // throughput phase: polls re-polling at once
	Publishers     int    // throughput phase: publishing goroutines, spread over the instances
	PublishFor     time.Duration
	CountSubs      []int // commands phase: subscribers
	CountInstances []int // commands phase: instances
	CountPublishes int   // commands phase: publishes measured per setting
}

func cliMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lifeline-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	ns := fs.String("n", "10000", "comma-separated numbers of connections (polls or streams) to hold at once; each is measured in turn")
	transports := fs.String("transports", strings.Join(allTransports, ","), "comma-separated transports to measure, in order: longpoll, websocket, sse")
	fs.IntVar(&cfg.Events, "events", 200, "streams: events published back to back in each round's burst")
	fs.IntVar(&cfg.BurstMaxN, "burst-max-n", 1<<30, "streams: run the bursts only where N is at most this (-n 1000,10000 -burst-max-n 1000: bursts to 1 000 streams, fan-out and memory at both)")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "measured rounds per target (a fan-out, and for streams a burst)")
	fs.IntVar(&cfg.Warmup, "warmup", 2, "unmeasured rounds per target before the measured ones, so the servers' heaps reach their working size")
	fs.IntVar(&cfg.Cycles, "cycles", 1, "repeat everything this many times with fresh server and driver processes")
	targets := fs.String("targets", "floor,lifeline,centrifuge", "comma-separated servers to measure, in order: floor, lifeline, centrifuge (streams only; github.com/centrifugal/centrifuge), redis (with -redis)")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "limit for each phase: connecting, arming N polls or opening N streams, one fan-out, one burst")
	cfg.Server.flags(fs)
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write pprof heap, goroutine and mutex profiles of each server, and CPU profiles of its last round's fan-out (long-poll) or burst (streams), to this directory (perturbs the figures)")
	fs.IntVar(&cfg.ProfileSeconds, "profile-seconds", 3, "length of the CPU profiles")
	fs.StringVar(&cfg.Redis, "redis", "", "Redis mode: the URL of a Redis (redis://127.0.0.1:6379/0) for the redis target, -instances Lifeline instances sharing it; "+
		"then -targets defaults to lifeline,redis, -transports to longpoll and -phases to fanout,throughput,commands")
	fs.IntVar(&cfg.Instances, "instances", 3, "redis target: Lifeline instances on the one Redis; the N clients are spread over them round-robin and every publish goes to the first")
	phases := fs.String("phases", phaseFanOut, "comma-separated measurements: fanout (the rounds above), throughput (publishes/s with -subscribers polling), commands (Redis commands per publish; needs -redis)")
	fs.IntVar(&cfg.Subscribers, "subscribers", 1000, "throughput: long-poll clients that re-poll as soon as each answer arrives")
	fs.IntVar(&cfg.Publishers, "publishers", 48, "throughput: goroutines calling Publish back to back inside the servers, spread evenly over a target's instances")
	fs.DurationVar(&cfg.PublishFor, "publish-for", 3*time.Second, "throughput: how long each round publishes")
	countSubs := fs.String("count-subscribers", "1,100,1000", "commands: numbers of held polls")
	countInstances := fs.String("count-instances", "1,3", "commands: numbers of instances")
	fs.IntVar(&cfg.CountPublishes, "count-publishes", 5, "commands: publishes measured per setting (one per round, after one unmeasured round)")
	pgURL := fs.String("postgres", "", "Postgres mode: the URL of a PostgreSQL server (wal_level=logical, a role with REPLICATION that may create databases); measures rows relayed by llpg to -subscribers long-polls beside the same events published with Publish (pgmode.go), and nothing else")
	pgWriters := fs.Int("pg-writers", 8, "Postgres mode: connections inserting rows (and goroutines publishing in the Publish phases)")
	pgRate := fs.Float64("pg-rate", 200, "Postgres mode: rows (and events) per second of the paced phases")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	save := fs.String("save", "", "also write the JSON report to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *pgURL != "" {
		gin.SetMode(gin.ReleaseMode)
		err := runPostgresLoad(pgLoad{url: *pgURL, subscribers: cfg.Subscribers, writers: *pgWriters, duration: cfg.PublishFor, timeout: cfg.Timeout, rate: *pgRate}, stdout, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "lifeline-load:", err)
			return 1
		}
		return 0
	}
	if cfg.Redis != "" {
		if !set["targets"] {
			*targets = targetLifeline + "," + targetRedis
		}
		if !set["transports"] {
			*transports = transportLongPoll
		}
		if !set["phases"] {
			*phases = strings.Join(allPhases, ",")
		}
	}
	cfg.Targets, cfg.Transports, cfg.Phases = splitList(*targets), splitList(*transports), splitList(*phases)
	for _, list := range []struct {
		flag string
		in   string
		out  *[]int
	}{{"n", *ns, &cfg.Ns}, {"count-subscribers", *countSubs, &cfg.CountSubs}, {"count-instances", *countInstances, &cfg.CountInstances}} {
		for _, v := range splitList(list.in) {
			n, err := strconv.Atoi(v)
			if err != nil {
				fmt.Fprintf(stderr, "lifeline-load: -%s: %q is not a number\n", list.flag, v)
				return 2
			}
			*list.out = append(*list.out, n)
		}
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(stderr, "lifeline-load:", err)
		return 2
	}
	rep, err := run(cfg, stderr)
	if rep != nil {
		if *asJSON {
			rep.writeJSON(stdout)
		} else {
			rep.writeTable(stdout)
		}
		if *save != "" {
			if err := rep.saveJSON(*save); err != nil {
				fmt.Fprintln(stderr, "lifeline-load:", err)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "lifeline-load:", err)
		return 1
	}
	if !rep.clean() {
		fmt.Fprintln(stderr, "lifeline-load: some polls or streams failed or were not delivered")
		return 1
	}
	return 0
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (c config) check() error {
	if len(c.Ns) == 0 || slices.Min(c.Ns) < 1 || c.Rounds < 1 || c.Cycles < 1 || c.Warmup < 0 || c.Events < 1 {
		return fmt.Errorf("-n, -events, -rounds and -cycles must be positive, -warmup not negative")
	}
	if c.ProfileSeconds < 1 {
		return fmt.Errorf("-profile-seconds must be positive")
	}
	if len(c.Transports) == 0 {
		return fmt.Errorf("no -transports")
	}
	for _, t := range c.Transports {
		if !slices.Contains(allTransports, t) {
			return fmt.Errorf("unknown transport %q: want %s", t, strings.Join(allTransports, ", "))
		}
	}
	if c.Timeout < time.Second {
		return fmt.Errorf("-timeout must be at least 1s")
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("no -targets")
	}
	for _, t := range c.Targets {
		if !slices.Contains(allTargets, t) {
			return fmt.Errorf("unknown target %q: want %s", t, strings.Join(allTargets, ", "))
		}
	}
	if err := c.checkRedisMode(); err != nil {
		return err
	}
	if err := raiseNoFile(); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if n, lim := max(slices.Max(c.Ns), c.Subscribers), noFileLimit(); uint64(n)+64 > lim {
		return fmt.Errorf("-n %d needs more open files than RLIMIT_NOFILE allows (%d)", n, lim)
	}
	return nil
}

// run measures the targets, cycle after cycle, each N and transport in
// turn, and returns what it measured even on error.
func run(cfg config, log io.Writer) (*report, error) {
	rep := newReport(cfg)
	defer rep.finish()
	for cycle := range cfg.Cycles {
		if slices.Contains(cfg.Phases, phaseFanOut) {
			for _, n := range cfg.Ns {
				for _, tr := range cfg.Transports {
					if err := runGroup(cfg, group{transport: tr, n: n}, cycle, rep, log); err != nil {
						return rep, fmt.Errorf("cycle %d: %s N=%d: %w", cycle+1, tr, n, err)
					}
				}
			}
		}
		if slices.Contains(cfg.Phases, phaseThroughput) {
			if err := runThroughput(cfg, cycle, rep, log); err != nil {
				return rep, fmt.Errorf("cycle %d: throughput: %w", cycle+1, err)
			}
		}
	}
	if slices.Contains(cfg.Phases, phaseCommands) {
		if err := runCommandCounts(cfg, rep, log); err != nil {
			return rep, fmt.Errorf("commands per publish: %w", err)
		}
	}
	return rep, nil
}

// group is what the targets are compared on: a transport and a number of
// connections.
type group struct {
	transport string
	n         int
}

func (g group) streaming() bool { return g.transport != transportLongPoll }

// target is one server under load in one group and cycle: its process, the
// driver holding its N connections, and its RSS before any poll or stream
// is held.
type target struct {
	kind        string
	group       group
	servers     []*proc  // one, or the redis target's instances
	addrs       []string // of the servers; publishes go to the first
	driver      *driverProc
	empty, idle int64
	first       int64 // held RSS of the first round, before any fan-out to these polls or streams
	// After a forced GC (see serverStats): RSS and live heap of the
	// warmed-up server with no client.
	emptyGC, emptyHeap int64
	report             *targetReport
	cleanup            func() error      // deletes the redis target's keys; nil for the others
	throughput         *throughputReport // in the throughput phase
}

func (t *target) stop() {
	if t.driver != nil {
		t.driver.stop() // closes the connections first
	}
	for _, s := range t.servers {
		s.stop()
	}
	if t.cleanup != nil {
		if err := t.cleanup(); err != nil {
			fmt.Fprintf(os.Stderr, "lifeline-load: deleting the run's Redis keys: %v\n", err)
		}
	}
}

// rss is the settled RSS of the target's servers, summed.
func (t *target) rss() (int64, error) {
	var sum int64
	for _, s := range t.servers {
		kb, err := settledRSS(s.pid())
		if err != nil {
			return 0, err
		}
		sum += kb
	}
	return sum, nil
}

// runGroup starts every target, then runs the rounds alternately: round 1
// of each target in order, then round 2, and so on.
func runGroup(cfg config, g group, cycle int, rep *report, log io.Writer) error {
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, kind := range cfg.Targets {
		if !serves(kind, g.transport) {
			continue
		}
		t, err := startTarget(cfg, g, kind, rep.target(g, kind))
		if t != nil {
			targets = append(targets, t)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		fmt.Fprintf(log, "%s %s N=%d: cycle %d: clients ready; RSS empty %d KiB, idle %d KiB\n", g.transport, kind, g.n, cycle+1, t.empty, t.idle)
	}
	for r := -cfg.Warmup; r < cfg.Rounds; r++ { // r < 0: warm-up, not recorded
		for _, t := range rotate(targets, r+cfg.Warmup+cycle) {
			if err := t.round(cfg, cycle, r, log); err != nil {
				return fmt.Errorf("%s round %d: %w", t.kind, r+1, err)
			}
		}
	}
	return nil
}

// rotate returns xs starting at index k modulo its length, so that no
// target always runs first (or always right after another's round).
func rotate[T any](xs []T, k int) []T {
	if len(xs) == 0 {
		return xs
	}
	k %= len(xs)
	return append(slices.Clone(xs[k:]), xs[:k]...)
}

// startTarget starts the server and its driver, warms the server up, reads
// its empty RSS, connects the N clients and reads its idle RSS.
func startTarget(cfg config, g group, kind string, tr *targetReport) (*target, error) {
	return startTargetRSS(cfg, g, kind, tr, true)
}

// startTargetRSS is startTarget, reading the RSS only if withRSS.
func startTargetRSS(cfg config, g group, kind string, tr *targetReport, withRSS bool) (*target, error) {
	t, err := startServers(cfg, g, kind, cfg.Instances, tr)
	if err != nil {
		return t, err
	}
	if t.driver, err = startDriver(cfg, kind, g.transport, t.addrs, g.n); err != nil {
		return t, err
	}
	if _, err := t.driver.do("warm"); err != nil {
		return t, err
	}
	if withRSS {
		if t.empty, err = t.rss(); err != nil {
			return t, err
		}
		if t.emptyGC, t.emptyHeap, err = t.collected(); err != nil {
			return t, err
		}
	}
	if _, err := t.driver.do("connect"); err != nil {
		return t, err
	}
	if withRSS {
		if t.idle, err = t.rss(); err != nil {
			return t, err
		}
	}
	return t, nil
}

// startServers starts the server of kind: one process, or for the redis
// target the given number of instances on one fresh key prefix, deleted
// when the target stops.
func startServers(cfg config, g group, kind string, instances int, tr *targetReport) (*target, error) {
	t := &target{kind: kind, group: g, report: tr}
	var shared redisTarget
	if kind != targetRedis {
		instances = 1
	} else {
		shared = redisTarget{url: cfg.Redis, prefix: newRunPrefix()}
		t.cleanup = func() error { return deletePrefix(shared.url, shared.prefix) }
	}
	tr.Instances = instances
	for range instances {
		server, addr, procs, err := startServer(kind, g.transport, cfg.Server, cfg.ProfileDir != "", shared, cfg.Timeout)
		if err != nil {
			return t, err
		}
		t.servers, t.addrs = append(t.servers, server), append(t.addrs, addr)
		tr.ServerGOMAXPROCS = procs
	}
	return t, nil
}

// round holds N polls (or makes sure the N streams are open), reads the
// held RSS once it settles, and fans one publish out to all of them; for
// streams it then runs a burst. Rounds r < 0 are warm-up and not recorded.
func (t *target) round(cfg config, cycle, r int, log io.Writer) error {
	g := t.group
	if _, err := t.driver.do("arm"); err != nil {
		return err
	}
	held, err := t.rss()
	if err != nil {
		return err
	}
	if r == -cfg.Warmup {
		t.first = held
	}
	// The held reading above is what the server holds as it runs; this
	// one, after a forced GC, is what is live, without the garbage that
	// the previous rounds' traffic left for the collector.
	heldGC, heldHeap, err := t.collected()
	if err != nil {
		return err
	}
	cpu0, err := t.cpuTime()
	if err != nil {
		return err
	}
	profile := cfg.ProfileDir != "" && cycle == 0 && r == cfg.Rounds-1
	var prof *profiler
	if profile && !g.streaming() {
		if prof, err = startProfiles(cfg, g, t.kind, t.addrs[0], log); err != nil {
			return err
		}
	}
	rep, err := t.driver.do("fire")
	if err = prof.finish(err); err != nil {
		return err
	}
	cpu1, err := t.cpuTime()
	if err != nil {
		return err
	}
	res := rep.result()
	res.cpu = cpu1 - cpu0
	var burst *burstResult
	if g.streaming() && g.n <= cfg.BurstMaxN {
		if profile {
			if prof, err = startProfiles(cfg, g, t.kind, t.addrs[0], log); err != nil {
				return err
			}
		}
		brep, err := t.driver.do("burst")
		if err = prof.finish(err); err != nil {
			return err
		}
		cpu2, err := t.cpuTime()
		if err != nil {
			return err
		}
		burst = brep.burst(g.n, cfg.Events)
		burst.cpu = cpu2 - cpu1
	}
	name := fmt.Sprintf("%s %s N=%d: cycle %d", g.transport, t.kind, g.n, cycle+1)
	if r < 0 {
		fmt.Fprintf(log, "%s warm-up round: held RSS %d KiB, fan-out p50 %.1f ms, p99 %.1f ms, delivered %d/%d%s\n",
			name, held, ms(res.lat.P50), ms(res.lat.P99), res.delivered, g.n, burst.describe())
		if res.errs > 0 {
			return fmt.Errorf("warm-up: %d failed, first: %v", res.errs, res.firstErr)
		}
		if burst != nil && burst.errs > 0 {
			return fmt.Errorf("warm-up burst: %d failed, first: %v", burst.errs, burst.firstErr)
		}
		return nil
	}
	rr := t.report.addRound(cycle, r, g.n, t.empty, t.idle, t.first, held, res, burst)
	t.report.addCollected(g.n, t.emptyGC, heldGC, t.emptyHeap, heldHeap)
	fmt.Fprintf(log, "%s round %d: held RSS %d KiB (%.1f KiB/conn), fan-out p50 %.1f ms, p99 %.1f ms, max %.1f ms, delivered %d/%d%s\n",
		name, r+1, held, rr.RSSPerConnKB, rr.P50ms, rr.P99ms, rr.Maxms, rr.Delivered, g.n, burst.describe())
	if res.errs > 0 {
		return fmt.Errorf("%d failed, first: %v", res.errs, res.firstErr)
	}
	if burst != nil && burst.errs > 0 {
		return fmt.Errorf("burst: %d failed, first: %v", burst.errs, burst.firstErr)
	}
	return nil
}
