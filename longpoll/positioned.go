package longpoll

import (
	"context"
	"fmt"
	"sync"
)

// A PositionedBuffer is a Buffer that can append on behalf of an ordered
// external stream - a database's change log, for example - exactly once.
// Each append carries the stream's position of the event, and the buffer
// stores the position atomically with the event: an append at a position
// the stream has already reached appends nothing and fails with
// ErrStalePosition. A relay that crashed after appending but before it
// recorded its progress at the source can therefore replay from its last
// recorded position without delivering anything twice.
//
// Positions of one stream are compared as byte strings: a stream must use
// positions of one fixed length (fixed-width hexadecimal, for example), so
// that byte order is the stream's order. Memory and the llredis buffer
// implement it; the position is part of the buffer's epoch, so a buffer
// that lost its events (a new epoch, which resets every client) also
// forgets the positions.
type PositionedBuffer interface {
	Buffer
	// AppendAt appends d unless stream's stored position is pos or later,
	// and stores pos as the stream's position with the event.
	AppendAt(ctx context.Context, stream, pos string, d Draft) (*Event, error)
}

// positions is Memory's store of stream positions. One lock orders the
// appends of all streams: a relay appends one event at a time anyway.
type positions struct {
	mu  sync.Mutex
	pos map[string]string
}

// AppendAt implements PositionedBuffer.
func (m *Memory) AppendAt(ctx context.Context, stream, pos string, d Draft) (*Event, error) {
	if stream == "" || pos == "" {
		return nil, fmt.Errorf("%w: AppendAt needs a stream and a position", ErrBadEvent)
	}
	m.positions.mu.Lock()
	defer m.positions.mu.Unlock()
	if cur, ok := m.positions.pos[stream]; ok && cur >= pos {
		return nil, ErrStalePosition
	}
	e, err := m.Append(ctx, d)
	if err != nil {
		return nil, err
	}
	if m.positions.pos == nil {
		m.positions.pos = make(map[string]string)
	}
	m.positions.pos[stream] = pos
	return e, nil
}

var _ PositionedBuffer = (*Memory)(nil)

// PublishAt publishes d through the Server's buffer at an external
// stream's position (see PositionedBuffer). It fails with ErrUnsupported
// when the buffer is not a PositionedBuffer, and with ErrStalePosition when
// the stream has already reached pos.
func (s *Server) PublishAt(ctx context.Context, stream, pos string, d Draft) (*Event, error) {
	pb, ok := s.buf.(PositionedBuffer)
	if !ok {
		return nil, fmt.Errorf("%w: buffer %T cannot append at a position", ErrUnsupported, s.buf)
	}
	e, err := pb.AppendAt(ctx, stream, pos, d)
	if err == nil {
		s.obs.EventPublished()
	}
	return e, err
}
