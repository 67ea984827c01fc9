package attack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-go/lifeline/longpoll"
	"github.com/lifeline-go/lifeline/negotiate"
)

// Byte flood: sessions send large messages to rooms of their own as fast
// as the server takes them (send limits off, to make the flood as big as
// it can be). Before the byte budget every message stayed for 10 minutes,
// twice over (issue 8, item 2: RSS from 13 MB to 590 MB in 60 s). Now the
// retained events stay within MaxBytes, the live heap with them, and a
// client elsewhere is served throughout.
func TestAttackByteFlood(t *testing.T) {
	const (
		budget   = 4 << 20
		senders  = 8
		perSend  = 150
		dataSize = 12 << 10 // ~12 KiB, as in the attack
	)
	tg := startTarget(t, longpoll.MemoryConfig{MaxBytes: budget},
		longpoll.Config{SendLimit: longpoll.Limit{Off: true}}, negotiate.Config{})
	hc := attackerClient(t, tg)
	before := heapInUse()
	text := strings.Repeat("é", dataSize/2)

	var sent, failed atomic.Int64
	var attackers sync.WaitGroup
	for w := range senders {
		s := mustNegotiate(t, hc, tg, fmt.Sprintf("room:flood-%d", w))
		attackers.Add(1)
		go func() {
			defer attackers.Done()
			for i := range perSend {
				body := map[string]any{"topic": fmt.Sprintf("room:flood-%d", w), "type": "message", "mid": fmt.Sprintf("m_flood%03d%05d", w, i), "data": map[string]string{"text": text}}
				if status, _, err := call(context.Background(), hc, http.MethodPost, tg.url+"/rt/send", s.Token, body); err != nil || status != http.StatusOK {
					failed.Add(1)
					continue
				}
				sent.Add(1)
			}
		}()
	}
	for i := range 3 {
		wellBehaved(t, tg, "room:good", i)
	}
	attackers.Wait()
	st := tg.buf.Stats()
	grown := int64(heapInUse()) - int64(before)
	t.Logf("flood: %d messages of ~%d KiB sent (%d MiB), %d refused; buffer retains %d events, %d KiB; live heap grew %d KiB",
		sent.Load(), dataSize>>10, sent.Load()*dataSize>>20, failed.Load(), st.Events, st.Bytes>>10, grown>>10)
	if sent.Load()*dataSize < 2*budget {
		t.Fatalf("only %d messages got through: the flood never reached the budget, nothing was tested", sent.Load())
	}
	if st.Bytes > budget {
		t.Fatalf("the buffer retains %d bytes, over its %d-byte budget", st.Bytes, budget)
	}
	// The budget, plus room for what a Go heap and the test's own clients
	// hold: far below the flood's size.
	if grown > 2*budget+4<<20 {
		t.Fatalf("the live heap grew %d KiB under a %d KiB budget", grown>>10, budget>>10)
	}
}

// Topic flood: sessions negotiate with 32 new rooms each, and send to new
// rooms, until the topic table is full. Before, every new room then got
// 400 bad_topic ("do not retry") for about 12 minutes (issue 8, item 3).
// Now the attacker's rooms, which hold only presence events and which
// nobody follows, are reclaimed, sends to new rooms are limited per
// session, and a client elsewhere joins a new room, sends and polls as
// usual.
func TestAttackTopicFlood(t *testing.T) {
	const maxTopics = 400
	tg := startTarget(t, longpoll.MemoryConfig{MaxTopics: maxTopics}, longpoll.Config{}, negotiate.Config{})
	hc := attackerClient(t, tg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var negotiates, limited, sendsRefused atomic.Int64
	var attackers sync.WaitGroup
	attackers.Add(1)
	go func() {
		defer attackers.Done()
		for n := 0; ctx.Err() == nil && n < 200; n++ {
			rooms := make([]string, 32)
			for i := range rooms {
				rooms[i] = fmt.Sprintf("room:flood-%d-%d", n, i)
			}
			status, data, err := call(ctx, hc, http.MethodPost, tg.url+"/rt/negotiate", "", map[string]any{"topics": rooms})
			if err != nil {
				return
			}
			if status == http.StatusTooManyRequests {
				limited.Add(1)
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond): // the attacker's pace, not a wait for behaviour
				}
				continue
			}
			negotiates.Add(1)
			var s negotiated
			if status != http.StatusOK || decodeJSON(data, &s) != nil {
				continue
			}
			for i := range 12 { // sends to more new rooms than TopicLimit allows
				body := map[string]any{"topic": fmt.Sprintf("room:sent-%d-%d", n, i), "type": "message", "mid": fmt.Sprintf("m_topics%04d%03d", n, i), "data": 1}
				if status, _, _ := call(ctx, hc, http.MethodPost, tg.url+"/rt/send", s.Token, body); status != http.StatusOK {
					sendsRefused.Add(1)
				}
			}
		}
	}()
	eventually(t, 20*time.Second, "the attacker to fill the topic table", func() bool {
		return tg.buf.Stats().Topics >= maxTopics*9/10
	})
	for i := range 5 {
		wellBehaved(t, tg, fmt.Sprintf("room:good-%d", i), i)
	}
	cancel()
	attackers.Wait()
	t.Logf("attacker: %d negotiates (%d rate-limited), %d sends to new rooms refused; table holds %d of %d topics",
		negotiates.Load(), limited.Load(), sendsRefused.Load(), tg.buf.Stats().Topics, maxTopics)
	if st := tg.buf.Stats(); st.Topics > maxTopics {
		t.Fatalf("%d topics, over MaxTopics %d", st.Topics, maxTopics)
	}
}
