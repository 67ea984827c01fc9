package longpoll

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// A Member is one present client in a topic.
type Member struct {
	ClientID string          `json:"clientId"`
	Meta     json.RawMessage `json:"meta,omitempty"`
}

// memoryPresence is the in-process PresenceStore. Joins and leaves happen
// once per session, never on the publish path, so one lock is enough.
type memoryPresence struct {
	mu      sync.RWMutex
	members map[string]map[string]json.RawMessage // topic → clientId → meta
}

func newMemoryPresence() *memoryPresence {
	return &memoryPresence{members: make(map[string]map[string]json.RawMessage)}
}

func (p *memoryPresence) Join(_ context.Context, topics []string, m Member) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range topics {
		set := p.members[t]
		if set == nil {
			set = make(map[string]json.RawMessage)
			p.members[t] = set
		}
		set[m.ClientID] = m.Meta
	}
	return nil
}

func (p *memoryPresence) Leave(_ context.Context, topics []string, clientID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range topics {
		if set := p.members[t]; set != nil {
			delete(set, clientID)
			if len(set) == 0 {
				delete(p.members, t)
			}
		}
	}
	return nil
}

func (p *memoryPresence) List(_ context.Context, topic string) ([]Member, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]Member, 0, len(p.members[topic]))
	for id, meta := range p.members[topic] {
		out = append(out, Member{ClientID: id, Meta: meta})
	}
	return out, nil
}

// presence records members in a store and announces each join and leave
// as a presence event in the session's topics.
type presence struct {
	store PresenceStore
	buf   Buffer
	has   func(topic string) bool // Config.PresenceTopics; nil: every topic
	obs   Observer                // counts the presence events published
}

// hasTopic reports whether topic has presence.
func (p *presence) hasTopic(topic string) bool {
	return p.has == nil || p.has(topic)
}

// topics returns those of topics that have presence: the record's topics
// themselves when all do, which is the default.
func (p *presence) topics(topics []string) []string {
	if p.has == nil {
		return topics
	}
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if p.has(t) {
			out = append(out, t)
		}
	}
	return out
}

// TopicsWithPrefix returns a Config.PresenceTopics rule: presence in the
// topics that start with one of prefixes ("room:"), and in no other.
func TopicsWithPrefix(prefixes ...string) func(topic string) bool {
	prefixes = slices.Clone(prefixes)
	return func(topic string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(topic, p) {
				return true
			}
		}
		return false
	}
}

type presenceData struct {
	ClientID string          `json:"clientId"`
	Action   string          `json:"action"`
	Meta     json.RawMessage `json:"meta,omitempty"`
}

// join records the session in each of its topics and publishes a join
// event there.
func (p *presence) join(ctx context.Context, r SessionRecord) error {
	topics := p.topics(r.Topics)
	if len(topics) == 0 {
		return nil
	}
	if err := p.store.Join(ctx, topics, Member{ClientID: r.ID, Meta: r.Meta}); err != nil {
		return err
	}
	return p.announce(ctx, r, topics, "join")
}

// leave removes the session from its topics and publishes a leave event
// there.
func (p *presence) leave(ctx context.Context, r SessionRecord) error {
	topics := p.topics(r.Topics)
	if len(topics) == 0 {
		return nil
	}
	if err := p.store.Leave(ctx, topics, r.ID); err != nil {
		return err
	}
	return p.announce(ctx, r, topics, "leave")
}

func (p *presence) announce(ctx context.Context, r SessionRecord, topics []string, action string) error {
	data, err := json.Marshal(presenceData{ClientID: r.ID, Action: action, Meta: r.Meta})
	if err != nil {
		return err
	}
	for _, t := range topics {
		if _, err := p.buf.Append(ctx, Draft{Topic: t, Type: TypePresence, Data: data, From: r.ID}); err != nil {
			return err
		}
		p.obs.EventPublished()
	}
	return nil
}

func (p *presence) list(ctx context.Context, topic string) ([]Member, error) {
	return p.store.List(ctx, topic)
}
