package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/internal/testkit/pgtest"
)

// With -postgres, a row inserted with SQL reaches a client as the same
// notification POST /api/notify makes, within a second.
func TestPostgresRowsAreNotifications(t *testing.T) {
	url := pgtest.DB(t)
	h := newHarness(t)
	stop, err := startPostgres(context.Background(), url, h.lp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	s := h.negotiate("ada", notificationsTopic)
	conn := pgtest.Connect(t, url)
	inserted := time.Now()
	if _, err := conn.Exec(context.Background(), "INSERT INTO notifications(text) VALUES ('deployed')"); err != nil {
		t.Fatal(err)
	}
	e := s.next("notification")
	if took := time.Since(inserted); took > time.Second {
		t.Errorf("the notification took %v, want under a second", took)
	}
	if e.Topic != notificationsTopic || string(e.Data) != `{"text":"deployed"}` || e.From != "" {
		t.Fatalf("event = %+v, want a notification {\"text\":\"deployed\"} from the server", e)
	}
	// A second start (another instance, or a restart) finds the table and
	// the slot in place.
	stop2, err := startPostgres(context.Background(), url, h.lp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	stop2()
}
