package problem

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The packages whose handlers answer clients, relative to this one.
var serverPackages = []string{"../../longpoll", "../../negotiate", "../../ratelimit", "../../llredis", "../body", "."}

// How the server's code names an error code: a Code field, the code
// argument of Write/WriteRetry, or a variable named code.
var codeInSource = []*regexp.Regexp{
	regexp.MustCompile(`\bCode:\s*"([a-z_]+)"`),
	regexp.MustCompile(`\b(?:problem\.)?Write(?:Retry)?\(c,\s*[^,()]+,\s*"([a-z_]+)"`),
	regexp.MustCompile(`\bcode\s*:?=\s*"([a-z_]+)"`),
}

// A row of PROTOCOL.md's error table: | status | `code` | ...
var codeInTable = regexp.MustCompile("(?m)^\\| (\\d{3}) \\| `([a-z_]+)`")

// PROTOCOL.md's error table (§2) lists every code the server sends, and
// no code it does not.
func TestProtocolErrorTableMatchesTheServer(t *testing.T) {
	sent := map[string][]string{} // code → where
	for _, dir := range serverPackages {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range codeInSource {
				for _, m := range re.FindAllSubmatch(src, -1) {
					sent[string(m[1])] = append(sent[string(m[1])], filepath.Base(f))
				}
			}
		}
	}
	if len(sent) < 15 {
		t.Fatalf("found only %d codes in the server's source: the patterns no longer match it", len(sent))
	}

	doc, err := os.ReadFile("../../PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "\n## 2. Errors\n")
	section, _, _ = strings.Cut(section, "\n## 3.")
	documented := map[string]bool{}
	for _, m := range codeInTable.FindAllStringSubmatch(section, -1) {
		documented[m[2]] = true
	}

	for code, where := range sent {
		if !documented[code] {
			slices.Sort(where)
			t.Errorf("the server sends %q (%s), which PROTOCOL.md's error table does not list", code, strings.Join(slices.Compact(where), ", "))
		}
	}
	for code := range documented {
		if sent[code] == nil {
			t.Errorf("PROTOCOL.md's error table lists %q, which the server never sends", code)
		}
	}
}
