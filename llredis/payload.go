package llredis

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// An event is stored as the member "<seq>:<ms>:<ttlms>:<payload>" of its
// topic's sorted set; the payload is
//
//	<topic> LF <from> [US <mid>] LF <type as a JSON string> LF <data>
//
// Topic and client ids never hold a line feed, and a JSON string never
// holds a raw one, so the first three line feeds split it; data, last,
// may hold anything. The sender's mid, when there is one, follows the
// client id after a unit separator (0x1F), which neither a client id nor a
// mid holds; members stored without one decode as before.

func encodePayload(d *longpoll.Draft) string {
	typ, _ := json.Marshal(d.Type) // a string always encodes
	var b strings.Builder
	b.Grow(len(d.Topic) + len(d.From) + len(d.MID) + len(typ) + len(d.Data) + 4)
	b.WriteString(d.Topic)
	b.WriteByte('\n')
	b.WriteString(d.From)
	if d.MID != "" {
		b.WriteByte(midSeparator)
		b.WriteString(d.MID)
	}
	b.WriteByte('\n')
	b.Write(typ)
	b.WriteByte('\n')
	b.Write(d.Data)
	return b.String()
}

// midSeparator parts a stored event's sender from its mid.
const midSeparator = 0x1f

var errBadMember = errors.New("llredis: malformed stored event")

// memberSeq returns the sequence number at the start of a member.
func memberSeq(m string) (uint64, error) {
	end := strings.IndexByte(m, ':')
	if end < 0 {
		return 0, errBadMember
	}
	return strconv.ParseUint(m[:end], 10, 64)
}

// decodeMember rebuilds the event a member stores.
func decodeMember(epoch, m string) (*longpoll.Event, error) {
	fields := strings.SplitN(m, ":", 4)
	if len(fields) != 4 {
		return nil, errBadMember
	}
	seq, err1 := strconv.ParseUint(fields[0], 10, 64)
	ms, err2 := strconv.ParseInt(fields[1], 10, 64)
	ttl, err3 := strconv.ParseInt(fields[2], 10, 64)
	parts := strings.SplitN(fields[3], "\n", 4)
	if err1 != nil || err2 != nil || err3 != nil || len(parts) != 4 {
		return nil, errBadMember
	}
	var typ string
	if err := json.Unmarshal([]byte(parts[2]), &typ); err != nil {
		return nil, errBadMember
	}
	from, mid, _ := strings.Cut(parts[1], string(rune(midSeparator)))
	d := longpoll.Draft{Topic: parts[0], From: from, MID: mid, Type: typ, TTL: time.Duration(ttl) * time.Millisecond}
	if data := parts[3]; data != "" {
		d.Data = json.RawMessage(data)
	}
	return longpoll.NewEvent(longpoll.Cursor{Epoch: epoch, Seq: seq}, d, time.UnixMilli(ms)), nil
}
