package longpoll

import "errors"

// Sentinel errors. Handlers map each to a problem response with a stable
// code (see PROTOCOL.md §2); callers of the Go API test for them with
// errors.Is.
var (
	// ErrBadCursor reports a cursor string that is not of the form a Buffer
	// produces. A cursor that is well formed but can no longer be honoured is
	// not an error: reads answer it with a reset.
	ErrBadCursor = errors.New("longpoll: malformed cursor")

	// ErrBadTopic reports a topic name outside the allowed length or
	// alphabet, or more topics than a client may follow.
	ErrBadTopic = errors.New("longpoll: invalid topic")

	// ErrBadEvent reports an event whose type is empty or too long, or whose
	// data is not valid UTF-8 JSON.
	ErrBadEvent = errors.New("longpoll: invalid event")

	// ErrEventTooLarge reports an event whose encoding exceeds the buffer's
	// maximum event size. Events are refused, never truncated.
	ErrEventTooLarge = errors.New("longpoll: event too large")

	// ErrTooManyTopics reports that the buffer already holds its maximum
	// number of topics and cannot create another.
	ErrTooManyTopics = errors.New("longpoll: too many topics")

	// ErrClosed reports use of a Buffer or Server after Close.
	ErrClosed = errors.New("longpoll: closed")

	// ErrUnknownSession reports a token that names no live session: it was
	// never issued, or its session ended or expired.
	ErrUnknownSession = errors.New("longpoll: unknown or expired session")

	// ErrForbidden reports a topic the application's Authorize hook refused.
	ErrForbidden = errors.New("longpoll: topic forbidden")

	// ErrSuperseded reports a receiver (held poll or stream) ended because
	// a newer one opened for the same session.
	ErrSuperseded = errors.New("longpoll: superseded by a newer receiver")

	// ErrDuplicate is matched by a *Duplicate: an append whose Draft.Key
	// the buffer had already accepted.
	ErrDuplicate = errors.New("longpoll: duplicate append")

	// ErrUnavailable reports that a store shared by the Server's instances
	// (Redis) failed or did not answer in time: the request can be neither
	// served nor refused on its merits. Handlers answer 503 with
	// Retry-After and code "unavailable". ProblemFor also maps errors that
	// wrap ratelimit.ErrUnavailable this way; the per-session limits return
	// errors wrapping both.
	ErrUnavailable = errors.New("longpoll: shared store unavailable")

	// ErrStalePosition reports an append at a position its stream has
	// already reached (see PositionedBuffer): the event was appended
	// before, and nothing was appended now.
	ErrStalePosition = errors.New("longpoll: stream position already appended")

	// ErrUnsupported reports a feature the Server's buffer does not offer.
	ErrUnsupported = errors.New("longpoll: not supported by this buffer")

	// ErrDrop may be returned by Config.OnMessage to acknowledge a client
	// message without publishing anything.
	ErrDrop = errors.New("longpoll: message dropped by the application")
)

// ErrTooManySessions reports that Config.MaxSessions sessions are live and
// no more can be created.
var ErrTooManySessions = errors.New("longpoll: too many sessions")

// errSendPanicked is the outcome a send waiting on another attempt of its
// mid sees when that attempt's hooks panicked: it applies its own.
var errSendPanicked = errors.New("longpoll: a send of this mid panicked")
