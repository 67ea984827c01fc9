// Package clientbundle holds the browser bundle of the TypeScript client
// (client/), which negotiate serves at {base}/lifeline.js, so that a page
// needs one <script type="module"> line and no npm.
//
// lifeline.js is generated: `npm run build` in client/ writes it, and it is
// committed so that the Go module carries it. Two checks keep it in step
// with client/src: `npm run check-bundle` rebuilds it and compares bytes,
// and this package's test recomputes, without Node, the digest of the
// sources that the bundle's first line names.
package clientbundle

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
)

// JS is the bundle: one minified ES module exporting what the npm package
// exports.
//
//go:embed lifeline.js
var JS []byte

// Version names JS's content: the first 16 hex digits of its SHA-256. It
// changes whenever the bundle does, so a URL that carries it can be cached
// for good.
var Version = contentVersion(JS)

func contentVersion(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
