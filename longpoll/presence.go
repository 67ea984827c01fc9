package longpoll

import (
	"context"
	"encoding/json"
	"sync"
)

// A Member is one present client in a topic.
type Member struct {
	ClientID string          `json:"clientId"`
	Meta     json.RawMessage `json:"meta,omitempty"`
}

// presence tracks which sessions follow which topic and publishes join and
// leave events. Joins and leaves happen once per session, never on the
// publish path, so one lock is enough.
type presence struct {
	buf Buffer

	mu      sync.RWMutex
	members map[string]map[string]json.RawMessage // topic → clientId → meta
}

func newPresence(buf Buffer) *presence {
	return &presence{buf: buf, members: make(map[string]map[string]json.RawMessage)}
}

type presenceData struct {
	ClientID string          `json:"clientId"`
	Action   string          `json:"action"`
	Meta     json.RawMessage `json:"meta,omitempty"`
}

// join records s in each of its topics and publishes a join event there.
func (p *presence) join(ctx context.Context, s *Session) error {
	p.mu.Lock()
	for _, t := range s.Topics {
		m := p.members[t]
		if m == nil {
			m = make(map[string]json.RawMessage)
			p.members[t] = m
		}
		m[s.ID] = s.Meta
	}
	p.mu.Unlock()
	return p.announce(ctx, s, "join")
}

// leave removes s from its topics and publishes a leave event there.
func (p *presence) leave(ctx context.Context, s *Session) error {
	p.mu.Lock()
	for _, t := range s.Topics {
		if m := p.members[t]; m != nil {
			delete(m, s.ID)
			if len(m) == 0 {
				delete(p.members, t)
			}
		}
	}
	p.mu.Unlock()
	return p.announce(ctx, s, "leave")
}

func (p *presence) announce(ctx context.Context, s *Session, action string) error {
	data, err := json.Marshal(presenceData{ClientID: s.ID, Action: action, Meta: s.Meta})
	if err != nil {
		return err
	}
	for _, t := range s.Topics {
		if _, err := p.buf.Append(ctx, Draft{Topic: t, Type: TypePresence, Data: data, From: s.ID}); err != nil {
			return err
		}
	}
	return nil
}

// list returns the members of topic.
func (p *presence) list(topic string) []Member {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]Member, 0, len(p.members[topic]))
	for id, meta := range p.members[topic] {
		out = append(out, Member{ClientID: id, Meta: meta})
	}
	return out
}
