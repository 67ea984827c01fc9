package negotiate

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/clientbundle"
	"github.com/lifeline-go/lifeline/longpoll"
)

// getBundle requests path on srv with the given headers, over real TCP.
func getBundle(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestClientBundleIsServedFromTheMountPoint(t *testing.T) {
	_, srv := newServer(t, longpoll.Config{})
	res, body := getBundle(t, srv, http.MethodGet, "/rt/lifeline.js", nil)
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, clientbundle.JS) {
		t.Fatalf("GET /rt/lifeline.js: %d, %d bytes, want 200 and the %d bytes of the embedded bundle", res.StatusCode, len(body), len(clientbundle.JS))
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/javascript; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"ETag":                   `"` + clientbundle.Version + `"`,
		"Cache-Control":          "no-cache", // the unversioned URL is revalidated
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}

	head, body := getBundle(t, srv, http.MethodHead, "/rt/lifeline.js", nil)
	if head.StatusCode != http.StatusOK || len(body) != 0 || head.ContentLength != int64(len(clientbundle.JS)) {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %d", head.StatusCode, len(body), head.ContentLength)
	}
}

func TestClientBundleAnswersIfNoneMatchWith304(t *testing.T) {
	_, srv := newServer(t, longpoll.Config{})
	etag := `"` + clientbundle.Version + `"`
	for _, tc := range []struct {
		ifNoneMatch string
		want        int
	}{
		{etag, http.StatusNotModified},
		{"W/" + etag, http.StatusNotModified}, // If-None-Match compares weakly
		{`"other", ` + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"0123456789abcdef"`, http.StatusOK}, // an older bundle's
	} {
		res, body := getBundle(t, srv, http.MethodGet, "/rt/lifeline.js", map[string]string{"If-None-Match": tc.ifNoneMatch})
		if res.StatusCode != tc.want {
			t.Errorf("If-None-Match %s: %d, want %d", tc.ifNoneMatch, res.StatusCode, tc.want)
		}
		if tc.want == http.StatusNotModified && (len(body) != 0 || res.Header.Get("ETag") != etag) {
			t.Errorf("If-None-Match %s: 304 with %d body bytes and ETag %q", tc.ifNoneMatch, len(body), res.Header.Get("ETag"))
		}
	}
}

func TestClientBundleURLIsVersionedAndImmutable(t *testing.T) {
	lp := longpoll.New(longpoll.Config{})
	t.Cleanup(func() { lp.Close() })
	r := gin.New()
	h := New(Config{LongPoll: lp})
	h.Mount(r.Group("/rt"))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	url := h.ClientBundleURL()
	if url != "/rt/lifeline.js?v="+clientbundle.Version {
		t.Fatalf("ClientBundleURL: %q", url)
	}
	res, body := getBundle(t, srv, http.MethodGet, url, nil)
	if res.StatusCode != http.StatusOK || !bytes.Equal(body, clientbundle.JS) {
		t.Fatalf("GET %s: %d, %d bytes", url, res.StatusCode, len(body))
	}
	if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("versioned URL: Cache-Control %q, want immutable for a year", got)
	}
	// Another release's version (a rolling deploy) gets this bundle, but
	// never cached for good under that URL.
	res, _ = getBundle(t, srv, http.MethodGet, "/rt/lifeline.js?v=0123456789abcdef", nil)
	if got := res.Header.Get("Cache-Control"); res.StatusCode != http.StatusOK || got != "no-cache" {
		t.Errorf("another version: %d, Cache-Control %q, want 200 no-cache", res.StatusCode, got)
	}
}

func TestClientBundleCanBeTurnedOff(t *testing.T) {
	lp := longpoll.New(longpoll.Config{})
	t.Cleanup(func() { lp.Close() })
	r := gin.New()
	h := New(Config{LongPoll: lp, DisableClientBundle: true})
	h.Mount(r.Group("/rt"))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	if res, _ := getBundle(t, srv, http.MethodGet, "/rt/lifeline.js", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET with DisableClientBundle: %d, want 404", res.StatusCode)
	}
	if u := h.ClientBundleURL(); u != "" {
		t.Errorf("ClientBundleURL with DisableClientBundle: %q, want empty", u)
	}
}
