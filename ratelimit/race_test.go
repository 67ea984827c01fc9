//go:build race

package ratelimit

// raceEnabled reports a -race build, where sync.Pool drops items on
// purpose, so gin allocates contexts and allocation counts mean nothing.
const raceEnabled = true
