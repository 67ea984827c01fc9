package llpg

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if db := os.Getenv(childRelayEnv); db != "" {
		runChildRelay(db, os.Getenv(childPrefixEnv)) // never returns
	}
	goleak.VerifyTestMain(m)
}
