package longpoll

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzParseMessage feeds arbitrary bodies to the send parser: it must never
// panic, must refuse with a *Rejection, and what it accepts must be a valid
// message whose data re-encodes as an envelope that is valid JSON on one
// line.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"topic":"room:a","type":"message","data":{"text":"hi"},"mid":"m_00000001"}`,
		`{"topic":"room:a","type":"typing","data":null,"mid":"m_00000002","ttlMs":4000}`,
		`{"topic":"room:a","type":"message","data":"line\nbreak","mid":"m_00000003"}`,
		"{\"topic\":\"a\",\"type\":\"t\",\"data\":{\n\"x\":\n[1,\r\n2]},\"mid\":\"abcdefgh\"}",
		`{"topic":"","type":"","mid":""}`,
		`[]`, `null`, `{`, `{"ttlMs":-1}`, `{"ttlMs":1e30}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMessage(body, time.Minute)
		if err != nil {
			var r *Rejection
			if !errors.As(err, &r) || r.Status < 400 || r.Status > 499 || r.Code == "" {
				t.Fatalf("ParseMessage(%q) error %v is not a 4xx Rejection", body, err)
			}
			return
		}
		if !ValidTopic(m.Topic) || !validMID(m.MID) || m.Type == "" || m.TTL < 0 || m.TTL > time.Minute {
			t.Fatalf("ParseMessage(%q) accepted an invalid message %+v", body, m)
		}
		d := m.Draft()
		if err := validateDraft(&d, 1<<20); err != nil {
			t.Fatalf("accepted message does not make a valid draft: %v", err)
		}
		e := newEvent(&d, time.Unix(0, 0))
		e.ID = Cursor{Epoch: "e", Seq: 1}
		env, _ := e.MarshalJSON()
		if !json.Valid(env) {
			t.Fatalf("envelope %q is not valid JSON", env)
		}
		// Data, a view into the envelope, is the envelope's data member.
		var parsed struct{ Data json.RawMessage }
		if err := json.Unmarshal(env, &parsed); err != nil {
			t.Fatal(err)
		}
		if want := parsed.Data; len(d.Data) > 0 && !bytes.Equal(e.Data, want) || len(d.Data) == 0 && e.Data != nil {
			t.Fatalf("Event.Data = %q, want the envelope's data %q", e.Data, want)
		}
		for _, ch := range env {
			if ch == '\n' || ch == '\r' {
				t.Fatalf("envelope %q spans lines", env)
			}
		}
	})
}

// FuzzBodyToken feeds arbitrary send bodies to the token reader of sends
// without the Lifeline-Token header: it must never panic, and a token it
// finds must be the body's "token" member, so that a body cannot
// authenticate with anything but the token it carries.
func FuzzBodyToken(f *testing.F) {
	for _, s := range []string{
		`{"topic":"room:a","type":"message","mid":"m_00000001","token":"t_abc"}`,
		`{"token":""}`, `{"token":1}`, `{"token":"a","token":"b"}`, `{"Token":"x"}`, `[]`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := bodyToken(body)
		if got == "" {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("bodyToken(%q) = %q from a body that is not a JSON object", body, got)
		}
		var want string
		for k, v := range m {
			if bytes.EqualFold([]byte(k), []byte("token")) {
				_ = json.Unmarshal(v, &want)
				if want == got {
					return
				}
			}
		}
		t.Fatalf("bodyToken(%q) = %q, which is no token member of the body", body, got)
	})
}
