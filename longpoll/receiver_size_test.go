package longpoll

import (
	"testing"
	"unsafe"
)

// Receiver is copied into the frames of every parked stream: at six words
// instead of five, SSE streams' goroutines no longer shrank their stacks
// to 8 KiB at GC (5 KiB more RSS per connection in cmd/lifeline-load).
func TestReceiverStaysFiveWords(t *testing.T) {
	if got, want := unsafe.Sizeof(Receiver{}), 5*unsafe.Sizeof(uintptr(0)); got > want {
		t.Fatalf("Receiver is %d bytes, want at most %d", got, want)
	}
}
