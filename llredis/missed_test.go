package llredis

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// After notices may have been missed (the subscription dropped), the
// instance still owns its receivers: Close ends a poll held from before,
// at once, with 503, instead of leaving it to its client.
func TestCloseEndsPollsHeldAcrossMissedNotices(t *testing.T) {
	in := newCluster(t, sharedRedis(t), 1, Config{}, longpoll.Config{DisablePresence: true}, negotiate.Config{})[0]
	s := negotiateAt(t, in, []string{"room:missed"}, "")

	held := make(chan int, 1)
	go func() {
		status, _, _ := pollAt(t, context.Background(), in, s, s.Cursor, 20*time.Second)
		held <- status
	}()
	waitFor(t, "the poll to be held", func() bool { return in.lp.Stats().HeldPolls == 1 })

	in.backend.missed()
	if n := in.lp.Stats().Sessions; n != 1 {
		t.Errorf("after missed notices the instance lists %d sessions, want its 1 (checked with the store on its next request)", n)
	}
	if err := in.lp.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case status := <-held:
		if status != http.StatusServiceUnavailable {
			t.Errorf("the held poll got %d at Close, want 503", status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a poll held from before the missed notices waiting")
	}
}
