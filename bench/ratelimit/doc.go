// Package ratelimitbench compares Lifeline's rate limiter with
// github.com/ulule/limiter/v3 (memory store) and a bare
// map[string]*rate.Limiter behind a mutex, as a core check and as Gin
// middleware, in one run. It is a separate module so that the library's
// go.mod does not carry the peers. See RESULTS.md.
package ratelimitbench
