package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeline-go/lifeline/internal/testkit/srcdigest"
)

// reactSourcesDigest is client/scripts/build-example.mjs's exampleDigest.
func reactSourcesDigest(t *testing.T) string {
	return srcdigest.Of(t, "..", []string{"client/package-lock.json", "client/scripts/build-example.mjs", "client/scripts/bundle.mjs"}, []string{"client/src", "example/react"})
}

var reactBanner = regexp.MustCompile(`^/\* Lifeline chat example, React page \(sources sha256 ([0-9a-f]{64})\)`)

// The committed React page was built from the current sources: a change to
// example/react, client/src or the pinned React without `npm run build` in
// client/ fails here, without Node, as well as in `npm run check-bundle`.
func TestReactPageIsBuiltFromTheCurrentSources(t *testing.T) {
	js, err := static.ReadFile("static/react/app.js")
	if err != nil {
		t.Fatalf("the React page's build is not embedded: %v (run `npm run build` in client/)", err)
	}
	m := reactBanner.FindSubmatch(js)
	if m == nil {
		t.Fatalf("static/react/app.js does not start with the build's banner: %.120q", js)
	}
	if got, want := string(m[1]), reactSourcesDigest(t); got != want {
		t.Fatalf("example/static/react/app.js is stale (built from sources %s, they are now %s): run `npm run build` in client/ and commit it", got[:12], want[:12])
	}
}

func TestReactPageIsServed(t *testing.T) {
	h := newHarness(t)
	status, body, header := h.do(http.MethodGet, "/react", nil, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `src="/static/react/app.js"`) || header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /react = %d %q, want the page with its CSP", status, body)
	}
	status, body, header = h.do(http.MethodGet, "/static/react/app.js", nil, nil)
	if status != http.StatusOK || !strings.HasPrefix(header.Get("Content-Type"), "text/javascript") || !strings.Contains(string(body), "Lifeline chat example, React page") {
		t.Fatalf("GET /static/react/app.js = %d %s", status, header.Get("Content-Type"))
	}
}
