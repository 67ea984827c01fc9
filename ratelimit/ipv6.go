package ratelimit

import (
	"net/netip"

	"github.com/gin-gonic/gin"
)

// GroupIPv6 returns a KeyFunc that keys IPv6 clients by their /bits prefix
// instead of the /64 that key uses, and every other key unchanged. An
// attacker who holds a /48 holds 65 536 /64s; grouping by 48 gives them one
// budget. IPv4 keys pass through. GroupIPv6 panics if bits is not between 0
// and 64, or key is nil.
func GroupIPv6(bits int, key KeyFunc) KeyFunc {
	if bits < 0 || bits > 64 || key == nil {
		panic("ratelimit: GroupIPv6 needs 0 <= bits <= 64 and a KeyFunc")
	}
	return func(c *gin.Context) (string, error) {
		k, err := key(c)
		if err != nil {
			return k, err
		}
		p, perr := netip.ParsePrefix(k)
		if perr != nil || !p.Addr().Is6() || p.Bits() <= bits {
			return k, nil
		}
		wider, _ := p.Addr().Prefix(bits)
		return wider.String(), nil
	}
}
