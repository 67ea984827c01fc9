package longpoll

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for MemoryConfig (DESIGN.md §5).
const (
	DefaultMaxEventsPerTopic = 1000
	DefaultMaxAge            = 10 * time.Minute
	DefaultMaxEventBytes     = 64 << 10
	DefaultMaxTopics         = 100_000
	DefaultMaxBytes          = 64 << 20
	DefaultSweepInterval     = time.Minute
)

// shardCount spreads topics over independently locked maps so that topic
// lookups never contend on one lock.
const shardCount = 64

// MemoryConfig configures a Memory buffer. The zero value is valid: every
// zero field takes its default.
type MemoryConfig struct {
	// MaxEventsPerTopic bounds the events retained per topic; the oldest is
	// evicted first. Default: 1000.
	MaxEventsPerTopic int
	// MaxAge bounds how long an event is retained. Default: 10 minutes.
	MaxAge time.Duration
	// MaxEventBytes bounds the size of one event (data, topic, type and
	// sender together). Larger events are refused with ErrEventTooLarge.
	// Default: 64 KiB.
	MaxEventBytes int
	// MaxBytes bounds the memory of all retained events together: each
	// costs its encoded envelope (which holds its payload, once) plus about
	// 256 bytes. Beyond it the oldest events of any topic are evicted
	// first; a reader whose cursor needed one gets a reset, never a silent
	// gap. Keep it well above MaxEventBytes. Not counted: the framings that
	// the WebSocket and SSE transports cache per event, each about the
	// envelope's size, built only for events delivered over them.
	// Default: 64 MiB.
	MaxBytes int64
	// MaxTopics bounds the number of topics held at once. Appending to or
	// subscribing to a new topic beyond it fails with ErrTooManyTopics.
	// Default: 100 000.
	MaxTopics int
	// SweepInterval is how often a background sweep drops expired events
	// and idle topics. Default: 1 minute.
	SweepInterval time.Duration
	// DedupWindow is how long a Draft.Key is remembered: a keyed append
	// repeated within it is refused with a *Duplicate. Default: 2 minutes.
	DedupWindow time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (c MemoryConfig) withDefaults() MemoryConfig {
	orDefault(&c.MaxEventsPerTopic, DefaultMaxEventsPerTopic)
	orDefault(&c.MaxAge, DefaultMaxAge)
	orDefault(&c.MaxEventBytes, DefaultMaxEventBytes)
	orDefault(&c.MaxTopics, DefaultMaxTopics)
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	orDefault(&c.SweepInterval, DefaultSweepInterval)
	orDefault(&c.DedupWindow, DefaultDedupWindow)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Memory is the in-memory Buffer. Each Memory is a new epoch: cursors from
// another Memory (for example, from before a restart) are answered with a
// reset.
//
// Sequence numbers come from one atomic counter, taken under the topic's
// lock together with the insertion, so that a reader that loads the counter
// and then locks a topic sees every event of that topic up to the counter.
// There is no manager goroutine, and no lock shared by readers: appends to
// different topics proceed in parallel and wake only that topic's waiters.
// The one lock all appends share is the byte budget's age queue, held to
// add one entry, after the topic's lock is released.
//
// A Memory runs one sweep goroutine; Close stops it. Memory is safe for
// concurrent use.
type Memory struct {
	cfg   MemoryConfig
	epoch string
	seq   atomic.Uint64
	// dropped is the highest lost sequence number of any topic dropped for
	// being idle; a topic created later starts with it as its loss mark, so
	// a stale cursor still gets a reset rather than a silent gap.
	dropped atomic.Uint64
	// droppedCause is why the event numbered dropped was lost (a
	// ResetCause), for metrics; it may lag dropped by a moment.
	droppedCause atomic.Uint32
	ntopics      atomic.Int64
	// lastReclaim is when a full table was last searched (unix nanoseconds),
	// and lastReclaimed how many topics that search dropped.
	lastReclaim   atomic.Int64
	lastReclaimed atomic.Int64
	use           usage
	budget        byteBudget
	seed          maphash.Seed
	shards        [shardCount]shard
	keys          *appendKeys
	positions     positions

	closed atomic.Bool
	stop   chan struct{}
	done   chan struct{}
}

type shard struct {
	mu     sync.RWMutex
	topics map[string]*topic
}

var (
	_ Buffer      = (*Memory)(nil)
	_ BatchReader = (*Memory)(nil)
)

// NewMemory returns a Memory buffer with a new random epoch and starts its
// sweep goroutine. Call Close to stop it.
func NewMemory(cfg MemoryConfig) *Memory {
	m := &Memory{
		cfg:   cfg.withDefaults(),
		epoch: NewEpoch(),
		seed:  maphash.MakeSeed(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	for i := range m.shards {
		m.shards[i].topics = make(map[string]*topic)
	}
	m.keys = newAppendKeys(m.cfg.DedupWindow)
	go m.sweepLoop()
	return m
}

// NewEpoch returns a new random epoch: 16 characters from [a-z2-7], unique
// for all practical purposes. Buffer implementations call it for each new
// incarnation of their data (a Memory is one; a Redis that lost its data is
// another), so that no cursor of an earlier one is honoured.
func NewEpoch() string {
	var b [10]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// Epoch returns the buffer's epoch.
func (m *Memory) Epoch() string { return m.epoch }

// Head implements Buffer.
func (m *Memory) Head(context.Context) (Cursor, error) {
	if m.closed.Load() {
		return Cursor{}, ErrClosed
	}
	return Cursor{Epoch: m.epoch, Seq: m.seq.Load()}, nil
}

func (m *Memory) shardFor(name string) *shard {
	return &m.shards[maphash.String(m.seed, name)%shardCount]
}

// lookup returns the topic or nil.
func (m *Memory) lookup(name string) *topic {
	s := m.shardFor(name)
	s.mu.RLock()
	t := s.topics[name]
	s.mu.RUnlock()
	return t
}

// topicFor returns the topic, creating it if needed. When the table is
// full, topics that hold nothing a reader needs are reclaimed first.
func (m *Memory) topicFor(name string) (*topic, error) {
	if t := m.lookup(name); t != nil {
		return t, nil
	}
	t, err := m.create(name)
	if err == ErrTooManyTopics && m.reclaim() > 0 {
		t, err = m.create(name)
	}
	return t, err
}

// create returns the topic, creating it unless the table is full.
func (m *Memory) create(name string) (*topic, error) {
	s := m.shardFor(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.topics[name]; t != nil {
		return t, nil
	}
	if m.ntopics.Add(1) > int64(m.cfg.MaxTopics) {
		m.ntopics.Add(-1)
		return nil, ErrTooManyTopics
	}
	t := newTopic(name, m.cfg.MaxEventsPerTopic, m.dropped.Load(), &m.use)
	t.lostCause = ResetCause(m.droppedCause.Load())
	s.topics[name] = t
	return t, nil
}

// lockTopic returns the topic, created if needed, locked for writing (or
// for reading when read is set). A topic the sweep dropped between lookup
// and lock is retried, so nothing is ever written or registered on a topic
// readers can no longer find.
func (m *Memory) lockTopic(name string, read bool) (*topic, error) {
	for {
		t, err := m.topicFor(name)
		if err != nil {
			return nil, err
		}
		lock, unlock := t.mu.Lock, t.mu.Unlock
		if read {
			lock, unlock = t.mu.RLock, t.mu.RUnlock
		}
		lock()
		if !t.dropped {
			return t, nil
		}
		unlock()
	}
}

// Append implements Buffer. It costs one topic lock and never blocks on
// readers: waiters are signalled through buffered channels.
func (m *Memory) Append(_ context.Context, d Draft) (*Event, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := validateDraft(&d, m.cfg.MaxEventBytes); err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	if d.Key != "" {
		prior, found, release := m.keys.claim(d.Key, now)
		if found {
			return nil, &Duplicate{ID: prior}
		}
		e, err := m.append(d, now)
		if err != nil {
			release(Cursor{})
			return nil, err
		}
		release(e.ID)
		return e, nil
	}
	return m.append(d, now)
}

// append appends a validated draft.
func (m *Memory) append(d Draft, now time.Time) (*Event, error) {
	e := newEvent(&d, now)
	t, err := m.lockTopic(d.Topic, false)
	if err != nil {
		return nil, err
	}
	e.Topic = t.name // one copy of the name for all of the topic's events
	if now.Before(t.lastAt) {
		now = t.lastAt // keep storage times monotonic within the topic
	}
	e.Time = now
	e.ID = Cursor{Epoch: m.epoch, Seq: m.seq.Add(1)}
	t.dropExpired(now.Add(-m.cfg.MaxAge))
	t.push(e)
	t.mu.Unlock()
	t.notify()
	m.budget.push(t, e.ID.Seq, m.use.events.Load())
	m.keepBudget()
	return e, nil
}

// keepBudget evicts the oldest events of any topic until the retained
// bytes are within MaxBytes. Eviction goes through the topic's ring like
// eviction by count, so it raises the topic's loss mark: readers that
// needed an evicted durable event get a reset.
func (m *Memory) keepBudget() {
	for m.use.bytes.Load() > m.cfg.MaxBytes {
		a, ok := m.budget.pop()
		if !ok {
			return
		}
		a.t.mu.Lock()
		a.t.evictThrough(a.seq)
		a.t.mu.Unlock()
	}
}

// Read implements Buffer. It seeks each topic by binary search and merges
// the topics' events by sequence number.
func (m *Memory) Read(ctx context.Context, topics []string, after Cursor, max int) (Batch, error) {
	return m.ReadAppend(ctx, nil, topics, after, max)
}

// ReadAppend implements BatchReader: Read, with the batch's events
// appended to dst[:0], so that a receiver woken for every event reuses one
// slice instead of allocating one per read.
func (m *Memory) ReadAppend(_ context.Context, dst []*Event, topics []string, after Cursor, max int) (Batch, error) {
	return m.read(dst, topics, nil, after, max)
}

// read is ReadAppend. known, when not nil, is the registrations of a
// subscription of the reader with names (known[i].t is names[i]'s topic),
// whose topics it reads without looking each up by name: no hash, and no
// shard lock that every poll or stream a fan-out wakes would take
// (ReadSubscribed). A topic is never dropped while
// someone is subscribed to it (or still reads after its notify took a
// one-shot registration); should one have been all the same, it is looked
// up again.
func (m *Memory) read(dst []*Event, topics []string, known []setRef, after Cursor, max int) (Batch, error) {
	if m.closed.Load() {
		return Batch{}, ErrClosed
	}
	// Load the counter before locking any topic: every event numbered up to
	// hi is then fully inserted by the time its topic's lock is taken.
	hi := m.seq.Load()
	head := Cursor{Epoch: m.epoch, Seq: hi}
	if after.Epoch != m.epoch || after.Seq > hi {
		return Batch{Cursor: head, Reset: true, Cause: ResetEpoch}, nil
	}
	now := m.cfg.Now()
	cutoff := now.Add(-m.cfg.MaxAge)
	events := dst[:0]
	sources := 0
	for i, name := range topics {
		var t *topic
		if known != nil {
			t = known[i].t
			t.mu.RLock()
			if t.dropped {
				t.mu.RUnlock()
				t = nil
			}
		}
		if t == nil {
			if t = m.lookup(name); t == nil {
				if after.Seq < m.dropped.Load() {
					return Batch{Cursor: head, Reset: true, Cause: ResetCause(m.droppedCause.Load())}, nil
				}
				continue
			}
			t.mu.RLock()
		}
		if lost, why := t.lostAt(cutoff); lost > after.Seq {
			t.mu.RUnlock()
			return Batch{Cursor: head, Reset: true, Cause: why}, nil
		}
		before := len(events)
		from, to := t.search(after.Seq), t.search(hi)
		events = slices.Grow(events, to-from)
		for i := from; i < to; i++ {
			if e := t.at(i); !e.Expired(now) {
				events = append(events, e)
			}
		}
		t.mu.RUnlock()
		if len(events) > before {
			sources++
		}
	}
	if sources > 1 {
		slices.SortFunc(events, func(a, b *Event) int {
			if a.ID.Seq < b.ID.Seq {
				return -1
			}
			return 1
		})
	}
	if max > 0 && len(events) > max {
		events = events[:max]
		return Batch{Events: events, Cursor: events[max-1].ID, More: true}, nil
	}
	return Batch{Events: events, Cursor: head}, nil
}

// Subscribe implements Buffer. The subscription is registered with every
// topic before Subscribe returns. It takes each topic's lock for reading
// only, to keep the sweep from dropping the topic meanwhile.
func (m *Memory) Subscribe(topics []string) (Subscription, error) {
	s, err := m.subscribe(topics, false)
	if err != nil {
		return nil, err // not a nil *subscription in an interface
	}
	return s, nil
}

// subscribeOnce is Subscribe for a held poll: the subscription is
// unregistered by the first append that signals it (see waiters); its
// owner, woken for nothing, calls resubscribe before it waits again.
func (m *Memory) subscribeOnce(topics []string) (*subscription, error) {
	return m.subscribe(topics, true)
}

func (m *Memory) subscribe(topics []string, oneShot bool) (*subscription, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	s := newSubscription(len(topics))
	s.oneShot = oneShot
	for i, name := range topics {
		t, err := m.lockTopic(name, true)
		if err != nil {
			s.Close()
			return nil, err
		}
		w := t.waiterSet()
		s.sets[i].w, s.sets[i].t = w, t
		w.add(s, i)
		t.mu.RUnlock()
	}
	return s, nil
}

// resubscribe registers a one-shot subscription again with each topic
// whose notify took it, and reports whether it did so with any: appends
// after it returns signal s again, and its owner reads again for those
// before. The topics are the ones s registered with: a topic is not
// dropped while a registration that its notify took is still counted
// (see waiters.count).
func (m *Memory) resubscribe(s *subscription) (again bool) {
	for i := range s.sets { // by index: others may write a setRef's slot
		w, t := s.sets[i].w, s.sets[i].t
		if w.registered(s, i) {
			continue
		}
		// Under the topic's read lock, which the sweep and reclaim need
		// to drop it: with the taken registration released first, the
		// count could be zero in between.
		t.mu.RLock()
		w.release(s, i)
		w.add(s, i)
		t.mu.RUnlock()
		again = true
	}
	return again
}

// NewTopics implements TopicCounter: it counts the topics the buffer
// holds no state for, which an append or a subscription would create.
func (m *Memory) NewTopics(topics ...string) int {
	n := 0
	for _, name := range topics {
		if m.lookup(name) == nil {
			n++
		}
	}
	return n
}

// Close stops the sweep goroutine and waits for it. Later calls return nil.
func (m *Memory) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	close(m.stop)
	<-m.done
	return nil
}

func (m *Memory) sweepLoop() {
	defer close(m.done)
	tick := time.NewTicker(m.cfg.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
			m.Sweep()
		}
	}
}

// Sweep drops expired events and idle topics now, instead of waiting for
// the background sweep. Reads are correct without it; it only frees memory.
func (m *Memory) Sweep() {
	now := m.cfg.Now()
	m.keys.sweep(now)
	cutoff := now.Add(-m.cfg.MaxAge)
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for name, t := range s.topics {
			t.mu.Lock()
			t.dropExpired(cutoff)
			if t.idle() {
				m.drop(s, name, t)
			}
			t.mu.Unlock()
		}
		s.mu.Unlock()
	}
}

// reclaimEvery bounds how often a full topic table is searched for topics
// to reclaim when searching does not pay: the search visits every topic,
// and a table that stays full must not turn each refused request into one.
const reclaimEvery = time.Second

// reclaim drops the topics that nobody follows and that hold nothing but
// presence events or expired ones: the topics an attacker, or a crowd of
// clients that left, fills the table with. Their presence history is
// lost, and a reader that resumes from before it gets a reset. A search
// that freed at least 1% of the table may be repeated at once, as each
// then pays for itself; otherwise it waits reclaimEvery. It returns how
// many topics it dropped.
func (m *Memory) reclaim() int {
	now := m.cfg.Now()
	last := m.lastReclaim.Load()
	paid := m.lastReclaimed.Load() >= int64(max(1, m.cfg.MaxTopics/100))
	if !paid && now.UnixNano()-last < int64(reclaimEvery) || !m.lastReclaim.CompareAndSwap(last, now.UnixNano()) {
		return 0
	}
	cutoff := now.Add(-m.cfg.MaxAge)
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for name, t := range s.topics {
			t.mu.Lock()
			if t.disposable(now, cutoff) {
				for t.n > 0 {
					t.dropOldest(ResetEvicted)
				}
				m.drop(s, name, t)
				n++
			}
			t.mu.Unlock()
		}
		s.mu.Unlock()
	}
	m.lastReclaimed.Store(int64(n))
	return n
}

// drop removes an empty topic from its shard, carrying its loss mark over
// to topics created later. The caller holds s.mu and t.mu for writing.
func (m *Memory) drop(s *shard, name string, t *topic) {
	for {
		old := m.dropped.Load()
		if t.lost <= old {
			break
		}
		if m.dropped.CompareAndSwap(old, t.lost) {
			m.droppedCause.Store(uint32(t.lostCause))
			break
		}
	}
	t.dropped = true
	delete(s.topics, name)
	m.ntopics.Add(-1)
}

// Stats describes a Memory buffer's contents.
type Stats struct {
	Topics int
	Events int
	// Bytes is what the retained events cost the MaxBytes budget.
	Bytes int64
}

// Stats counts topics and retained events.
func (m *Memory) Stats() Stats {
	st := Stats{Bytes: m.use.bytes.Load()}
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for _, t := range s.topics {
			t.mu.RLock()
			st.Events += t.n
			t.mu.RUnlock()
			st.Topics++
		}
		s.mu.RUnlock()
	}
	return st
}

func (m *Memory) String() string { return fmt.Sprintf("longpoll.Memory(epoch %s)", m.epoch) }
