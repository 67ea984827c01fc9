package negotiate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/lifeline-go/lifeline/longpoll"
)

// FuzzWebSocketFrame feeds arbitrary bytes as a client frame through what
// the server does with one: the auth decode of the first frame, and
// peekFrame with longpoll.ParseMessage for later ones. Nothing panics, and
// whatever is accepted is valid.
func FuzzWebSocketFrame(f *testing.F) {
	for _, seed := range []string{
		`{"op":"auth","token":"t_abc","cursor":"k2v9q1d0m3a8.1842"}`,
		`{"op":"auth","token":"t_abc"}`,
		`{"op":"auth","token":123}`,
		`{"op":"send","topic":"room:general","type":"message","data":{"text":"hi"},"mid":"m_8f2c0a9e4b7d4c1e9a3f","ttlMs":0}`,
		`{"op":"send","topic":"room:a","type":"typing","data":null,"mid":"m_00000001","ttlMs":5000}`,
		`{"op":"send","topic":"room:a","type":"typing","mid":"m_00000001","ttlMs":99999999999999}`,
		`{"op":"send","topic":"room:a","type":"typing","mid":"m_00000001","ttlMs":-1}`,
		`{"op":"send","topic":"room:a","type":"typing","mid":"m_00000001","ttlMs":9223372036855}`,
		`{"op":"send","topic":"room:a","type":"t","mid":"m_00000001","data":"\u2028é✓🎉"}`,
		`{"op":"send","topic":"bad topic","type":"message","mid":"m_00000001"}`,
		`{"op":"send","topic":"room:a","type":"message","mid":"short"}`,
		`{"op":"send","OP":"auth","Topic":"room:a","TYPE":"x","Mid":"m_00000001"}`,
		`{"op":"send","mid":5}`,
		`{"op":"hb"}`,
		`{"op":null}`,
		"{\"op\":\"send\",\"topic\":\"room:a\",\"type\":\"message\",\"mid\":\"m_00000001\",\"data\":\"\xe1\"}",
		`[]`, `null`, `"auth"`, `{`, ``, "\xff\xfe", `{"op":"send","topic":"room:a","type":"x","mid":"m_00000001","data":1e999}`,
	} {
		f.Add([]byte(seed))
	}
	const maxTTL = time.Minute
	f.Fuzz(func(t *testing.T, frame []byte) {
		// The first frame: auth or refused.
		var auth authFrame
		if json.Unmarshal(frame, &auth) == nil && auth.Op == "auth" {
			if !json.Valid(frame) {
				t.Fatalf("auth accepted from invalid JSON %q", frame)
			}
			if auth.Cursor != "" {
				if c, err := longpoll.ParseCursor(auth.Cursor); err == nil && c.String() != auth.Cursor {
					t.Fatalf("cursor %q parses to %q", auth.Cursor, c)
				}
			}
		}

		// Later frames.
		op, mid := peekFrame(frame)
		if (op != "" || mid != "") && !json.Valid(frame) {
			t.Fatalf("peekFrame took op %q mid %q from invalid JSON %q", op, mid, frame)
		}
		m, err := longpoll.ParseMessage(frame, maxTTL)
		if err != nil {
			var r *longpoll.Rejection
			if !errors.As(err, &r) || r.Status != 400 || r.Code == "" {
				t.Fatalf("ParseMessage(%q) = %v, want a 400 Rejection", frame, err)
			}
			return
		}
		if !json.Valid(frame) {
			t.Fatalf("ParseMessage accepted invalid JSON %q", frame)
		}
		if !longpoll.ValidTopic(m.Topic) || m.Type == "" || len(m.Type) > 64 || !validTestMID(m.MID) {
			t.Fatalf("ParseMessage(%q) accepted %+v", frame, m)
		}
		if m.TTL < 0 || m.TTL > maxTTL {
			t.Fatalf("ParseMessage(%q) accepted TTL %v, want 0..%v", frame, m.TTL, maxTTL)
		}
		if len(m.Data) > 0 && !json.Valid(m.Data) {
			t.Fatalf("ParseMessage(%q) accepted data %q", frame, m.Data)
		}
		// The data goes out verbatim in WebSocket text frames, which must
		// be UTF-8 (RFC 6455 §8.1; browsers fail the connection with 1007).
		if !utf8.Valid(m.Data) {
			t.Fatalf("ParseMessage(%q) accepted data that is not UTF-8: %q", frame, m.Data)
		}
		if op == "send" && mid != m.MID {
			t.Fatalf("peekFrame mid %q, ParseMessage mid %q", mid, m.MID)
		}
	})
}

func validTestMID(mid string) bool {
	if len(mid) < 8 || len(mid) > 64 {
		return false
	}
	return strings.Trim(mid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == ""
}

// FuzzSSEFraming publishes arbitrary text (as a JSON string) and arbitrary
// JSON data through a Memory buffer, frames the events as the SSE stream
// does, and parses the frames as the HTML standard's EventSource would:
// each is exactly one message whose id is the event's and whose data is the
// envelope, which decodes back to what was published.
func FuzzSSEFraming(f *testing.F) {
	for _, seed := range []struct {
		text string
		raw  []byte
		typ  string
	}{
		{"hello", []byte(`{"a":1}`), "message"},
		{"line one\nline two", []byte("{\n\"a\": [1,\r\n2]\r}"), "typing"},
		{"cr\ronly\r\nand crlf", []byte(`"\r\n"`), "x\ny"},
		{"é ✓ 🎉 \u2028 \u2029 \u0085", []byte(`"\u2028"`), "é"},
		{"\x00\x01\x1b", []byte(`null`), ":comment"},
		{"data: injected\n\nid: 9\n\n", []byte(` [ ] `), "id: 1\r\n"},
		{"\xff\xfe invalid utf-8", []byte("\xff"), "\xff"},
		{"raw data with invalid UTF-8", []byte("\"\xe1\""), "message"},
		{"", nil, "m"},
	} {
		f.Add(seed.text, seed.raw, seed.typ)
	}
	mem := longpoll.NewMemory(longpoll.MemoryConfig{MaxEventsPerTopic: 16})
	f.Cleanup(func() { mem.Close() })
	ctx := context.Background()

	check := func(t *testing.T, e *longpoll.Event) testEnvelope {
		t.Helper()
		frame := sseFrame(e).([]byte)
		if !utf8.Valid(frame) {
			t.Fatalf("frame is not UTF-8: %q", frame)
		}
		msgs, pending := parseSSE(frame)
		if pending || len(msgs) != 1 {
			t.Fatalf("frame %q parses to %d messages (unfinished: %v), want exactly one", frame, len(msgs), pending)
		}
		m := msgs[0]
		envelope := e.AppendJSON(nil)
		if !m.hasID || m.id != e.ID.String() || m.event != "" || m.dataLines != 1 || m.data != string(envelope) || m.comment != "" || len(m.other) > 0 {
			t.Fatalf("frame %q parses to %+v, want id %s and data %s", frame, m, e.ID, envelope)
		}
		var env testEnvelope
		if err := json.Unmarshal([]byte(m.data), &env); err != nil {
			t.Fatalf("envelope %s: %v", m.data, err)
		}
		var wantType string
		typJSON, _ := json.Marshal(e.Type)
		_ = json.Unmarshal(typJSON, &wantType)
		if env.ID != e.ID.String() || env.Topic != e.Topic || env.Type != wantType {
			t.Fatalf("envelope %+v, want id %s topic %s type %q", env, e.ID, e.Topic, e.Type)
		}
		return env
	}

	f.Fuzz(func(t *testing.T, text string, raw []byte, typ string) {
		if typ == "" || len(typ) > 64 {
			typ = "message"
		}
		data, _ := json.Marshal(text) // invalid UTF-8 becomes U+FFFD
		e, err := mem.Append(ctx, longpoll.Draft{Topic: "fuzz", Type: typ, Data: data})
		if !utf8.ValidString(typ) {
			// A type goes into every frame as is: it must be UTF-8.
			if !errors.Is(err, longpoll.ErrBadEvent) {
				t.Fatalf("Append with a type that is not UTF-8 (%q) = %v, want ErrBadEvent", typ, err)
			}
			return
		}
		if err != nil {
			if errors.Is(err, longpoll.ErrEventTooLarge) {
				return
			}
			t.Fatal(err)
		}
		env := check(t, e)
		var got, want string
		_ = json.Unmarshal(data, &want)
		if err := json.Unmarshal(env.Data, &got); err != nil || got != want {
			t.Fatalf("data %s decodes to %q (%v), want %q", env.Data, got, err, want)
		}

		// Any valid JSON value as data, line breaks between tokens included.
		if len(raw) == 0 || !json.Valid(raw) {
			return
		}
		e, err = mem.Append(ctx, longpoll.Draft{Topic: "fuzz", Type: typ, Data: raw})
		if !utf8.Valid(raw) {
			// encoding/json accepts invalid UTF-8 in strings; text frames
			// and EventSource do not, so Append must refuse it.
			if !errors.Is(err, longpoll.ErrBadEvent) {
				t.Fatalf("Append of data that is not UTF-8 (%q) = %v, want ErrBadEvent", raw, err)
			}
			return
		}
		if err != nil {
			if errors.Is(err, longpoll.ErrEventTooLarge) {
				return
			}
			t.Fatal(err)
		}
		env = check(t, e)
		a, errA := decodeJSON(env.Data)
		b, errB := decodeJSON(raw)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("data %s does not decode to the published %q (%v, %v)", env.Data, raw, errA, errB)
		}
	})
}

// decodeJSON decodes one JSON value, numbers kept as written.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}
