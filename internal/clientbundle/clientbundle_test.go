package clientbundle

import (
	"bytes"
	"regexp"
	"slices"
	"testing"

	"go.uber.org/goleak"

	"github.com/lifeline-go/lifeline/internal/testkit/srcdigest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clientDir is the TypeScript client's directory in this checkout.
const clientDir = "../../client"

// sourcesDigest is client/scripts/bundle.mjs's sourcesDigest.
func sourcesDigest(t *testing.T) string {
	return srcdigest.Of(t, clientDir, []string{"package.json", "tsconfig.json", "scripts/bundle.mjs"}, []string{"src"})
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
