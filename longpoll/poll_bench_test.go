package longpoll

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
)

// cyclePolls is how many polls each round of BenchmarkHeldPollCycle holds.
const cyclePolls = 200

// BenchmarkHeldPollCycle is the long-poll handler's cycle as the load tool
// drives it, without the network: cyclePolls sessions each poll from the
// head (authenticate, subscribe, attach, read nothing, wait with a
// timeout), one publish wakes them all, and each answers with the event
// and detaches. One op is one such round; allocs/poll and B/poll divide
// the round's allocations by cyclePolls (they include the benchmark's own
// request and recorder, the same before and after).
//
//	go test -run '^$' -bench HeldPollCycle -benchmem ./longpoll/
func BenchmarkHeldPollCycle(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	s := New(Config{
		PollTimeout:     time.Minute,
		IdleLimit:       Limit{Off: true},
		DisablePresence: true,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer s.Close()
	r := gin.New()
	r.GET("/poll", s.PollHandler())
	ctx := context.Background()
	topics := []string{"room:a"}
	if _, err := s.Publish(ctx, "room:a", "message", "first"); err != nil {
		b.Fatal(err)
	}
	m := s.Buffer().(*Memory)
	now := time.Now()
	tokens := make([]string, cyclePolls)
	for i := range tokens {
		rec := newSessionRecord(topics, nil, "", now)
		if _, err := s.sessions.add(newSession(rec, now), true); err != nil {
			b.Fatal(err)
		}
		tokens[i] = rec.Token
	}
	waiting := func() int64 {
		if w := m.lookup("room:a").waiters.Load(); w != nil {
			return w.count.Load()
		}
		return 0
	}
	round := func() {
		head, err := m.Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		target := "/poll?cursor=" + head.String()
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				req := httptest.NewRequest(http.MethodGet, target, nil)
				req.Header.Set(TokenHeader, tok)
				rec := httptest.NewRecorder()
				r.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Errorf("poll: %d %s", rec.Code, rec.Body)
				}
			})
		}
		for waiting() < cyclePolls { // every poll subscribed: most are held
			runtime.Gosched()
		}
		if _, err := s.Publish(ctx, "room:a", "message", "wake"); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		for waiting() > 0 { // every subscription closed
			runtime.Gosched()
		}
	}
	round() // pools and maps at their working size
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		round()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	polls := float64(b.N * cyclePolls)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/polls, "ns/poll")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/polls, "allocs/poll")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/polls, "B/poll")
}
