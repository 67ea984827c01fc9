package llredis

import "errors"

// ErrContextTimeoutDisabled is returned by the store constructors for a
// go-redis client whose options leave ContextTimeoutEnabled false. Such a
// client ignores every context deadline and waits for its own ReadTimeout
// (5 s by default, per retry), so a silent Redis would hold requests far
// longer than StoreConfig.Timeout. Set ContextTimeoutEnabled: true in the
// client's options.
var ErrContextTimeoutDisabled = errors.New("llredis: the go-redis client ignores context deadlines: set ContextTimeoutEnabled in its options")
