package clientbundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clientDir is the TypeScript client's directory in this checkout.
const clientDir = "../../client"

// sourcesDigest is client/scripts/bundle.mjs's sourcesDigest: SHA-256 over
// each source file's path (relative to client/, '/'-separated), a NUL, its
// bytes and a NUL, sorted by path.
func sourcesDigest(t *testing.T) string {
	t.Helper()
	files := []string{"package.json", "tsconfig.json", "scripts/bundle.mjs"}
	err := filepath.WalkDir(filepath.Join(clientDir, "src"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(clientDir, path)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatalf("listing the client's sources: %v", err)
	}
	slices.Sort(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(clientDir, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		h.Write([]byte(f))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

var bannerDigest = regexp.MustCompile(`^/\* @lifeline-go/client \S+ \(sources sha256 ([0-9a-f]{64})\)`)

// The embedded bundle was built from the client's current sources: a change
// to client/src without `npm run build` fails here, in `go test`, as well as
// in `npm run check-bundle`.
func TestBundleIsBuiltFromTheCurrentSources(t *testing.T) {
	m := bannerDigest.FindSubmatch(JS)
	if m == nil {
		t.Fatalf("lifeline.js does not start with the build's banner: %.120q", JS)
	}
	if got, want := string(m[1]), sourcesDigest(t); got != want {
		t.Fatalf("internal/clientbundle/lifeline.js is stale (built from sources %s, client/ now has %s): run `npm run build` in client/ and commit it", got[:12], want[:12])
	}
}

func TestBundleIsAnESModule(t *testing.T) {
	if !bytes.Contains(JS, []byte("export{")) || !bytes.Contains(JS, []byte("LifelineClient")) {
		t.Fatal("lifeline.js exports no LifelineClient")
	}
	if len(Version) != 16 || Version != contentVersion(JS) || Version == contentVersion(append(slices.Clone(JS), ' ')) {
		t.Fatalf("Version %q does not name the content", Version)
	}
}
