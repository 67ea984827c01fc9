package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/lifeline-go/lifeline/llredis"
	"github.com/lifeline-go/lifeline/longpoll"
)

// connectRedis returns a Lifeline Backend on the Redis at url
// (redis://host:port/db, rediss:// for TLS) and a function that closes it
// and its client, to call after Lifeline's Server is closed. Every instance
// of the app started with the same url serves the same clients: any
// request may reach any of them.
func connectRedis(url string, logger *slog.Logger, obs longpoll.Observer) (*llredis.Backend, func(), error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("-redis: %w", err)
	}
	// Bound every call by its context, so that a Redis that stops answering
	// costs a request Lifeline's timeout, not go-redis's retries.
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	backend, err := llredis.New(rdb, llredis.Config{Logger: logger, Observer: obs})
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	if err := backend.Ping(context.Background()); err != nil {
		logger.Warn("Redis does not answer yet: requests get 503 until it does", "err", err)
	}
	return backend, func() {
		backend.Close()
		rdb.Close()
	}, nil
}
