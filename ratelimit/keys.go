package ratelimit

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// KeyFunc returns the key that identifies the client of a request: requests
// with the same key share a bucket. It must return a non-empty key or an
// error. A key must be something the client cannot choose freely, or a
// client gets a fresh bucket whenever it likes.
type KeyFunc func(c *gin.Context) (string, error)

// ClientAddr returns a KeyFunc that keys a request by the client's IP
// address, grouped so that one client cannot pose as many: an IPv4 address
// is its own key ("192.0.2.7"); an IPv6 address is keyed by its /64 prefix
// ("2001:db8:1:2::/64"), the block one subscriber usually gets; an
// IPv4-mapped IPv6 address counts as the IPv4 address.
//
// With no trustedProxies, the address is the TCP peer's (Request.RemoteAddr)
// and X-Forwarded-For is ignored: nothing in the request can change the key.
//
// trustedProxies lists the reverse proxies in front of the server, each an
// IP address or a CIDR ("10.0.0.0/8", "2001:db8::/32", "192.0.2.1"). When the
// peer is one of them, the key is the right-most X-Forwarded-For hop that is
// not a trusted proxy: each trusted proxy appends the address it received
// the request from, so hops left of that one were written by the client and
// are ignored. Empty list elements are skipped. If every hop is trusted,
// the left-most hop is used; if a hop is not an IP address (with or
// without a port), the walk stops and the last trusted address seen is used.
//
// ClientAddr does not use gin's Context.ClientIP, which by default trusts
// every proxy (see the package doc). It panics if an entry of trustedProxies
// is neither an IP address nor a CIDR. The KeyFunc returns [ErrNoClientAddr]
// if RemoteAddr holds no IP address. For an IPv4 client whose address is
// written canonically, the KeyFunc does not allocate.
func ClientAddr(trustedProxies ...string) KeyFunc {
	trusted, err := parseProxies(trustedProxies)
	if err != nil {
		panic(err.Error())
	}
	if len(trusted) == 0 {
		return func(c *gin.Context) (string, error) {
			return peerKey(c.Request.RemoteAddr)
		}
	}
	return func(c *gin.Context) (string, error) {
		return forwardedKey(c.Request.RemoteAddr, c.Request.Header[headerXFF], trusted)
	}
}

// HeaderOr returns a KeyFunc that keys a request by the value of its header
// name when present and non-empty, and by fallback otherwise.
//
// The header must carry something the server has validated before this
// middleware runs, such as a session id checked by an earlier handler that
// rejects unknown ones. An unvalidated header is spoofable: a client that
// sends a new value with every request gets a new, full bucket every time,
// and fills the store. The value shares a key space with fallback's keys, so
// it must not look like an IP address. Prefer [ContextOr], which reads a
// value the server itself stored. HeaderOr panics if fallback is nil.
func HeaderOr(name string, fallback KeyFunc) KeyFunc {
	if fallback == nil {
		panic("ratelimit: HeaderOr needs a fallback KeyFunc")
	}
	name = http.CanonicalHeaderKey(name)
	return func(c *gin.Context) (string, error) {
		if v := c.Request.Header[name]; len(v) > 0 && v[0] != "" {
			return v[0], nil
		}
		return fallback(c)
	}
}

// ContextOr returns a KeyFunc that keys a request by the string stored on
// the gin.Context under key (with c.Set, by an earlier handler that
// authenticated the client, such as Lifeline's session check) when it is
// non-empty, and by fallback otherwise. The value shares a key space with
// fallback's keys, so it must not look like an IP address. ContextOr panics
// if fallback is nil.
func ContextOr(key any, fallback KeyFunc) KeyFunc {
	if fallback == nil {
		panic("ratelimit: ContextOr needs a fallback KeyFunc")
	}
	return func(c *gin.Context) (string, error) {
		if v := c.GetString(key); v != "" {
			return v, nil
		}
		return fallback(c)
	}
}

const headerXFF = "X-Forwarded-For"

// parseProxies parses trusted proxy addresses and CIDRs. IPv4-mapped IPv6
// entries become IPv4 ones, since addresses are unmapped before matching.
func parseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		var p netip.Prefix
		if strings.Contains(s, "/") {
			var err error
			if p, err = netip.ParsePrefix(s); err != nil {
				return nil, fmt.Errorf("%w: trusted proxy %q is not an IP address or CIDR", ErrInvalidConfig, s)
			}
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%w: trusted proxy %q is not an IP address or CIDR", ErrInvalidConfig, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// peerKey returns the key for the address in a RemoteAddr string.
func peerKey(remoteAddr string) (string, error) {
	host := splitHost(remoteAddr)
	a, ok := parseIP(host)
	if !ok {
		return "", ErrNoClientAddr
	}
	return addrKey(host, a), nil
}

// forwardedKey returns the key for a request from remoteAddr carrying the
// X-Forwarded-For field lines xff, given the trusted proxies.
func forwardedKey(remoteAddr string, xff []string, trusted []netip.Prefix) (string, error) {
	host := splitHost(remoteAddr)
	addr, ok := parseIP(host)
	if !ok {
		return "", ErrNoClientAddr
	}
	if !isTrusted(trusted, addr) {
		return addrKey(host, addr), nil
	}
	// Several field lines form one list, in order; walk it from the right.
	for i := len(xff) - 1; i >= 0; i-- {
		for list := xff[i]; list != ""; {
			hop := list
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				hop, list = list[j+1:], list[:j]
			} else {
				list = ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue // empty list elements are ignored (RFC 9110, section 5.6.1)
			}
			hopHost := splitHost(hop)
			a, ok := parseIP(hopHost)
			if !ok {
				return addrKey(host, addr), nil
			}
			host, addr = hopHost, a
			if !isTrusted(trusted, a) {
				return addrKey(host, addr), nil
			}
		}
	}
	return addrKey(host, addr), nil
}

func isTrusted(trusted []netip.Prefix, a netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// splitHost returns the address part of "ip", "ip:port" or "[ipv6]:port"
// without allocating.
func splitHost(s string) string {
	if strings.HasPrefix(s, "[") {
		if i := strings.IndexByte(s, ']'); i > 0 {
			return s[1:i]
		}
		return ""
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && i == strings.LastIndexByte(s, ':') {
		return s[:i] // IPv4 with a port; a bare IPv6 address has several colons
	}
	return s
}

// parseIP parses host as an IP address, unmapped and without a zone.
func parseIP(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// addrKey returns the key of a: an IPv4 address itself, or an IPv6
// address's /64 prefix. host is the text a was parsed from; when it is
// already the canonical form of an IPv4 address it is returned as is, which
// saves an allocation.
func addrKey(host string, a netip.Addr) string {
	if a.Is4() {
		var buf [len("255.255.255.255")]byte
		if string(a.AppendTo(buf[:0])) == host {
			return host
		}
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
