// Command nginxproxy runs a real nginx in front of an upstream for the
// client's and the browser's tests: it prints "LISTENING http://ADDR" once
// nginx accepts connections and stops nginx on SIGINT or SIGTERM.
//
//	go run ./internal/testkit/nginxproxy -upstream 127.0.0.1:8080 -mode default
//
// Modes: default (nginx's stock proxy_pass), buffering (buffers even
// X-Accel-Buffering: no responses), websocket (forwards Upgrade),
// short-timeout (cuts responses idle for 3 s: proxy_read_timeout);
// -strip-token removes the Lifeline-Token header in any of them. It exits
// with status 3 when nginx is not installed.
package main

import (
	"context"
	"flag"

	"github.com/lifeline-go/lifeline/internal/testkit/nginxtest"
	"github.com/lifeline-go/lifeline/internal/testkit/proxyproc"
)

func main() {
	stripToken := flag.Bool("strip-token", false, "remove the Lifeline-Token request header, as some proxies do")
	proxyproc.Main("nginxproxy", string(nginxtest.Default), "default, buffering, websocket or short-timeout",
		func(ctx context.Context, upstream, mode string) (string, func() error, error) {
			// proxyproc.Main has parsed the flags before it calls this.
			p, err := nginxtest.StartWith(ctx, upstream, nginxtest.Options{Mode: nginxtest.Mode(mode), StripToken: *stripToken})
			if err != nil {
				return "", nil, err
			}
			return p.URL, p.Close, nil
		}, nginxtest.ErrNoNginx)
}
