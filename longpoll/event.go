package longpoll

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Conventional event types (PROTOCOL.md §4). Applications may use any type.
const (
	TypeMessage      = "message"
	TypeNotification = "notification"
	TypePresence     = "presence"
	TypeTyping       = "typing"
)

// Limits on names, shared by every transport.
const (
	maxTopicLen = 128
	maxTypeLen  = 64
)

// A Draft is an event before it is published: what an application or a
// client message asks a Buffer to append.
type Draft struct {
	// Topic is the topic to publish to; see ValidTopic.
	Topic string
	// Type is the application's event type, 1 to 64 bytes.
	Type string
	// Data is the event's payload as JSON. Nil means JSON null.
	Data json.RawMessage
	// From is the clientId of the session that sent the event, or empty for
	// server-side events.
	From string
	// MID is the client's message id (PROTOCOL.md §6) of the send that
	// published the event, or empty. It is delivered in the envelope so
	// that the sender can match the event to the message it rendered
	// optimistically; Message.Draft sets it.
	MID string
	// TTL makes the event ephemeral when positive: it is not delivered once
	// TTL has passed since publication, and losing it is never a reset.
	// Typing indicators are the usual example.
	TTL time.Duration
	// Key, when set, makes the append idempotent: a buffer that accepted an
	// event under the same Key within its de-duplication window appends
	// nothing and fails with a *Duplicate naming that event. The Server
	// sets it to the sending session and the client's mid, so that a send
	// retried on any instance sharing the buffer is applied once.
	Key string
}

// Validate checks a draft as Append does: a valid topic, a type of 1 to 64
// bytes, data that is UTF-8 JSON, and at most maxEventBytes in all. Buffer
// implementations outside this package call it before appending.
func (d *Draft) Validate(maxEventBytes int) error { return validateDraft(d, maxEventBytes) }

// NewEvent builds the event a buffer appended for d, with its position and
// storage time. Buffer implementations outside this package use it to hand
// back events they stored; the envelope is encoded once, here.
func NewEvent(id Cursor, d Draft, at time.Time) *Event {
	e := newEvent(&d, at)
	e.ID, e.Time = id, at
	return e
}

// An Event is a published event. Events are immutable once appended and are
// shared between every reader; do not modify one.
type Event struct {
	// ID is the cursor just after this event: resuming from it delivers
	// exactly the events that follow.
	ID Cursor
	// Topic, Type, From, MID and TTL are as in the Draft.
	Topic string
	Type  string
	From  string
	MID   string
	TTL   time.Duration
	// Data is the Draft's data as it is delivered: the same JSON, with any
	// line breaks between tokens removed, or nil for JSON null. It shares
	// its bytes with the event's encoded envelope, so each payload is held
	// once; do not modify it.
	Data json.RawMessage
	// Time is when the buffer accepted the event.
	Time time.Time

	// body is the envelope's JSON after the "id" member, encoded once at
	// append time so that fan-out to many readers never re-encodes.
	body []byte
	// memo caches each streaming transport's framing of the event.
	memo [memoSlots]atomic.Value
}

// A MemoSlot names one transport's cached encoding of an event.
type MemoSlot int

// The memo slots, one per streaming transport.
const (
	MemoWebSocket MemoSlot = iota
	MemoSSE
	memoSlots
)

// Memo returns the value cached in slot, building it with build on first
// use. Transports cache their framing of an event here so that a fan-out to
// any number of connections encodes each event once per transport. Racing
// first uses may both build; one result wins and is returned to both.
func (e *Event) Memo(slot MemoSlot, build func(*Event) any) any {
	if v := e.memo[slot].Load(); v != nil {
		return v
	}
	e.memo[slot].CompareAndSwap(nil, build(e))
	return e.memo[slot].Load()
}

// Expired reports whether an ephemeral event's TTL has passed at now.
// Durable events never expire this way.
func (e *Event) Expired(now time.Time) bool {
	return e.TTL > 0 && !now.Before(e.Time.Add(e.TTL))
}

// AppendJSON appends the event's wire envelope (PROTOCOL.md §4) to b.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = e.ID.appendTo(b)
	b = append(b, '"')
	return append(b, e.body...)
}

// MarshalJSON returns the event's wire envelope.
func (e *Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, len(e.body)+48)), nil
}

// newEvent encodes d, as published at, into an Event whose Data is a view
// into its encoded envelope.
func newEvent(d *Draft, at time.Time) *Event {
	body, from, to := encodeBody(d, at)
	e := &Event{Topic: d.Topic, Type: d.Type, From: d.From, MID: d.MID, TTL: d.TTL, body: body}
	if len(d.Data) > 0 {
		e.Data = json.RawMessage(body[from:to:to]) // full slice: an append copies
	}
	return e
}

// size is what the event costs a Memory's byte budget: its envelope, which
// holds the payload, and the fixed cost of the event itself, its slot in
// the topic's ring and its entry in the budget's age queue.
func (e *Event) size() int64 { return int64(len(e.body)) + eventOverhead }

// eventOverhead approximates the memory of an Event besides its envelope.
const eventOverhead = 256

// encodeBody encodes every envelope member but "id", starting with a comma
// and ending with the closing brace, and returns where the data member's
// value lies in it.
func encodeBody(d *Draft, at time.Time) (body []byte, dataFrom, dataTo int) {
	size := len(d.Topic) + len(d.Type) + len(d.Data) + len(d.From) + len(d.MID) + 104
	b := make([]byte, 0, size)
	b = append(b, `,"topic":`...)
	b = appendJSONString(b, d.Topic)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, d.Type)
	b = append(b, `,"data":`...)
	dataFrom = len(b)
	switch {
	case len(d.Data) == 0:
		b = append(b, "null"...)
	case bytes.ContainsAny(d.Data, "\r\n"):
		// Line breaks can only be whitespace between JSON tokens; removing
		// them keeps every envelope on one line, which SSE framing needs.
		var compact bytes.Buffer
		_ = json.Compact(&compact, d.Data) // validated by validateDraft
		b = append(b, compact.Bytes()...)
	default:
		b = append(b, d.Data...)
	}
	dataTo = len(b)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, at.UnixMilli(), 10)
	if d.From != "" {
		b = append(b, `,"from":`...)
		b = appendJSONString(b, d.From)
	}
	if d.MID != "" {
		b = append(b, `,"mid":`...)
		b = append(b, '"')
		b = append(b, d.MID...) // validMID: no escaping needed
		b = append(b, '"')
	}
	if d.TTL > 0 {
		b = append(b, `,"ttlMs":`...)
		b = strconv.AppendInt(b, d.TTL.Milliseconds(), 10)
	}
	return append(b, '}'), dataFrom, dataTo
}

// appendJSONString appends s as a JSON string. Topic, type and client ids
// are validated ASCII, so the common case needs no escaping; anything else
// goes through encoding/json for correctness.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if ch := s[i]; ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == '<' || ch == '>' || ch == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ValidTopic reports whether name is a valid topic: 1 to 128 characters from
// A-Z a-z 0-9 and ":_-./@".
func ValidTopic(name string) bool {
	if len(name) == 0 || len(name) > maxTopicLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		ch := name[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case ch == ':' || ch == '_' || ch == '-' || ch == '.' || ch == '/' || ch == '@':
		default:
			return false
		}
	}
	return true
}

// validateDraft checks a draft before it is appended.
func validateDraft(d *Draft, maxEventBytes int) error {
	if !ValidTopic(d.Topic) {
		return fmt.Errorf("%w: %q", ErrBadTopic, d.Topic)
	}
	if d.Type == "" || len(d.Type) > maxTypeLen || !utf8.ValidString(d.Type) || !utf8.ValidString(d.From) {
		return fmt.Errorf("%w: type must be 1 to %d bytes of UTF-8", ErrBadEvent, maxTypeLen)
	}
	if d.MID != "" && !validMID(d.MID) {
		return fmt.Errorf("%w: mid must be 8 to 64 of A-Z a-z 0-9 _ -", ErrBadEvent)
	}
	if len(d.Data) > 0 && (!json.Valid(d.Data) || !utf8.Valid(d.Data)) {
		// encoding/json tolerates invalid UTF-8 in strings; WebSocket text
		// frames and EventSource do not.
		return fmt.Errorf("%w: data is not valid UTF-8 JSON", ErrBadEvent)
	}
	if size := len(d.Data) + len(d.Topic) + len(d.Type) + len(d.From); size > maxEventBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrEventTooLarge, size, maxEventBytes)
	}
	return nil
}
