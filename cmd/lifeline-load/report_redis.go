package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// throughputReport is one target's publish throughput across rounds.
type throughputReport struct {
	Target         string            `json:"target"`
	Instances      int               `json:"instances"`
	Subscribers    int               `json:"subscribers"`
	Publishers     int               `json:"publishers"` // goroutines, over all instances
	PublishSeconds float64           `json:"publishSeconds"`
	Rounds         []throughputRound `json:"rounds"`
	// Medians across rounds.
	EventsPerSec         float64 `json:"eventsPerSec"`
	ReceivedPerSubPerSec float64 `json:"receivedPerSubscriberPerSec"`
	AnswersPerSec        float64 `json:"answersPerSec"` // poll answers, over every subscriber
	ResetShare           float64 `json:"resetShare"`    // answers that were resets / answers
	Errors               int64   `json:"errors"`
}

type throughputRound struct {
	Cycle                int     `json:"cycle"`
	Round                int     `json:"round"`
	Published            int64   `json:"published"`
	Errors               int64   `json:"errors"`
	Elapsedms            float64 `json:"elapsedms"`
	EventsPerSec         float64 `json:"eventsPerSec"`
	Received             int64   `json:"received"`
	Answers              int64   `json:"answers"`
	Resets               int64   `json:"resets"`
	ReceivedPerSubPerSec float64 `json:"receivedPerSubscriberPerSec"`
	FirstError           string  `json:"firstError,omitempty"`
}

// commandsReport is what one publish and its fan-out cost Redis, for one
// number of instances and of held polls.
type commandsReport struct {
	Instances   int             `json:"instances"`
	Subscribers int             `json:"subscribers"`
	Publishes   []commandsRound `json:"publishes"`
	// Medians across the publishes.
	Commands float64 `json:"commands"` // every command, those inside scripts included
	Scripts  float64 `json:"scripts"`  // EVALSHA and EVAL calls
	Appends  float64 `json:"appends"`  // append scripts (one PUBLISH each)
	Reads    float64 `json:"reads"`    // the other scripts: wake-up reads
	// Breakdown is the median publish's commands by name.
	Breakdown string `json:"breakdown"`
}

type commandsRound struct {
	Commands  int64  `json:"commands"`
	Scripts   int64  `json:"scripts"`
	Appends   int64  `json:"appends"`
	Breakdown string `json:"breakdown"`
}

func (c *commandsReport) add(d commandStats) {
	scripts := d["evalsha"] + d["eval"]
	c.Publishes = append(c.Publishes, commandsRound{Commands: d.total(), Scripts: scripts, Appends: d["publish"], Breakdown: d.describe()})
}

func (c *commandsReport) finish() {
	if len(c.Publishes) == 0 {
		return
	}
	var total, scripts, appends, reads []float64
	for _, p := range c.Publishes {
		total = append(total, float64(p.Commands))
		scripts = append(scripts, float64(p.Scripts))
		appends = append(appends, float64(p.Appends))
		reads = append(reads, float64(p.Scripts-p.Appends))
	}
	c.Commands, c.Scripts, c.Appends, c.Reads = median(total), median(scripts), median(appends), median(reads)
	byTotal := slices.Clone(c.Publishes)
	slices.SortFunc(byTotal, func(a, b commandsRound) int { return int(a.Commands - b.Commands) })
	c.Breakdown = byTotal[len(byTotal)/2].Breakdown
}

// throughputOf returns the throughput report of kind, creating it.
func (r *report) throughputOf(kind string, cfg config) *throughputReport {
	for _, t := range r.Throughput {
		if t.Target == kind {
			return t
		}
	}
	t := &throughputReport{Target: kind, Subscribers: cfg.Subscribers, Publishers: cfg.Publishers, PublishSeconds: cfg.PublishFor.Seconds()}
	r.Throughput = append(r.Throughput, t)
	return t
}

func (t *throughputReport) addRound(cycle, round, subs int, res throughputReply) throughputRound {
	elapsed := time.Duration(res.Elapsed)
	tr := throughputRound{
		Cycle: cycle + 1, Round: round + 1,
		Published: res.Published, Errors: res.PubErrors + res.SubErrors, Elapsedms: ms(elapsed),
		Received: res.Received, Answers: res.Answers, Resets: res.Resets, FirstError: res.FirstError,
	}
	if elapsed > 0 {
		tr.EventsPerSec = float64(res.Published) / elapsed.Seconds()
		tr.ReceivedPerSubPerSec = float64(res.Received) / float64(subs) / elapsed.Seconds()
	}
	t.Rounds = append(t.Rounds, tr)
	return tr
}

func (t *throughputReport) finish() {
	var eps, recv, answers, resets []float64
	t.Errors = 0
	for _, r := range t.Rounds {
		eps = append(eps, r.EventsPerSec)
		recv = append(recv, r.ReceivedPerSubPerSec)
		answers = append(answers, float64(r.Answers)/(r.Elapsedms/1000))
		resets = append(resets, ratio(float64(r.Resets), float64(r.Answers)))
		t.Errors += r.Errors
	}
	t.EventsPerSec, t.ReceivedPerSubPerSec, t.AnswersPerSec, t.ResetShare = median(eps), median(recv), median(answers), median(resets)
}

// writeRedisTables writes the throughput and commands sections, if any.
func (r *report) writeRedisTables(w io.Writer) {
	if len(r.Throughput) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "throughput\tinstances\tsubscribers\tpublishers\trounds\tevents/s\tper subscriber(events/s)\tanswers/s\treset share\terrors\t")
		for _, t := range r.Throughput {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.3f\t%d\t\n", t.Target, t.Instances, t.Subscribers, t.Publishers, len(t.Rounds),
				t.EventsPerSec, t.ReceivedPerSubPerSec, t.AnswersPerSec, t.ResetShare, t.Errors)
		}
		if q := r.throughputRatio(); q != 0 {
			fmt.Fprintf(tw, "redis/lifeline\t\t\t\t\t%.2fx\t\t\t\t\t\n", q)
		}
		_ = tw.Flush()
		fmt.Fprintf(w, "throughput: publishers call Publish back to back inside the servers for %.1f s per round, spread evenly over the instances; "+
			"the subscribers long-poll the same topic, each re-polling at once; a subscriber more than 1000 events behind is answered with a reset\n",
			r.Throughput[0].PublishSeconds)
	}
	if len(r.Commands) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "commands\tinstances\theld polls\tpublishes\tcommands/publish\tscripts\tappend\treads\t")
		for _, c := range r.Commands {
			fmt.Fprintf(tw, "redis\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t\n", c.Instances, c.Subscribers, len(c.Publishes), c.Commands, c.Scripts, c.Appends, c.Reads)
		}
		_ = tw.Flush()
		fmt.Fprintln(w, "commands: Redis's INFO commandstats around one publish and its fan-out to every held poll (median of the publishes), commands inside scripts included; append = the publish's own script, reads = the woken instances' reads")
		for _, c := range r.Commands {
			fmt.Fprintf(w, "  %d instance(s), %d polls: %s\n", c.Instances, c.Subscribers, c.Breakdown)
		}
	}
}

// throughputRatio is redis / lifeline of the median events/s, or 0.
func (r *report) throughputRatio() float64 {
	var mem, red float64
	for _, t := range r.Throughput {
		switch t.Target {
		case targetLifeline:
			mem = t.EventsPerSec
		case targetRedis:
			red = t.EventsPerSec
		}
	}
	return ratio(red, mem)
}
