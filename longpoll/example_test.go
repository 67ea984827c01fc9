package longpoll_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/lifeline-go/lifeline/longpoll"
)

// A Memory buffer serves events after a cursor, across topics, in order.
func ExampleMemory() {
	buf := longpoll.NewMemory(longpoll.MemoryConfig{})
	defer buf.Close()
	ctx := context.Background()

	start, _ := buf.Head(ctx)
	buf.Append(ctx, longpoll.Draft{Topic: "room:general", Type: "message", Data: []byte(`{"text":"hi"}`)})
	buf.Append(ctx, longpoll.Draft{Topic: "room:other", Type: "message", Data: []byte(`{"text":"elsewhere"}`)})
	buf.Append(ctx, longpoll.Draft{Topic: "notifications", Type: "notification", Data: []byte(`"welcome"`)})

	batch, _ := buf.Read(ctx, []string{"room:general", "notifications"}, start, 100)
	for _, e := range batch.Events {
		fmt.Println(e.Topic, e.Type, string(e.Data))
	}
	fmt.Println("caught up:", batch.Cursor == must(buf.Head(ctx)))
	// Output:
	// room:general message {"text":"hi"}
	// notifications notification "welcome"
	// caught up: true
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A Server's handlers mount on any Gin routes; the negotiate package mounts
// them all with the handshake in one call.
func ExampleServer() {
	gin.SetMode(gin.TestMode)
	lp := longpoll.New(longpoll.Config{
		Authorize: func(c *gin.Context, clientID, topic string, action longpoll.Action) error {
			if action == longpoll.Publish && topic == "notifications" {
				return fmt.Errorf("only the server publishes notifications")
			}
			return nil
		},
	})
	defer lp.Close()

	r := gin.New()
	r.GET("/rt/poll", lp.PollHandler())
	r.POST("/rt/send", lp.SendHandler())

	// Server-side events reach every client following the topic.
	e, _ := lp.Publish(context.Background(), "notifications", longpoll.TypeNotification, map[string]string{"text": "deploy done"})
	fmt.Println(e.Type, string(e.Data))

	// A poll without a session is refused.
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/rt/poll?cursor="+e.ID.String(), nil))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// notification {"text":"deploy done"}
	// 401 application/problem+json
}
