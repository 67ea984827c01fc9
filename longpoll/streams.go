package longpoll

import (
	"maps"
	"sync"
)

// streamSet is the stream receivers attached on this instance, each with
// its session, so that Close ends every one of them whatever became of
// its session: one the sweep forgot (with a shared store) is no longer in
// the session table. Streams do not watch for shutdown themselves: a
// channel that every stream waits on costs each wake-up of a fan-out a
// contended lock (BenchmarkStreamFanOut). Held polls need no entry: Close
// ends them through the deadline queue.
type streamSet struct {
	mu sync.Mutex
	m  map[doneChan]*Session
}

func (ss *streamSet) add(d doneChan, sess *Session) {
	ss.mu.Lock()
	if ss.m == nil {
		ss.m = make(map[doneChan]*Session)
	}
	ss.m[d] = sess
	ss.mu.Unlock()
}

func (ss *streamSet) remove(d doneChan) {
	ss.mu.Lock()
	delete(ss.m, d)
	ss.mu.Unlock()
}

// endAll ends every stream receiver attached now that is still its
// session's current one (a superseded one was ended by its successor).
func (ss *streamSet) endAll() {
	ss.mu.Lock()
	all := maps.Clone(ss.m)
	ss.mu.Unlock()
	for d, sess := range all {
		sess.endIfCurrent(d)
	}
}
