package negotiate

import (
	"bytes"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/internal/clientbundle"
)

// routeClient serves the TypeScript client's browser bundle, as Socket.IO
// serves /socket.io/socket.io.js: a page then needs one <script
// type="module"> line and no npm.
const routeClient = "/lifeline.js"

// clientETag is the bundle's strong validator; it changes with the content.
var clientETag = `"` + clientbundle.Version + `"`

// ClientBundleURL is the versioned URL of the client bundle, for pages an
// application renders: {base}/lifeline.js?v=<content hash>. Responses to it
// may be cached for a year (immutable), since a new bundle has a new URL.
// It is valid once Mount has run, and empty when Config.DisableClientBundle
// is set.
func (h *Handler) ClientBundleURL() string {
	if h.cfg.DisableClientBundle {
		return ""
	}
	return h.cfg.BasePath + routeClient + "?v=" + clientbundle.Version
}

// clientBundle is the handler of GET and HEAD {base}/lifeline.js. With the
// current version in ?v= it is immutable; without it (the URL a
// hand-written page uses), or with another version (a page rendered by
// another release during a rolling deploy), caches must revalidate — a
// 304 when their ETag still matches — so that an old bundle is never
// cached under a URL that outlives it.
func (h *Handler) clientBundle(c *gin.Context) {
	hdr := c.Writer.Header()
	hdr.Set("Content-Type", "text/javascript; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("ETag", clientETag)
	if c.Query("v") == clientbundle.Version {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match (304), HEAD and Range; the zero
	// time leaves Last-Modified out, the ETag being the validator.
	http.ServeContent(c.Writer, c.Request, routeClient, time.Time{}, bytes.NewReader(clientbundle.JS))
}
