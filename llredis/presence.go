package llredis

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/longpoll"
)

// presenceStore is the Backend's longpoll.PresenceStore: per topic, a hash
// of client id → meta at {p}:p:<topic>. Sessions that expire leave through
// whichever instance claims their expiry, so a dead instance leaves no
// ghosts behind.
type presenceStore struct{ b *Backend }

var _ longpoll.PresenceStore = (*presenceStore)(nil)

func (p *presenceStore) key(topic string) string { return p.b.keys.key("p", topic) }

func (p *presenceStore) Join(ctx context.Context, topics []string, m longpoll.Member) error {
	ctx, cancel := p.b.op(ctx)
	defer cancel()
	_, err := p.b.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, t := range topics {
			pipe.HSet(ctx, p.key(t), m.ClientID, string(m.Meta))
		}
		return nil
	})
	return wrap(ctx, "presence join", err)
}

func (p *presenceStore) Leave(ctx context.Context, topics []string, clientID string) error {
	ctx, cancel := p.b.op(ctx)
	defer cancel()
	_, err := p.b.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, t := range topics {
			pipe.HDel(ctx, p.key(t), clientID)
		}
		return nil
	})
	return wrap(ctx, "presence leave", err)
}

func (p *presenceStore) List(ctx context.Context, topic string) ([]longpoll.Member, error) {
	ctx, cancel := p.b.op(ctx)
	defer cancel()
	all, err := p.b.rdb.HGetAll(ctx, p.key(topic)).Result()
	if err != nil {
		return nil, wrap(ctx, "presence list", err)
	}
	out := make([]longpoll.Member, 0, len(all))
	for id, meta := range all {
		m := longpoll.Member{ClientID: id}
		if meta != "" {
			m.Meta = json.RawMessage(meta)
		}
		out = append(out, m)
	}
	return out, nil
}
