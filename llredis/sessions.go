package llredis

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/longpoll"
)

// sessionStore is the Backend's longpoll.SessionStore.
type sessionStore struct{ b *Backend }

var _ longpoll.SessionStore = (*sessionStore)(nil)

// digest names a session in Redis by its token's SHA-256.
func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (st *sessionStore) expiryKey() string          { return st.b.keys.key("sx") }
func (st *sessionStore) addrKey() string            { return st.b.keys.key("sa") }
func (st *sessionStore) sessionKey(d string) string { return st.b.keys.key("s", d) }

func (st *sessionStore) Create(ctx context.Context, r longpoll.SessionRecord, now time.Time, ttl time.Duration, limits longpoll.SessionLimits) error {
	topics, _ := json.Marshal(r.Topics) // strings always encode
	d := digest(r.Token)
	ctx, cancel := st.b.op(ctx)
	defer cancel()
	created, err := createScript.Run(ctx, st.b.rdb, []string{st.expiryKey(), st.addrKey(), st.sessionKey(d)},
		d, now.Add(ttl).UnixMilli(), limits.Max, limits.PerAddr, r.Addr, r.ID, topics, string(r.Meta), r.Created.UnixMilli()).Int()
	if err != nil {
		return wrap(ctx, "create session", err)
	}
	if created == 0 {
		return longpoll.ErrTooManySessions
	}
	return nil
}

func (st *sessionStore) Lookup(ctx context.Context, token string, now time.Time, ttl time.Duration) (longpoll.SessionRecord, error) {
	d := digest(token)
	ctx, cancel := st.b.op(ctx)
	defer cancel()
	res, err := touchScript.Run(ctx, st.b.rdb, []string{st.expiryKey(), st.sessionKey(d)}, d, now.UnixMilli(), now.Add(ttl).UnixMilli(), 1).Slice()
	if errors.Is(err, redis.Nil) {
		return longpoll.SessionRecord{}, longpoll.ErrUnknownSession
	}
	if err != nil {
		return longpoll.SessionRecord{}, wrap(ctx, "look up session", err)
	}
	r, err := decodeRecord(res)
	r.Token = token
	return r, err
}

func (st *sessionStore) Touch(ctx context.Context, token string, now time.Time, ttl time.Duration) error {
	d := digest(token)
	ctx, cancel := st.b.op(ctx)
	defer cancel()
	err := touchScript.Run(ctx, st.b.rdb, []string{st.expiryKey(), st.sessionKey(d)}, d, now.UnixMilli(), now.Add(ttl).UnixMilli(), 0).Err()
	if errors.Is(err, redis.Nil) {
		return longpoll.ErrUnknownSession
	}
	return wrap(ctx, "touch session", err)
}

func (st *sessionStore) End(ctx context.Context, token string) (longpoll.SessionRecord, bool, error) {
	r, ended, err := st.end(ctx, digest(token), "inf")
	r.Token = token
	return r, ended, err
}

// end runs endScript for a digest; before is "inf" or a deadline in ms.
func (st *sessionStore) end(ctx context.Context, d, before string) (longpoll.SessionRecord, bool, error) {
	ctx, cancel := st.b.op(ctx)
	defer cancel()
	res, err := endScript.Run(ctx, st.b.rdb, []string{st.expiryKey(), st.addrKey(), st.sessionKey(d)}, d, st.b.channel, before).Slice()
	if errors.Is(err, redis.Nil) {
		return longpoll.SessionRecord{}, false, nil
	}
	if err != nil {
		return longpoll.SessionRecord{}, false, wrap(ctx, "end session", err)
	}
	r, err := decodeRecord(res)
	return r, err == nil, err
}

// Expire finds sessions past their deadline and ends each with a script
// that checks the deadline again, so that a session touched meanwhile
// lives on, and each expired one is ended by exactly one instance.
func (st *sessionStore) Expire(ctx context.Context, now time.Time, max int) ([]longpoll.SessionRecord, error) {
	before := strconv.FormatInt(now.UnixMilli(), 10)
	octx, cancel := st.b.op(ctx)
	due, err := st.b.rdb.ZRangeArgs(octx, redis.ZRangeArgs{Key: st.expiryKey(), Start: "-inf", Stop: "(" + before, ByScore: true, Count: int64(max)}).Result()
	cancel()
	if err != nil {
		return nil, wrap(ctx, "expire sessions", err)
	}
	var out []longpoll.SessionRecord
	for _, d := range due {
		r, ended, err := st.end(ctx, d, before)
		if err != nil {
			return out, err
		}
		if ended {
			out = append(out, r)
		}
	}
	return out, nil
}

func (st *sessionStore) Attach(ctx context.Context, token, clientID string) (uint64, error) {
	d := digest(token)
	ctx, cancel := st.b.op(ctx)
	defer cancel()
	gen, err := attachScript.Run(ctx, st.b.rdb, []string{st.expiryKey(), st.sessionKey(d)}, d, st.b.cfg.Now().UnixMilli(), st.b.channel, clientID).Uint64()
	if errors.Is(err, redis.Nil) {
		return 0, longpoll.ErrUnknownSession
	}
	return gen, wrap(ctx, "attach", err)
}

func (st *sessionStore) Watch(fn func(longpoll.Notice)) { st.b.watch.Store(&fn) }

func (st *sessionStore) Count(ctx context.Context) (int, error) {
	ctx, cancel := st.b.op(ctx)
	defer cancel()
	n, err := st.b.rdb.ZCard(ctx, st.expiryKey()).Result()
	return int(n), wrap(ctx, "count sessions", err)
}

var errBadRecord = errors.New("llredis: malformed stored session")

// decodeRecord reads {id, topics, meta, created, addr} as scripts return it.
func decodeRecord(res []any) (longpoll.SessionRecord, error) {
	if len(res) != 5 {
		return longpoll.SessionRecord{}, errBadRecord
	}
	field := func(i int) string { s, _ := res[i].(string); return s }
	r := longpoll.SessionRecord{ID: field(0), Addr: field(4)}
	if r.ID == "" || json.Unmarshal([]byte(field(1)), &r.Topics) != nil {
		return longpoll.SessionRecord{}, errBadRecord
	}
	if meta := field(2); meta != "" {
		r.Meta = json.RawMessage(meta)
	}
	ms, err := strconv.ParseInt(field(3), 10, 64)
	if err != nil {
		return longpoll.SessionRecord{}, errBadRecord
	}
	r.Created = time.UnixMilli(ms)
	return r, nil
}
