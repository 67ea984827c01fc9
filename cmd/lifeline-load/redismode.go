package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The measurements -phases names.
const (
	phaseFanOut     = "fanout"
	phaseThroughput = "throughput"
	phaseCommands   = "commands"
)

var allPhases = []string{phaseFanOut, phaseThroughput, phaseCommands}

func (c config) checkRedisMode() error {
	if len(c.Phases) == 0 {
		return fmt.Errorf("no -phases")
	}
	for _, p := range c.Phases {
		if !slices.Contains(allPhases, p) {
			return fmt.Errorf("unknown phase %q: want %s", p, strings.Join(allPhases, ", "))
		}
	}
	if c.Redis == "" && (slices.Contains(c.Targets, targetRedis) || slices.Contains(c.Phases, phaseCommands)) {
		return fmt.Errorf("the redis target and the commands phase need -redis")
	}
	if c.Redis != "" {
		if _, err := redis.ParseURL(c.Redis); err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
	}
	if c.Instances < 1 || c.Subscribers < 1 || c.Publishers < 1 || c.CountPublishes < 1 {
		return fmt.Errorf("-instances, -subscribers, -publishers and -count-publishes must be positive")
	}
	if c.PublishFor < 100*time.Millisecond {
		return fmt.Errorf("-publish-for must be at least 100ms")
	}
	if slices.ContainsFunc(c.CountSubs, func(n int) bool { return n < 1 }) || slices.ContainsFunc(c.CountInstances, func(n int) bool { return n < 1 }) {
		return fmt.Errorf("-count-subscribers and -count-instances must be positive")
	}
	if slices.Contains(c.Phases, phaseCommands) && (len(c.CountSubs) == 0 || len(c.CountInstances) == 0) {
		return fmt.Errorf("the commands phase needs -count-subscribers and -count-instances")
	}
	if slices.Contains(c.Targets, targetRedis) && slices.Contains(c.Phases, phaseFanOut) &&
		slices.ContainsFunc(c.Transports, func(tr string) bool { return tr != transportLongPoll }) {
		return fmt.Errorf("the redis target measures long-polls only: -transports longpoll")
	}
	return nil
}

// runThroughput measures the publish throughput of every Lifeline target
// (the floor has no buffer to publish through): fresh processes, the
// -subscribers polling, rounds alternating between the targets in rotated
// order.
func runThroughput(cfg config, cycle int, rep *report, log io.Writer) error {
	g := group{transport: transportLongPoll, n: cfg.Subscribers}
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, kind := range cfg.Targets {
		if kind == targetFloor {
			continue
		}
		tr := rep.throughputOf(kind, cfg)
		t, err := startTargetRSS(cfg, g, kind, &targetReport{}, false)
		if t != nil {
			t.throughput = tr
			targets = append(targets, t)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		tr.Instances = len(t.servers)
	}
	var err error
	for r := -cfg.Warmup; r < cfg.Rounds; r++ {
		for _, t := range rotate(targets, r+cfg.Warmup+cycle) {
			var prof *profiler
			if cfg.ProfileDir != "" && cycle == 0 && r == cfg.Rounds-1 {
				// Of the first instance, the one the fan-out publishes to.
				if prof, err = startProfiles(cfg, group{transport: phaseThroughput, n: g.n}, t.kind, t.addrs[0], log); err != nil {
					return err
				}
			}
			dr, err := t.driver.do("throughput")
			if err = prof.finish(err); err != nil {
				return fmt.Errorf("%s round %d: %w", t.kind, r+1, err)
			}
			res := dr.Throughput
			if res == nil {
				return fmt.Errorf("%s round %d: no throughput in the answer", t.kind, r+1)
			}
			round := t.throughput.addRound(cycle, r, cfg.Subscribers, *res)
			what := "warm-up round"
			if r >= 0 {
				what = fmt.Sprintf("round %d", r+1)
			} else {
				t.throughput.Rounds = t.throughput.Rounds[:len(t.throughput.Rounds)-1]
			}
			fmt.Fprintf(log, "throughput %s x%d, %d subscribers: cycle %d %s: %.0f events/s (%d in %.2f s, %d errors); subscribers: %.0f events/s each, %d answers, %d resets\n",
				t.kind, len(t.servers), cfg.Subscribers, cycle+1, what, round.EventsPerSec, res.Published, round.Elapsedms/1000, res.PubErrors,
				round.ReceivedPerSubPerSec, res.Answers, res.Resets)
			if res.PubErrors > 0 {
				return fmt.Errorf("%s: %d publishes failed, first: %s", t.kind, res.PubErrors, res.FirstError)
			}
		}
	}
	return nil
}

// runCommandCounts counts, with Redis's own counters, the commands that one
// publish and its fan-out cost, for every number of instances and of held
// polls asked for: fresh processes and keys per setting, one unmeasured
// publish (it also makes the sessions' first shared touch), then
// -count-publishes measured ones.
func runCommandCounts(cfg config, rep *report, log io.Writer) error {
	rdb, err := redisClient(cfg.Redis)
	if err != nil {
		return err
	}
	defer rdb.Close()
	for _, instances := range cfg.CountInstances {
		for _, subs := range cfg.CountSubs {
			cr, err := countCommands(cfg, rdb, instances, subs, log)
			if cr != nil {
				rep.Commands = append(rep.Commands, cr)
			}
			if err != nil {
				return fmt.Errorf("%d instances, %d polls: %w", instances, subs, err)
			}
		}
	}
	return nil
}

func countCommands(cfg config, rdb *redis.Client, instances, subs int, log io.Writer) (*commandsReport, error) {
	g := group{transport: transportLongPoll, n: subs}
	t, err := startServers(cfg, g, targetRedis, instances, &targetReport{})
	defer t.stop()
	if err != nil {
		return nil, err
	}
	if t.driver, err = startDriver(cfg, targetRedis, g.transport, t.addrs, subs); err != nil {
		return nil, err
	}
	for _, cmd := range []string{"warm", "connect"} {
		if _, err := t.driver.do(cmd); err != nil {
			return nil, err
		}
	}
	cr := &commandsReport{Instances: instances, Subscribers: subs}
	for k := -1; k < cfg.CountPublishes; k++ {
		if _, err := t.driver.do("arm"); err != nil {
			return cr, err
		}
		before, err := settledCommandStats(rdb)
		if err != nil {
			return cr, err
		}
		dr, err := t.driver.do("fire")
		if err != nil {
			return cr, err
		}
		if res := dr.result(); res.errs > 0 || res.delivered != subs {
			return cr, fmt.Errorf("delivered %d/%d, first error: %v", res.delivered, subs, res.firstErr)
		}
		after, err := settledCommandStats(rdb)
		if err != nil {
			return cr, err
		}
		if k < 0 {
			continue
		}
		cr.add(after.since(before))
	}
	cr.finish()
	fmt.Fprintf(log, "commands per publish, %d instance(s), %d held polls: %.0f commands (%.0f scripts: %.0f append, %.0f reads); median publish: %s\n",
		instances, subs, cr.Commands, cr.Scripts, cr.Appends, cr.Reads, cr.Breakdown)
	return cr, nil
}

// settledCommandStats reads INFO commandstats until Redis has been quiet
// (no command but INFO) for 200 ms, at most 10 s, so that work still under
// way (a poll's receiver attaching as it is counted held, a session's
// touch after its answer) is not split between two readings.
func settledCommandStats(rdb *redis.Client) (commandStats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	prev, err := readCommandStats(ctx, rdb)
	if err != nil {
		return nil, err
	}
	end := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(200 * time.Millisecond)
		cur, err := readCommandStats(ctx, rdb)
		if err != nil {
			return nil, err
		}
		if cur.since(prev).total() == 0 || time.Now().After(end) {
			return cur, nil
		}
		prev = cur
	}
}
