//go:build race

package negotiate

// raceEnabled reports a -race build, whose instrumentation changes the
// size of every frame.
const raceEnabled = true
