package llredis

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
)

// FuzzDecodeMember checks the stored-event parser: any member either fails
// cleanly or decodes; and any valid draft survives the round trip through
// its stored form unchanged.
func FuzzDecodeMember(f *testing.F) {
	f.Add("room:1", "c_1", "", "message", `{"text":"hi\nthere"}`, int64(0))
	f.Add("t", "", "", "typing", ``, int64(4000))
	f.Add("a:b", "c_x", "m_0123456789abcdef", "with\nnewline \"quoted\"", `[1,2,3]`, int64(1))
	f.Fuzz(func(t *testing.T, topic, from, mid, typ, data string, ttl int64) {
		// Arbitrary text as a member: no panic.
		_, _ = decodeMember("e", topic+":"+from+":"+typ+":"+data)

		d := longpoll.Draft{Topic: topic, From: from, MID: mid, Type: typ, Data: json.RawMessage(data), TTL: time.Duration(ttl%60_000) * time.Millisecond}
		if d.TTL < 0 || d.Validate(1<<16) != nil || !validClientID(from) {
			return
		}
		at := time.UnixMilli(1_700_000_000_000)
		member := "7:" + strconv.FormatInt(at.UnixMilli(), 10) + ":" + strconv.FormatInt(d.TTL.Milliseconds(), 10) + ":" + encodePayload(&d)
		got, err := decodeMember("e", member)
		if err != nil {
			t.Fatalf("decode of a valid draft's member %q: %v", member, err)
		}
		want := longpoll.NewEvent(longpoll.Cursor{Epoch: "e", Seq: 7}, d, at)
		gb, _ := got.MarshalJSON()
		wb, _ := want.MarshalJSON()
		if string(gb) != string(wb) {
			t.Fatalf("round trip changed the event:\n got %s\nwant %s", gb, wb)
		}
	})
}

// validClientID matches what sessions use as "from": no line feed, no
// unit separator.
func validClientID(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' || s[i] == midSeparator {
			return false
		}
	}
	return true
}

// FuzzDispatch checks the notice parser: any payload is handled without a
// panic, and only well-formed notices reach the session handler.
func FuzzDispatch(f *testing.F) {
	f.Add("e 12 room:1")
	f.Add("e ep 7:1700000000000:0:room:1\nc_1\n\"message\"\n{}")
	f.Add("r 3 c_abc")
	f.Add("x c_abc")
	f.Add("r x c")
	f.Fuzz(func(t *testing.T, payload string) {
		b := &Backend{hub: longpoll.NewHub(), cache: newEventCache(16), mirror: newMirror(10, 100)}
		var got []longpoll.Notice
		fn := func(n longpoll.Notice) { got = append(got, n) }
		b.watch.Store(&fn)
		b.dispatch(payload)
		if len(got) > 1 {
			t.Fatalf("%d notices from one payload %q", len(got), payload)
		}
		for _, n := range got {
			kind, rest, _ := strings.Cut(payload, " ")
			switch {
			case n.Ended && (kind != "x" || n.ClientID != rest):
				t.Fatalf("end notice %+v from %q", n, payload)
			case !n.Ended:
				gen, client, _ := strings.Cut(rest, " ")
				if v, err := strconv.ParseUint(gen, 10, 64); kind != "r" || err != nil || v != n.Receiver || client != n.ClientID {
					t.Fatalf("receiver notice %+v from %q", n, payload)
				}
			}
		}
	})
}
