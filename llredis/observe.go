package llredis

import (
	"context"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/longpoll"
)

// commandHook reports every command through the client it is added to —
// by its lower-case name, a pipeline as "pipeline" — to an Observer's
// BackendCommand, with how long it took and whether it failed. Redis's
// "nil" reply (a missing key) is an answer, not a failure, and neither is
// the NOSCRIPT reply that makes go-redis send a script's body once.
type commandHook struct{ obs longpoll.Observer }

var _ redis.Hook = commandHook{}

func (commandHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h commandHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if handshake(cmd) {
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		h.obs.BackendCommand(cmd.Name(), time.Since(start), commandFailure(err))
		return err
	}
}

func (h commandHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if slices.ContainsFunc(cmds, handshake) {
			return next(ctx, cmds)
		}
		start := time.Now()
		err := next(ctx, cmds)
		h.obs.BackendCommand("pipeline", time.Since(start), commandFailure(err))
		return err
	}
}

// handshake reports whether cmd is part of go-redis's connection set-up
// (HELLO, and CLIENT SETINFO, MAINT_NOTIFICATIONS and the like), which it
// sends on every new connection and whose refusal by an older Redis it
// ignores by design: neither a command of Lifeline's nor a failure.
// Lifeline itself sends no CLIENT command.
func handshake(cmd redis.Cmder) bool {
	name := cmd.Name()
	return name == "hello" || name == "client"
}

// commandFailure returns err unless it is an answer rather than a failure.
func commandFailure(err error) error {
	if err == nil || err == redis.Nil || redis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil
	}
	return err
}
