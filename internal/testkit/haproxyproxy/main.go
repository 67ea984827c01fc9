// Command haproxyproxy runs a real HAProxy in front of an upstream for the
// client's and the browser's tests: it prints "LISTENING http://ADDR" once
// HAProxy accepts connections and stops it on SIGINT or SIGTERM.
//
//	go run ./internal/testkit/haproxyproxy -upstream 127.0.0.1:8080 -mode compress
//
// Modes (internal/testkit/haproxytest): default, nodelay (option
// http-no-delay), compress (gzip for event streams, which Lifeline's
// Cache-Control: no-transform turns off), compress-stripped (compress
// behind a hop that drops no-transform: events but the first are held).
// It exits with status 3 when HAProxy is not installed.
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

	"github.com/lifeline-go/lifeline/internal/testkit/haproxytest"
)

func main() {
	upstream := flag.String("upstream", "", "upstream host:port (required)")
	mode := flag.String("mode", string(haproxytest.Default), "default, nodelay, compress or compress-stripped")
	flag.Parse()
	if *upstream == "" {
		log.Fatal("haproxyproxy: -upstream is required")
	}
	p, err := haproxytest.Start(context.Background(), *upstream, haproxytest.Mode(*mode))
	if errors.Is(err, haproxytest.ErrNoHAProxy) {
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
