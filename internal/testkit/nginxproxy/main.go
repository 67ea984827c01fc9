// Command nginxproxy runs a real nginx in front of an upstream for the
// client's and the browser's tests: it prints "LISTENING http://ADDR" once
// nginx accepts connections and stops nginx on SIGINT or SIGTERM.
//
//	go run ./internal/testkit/nginxproxy -upstream 127.0.0.1:8080 -mode default
//
// Modes: default (nginx's stock proxy_pass), buffering (buffers even
// X-Accel-Buffering: no responses), websocket (forwards Upgrade),
// short-timeout (cuts responses idle for 3 s: proxy_read_timeout). It exits
// with status 3 when nginx is not installed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/lifeline-go/lifeline/internal/testkit/nginxtest"
)

func main() {
	upstream := flag.String("upstream", "", "upstream host:port (required)")
	mode := flag.String("mode", string(nginxtest.Default), "default, buffering, websocket or short-timeout")
	flag.Parse()
	if *upstream == "" {
		log.Fatal("nginxproxy: -upstream is required")
	}
	p, err := nginxtest.Start(context.Background(), *upstream, nginxtest.Mode(*mode))
	if errors.Is(err, nginxtest.ErrNoNginx) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	fmt.Printf("LISTENING %s\n", p.URL)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
