package llredis

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Appends are sent to Redis in batches: concurrent appends of one instance
// share one round trip (a pipeline of script calls), so that publishing
// through Redis is bound by Redis's work, not by one round trip per event.
// Each append is still its own atomic script; batching changes only how
// they travel.
const (
	batchWorkers = 4   // pipelines in flight at once
	batchMax     = 128 // appends in one pipeline
)

// appendCall is one append waiting for its batch.
type appendCall struct {
	keys []string
	args []any
	done chan appendResult // buffered: the worker never waits for the caller
}

type appendResult struct {
	res []any
	err error
}

// batcher owns the workers; Backend.Close stops them through b.ctx.
type batcher struct {
	b     *Backend
	calls chan *appendCall
}

func (bt *batcher) run() {
	for {
		var first *appendCall
		select {
		case first = <-bt.calls:
		case <-bt.b.ctx.Done():
			return
		}
		batch := []*appendCall{first}
	gather:
		for len(batch) < batchMax {
			select {
			case c := <-bt.calls:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		bt.send(batch)
	}
}

// send runs a batch as one pipeline. A Redis that has forgotten the script
// (a restart) answers NOSCRIPT: the script is loaded and the batch sent
// again, which is safe because a NOSCRIPT call ran nothing.
func (bt *batcher) send(batch []*appendCall) {
	b := bt.b
	ctx, cancel := b.op(b.ctx)
	defer cancel()
	cmds := bt.pipeline(ctx, batch)
	if noScript(cmds) {
		if err := appendScript.Load(ctx, b.rdb).Err(); err == nil {
			cmds = bt.pipeline(ctx, batch)
		}
	}
	for i, c := range batch {
		res, err := cmds[i].Slice()
		c.done <- appendResult{res, err}
	}
}

func (bt *batcher) pipeline(ctx context.Context, batch []*appendCall) []*redis.Cmd {
	pipe := bt.b.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = appendScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	return cmds
}

func noScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			return true
		}
	}
	return false
}

// do appends through a batch and waits for the result, or for ctx.
func (bt *batcher) do(ctx context.Context, keys []string, args []any) ([]any, error) {
	c := &appendCall{keys: keys, args: args, done: make(chan appendResult, 1)}
	select {
	case bt.calls <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-bt.b.ctx.Done():
		return nil, context.Canceled
	}
	select {
	case r := <-c.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err() // the append may still happen: a retry under its key is applied once
	}
}
