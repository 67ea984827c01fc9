package llredis

import (
	"sort"
	"sync"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// mirror is this instance's copy of the buffer's newest events, so that
// reads — a fan-out wakes every held poll and stream at once — are
// answered from memory instead of Redis.
//
// It is fed by the append notices, which carry each event and arrive in
// the order of the global sequence, every number once: an append takes its
// number and publishes in one script, and Redis delivers a connection's
// messages in order. So the mirror knows it holds every event after base,
// and notices a gap (a lost message) as a number out of turn: it then
// starts again from there. It answers only what it is sure of; anything
// else — a cursor before base, an event it let go that a reader needs, an
// event expired by age, a new epoch — is read from Redis, which decides.
type mirror struct {
	mu      sync.RWMutex
	valid   bool
	epoch   string
	base    uint64 // every event after base is here, or accounted for by a loss mark
	head    uint64 // the newest event applied
	dropped uint64 // the highest loss mark of topics let go entirely
	topics  map[string]*mirrorTopic
	fifo    []*longpoll.Event // every held event, oldest first, for the global bound
	// known is the newest number this instance knows exists (from its own
	// appends and heads): a mirror behind it would answer with less than
	// the instance already told someone, so it asks Redis instead.
	known           longpoll.Cursor
	perTopic, total int
	// advanced is closed, and replaced, whenever an event is applied:
	// readers that found the mirror behind wait on it.
	advanced chan struct{}
}

// A verdict says how the mirror answered a read.
type verdict int

const (
	answered verdict = iota // the batch is right
	behind                  // the mirror will know soon: wait for it to advance
	unsure                  // ask Redis
)

type mirrorTopic struct {
	events []*longpoll.Event // oldest first
	lost   uint64            // the highest durable number let go
}

func newMirror(perTopic, total int) *mirror {
	return &mirror{topics: make(map[string]*mirrorTopic), perTopic: perTopic, total: total, advanced: make(chan struct{})}
}

// apply adds the next appended event; one out of turn starts the mirror
// again from it.
func (m *mirror) apply(epoch string, e *longpoll.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.valid || epoch != m.epoch || e.ID.Seq != m.head+1 {
		clear(m.topics)
		m.fifo = m.fifo[:0]
		m.valid, m.epoch, m.base, m.head, m.dropped = true, epoch, e.ID.Seq-1, e.ID.Seq-1, 0
	}
	t := m.topics[e.Topic]
	if t == nil {
		t = &mirrorTopic{}
		m.topics[e.Topic] = t
	}
	t.events = append(t.events, e)
	if len(t.events) > m.perTopic { // as Redis trims the topic
		m.letGo(t, e.Topic)
	}
	m.fifo = append(m.fifo, e)
	if len(m.fifo) > m.total {
		oldest := m.fifo[0]
		m.fifo[0] = nil
		m.fifo = m.fifo[1:]
		if t := m.topics[oldest.Topic]; t != nil && len(t.events) > 0 && t.events[0] == oldest {
			m.letGo(t, oldest.Topic)
		}
	}
	m.head = e.ID.Seq
	close(m.advanced)
	m.advanced = make(chan struct{})
}

// letGo drops a topic's oldest event, keeping its number as the loss mark.
func (m *mirror) letGo(t *mirrorTopic, name string) {
	old := t.events[0]
	t.events[0] = nil
	t.events = t.events[1:]
	if old.TTL == 0 {
		t.lost = max(t.lost, old.ID.Seq)
	}
	if len(t.events) == 0 {
		m.dropped = max(m.dropped, t.lost)
		delete(m.topics, name)
	}
}

// saw records that the event numbered c exists, as an append or a head
// read from Redis says.
func (m *mirror) saw(c longpoll.Cursor) {
	m.mu.Lock()
	if c.Epoch != m.known.Epoch || c.Seq > m.known.Seq {
		m.known = c
	}
	m.mu.Unlock()
}

// invalidate forgets everything: notices may have been missed.
func (m *mirror) invalidate() {
	m.mu.Lock()
	m.valid = false
	m.mu.Unlock()
}

// read answers a Read when the mirror is sure of the answer. It is behind
// when the reader's cursor, or an event this instance knows exists, is
// newer than what it holds: the notice is on its way. Anything else it is
// not sure of — another epoch, a cursor before base — is Redis's to answer.
//
// When behind, it also returns the channel closed when the mirror next
// advances, taken under the same lock as the verdict: no apply can slip
// between them.
func (m *mirror) read(topics []string, after longpoll.Cursor, max int, now time.Time, maxAge time.Duration) (longpoll.Batch, verdict, <-chan struct{}) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.valid || after.Epoch != m.epoch || after.Seq < m.base {
		return longpoll.Batch{}, unsure, nil
	}
	if after.Seq > m.head || m.known.Epoch == m.epoch && m.known.Seq > m.head {
		return longpoll.Batch{}, behind, m.advanced
	}
	cutoff := now.Add(-maxAge)
	var events []*longpoll.Event
	for _, name := range topics {
		t := m.topics[name]
		if t == nil {
			if after.Seq < m.dropped {
				return longpoll.Batch{}, unsure, nil
			}
			continue
		}
		if t.lost > after.Seq {
			return longpoll.Batch{}, unsure, nil
		}
		from := sort.Search(len(t.events), func(i int) bool { return t.events[i].ID.Seq > after.Seq })
		for _, e := range t.events[from:] {
			if e.TTL == 0 && e.Time.Before(cutoff) {
				return longpoll.Batch{}, unsure, nil // expired by age: Redis says reset
			}
			if !e.Expired(now) {
				events = append(events, e)
			}
		}
	}
	return batchOf(events, max, longpoll.Cursor{Epoch: m.epoch, Seq: m.head}), answered, nil
}
