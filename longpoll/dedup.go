package longpoll

import (
	"context"
	"time"

	"github.com/patrickmn/go-cache"
)

// An Ack acknowledges a client message (PROTOCOL.md §6).
type Ack struct {
	MID string `json:"mid"`
	// ID is the published event's id, empty when nothing was published.
	ID string `json:"id,omitempty"`
}

// dedup makes sends idempotent by mid: the first request with a mid runs,
// concurrent and later retries within the window wait for it and get the
// same acknowledgement. A send that fails is forgotten, so its retry runs
// again: a failed send changed nothing.
type dedup struct {
	sends *cache.Cache // mid → *pendingSend
}

type pendingSend struct {
	done chan struct{}
	ack  Ack
	err  error
}

func newDedup(window time.Duration) *dedup {
	// cleanupInterval 0: Server's janitor calls DeleteExpired, so no
	// go-cache goroutine outlives the Server.
	return &dedup{sends: cache.New(window, 0)}
}

// do runs apply once per mid within the window.
func (d *dedup) do(ctx context.Context, mid string, apply func() (Ack, error)) (Ack, error) {
	for {
		p := &pendingSend{done: make(chan struct{})}
		if d.sends.Add(mid, p, cache.DefaultExpiration) == nil {
			return d.run(mid, p, apply)
		}
		v, found := d.sends.Get(mid)
		if !found {
			continue // expired or failed between Add and Get: try to claim it
		}
		prior := v.(*pendingSend)
		select {
		case <-prior.done:
		case <-ctx.Done():
			return Ack{}, ctx.Err()
		}
		if prior.err == nil {
			return prior.ack, nil
		}
		// The first attempt failed and was forgotten; run this one.
	}
}

// run applies the send that claimed mid with p. A failed one is forgotten,
// so that a retry is applied; so is one whose apply panicked (an app's
// hook): the panic goes on up to whoever recovers it, and a retry of the
// same mid, waiting for p or arriving later, is applied afresh instead of
// waiting for a send that will never finish.
func (d *dedup) run(mid string, p *pendingSend, apply func() (Ack, error)) (Ack, error) {
	finished := false
	defer func() {
		if !finished {
			p.err = errSendPanicked
			d.sends.Delete(mid)
			close(p.done)
		}
	}()
	p.ack, p.err = apply()
	finished = true
	if p.err != nil {
		d.sends.Delete(mid)
	}
	close(p.done)
	return p.ack, p.err
}

func (d *dedup) sweep() { d.sends.DeleteExpired() }
