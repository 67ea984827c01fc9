package longpoll

import (
	"context"
	"errors"
	"testing"
)

// plainBuffer hides Memory's AppendAt: a Buffer that is not positioned.
type plainBuffer struct{ Buffer }

func TestPublishAtNeedsAPositionedBuffer(t *testing.T) {
	m := NewMemory(MemoryConfig{})
	defer m.Close()
	s := New(Config{Buffer: plainBuffer{m}, DisablePresence: true})
	defer s.Close()
	if _, err := s.PublishAt(context.Background(), "s", "1", Draft{Topic: "a", Type: "t"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("PublishAt on a plain buffer = %v, want ErrUnsupported", err)
	}
}

func TestPublishAtAppendsOncePerPosition(t *testing.T) {
	s := New(Config{DisablePresence: true})
	defer s.Close()
	ctx := context.Background()
	e, err := s.PublishAt(ctx, "s", "0001", Draft{Topic: "a", Type: "t"})
	if err != nil || e.Topic != "a" {
		t.Fatalf("PublishAt = %v, %v", e, err)
	}
	if _, err := s.PublishAt(ctx, "s", "0001", Draft{Topic: "a", Type: "t"}); !errors.Is(err, ErrStalePosition) {
		t.Fatalf("PublishAt again = %v, want ErrStalePosition", err)
	}
}
