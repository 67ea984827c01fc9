package ratelimit

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestPeerKey(t *testing.T) {
	cases := []struct {
		remoteAddr, want string
	}{
		{"192.0.2.1:1234", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"}, // same /64, same key
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"[2001:DB8:1:2::1]:80", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"}, // IPv4-mapped
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"[::1]:80", "::/64"},
	}
	for _, c := range cases {
		if got, err := peerKey(c.remoteAddr); err != nil || got != c.want {
			t.Errorf("peerKey(%q) = %q, %v; want %q", c.remoteAddr, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "@", "localhost:80", "[::1", "192.0.2.300:1", "01.2.3.4:5"} {
		if got, err := peerKey(bad); !errors.Is(err, ErrNoClientAddr) {
			t.Errorf("peerKey(%q) = %q, %v; want ErrNoClientAddr", bad, got, err)
		}
	}
}

func TestForwardedKey(t *testing.T) {
	trusted, err := parseProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48", "::ffff:172.16.0.0/108", "192.0.2.200"})
	if err != nil {
		t.Fatal(err)
	}
	const proxy = "10.0.0.1:40000"
	cases := []struct {
		name       string
		remoteAddr string
		xff        []string
		want       string
	}{
		{"untrusted peer's header ignored", "198.51.100.1:1", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer, no header", proxy, nil, "10.0.0.1"},
		{"trusted peer, empty header", proxy, []string{""}, "10.0.0.1"},
		{"one hop", proxy, []string{"203.0.113.9"}, "203.0.113.9"},
		{"right-most untrusted", proxy, []string{"1.1.1.1, 203.0.113.9, 10.0.0.7"}, "203.0.113.9"},
		{"spoofed hops on the left", proxy, []string{"10.9.9.9, 8.8.8.8, 203.0.113.9"}, "203.0.113.9"},
		{"several lines", proxy, []string{"1.1.1.1, 203.0.113.9", "10.0.0.7"}, "203.0.113.9"},
		{"several lines, client in first", proxy, []string{"203.0.113.9", "10.1.1.1, 10.0.0.7"}, "203.0.113.9"},
		{"every hop trusted", proxy, []string{"10.0.0.9, 10.0.0.7"}, "10.0.0.9"},
		{"malformed hop stops the walk", proxy, []string{"203.0.113.9, unknown, 10.0.0.7"}, "10.0.0.7"},
		{"empty elements skipped", proxy, []string{"203.0.113.9,, 10.0.0.7 , "}, "203.0.113.9"},
		{"malformed right-most hop", proxy, []string{"203.0.113.9, garbage"}, "10.0.0.1"},
		{"spaces and tabs", proxy, []string{" 203.0.113.9 ,\t10.0.0.7 "}, "203.0.113.9"},
		{"hop with port", proxy, []string{"203.0.113.9:5555"}, "203.0.113.9"},
		{"IPv6 hop with port", proxy, []string{"[2001:db8:aaaa:bbbb::1]:80"}, "2001:db8:aaaa:bbbb::/64"},
		{"IPv6 hop grouped by /64", proxy, []string{"2001:db8:aaaa:bbbb:1:2:3:4"}, "2001:db8:aaaa:bbbb::/64"},
		{"IPv4-mapped hop", proxy, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"trusted IPv6 proxy", "[2001:db8:ffff:1::1]:443", []string{"198.51.100.2"}, "198.51.100.2"},
		{"IPv6 peer outside the trusted /48", "[2001:db8:fffe::1]:443", []string{"198.51.100.2"}, "2001:db8:fffe::/64"},
		{"mapped CIDR trusts the IPv4 range", "172.16.5.5:1", []string{"198.51.100.3"}, "198.51.100.3"},
		{"mapped peer, trusted", "[::ffff:10.0.0.1]:1", []string{"198.51.100.4"}, "198.51.100.4"},
		{"single trusted address", "192.0.2.200:1", []string{"198.51.100.5"}, "198.51.100.5"},
		{"neighbour of the trusted address", "192.0.2.201:1", []string{"198.51.100.5"}, "192.0.2.201"},
	}
	for _, c := range cases {
		got, err := forwardedKey(c.remoteAddr, c.xff, trusted)
		if err != nil || got != c.want {
			t.Errorf("%s: forwardedKey(%q, %q) = %q, %v; want %q", c.name, c.remoteAddr, c.xff, got, err, c.want)
		}
	}
	if _, err := forwardedKey("@", []string{"203.0.113.9"}, trusted); !errors.Is(err, ErrNoClientAddr) {
		t.Errorf("forwardedKey from a Unix socket: %v, want ErrNoClientAddr", err)
	}
}

func TestClientAddrPanicsOnBadProxy(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "proxy.internal", "fe80::1%eth0", ""} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.HasPrefix(s, "ratelimit: ") {
					t.Errorf("ClientAddr(%q): recover() = %v, want a \"ratelimit: \" panic", bad, r)
				}
			}()
			ClientAddr(bad)
		}()
	}
}

func TestKeysDoNotAllocate(t *testing.T) {
	trusted, _ := parseProxies([]string{"10.0.0.0/8"})
	xff := []string{"198.51.100.1, 203.0.113.9, 10.0.0.7"}
	cases := map[string]func(){
		"peer IPv4":      func() { _, _ = peerKey("192.0.2.1:1234") },
		"forwarded IPv4": func() { _, _ = forwardedKey("10.0.0.1:1", xff, trusted) },
	}
	for name, f := range cases {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs, want 0", name, n)
		}
	}
	key := ClientAddr()
	c := &gin.Context{Request: httptest.NewRequest(http.MethodGet, "/", nil)}
	c.Request.RemoteAddr = "192.0.2.1:1234"
	if n := testing.AllocsPerRun(100, func() { _, _ = key(c) }); n != 0 {
		t.Errorf("ClientAddr() KeyFunc: %v allocs, want 0", n)
	}
}

func TestHeaderOrAndContextOr(t *testing.T) {
	fallback := ClientAddr()
	byHeader := HeaderOr("lifeline-session", fallback)
	byContext := ContextOr("session", fallback)
	newCtx := func(header string) *gin.Context {
		c := &gin.Context{Request: httptest.NewRequest(http.MethodGet, "/", nil)}
		c.Request.RemoteAddr = "192.0.2.1:1234"
		if header != "" {
			c.Request.Header.Set("Lifeline-Session", header)
		}
		return c
	}
	if got, _ := byHeader(newCtx("s-123")); got != "s-123" {
		t.Errorf("HeaderOr with the header = %q, want s-123", got)
	}
	if got, _ := byHeader(newCtx("")); got != "192.0.2.1" {
		t.Errorf("HeaderOr without the header = %q, want the address", got)
	}
	c := newCtx("")
	if got, _ := byContext(c); got != "192.0.2.1" {
		t.Errorf("ContextOr without a value = %q, want the address", got)
	}
	c.Set("session", "s-456")
	if got, _ := byContext(c); got != "s-456" {
		t.Errorf("ContextOr with a value = %q, want s-456", got)
	}
	for name, f := range map[string]func(){
		"HeaderOr":  func() { HeaderOr("x", nil) },
		"ContextOr": func() { ContextOr("x", nil) },
	} {
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.HasPrefix(s, "ratelimit: ") {
					t.Errorf("%s with a nil fallback did not panic with the prefix", name)
				}
			}()
			f()
		}()
	}
}

// checkKey checks the shape of an address key: a canonical IPv4 address or
// a canonical, masked IPv6 /64 prefix.
func checkKey(t *testing.T, key string) {
	t.Helper()
	if a, err := netip.ParseAddr(key); err == nil {
		if !a.Is4() || a.String() != key {
			t.Fatalf("key %q is an address but not a canonical IPv4 one", key)
		}
		return
	}
	p, err := netip.ParsePrefix(key)
	if err != nil || p.Bits() != 64 || !p.Addr().Is6() || p.Addr().Is4In6() || p.Masked() != p || p.String() != key {
		t.Fatalf("key %q is neither a canonical IPv4 address nor a canonical IPv6 /64", key)
	}
}

func FuzzForwardedKey(f *testing.F) {
	seeds := []struct{ remoteAddr, xff string }{
		{"10.0.0.1:40000", "203.0.113.9"},
		{"10.0.0.1:40000", "1.1.1.1, 203.0.113.9, 10.0.0.7"},
		{"10.0.0.1:40000", "203.0.113.9, unknown, 10.0.0.7"},
		{"10.0.0.1:40000", "[2001:db8::1]:80, 10.0.0.7"},
		{"10.0.0.1:40000", "::ffff:203.0.113.9,,"},
		{"[2001:db8:ffff::1]:443", "2001:db8:aaaa:bbbb:1:2:3:4"},
		{"198.51.100.1:1", "10.0.0.1"},
		{"[::ffff:10.0.0.1]:1", "fe80::1%eth0"},
		{"@", "203.0.113.9"},
		{"", ""},
		{"[", ","},
	}
	for _, s := range seeds {
		f.Add(s.remoteAddr, s.xff)
	}
	trusted, err := parseProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remoteAddr, xff string) {
		peer, peerErr := peerKey(remoteAddr)
		got, err := forwardedKey(remoteAddr, []string{xff}, trusted)
		if (err == nil) != (peerErr == nil) {
			t.Fatalf("peerKey error %v but forwardedKey error %v", peerErr, err)
		}
		if err != nil {
			if !errors.Is(err, ErrNoClientAddr) {
				t.Fatalf("error %v, want ErrNoClientAddr", err)
			}
			return
		}
		checkKey(t, peer)
		checkKey(t, got)
		// Without trusted proxies the header never matters.
		if noProxy, _ := forwardedKey(remoteAddr, []string{xff}, nil); noProxy != peer {
			t.Fatalf("with no trusted proxy the key is %q, want the peer's %q", noProxy, peer)
		}
		// An untrusted peer's header never matters either.
		if a, ok := parseIP(splitHost(remoteAddr)); ok && !isTrusted(trusted, a) && got != peer {
			t.Fatalf("untrusted peer %q keyed as %q, want %q", remoteAddr, got, peer)
		}
		// Splitting the header into lines at its commas changes nothing.
		if lines, _ := forwardedKey(remoteAddr, strings.Split(xff, ","), trusted); lines != got {
			t.Fatalf("split into lines the key is %q, want %q", lines, got)
		}
	})
}
