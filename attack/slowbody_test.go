package attack

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Slow bodies: hundreds of sends and negotiates whose headers arrive at
// once and whose body never does. Before, each held a connection and a
// goroutine for as long as the attacker liked (issue 8, item 1: 20 000 of
// them took every file descriptor). Now an address has at most
// MaxHeldPerAddress bodies in flight, each answered 408 within
// BodyTimeout; the rest are refused at once, their goroutines are gone,
// and a client elsewhere is served throughout.
func TestAttackSlowBodies(t *testing.T) {
	const (
		conns       = 300
		bodyTimeout = time.Second
	)
	tg := startTarget(t, longpoll.MemoryConfig{}, longpoll.Config{BodyTimeout: bodyTimeout}, negotiate.Config{})
	dialer := attackerDialer(t, tg)
	s := mustNegotiate(t, attackerClient(t, tg), tg, "room:a")
	baseline := runtime.NumGoroutine()

	began := time.Now()
	answers := make(chan string, conns)
	var attackers sync.WaitGroup
	// A third each: sends with a valid token (their bodies are read), with
	// an unknown token, and negotiates beyond the negotiate limit (both
	// answered without reading the body, which net/http then discards).
	for i := range conns {
		path, token := "/rt/send", s.Token
		switch i % 3 {
		case 1:
			token = "t_unknown"
		case 2:
			path, token = "/rt/negotiate", ""
		}
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			answers <- slowBody(dialer, tg, path, token)
		}()
	}
	// While the bodies trickle, a client elsewhere is served as usual.
	for i := range 3 {
		wellBehaved(t, tg, "room:good", i)
	}
	attackers.Wait()
	close(answers)
	took := time.Since(began)
	counts := map[string]int{}
	for a := range answers {
		counts[a]++
	}
	t.Logf("%d slow bodies answered within %v: %v", conns, took, counts)
	// Valid sends: 408 once the timeout passes, for at most the address's
	// cap; every other request: 401 or 429 at once.
	if counts["408"] == 0 || counts["408"] > negotiate.DefaultMaxHeldPerAddress || counts["408"]+counts["401"]+counts["429"] != conns {
		t.Fatalf("slow bodies answered %v, want 408 body_timeout for at most %d valid sends, 401 or 429 for the others",
			counts, negotiate.DefaultMaxHeldPerAddress)
	}
	if took > bodyTimeout+10*time.Second {
		t.Fatalf("the slow bodies were held %v, BodyTimeout is %v", took, bodyTimeout)
	}
	// Their goroutines are gone: nothing is held for the attacker.
	eventually(t, 10*time.Second, "the server to let go of the slow bodies' goroutines", func() bool {
		return runtime.NumGoroutine() <= baseline+10
	})
}

// slowBody sends a POST's headers and one byte of its body, then waits for
// the answer; it returns the status or why there was none.
func slowBody(d *net.Dialer, tg *target, path, token string) string {
	conn, err := d.Dial("tcp", tg.url[len("http://"):])
	if err != nil {
		return "dial: " + err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: 1000\r\n\r\n{", path, longpoll.TokenHeader, token)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return "no answer"
	}
	res.Body.Close()
	return fmt.Sprint(res.StatusCode)
}
