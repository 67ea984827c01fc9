package longpoll

import (
	"fmt"
	"strconv"
	"strings"
)

// maxCursorLen bounds the text form of a cursor (PROTOCOL.md §1).
const maxCursorLen = 64

// maxEpochLen bounds the epoch part of a cursor.
const maxEpochLen = 32

// A Cursor names a position in a Buffer: the buffer's epoch and the sequence
// number of the last event the cursor covers. One cursor covers every topic a
// client follows, because sequence numbers are global to the buffer.
//
// Its text form, "<epoch>.<seq>", is opaque to clients. The zero Cursor is
// not valid; use Buffer.Head for "from now".
type Cursor struct {
	// Epoch identifies one incarnation of a buffer. A cursor from another
	// epoch cannot be resumed and is answered with a reset.
	Epoch string
	// Seq is the sequence number of the last event the cursor covers.
	Seq uint64
}

// String returns the cursor's text form, as sent on the wire.
func (c Cursor) String() string {
	return string(c.appendTo(make([]byte, 0, len(c.Epoch)+21)))
}

// AppendText appends the cursor's text form to b.
func (c Cursor) AppendText(b []byte) ([]byte, error) {
	return c.appendTo(b), nil
}

func (c Cursor) appendTo(b []byte) []byte {
	b = append(b, c.Epoch...)
	b = append(b, '.')
	return strconv.AppendUint(b, c.Seq, 10)
}

// IsZero reports whether c is the zero Cursor.
func (c Cursor) IsZero() bool { return c.Epoch == "" && c.Seq == 0 }

// ParseCursor parses the text form of a cursor. It accepts exactly what
// Cursor.String produces: an epoch of 1 to 32 characters from [a-z0-9], a dot,
// and a decimal sequence number without leading zeros. Anything else is
// ErrBadCursor, wrapped with the reason.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, fmt.Errorf("%w: empty", ErrBadCursor)
	}
	if len(s) > maxCursorLen {
		return Cursor{}, fmt.Errorf("%w: longer than %d characters", ErrBadCursor, maxCursorLen)
	}
	dot := strings.IndexByte(s, '.')
	if dot < 1 || dot > maxEpochLen {
		return Cursor{}, fmt.Errorf("%w: want <epoch>.<position>", ErrBadCursor)
	}
	epoch, seqText := s[:dot], s[dot+1:]
	for i := 0; i < len(epoch); i++ {
		if ch := epoch[i]; !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9') {
			return Cursor{}, fmt.Errorf("%w: epoch has a character outside [a-z0-9]", ErrBadCursor)
		}
	}
	if seqText == "" || len(seqText) > 1 && seqText[0] == '0' {
		return Cursor{}, fmt.Errorf("%w: position must be a decimal number without leading zeros", ErrBadCursor)
	}
	for i := 0; i < len(seqText); i++ {
		if ch := seqText[i]; ch < '0' || ch > '9' {
			return Cursor{}, fmt.Errorf("%w: position must be a decimal number", ErrBadCursor)
		}
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return Cursor{}, fmt.Errorf("%w: position out of range", ErrBadCursor)
	}
	return Cursor{Epoch: epoch, Seq: seq}, nil
}
