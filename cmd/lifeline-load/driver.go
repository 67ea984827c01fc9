package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A driver is a child process that holds the N client connections of one
// target and runs the load commands the parent sends, one per line:
//
//	warm     exercise the server without holding polls
//	connect  open and ready the N connections
//	arm      long-poll: hold one poll on each; streams: open one stream on
//	         each the first time (and wait for every open message); then
//	         wait until the server counts N in their handler
//	fire     publish once and time every delivery
//	burst    streams: publish E events back to back and time every delivery
//	throughput  long-poll: every connection polls in a loop while the
//	         servers publish (see throughput.go)
//
// and answers each with one JSON line (a driverReply). One driver per
// target lets the targets' rounds alternate with both sets of N
// connections open, which one process could not do within RLIMIT_NOFILE.

// driverReply answers one command.
type driverReply struct {
	Error      string `json:"error,omitempty"`
	P50        int64  `json:"p50ns,omitempty"`
	P99        int64  `json:"p99ns,omitempty"`
	Max        int64  `json:"maxns,omitempty"`
	Delivered  int    `json:"delivered,omitempty"`
	Errors     int    `json:"errors,omitempty"`
	FirstError string `json:"firstError,omitempty"`
	// burst only
	Deliveries int   `json:"deliveries,omitempty"`
	Elapsed    int64 `json:"elapsedns,omitempty"`
	Published  int64 `json:"publishedns,omitempty"`
	// throughput only
	Throughput *throughputReply `json:"throughput,omitempty"`
}

func driverMain(args []string) int {
	fs := flag.NewFlagSet("lifeline-load -drive", flag.ContinueOnError)
	kind := fs.String("drive", "", "server kind: floor or lifeline")
	transport := fs.String("transport", transportLongPoll, "longpoll, websocket or sse")
	events := fs.Int("events", 200, "events per burst")
	addrs := fs.String("addr", "", "comma-separated server addresses: connection i goes to address i modulo their number, publishes to the first")
	n := fs.Int("n", 0, "connections")
	timeout := fs.Duration("timeout", time.Minute, "limit of each phase")
	publishers := fs.Int("publishers", 48, "throughput: publishing goroutines, spread over the instances")
	publishFor := fs.Duration("publish-for", 3*time.Second, "throughput: publishing time per round")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := raiseNoFile(); err != nil {
		fmt.Fprintln(os.Stderr, "lifeline-load -drive:", err)
		return 1
	}
	l, err := newLoad(*kind, *transport, splitList(*addrs), *n, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lifeline-load -drive:", err)
		return 1
	}
	defer l.close()
	l.tp = throughput{publishers: *publishers, duration: *publishFor}
	out := json.NewEncoder(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	var a *armed
	defer func() {
		if a != nil {
			a.abort()
		}
	}()
	for in.Scan() {
		var rep driverReply
		var err error
		switch cmd := in.Text(); cmd {
		case "warm":
			err = l.warmUp()
		case "connect":
			err = l.connect()
		case "arm":
			if l.streaming() {
				err = l.armStreams()
				break
			}
			if a != nil {
				err = errors.New("already armed")
				break
			}
			a = l.arm()
			if err = l.waitHeld(l.n, a.failed); err != nil {
				a.abort()
				a = nil
			}
		case "fire":
			if l.streaming() {
				var res phaseResult
				if res, err = l.publish(1); err == nil {
					rep.setRound(res.fanOut())
				}
				break
			}
			if a == nil {
				err = errors.New("not armed")
				break
			}
			var res roundResult
			res, err = a.fire()
			a = nil
			rep.setRound(res)
		case "burst":
			if !l.streaming() {
				err = errors.New("burst: streams only")
				break
			}
			var res phaseResult
			if res, err = l.publish(*events); err == nil {
				rep.setRound(res.fanOut())
				rep.Deliveries, rep.Elapsed, rep.Published = res.deliveries, int64(res.elapsed), int64(res.published)
			}
		case "throughput":
			var res throughputReply
			res, err = l.runThroughput()
			rep.Throughput = &res
		default:
			err = fmt.Errorf("unknown command %q", cmd)
		}
		if err != nil {
			rep.Error = err.Error()
		}
		if out.Encode(rep) != nil {
			return 1
		}
	}
	return 0
}

// driverProc is the parent's handle on a driver child.
type driverProc struct {
	*proc
	timeout time.Duration
}

func startDriver(cfg config, kind, transport string, addrs []string, n int) (*driverProc, error) {
	timeout := cfg.Timeout
	p, err := spawn(transport+" "+kind+" driver", "-drive", kind, "-transport", transport, "-addr", strings.Join(addrs, ","),
		"-n", strconv.Itoa(n), "-events", strconv.Itoa(cfg.Events), "-timeout", timeout.String(),
		"-publishers", strconv.Itoa(cfg.Publishers), "-publish-for", cfg.PublishFor.String())
	if err != nil {
		return nil, err
	}
	return &driverProc{proc: p, timeout: timeout + cfg.PublishFor}, nil
}

// do sends one command and returns the driver's answer.
func (d *driverProc) do(cmd string) (driverReply, error) {
	var rep driverReply
	if err := d.send(cmd); err != nil {
		return rep, fmt.Errorf("%s: %s: %w", d.name, cmd, err)
	}
	// Every command is bounded by the driver's own timeouts; allow them.
	line, err := d.readLine(3*d.timeout + 10*time.Second)
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		return rep, fmt.Errorf("%s: bad answer %q", d.name, line)
	}
	if rep.Error != "" {
		return rep, fmt.Errorf("%s: %s: %s", d.name, cmd, rep.Error)
	}
	return rep, nil
}

func (r *driverReply) setRound(res roundResult) {
	r.P50, r.P99, r.Max = int64(res.lat.P50), int64(res.lat.P99), int64(res.lat.Max)
	r.Delivered, r.Errors = res.delivered, res.errs
	if res.firstErr != nil {
		r.FirstError = res.firstErr.Error()
	}
}

// result converts a fire or burst answer.
func (r driverReply) result() roundResult {
	res := roundResult{
		lat:       latencySummary{P50: time.Duration(r.P50), P99: time.Duration(r.P99), Max: time.Duration(r.Max)},
		delivered: r.Delivered,
		errs:      r.Errors,
	}
	if r.FirstError != "" {
		res.firstErr = errors.New(r.FirstError)
	}
	return res
}
