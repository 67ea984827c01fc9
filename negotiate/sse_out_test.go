package negotiate

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// deadlineRecorder is a response writer that sets write deadlines.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadline time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.deadline = t
	return nil
}

// unwrapping wraps a writer the way middleware does, exposing it by Unwrap.
type unwrapping struct{ http.ResponseWriter }

func (u unwrapping) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func TestFindDeadlinerFollowsUnwrap(t *testing.T) {
	inner := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	d := findDeadliner(unwrapping{unwrapping{inner}})
	if d == nil {
		t.Fatal("the deadline-setting writer two wrappers down was not found")
	}
	at := time.Unix(1700000000, 0)
	if err := d.SetWriteDeadline(at); err != nil || !inner.deadline.Equal(at) {
		t.Fatalf("SetWriteDeadline reached %v (%v), want %v", inner.deadline, err, at)
	}
	if findDeadliner(unwrapping{httptest.NewRecorder()}) != nil {
		t.Fatal("found a deadline setter where none is")
	}
}
