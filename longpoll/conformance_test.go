package longpoll_test

import (
	"testing"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/longpoll/buffertest"
)

func TestMemoryConformance(t *testing.T) {
	buffertest.Run(t, func(t *testing.T, o buffertest.Options) buffertest.Subject {
		cfg := longpoll.MemoryConfig{
			MaxEventsPerTopic: o.MaxEventsPerTopic, MaxAge: o.MaxAge, MaxEventBytes: o.MaxEventBytes,
			MaxTopics: o.MaxTopics, DedupWindow: o.DedupWindow, Now: o.Now,
		}
		m := longpoll.NewMemory(cfg)
		t.Cleanup(func() { m.Close() })
		return buffertest.Subject{
			Buffer: m,
			Sweep:  m.Sweep,
			Restart: func() longpoll.Buffer { // a new process: a new epoch
				again := longpoll.NewMemory(cfg)
				t.Cleanup(func() { again.Close() })
				return again
			},
			Causes: true,
		}
	})
}
