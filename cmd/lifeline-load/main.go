// Command lifeline-load holds N long-polls against Lifeline and against a
// bare-Gin floor in the same run, and reports the RSS each server needs per
// held poll and how fast one publish fans out to all N (DESIGN.md §8).
//
//	go run ./cmd/lifeline-load [-n 10000] [-rounds 5] [-targets floor,lifeline] [-json]
//
// Each server runs in its own child process (this binary re-executed with
// the hidden -serve flag) so that /proc/<pid>/status VmRSS is the server's
// alone, and each server's N client connections are held by a driver child
// (the hidden -drive flag), so that both sets of N connections stay open
// within RLIMIT_NOFILE and the targets' rounds alternate: floor round 1,
// lifeline round 1, floor round 2, ... -cycles repeats everything with
// fresh processes.
//
// Per target: the server is started and warmed up (pings and publishes, no
// poll held) and its RSS read: "empty". The N connections are then opened
// and readied (Lifeline: negotiate, then one poll with timeout=0 to learn
// the cursor; floor: one ping) and RSS read again: "idle". Each round arms
// one held poll per connection, waits until the server counts N polls in
// their handler and its RSS settles ("held"), then times one publish from
// just before it is sent to the end of each poll's response.
// -warmup rounds run first and are not recorded, so that the servers'
// heaps have grown to their working size (RSS creeps up over the first
// rounds as the garbage collector's goal grows).
// rss/poll = (held - empty) / N, the whole cost of a waiting client;
// poll-only = (held - idle) / N, the cost of the held request alone.
// The server is never told to collect garbage or free memory (only
// -profile does, after the RSS reading of the round it profiles).
// Lifeline runs with DisablePresence: true unless -presence is given.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	if code, ok := childRole(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags ask for.
type config struct {
	N          int
	Rounds     int
	Warmup     int
	Cycles     int
	Targets    []string
	Timeout    time.Duration
	Presence   bool
	ProfileDir string
}

func cliMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lifeline-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.IntVar(&cfg.N, "n", 10_000, "long-polls to hold at once")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "measured publishes (fan-outs) per target")
	fs.IntVar(&cfg.Warmup, "warmup", 2, "unmeasured rounds per target before the measured ones, so the servers' heaps reach their working size")
	fs.IntVar(&cfg.Cycles, "cycles", 1, "repeat everything this many times with fresh server and driver processes")
	targets := fs.String("targets", "floor,lifeline", "comma-separated servers to measure, in order: floor, lifeline")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "limit for each phase: connecting, arming N polls, one fan-out")
	fs.BoolVar(&cfg.Presence, "presence", false, "keep Lifeline's presence on (off by default so joins do not flood the topic)")
	fs.StringVar(&cfg.ProfileDir, "profile", "", "write pprof heap, goroutine, mutex and fan-out CPU profiles of each server to this directory (perturbs the figures)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for _, t := range strings.Split(*targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			cfg.Targets = append(cfg.Targets, t)
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
	}
	if err != nil {
		fmt.Fprintln(stderr, "lifeline-load:", err)
		return 1
	}
	if !rep.clean() {
		fmt.Fprintln(stderr, "lifeline-load: some polls failed or were not delivered")
		return 1
	}
	return 0
}

func (c config) check() error {
	if c.N < 1 || c.Rounds < 1 || c.Cycles < 1 || c.Warmup < 0 {
		return fmt.Errorf("-n, -rounds and -cycles must be positive, -warmup not negative")
	}
	if c.Timeout < time.Second {
		return fmt.Errorf("-timeout must be at least 1s")
	}
	if len(c.Targets) == 0 {
		return fmt.Errorf("no -targets")
	}
	for _, t := range c.Targets {
		if t != "floor" && t != "lifeline" {
			return fmt.Errorf("unknown target %q: want floor or lifeline", t)
		}
	}
	if err := raiseNoFile(); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	if lim := noFileLimit(); uint64(c.N)+64 > lim {
		return fmt.Errorf("-n %d needs more open files than RLIMIT_NOFILE allows (%d)", c.N, lim)
	}
	return nil
}

// run measures the targets, cycle after cycle, and returns what it measured
// even on error.
func run(cfg config, log io.Writer) (*report, error) {
	rep := newReport(cfg)
	for cycle := range cfg.Cycles {
		if err := runCycle(cfg, cycle, rep, log); err != nil {
			rep.finish()
			return rep, fmt.Errorf("cycle %d: %w", cycle+1, err)
		}
	}
	rep.finish()
	return rep, nil
}

// target is one server under load in one cycle: its process, the driver
// holding its N connections, and its RSS before any poll is held.
type target struct {
	kind        string
	server      *proc
	addr        string
	driver      *driverProc
	empty, idle int64
	report      *targetReport
}

func (t *target) stop() {
	if t.driver != nil {
		t.driver.stop() // closes the connections first
	}
	t.server.stop()
}

// runCycle starts every target, then runs the rounds alternately: round 1
// of each target in order, then round 2, and so on.
func runCycle(cfg config, cycle int, rep *report, log io.Writer) error {
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, kind := range cfg.Targets {
		t, err := startTarget(cfg, kind, rep.target(kind))
		if t != nil {
			targets = append(targets, t)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		fmt.Fprintf(log, "%s: cycle %d: %d clients ready; RSS empty %d KiB, idle %d KiB\n", kind, cycle+1, cfg.N, t.empty, t.idle)
	}
	for r := -cfg.Warmup; r < cfg.Rounds; r++ { // r < 0: warm-up, not recorded
		for _, t := range targets {
			if err := t.round(cfg, cycle, r, log); err != nil {
				return fmt.Errorf("%s round %d: %w", t.kind, r+1, err)
			}
		}
	}
	return nil
}

// startTarget starts the server and its driver, warms the server up, reads
// its empty RSS, connects the N clients and reads its idle RSS.
func startTarget(cfg config, kind string, tr *targetReport) (*target, error) {
	server, addr, procs, err := startServer(kind, cfg.Presence, cfg.ProfileDir != "", cfg.Timeout)
	if err != nil {
		return nil, err
	}
	tr.ServerGOMAXPROCS = procs
	t := &target{kind: kind, server: server, addr: addr, report: tr}
	if t.driver, err = startDriver(kind, addr, cfg.N, cfg.Timeout); err != nil {
		return t, err
	}
	if _, err := t.driver.do("warm"); err != nil {
		return t, err
	}
	if t.empty, err = settledRSS(server.pid()); err != nil {
		return t, err
	}
	if _, err := t.driver.do("connect"); err != nil {
		return t, err
	}
	if t.idle, err = settledRSS(server.pid()); err != nil {
		return t, err
	}
	return t, nil
}

// round holds N polls, reads the held RSS once it settles, and fans one
// publish out to all of them. Rounds r < 0 are warm-up and not recorded.
func (t *target) round(cfg config, cycle, r int, log io.Writer) error {
	if _, err := t.driver.do("arm"); err != nil {
		return err
	}
	held, err := settledRSS(t.server.pid())
	if err != nil {
		return err
	}
	var prof *profiler
	if cfg.ProfileDir != "" && cycle == 0 && r == cfg.Rounds-1 {
		if prof, err = startProfiles(cfg.ProfileDir, t.kind, t.addr, log); err != nil {
			return err
		}
	}
	rep, err := t.driver.do("fire")
	if prof != nil {
		if perr := prof.finish(); err == nil {
			err = perr
		}
	}
	if err != nil {
		return err
	}
	res := rep.result()
	if r < 0 {
		fmt.Fprintf(log, "%s: cycle %d warm-up round: held RSS %d KiB, p50 %.1f ms, p99 %.1f ms, delivered %d/%d\n",
			t.kind, cycle+1, held, ms(res.lat.P50), ms(res.lat.P99), res.delivered, cfg.N)
		if res.errs > 0 {
			return fmt.Errorf("warm-up: %d polls failed, first: %v", res.errs, res.firstErr)
		}
		return nil
	}
	rr := t.report.addRound(cycle, r, cfg.N, t.empty, t.idle, held, res)
	fmt.Fprintf(log, "%s: cycle %d round %d: held RSS %d KiB (%.1f KiB/poll), p50 %.1f ms, p99 %.1f ms, max %.1f ms, delivered %d/%d\n",
		t.kind, cycle+1, r+1, held, rr.RSSPerPollKB, rr.P50ms, rr.P99ms, rr.Maxms, rr.Delivered, cfg.N)
	if res.errs > 0 {
		return fmt.Errorf("%d polls failed, first: %v", res.errs, res.firstErr)
	}
	return nil
}
