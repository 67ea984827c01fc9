package ratelimit

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestGroupIPv6(t *testing.T) {
	key := GroupIPv6(48, ClientAddr())
	for _, tc := range []struct{ remote, want string }{
		{"[2001:db8:1:2:3::4]:5000", "2001:db8:1::/48"},
		{"[2001:db8:1:ffff::9]:5000", "2001:db8:1::/48"},
		{"192.0.2.7:5000", "192.0.2.7"},
	} {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest("GET", "/", nil)
		c.Request.RemoteAddr = tc.remote
		got, err := key(c)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.remote, got, err, tc.want)
		}
	}
}
