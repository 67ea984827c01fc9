package llredis

import (
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/longpoll/buffertest"
	"github.com/lifeline-go/lifeline/negotiate"
)

// A stream whose heartbeat is longer than the session TTL looks idle to
// its instance's sweep, while its client keeps the session alive through
// another instance. The sweep keeps such a session cached, receiver and
// all, so that a newer receiver and Close still reach it.
func TestSweepKeepsSessionOfAttachedStream(t *testing.T) {
	rdb := sharedRedis(t)
	clock := buffertest.NewClock() // shared by the instances
	cluster := newCluster(t, rdb, 2, Config{Prefix: testPrefix(t, rdb), Now: clock.Now},
		longpoll.Config{DisablePresence: true, SessionTTL: time.Minute, Now: clock.Now}, negotiate.Config{})
	a, b := cluster[0], cluster[1]
	s := negotiateAt(t, a, []string{"room:1"}, "")
	sess, err := a.lp.Authenticate(s.Token)
	if err != nil {
		t.Fatal(err)
	}
	// The stream's receiver, without the stream: nothing touches the
	// session on A, as a stream between heartbeats would not.
	r := a.lp.AttachTransport(sess, longpoll.TransportWebSocket)
	defer r.Detach()

	// For 80 s its client, through B, keeps the session alive.
	for range 2 {
		clock.Advance(40 * time.Second)
		if _, err := b.lp.Authenticate(s.Token); err != nil {
			t.Fatal(err)
		}
	}
	a.lp.Sweep()
	if n := a.lp.Stats().Sessions; n != 1 {
		t.Fatalf("after the sweep, A holds %d sessions, want the attached one", n)
	}
	select {
	case <-r.Done():
		t.Fatalf("the sweep ended the receiver (%v)", r.Why())
	default:
	}
	if err := a.lp.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.Done():
	default:
		t.Fatal("Close left the receiver running")
	}
}
