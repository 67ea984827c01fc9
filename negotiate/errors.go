package negotiate

import "errors"

// ErrNoServer reports a Config without its required LongPoll server.
var ErrNoServer = errors.New("negotiate: Config.LongPoll is required")

// ErrUnsupportedProtocol reports a negotiate request for a protocol version
// this server does not speak.
var ErrUnsupportedProtocol = errors.New("negotiate: unsupported protocol version")
