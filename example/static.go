package main

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// static holds the page and its assets, so that the binary needs no files
// and no npm at run time. The client bundle is not among them: the page
// imports it from /rt/lifeline.js, where negotiate's Mount serves the copy
// the module embeds, as any app's page can.
//
//go:embed static
var static embed.FS

// contentSecurityPolicy allows only the app's own scripts, styles and
// connections: user text can never run as code.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every page and asset gets.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	c.Next()
}

// mountStatic serves the page at /, its React version at /react, and their
// assets at /static/.
func mountStatic(r gin.IRoutes) {
	assets, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	page, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		panic(err) // index.html is embedded at build time
	}
	// The same chat written with the React hooks, built from example/react
	// into static/react/app.js (see client/scripts/build-example.mjs).
	reactPage, err := fs.ReadFile(assets, "react/index.html")
	if err != nil {
		panic(err) // react/index.html is embedded at build time
	}
	files := http.StripPrefix("/static", http.FileServer(http.FS(assets)))

	r.GET("/", securityHeaders, func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "text/html; charset=utf-8", page)
	})
	r.GET("/react", securityHeaders, func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "text/html; charset=utf-8", reactPage)
	})
	r.GET("/static/*file", securityHeaders, func(c *gin.Context) {
		if strings.HasSuffix(c.Param("file"), "/") {
			c.Status(http.StatusNotFound) // no directory listings
			return
		}
		c.Header("Cache-Control", "no-cache")
		files.ServeHTTP(c.Writer, c.Request)
	})
}
