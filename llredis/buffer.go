package llredis

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// buffer is the Backend's longpoll.Buffer: events in Redis, wake-ups
// through the Backend's one subscription, decoded events shared through
// its cache.
type buffer struct{ b *Backend }

var _ longpoll.PositionedBuffer = (*buffer)(nil)

// epochTries bounds the retries of a script that found a new epoch; two
// suffice (one to learn it, one to use it), a third covers a race with
// another instance making it.
const epochTries = 3

// run runs a buffer script with the keys of the current epoch, retrying
// with the epoch Redis reports when it changed. keys builds the keys for
// an epoch; args follow the epoch and a candidate epoch.
func (buf *buffer) run(ctx context.Context, op string, script scriptRunner, keys func(epoch string) []string, args ...any) ([]any, string, error) {
	b := buf.b
	if b.closed.Load() {
		return nil, "", longpoll.ErrClosed
	}
	epoch := b.currentEpoch()
	for range epochTries {
		octx, cancel := b.op(ctx)
		res, err := script.Run(octx, b.rdb, keys(epoch), append([]any{epoch, longpoll.NewEpoch()}, args...)...).Slice()
		cancel()
		if err != nil {
			return nil, "", wrap(ctx, op, err)
		}
		if status, _ := res[0].(int64); status != 0 {
			return res, epoch, nil
		}
		epoch, _ = res[1].(string)
		b.setEpoch(epoch)
	}
	return nil, "", fmt.Errorf("%w: %s: the epoch keeps changing", longpoll.ErrUnavailable, op)
}

func (buf *buffer) metaKey() string               { return buf.b.keys.key("meta") }
func (buf *buffer) topicsKey(epoch string) string { return buf.b.keys.key(epoch, "topics") }
func (buf *buffer) topicKey(epoch, topic string) string {
	return buf.b.keys.key(epoch, "t", topic)
}

// Append implements longpoll.Buffer: one script, one round trip, whatever
// the number of subscribers and instances.
func (buf *buffer) Append(ctx context.Context, d longpoll.Draft) (*longpoll.Event, error) {
	return buf.appendAt(ctx, "", "", d)
}

// AppendAt implements longpoll.PositionedBuffer: the check of the
// stream's position, the append and the new position are one script.
func (buf *buffer) AppendAt(ctx context.Context, stream, pos string, d longpoll.Draft) (*longpoll.Event, error) {
	if stream == "" || pos == "" {
		return nil, fmt.Errorf("%w: AppendAt needs a stream and a position", longpoll.ErrBadEvent)
	}
	return buf.appendAt(ctx, "pos:"+stream, pos, d)
}

// appendAt appends d; posField names the meta field of the stream whose
// position pos the append must pass, or is empty.
func (buf *buffer) appendAt(ctx context.Context, posField, pos string, d longpoll.Draft) (*longpoll.Event, error) {
	cfg := buf.b.cfg
	if err := d.Validate(cfg.MaxEventBytes); err != nil {
		return nil, err
	}
	now := cfg.Now()
	window := int64(0)
	if d.Key != "" {
		window = cfg.DedupWindow.Milliseconds()
	}
	keys := func(epoch string) []string {
		return []string{buf.metaKey(), buf.topicsKey(epoch), buf.topicKey(epoch, d.Topic), buf.b.keys.key(epoch, "k", d.Key)}
	}
	res, epoch, err := buf.appendBatched(ctx, keys,
		d.Topic, now.UnixMilli(), d.TTL.Milliseconds(), encodePayload(&d),
		cfg.MaxEventsPerTopic, now.Add(-cfg.MaxAge).UnixMilli(), cfg.MaxTopics, window, buf.b.channel, posField, pos)
	if err != nil {
		return nil, err
	}
	switch res[0].(int64) {
	case 1:
		e := longpoll.NewEvent(longpoll.Cursor{Epoch: epoch, Seq: uint64(res[1].(int64))}, d, now)
		buf.b.mirror.saw(e.ID)
		return e, nil
	case 2:
		return nil, &longpoll.Duplicate{ID: longpoll.Cursor{Epoch: epoch, Seq: uint64(res[1].(int64))}}
	case 4:
		return nil, longpoll.ErrStalePosition
	default:
		return nil, longpoll.ErrTooManyTopics
	}
}

// appendBatched runs the append script through the batcher with the
// current epoch; when the epoch changed (or is not known yet) it falls back
// to run, which learns the new one and retries.
func (buf *buffer) appendBatched(ctx context.Context, keys func(epoch string) []string, args ...any) ([]any, string, error) {
	b := buf.b
	if b.closed.Load() {
		return nil, "", longpoll.ErrClosed
	}
	if epoch := b.currentEpoch(); epoch != "" {
		res, err := b.batch.do(ctx, keys(epoch), append([]any{epoch, longpoll.NewEpoch()}, args...))
		if err != nil {
			return nil, "", wrap(ctx, "append", err)
		}
		if status, _ := res[0].(int64); status != 0 {
			return res, epoch, nil
		}
		b.setEpoch(res[1].(string))
	}
	return buf.run(ctx, "append", appendScript, keys, args...)
}

// Head implements longpoll.Buffer.
func (buf *buffer) Head(ctx context.Context) (longpoll.Cursor, error) {
	res, epoch, err := buf.run(ctx, "head", headScript, func(string) []string { return []string{buf.metaKey()} })
	if err != nil {
		return longpoll.Cursor{}, err
	}
	head := longpoll.Cursor{Epoch: epoch, Seq: uint64(res[1].(int64))}
	buf.b.mirror.saw(head)
	return head, nil
}

// readResult is one read's answer, shared by every caller of the read.
type readResult struct {
	epoch   string
	head    uint64
	reset   longpoll.ResetCause // ResetUnknown: no reset
	members []string
}

// Read implements longpoll.Buffer. Callers asking the same question at
// once share one script run (see flight).
func (buf *buffer) Read(ctx context.Context, topics []string, after longpoll.Cursor, max int) (longpoll.Batch, error) {
	b := buf.b
	if b.closed.Load() {
		return longpoll.Batch{}, longpoll.ErrClosed
	}
	if after.Epoch != b.currentEpoch() {
		head, err := buf.Head(ctx) // learns the current epoch
		if err != nil {
			return longpoll.Batch{}, err
		}
		if after.Epoch != head.Epoch {
			return longpoll.Batch{Cursor: head, Reset: true, Cause: longpoll.ResetEpoch}, nil
		}
	}
	// One more than asked per topic: when a topic alone holds more than
	// max, the batch must be cut (More) rather than end at the head.
	if batch, ok := buf.readMirror(ctx, topics, after, max); ok {
		return batch, nil
	}
	limit := max + 1
	if max <= 0 {
		limit = -1 // ZRANGE's "no limit"
	}
	key := after.String() + "|" + strconv.Itoa(limit) + "|" + strings.Join(topics, ",")
	r, err := b.reads.do(key, func() (readResult, error) {
		// Shared by callers whose requests may end at any time: bounded
		// by the op timeout alone.
		return buf.read(b.ctx, topics, after.Seq, limit)
	})
	if err != nil {
		if ctx.Err() != nil {
			return longpoll.Batch{}, ctx.Err()
		}
		return longpoll.Batch{}, err
	}
	head := longpoll.Cursor{Epoch: r.epoch, Seq: r.head}
	if r.epoch != after.Epoch {
		return longpoll.Batch{Cursor: head, Reset: true, Cause: longpoll.ResetEpoch}, nil
	}
	if r.reset != longpoll.ResetUnknown {
		return longpoll.Batch{Cursor: head, Reset: true, Cause: r.reset}, nil
	}
	now := b.cfg.Now()
	events := make([]*longpoll.Event, 0, len(r.members))
	for _, m := range r.members {
		e, err := b.cache.event(r.epoch, m)
		if err != nil {
			return longpoll.Batch{}, err
		}
		if !e.Expired(now) {
			events = append(events, e)
		}
	}
	return batchOf(events, max, head), nil
}

// batchOf orders the events of several topics by number and cuts them at
// max: the batch then ends at its last event (More), else at head.
func batchOf(events []*longpoll.Event, max int, head longpoll.Cursor) longpoll.Batch {
	slices.SortFunc(events, func(x, y *longpoll.Event) int {
		if x.ID.Seq < y.ID.Seq {
			return -1
		}
		return 1
	})
	if max > 0 && len(events) > max {
		events = events[:max]
		return longpoll.Batch{Events: events, Cursor: events[max-1].ID, More: true}
	}
	return longpoll.Batch{Events: events, Cursor: head}
}

// mirrorWait bounds how long a read waits for the mirror to catch up with
// what it is behind on, before it asks Redis: a notice normally follows its
// append within a millisecond; one that does not is lost, or the listener
// is stuck.
const mirrorWait = 50 * time.Millisecond

// readMirror answers a read from the mirror, waiting a little while it is
// behind; ok is false when Redis must answer.
func (buf *buffer) readMirror(ctx context.Context, topics []string, after longpoll.Cursor, max int) (longpoll.Batch, bool) {
	b := buf.b
	var timeout <-chan time.Time
	for {
		batch, v, advanced := b.mirror.read(topics, after, max, b.cfg.Now(), b.cfg.MaxAge)
		switch v {
		case answered:
			return batch, true
		case unsure:
			return longpoll.Batch{}, false
		}
		if timeout == nil {
			t := time.NewTimer(mirrorWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-advanced:
		case <-timeout:
			return longpoll.Batch{}, false
		case <-ctx.Done():
			return longpoll.Batch{}, false // Redis's read reports the context's error
		case <-b.ctx.Done():
			return longpoll.Batch{}, false
		}
	}
}

func (buf *buffer) read(ctx context.Context, topics []string, after uint64, limit int) (readResult, error) {
	cfg := buf.b.cfg
	keys := func(epoch string) []string {
		k := make([]string, 0, 2+len(topics))
		k = append(k, buf.metaKey(), buf.topicsKey(epoch))
		for _, t := range topics {
			k = append(k, buf.topicKey(epoch, t))
		}
		return k
	}
	args := make([]any, 0, 3+len(topics))
	args = append(args, after, limit, cfg.Now().Add(-cfg.MaxAge).UnixMilli())
	for _, t := range topics {
		args = append(args, t)
	}
	res, epoch, err := buf.run(ctx, "read", readScript, keys, args...)
	if err != nil {
		return readResult{}, err
	}
	r := readResult{epoch: epoch, head: uint64(res[1].(int64)), reset: resetCause(res[2].(int64))}
	for _, m := range res[3:] {
		s, ok := m.(string)
		if !ok {
			return readResult{}, errBadMember
		}
		r.members = append(r.members, s)
	}
	return r, nil
}

// resetCause maps the read script's reset code to its cause.
func resetCause(code int64) longpoll.ResetCause {
	switch code {
	case 0:
		return longpoll.ResetUnknown
	case 2:
		return longpoll.ResetExpired
	case 3:
		return longpoll.ResetEpoch
	}
	return longpoll.ResetEvicted
}

// Subscribe implements longpoll.Buffer: a local registration, woken by the
// Backend's subscription. It costs Redis nothing.
func (buf *buffer) Subscribe(topics []string) (longpoll.Subscription, error) {
	if buf.b.closed.Load() {
		return nil, longpoll.ErrClosed
	}
	return buf.b.hub.Subscribe(topics), nil
}

// Close implements longpoll.Buffer. The buffer belongs to its Backend,
// which Backend.Close closes; this does nothing.
func (buf *buffer) Close() error { return nil }

// sweepTopics drops expired events and empty topics of the current epoch.
func (buf *buffer) sweepTopics(ctx context.Context) error {
	b := buf.b
	epoch := b.currentEpoch()
	if epoch == "" {
		return nil
	}
	var cursor uint64
	for {
		octx, cancel := b.op(ctx)
		topics, next, err := b.rdb.HScan(octx, buf.topicsKey(epoch), cursor, "", 256).Result()
		cancel()
		if err != nil {
			return wrap(ctx, "sweep", err)
		}
		now := b.cfg.Now()
		for i := 0; i < len(topics); i += 2 {
			name := topics[i]
			keys := func(epoch string) []string {
				return []string{buf.metaKey(), buf.topicsKey(epoch), buf.topicKey(epoch, name)}
			}
			if _, _, err := buf.run(ctx, "sweep", sweepScript, keys, name, b.cfg.MaxEventsPerTopic, now.Add(-b.cfg.MaxAge).UnixMilli()); err != nil {
				return err
			}
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// sweepLoop sweeps every SweepInterval, on one instance at a time: the
// instance that takes the interval's lock.
func (b *Backend) sweepLoop() {
	tick := time.NewTicker(b.cfg.SweepInterval)
	defer tick.Stop()
	lock := b.keys.key("sweeping")
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-tick.C:
		}
		octx, cancel := b.op(b.ctx)
		won, err := b.rdb.SetNX(octx, lock, "1", b.cfg.SweepInterval*9/10).Result()
		cancel()
		if err != nil || !won {
			continue
		}
		if err := b.buf.sweepTopics(b.ctx); err != nil && b.ctx.Err() == nil {
			b.cfg.Logger.Warn("lifeline: sweeping Redis failed", "err", err)
		}
	}
}

var _ longpoll.TopicCounter = (*buffer)(nil)

// NewTopics implements longpoll.TopicCounter from the epoch's topic index,
// so that the per-session limit on creating topics holds across instances.
// When Redis cannot answer it counts none: the append that follows fails
// the same way.
func (buf *buffer) NewTopics(topics ...string) int {
	b := buf.b
	if len(topics) == 0 {
		return 0
	}
	if b.currentEpoch() == "" {
		if _, err := buf.Head(b.ctx); err != nil { // learns the epoch
			return 0
		}
	}
	epoch := b.currentEpoch()
	ctx, cancel := b.op(b.ctx)
	defer cancel()
	held, err := b.rdb.HMGet(ctx, buf.topicsKey(epoch), topics...).Result()
	if err != nil {
		return 0
	}
	n := 0
	for _, v := range held {
		if v == nil {
			n++
		}
	}
	return n
}

var _ longpoll.Historian = (*buffer)(nil)

// History implements longpoll.Historian: one script reads the topic's
// newest live events and the head at one instant.
func (buf *buffer) History(ctx context.Context, topic string, limit int) (longpoll.History, error) {
	if !longpoll.ValidTopic(topic) {
		return longpoll.History{}, fmt.Errorf("%w: %q", longpoll.ErrBadTopic, topic)
	}
	cfg := buf.b.cfg
	now := cfg.Now()
	keys := func(epoch string) []string {
		return []string{buf.metaKey(), buf.topicsKey(epoch), buf.topicKey(epoch, topic)}
	}
	res, epoch, err := buf.run(ctx, "history", historyScript, keys, topic, limit, now.UnixMilli(), now.Add(-cfg.MaxAge).UnixMilli())
	if err != nil {
		return longpoll.History{}, err
	}
	h := longpoll.History{Cursor: longpoll.Cursor{Epoch: epoch, Seq: uint64(res[1].(int64))}}
	lost := res[2].(int64)
	for i := len(res) - 1; i >= 3; i-- { // oldest first
		m, _ := res[i].(string)
		e, err := buf.b.cache.event(epoch, m)
		if err != nil {
			return longpoll.History{}, err
		}
		h.Events = append(h.Events, e)
	}
	h.Complete = len(h.Events) == limit || lost == 0
	return h, nil
}

// StatsContext counts what the buffer holds in Redis: retained events and
// their stored bytes (kept up to date by the scripts that add and remove
// them) and topics. Monitoring reads it (llprom's buffer gauges); it costs
// two Redis commands.
func (buf *buffer) StatsContext(ctx context.Context) (longpoll.Stats, error) {
	b := buf.b
	epoch := b.currentEpoch()
	if epoch == "" {
		if _, err := buf.Head(ctx); err != nil {
			return longpoll.Stats{}, err
		}
		epoch = b.currentEpoch()
	}
	ctx, cancel := b.op(ctx)
	defer cancel()
	pipe := b.rdb.Pipeline()
	size := pipe.HMGet(ctx, buf.metaKey(), "events", "bytes")
	topics := pipe.HLen(ctx, buf.topicsKey(epoch))
	if _, err := pipe.Exec(ctx); err != nil {
		return longpoll.Stats{}, wrap(ctx, "stats", err)
	}
	count := func(v any) int {
		s, _ := v.(string)
		n, _ := strconv.Atoi(s)
		return n
	}
	vals := size.Val()
	return longpoll.Stats{Events: count(vals[0]), Bytes: int64(count(vals[1])), Topics: int(topics.Val())}, nil
}
