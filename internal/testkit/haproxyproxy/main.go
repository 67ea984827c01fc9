// Command haproxyproxy runs a real HAProxy in front of an upstream for the
// client's and the browser's tests: it prints "LISTENING http://ADDR" once
// HAProxy accepts connections and stops it on SIGINT or SIGTERM.
//
//	go run ./internal/testkit/haproxyproxy -upstream 127.0.0.1:8080 -mode compress
//
// Modes (internal/testkit/haproxytest): default, nodelay (option
// http-no-delay), compress (gzip for event streams, which Lifeline's
// Cache-Control: no-transform turns off), compress-stripped (compress
// behind a hop that drops no-transform: the end of every frame is held).
// It exits with status 3 when HAProxy is not installed.
package main

import (
	"context"

	"github.com/lifeline-go/lifeline/internal/testkit/haproxytest"
	"github.com/lifeline-go/lifeline/internal/testkit/proxyproc"
)

func main() {
	proxyproc.Main("haproxyproxy", string(haproxytest.Default), "default, nodelay, compress or compress-stripped",
		func(ctx context.Context, upstream, mode string) (string, func() error, error) {
			p, err := haproxytest.Start(ctx, upstream, haproxytest.Mode(mode))
			if err != nil {
				return "", nil, err
			}
			return p.URL, p.Close, nil
		}, haproxytest.ErrNoHAProxy)
}
