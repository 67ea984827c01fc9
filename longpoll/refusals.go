package longpoll

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// refusalLog counts rate-limit refusals per policy between janitor ticks,
// so that the log gets one line per policy and tick with the count rather
// than one per refused request: a client hammering a limit must not flood
// the log it is being refused in. Counting is one atomic add.
type refusalLog struct {
	counts [len(policyNames)]atomic.Int64

	mu    sync.Mutex // serializes flushes
	start time.Time  // when the current count began
}

// refusalLogEvery is the shortest period one refusal line covers: the
// janitor may tick faster with a short SessionTTL.
const refusalLogEvery = 10 * time.Second

func (r *refusalLog) add(policy string) { r.counts[policyIndex(policy)].Add(1) }

// flush logs, per policy, the refusals counted since the last line, once
// refusalLogEvery has passed since it.
func (r *refusalLog) flush(log *slog.Logger, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.start) < refusalLogEvery {
		return
	}
	for i := range r.counts {
		if n := r.counts[i].Swap(0); n > 0 {
			log.Warn("lifeline: requests refused by a rate limit", "policy", policyNames[i], "refused", n, "over", now.Sub(r.start).Round(time.Second).String())
		}
	}
	r.start = now
}

// RateLimited reports a request refused by a limit outside the Server (the
// negotiate package's per-address limit and connection cap) to the
// Observer and the aggregated refusal log. policy is one of the Policy
// constants; any other name counts as PolicyOther.
func (s *Server) RateLimited(policy string) {
	policy = policyNames[policyIndex(policy)]
	s.obs.RateLimited(policy)
	s.refusals.add(policy)
}
