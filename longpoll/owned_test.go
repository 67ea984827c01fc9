package longpoll

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Close waits for the goroutines started with Go, which it tells to end
// by canceling their context, and afterwards Go starts nothing.
func TestCloseWaitsForGo(t *testing.T) {
	s := New(Config{DisablePresence: true})
	sawClosing := make(chan struct{})
	proceed := make(chan struct{})
	var ended atomic.Bool
	if err := s.Go(func(ctx context.Context) {
		<-ctx.Done() // Close cancels it as it begins
		if ctx.Done() != s.Closing() {
			t.Error("Go's context must end with Closing")
		}
		close(sawClosing)
		<-proceed
		ended.Store(true)
	}); err != nil {
		t.Fatalf("Go on a running Server: %v", err)
	}

	closed := make(chan struct{})
	go func() {
		_ = s.Close()
		close(closed)
	}()
	select {
	case <-sawClosing:
	case <-time.After(5 * time.Second):
		t.Fatal("the goroutine was not told to end through Closing")
	}
	select {
	case <-closed:
		t.Fatal("Close returned while a goroutine started with Go was still running")
	default:
	}
	close(proceed)
	<-closed
	if !ended.Load() {
		t.Fatal("Close returned before the goroutine started with Go ended")
	}

	ran := make(chan struct{}, 1)
	if err := s.Go(func(context.Context) { ran <- struct{}{} }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Go after Close = %v, want ErrClosed", err)
	}
	select {
	case <-ran:
		t.Fatal("Go after Close ran its function")
	default:
	}
}
