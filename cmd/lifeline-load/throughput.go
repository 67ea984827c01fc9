package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The throughput phase: the driver's N connections are subscribers that
// long-poll the bench topic in a loop, each re-polling as soon as an answer
// arrives (as Lifeline's client does), while the servers publish from
// -publishers goroutines for -publish-for (pathPublishMany), spread evenly
// over the target's instances. It measures the publishes per second, and
// what the subscribers received meanwhile: a subscriber that falls more
// than the buffer's 1 000 events per topic behind is answered with a reset
// and carries on from the head, as a real client does.

// subscriberPollTimeout bounds a subscriber's held poll (the timeout query
// parameter), so that every subscriber notices the end of a round soon.
const subscriberPollTimeout = time.Second

// throughput is the driver's state of the phase.
type throughput struct {
	publishers int
	duration   time.Duration
}

// throughputReply is the driver's account of one round.
type throughputReply struct {
	Published  int64  `json:"published"`
	PubErrors  int64  `json:"pubErrors"`
	Elapsed    int64  `json:"elapsedns"`  // the longest instance's publishing time
	Received   int64  `json:"received"`   // events, over every subscriber
	Answers    int64  `json:"answers"`    // poll answers, over every subscriber
	Resets     int64  `json:"resets"`     // answers with "reset": the subscriber fell behind the buffer
	SubErrors  int64  `json:"subErrors"`  // polls that failed
	FirstError string `json:"firstError"` // of a publish or a poll
}

// runThroughput runs one round: the subscribers poll while every instance
// publishes, and stop once the publishing has ended.
func (l *load) runThroughput() (throughputReply, error) {
	if l.kind == targetFloor || l.streaming() {
		return throughputReply{}, errors.New("throughput: Lifeline long-polls only")
	}
	var (
		rep        throughputReply
		stop       atomic.Bool
		subs       sync.WaitGroup
		mu         sync.Mutex
		received   atomic.Int64
		answers    atomic.Int64
		resets     atomic.Int64
		subErrors  atomic.Int64
		firstError string
	)
	fail := func(err error) {
		mu.Lock()
		if firstError == "" {
			firstError = err.Error()
		}
		mu.Unlock()
	}
	for i, c := range l.conns {
		subs.Go(func() {
			for !stop.Load() {
				req := request("GET", c.addr, "/rt/poll?timeout="+strconv.Itoa(int(subscriberPollTimeout/time.Millisecond))+
					"&cursor="+url.QueryEscape(c.cursor), c.token, nil)
				status, body, err := c.roundTrip(req, l.deadline())
				if err == nil && status != 200 {
					err = fmt.Errorf("status %d: %s", status, body)
				}
				if err == nil {
					c.cursor, err = pollCursor(body)
				}
				if err != nil {
					subErrors.Add(1)
					fail(fmt.Errorf("subscriber %d: %w", i, err))
					return // the connection may be unusable: this subscriber is done
				}
				answers.Add(1)
				received.Add(int64(bytes.Count(body, []byte(`"round":`))))
				if bytes.Contains(body, []byte(`"reset":true`)) {
					resets.Add(1)
				}
			}
		})
	}
	per := (l.tp.publishers + len(l.ctls) - 1) / len(l.ctls)
	ms := int(l.tp.duration / time.Millisecond)
	target := pathPublishMany + "?workers=" + strconv.Itoa(per) + "&ms=" + strconv.Itoa(ms)
	var pubs sync.WaitGroup
	for _, ctl := range l.ctls {
		pubs.Go(func() {
			body, err := l.callOn(ctl, "POST", target, time.Now().Add(l.tp.duration+l.timeout))
			var r publishManyReply
			if err == nil {
				err = json.Unmarshal(body, &r)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.PubErrors++
				if firstError == "" {
					firstError = err.Error()
				}
				return
			}
			rep.Published += r.Published
			rep.PubErrors += r.Errors
			rep.Elapsed = max(rep.Elapsed, r.Elapsed)
			if r.FirstErr != "" && firstError == "" {
				firstError = r.FirstErr
			}
		})
	}
	pubs.Wait()
	stop.Store(true)
	// One more event wakes every subscriber's held poll, so that the round
	// ends now rather than at the polls' timeout.
	for _, ctl := range l.ctls {
		if _, err := l.callOn(ctl, "POST", pathPublish, l.deadline()); err != nil {
			fail(err)
		}
	}
	subs.Wait()
	rep.Received, rep.Answers, rep.Resets, rep.SubErrors = received.Load(), answers.Load(), resets.Load(), subErrors.Load()
	rep.FirstError = firstError
	if rep.SubErrors > 0 {
		return rep, fmt.Errorf("%d subscribers failed, first: %s", rep.SubErrors, firstError)
	}
	return rep, nil
}
