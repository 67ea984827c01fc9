package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lifeline-go/lifeline/internal/testkit/pgtest"
)

// TestPostgresModeSmall runs the Postgres mode with 20 subscribers for a
// moment on a database of its own and checks that every phase delivered
// its events to every subscriber.
func TestPostgresModeSmall(t *testing.T) {
	skipIfShort(t, "writes to PostgreSQL")
	url := pgtest.DB(t) // skips (or fails under CI) without a logical-level server
	var out, log bytes.Buffer
	code := cliMain([]string{"-postgres", url, "-subscribers", "20", "-pg-writers", "2", "-publish-for", "300ms", "-pg-rate", "100", "-timeout", "30s"}, &out, &log)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), log.String())
	}
	for _, phase := range []string{"postgres-max", "postgres-paced", "publish-paced", "publish-max"} {
		var line string
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, phase+" ") {
				line = l
			}
		}
		if f := strings.Fields(line); len(f) != 8 || f[1] == "0" {
			t.Fatalf("phase %s: line %q in\n%s", phase, line, out.String())
		}
	}
}
