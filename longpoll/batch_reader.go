package longpoll

import "context"

// A BatchReader is a Buffer that can read into a slice its caller keeps:
// a stream woken for every event then allocates nothing per read. Memory
// implements it. Transports read through ReadInto, which falls back to
// Read for a Buffer without it.
type BatchReader interface {
	// ReadAppend is Read with the batch's events appended to dst[:0]. The
	// returned Batch.Events shares dst's array: it is valid until the
	// caller reuses dst.
	ReadAppend(ctx context.Context, dst []*Event, topics []string, after Cursor, max int) (Batch, error)
}

// ReadInto reads from buf like buf.Read, into dst's array when buf is a
// BatchReader (see there). Callers keep the returned Batch.Events[:0] as
// the next dst, and clear it once written, so that it holds no event the
// buffer has since evicted.
func ReadInto(ctx context.Context, buf Buffer, dst []*Event, topics []string, after Cursor, max int) (Batch, error) {
	if r, ok := buf.(BatchReader); ok {
		return r.ReadAppend(ctx, dst, topics, after, max)
	}
	return buf.Read(ctx, topics, after, max)
}

// ReadSubscribed is ReadInto for a reader that holds sub, as a stream or
// a held poll does: sub must be buf's subscription to topics, the same
// topics in the same order (buf.Subscribe(topics)). A Memory buffer then
// reads the topics sub registered with instead of looking each up by
// name, which saves a hash and a lock that every reader woken by one
// fan-out would share.
func ReadSubscribed(ctx context.Context, buf Buffer, sub Subscription, dst []*Event, topics []string, after Cursor, max int) (Batch, error) {
	if m, ok := buf.(*Memory); ok {
		if s, ok := sub.(*subscription); ok && len(s.sets) == len(topics) {
			return m.read(dst, topics, s.sets, after, max)
		}
	}
	return ReadInto(ctx, buf, dst, topics, after, max)
}
