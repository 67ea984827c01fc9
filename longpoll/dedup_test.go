package longpoll

import (
	"context"
	"testing"
	"time"
)

// A send whose apply panics (an app's hook) is forgotten: a retry of its
// mid, one already waiting for it or one arriving later, is applied,
// instead of waiting for an attempt that will never finish.
func TestDedupForgetsASendThatPanicked(t *testing.T) {
	d := newDedup(time.Minute)
	claimed, panicNow := make(chan struct{}), make(chan struct{})
	firstDone := make(chan any, 1)
	go func() {
		defer func() { firstDone <- recover() }()
		_, _ = d.do(context.Background(), "m_1", func() (Ack, error) {
			close(claimed)
			<-panicNow
			panic("hook")
		})
	}()
	<-claimed

	retried := make(chan Ack, 1)
	go func() {
		ack, err := d.do(context.Background(), "m_1", func() (Ack, error) { return Ack{MID: "m_1", ID: "second"}, nil })
		if err != nil {
			t.Errorf("the retry while the first attempt ran: %v", err)
		}
		retried <- ack
	}()
	close(panicNow)
	if r := <-firstDone; r != "hook" {
		t.Fatalf("the first attempt's panic = %v, want it to go on up", r)
	}
	select {
	case ack := <-retried:
		if ack.ID != "second" {
			t.Fatalf("the retry got %+v, want its own send applied", ack)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the retry still waits for the attempt that panicked")
	}

	ack, err := d.do(context.Background(), "m_1", func() (Ack, error) { return Ack{MID: "m_1", ID: "third"}, nil })
	if err != nil || ack.ID != "second" {
		t.Fatalf("a later retry = %+v, %v; want the applied retry's ack", ack, err)
	}
}
