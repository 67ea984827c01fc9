package longpoll

import "context"

// A Buffer is the cursor-based event store every transport reads. Events are
// appended to topics and read back in one total order across any set of
// topics, starting after a cursor.
//
// Implementations must guarantee, for any set of topics and any cursor:
// a Read returns every event of those topics after the cursor, in order, up
// to the returned cursor, with nothing skipped; or it reports Reset. A
// partial replay is never presented as complete.
//
// The in-memory implementation is Memory. A shared implementation (Redis, for
// example) can satisfy the same interface so that several server processes
// serve one event stream.
type Buffer interface {
	// Append publishes an event and returns it with its ID set. It never
	// waits for readers. A draft whose Key was already appended within the
	// buffer's de-duplication window is not appended again: Append fails
	// with a *Duplicate that names the first event.
	Append(ctx context.Context, d Draft) (*Event, error)

	// Read returns up to max events of the given topics after the cursor.
	Read(ctx context.Context, topics []string, after Cursor, max int) (Batch, error)

	// Subscribe returns a Subscription that is signalled whenever an event
	// may have been appended to one of the topics. Callers subscribe first,
	// then Read, then wait, so that no append between the two is missed.
	Subscribe(topics []string) (Subscription, error)

	// Head returns the cursor after the newest event: where a client that
	// wants only new events starts.
	Head(ctx context.Context) (Cursor, error)

	// Close releases the buffer's resources. Reads and appends after Close
	// fail with ErrClosed.
	Close() error
}

// A Duplicate reports an append refused because an event with the same
// Draft.Key was appended before; ID is that event's position. It matches
// ErrDuplicate with errors.Is.
type Duplicate struct {
	ID Cursor
}

func (d *Duplicate) Error() string { return "longpoll: duplicate of event " + d.ID.String() }

// Is makes errors.Is(err, ErrDuplicate) true for a *Duplicate.
func (d *Duplicate) Is(target error) bool { return target == ErrDuplicate }

// A Batch is the result of a Read.
type Batch struct {
	// Events are the events after the requested cursor, in order.
	Events []*Event
	// Cursor is where the next Read starts. It covers every event returned
	// and every event of the topics up to it.
	Cursor Cursor
	// More is true when the batch was cut at the requested maximum.
	More bool
	// Reset is true when the requested cursor could not be honoured: it is
	// from another epoch, or events it needs were evicted or expired. Events
	// is then empty and Cursor is the head.
	Reset bool
	// Cause says why, when Reset is set and the buffer tells (Memory and
	// llredis do); ResetUnknown otherwise. It is for metrics and logs:
	// clients are told only that they must reset.
	Cause ResetCause
}

// A Subscription signals possible new events on a set of topics. Signals
// coalesce: one pending signal stands for any number of appends. A
// Subscription is owned by one waiter at a time.
type Subscription interface {
	// C returns the channel that receives a value after an append.
	C() <-chan struct{}
	// Close unregisters the subscription. It is safe to call more than once.
	Close()
}
