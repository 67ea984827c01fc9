package ratelimit

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// testLimiter returns a Limiter without a goroutine, as New builds one.
func testLimiter(cfg Config) *Limiter {
	return newLimiter(cfg.withDefaults())
}

func TestAllowSteps(t *testing.T) {
	// One token per second, three at most.
	l := testLimiter(Config{Limit: 3, Period: 3 * time.Second, Burst: 3})
	ms := time.Millisecond
	steps := []struct {
		at   time.Duration
		want Decision
	}{
		{0, Decision{Allowed: true, Limit: 3, Remaining: 2, ResetAfter: time.Second, Window: time.Second}},
		{0, Decision{Allowed: true, Limit: 3, Remaining: 1, ResetAfter: 2 * time.Second, Window: time.Second}},
		{0, Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: 3 * time.Second, Window: time.Second}},
		{0, Decision{Limit: 3, RetryAfter: time.Second, ResetAfter: 3 * time.Second, Window: time.Second}},
		{250 * ms, Decision{Limit: 3, RetryAfter: 750 * ms, ResetAfter: 2750 * ms, Window: 750 * ms}},
		{1000 * ms, Decision{Allowed: true, Limit: 3, ResetAfter: 3 * time.Second, Window: time.Second}},
		{1500 * ms, Decision{Limit: 3, RetryAfter: 500 * ms, ResetAfter: 2500 * ms, Window: 500 * ms}},
		{2500 * ms, Decision{Allowed: true, Limit: 3, ResetAfter: 2500 * ms, Window: 500 * ms}},
		{10 * time.Second, Decision{Allowed: true, Limit: 3, Remaining: 2, ResetAfter: time.Second, Window: time.Second}},
	}
	for i, s := range steps {
		if got := l.Allow("k", epoch.Add(s.at)); got != s.want {
			t.Errorf("step %d: Allow(k, +%v) = %+v, want %+v", i, s.at, got, s.want)
		}
	}
}

func TestNewKeyStartsFull(t *testing.T) {
	l := testLimiter(Config{Limit: 5, Period: time.Hour})
	for i := range 5 {
		if d := l.Allow("k", epoch); !d.Allowed || d.Remaining != 4-i {
			t.Fatalf("request %d: got %+v, want allowed with %d remaining", i, d, 4-i)
		}
	}
	if d := l.Allow("k", epoch); d.Allowed {
		t.Fatalf("request 6: got allowed, want refused")
	}
}

// A client that waits exactly RetryAfter is allowed, and not a millisecond
// earlier, whatever the rate's rounding.
func TestRetryAfterIsEnough(t *testing.T) {
	cases := []struct {
		limit  int
		period time.Duration
		burst  int
	}{
		{100, time.Minute, 100},
		{7, 3 * time.Second, 2},
		{1, 1010 * time.Millisecond, 1},
		{3, time.Second, 3},
		{1000, time.Second, 10},
		{1, 24 * time.Hour, 1},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d per %v", c.limit, c.period), func(t *testing.T) {
			l := testLimiter(Config{Limit: c.limit, Period: c.period, Burst: c.burst})
			now := epoch
			for range 50 {
				d := l.Allow("k", now)
				if d.Allowed {
					continue
				}
				if d.RetryAfter <= 0 || d.Window != d.RetryAfter {
					t.Fatalf("refused with RetryAfter %v, Window %v", d.RetryAfter, d.Window)
				}
				if d.RetryAfter > time.Millisecond {
					if early := l.Allow("k", now.Add(d.RetryAfter-time.Millisecond)); early.Allowed {
						t.Fatalf("allowed 1ms before RetryAfter %v", d.RetryAfter)
					}
				}
				now = now.Add(d.RetryAfter)
				if got := l.Allow("k", now); !got.Allowed {
					t.Fatalf("refused after waiting RetryAfter %v: %+v", d.RetryAfter, got)
				}
			}
		})
	}
}

func TestConcurrentFirstUseCreatesOneBucket(t *testing.T) {
	const goroutines, burst = 32, 10
	for iter := range 50 {
		l := testLimiter(Config{Limit: burst, Period: time.Hour})
		key := "client-" + strconv.Itoa(iter)
		var start, done sync.WaitGroup
		var allowed atomic.Int64
		start.Add(1)
		for range goroutines {
			done.Add(1)
			go func() {
				defer done.Done()
				start.Wait()
				if l.Allow(key, epoch).Allowed {
					allowed.Add(1)
				}
			}()
		}
		start.Done()
		done.Wait()
		if n, items := l.Len(), l.s.len(); n != 1 || items != 1 {
			t.Fatalf("iteration %d: Len() = %d, items = %d, want 1 bucket", iter, n, items)
		}
		if got := allowed.Load(); got != burst {
			t.Fatalf("iteration %d: %d requests allowed, want %d (one bucket)", iter, got, burst)
		}
	}
}

func TestSweepEvictsOnlyFullBuckets(t *testing.T) {
	// One token per second, burst 2.
	l := testLimiter(Config{Limit: 2, Period: 2 * time.Second, Burst: 2})
	l.Allow("debtor", epoch)
	l.Allow("debtor", epoch)
	l.Allow("light", epoch)
	if n := l.Sweep(epoch.Add(999 * time.Millisecond)); n != 0 {
		t.Fatalf("Sweep before any bucket refilled evicted %d, want 0", n)
	}
	if n := l.Sweep(epoch.Add(time.Second)); n != 1 || l.Len() != 1 {
		t.Fatalf("Sweep at 1s evicted %d leaving %d, want light evicted, debtor kept", n, l.Len())
	}
	// The debtor's debt survived: at 1.5 s it has 1.5 tokens, not 2.
	now := epoch.Add(1500 * time.Millisecond)
	if d := l.Allow("debtor", now); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("debtor at 1.5s: %+v, want allowed with 0 remaining", d)
	}
	if d := l.Allow("debtor", now); d.Allowed {
		t.Fatalf("debtor at 1.5s, second request: allowed, want refused")
	}
	if n := l.Sweep(epoch.Add(time.Hour)); n != 1 || l.Len() != 0 {
		t.Fatalf("Sweep after an hour evicted %d leaving %d, want all gone", n, l.Len())
	}
}

// Sweeps that race with requests never give a client more than its
// bucket allows: burst plus rate × elapsed.
func TestSweepRacesWithRequests(t *testing.T) {
	const (
		rate, burst = 10, 5
		keys        = 8
		epochs      = 400
	)
	l := testLimiter(Config{Limit: rate, Period: time.Second, Burst: burst, MaxKeys: keys})
	var (
		clockMu sync.RWMutex // requests and sweeps share an instant; advancing excludes them
		now     = epoch
		allowed [keys]atomic.Int64
		stop    atomic.Bool
		evicted atomic.Int64
		wg      sync.WaitGroup
	)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; !stop.Load(); i++ {
				clockMu.RLock()
				if w == 0 && i%7 == 0 {
					evicted.Add(int64(l.Sweep(now)))
				} else if l.Allow("k"+strconv.Itoa(i%keys), now).Allowed {
					allowed[i%keys].Add(1)
				}
				clockMu.RUnlock()
			}
		}()
	}
	for e := range epochs {
		clockMu.Lock()
		// Mostly short steps, sometimes long enough to refill a bucket.
		if e%10 == 0 {
			now = now.Add(700 * time.Millisecond)
		} else {
			now = now.Add(30 * time.Millisecond)
		}
		clockMu.Unlock()
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	if evicted.Load() == 0 {
		t.Error("no bucket was evicted: the test raced nothing")
	}
	bound := burst + int64(rate*now.Sub(epoch).Seconds())
	for k := range allowed {
		if got := allowed[k].Load(); got > bound {
			t.Errorf("key %d: %d allowed, more than burst + rate × elapsed = %d", k, got, bound)
		}
	}
}

func TestStoreFullRefusesNewKeysOnly(t *testing.T) {
	// One token per 10 s, so buckets stay in debt across the test.
	l := testLimiter(Config{Limit: 1, Period: 10 * time.Second, Burst: 1, MaxKeys: 2, SweepInterval: time.Hour})
	l.Allow("a", epoch)
	l.Allow("b", epoch)
	d := l.Allow("c", epoch.Add(time.Second))
	if d.Allowed || !d.StoreFull || d.RetryAfter != time.Second {
		t.Fatalf("new key in a full store: %+v, want refused, StoreFull, RetryAfter 1s", d)
	}
	if l.Len() != 2 {
		t.Fatalf("Len() = %d, want 2", l.Len())
	}
	// The clients that have buckets keep them, debt and all.
	if d := l.Allow("a", epoch.Add(2*time.Second)); d.Allowed || d.StoreFull {
		t.Fatalf("a, in debt: %+v, want refused by its own bucket", d)
	}
	// Once a refills (10 s), it is evicted to make room for c.
	if d := l.Allow("c", epoch.Add(10*time.Second)); !d.Allowed {
		t.Fatalf("c after a and b refilled: %+v, want allowed", d)
	}
	if l.Len() != 1 {
		t.Fatalf("Len() = %d after the full sweep, want 1 (c)", l.Len())
	}
}

func TestStoreFullSweepsAtMostOncePerGap(t *testing.T) {
	l := testLimiter(Config{Limit: 1, Period: 10 * time.Second, Burst: 1, MaxKeys: 1, SweepInterval: time.Hour})
	l.Allow("a", epoch)
	l.Allow("b", epoch) // full sweep at epoch finds nothing
	// a is full at 10 s, but the last full sweep was under a second ago.
	l.s.lastFull.Store(epoch.Add(9500 * time.Millisecond).UnixNano())
	if d := l.Allow("b", epoch.Add(10*time.Second)); !d.StoreFull {
		t.Fatalf("b within the gap: %+v, want StoreFull", d)
	}
	if d := l.Allow("b", epoch.Add(10500*time.Millisecond)); !d.Allowed {
		t.Fatalf("b after the gap: %+v, want allowed", d)
	}
}

func TestInlineSweepWhenDue(t *testing.T) {
	l := testLimiter(Config{Limit: 10, Period: time.Second, SweepInterval: time.Minute})
	l.Allow("a", epoch)
	l.Allow("b", epoch.Add(30*time.Second))
	if l.Len() != 2 {
		t.Fatalf("Len() = %d before the interval, want 2", l.Len())
	}
	// The first insert after a minute sweeps a and b, then adds c.
	l.Allow("c", epoch.Add(61*time.Second))
	if l.Len() != 1 {
		t.Fatalf("Len() = %d after the interval, want 1", l.Len())
	}
}

func TestLongKeysAreDigested(t *testing.T) {
	l := testLimiter(Config{Limit: 1, Period: time.Hour})
	long := strings.Repeat("x", MaxKeyLen)
	if !l.Allow(long+"1", epoch).Allowed || !l.Allow(long+"2", epoch).Allowed {
		t.Fatal("two long keys with a common prefix share a bucket")
	}
	if l.Allow(long+"1", epoch).Allowed {
		t.Fatal("a long key got a second token")
	}
	for i := range l.s.shards {
		for k := range l.s.shards[i].items.Items() {
			if len(k) > MaxKeyLen {
				t.Errorf("store holds a %d-byte key, want at most %d", len(k), MaxKeyLen)
			}
		}
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	l := testLimiter(Config{Limit: 1_000_000, Period: time.Second})
	l.Allow("192.0.2.1", epoch)
	now := epoch
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Microsecond)
		l.Allow("192.0.2.1", now)
	}); n != 0 {
		t.Errorf("Allow on an existing key: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		l.Allow("192.0.2.1", now) // refused: the bucket is empty at a fixed time
	}); n != 0 {
		t.Errorf("refused Allow: %v allocs, want 0", n)
	}
}

func TestLimiterGoroutineSweepsAndCloses(t *testing.T) {
	clk := newClock()
	l := newLimiter(Config{Limit: 10, Period: time.Second, Now: clk.Now}.withDefaults())
	swept := make(chan int, 1)
	l.start(time.Millisecond, func(n int) {
		select {
		case swept <- n:
		default:
		}
	})
	defer l.Close()
	l.Allow("a", clk.Now())
	clk.Advance(time.Second)
	timeout := time.After(10 * time.Second)
	for l.Len() != 0 {
		select {
		case <-swept:
		case <-timeout:
			t.Fatalf("Len() = %d ten seconds after a full bucket, want 0", l.Len())
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	// Still usable after Close.
	if !l.Allow("b", clk.Now()).Allowed {
		t.Fatal("Allow after Close refused a new key")
	}
}

func TestNewLimiterPanicsOnNegative(t *testing.T) {
	defer func() {
		r := recover()
		if s, _ := r.(string); !strings.HasPrefix(s, "ratelimit: ") {
			t.Fatalf("recover() = %v, want a panic starting with \"ratelimit: \"", r)
		}
	}()
	NewLimiter(Config{Burst: -1})
}

func TestNewLimiterCloseLeavesNoGoroutine(t *testing.T) {
	l := NewLimiter(Config{})
	l.Allow("a", time.Now())
	l.Close() // goleak in TestMain fails the run if the sweeper survived
}

// TestChurn runs a million distinct keys, one request each, through a
// store capped well below that, from two goroutines, alongside clients that
// stay in debt the whole time. The store never exceeds its cap, its memory
// stays under the documented bound, and the active clients get exactly what
// their rate allows: their debt is never forgotten.
func TestChurn(t *testing.T) {
	keys := 1_000_000
	if testing.Short() {
		keys = 100_000
	}
	const (
		workers = 2
		maxKeys = 30_000
		active  = 20
		step    = 10 * time.Microsecond // fake time per churn key
		every   = 250                   // worker 0 polls the active clients every 250 of its keys (~5 ms)
		rate    = 50                    // tokens per second; the active clients ask for ~200
		burst   = 50
	)
	l := testLimiter(Config{Limit: rate, Period: time.Second, Burst: burst, MaxKeys: maxKeys, SweepInterval: 200 * time.Millisecond})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	activeKeys := make([]string, active)
	for i := range activeKeys {
		activeKeys[i] = "active-" + strconv.Itoa(i)
	}
	allowed := make([]int, active)
	var firstAsk, lastAsk time.Time
	var clock atomic.Int64 // steps taken
	var refused, overCap, storeFull atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 32)
			for i := w; i < keys; i += workers {
				now := epoch.Add(step * time.Duration(clock.Add(1)))
				// The key lives in a reused buffer: Allow must copy what it keeps.
				buf = strconv.AppendInt(append(buf[:0], "churn-"...), int64(i), 10)
				if !l.Allow(unsafe.String(&buf[0], len(buf)), now).Allowed {
					refused.Add(1)
				}
				if l.Len() > maxKeys {
					overCap.Add(1)
				}
				if w == 0 && (i/workers)%every == 0 {
					if firstAsk.IsZero() {
						firstAsk = now
					}
					lastAsk = now
					for j, k := range activeKeys {
						d := l.Allow(k, now)
						if d.Allowed {
							allowed[j]++
						}
						if d.StoreFull {
							storeFull.Add(1)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := overCap.Load(); n != 0 {
		t.Errorf("Len() exceeded MaxKeys %d after %d requests", maxKeys, n)
	}
	if n := storeFull.Load(); n != 0 {
		t.Errorf("active clients refused %d times for a full store", n)
	}
	if n := refused.Load(); n != 0 {
		t.Errorf("%d churn keys refused, want 0: sweeps should keep up", n)
	}
	want := burst + int(rate*lastAsk.Sub(firstAsk).Seconds())
	for j, got := range allowed {
		if got < want-1 || got > want+1 {
			t.Errorf("active client %d: %d allowed, want %d±1", j, got, want)
		}
	}
	if n, items := l.Len(), l.s.len(); n != items {
		t.Errorf("Len() = %d but the cache holds %d items", n, items)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if bound := int64(maxKeys * bytesPerKeyBound); held > bound {
		t.Errorf("heap grew by %d bytes with %d keys held, want at most %d (%d bytes/key × MaxKeys)",
			held, l.Len(), bound, bytesPerKeyBound)
	}
	runtime.KeepAlive(l)
	t.Logf("%d keys, %d held at the end, heap +%d KB, active clients allowed %v (want %d)",
		keys, l.Len(), held/1024, allowed[:3], want)
}

// bytesPerKeyBound is the documented upper bound on the memory one client
// costs, keys up to 16 bytes (see doc.go).
const bytesPerKeyBound = 256

func TestMemoryPerKey(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	per := measureBytesPerKey(n)
	t.Logf("%.0f bytes per key over %d IPv4 keys", per, n)
	if per > bytesPerKeyBound {
		t.Errorf("%.0f bytes per key, want at most %d", per, bytesPerKeyBound)
	}
}

// measureBytesPerKey fills a Limiter with n IPv4 address keys and returns
// the heap growth per key.
func measureBytesPerKey(n int) float64 {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := testLimiter(Config{MaxKeys: n})
	for _, k := range keys {
		l.Allow(k, epoch)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	runtime.KeepAlive(keys)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}
