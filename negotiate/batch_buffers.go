package negotiate

import "sync"

// batchBuffers holds the buffers a stream gathers one batch's frames in
// (a WebSocket's corked writes, an SSE batch). A stream holds one only
// while it writes a batch, so that waiting streams hold none, and a burst
// reuses the same few buffers instead of allocating one per batch and
// stream.
var batchBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, corkFlushBytes)
	return &b
}}

// maxPooledBatch is the largest buffer put back in batchBuffers: a rare
// huge batch is left to the garbage collector rather than kept.
const maxPooledBatch = 256 << 10
