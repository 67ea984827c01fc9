package main

import (
	"net/http"
	"strings"
	"testing"
)

// A page from an allowed origin may negotiate, and sees the rate-limit
// fields; other origins get no CORS grant.
func TestCORS(t *testing.T) {
	h := newHarness(t)
	allowed := http.Header{"Origin": {defaultOrigins[0]}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type,lifeline-token"}}
	status, _, hdr := h.do(http.MethodOptions, rtBase+"/negotiate", allowed, nil)
	if status != http.StatusNoContent || hdr.Get("Access-Control-Allow-Origin") != defaultOrigins[0] || !strings.Contains(strings.ToLower(hdr.Get("Access-Control-Allow-Headers")), "lifeline-token") {
		t.Fatalf("preflight from %s = %d %v, want 204 granting the origin and Lifeline-Token", defaultOrigins[0], status, hdr)
	}
	status, _, hdr = h.do(http.MethodPost, rtBase+"/negotiate", http.Header{"Origin": {defaultOrigins[0]}}, map[string]any{"topics": []string{"room:general"}})
	expose := strings.ToLower(hdr.Get("Access-Control-Expose-Headers"))
	if status != http.StatusOK || !strings.Contains(expose, "ratelimit") || !strings.Contains(expose, "retry-after") || hdr.Get("RateLimit") == "" {
		t.Fatalf("negotiate from %s = %d, exposed %q, RateLimit %q; want the limit fields sent and exposed", defaultOrigins[0], status, expose, hdr.Get("RateLimit"))
	}
	status, _, hdr = h.do(http.MethodOptions, rtBase+"/negotiate", http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}, nil)
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin = %d granting %q", status, hdr.Get("Access-Control-Allow-Origin"))
	}
}
